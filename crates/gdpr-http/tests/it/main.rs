//! The HTTP layer over the in-memory adapters: failures a real deployment rarely shows on
//! demand — a storage outage, a panic — answer with problem documents and reach the error
//! tracker.

#![recursion_limit = "256"]

use std::sync::Arc;

use async_trait::async_trait;
use gdpr_app::{Adapters, App, AppConfig};
use gdpr_audit::Actor;
use gdpr_http::{HttpOptions, Readiness};
use gdpr_ports::ReportLevel;
use gdpr_testkit::{InMemory, InMemoryStore, ManualClock, RecordingErrorReporter};
use poem::http::StatusCode;
use poem::test::TestClient;
use secrecy::{ExposeSecret, SecretString};

struct Ready;

#[async_trait]
impl Readiness for Ready {
    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

async fn setup() -> (
    TestClient<impl poem::Endpoint>,
    InMemoryStore,
    RecordingErrorReporter,
    String,
) {
    setup_with(gdpr_http::MetricsAccess::Open).await
}

async fn setup_with(
    metrics: gdpr_http::MetricsAccess,
) -> (
    TestClient<impl poem::Endpoint>,
    InMemoryStore,
    RecordingErrorReporter,
    String,
) {
    let store = InMemoryStore::default();
    let reporter = RecordingErrorReporter::default();
    let app = Arc::new(App::<InMemory>::new(
        Adapters {
            store: store.clone(),
            backups: Default::default(),
            encryptor: Default::default(),
            reporter: reporter.clone(),
            clock: ManualClock::at(time::OffsetDateTime::now_utc()),
            signer: Default::default(),
        },
        AppConfig::default(),
    ));
    let tenant = app
        .create_tenant(Actor::Operator, "T", "dpo@t.example")
        .await
        .unwrap();
    let key = app
        .create_api_key(Actor::Operator, tenant.id, false)
        .await
        .unwrap();
    let routes = gdpr_http::routes(
        app,
        HttpOptions {
            admin_token: Some(SecretString::from("admin-token-0123456789")),
            body_limit: 1 << 20,
            auth_failures_per_minute: 100,
            readiness: Arc::new(Ready),
            register_metrics: Some(Box::new(|registry| {
                let extra =
                    gdpr_http::prometheus_client::metrics::counter::Counter::<u64>::default();
                extra.inc_by(7);
                registry.register("test_extra", "What the server adds", extra);
            })),
            trusted_proxies: Vec::new(),
            metrics,
        },
    );
    (
        TestClient::new(routes),
        store,
        reporter,
        key.token.expose_secret().to_owned(),
    )
}

#[tokio::test]
async fn a_panic_is_contained_answered_as_a_problem_and_reported() {
    let (client, store, reporter, key) = setup().await;
    store.panic_on_next_call();
    let r = client
        .get("/v1/subjects")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await;
    r.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value =
        serde_json::from_str(&r.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(body["type"], "urn:gdpr:problem:internal");
    assert!(
        !body.to_string().contains("injected"),
        "the panic's message is not shown: {body}"
    );
    let reports = reporter.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].level, ReportLevel::Critical);
    assert_eq!(reports[0].message, "HTTP 500 on GET /v1/subjects");
    // The server goes on.
    let again = client
        .get("/v1/subjects")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await;
    again.assert_status_is_ok();
}

#[tokio::test]
async fn a_storage_outage_answers_503_and_is_reported() {
    let (client, store, reporter, key) = setup().await;
    let ok = client
        .get("/v1/subjects")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await;
    ok.assert_status_is_ok();
    store.set_unavailable(true);
    let r = client
        .get("/v1/forms")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await;
    r.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    let reports = reporter.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].level, ReportLevel::Error);
    assert!(
        reports[0]
            .request
            .as_ref()
            .unwrap()
            .headers
            .iter()
            .any(|(k, _)| k == "authorization"),
        "headers go to the adapter, which scrubs them"
    );
}

#[tokio::test]
async fn metrics_take_a_token_or_are_off_and_every_answer_says_nosniff_and_no_store() {
    let token = "scraper-token-0123456789";
    let (client, _, _, key) =
        setup_with(gdpr_http::MetricsAccess::Token(SecretString::from(token))).await;
    client
        .get("/metrics")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    client
        .get("/metrics")
        .header("authorization", "Bearer wrong-token-0123456789")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    let scraped = client
        .get("/metrics")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    scraped.assert_status_is_ok();
    scraped.assert_header("x-content-type-options", "nosniff");
    let text = scraped.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains("\ngdpr_test_extra_total 7\n"),
        "what the server registers is scraped: {text}"
    );
    let api = client
        .get("/v1/subjects")
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await;
    api.assert_status_is_ok();
    api.assert_header("x-content-type-options", "nosniff");
    api.assert_header("cache-control", "no-store");
    // Problems too.
    let refused = client.get("/v1/subjects").send().await;
    refused.assert_header("cache-control", "no-store");

    let (off, _, _, _) = setup_with(gdpr_http::MetricsAccess::Off).await;
    off.get("/metrics")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
}
