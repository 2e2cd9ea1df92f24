//! Storage limitation over HTTP (periods, a form's own, the plan), and the daily expiry's
//! crash test: the server killed with SIGKILL half-way through, restarted, and the job
//! finishing, every deleted record journaled and no held or young record touched.

use std::process::Command;
use std::time::{Duration, Instant};

use gdpr_app::backup::format::{Envelope, JournalEntry, journal_prefix};
use gdpr_retention::RetentionPeriod;
use gdpr_rights::{Decision, HoldGround};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{apps, assert_problem, deployment_file};

#[tokio::test]
async fn retention_periods_are_read_set_and_planned_through_the_api() {
    for app in apps().await {
        let (_, key) = app.tenant("Retention SAS").await;
        let (form, _) = app.contractors(&key).await;
        let shown = app.get("/v1/retention", &key).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
        assert_eq!(shown.body["defaults"]["backups_days"], 30);
        assert_eq!(shown.body["in_force"]["records_days"], json!(null));
        assert_eq!(shown.body["in_force"]["consent_proofs_days"], 1826);

        let set = app
            .send(
                Method::PUT,
                "/v1/retention",
                Some(&key),
                Some(&json!({"records_days": 365, "inactive_subjects_days": 1095})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.text);
        assert_eq!(set.body["in_force"]["records_days"], 365);
        assert_eq!(set.body["overrides"]["backups_days"], json!(null));
        let own = app
            .send(
                Method::PUT,
                &format!("/v1/forms/{form}/retention"),
                Some(&key),
                Some(&json!({"days": 90})),
            )
            .await;
        assert_eq!(own.status, StatusCode::OK, "{}", own.text);
        assert_eq!(own.body["retention_days"], 90);
        let shown = app.get("/v1/retention", &key).await;
        assert_eq!(shown.body["forms"][0]["records_days"], 90, "{}", shown.text);

        // Out of range, unknown or from a read-only key: refused, and nothing changes.
        for (body, status) in [
            (json!({"records_days": 0}), StatusCode::BAD_REQUEST),
            (json!({"records_days": 36_501}), StatusCode::BAD_REQUEST),
            (json!({"record_days": 30}), StatusCode::BAD_REQUEST),
        ] {
            let refused = app
                .send(Method::PUT, "/v1/retention", Some(&key), Some(&body))
                .await;
            assert_eq!(refused.status, status, "{}", refused.text);
            assert_eq!(
                refused.content_type, "application/problem+json",
                "{}",
                refused.text
            );
        }
        let reader = app.key(&app.tenant("Reader SAS").await.0, true).await;
        assert_problem(
            &app.send(
                Method::PUT,
                "/v1/retention",
                Some(&reader),
                Some(&json!({})),
            )
            .await,
            StatusCode::FORBIDDEN,
            "read-only-key",
        );
        assert_eq!(
            app.get("/v1/retention", &key).await.body["in_force"]["records_days"],
            365
        );

        // The plan is a dry run: nothing has expired yet, and nothing changes.
        let plan = app.get("/v1/retention/plan", &key).await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
        assert_eq!(plan.body["records_expired"], 0);
        assert_eq!(plan.body["forms"][0]["period_days"], 90);
        app.stop().await;
    }
}

/// Records past their period, and records that must survive it.
const SUBJECTS: usize = 200;
const RECORDS_EACH: usize = 200;

async fn scalar(url: &str, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_expiry_survives_kill_9_and_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("backups");
    let file = deployment_file(
        dir.path(),
        &format!(
            "[jobs]\nenabled = true\npoll_interval_seconds = 1\nlease_seconds = 2\n[backups]\nenabled = false\ndirectory = \"{}\"\n",
            journal_dir.display()
        ),
    );
    let config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let url = config.database.connect_url().expose_secret().to_owned();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Expiry SAS").await;
    let form = crate::helpers::contractors_in_process(&app, ctx).await;
    let emails = (0..SUBJECTS + 2).map(|n| format!("e{n}@example.org"));
    let subjects =
        crate::helpers::import_in_process(&app, ctx, emails, Some("Grace Hopper"), None).await;
    crate::helpers::import_records_in_process(
        &app,
        ctx,
        form,
        &subjects,
        ("e", "Grace Hopper"),
        RECORDS_EACH,
    )
    .await;
    // Every record is two days old but the last subject's; the one before it is held.
    let (held, young) = (subjects[SUBJECTS], subjects[SUBJECTS + 1]);
    let db = Database::connect(&url).await.unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE records SET created_at = created_at - ? WHERE subject_id <> ?",
        [
            (2 * 86_400 * 1_000_000_000_i64).into(),
            (*young.as_uuid()).into(),
        ],
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    app.place_legal_hold(ctx, held, HoldGround::LegalClaims, "a dispute")
        .await
        .unwrap();
    app.set_form_retention(ctx, form, Some(RetentionPeriod::days(1).unwrap()))
        .await
        .unwrap();
    let total = (SUBJECTS + 2) * RECORDS_EACH;
    let count = "SELECT COUNT(*) FROM records";
    assert_eq!(scalar(&url, count, vec![]).await, total as i64);

    // The server queues today's expiry at start and runs it; kill -9 once it is under way.
    let server = crate::helpers::serve_deployment(&file);
    let begun = Instant::now();
    loop {
        let left = scalar(&url, count, vec![]).await;
        if left < total as i64 {
            assert!(
                left > (2 * RECORDS_EACH) as i64,
                "finished before it could be killed: {left} left"
            );
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "the expiry never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crate::helpers::kill_9(server);

    // Restarted, the server takes the job over once its lease lapsed, and finishes it.
    let mut server = crate::helpers::serve_deployment(&file);
    let begun = Instant::now();
    let state = "SELECT COUNT(*) FROM jobs WHERE kind = 'daily-expiry' AND state = 'done'";
    while scalar(&url, state, vec![]).await == 0 {
        assert!(begun.elapsed() < Duration::from_secs(300), "never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    let attempts = scalar(
        &url,
        "SELECT attempts FROM jobs WHERE kind = 'daily-expiry'",
        vec![],
    )
    .await;
    assert!(attempts >= 2, "taken over after the crash: {attempts}");
    // Only the held subject's and the young subject's records are left.
    assert_eq!(scalar(&url, count, vec![]).await, (2 * RECORDS_EACH) as i64);
    for kept in [held, young] {
        let n = scalar(
            &url,
            "SELECT COUNT(*) FROM records WHERE subject_id = ?",
            vec![(*kept.as_uuid()).into()],
        )
        .await;
        assert_eq!(n, RECORDS_EACH as i64);
    }
    // The expiry is in the journal, written before anything went: this form, the held
    // subject spared (once per run: the restarted run journals it again).
    let mut rules = 0;
    let folder = journal_dir.join(journal_prefix(ctx.tenant));
    for entry in std::fs::read_dir(folder).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let envelope: Envelope<'_> = serde_json::from_slice(&bytes).unwrap();
        let entry: JournalEntry = serde_json::from_str(envelope.signed.get()).unwrap();
        for decision in entry.decisions {
            if let Decision::RecordsExpired {
                form: f, spared, ..
            } = decision
            {
                assert_eq!((f, spared), (form, vec![held]));
                rules += 1;
            }
        }
    }
    assert!(rules >= 2, "journaled by each run: {rules}");
}
