//! Access and portability exports end to end: made over HTTP, downloaded once, decrypted by the
//! real `gpg`, and the bundle valid against the published `docs/export.schema.json`.

use gdpr_testkit::GpgHome;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{apps, assert_problem};

const SCHEMA: &str = include_str!("../../../../docs/export.schema.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_leaves_encrypted_once_and_matches_its_schema() {
    let requester = GpgHome::generate("Ada <ada@example.org>", "", "future-default");
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let ada = requester.public_key("ada@example.org");
    for app in apps().await {
        let (_, key) = app.tenant("Export SAS").await;
        let (form, consent) = app.contractors(&key).await;
        let s = app.subject(&key, "ada@example.org").await;
        app.consent(&key, &s, &consent).await;
        let values = json!({"email": "ada@example.org", "full_name": "Ada, \"the\" Countess", "day_rate": 700});
        app.record(&key, &form, &s, values).await;
        let exports = format!("/v1/subjects/{s}/exports");
        let opened = app
            .post(
                "/v1/requests",
                &key,
                json!({"subject": s, "kind": "access"}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);

        // JSON, to the requester's own key.
        let made = app
            .post(&exports, &key, json!({"recipient_key": ada}))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        assert!(
            !made.text.contains("ada@example.org"),
            "no personal data in the ticket"
        );
        let download = made.body["download"].as_str().unwrap().to_owned();
        let got = app.send(Method::GET, &download, Some(&key), None).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.text);
        assert_eq!(got.content_type, "application/pgp-encrypted");
        let sealed = got.bytes.clone();
        assert!(!sealed.windows(15).any(|w| w == b"ada@example.org"));
        let bundle: Value = serde_json::from_slice(&requester.decrypt(&sealed)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&bundle)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", app.backend);
        assert_eq!(bundle["subject"]["email"], "ada@example.org");
        assert_eq!(
            bundle["records"][0]["values"]["full_name"],
            "Ada, \"the\" Countess"
        );
        assert_eq!(bundle["requests"][0]["kind"], "access");
        // Once only.
        let again = app.send(Method::GET, &download, Some(&key), None).await;
        assert_problem(&again, StatusCode::NOT_FOUND, "not-found");

        // The schema is strict enough to notice a change of shape.
        let mut broken = bundle.clone();
        broken["subject"]["nickname"] = json!("Ada");
        assert!(!validator.is_valid(&broken));

        // CSV of one form, for portability.
        let made = app
            .post(
                &exports,
                &key,
                json!({"format": "csv", "form": form, "recipient_key": ada}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        let got = app
            .send(
                Method::GET,
                made.body["download"].as_str().unwrap(),
                Some(&key),
                None,
            )
            .await;
        let csv = String::from_utf8(requester.decrypt(&got.bytes.clone())).unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(
            lines.next().unwrap(),
            r#""id","created_at","email","full_name","day_rate""#
        );
        assert!(
            lines
                .next()
                .unwrap()
                .ends_with(r#","ada@example.org","Ada, ""the"" Countess","700""#),
            "{csv}"
        );

        // Bad input changes nothing and says why.
        let bad = app.post(&exports, &key, json!({"format": "csv"})).await;
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert!(bad.text.contains("form"), "{}", bad.text);
        let bad = app
            .post(&exports, &key, json!({"format": "json", "form": null}))
            .await;
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert!(
            bad.text.contains("only a csv export names a form"),
            "{}",
            bad.text
        );
        // No key given and none configured: nothing leaves.
        let refused = app.post(&exports, &key, json!({})).await;
        assert_problem(&refused, StatusCode::CONFLICT, "encryption-refused");
        // Another tenant's key sees nothing.
        let made = app
            .post(&exports, &key, json!({"recipient_key": ada}))
            .await;
        let (_, other) = app.tenant("Other SAS").await;
        let theirs = app
            .get(made.body["download"].as_str().unwrap(), &other)
            .await;
        assert_problem(&theirs, StatusCode::NOT_FOUND, "not-found");
        let stranger = app
            .post(&exports, &other, json!({"recipient_key": ada}))
            .await;
        assert_problem(&stranger, StatusCode::NOT_FOUND, "not-found");
        app.stop().await;
    }
}

/// "Downloaded once" holds under a race: six parallel downloads of one export, one 200 and
/// five 404s, never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_downloads_hand_an_export_over_once() {
    let requester = GpgHome::generate("Ada <ada@example.org>", "", "future-default");
    let ada = requester.public_key("ada@example.org");
    for app in apps().await {
        let (_, key) = app.tenant("Race SAS").await;
        let (form, consent) = app.contractors(&key).await;
        let s = app.subject(&key, "ada@example.org").await;
        app.consent(&key, &s, &consent).await;
        app.record(
            &key,
            &form,
            &s,
            json!({"email": "ada@example.org", "full_name": "Ada"}),
        )
        .await;
        for _ in 0..3 {
            let made = app
                .post(
                    &format!("/v1/subjects/{s}/exports"),
                    &key,
                    json!({"recipient_key": ada}),
                )
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let url = format!("{}{}", app.base, made.body["download"].as_str().unwrap());
            let racers = (0..6).map(|_| {
                let request = app.client.get(&url).bearer_auth(&key).send();
                async move { request.await.unwrap().status() }
            });
            let statuses = futures_util::future::join_all(racers).await;
            let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
            let gone = statuses
                .iter()
                .filter(|s| **s == StatusCode::NOT_FOUND)
                .count();
            assert_eq!((ok, gone), (1, 5), "{}: {statuses:?}", app.backend);
        }
        app.stop().await;
    }
}
