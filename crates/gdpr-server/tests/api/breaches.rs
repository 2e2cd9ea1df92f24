//! The breach register over HTTP: recorded, scoped, decided, notified; a late notice without
//! its reason and bad input refused with a problem naming the field; the deployment's register
//! behind the admin token; the draft for the authority.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN, apps, assert_problem};

#[tokio::test]
async fn a_breach_is_recorded_scoped_decided_and_notified_over_http() {
    for app in apps().await {
        let (_, key) = app.tenant("LogAlto SAS").await;
        let (form, _) = app.contractors(&key).await;
        let detected = time::OffsetDateTime::now_utc() - time::Duration::hours(80);
        let detected = detected
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let created = app
            .post(
                "/v1/breaches",
                &key,
                json!({
                    "title": "Public bucket",
                    "detected_at": detected,
                    "kinds": ["confidentiality"],
                    "nature": "an export bucket was public for a day",
                    "categories": ["email"],
                    "subjects_approx": 10,
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.body["clock"], "overdue", "{}", created.text);
        let id = created.body["id"].as_str().unwrap().to_owned();

        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let late = app
            .post(
                &format!("/v1/breaches/{id}/authority-notification"),
                &key,
                json!({"notified_at": now}),
            )
            .await;
        assert_problem(&late, StatusCode::CONFLICT, "conflict");
        assert!(late.text.contains("late_reason"), "{}", late.text);
        let noted = app
            .post(
                &format!("/v1/breaches/{id}/authority-notification"),
                &key,
                json!({"notified_at": now, "reference": "CNIL-1", "late_reason": "scope unknown until day 4"}),
            )
            .await;
        assert_eq!(noted.body["clock"], "notified_late", "{}", noted.text);

        let scoped = app
            .post(
                &format!("/v1/breaches/{id}/scope"),
                &key,
                json!({"by": "form", "form": form}),
            )
            .await;
        assert_eq!(scoped.status, StatusCode::OK, "{}", scoped.text);
        assert_eq!(scoped.body["affected"]["subjects"], 0);
        let early = app
            .send(
                Method::POST,
                &format!("/v1/breaches/{id}/subjects-notification"),
                Some(&key),
                None,
            )
            .await;
        assert_problem(&early, StatusCode::CONFLICT, "conflict");
        let decided = app
            .post(
                &format!("/v1/breaches/{id}/subjects-decision"),
                &key,
                json!({"notify": false, "reason": "encrypted at rest (Art. 34(3)(a))"}),
            )
            .await;
        assert_eq!(
            decided.body["subjects_decision"]["notify"], false,
            "{}",
            decided.text
        );
        let draft = app.get(&format!("/v1/breaches/{id}/draft.md"), &key).await;
        assert!(
            draft.content_type.starts_with("text/markdown"),
            "{}",
            draft.content_type
        );
        assert!(
            draft.text.contains("CNIL") || draft.text.contains("Public bucket"),
            "{}",
            draft.text
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_deployments_register_is_the_operators_and_bad_input_names_its_field() {
    let app = crate::helpers::spawn_app().await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"title": "Backup key leaked", "detected_at": now, "kinds": ["confidentiality"], "nature": "a key"});
    let by_tenant = app.post("/v1/admin/breaches", &key, body.clone()).await;
    assert_eq!(
        by_tenant.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        by_tenant.text
    );
    let made = app.post("/v1/admin/breaches", ADMIN, body.clone()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["deployment"], true);
    let theirs = app.get("/v1/breaches", &key).await;
    assert_eq!(theirs.body, json!([]), "the tenant's register is its own");
    let future = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let future = future
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (change, field) in [
        (json!({"title": "  "}), "title"),
        (json!({"detected_at": future}), "detected_at"),
    ] {
        let mut bad = body.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = app.post("/v1/breaches", &key, bad).await;
        assert!(r.status.is_client_error(), "{field}: {}", r.text);
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let mut negative = body.clone();
    negative["subjects_approx"] = json!(-1);
    let r = app.post("/v1/breaches", &key, negative).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the schema's minimum: {}",
        r.text
    );
    let empty = app
        .post(
            "/v1/breaches",
            &key,
            json!({"title": "x", "detected_at": now, "kinds": [], "nature": "n"}),
        )
        .await;
    assert!(empty.status.is_client_error(), "{}", empty.text);
    assert_eq!(
        app.get("/v1/breaches", &key).await.body,
        json!([]),
        "nothing kept"
    );
    app.stop().await;
}
