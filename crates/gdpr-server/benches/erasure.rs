//! `cargo xtask bench erasure`: batch erasure and access export on PostgreSQL, each against a
//! raw SQL baseline on the same rows in the same run.
//!
//! 1. A batch erasure of 1,000,000 records (10,000 subjects with 100 each) through the job a
//!    worker runs (tombstones, receipts, audit entries, backup keyrings included) against raw
//!    `DELETE`s of the same rows. Each round erases from two fresh copies of the seeded
//!    database (ours from one, the raw `DELETE`s from the other, which side goes first
//!    alternating); the report gives each side's median over `BENCH_ROUNDS` rounds (5 by
//!    default), their ratio, and every round's ratio with the median of those.
//! 2. The access export of one subject with 10,000 records (assembled and decrypted) against a
//!    raw `SELECT` of those rows: the median of 15 alternated runs of each, after a warm-up.
//!
//! The seeded database is vacuumed and analysed before it is copied, as autovacuum would do
//! after a bulk load. `BENCH_RECORDS` makes a smaller run; PostgreSQL is
//! `GDPR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

mod common;

use std::time::{Duration, Instant};

use gdpr_app::{Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::LawfulBasis;
use gdpr_rights::BatchSelector;
use sea_orm::{ConnectionTrait, Database};

use common::{
    Databases, create_database, db_url, drop_database, median, per_round, ratio, records, rounds,
    sql,
};

const SUBJECTS: usize = 10_000;
const EXPORT_RECORDS: usize = 10_000;
/// Timed exports (and SELECTs) whose median is reported.
const EXPORT_RUNS: usize = 15;

#[tokio::main]
async fn main() {
    let n = records();
    let subjects = SUBJECTS.min(n.max(1));
    let per_subject = (n / subjects).max(1);
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let seed_db = format!("gdpr_bench_seed_{suffix}");
    // Every database of the run, dropped at its end (each round also drops its own copies).
    let mut dbs = Databases(vec![seed_db.clone()]);
    create_database(&seed_db, None).await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = gdpr_server::config::Config::load(None).unwrap();
    config.profile = gdpr_server::config::Profile::Production;
    config.database.url = db_url(&seed_db);
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.backups.directory = dir.path().join("backups");
    config.signing.key_file = Some(common::signing_key_file(dir.path()));
    config.jobs.enabled = false;
    let app = gdpr_server::application(
        &config,
        gdpr_server::open_store(&config, true).await.unwrap(),
    )
    .unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, "Bench SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    app.define_purpose(ctx, "staff", "Contractors", LawfulBasis::Contract)
        .await
        .unwrap();
    let specs = gdpr_testkit::fake::contractors_schema().specs();
    let form = app
        .define_form(ctx, "Contractors", specs.clone(), "staff")
        .await
        .unwrap();
    let other = app
        .define_form(ctx, "Timesheets", specs, "staff")
        .await
        .unwrap();

    println!("seeding {subjects} subjects with {per_subject} records each in PostgreSQL...");
    let seeded = Instant::now();
    let mut ids = Vec::with_capacity(subjects + 1);
    for start in (0..=subjects).step_by(1_000) {
        let batch = (start..(start + 1_000).min(subjects + 1))
            .map(|i| NewSubject {
                email: Some(format!("p{i}@example.org")),
                full_name: Some(format!("Person {i}")),
                ip_address: None,
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            ids.push(s.unwrap().id);
        }
    }
    // The last subject is for the export: records in another form, untouched by the erasure.
    let exported = ids.pop().unwrap();
    let value = |i: usize| serde_json::json!({"email": format!("p{i}@example.org"), "full_name": format!("Person {i}"), "day_rate": 500});
    let erased: Vec<_> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, s)| std::iter::repeat_n((*s, value(i)), per_subject))
        .collect();
    let kept: Vec<_> = std::iter::repeat_n((exported, value(subjects)), EXPORT_RECORDS).collect();
    for (target, lines) in [(form.id, erased), (other.id, kept)] {
        for chunk in lines.chunks(10_000) {
            for r in app
                .import_records(ctx, target, chunk.to_vec())
                .await
                .unwrap()
            {
                r.unwrap();
            }
        }
    }
    println!("seeded in {:.0} s", seeded.elapsed().as_secs_f64());
    drop(app);
    // After a bulk load autovacuum would analyse the tables within a minute; done here at
    // once so that every copy starts from the same statistics, as a database in use would.
    sql(&db_url(&seed_db), "VACUUM ANALYZE").await;

    let rounds = rounds(5);
    let (mut ours_erase, mut raw_erase) = (Vec::new(), Vec::new());
    let (mut ours_export, mut raw_export) = (Duration::ZERO, Duration::ZERO);
    let mut erased_records = 0;
    for round in 0..rounds {
        // Two copies of the very same rows; file copies, so that neither side's run pays for
        // the other's WAL.
        let (ours_db, raw_db) = (
            format!("gdpr_bench_erase_{suffix}_{round}"),
            format!("gdpr_bench_raw_{suffix}_{round}"),
        );
        for copy in [&ours_db, &raw_db] {
            dbs.0.push(copy.clone());
            create_database(copy, Some(&seed_db)).await;
        }
        config.database.url = db_url(&ours_db);
        config.backups.directory = dir.path().join(format!("backups-{round}"));
        let app = gdpr_server::application(
            &config,
            gdpr_server::open_store(&config, false).await.unwrap(),
        )
        .unwrap();
        if round == 0 {
            (ours_export, raw_export) = export_runs(&app, ctx, exported, &raw_db).await;
        }
        let raw_delete = format!(
            "BEGIN; \
             DELETE FROM records WHERE tenant_id = '{t}' AND form_id = '{f}'; \
             DELETE FROM consent_events WHERE tenant_id = '{t}' AND subject_id <> '{e}'; \
             DELETE FROM subject_keys WHERE tenant_id = '{t}' AND subject_id <> '{e}'; \
             DELETE FROM subjects WHERE tenant_id = '{t}' AND id <> '{e}'; \
             COMMIT;",
            t = tenant.id,
            f = form.id,
            e = exported,
        );
        // Which side goes first alternates: neither always meets a warmer machine.
        if round % 2 == 1 {
            raw_erase.push(sql(&db_url(&raw_db), &raw_delete).await);
        }
        // No dry run before the clock starts: it would warm our copy's caches and not the
        // other's. The start makes its own, timed.
        let selector = BatchSelector::Form { form: form.id };
        let started = Instant::now();
        let (job, dry) = app.start_batch_erasure(ctx, selector).await.unwrap();
        while let Some(run) = app.run_next_job("bench").await.unwrap() {
            assert!(run.outcome.is_ok(), "{run:?}");
        }
        ours_erase.push(started.elapsed());
        let done = app.batch_erasure(ctx, job).await.unwrap();
        assert_eq!(done.summary.unwrap().records, dry.records);
        erased_records = dry.records;
        if round % 2 == 0 {
            raw_erase.push(sql(&db_url(&raw_db), &raw_delete).await);
        }
        drop(app);
        for copy in [&ours_db, &raw_db] {
            drop_database(copy).await;
        }
        dbs.0.truncate(1);
        println!(
            "round {}: ours {:.2} s, raw DELETE {:.2} s",
            round + 1,
            ours_erase[round].as_secs_f64(),
            raw_erase[round].as_secs_f64()
        );
    }
    let (listed, median_ratio) = per_round(&ours_erase, &raw_erase);
    let (ours_median, raw_median) = (median(ours_erase), median(raw_erase));

    println!();
    println!("| measure | ours | baseline | ratio (time) | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| batch erasure, {erased_records} records of {subjects} subjects (each side's median of {rounds} rounds; ratio per round: {listed}; their median {median_ratio:.2}) | {:.1} s | raw DELETE: {:.1} s | {:.2} | <= 2.0 |",
        ours_median.as_secs_f64(),
        raw_median.as_secs_f64(),
        ratio(ours_median, raw_median)
    );
    println!(
        "| export of one subject with {EXPORT_RECORDS} records | {:.3} s | raw SELECT: {:.3} s | {:.2} | <= 3.0 |",
        ours_export.as_secs_f64(),
        raw_export.as_secs_f64(),
        ratio(ours_export, raw_export)
    );
}

/// The export of `subject` against a raw `SELECT` of its records in `raw_db`: each side's
/// median of [`EXPORT_RUNS`] alternated runs, after one untimed run each (connections, caches
/// and plans warm on both).
async fn export_runs(
    app: &gdpr_app::App<gdpr_server::Deployment>,
    ctx: Ctx,
    subject: gdpr_pii::SubjectId,
    raw_db: &str,
) -> (Duration, Duration) {
    let raw = Database::connect(db_url(raw_db)).await.unwrap();
    let select = format!("SELECT * FROM records WHERE subject_id = '{subject}'");
    let (mut ours_runs, mut raw_runs) = (Vec::new(), Vec::new());
    for run in 0..=EXPORT_RUNS {
        let started = Instant::now();
        let bundle = app.export_subject(ctx, subject).await.unwrap();
        let ours = started.elapsed();
        assert_eq!(bundle.records.len(), EXPORT_RECORDS);
        drop(bundle);
        let started = Instant::now();
        raw.execute_unprepared(&select).await.unwrap();
        let theirs = started.elapsed();
        if run > 0 {
            ours_runs.push(ours);
            raw_runs.push(theirs);
        }
    }
    raw.close().await.unwrap();
    (median(ours_runs), median(raw_runs))
}
