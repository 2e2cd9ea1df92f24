//! Operator routes and the operational endpoints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN, apps, assert_problem, spawn_app};

#[tokio::test]
async fn operational_endpoints_answer() {
    let app = spawn_app().await;
    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.text.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let spec = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.body["info"]["title"], "gdpr");
    let docs = app.send(Method::GET, "/docs", None, None).await;
    assert!(
        docs.text.contains("swagger"),
        "{}",
        &docs.text[..docs.text.len().min(200)]
    );
    let (_, key) = app.tenant("T").await;
    app.get("/v1/subjects", &key).await;
    let metrics = app.send(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics.text.contains("gdpr_requests_overdue 0"),
        "{}",
        metrics.text
    );
    app.stop().await;
}

/// The samples of a scrape, each line read by a Prometheus text-format parser: every line
/// is a sample, a `# HELP`, `# TYPE` or `# UNIT` line, or the closing `# EOF`.
fn parse_metrics(text: &str) -> Vec<prometheus_parse::Sample> {
    use prometheus_parse::LineInfo;
    for line in text.lines() {
        let known = !matches!(LineInfo::parse(line), LineInfo::Ignored)
            || line.starts_with("# UNIT ")
            || line == "# EOF";
        assert!(known, "not Prometheus text: {line:?}");
    }
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics scrape ends with # EOF"
    );
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap()
        .samples
}

