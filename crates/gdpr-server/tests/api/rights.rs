//! Requests, erasure, legal holds, batch plans, the register and the audit log over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{apps, assert_problem, spawn_app};

#[tokio::test]
async fn requests_show_due_dates_extend_once_and_close() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        let subject = app.subject(&key, "ada@example.org").await;
        let opened = app
            .post(
                "/v1/requests",
                &key,
                json!({"subject": subject, "kind": "access"}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
        assert_eq!(opened.body["overdue"], false);
        assert!(
            opened.body["due_date"].as_str().unwrap().len() == 10,
            "{}",
            opened.text
        );
        let id = opened.body["id"].as_str().unwrap().to_owned();
        let extended = app
            .post(
                &format!("/v1/requests/{id}/extend"),
                &key,
                json!({"months": 2, "reason": "many forms"}),
            )
            .await;
        assert_eq!(extended.body["extension"]["months"], 2, "{}", extended.text);
        let again = app
            .post(
                &format!("/v1/requests/{id}/extend"),
                &key,
                json!({"months": 1, "reason": "more"}),
            )
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "request-state");
        let too_long = app
            .post(
                "/v1/requests",
                &key,
                json!({"subject": subject, "kind": "erasure"}),
            )
            .await;
        let other = too_long.body["id"].as_str().unwrap();
        let bad = app
            .post(
                &format!("/v1/requests/{other}/extend"),
                &key,
                json!({"months": 3, "reason": "x"}),
            )
            .await;
        // Months outside 1..=2 break the schema itself: a malformed body naming the field.
        assert_problem(&bad, StatusCode::BAD_REQUEST, "malformed-body");
        assert!(bad.text.contains("months"), "{}", bad.text);
        assert!(
            app.get("/v1/requests?overdue=true", &key).await.body["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            app.get("/v1/requests", &key).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2,
            "{}",
            app.backend
        );
        // A page of one, then the next by its cursor: the other request, then nothing more.
        let first = app.get("/v1/requests?limit=1", &key).await;
        let next = first.body["next"].as_str().unwrap().to_owned();
        let second = app
            .get(&format!("/v1/requests?limit=1&after={next}"), &key)
            .await;
        let ids = |page: &Value| page["items"][0]["id"].as_str().map(str::to_owned);
        assert_ne!(ids(&first.body), ids(&second.body), "{}", second.text);
        assert!(ids(&second.body).is_some(), "{}", second.text);
        let after = second.body["next"].as_str().unwrap().to_owned();
        let last = app
            .get(&format!("/v1/requests?limit=1&after={after}"), &key)
            .await;
        assert_eq!(last.body["items"].as_array().map(Vec::len), Some(0));
        assert!(
            last.body.get("next").is_none_or(Value::is_null),
            "{}",
            last.text
        );
        let complete_path = format!("/v1/requests/{id}/complete");
        let complete = || app.send(Method::POST, &complete_path, Some(&key), None);
        // Not before the requester's identity is verified.
        let unverified = complete().await;
        crate::helpers::assert_problem(&unverified, StatusCode::CONFLICT, "request-state");
        assert!(unverified.text.contains("verif"), "{}", unverified.text);
        let bad = app
            .post(
                &format!("/v1/requests/{id}/verification"),
                &key,
                json!({"method": "telepathy"}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        let verified = app
            .post(
                &format!("/v1/requests/{id}/verification"),
                &key,
                json!({"method": "account_login", "note": "signed in to the SaaS"}),
            )
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
        assert_eq!(verified.body["verification"]["method"], "account_login");
        assert!(
            verified.body["verification"]["by"]
                .as_str()
                .is_some_and(|b| b.starts_with("api_key:")),
            "{}",
            verified.text
        );
        let done = complete().await;
        assert_eq!(done.body["status"], "completed", "{}", done.text);
        let refused = app
            .post(
                &format!("/v1/requests/{id}/refuse"),
                &key,
                json!({"reason": "late"}),
            )
            .await;
        assert_problem(&refused, StatusCode::CONFLICT, "request-state");
        app.stop().await;
    }
}

#[tokio::test]
async fn erasure_returns_a_receipt_and_a_legal_hold_blocks_it() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        let (form, consent) = app.contractors(&key).await;
        let held = app.subject(&key, "held@example.org").await;
        let gone = app.subject(&key, "gone@example.org").await;
        for s in [&held, &gone] {
            app.post(
                &format!("/v1/subjects/{s}/consents"),
                &key,
                json!({"consent_form": consent, "method": "api"}),
            )
            .await;
            let r = app
                .post(
                    "/v1/records",
                    &key,
                    json!({"form": form, "subject": s, "values": {"email": "x@example.org"}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        let plan = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "form", "form": form}),
            )
            .await;
        assert_eq!(
            plan.body["subjects"].as_array().unwrap().len(),
            2,
            "{}",
            plan.text
        );
        assert_eq!(plan.body["records"], 2);

        let hold = app
            .post(
                &format!("/v1/subjects/{held}/legal-holds"),
                &key,
                json!({"ground": "legal_claims", "reason": "case 2026-114"}),
            )
            .await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.text);
        let blocked = app
            .send(
                Method::DELETE,
                &format!("/v1/subjects/{held}"),
                Some(&key),
                None,
            )
            .await;
        assert_problem(&blocked, StatusCode::CONFLICT, "erasure-blocked");
        let detail = blocked.body["detail"].as_str().unwrap();
        assert!(
            !detail.contains("case 2026-114"),
            "free text stays out of error bodies: {detail}"
        );
        let receipt_id = detail
            .rsplit("receipt ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let blocked_receipt = app
            .get(&format!("/v1/erasure-receipts/{receipt_id}"), &key)
            .await;
        assert_eq!(
            blocked_receipt.body["status"], "blocked",
            "{}",
            blocked_receipt.text
        );
        let why = blocked_receipt.body["places"][0]["reason"]
            .as_str()
            .unwrap();
        assert!(
            why.contains("Art. 17(3)") && why.contains("hold ") && !why.contains("case 2026-114"),
            "the receipt names the hold, not its free text: {why}"
        );
        assert_eq!(
            app.get(&format!("/v1/subjects/{held}"), &key).await.status,
            StatusCode::OK
        );
        let plan = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "subjects", "subjects": [held, gone]}),
            )
            .await;
        assert_eq!(plan.body["blocked"], json!([held]));

        let request = app
            .post(
                "/v1/requests",
                &key,
                json!({"subject": gone, "kind": "erasure"}),
            )
            .await;
        let request = request.body["id"].as_str().unwrap().to_owned();
        let verified = app
            .post(
                &format!("/v1/requests/{request}/verification"),
                &key,
                json!({"method": "email_code"}),
            )
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
        let receipt = app
            .send(
                Method::DELETE,
                &format!("/v1/subjects/{gone}?request={request}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.text);
        assert_eq!(receipt.body["status"], "complete", "{}", app.backend);
        let places: Vec<&str> = receipt.body["places"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["place"].as_str().unwrap())
            .collect();
        assert_eq!(
            places,
            [
                "records",
                "personal_fields",
                "data_key",
                "consents",
                "backups",
                "error_tracker"
            ]
        );
        assert_eq!(receipt.body["places"][0]["count"], 1);
        let stored = app
            .get(
                &format!(
                    "/v1/erasure-receipts/{}",
                    receipt.body["id"].as_str().unwrap()
                ),
                &key,
            )
            .await;
        assert_eq!(stored.body, receipt.body);
        assert_problem(
            &app.get(&format!("/v1/subjects/{gone}"), &key).await,
            StatusCode::NOT_FOUND,
            "not-found",
        );
        assert_eq!(
            app.get(&format!("/v1/requests/{request}"), &key).await.body["status"],
            "completed"
        );

        let hold_id = hold.body["id"].as_str().unwrap();
        let released = app
            .send(
                Method::DELETE,
                &format!("/v1/subjects/{held}/legal-holds/{hold_id}"),
                Some(&key),
                None,
            )
            .await;
        assert!(
            released.body["released_at"].is_string(),
            "{}",
            released.text
        );
        let bad_plan = app
            .post("/v1/erasures/plan", &key, json!({"by": "form"}))
            .await;
        assert_problem(&bad_plan, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        // A field the kind of selection does not use is refused and named, not ignored.
        let stray = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "form", "form": form, "field": "email"}),
            )
            .await;
        assert_problem(&stray, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(stray.body["errors"][0]["field"], "field", "{}", stray.text);
        // Even as `null`: the documented shape of the kind has no such property.
        let stray = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "subjects", "subjects": [], "form": null}),
            )
            .await;
        assert_problem(&stray, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(stray.body["errors"][0]["field"], "form", "{}", stray.text);
        // An empty window and a null value are selections of nobody, not errors.
        let empty = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "created_between", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
        assert_eq!(empty.body["subjects"], json!([]));
        let null = app
            .post(
                "/v1/erasures/plan",
                &key,
                json!({"by": "field_equals", "form": form, "field": "email", "value": null}),
            )
            .await;
        assert_eq!(null.status, StatusCode::OK, "{}", null.text);
        assert_eq!(null.body["subjects"], json!([]));
        app.stop().await;
    }
}

