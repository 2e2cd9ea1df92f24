//! The error tracker wired in: 5xx answers are reported scrubbed, and erasure asks it to forget
//! the person — against a local server standing in for Rollbar.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::{rollbar_stand_in, spawn_app_with};

async fn received(server: &MockServer, at: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got: Vec<Value> = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == at)
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect();
        if got.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The deployment's error tracker: Rollbar at `endpoint`.
fn rollbar_at(endpoint: String) -> impl FnOnce(&mut gdpr_server::config::Config) {
    move |c| {
        c.rollbar.enabled = true;
        c.rollbar.endpoint = endpoint;
        c.rollbar.access_token = Some(SecretString::from("project-token"));
        c.rollbar.account_token = Some(SecretString::from("account-token"));
    }
}

#[tokio::test]
async fn server_errors_reach_rollbar_scrubbed_and_erasure_makes_it_forget() {
    let rollbar = rollbar_stand_in().await;
    let endpoint = rollbar.uri();
    let app = spawn_app_with(rollbar_at(endpoint)).await;
    let (_, key) = app.tenant("T").await;
    // The register names Rollbar as a recipient, where the operator says it processes.
    let register = app.get("/v1/register", &key).await;
    let tracker = register.body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Error tracker (Rollbar)")
        .cloned()
        .unwrap_or_default();
    assert!(
        tracker["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("United States")),
        "{}",
        register.text
    );
    let subject = app
        .subject(&key, "canary.tracker@canary-mail.example")
        .await;

    let receipt = app
        .send(
            Method::DELETE,
            &format!("/v1/subjects/{subject}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        receipt.body["places"][5]["place"], "error_tracker",
        "{}",
        receipt.text
    );
    assert_eq!(
        receipt.body["places"][5]["outcome"], "done",
        "{}",
        receipt.text
    );
    let jobs = received(&rollbar, "/api/1/people/delete_jobs/", 1).await;
    assert_eq!(jobs, vec![json!({"person_id": subject})]);

    // Break the database under the server: the next request fails with a 5xx, which is reported.
    let db = Database::connect(format!(
        "sqlite://{}",
        app.dir.path().join("gdpr.db").display()
    ))
    .await
    .unwrap();
    db.execute_unprepared("DROP TABLE records").await.unwrap();
    let failed = app
        .client
        .get(format!("{}/v1/records?subject={subject}", app.base))
        .bearer_auth(&key)
        .header("x-note", "canary.tracker@canary-mail.example")
        .send()
        .await
        .unwrap();
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let items = received(&rollbar, "/api/1/item/", 1).await;
    assert_eq!(items.len(), 1);
    let text = items[0].to_string();
    assert!(
        !text.contains("canary") && !text.contains(&key[key.len() - 16..]),
        "{text}"
    );
    let data = &items[0]["data"];
    assert_eq!(data["request"]["url"], "/v1/records", "no query string");
    assert!(
        data["request"]["headers"].get("authorization").is_none(),
        "only allowed headers are sent"
    );
    assert!(data["request"]["headers"].get("x-note").is_none());
    assert_eq!(data["request"]["user_ip"], "127.0.0.0/24");
    assert!(
        data["body"]["message"]["body"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 503 on GET /v1/records")
    );
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Rollbar has the item; the sender counts it once Rollbar's answer is back.
    let sent = "gdpr_error_reports_total{outcome=\"sent\"} 1";
    let started = Instant::now();
    let mut metrics = String::new();
    while !metrics.contains(sent) && started.elapsed() < Duration::from_secs(5) {
        metrics = app.send(Method::GET, "/metrics", None, None).await.text;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(sent), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_hanging_error_tracker_leaves_erasure_answering_with_the_step_pending() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    // A tracker that takes requests and never answers them in useful time.
    let rollbar = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(120)))
        .mount(&rollbar)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&rollbar)
        .await;
    let endpoint = rollbar.uri();
    let app = spawn_app_with(rollbar_at(endpoint)).await;
    let (_, key) = app.tenant("T").await;
    let subject = app.subject(&key, "hang@example.org").await;
    // The erasure answers (the client would otherwise wait the tracker's two minutes), with
    // everything done but the tracker, which the retry job asks again.
    let receipt = tokio::time::timeout(
        Duration::from_secs(30),
        app.send(
            Method::DELETE,
            &format!("/v1/subjects/{subject}"),
            Some(&key),
            None,
        ),
    )
    .await
    .expect("the erasure answered without waiting for the tracker");
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.text);
    assert_eq!(receipt.body["status"], "pending", "{}", receipt.text);
    assert_eq!(receipt.body["places"][5]["place"], "error_tracker");
    assert_eq!(receipt.body["places"][5]["outcome"], "pending");
    assert!(
        receipt.body["places"][5]["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer within 3 s"),
        "{}",
        receipt.text
    );
    // Other requests are served meanwhile.
    assert_eq!(
        app.get(&format!("/v1/subjects/{subject}"), &key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