/// A sample's value, whatever type the parser gave it.
fn number(value: &prometheus_parse::Value) -> f64 {
    match value {
        prometheus_parse::Value::Counter(n)
        | prometheus_parse::Value::Gauge(n)
        | prometheus_parse::Value::Untyped(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_name_no_one() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let subject = app
        .post("/v1/subjects", &key, json!({"email": "ada@example.org"}))
        .await;
    let id = subject.body["id"].as_str().unwrap().to_owned();
    app.get(&format!("/v1/subjects/{id}"), &key).await;
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/v1/subjects/{missing}"), &key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.get("/v1/no-such-route", &key).await;
    app.send(Method::GET, "/no-such-place", None, None).await;
    // Refused before the handler (no key): still counted under its route.
    app.send(Method::GET, "/v1/subjects", None, None).await;
    // A made-up method is a valid HTTP token: it must not become a label value.
    let brew = Method::from_bytes(b"BREW").unwrap();
    app.send(brew, "/v1/subjects", Some(&key), None).await;
    let scrape = app.send(Method::GET, "/metrics", None, None).await;
    assert!(
        scrape
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        scrape.content_type
    );
    let samples = parse_metrics(&scrape.text);
    let find = |metric: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    };
    // Per route template (never the path with its id), method and class; latency per route.
    let by_route = |class| {
        find(
            "gdpr_http_requests_total",
            &[
                ("route", "/v1/subjects/:param0"),
                ("method", "GET"),
                ("class", class),
            ],
        )
        .map(|s| number(&s.value))
    };
    let http_lines: Vec<&str> = scrape
        .text
        .lines()
        .filter(|l| l.starts_with("gdpr_http_requests_total"))
        .collect();
    assert_eq!(by_route("2xx"), Some(1.0), "{http_lines:#?}");
    assert_eq!(by_route("4xx"), Some(1.0), "{http_lines:#?}");
    // OpenMetrics names a counter's family without `_total`, which this parser (written for
    // the older text format) does not tie to its samples: the type is checked here.
    assert!(scrape.text.contains("# TYPE gdpr_http_requests counter\n"));
    assert!(
        scrape
            .text
            .contains("# TYPE gdpr_http_request_duration_seconds histogram\n")
    );
    // An unknown path under the API counts under the API's prefix; one outside, as unmatched.
    for route in ["/v1", "unmatched"] {
        assert!(
            find(
                "gdpr_http_requests_total",
                &[("route", route), ("class", "4xx")]
            )
            .is_some(),
            "{route}: {http_lines:#?}"
        );
    }
    assert!(
        find(
            "gdpr_http_requests_total",
            &[
                ("route", "/v1/subjects"),
                ("method", "GET"),
                ("class", "4xx")
            ]
        )
        .is_some(),
        "{http_lines:#?}"
    );
    assert!(
        find("gdpr_http_requests_total", &[("method", "other")]).is_some(),
        "{http_lines:#?}"
    );
    assert!(!scrape.text.contains("BREW"), "{http_lines:#?}");
    let latency = find(
        "gdpr_http_request_duration_seconds",
        &[("route", "/v1/subjects/:param0"), ("method", "GET")],
    )
    .expect("a latency histogram per route");
    assert!(matches!(&latency.value, prometheus_parse::Value::Histogram(b) if b.len() > 10));
    for (metric, labels) in [
        ("gdpr_auth_failures_total", &[][..]),
        ("gdpr_requests_overdue", &[]),
        ("gdpr_jobs_due", &[]),
        ("gdpr_jobs_oldest_due_age_seconds", &[]),
        ("gdpr_jobs_failed", &[]),
        ("gdpr_hot_cache_up", &[]),
        ("gdpr_hot_cache_entries", &[]),
        ("gdpr_db_pool_connections", &[]),
        ("gdpr_db_pool_max", &[]),
        (
            "gdpr_attestation_failing",
            &[("check", "audit_chain_verified")],
        ),
    ] {
        assert!(
            find(metric, labels).is_some(),
            "{metric} {labels:?} in\n{}",
            scrape.text
        );
    }
    assert_eq!(
        find("gdpr_hot_cache_up", &[]).map(|s| number(&s.value)),
        Some(1.0),
        "the embedded default answers from memory"
    );
    // No label value is an address, a subject's id or anything a person typed.
    for s in &samples {
        for (name, value) in s.labels.iter() {
            assert!(
                !value.contains('@')
                    && !value.contains(&id)
                    && !value.contains(&missing.to_string()),
                "{} {name}={value}",
                s.metric
            );
        }
    }
    // Every series the shipped alert rules use is one a scrape has.
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/prometheus-alerts.yml"),
    )
    .unwrap();
    // Series with no sample until something happens: a family declared but empty (no job
    // ran yet), or shown only where it applies (checked by their own tests).
    let declared = |family: &str| scrape.text.contains(&format!("# TYPE {family} "));
    let elsewhere = [
        // api/backups::readiness_and_metrics_say_how_old_the_newest_verified_backups_are
        "gdpr_backup_verified_age_seconds",
        // api/tracker::server_errors_reach_rollbar_scrubbed_and_erasure_makes_it_forget
        "gdpr_error_reports_total",
        // api/batch::batch_erasures_and_record_deletions_are_started_followed_and_summarised
        "gdpr_job_runs_total",
    ];
    let mut checked = 0;
    for line in rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:"))
    {
        let words = line.split(|c: char| !(c.is_ascii_lowercase() || c == '_'));
        for name in words.filter(|w| w.starts_with("gdpr_")) {
            let known = samples.iter().any(|s| s.metric == name)
                || declared(name.strip_suffix("_total").unwrap_or(name))
                || elsewhere.contains(&name);
            assert!(known, "the alert rules use {name}, which /metrics lacks");
            checked += 1;
        }
    }
    assert!(checked >= 9, "{checked}");
    app.stop().await;
}

