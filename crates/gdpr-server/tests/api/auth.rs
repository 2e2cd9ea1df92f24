//! API keys: one tenant each, read-only keys cannot write, failed attempts are limited.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{apps, assert_problem, spawn_app};

#[tokio::test]
async fn another_tenants_ids_answer_404_and_change_nothing() {
    for app in apps().await {
        let (_, mine) = app.tenant("Mine").await;
        let (_, theirs) = app.tenant("Theirs").await;
        let (form, consent) = app.contractors(&theirs).await;
        let subject = app.subject(&theirs, "grace@example.org").await;
        let given = app
            .post(
                &format!("/v1/subjects/{subject}/consents"),
                &theirs,
                json!({"consent_form": consent, "method": "api"}),
            )
            .await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.text);
        let record = app
            .post(
                "/v1/records",
                &theirs,
                json!({"form": form, "subject": subject, "values": {"email": "grace@example.org"}}),
            )
            .await;
        assert_eq!(record.status, StatusCode::CREATED, "{}", record.text);
        let record = record.body["id"].as_str().unwrap().to_owned();
        let request = app
            .post(
                "/v1/requests",
                &theirs,
                json!({"subject": subject, "kind": "access"}),
            )
            .await;
        let request = request.body["id"].as_str().unwrap().to_owned();

        for (method, path, body) in [
            (Method::GET, format!("/v1/subjects/{subject}"), None),
            (
                Method::PATCH,
                format!("/v1/subjects/{subject}"),
                Some(json!({"full_name": "X"})),
            ),
            (Method::DELETE, format!("/v1/subjects/{subject}"), None),
            (
                Method::GET,
                format!("/v1/subjects/{subject}/consents"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/subjects/{subject}/consents"),
                Some(json!({"consent_form": consent, "method": "api"})),
            ),
            (Method::GET, format!("/v1/forms/{form}"), None),
            (Method::GET, format!("/v1/records/{record}"), None),
            (Method::DELETE, format!("/v1/records/{record}"), None),
            (Method::GET, format!("/v1/consent-forms/{consent}"), None),
            (Method::GET, format!("/v1/requests/{request}"), None),
            (
                Method::POST,
                format!("/v1/requests/{request}/complete"),
                None,
            ),
            (
                Method::POST,
                "/v1/records".into(),
                Some(json!({"form": form, "subject": subject, "values": {"email": "a@b.org"}})),
            ),
        ] {
            let r = app
                .send(method.clone(), &path, Some(&mine), body.as_ref())
                .await;
            assert_problem(&r, StatusCode::NOT_FOUND, "not-found");
        }
        let lookup = app
            .post(
                "/v1/subjects/lookup",
                &mine,
                json!({"email": "grace@example.org"}),
            )
            .await;
        assert_problem(&lookup, StatusCode::NOT_FOUND, "not-found");
        assert!(
            app.get("/v1/records", &mine).await.body["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // The owner still has everything, untouched.
        assert_eq!(
            app.get(&format!("/v1/subjects/{subject}"), &theirs)
                .await
                .status,
            StatusCode::OK,
            "{}",
            app.backend
        );
        assert_eq!(
            app.get(&format!("/v1/records/{record}"), &theirs)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.get(&format!("/v1/requests/{request}"), &theirs)
                .await
                .body["status"],
            "open"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn read_only_keys_read_but_never_write() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("T").await;
    let subject = app.subject(&key, "ada@example.org").await;
    let ro = app.key(&tenant, true).await;
    assert_eq!(
        app.get(&format!("/v1/subjects/{subject}"), &ro)
            .await
            .status,
        StatusCode::OK
    );
    let write = app
        .post("/v1/subjects", &ro, json!({"email": "new@example.org"}))
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN, "read-only-key");
    let erase = app
        .send(
            Method::DELETE,
            &format!("/v1/subjects/{subject}"),
            Some(&ro),
            None,
        )
        .await;
    assert_problem(&erase, StatusCode::FORBIDDEN, "read-only-key");
    assert_eq!(
        app.get("/v1/subjects", &key).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn missing_malformed_and_wrong_keys_are_refused_then_rate_limited() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let none = app.send(Method::GET, "/v1/subjects", None, None).await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "unauthorized");
    let last = if key.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &key[..key.len() - 1]);
    for bad in ["nonsense", "gdpr_x_y", forged.as_str()] {
        assert_problem(
            &app.get("/v1/subjects", bad).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    for _ in 0..20 {
        app.get("/v1/subjects", "nonsense").await;
    }
    let limited = app.get("/v1/subjects", &forged).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "too-many-failures");
    // Valid credentials still pass from that source: behind a load balancer every client
    // shares one address, and anonymous failures must not lock out every tenant.
    assert_eq!(app.get("/v1/subjects", &key).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/admin/tenants", crate::helpers::ADMIN)
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &app.get("/v1/admin/tenants", "not-the-admin-token-at-all")
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-failures",
    );
    let metrics = app.send(Method::GET, "/metrics", None, None).await.text;
    // 3 + 17 failures reach the allowance of 20; the next 3, the forged key and the wrong
    // admin token are refused with 429.
    assert!(
        metrics.contains("gdpr_auth_failures_total 20\n"),
        "{metrics}"
    );
    assert!(metrics.contains("gdpr_rate_limited_total 5\n"), "{metrics}");
    app.stop().await;
}

/// `X-Forwarded-For` names the client only when a trusted proxy sends it: behind the
/// configured balancer each client has its own allowance; from anyone else the header is
/// ignored, so a client cannot pick the address it is limited under.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    async fn fail_from(app: &crate::helpers::TestApp, client: &str) -> StatusCode {
        app.client
            .get(format!("{}/v1/subjects", app.base))
            .bearer_auth("nonsense")
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap()
            .status()
    }
    let behind = crate::helpers::spawn_app_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            fail_from(&behind, "198.51.100.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        fail_from(&behind, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        fail_from(&behind, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
    behind.stop().await;

    let direct = spawn_app().await;
    for n in 0..20 {
        fail_from(&direct, &format!("198.51.100.{n}")).await;
    }
    assert_eq!(
        fail_from(&direct, "203.0.113.99").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    direct.stop().await;
}
