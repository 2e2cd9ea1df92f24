//! `cargo xtask bench lifecycle`: what keeping privacy decisions over time costs, on
//! PostgreSQL, each figure against a baseline measured in the same run.
//!
//! 1. Consent withdrawals by 16 concurrent callers, each decision journaled before it is made:
//!    with the journal on local disk, and on the in-process S3 server, against the same build
//!    writing no journal. p50 and p99 of each call; each round runs the three in a rotated
//!    order on fresh subjects (`BENCH_ROUNDS`, 3 by default).
//! 2. Expiring 1,000,000 records (`BENCH_RECORDS`) past their retention period (the rule
//!    journaled, then deleted and audited a chunk at a time) against a raw `DELETE` of the
//!    same rows, on two copies of one seeded database, alternating which goes first.
//! 3. Replaying 100,000 journal entries (`BENCH_ENTRIES`) after a restore: the restore of a
//!    small tenant whose journal holds that many record deletions made after its backup,
//!    against the same restore with an empty journal.
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gdpr_app::{AppConfig, Ctx, GiveConsent, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentMethod, LawfulBasis};
use gdpr_ports::Signer as _;
use gdpr_server::config::{BackupStorage, Config, Profile};
use gdpr_testkit::s3::{S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY};

use common::{
    Databases, create_database, db_url, drop_database, median, per_round, ratio, records, rounds,
    sql,
};

/// Concurrent callers withdrawing consent.
const CALLERS: usize = 16;
/// Withdrawals per caller per round.
const PER_CALLER: usize = 50;

const OPS: &str = "ops@example.org";

