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

#[tokio::test]
async fn server_errors_reach_rollbar_scrubbed_and_erasure_makes_it_forget() {
    let rollbar = rollbar_stand_in().await;
    let endpoint = rollbar.uri();
    let app = spawn_app_with(|c| {
        c.rollbar.enabled = true;
        c.rollbar.endpoint = endpoint;
        c.rollbar.access_token = Some(SecretString::from("project-token"));
        c.rollbar.account_token = Some(SecretString::from("account-token"));
    })
    .await;
    let (_, key) = app.tenant("T").await;
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
