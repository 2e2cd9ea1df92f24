//! Requests from someone the vault may not hold, over HTTP: the same answer for a known and
//! an unknown address until the requester's identity is verified.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{apps, assert_problem};

#[tokio::test]
async fn an_inquiry_answers_alike_until_verified_then_opens_a_request_or_says_nothing_held() {
    for app in apps().await {
        let (_, key) = app.tenant("LogAlto SAS").await;
        let subject = app.subject(&key, "known.person@example.org").await;
        let mut made = Vec::new();
        for email in ["known.person@example.org", "stranger@example.org"] {
            let r = app
                .post(
                    "/v1/inquiries",
                    &key,
                    json!({"email": email, "kind": "access"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
            assert_eq!(r.body["state"], "awaiting_verification");
            assert!(
                !r.text.contains("example.org"),
                "the address is not echoed: {}",
                r.text
            );
            made.push(r.body);
        }
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&made[0]), keys(&made[1]), "alike before verification");

        let paths: Vec<String> = made
            .iter()
            .map(|m| format!("/v1/inquiries/{}/verification", m["id"].as_str().unwrap()))
            .collect();
        let verify = |i: usize| app.post(&paths[i], &key, json!({"method": "email_code"}));
        let opened = verify(0).await;
        assert_eq!(opened.body["state"], "request_opened", "{}", opened.text);
        let request = opened.body["request"].as_str().unwrap().to_owned();
        let r = app.get(&format!("/v1/requests/{request}"), &key).await;
        assert_eq!(r.body["subject"], subject);
        assert_eq!(r.body["verification"]["method"], "email_code");
        let none = verify(1).await;
        assert_eq!(none.body["state"], "nothing_held", "{}", none.text);
        assert!(
            none.body["search_method"]
                .as_str()
                .unwrap()
                .contains("blind-index")
        );
        assert!(none.body["searched_at"].is_string());

        let bad = app
            .post(
                "/v1/inquiries",
                &key,
                json!({"email": "not an address", "kind": "access"}),
            )
            .await;
        assert!(bad.status.is_client_error(), "{}", bad.text);
        let again = verify(1).await;
        assert_problem(&again, StatusCode::CONFLICT, "conflict");

        // One whose requester cannot be verified is refused, with reasons.
        let third = app
            .post(
                "/v1/inquiries",
                &key,
                json!({"email": "known.person@example.org", "kind": "erasure"}),
            )
            .await;
        let id = third.body["id"].as_str().unwrap();
        let refuse = format!("/v1/inquiries/{id}/refuse");
        let blank = app.post(&refuse, &key, json!({"reason": "  "})).await;
        assert!(blank.status.is_client_error(), "{}", blank.text);
        let reason = "the requester could not show they hold the address";
        let refused = app.post(&refuse, &key, json!({"reason": reason})).await;
        assert_eq!(refused.status, StatusCode::OK, "{}", refused.text);
        assert_eq!(refused.body["state"], "refused");
        assert_eq!(refused.body["refusal_reason"], reason);
        assert!(refused.body["refused_at"].is_string());
        assert!(refused.body["request"].is_null() && refused.body["searched_at"].is_null());
        let read = app.get(&format!("/v1/inquiries/{id}"), &key).await;
        assert_eq!(read.body, refused.body);
        let late = app
            .post(
                &format!("/v1/inquiries/{id}/verification"),
                &key,
                json!({"method": "email_code"}),
            )
            .await;
        assert_problem(&late, StatusCode::CONFLICT, "conflict");
        app.stop().await;
    }
}