/// A production configuration on database `db`, backups in `dir`, encrypted to `ops`.
fn config(dir: &std::path::Path, db: &str, ops: &gdpr_testkit::GpgHome) -> Config {
    let mut config = Config::load(None).unwrap();
    config.profile = Profile::Production;
    config.database.url = db_url(db);
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.signing.key_file = Some(common::signing_key_file(dir));
    config.backups.directory = dir.join("backups");
    config.backups.recipients = vec![ops.public_key(OPS)];
    config.jobs.enabled = false;
    // Production sends the portal's codes over SMTP (common::LOCAL_RELAY, never reached).
    config.mail.transport = gdpr_server::config::MailTransport::Smtp;
    config.mail.smtp = Some(gdpr_server::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port: 2525,
        tls: gdpr_server::config::SmtpTls::None,
        username: None,
        password: None,
        timeout_seconds: 10,
    });
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[tokio::main]
async fn main() {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let dir = tempfile::tempdir().unwrap();
    let ops = gdpr_testkit::GpgHome::generate("Ops <ops@example.org>", "", "future-default");
    let mut rows = Vec::new();
    if std::env::var_os("BENCH_SKIP_WITHDRAWALS").is_none() {
        rows.extend(withdrawals(dir.path(), &suffix, &ops).await);
    }
    println!("{}", rows.join("\n"));
    rows.push(expiry(dir.path(), &suffix, &ops).await);
    println!("{}", rows.last().unwrap());
    rows.push(replay(dir.path(), &suffix, &ops).await);
    println!();
    println!("| measure | ours | baseline | ratio (time) | target |");
    println!("| --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}

/// 1. Withdrawals: journal on local disk, on S3, and off.
async fn withdrawals(
    dir: &std::path::Path,
    suffix: &str,
    ops: &gdpr_testkit::GpgHome,
) -> Vec<String> {
    let db = format!("gdpr_bench_withdraw_{suffix}");
    let _drop = Databases(vec![db.clone()]);
    create_database(&db, None).await;
    let base = config(dir, &db, ops);
    let store = gdpr_server::open_store(&base, true).await.unwrap();
    let s3 = gdpr_testkit::s3::s3_server().await;
    let mut on_s3 = config(dir, &db, ops);
    on_s3.backups.storage = BackupStorage::S3;
    on_s3.backups.s3.bucket = S3_BUCKET.into();
    on_s3.backups.s3.endpoint = Some(s3.endpoint.clone());
    on_s3.backups.s3.path_style = true;
    on_s3.backups.s3.allow_http = true;
    on_s3.backups.s3.access_key_id = Some(S3_ACCESS_KEY.to_owned().into());
    on_s3.backups.s3.secret_access_key = Some(S3_SECRET_KEY.to_owned().into());
    on_s3
        .security
        .master_key
        .clone_from(&base.security.master_key);
    let build = |config: &Config, journal: bool| {
        Arc::new(
            gdpr_server::application_tuned(
                config,
                store.clone(),
                gdpr_server::reporter(config, None).unwrap(),
                |c: &mut AppConfig| c.journal_decisions = journal,
            )
            .unwrap(),
        )
    };
    let variants = [
        ("no journal", build(&base, false)),
        ("journal on local disk", build(&base, true)),
        ("journal on S3 (in-process server)", build(&on_s3, true)),
    ];
    let app = &variants[0].1;
    let tenant = app
        .create_tenant(Actor::Operator, "Bench SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    app.define_purpose(ctx, "news", "Newsletter", LawfulBasis::Consent)
        .await
        .unwrap();
    let form = app
        .publish_consent_form(ctx, "news", "News", "I want the newsletter.")
        .await
        .unwrap();
    let rounds = rounds(3);
    let total = rounds * variants.len() * CALLERS * PER_CALLER;
    println!("seeding {total} subjects who consent...");
    let subjects = common::import_subjects(app, ctx, total, "w").await;
    let how = || GiveConsent {
        method: ConsentMethod::Api,
        source_ip: None,
        version: None,
    };
    for chunk in subjects.chunks(64) {
        let given = futures_util::future::join_all(
            chunk
                .iter()
                .map(|s| app.give_consent(ctx, *s, form.id, how())),
        )
        .await;
        assert!(given.iter().all(Result::is_ok));
    }
    let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut next = subjects.into_iter();
    for round in 0..rounds {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            let app = variants[v].1.clone();
            let mut callers = Vec::new();
            for _ in 0..CALLERS {
                let mine: Vec<_> = next.by_ref().take(PER_CALLER).collect();
                let app = app.clone();
                callers.push(tokio::spawn(async move {
                    let mut took = Vec::with_capacity(mine.len());
                    for s in mine {
                        let started = Instant::now();
                        app.withdraw_consent(ctx, s, form.id, how()).await.unwrap();
                        took.push(started.elapsed());
                    }
                    took
                }));
            }
            for caller in callers {
                latencies[v].extend(caller.await.unwrap());
            }
        }
        println!("withdrawals: round {} done", round + 1);
    }
    for l in &mut latencies {
        l.sort();
    }
    let tails = |v: usize| {
        (
            percentile(&latencies[v], 0.5),
            percentile(&latencies[v], 0.99),
        )
    };
    let (off50, off99) = tails(0);
    let mut out = Vec::new();
    for v in 1..variants.len() {
        let (on50, on99) = tails(v);
        out.push(format!(
            "| consent withdrawal, {CALLERS} concurrent callers, {} calls, {} (p50 / p99) | {:.2} / {:.2} ms | no journal: {:.2} / {:.2} ms | {:.2} / {:.2} | <= 1.5 |",
            latencies[v].len(),
            variants[v].0,
            ms(on50),
            ms(on99),
            ms(off50),
            ms(off99),
            ratio(on50, off50),
            ratio(on99, off99),
        ));
    }
    drop(variants);
    drop(store);
    out
}

/// 2. Expiring `BENCH_RECORDS` records against a raw `DELETE` of the same rows.
async fn expiry(dir: &std::path::Path, suffix: &str, ops: &gdpr_testkit::GpgHome) -> String {
    let n = records();
    let seed_db = format!("gdpr_bench_expiry_seed_{suffix}");
    let mut dbs = Databases(vec![seed_db.clone()]);
    create_database(&seed_db, None).await;
    let mut config = config(dir, &seed_db, ops);
    let app = gdpr_server::application(
        &config,
        gdpr_server::open_store(&config, true).await.unwrap(),
    )
    .unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, "Expiry SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    app.define_purpose(ctx, "staff", "Contractors", LawfulBasis::Contract)
        .await
        .unwrap();
    let specs = gdpr_testkit::fake::contractors_schema().specs();
    let form = app
        .define_form(ctx, "Contractors", specs, "staff")
        .await
        .unwrap();
    let subjects = 10_000.min(n.max(1));
    let per_subject = (n / subjects).max(1);
    println!("seeding {subjects} subjects with {per_subject} records each...");
    let mut ids = Vec::with_capacity(subjects);
    for start in (0..subjects).step_by(1_000) {
        let batch = (start..(start + 1_000).min(subjects))
            .map(|i| NewSubject {
                email: Some(format!("e{i}@example.org")),
                ..NewSubject::default()
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            ids.push(s.unwrap().id);
        }
    }
    let lines: Vec<_> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            std::iter::repeat_n(
                (
                    *s,
                    serde_json::json!({"email": format!("e{i}@example.org"), "full_name": "Ada Lovelace"}),
                ),
                per_subject,
            )
        })
        .collect();
    for chunk in lines.chunks(10_000) {
        for r in app
            .import_records(ctx, form.id, chunk.to_vec())
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }
    app.set_form_retention(ctx, form.id, gdpr_retention::RetentionPeriod::days(1).ok())
        .await
        .unwrap();
    drop(app);
    // Two days old, every one of them; then analysed, as autovacuum would after a bulk load.
    sql(
        &db_url(&seed_db),
        &format!(
            "UPDATE records SET created_at = created_at - {}",
            2 * 86_400 * 1_000_000_000_i64
        ),
    )
    .await;
    sql(&db_url(&seed_db), "VACUUM ANALYZE").await;
    let cutoff_ns =
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 - 86_400 * 1_000_000_000_i64;
    let raw_delete = format!(
        "DELETE FROM records WHERE tenant_id = '{}' AND form_id = '{}' AND created_at <= {cutoff_ns}",
        tenant.id, form.id
    );
    let rounds = rounds(3);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    let mut expired = 0;
    for round in 0..rounds {
        let (ours_db, raw_db) = (
            format!("gdpr_bench_expiry_ours_{suffix}_{round}"),
            format!("gdpr_bench_expiry_raw_{suffix}_{round}"),
        );
        for copy in [&ours_db, &raw_db] {
            dbs.0.push(copy.clone());
            create_database(copy, Some(&seed_db)).await;
        }
        config.database.url = db_url(&ours_db);
        config.backups.directory = dir.join(format!("expiry-{round}"));
        let app = gdpr_server::application(
            &config,
            gdpr_server::open_store(&config, false).await.unwrap(),
        )
        .unwrap();
        if round % 2 == 1 {
            raw.push(sql(&db_url(&raw_db), &raw_delete).await);
        }
        let started = Instant::now();
        let report = app.expire(tenant.id).await.unwrap();
        ours.push(started.elapsed());
        expired = report.records_expired;
        if round % 2 == 0 {
            raw.push(sql(&db_url(&raw_db), &raw_delete).await);
        }
        drop(app);
        for copy in [&ours_db, &raw_db] {
            drop_database(copy).await;
        }
        dbs.0.truncate(1);
        println!(
            "expiry round {}: ours {:.2} s, raw DELETE {:.2} s",
            round + 1,
            ours[round].as_secs_f64(),
            raw[round].as_secs_f64()
        );
    }
    let (listed, median_ratio) = per_round(&ours, &raw);
    let (o, r) = (median(ours), median(raw));
    format!(
        "| expiring {expired} records (journaled as one rule, deleted and audited in chunks of up to 100,000; each side's median of {rounds} rounds; ratio per round: {listed}; their median {median_ratio:.2}) | {:.1} s | raw DELETE: {:.1} s | {:.2} | <= 2.0 |",
        o.as_secs_f64(),
        r.as_secs_f64(),
        ratio(o, r)
    )
}

/// 3. A restore replaying `BENCH_ENTRIES` journal entries, against the same restore with an
///    empty journal.
async fn replay(dir: &std::path::Path, suffix: &str, ops: &gdpr_testkit::GpgHome) -> String {
    let entries: u64 = std::env::var("BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let db = format!("gdpr_bench_replay_{suffix}");
    let _drop = Databases(vec![db.clone()]);
    create_database(&db, None).await;
    let mut config = config(dir, &db, ops);
    config.backups.directory = dir.join("replay-backups");
    let store = gdpr_server::open_store(&config, true).await.unwrap();
    let app = gdpr_server::application(&config, store.clone()).unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, "Replay SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    let batch = (0..100)
        .map(|i| NewSubject {
            email: Some(format!("r{i}@example.org")),
            ..NewSubject::default()
        })
        .collect();
    app.import_subjects(ctx, batch).await.unwrap();
    let progress = Arc::default();
    let backup = app
        .back_up_tenant(tenant.id, &progress)
        .await
        .unwrap()
        .manifest;
    // The baseline: the same restore, nothing journaled since the backup.
    let decryptor = gdpr_crypto_openpgp::OpenPgpDecryptor::new(
        &ops.secret_key(OPS, ""),
        secrecy::SecretString::from(""),
    )
    .unwrap();
    let restore = async || {
        let started = Instant::now();
        let report = app
            .restore_tenant(
                tenant.id,
                Some(&backup.backup_id),
                true,
                &decryptor,
                &progress,
            )
            .await
            .unwrap();
        (started.elapsed(), report.decisions_replayed)
    };
    let (baseline, _) = restore().await;
    // Then `entries` entries, each a record deletion made after the backup, written as the
    // service writes them (signed, chained), straight to the folder.
    println!("writing {entries} journal entries...");
    let signer = gdpr_crypto_openpgp::OpenPgpSigner::new(
        Some((
            &std::fs::read_to_string(config.signing.key_file.as_ref().unwrap()).unwrap(),
            secrecy::SecretString::from(""),
        )),
        &[],
    )
    .unwrap();
    let folder = config
        .backups
        .directory
        .join(gdpr_app::backup::format::journal_prefix(tenant.id));
    std::fs::create_dir_all(&folder).unwrap();
    let head = backup
        .journal
        .clone()
        .map_or((0, gdpr_app::backup::format::GENESIS.to_owned()), |m| {
            (m.seq, m.sha256)
        });
    let (mut seq, mut prev) = head;
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..entries {
        seq += 1;
        let entry = gdpr_app::backup::format::JournalEntry {
            format: gdpr_app::backup::format::JOURNAL_FORMAT.into(),
            version: gdpr_app::backup::format::JOURNAL_VERSION,
            tenant: tenant.id,
            seq,
            prev: prev.clone(),
            written_at: now,
            decisions: vec![gdpr_rights::Decision::RecordsDeleted {
                records: vec![gdpr_pii::RecordId::at(now)],
                at: now,
            }],
        };
        let content = serde_json::to_vec(&entry).unwrap();
        let signature = signer
            .sign(bytes::Bytes::from(content.clone()))
            .await
            .unwrap();
        let object = gdpr_app::backup::format::envelope(&content, &signature);
        std::fs::write(folder.join(format!("{seq:020}.json")), &object).unwrap();
        prev = gdpr_app::backup::format::content_sha256(&content);
    }
    let (took, replayed) = restore().await;
    let _ = replayed;
    drop(app);
    drop(store);
    format!(
        "| restore replaying {entries} journal entries (record deletions made after the backup; the restore of a 100-subject tenant included) | {:.2} s | the same restore, empty journal: {:.2} s | {:.1} | replay <= 5 s |",
        took.as_secs_f64(),
        baseline.as_secs_f64(),
        ratio(took, baseline)
    )
}
