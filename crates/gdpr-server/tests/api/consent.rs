//! Purposes, forms, consent forms, consents and records over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{apps, assert_problem};

#[tokio::test]
async fn records_need_current_consent_and_withdrawal_takes_effect_at_once() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        let (form, consent) = app.contractors(&key).await;
        let subject = app.subject(&key, "ada@example.org").await;
        let record = json!({"form": form, "subject": subject, "values": {"email": "ada@example.org", "day_rate": 450}});

        let refused = app.post("/v1/records", &key, record.clone()).await;
        assert_problem(&refused, StatusCode::CONFLICT, "consent-required");

        let receipt = app
            .post(
                &format!("/v1/subjects/{subject}/consents"),
                &key,
                json!({"consent_form": consent, "method": "web_form", "source_ip": "203.0.113.77"}),
            )
            .await;
        assert_eq!(receipt.status, StatusCode::CREATED, "{}", receipt.text);
        assert_eq!(receipt.body["version"], "KI-CR-v1.1.0");
        assert_eq!(receipt.body["source"], "203.0.113.0/24");
        assert_eq!(receipt.body["piiPrincipalId"], subject.as_str());

        let check = app
            .get(
                &format!("/v1/subjects/{subject}/consent-check?purpose=contractors"),
                &key,
            )
            .await;
        assert_eq!(check.body["consented"], true, "{}", check.text);
        let created = app.post("/v1/records", &key, record.clone()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.body["values"]["day_rate"], 450.0);
        let record_id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get(&format!("/v1/records/{record_id}"), &key)
                .await
                .body,
            created.body,
            "{}",
            app.backend
        );
        let listed = app
            .get(&format!("/v1/records?form={form}&subject={subject}"), &key)
            .await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

        let withdrawn = app
            .post(
                &format!("/v1/subjects/{subject}/consents/withdraw"),
                &key,
                json!({"consent_form": consent, "method": "web_form"}),
            )
            .await;
        assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.text);
        assert_eq!(withdrawn.body["action"], "withdrawn");
        assert_problem(
            &app.post("/v1/records", &key, record).await,
            StatusCode::CONFLICT,
            "consent-required",
        );
        let again = app
            .post(
                &format!("/v1/subjects/{subject}/consents/withdraw"),
                &key,
                json!({"consent_form": consent, "method": "api"}),
            )
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "consent-conflict");

        let state = app
            .get(&format!("/v1/subjects/{subject}/consents"), &key)
            .await;
        assert_eq!(state.body[0]["status"], "withdrawn");
        let receipts = app
            .get(&format!("/v1/subjects/{subject}/consents/receipts"), &key)
            .await;
        assert_eq!(receipts.body.as_array().unwrap().len(), 2);

        let deleted = app
            .send(
                Method::DELETE,
                &format!("/v1/records/{record_id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_problem(
            &app.get(&format!("/v1/records/{record_id}"), &key).await,
            StatusCode::NOT_FOUND,
            "not-found",
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn consent_forms_are_versioned_and_forms_must_classify_every_field() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        let (form, consent) = app.contractors(&key).await;
        let v2 = app
            .post(
                &format!("/v1/consent-forms/{consent}/versions"),
                &key,
                json!({"text": "New wording.", "requires_reconsent": true}),
            )
            .await;
        assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.text);
        assert_eq!(v2.body["versions"].as_array().unwrap().len(), 2);
        assert_eq!(
            v2.body["versions"][0]["text"], "I agree.",
            "earlier versions are kept as they were"
        );
        let same = app
            .post(
                &format!("/v1/consent-forms/{consent}/versions"),
                &key,
                json!({"text": "New wording.", "requires_reconsent": false}),
            )
            .await;
        assert_problem(&same, StatusCode::CONFLICT, "consent-conflict");
        assert_eq!(
            app.get("/v1/consent-forms", &key)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            app.get(&format!("/v1/forms/{form}"), &key).await.body["consent_form"],
            consent.as_str()
        );

        let unclassified = app
            .post("/v1/forms", &key, json!({"name": "Staff", "purpose": "contractors", "fields": [{"name": "notes", "kind": "text"}]}))
            .await;
        assert_problem(
            &unclassified,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
        );
        assert!(
            unclassified.body["detail"]
                .as_str()
                .unwrap()
                .contains("has no PII category"),
            "{}",
            unclassified.text
        );
        let unknown_purpose = app
            .post("/v1/forms", &key, json!({"name": "Staff", "purpose": "nope", "fields": [{"name": "n", "kind": "text", "category": "free_text"}]}))
            .await;
        assert_problem(&unknown_purpose, StatusCode::NOT_FOUND, "not-found");
        assert_eq!(
            app.get("/v1/forms", &key)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1,
            "{}",
            app.backend
        );
        let purposes = app.get("/v1/purposes", &key).await;
        assert_eq!(purposes.body[0]["article"], "Art. 6(1)(a)");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_consent_form_retires_and_batches_select_by_consent() {
    for app in apps().await {
        let (_, key) = app.tenant("Retire SAS").await;
        let (_, consent) = app.contractors(&key).await;
        let (stays, leaves) = (
            app.subject(&key, "stays@example.org").await,
            app.subject(&key, "leaves@example.org").await,
        );
        app.consent(&key, &stays, &consent).await;
        app.consent(&key, &leaves, &consent).await;
        let withdrawn = app
            .post(
                &format!("/v1/subjects/{leaves}/consents/withdraw"),
                &key,
                json!({"consent_form": consent, "method": "api"}),
            )
            .await;
        assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.text);

        // Selections by consent: dry runs name exactly who is picked.
        let plan = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "consent_state", "purpose": "contractors", "state": "withdrawn"}),
            )
            .await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
        assert_eq!(plan.body["subjects"], json!([leaves]));
        let plan = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "consent_form", "consent_form": consent}),
            )
            .await;
        assert_eq!(plan.body["subjects"].as_array().unwrap().len(), 2);
        for bad in [
            json!({"by": "consent_state", "purpose": "contractors"}),
            json!({"by": "consent_form", "consent_form": consent, "form": consent}),
        ] {
            let refused = app.post("/v1/erasures/plan", &key, bad).await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                refused.text
            );
        }

        // Retired: no new consent, the old one stands; retiring twice is a conflict.
        let path = format!("/v1/consent-forms/{consent}/retirement");
        let retired = app.post(&path, &key, json!(null)).await;
        assert_eq!(retired.status, StatusCode::OK, "{}", retired.text);
        assert!(retired.body["retired_at"].is_string(), "{}", retired.text);
        let refused = app
            .post(
                &format!("/v1/subjects/{leaves}/consents"),
                &key,
                json!({"consent_form": consent, "method": "api"}),
            )
            .await;
        assert_problem(&refused, StatusCode::CONFLICT, "consent-conflict");
        assert_problem(
            &app.post(&path, &key, json!(null)).await,
            StatusCode::CONFLICT,
            "consent-conflict",
        );
        let check = app
            .get(
                &format!("/v1/subjects/{stays}/consent-check?purpose=contractors"),
                &key,
            )
            .await;
        assert_eq!(check.body["consented"], true, "{}", check.text);
        app.stop().await;
    }
}
