//! Operator routes and the operational endpoints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN, apps, assert_problem, spawn_app};

#[tokio::test]
async fn operational_endpoints_answer() {
    let app = spawn_app().await;
    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.text.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let spec = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.body["info"]["title"], "gdpr");
    let docs = app.send(Method::GET, "/docs", None, None).await;
    assert!(
        docs.text.contains("swagger"),
        "{}",
        &docs.text[..docs.text.len().min(200)]
    );
    let (_, key) = app.tenant("T").await;
    app.get("/v1/subjects", &key).await;
    let metrics = app.send(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics
            .text
            .contains("gdpr_http_responses_total{class=\"2xx\"}"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("gdpr_requests_overdue 0"),
        "{}",
        metrics.text
    );
    app.stop().await;
}

#[tokio::test]
async fn the_operator_creates_tenants_and_issues_and_revokes_keys() {
    for app in apps().await {
        let (tenant, key) = app.tenant("LogAlto SAS").await;
        let listed = app.get("/v1/admin/tenants", ADMIN).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", app.backend);
        assert!(app.get("/v1/subjects", &key).await.status.is_success());

        let keys = app
            .get(&format!("/v1/admin/tenants/{tenant}/api-keys"), ADMIN)
            .await;
        assert_eq!(keys.body.as_array().unwrap().len(), 1);
        assert!(
            !keys.text.contains(&key[key.len() - 20..]),
            "secrets are never listed"
        );
        let key_id = keys.body[0]["id"].as_str().unwrap().to_owned();
        let revoked = app
            .send(
                Method::DELETE,
                &format!("/v1/admin/tenants/{tenant}/api-keys/{key_id}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        assert_problem(
            &app.get("/v1/subjects", &key).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );

        let unknown = app
            .post(
                &format!("/v1/admin/tenants/{}/api-keys", uuid::Uuid::new_v4()),
                ADMIN,
                json!({}),
            )
            .await;
        assert_problem(&unknown, StatusCode::NOT_FOUND, "not-found");
        let bad = app
            .post(
                "/v1/admin/tenants",
                ADMIN,
                json!({"name": " ", "privacy_contact": "x"}),
            )
            .await;
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(bad.body["errors"][0]["field"], "name");
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_routes_need_the_admin_token_and_tenant_keys_are_not_it() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    for token in [None, Some("wrong"), Some(key.as_str())] {
        let r = app
            .send(
                Method::POST,
                "/v1/admin/tenants",
                token,
                Some(&json!({"name": "X", "privacy_contact": "y"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(
        app.get("/v1/admin/tenants", ADMIN)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was created"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_process_that_takes_no_jobs_still_deletes_its_log_files_past_retention() {
    let logs = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let old = logs.path().join("gdpr.log.2001-01-01");
    let recent = logs.path().join(format!("gdpr.log.{today}"));
    let unrelated = logs.path().join("notes.2001-01-01");
    for file in [&old, &recent, &unrelated] {
        std::fs::write(file, "line\n").unwrap();
    }
    let dir = logs.path().to_owned();
    let _app = crate::helpers::spawn_app_with(|c| {
        assert!(!c.jobs.enabled, "the helpers start web-only servers");
        c.logging.directory = Some(dir);
    })
    .await;
    assert!(!old.exists(), "a log file past retention is deleted");
    assert!(recent.exists(), "today's log file stays");
    assert!(
        unrelated.exists(),
        "files that are not our logs are left alone"
    );
}

#[tokio::test]
async fn an_operator_deletes_all_of_a_tenants_backups_and_gets_a_receipt() {
    let app = spawn_app().await;
    let (tenant, _) = app.tenant("T").await;
    let (other, _) = app.tenant("Other").await;
    // Backups as the local store keeps them, under <backups.directory>/backups/<tenant>/.
    let root = app.dir.path().join("backups/backups");
    let stage = |tenant: &str, id: &str| {
        let dir = root.join(tenant).join(id);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["manifest.json", "payload.zst.pgp"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
    };
    stage(&tenant, "20261101T020000Z-aaaaaaaa");
    stage(&tenant, "20261126T020000Z-bbbbbbbb");
    stage(&other, "20261126T020000Z-cccccccc");
    let path = format!("/v1/admin/tenants/{tenant}/backups");

    let refused = app
        .send(Method::DELETE, &path, Some("not-the-admin-token"), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert!(
        root.join(&tenant).exists(),
        "a refused request deletes nothing"
    );

    let receipt = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.text);
    assert_eq!(receipt.body["tenant"], tenant.as_str());
    let deleted: Vec<&str> = receipt.body["deleted_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    assert!(
        deleted
            .iter()
            .all(|k| k.starts_with(&format!("backups/{tenant}/")))
    );
    assert!(
        !root.join(&tenant).exists(),
        "nothing of the tenant's backups is left"
    );
    assert!(
        root.join(&other)
            .join("20261126T020000Z-cccccccc/manifest.json")
            .exists()
    );

    let again = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(again.body["deleted_objects"], json!([]));
    let unknown = app
        .send(
            Method::DELETE,
            &format!("/v1/admin/tenants/{}/backups", uuid::Uuid::new_v4()),
            Some(ADMIN),
            None,
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not-found");
}
