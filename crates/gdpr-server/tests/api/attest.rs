//! Attestations over HTTP and from the command line: made by `gdpr attest` (as the daily job
//! does), read and verified by each tenant, the log canary scan on the deployment's real files.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app_with};

fn check<'a>(attestation: &'a Value, kind: &str) -> &'a Value {
    attestation["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} check in {attestation}"))
}

#[tokio::test]
async fn attestations_are_made_read_by_their_tenant_only_and_verify() {
    // A log folder where a line escaped redaction (written around the service).
    let logs = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    std::fs::write(
        logs.path().join(format!("gdpr.log.{today}")),
        "{\"message\":\"ok\"}\n{\"message\":\"mail to ana.lopez@example.com\"}\n",
    )
    .unwrap();
    let dir = logs.path().to_owned();
    let app = spawn_app_with(move |c| c.logging.directory = Some(dir)).await;
    let (_, key) = app.tenant("Attest SAS").await;
    let (_, other) = app.tenant("Other SARL").await;
    app.subject(&key, "ada@example.org").await;

    let (made, holds) = gdpr_server::operator::attest(&app.config, None)
        .await
        .unwrap();
    assert!(!holds, "{made}");
    assert_eq!(made.as_array().unwrap().len(), 2);

    let list = app.get("/v1/attestations", &key).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let mine = &list.body[0];
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(mine["seq"], 1);
    assert_eq!(check(mine, "audit_chain_verified")["verdict"], "pass");
    assert_eq!(check(mine, "no_overdue_request")["verdict"], "pass");
    assert_eq!(check(mine, "tombstones_hold")["verdict"], "pass");
    // No backup recipient is configured: no backup exists, and the attestation says so.
    let newest = check(mine, "newest_backup_verified");
    assert_eq!(newest["verdict"], "fail");
    assert_eq!(newest["detail"], "no backup of this tenant exists");
    let logs_check = check(mine, "logs_clean");
    assert_eq!(logs_check["verdict"], "fail", "{logs_check}");
    assert!(
        logs_check["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 of 2 lines of 1 files"),
        "{logs_check}"
    );
    assert!(
        !list.text.contains("ana.lopez"),
        "no personal data is repeated"
    );

    // The other tenant reads its own attestation only.
    let theirs = app.get("/v1/attestations", &other).await;
    assert_eq!(theirs.body.as_array().unwrap().len(), 1);
    assert_ne!(theirs.body[0]["tenant"], mine["tenant"]);

    let verified = app.get("/v1/attestations/verify", &key).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.body["records"], 1);
    assert_eq!(verified.body["head"], mine["hash"]);
    let bad = app.get("/v1/attestations?limit=0", &key).await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "invalid-parameter");
    app.stop().await;
}
