//! The Rollbar adapter against a local HTTP server that records what it receives and plays
//! Rollbar's answers (200, 413, 429 with headers, 500), and the deletion-job API.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gdpr_pii::{IpAddress, SubjectId};
use gdpr_ports::{
    ErrorReport, ErrorReporter, ForgetOutcome, ReportError, ReportLevel, RequestContext,
};
use gdpr_report_rollbar::{RollbarConfig, RollbarReporter};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(server: &MockServer) -> RollbarConfig {
    let mut c = RollbarConfig::new(&server.uri(), "project-token-123".to_owned().into(), "test");
    c.backoff = Duration::from_millis(10);
    c.max_rate_limit_wait = Duration::from_secs(2);
    c.poll_every = Duration::from_millis(10);
    c.polls = 5;
    c.redaction
        .set_personal_fields(["contractor_phone".to_owned()]);
    c.account_token = Some("account-token-456".to_owned().into());
    c
}

fn report(message: &str) -> ErrorReport {
    ErrorReport {
        level: ReportLevel::Error,
        message: message.to_owned(),
        person: Some(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH)),
        context: BTreeMap::from([
            ("route".to_owned(), "POST /v1/records".to_owned()),
            (
                "contractor_phone".to_owned(),
                "+33 6 99 88 77 66".to_owned(),
            ),
            ("password".to_owned(), "hunter2".to_owned()),
        ]),
        request: Some(RequestContext {
            method: "POST".into(),
            path: "/v1/records?email=canary@canary-mail.example".into(),
            headers: vec![
                (
                    "Authorization".into(),
                    "Bearer gdpr_abcdefabcdef0123".into(),
                ),
                ("Cookie".into(), "session=1".into()),
                ("User-Agent".into(), "curl/8".into()),
            ],
            client_ip: Some(IpAddress::parse("198.51.100.213").unwrap()),
        }),
    }
}

