//! The OpenAPI document is a published contract: a snapshot in `docs/openapi.json` must match
//! what the server serves. After an intended change, regenerate it with
//! `UPDATE_SNAPSHOTS=1 cargo test -p gdpr-server --test api openapi`.

use reqwest::Method;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_served_document_matches_the_snapshot() {
    let app = spawn_app().await;
    let served = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .text;
    app.stop().await;
    gdpr_testkit::assert_snapshot(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        )),
        &served,
    );
    let spec: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/subjects",
        "/subjects/{id}",
        "/subjects/import",
        "/records",
        "/register.md",
        "/audit/verify",
        "/admin/tenants",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }
}
