//! Exports for auditors over HTTP: JSON pages and CSV files of a period; a period that ends
//! before it starts is refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::apps;

#[tokio::test]
async fn an_auditor_reads_a_periods_requests_and_consent_events_as_json_and_csv() {
    for app in apps().await {
        let (_, key) = app.tenant("LogAlto SAS").await;
        let (_, consent) = app.contractors(&key).await;
        let mut subjects = Vec::new();
        for i in 0..3 {
            let s = app.subject(&key, &format!("auditor{i}@example.org")).await;
            app.consent(&key, &s, &consent).await;
            let r = app
                .post(
                    "/v1/requests",
                    &key,
                    json!({"subject": s, "kind": "access"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            subjects.push(s);
        }
        let from = "2020-01-01T00:00:00Z";
        let to = "2100-01-01T00:00:00Z";
        let page = app
            .get(
                &format!("/v1/auditor/requests?from={from}&to={to}&limit=2"),
                &key,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
        let next = page.body["next"].as_str().unwrap().to_owned();
        let rest = app
            .get(
                &format!("/v1/auditor/requests?from={from}&to={to}&limit=2&after={next}"),
                &key,
            )
            .await;
        assert_eq!(
            rest.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            rest.text
        );
        let csv = app
            .get(
                &format!("/v1/auditor/requests.csv?from={from}&to={to}"),
                &key,
            )
            .await;
        assert!(
            csv.content_type.starts_with("text/csv"),
            "{}",
            csv.content_type
        );
        assert_eq!(csv.text.lines().count(), 4, "{}", csv.text);
        for s in &subjects {
            assert!(csv.text.contains(s.as_str()));
        }
        let events = app
            .get(
                &format!("/v1/auditor/consent-events?from={from}&to={to}"),
                &key,
            )
            .await;
        assert_eq!(
            events.body["items"].as_array().unwrap().len(),
            3,
            "{}",
            events.text
        );
        assert_eq!(events.body["items"][0]["action"], "given");
        let events_csv = app
            .get(
                &format!("/v1/auditor/consent-events.csv?from={from}&to={to}"),
                &key,
            )
            .await;
        assert_eq!(events_csv.text.lines().count(), 4, "{}", events_csv.text);
        assert!(!events_csv.text.contains("auditor0@example.org"));
        let backwards = app
            .get(&format!("/v1/auditor/requests?from={to}&to={from}"), &key)
            .await;
        assert_eq!(backwards.status, StatusCode::OK, "{}", backwards.text);
        assert_eq!(
            backwards.body["items"],
            json!([]),
            "a backwards period holds nothing"
        );
        app.stop().await;
    }
}