async fn items(server: &MockServer, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let received: Vec<Value> = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/api/1/item/")
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        if received.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_report_arrives_scrubbed_with_the_token_in_its_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .and(header("X-Rollbar-Access-Token", "project-token-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"err": 0})))
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    let r = report("insert failed for canary@canary-mail.example from 198.51.100.213");
    let person = r.person.unwrap();
    rollbar.report(r);
    let got = items(&server, 1).await;
    assert_eq!(got.len(), 1);
    let data = &got[0]["data"];
    let text = got[0].to_string();
    for leak in [
        "canary",
        "198.51.100.213",
        "hunter2",
        "+33 6 99",
        "gdpr_abcdef",
        "session=1",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    assert_eq!(data["environment"], "test");
    assert_eq!(data["level"], "error");
    assert_eq!(
        data["body"]["message"]["body"],
        "insert failed for [email] from 198.51.100.0/24"
    );
    assert_eq!(data["person"], json!({"id": person.to_string()}));
    assert_eq!(data["request"]["url"], "/v1/records");
    assert_eq!(data["request"]["user_ip"], "198.51.100.0/24");
    assert!(
        data["request"]["headers"].get("Authorization").is_none(),
        "only allowed headers are sent"
    );
    assert!(data["request"]["headers"].get("Cookie").is_none());
    assert_eq!(data["request"]["headers"]["User-Agent"], "curl/8");
    assert_eq!(data["custom"]["contractor_phone"], "[scrubbed]");
    assert_eq!(data["custom"]["route"], "POST /v1/records");
    assert!(data["uuid"].as_str().unwrap().len() == 36 && data["server"]["host"] == "gdpr");
    assert_eq!(rollbar.metrics().sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_scrubbed_payload_matches_the_reviewed_snapshot() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"err": 0})))
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    rollbar.report(report(
        "insert failed for canary@canary-mail.example from 198.51.100.213",
    ));
    let mut item = items(&server, 1).await.remove(0);
    // What changes on every run is replaced; its shape was asserted above.
    let data = &mut item["data"];
    assert!(data["uuid"].is_string(), "a uuid is sent");
    data["uuid"] = json!("<uuid>");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let at = data["timestamp"].as_i64().expect("a timestamp is sent");
    assert!(
        (now - 60..=now).contains(&at),
        "{at} is the time of the report"
    );
    data["timestamp"] = json!("<timestamp>");
    data["person"]["id"] = json!("<pseudonymous subject id>");
    data["code_version"] = json!("<code version>");
    gdpr_testkit::assert_snapshot(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/snapshots/item.json"
        )),
        &(serde_json::to_string_pretty(&item).unwrap() + "\n"),
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_with_the_same_uuid() {
    let server = MockServer::start().await;
    let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 1;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-Rate-Limit-Reset", reset.to_string().as_str())
                .insert_header("X-Rate-Limit-Remaining", "0"),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    rollbar.report(report("boom"));
    let got = items(&server, 3).await;
    assert_eq!(got.len(), 3, "500, then 429, then accepted");
    let uuids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|i| i["data"]["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids.len(), 1, "a retry is never counted twice");
    let started = Instant::now();
    while rollbar.metrics().sent.load(Ordering::Relaxed) == 0
        && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rollbar.metrics().sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_413_is_retried_once_with_a_smaller_payload() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(413))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.max_payload = 64 * 1024;
    let rollbar = RollbarReporter::start(c).unwrap();
    rollbar.report(report(&"x".repeat(200_000)));
    let got = items(&server, 2).await;
    let sizes: Vec<usize> = got.iter().map(|i| i.to_string().len()).collect();
    assert_eq!(sizes.len(), 2);
    assert!(
        sizes[0] <= 64 * 1024 && sizes[1] <= 16 * 1024 && sizes[1] < sizes[0],
        "{sizes:?}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking_the_caller() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let mut c = config(&server);
    c.queue = 2;
    let rollbar = RollbarReporter::start(c).unwrap();
    for n in 0..20 {
        rollbar.report(report(&format!("report {n}")));
    }
    let dropped = rollbar.metrics().dropped.load(Ordering::Relaxed);
    assert!((17..=18).contains(&dropped), "dropped {dropped}");
}

#[tokio::test]
async fn forgetting_a_person_starts_a_deletion_job_and_waits_for_it() {
    let server = MockServer::start().await;
    let person = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
    Mock::given(method("POST"))
        .and(path("/api/1/people/delete_jobs/"))
        .and(header("X-Rollbar-Access-Token", "account-token-456"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"err": 0, "result": {"id": 77, "status": "pending"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/1/people/delete_jobs/77"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"err": 0, "result": {"id": 77, "status": "pending"}})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/1/people/delete_jobs/77"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"err": 0, "result": {"id": 77, "status": "success"}})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    assert_eq!(
        rollbar.forget_person(person).await.unwrap(),
        ForgetOutcome::Forgotten
    );
    let requests = server.received_requests().await.unwrap();
    let started: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(started, json!({"person_id": person.to_string()}));
    assert_eq!(requests.len(), 4, "start, two pending polls, success");
}

#[tokio::test]
async fn a_failed_or_unreachable_deletion_is_an_error_to_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/people/delete_jobs/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": {"id": "j1"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/1/people/delete_jobs/j1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"result": {"status": "failed"}})),
        )
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    assert!(matches!(
        rollbar
            .forget_person(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH))
            .await,
        Err(ReportError::Unavailable(_))
    ));

    let mut c = config(&server);
    c.endpoint = "http://127.0.0.1:9".into();
    let down = RollbarReporter::start(c).unwrap();
    assert!(matches!(
        down.forget_person(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH))
            .await,
        Err(ReportError::Unavailable(_))
    ));
    let mut c = config(&server);
    c.account_token = None;
    let no_token = RollbarReporter::start(c).unwrap();
    assert!(matches!(
        no_token
            .forget_person(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH))
            .await,
        Err(ReportError::Unauthorized)
    ));
}

#[tokio::test]
async fn a_tracker_that_hangs_is_given_up_on_after_the_forget_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/people/delete_jobs/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": {"id": "j1"}}))
                .set_delay(std::time::Duration::from_secs(60)),
        )
        .mount(&server)
        .await;
    let rollbar = RollbarReporter::start(config(&server)).unwrap();
    // Bounded by the deadline, not by the tracker: the test would hang a minute otherwise.
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        rollbar.forget_person(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH)),
    )
    .await
    .expect("the deletion request gave up by itself");
    match outcome {
        Err(ReportError::Unavailable(why)) => {
            assert_eq!(why, "the error tracker did not answer within 3 s");
        }
        other => panic!("{other:?}"),
    }
}