#[tokio::test]
async fn the_register_and_the_audit_chain_are_served() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    app.contractors(&key).await;
    app.subject(&key, "ada@example.org").await;
    let register = app.get("/v1/register", &key).await;
    assert_eq!(
        register.body["controller"], "LogAlto SAS",
        "{}",
        register.text
    );
    assert_eq!(register.body["activities"][1]["name"], "Contractors");
    let md = app.get("/v1/register.md", &key).await;
    assert!(
        md.content_type.starts_with("text/markdown"),
        "{}",
        md.content_type
    );
    assert!(md.text.contains("## Contractors"), "{}", md.text);
    let audit = app.get("/v1/audit?limit=3", &key).await;
    assert_eq!(audit.body.as_array().unwrap().len(), 3);
    assert_eq!(audit.body[0]["event"]["action"], "tenant_created");
    let verified = app.get("/v1/audit/verify", &key).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    let records = verified.body["records"].as_u64().unwrap();
    assert!(records >= 8);
    // Again: from the mark the first check left, which the audit list since did not move.
    let again = app.get("/v1/audit/verify", &key).await;
    assert_eq!(again.body["valid"], true, "{}", again.text);
    assert_eq!(again.body["checked_from"].as_u64(), Some(records));
    let full = app.get("/v1/audit/verify?full=true", &key).await;
    assert_eq!(full.body["checked_from"].as_u64(), Some(1));
    assert!(full.body["records"].as_u64().unwrap() >= records);
    // The recipients are this deployment's: backups on this host's disk, no error tracker
    // (Rollbar is off).
    let recipients = register.body["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1, "{}", register.text);
    assert_eq!(
        recipients[0]["location"],
        "the service's own host (local disk)"
    );
    app.stop().await;

    // Where each recipient processes the data is the operator's to say (Art. 30(1)(e)).
    let app = crate::helpers::spawn_app_with(|c| {
        c.backups.location = "Frankfurt, Germany (eu-central-1)".into();
    })
    .await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    let register = app.get("/v1/register", &key).await;
    assert_eq!(
        register.body["recipients"][0]["location"], "Frankfurt, Germany (eu-central-1)",
        "{}",
        register.text
    );
    let md = app.get("/v1/register.md", &key).await;
    assert!(md.text.contains("Frankfurt, Germany"), "{}", md.text);
    app.stop().await;
}

