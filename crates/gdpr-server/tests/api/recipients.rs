//! The register of processors and recipients over HTTP: the tenant's own through
//! `/v1/recipients`, the deployment's from `[rollbar]`, `[backups]` and `[[processors]]`; the
//! register and the attestation flag a transfer without a safeguard.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{apps_with, assert_problem, spawn_app_with};

#[tokio::test]
async fn a_tenant_keeps_its_recipients_and_the_register_flags_an_unsafeguarded_transfer() {
    for app in apps_with(|c| {
        c.backups.country = gdpr_rights::Country::parse("DE").ok();
    })
    .await
    {
        let (_, key) = app.tenant("LogAlto SAS").await;
        app.contractors(&key).await;
        let created = app
            .post(
                "/v1/recipients",
                &key,
                json!({
                    "name": "Analytics Inc.",
                    "role": "processor",
                    "description": "audience statistics",
                    "purposes": ["contractors"],
                    "categories": ["email", "ip_address"],
                    "country": "us",
                    "safeguard": "none",
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.body["country"], "US");
        assert_eq!(created.body["transfer"], "unsafeguarded");
        assert_eq!(created.body["flagged"], true);
        let id = created.body["id"].as_str().unwrap().to_owned();

        let listed = app.get("/v1/recipients", &key).await;
        let names: Vec<&str> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["Backup object storage", "Analytics Inc."],
            "{}",
            listed.text
        );
        assert_eq!(listed.body[0]["kept_by"], "deployment");
        assert_eq!(listed.body[0]["transfer"], "within_eea");
        assert_eq!(listed.body[1]["kept_by"], "tenant");
        // The deployment's processor has an id every call gives alike; its routes read it and
        // refuse to change it: the operator's configuration keeps it.
        let backups = listed.body[0]["id"].as_str().unwrap().to_owned();
        let again = app.get("/v1/recipients", &key).await;
        assert_eq!(again.body[0]["id"], backups.as_str());
        let read = app.get(&format!("/v1/recipients/{backups}"), &key).await;
        assert_eq!(read.body["name"], "Backup object storage", "{}", read.text);
        let body =
            json!({"name": "Mine now", "role": "processor", "country": "FR", "safeguard": "none"});
        let changed = app
            .send(
                Method::PUT,
                &format!("/v1/recipients/{backups}"),
                Some(&key),
                Some(&body),
            )
            .await;
        assert_problem(&changed, StatusCode::FORBIDDEN, "forbidden-by-policy");
        let removed = app
            .send(
                Method::DELETE,
                &format!("/v1/recipients/{backups}"),
                Some(&key),
                None,
            )
            .await;
        assert_problem(&removed, StatusCode::FORBIDDEN, "forbidden-by-policy");
        let after = app.get("/v1/recipients", &key).await;
        assert_eq!(after.body[0]["name"], "Backup object storage");

        let md = app.get("/v1/register.md", &key).await;
        assert!(
            md.text
                .contains("**FLAGGED: outside the EEA with no safeguard"),
            "{}",
            md.text
        );
        gdpr_server::operator::attest(&app.config, None)
            .await
            .unwrap();
        let attested = app.get("/v1/attestations", &key).await;
        let check = attested.body[0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "transfers_safeguarded")
            .cloned()
            .unwrap_or_default();
        assert_eq!(check["verdict"], "fail", "{}", attested.text);

        // Named the ground: no longer flagged.
        let replaced = app
            .send(
                Method::PUT,
                &format!("/v1/recipients/{id}"),
                Some(&key),
                Some(&json!({
                    "name": "Analytics Inc.",
                    "role": "processor",
                    "country": "US",
                    "safeguard": "standard_contractual_clauses",
                    "contract": "DPA 2026-05, SCCs module 2",
                })),
            )
            .await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
        assert_eq!(replaced.body["transfer"], "safeguarded");
        assert_eq!(replaced.body["flagged"], false);
        let one = app.get(&format!("/v1/recipients/{id}"), &key).await;
        assert_eq!(one.body["contract"], "DPA 2026-05, SCCs module 2");

        let gone = app
            .send(
                Method::DELETE,
                &format!("/v1/recipients/{id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
        let again = app.get(&format!("/v1/recipients/{id}"), &key).await;
        assert_problem(&again, StatusCode::NOT_FOUND, "not-found");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_recipient_against_the_rules_gets_a_problem_naming_the_field_and_nothing_is_kept() {
    let app = spawn_app_with(|_| {}).await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let base =
        json!({"name": "Outsourcer", "role": "processor", "country": "IN", "safeguard": "none"});
    let cases = [
        (json!({"country": "IND"}), "country"),
        (json!({"country": "1N"}), "country"),
        (json!({"safeguard": "adequacy"}), "safeguard"),
        (json!({"name": "   "}), "name"),
        (json!({"purposes": ["Not A Purpose"]}), "purposes"),
    ];
    for (change, field) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/v1/recipients", &key, body).await;
        assert!(r.status.is_client_error(), "{field}: {}", r.text);
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let unknown = app
        .post("/v1/recipients", &key, json!({"name": "X", "role": "processor", "country": "FR", "safeguard": "none", "purposes": ["nowhere"]}))
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not-found");
    let read_only = app.key(&tenant, true).await;
    let refused = app.post("/v1/recipients", &read_only, base.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let listed = app.get("/v1/recipients", &key).await;
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "only the backups: {}",
        listed.text
    );
    app.stop().await;
}

#[tokio::test]
async fn the_deployments_processors_come_from_its_configuration_and_a_false_claim_stops_the_start()
{
    let app = spawn_app_with(|c| {
        c.backups.country = gdpr_rights::Country::parse("FR").ok();
        c.processors = vec![gdpr_server::config::ProcessorSettings {
            name: "Mail Provider SAS".into(),
            role: gdpr_rights::RecipientRole::Processor,
            description: "sends the service's e-mail".into(),
            categories: vec![gdpr_pii::PiiCategory::Email],
            country: gdpr_rights::Country::parse("CH").ok(),
            location: Some("Zurich".into()),
            safeguard: gdpr_rights::Safeguard::Adequacy,
            contract: None,
        }];
    })
    .await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    let listed = app.get("/v1/recipients", &key).await;
    let mail = &listed.body[1];
    assert_eq!(mail["name"], "Mail Provider SAS", "{}", listed.text);
    assert_eq!(mail["transfer"], "safeguarded");
    assert_eq!(mail["location"], "Zurich");
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::config(
        &dir,
        format!("sqlite://{}/x.db?mode=rwc", dir.path().display()),
    );
    config.processors = vec![gdpr_server::config::ProcessorSettings {
        name: "Outsourcer".into(),
        role: gdpr_rights::RecipientRole::Processor,
        description: String::new(),
        categories: Vec::new(),
        country: gdpr_rights::Country::parse("IN").ok(),
        location: None,
        safeguard: gdpr_rights::Safeguard::Adequacy,
        contract: None,
    }];
    let err = refusal(&config).await;
    assert!(
        err.contains("processors[0]") && err.contains("adequacy"),
        "{err}"
    );

    // Two processors of one name would share one id: refused at start.
    let mut twice = config.processors[0].clone();
    twice.safeguard = gdpr_rights::Safeguard::StandardContractualClauses;
    config.processors = vec![twice.clone(), twice];
    let err = refusal(&config).await;
    assert!(
        err.contains("processors[1]") && err.contains("another processor"),
        "{err}"
    );
}

/// Why the service refuses to start on `config` (empty if it starts).
async fn refusal(config: &gdpr_server::config::Config) -> String {
    gdpr_server::start(config)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}