#[tokio::test]
async fn the_operator_creates_tenants_and_issues_and_revokes_keys() {
    for app in apps().await {
        let (tenant, key) = app.tenant("LogAlto SAS").await;
        let listed = app.get("/v1/admin/tenants", ADMIN).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", app.backend);
        assert!(app.get("/v1/subjects", &key).await.status.is_success());

        let keys = app
            .get(&format!("/v1/admin/tenants/{tenant}/api-keys"), ADMIN)
            .await;
        assert_eq!(keys.body.as_array().unwrap().len(), 1);
        assert!(
            !keys.text.contains(&key[key.len() - 20..]),
            "secrets are never listed"
        );
        let key_id = keys.body[0]["id"].as_str().unwrap().to_owned();
        let revoked = app
            .send(
                Method::DELETE,
                &format!("/v1/admin/tenants/{tenant}/api-keys/{key_id}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        assert_problem(
            &app.get("/v1/subjects", &key).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );

        let unknown = app
            .post(
                &format!("/v1/admin/tenants/{}/api-keys", uuid::Uuid::new_v4()),
                ADMIN,
                json!({}),
            )
            .await;
        assert_problem(&unknown, StatusCode::NOT_FOUND, "not-found");
        let bad = app
            .post(
                "/v1/admin/tenants",
                ADMIN,
                json!({"name": " ", "privacy_contact": "x"}),
            )
            .await;
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        assert_eq!(bad.body["errors"][0]["field"], "name");
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_routes_need_the_admin_token_and_tenant_keys_are_not_it() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    for token in [None, Some("wrong"), Some(key.as_str())] {
        let r = app
            .send(
                Method::POST,
                "/v1/admin/tenants",
                token,
                Some(&json!({"name": "X", "privacy_contact": "y"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(
        app.get("/v1/admin/tenants", ADMIN)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was created"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_process_that_takes_no_jobs_still_deletes_its_log_files_past_retention() {
    let logs = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let old = logs.path().join("gdpr.log.2001-01-01");
    let recent = logs.path().join(format!("gdpr.log.{today}"));
    let unrelated = logs.path().join("notes.2001-01-01");
    for file in [&old, &recent, &unrelated] {
        std::fs::write(file, "line\n").unwrap();
    }
    let dir = logs.path().to_owned();
    let _app = crate::helpers::spawn_app_with(|c| {
        assert!(!c.jobs.enabled, "the helpers start web-only servers");
        c.logging.directory = Some(dir);
    })
    .await;
    assert!(!old.exists(), "a log file past retention is deleted");
    assert!(recent.exists(), "today's log file stays");
    assert!(
        unrelated.exists(),
        "files that are not our logs are left alone"
    );
}

#[tokio::test]
async fn an_operator_deletes_all_of_a_tenants_backups_and_gets_a_receipt() {
    let app = spawn_app().await;
    let (tenant, _) = app.tenant("T").await;
    let (other, _) = app.tenant("Other").await;
    // Backups as the local store keeps them, under <backups.directory>/backups/<tenant>/.
    let root = app.dir.path().join("backups/backups");
    let stage = |tenant: &str, id: &str| {
        let dir = root.join(tenant).join(id);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["manifest.json", "payload.zst.pgp"] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
    };
    stage(&tenant, "20261101T020000Z-aaaaaaaa");
    stage(&tenant, "20261126T020000Z-bbbbbbbb");
    stage(&other, "20261126T020000Z-cccccccc");
    let path = format!("/v1/admin/tenants/{tenant}/backups");

    let refused = app
        .send(Method::DELETE, &path, Some("not-the-admin-token"), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert!(
        root.join(&tenant).exists(),
        "a refused request deletes nothing"
    );

    let receipt = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.text);
    assert_eq!(receipt.body["tenant"], tenant.as_str());
    let deleted: Vec<&str> = receipt.body["deleted_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    assert!(
        deleted
            .iter()
            .all(|k| k.starts_with(&format!("backups/{tenant}/")))
    );
    assert!(
        !root.join(&tenant).exists(),
        "nothing of the tenant's backups is left"
    );
    assert!(
        root.join(&other)
            .join("20261126T020000Z-cccccccc/manifest.json")
            .exists()
    );

    let again = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(again.body["deleted_objects"], json!([]));
    let unknown = app
        .send(
            Method::DELETE,
            &format!("/v1/admin/tenants/{}/backups", uuid::Uuid::new_v4()),
            Some(ADMIN),
            None,
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not-found");
}
