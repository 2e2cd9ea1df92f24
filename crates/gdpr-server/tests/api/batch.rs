//! Batch erasure over HTTP, and its crash test: the server killed with SIGKILL half-way,
//! restarted, and the job finishing where it stopped, every subject whole or fully erased.

use std::process::Command;
use std::time::{Duration, Instant};

use gdpr_rights::BatchSelector;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{apps_with, assert_problem, deployment_file};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_erasures_and_record_deletions_are_started_followed_and_summarised() {
    for app in apps_with(|c| {
        c.jobs.enabled = true;
        c.jobs.poll_interval_seconds = 1;
    })
    .await
    {
        let (_, key) = app.tenant("Batch SAS").await;
        let (form, consent) = app.contractors(&key).await;
        let mut subjects = Vec::new();
        for n in 0..3 {
            let s = app.subject(&key, &format!("batch-{n}@example.org")).await;
            app.consent(&key, &s, &consent).await;
            app.record(
                &key,
                &form,
                &s,
                json!({"email": format!("batch-{n}@example.org")}),
            )
            .await;
            subjects.push(s);
        }
        let kept = app.subject(&key, "kept@example.org").await;
        let selection = json!({"by": "subjects", "subjects": [subjects[0], subjects[1]]});
        let dry = app.post("/v1/erasures/plan", &key, selection.clone()).await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
        let started = app.post("/v1/erasures", &key, selection).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
        assert_eq!(started.body["total"], 2);
        let status = started.body["status"].as_str().unwrap().to_owned();
        let begun = Instant::now();
        let done = loop {
            let now = app.get(&status, &key).await;
            assert_eq!(now.status, StatusCode::OK, "{}", now.text);
            if now.body["state"] == "done" {
                break now;
            }
            assert!(begun.elapsed() < Duration::from_secs(30), "{}", now.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(done.body["done"], 2);
        assert_eq!(done.body["summary"]["erased"], 2, "{}", done.text);
        // The worker counts the run and its duration once it is back from it.
        let ran = "gdpr_job_runs_total{kind=\"batch-erasure\",outcome=\"done\"} 1\n";
        let begun = Instant::now();
        let metrics = loop {
            let metrics = app.send(Method::GET, "/metrics", None, None).await.text;
            if metrics.contains(ran) || begun.elapsed() > Duration::from_secs(5) {
                break metrics;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(metrics.contains(ran), "{metrics}");
        assert!(
            metrics.contains("gdpr_job_duration_seconds_count{kind=\"batch-erasure\"} 1\n"),
            "{metrics}"
        );
        assert_eq!(done.body["summary"]["records"], dry.body["records"]);
        for s in &subjects[..2] {
            let gone = app.get(&format!("/v1/subjects/{s}"), &key).await;
            assert_problem(&gone, StatusCode::NOT_FOUND, "not-found");
        }
        for s in [&subjects[2], &kept] {
            assert_eq!(
                app.get(&format!("/v1/subjects/{s}"), &key).await.status,
                StatusCode::OK
            );
        }
        // Deleting records, not subjects: the third subject's record goes, the subject stays.
        let by_form = json!({"by": "form", "form": form});
        let dry = app
            .post("/v1/records/deletions/plan", &key, by_form.clone())
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
        assert_eq!(
            (dry.body["records"].as_u64(), dry.body["subjects"].as_u64()),
            (Some(1), Some(1))
        );
        let started = app.post("/v1/records/deletions", &key, by_form).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
        let deletion = started.body["status"].as_str().unwrap().to_owned();
        let begun = Instant::now();
        loop {
            let now = app.get(&deletion, &key).await;
            if now.body["state"] == "done" {
                assert_eq!(now.body["summary"]["records"], 1, "{}", now.text);
                break;
            }
            assert!(begun.elapsed() < Duration::from_secs(30), "{}", now.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let records = app
            .get(&format!("/v1/records?subject={}", subjects[2]), &key)
            .await;
        assert_eq!(
            records.body["items"].as_array().unwrap().len(),
            0,
            "{}",
            records.text
        );
        assert_eq!(
            app.get(&format!("/v1/subjects/{}", subjects[2]), &key)
                .await
                .status,
            StatusCode::OK
        );

        // Another tenant sees no such job; a bad selection is refused and starts nothing.
        let (_, other) = app.tenant("Other SAS").await;
        assert_problem(
            &app.get(&status, &other).await,
            StatusCode::NOT_FOUND,
            "not-found",
        );
        let bad = app.post("/v1/erasures", &key, json!({"by": "form"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        app.stop().await;
    }
}

/// 5,000 subjects with 10 records each: the 50,000 records of the issue.
const SUBJECTS: usize = 5_000;
const RECORDS_EACH: usize = 10;

/// Per selected subject: (profile rows, record rows, key rows).
async fn counts(url: &str, tenant: uuid::Uuid) -> Vec<(i64, i64, i64)> {
    let db = Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT (SELECT COUNT(*) FROM subjects s WHERE s.id = r.subject_id), \
                    COUNT(*), \
                    (SELECT COUNT(*) FROM subject_keys k WHERE k.subject_id = r.subject_id) \
             FROM records r WHERE r.tenant_id = ? GROUP BY r.subject_id",
            [tenant.into()],
        ))
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_erasure_survives_kill_9_of_the_server_and_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = deployment_file(
        dir.path(),
        &format!(
            "[jobs]\nenabled = true\npoll_interval_seconds = 1\nlease_seconds = 2\n[backups]\nenabled = false\ndirectory = \"{}\"\n",
            dir.path().join("backups").display()
        ),
    );
    let config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let url = config.database.connect_url().expose_secret().to_owned();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Crash SAS").await;
    let tenant = app.tenant(ctx.tenant).await.unwrap();
    let form = crate::helpers::contractors_in_process(&app, ctx).await;
    let emails = (0..=SUBJECTS).map(|n| format!("c{n}@example.org"));
    let subjects =
        crate::helpers::import_in_process(&app, ctx, emails, Some("Katherine Johnson"), None).await;
    // The last subject is not selected: it must come through untouched.
    let (selected, bystander) = subjects.split_at(SUBJECTS);
    crate::helpers::import_records_in_process(
        &app,
        ctx,
        form,
        &subjects,
        ("c", "Katherine Johnson"),
        RECORDS_EACH,
    )
    .await;
    let selector = BatchSelector::Subjects {
        ids: selected.iter().copied().collect(),
    };
    let dry = app.plan_batch_erasure(ctx, &selector).await.unwrap();
    assert_eq!(dry.subjects.len(), SUBJECTS);
    assert_eq!(dry.records, (SUBJECTS * RECORDS_EACH) as u64);
    let (job, _) = app.start_batch_erasure(ctx, selector).await.unwrap();

    // The server's worker takes the job; kill -9 once it is under way.
    let server = crate::helpers::serve_deployment(&file);
    let begun = Instant::now();
    loop {
        let now = app.batch_erasure(ctx, job).await.unwrap();
        if now.done > 0 {
            assert!(
                now.done < now.total,
                "finished before it could be killed: {now:?}"
            );
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crate::helpers::kill_9(server);
    let halfway = app.batch_erasure(ctx, job).await.unwrap();
    assert_eq!(halfway.state, "running", "{halfway:?}");
    // Every subject is whole or fully erased: never records without a profile or a key.
    let t = *tenant.id.as_uuid();
    for (profile, records, keys) in counts(&url, t).await {
        assert_eq!((profile, keys, records), (1, 1, RECORDS_EACH as i64));
    }
    let left = counts(&url, t).await.len();
    assert!(
        left > 1 && left < SUBJECTS + 1,
        "half-way: {left} subjects with records"
    );

    // Restarted, the server takes the job over once its lease lapsed, and finishes it.
    let mut server = crate::helpers::serve_deployment(&file);
    let begun = Instant::now();
    let done = loop {
        let now = app.batch_erasure(ctx, job).await.unwrap();
        if now.state == "done" {
            break now;
        }
        assert!(begun.elapsed() < Duration::from_secs(600), "{now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    assert!(done.attempts >= 2, "{done:?}");
    let summary = done.summary.unwrap();
    assert_eq!(summary.erased, dry.subjects.len() as u64);
    assert_eq!(summary.records, dry.records);
    let after = counts(&url, t).await;
    assert_eq!(
        after,
        vec![(1, RECORDS_EACH as i64, 1)],
        "only the bystander is left"
    );
    assert!(app.subject(ctx, bystander[0]).await.is_ok());
}