#[tokio::test]
async fn restriction_and_objection_stop_processing_over_http() {
    for app in apps().await {
        let (_, key) = app.tenant("Limits SAS").await;
        let (form, consent) = app.contractors(&key).await;
        let s = app.subject(&key, "lin@example.org").await;
        app.consent(&key, &s, &consent).await;
        let values = json!({"email": "lin@example.org"});
        app.record(&key, &form, &s, values.clone()).await;
        let limits = format!("/v1/subjects/{s}/limits");

        // Restriction: records refused, the check says why, nothing leaks.
        let placed = app
            .post(
                &limits,
                &key,
                json!({"kind": "restriction", "reason": "address contested"}),
            )
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
        assert_eq!(placed.body["article"], "Art. 18");
        let limit = placed.body["id"].as_str().unwrap().to_owned();
        let refused = app
            .post(
                "/v1/records",
                &key,
                json!({"form": form, "subject": s, "values": values}),
            )
            .await;
        assert_problem(&refused, StatusCode::CONFLICT, "processing-blocked");
        assert!(!refused.text.contains("lin@") && !refused.text.contains("contested"));
        // Reads for processing stop too; the record stays stored, readable for legal claims.
        let stored = app.records_of(&key, &s, "legal_claims").await;
        assert_eq!(
            stored.body["items"].as_array().unwrap().len(),
            1,
            "{}",
            stored.text
        );
        let record = stored.body["items"][0]["id"].as_str().unwrap().to_owned();
        let read = app.get(&format!("/v1/records/{record}"), &key).await;
        assert_problem(&read, StatusCode::CONFLICT, "processing-blocked");
        let listed = app.records_of(&key, &s, "processing").await;
        assert_problem(&listed, StatusCode::CONFLICT, "processing-blocked");
        let by_form = app.get(&format!("/v1/records?form={form}"), &key).await;
        assert_eq!(by_form.body["withheld"], 1, "{}", by_form.text);
        assert_eq!(by_form.body["items"].as_array().unwrap().len(), 0);
        let claimed = app
            .get(&format!("/v1/records/{record}?use=legal_claims"), &key)
            .await;
        assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.text);
        let check = app
            .get(
                &format!("/v1/subjects/{s}/consent-check?purpose=contractors"),
                &key,
            )
            .await;
        assert_eq!(check.body["consented"], true, "{}", check.text);
        assert_eq!(check.body["may_process"], false);
        assert_eq!(check.body["blocked_by"], "restriction");
        let lifted = app
            .send(
                Method::DELETE,
                &format!("{limits}/{limit}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.text);
        assert_eq!(lifted.body["active"], false);
        app.record(&key, &form, &s, values.clone()).await;
        let read = app.get(&format!("/v1/records/{record}"), &key).await;
        assert_eq!(
            read.status,
            StatusCode::OK,
            "lifted: read again: {}",
            read.text
        );

        // Objection: a legitimate-interest purpose stops, consent-based ones go on.
        let p = app
            .post("/v1/purposes", &key, json!({"id": "analytics", "description": "Statistics", "lawful_basis": "legitimate_interests"}))
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.text);
        let objected = app
            .post(
                &limits,
                &key,
                json!({"kind": "objection", "purpose": "analytics", "reason": "objects"}),
            )
            .await;
        assert_eq!(objected.status, StatusCode::CREATED, "{}", objected.text);
        let check = app
            .get(
                &format!("/v1/subjects/{s}/consent-check?purpose=analytics"),
                &key,
            )
            .await;
        assert_eq!(check.body["may_process"], false, "{}", check.text);
        assert_eq!(check.body["blocked_by"], "objection");
        app.record(&key, &form, &s, values.clone()).await;
        let listed = app.get(&limits, &key).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 2, "{}", listed.text);

        // Bad input: a problem naming the field, nothing stored.
        for (body, field) in [
            (
                json!({"kind": "restriction", "purpose": "analytics", "reason": "x"}),
                "purpose",
            ),
            (
                json!({"kind": "restriction", "purpose": null, "reason": "x"}),
                "purpose",
            ),
            (
                json!({"kind": "objection", "purpose": "contractors", "reason": "x"}),
                "purpose",
            ),
        ] {
            let bad = app.post(&limits, &key, body).await;
            assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
            assert!(bad.text.contains(field), "{}", bad.text);
        }
        // An empty reason breaks the schema (minLength 1): a malformed body naming the field.
        let bad = app
            .post(&limits, &key, json!({"kind": "objection", "reason": ""}))
            .await;
        assert_problem(&bad, StatusCode::BAD_REQUEST, "malformed-body");
        assert!(bad.text.contains("reason"), "{}", bad.text);
        let bad = app
            .post(&limits, &key, json!({"kind": "freeze", "reason": "x"}))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        assert_eq!(
            app.get(&limits, &key).await.body.as_array().unwrap().len(),
            2
        );
        // Another tenant's key: not found.
        let (_, other) = app.tenant("Other SAS").await;
        let theirs = app.get(&limits, &other).await;
        assert_problem(&theirs, StatusCode::NOT_FOUND, "not-found");
        app.stop().await;
    }
}
