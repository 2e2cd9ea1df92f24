//! `cargo xtask bench storage`: what encryption at rest costs, and what the HTTP layer costs,
//! each as a ratio to a baseline measured in the same run on the same machine.
//!
//! 1. Subjects stored one by one through the app layer (validated, encrypted, keyed, audited)
//!    against plaintext inserts of the same rows, one by one, into the same SQLite database.
//! 2. The same for a bulk import (batches of 5,000, as the import route stores them) against
//!    batched plaintext inserts.
//! 3. HTTP throughput (our own load driver, `common::load`) of create-subject, of a consent
//!    check (from memory, and from the database with the cache off) and of a record
//!    submission, against a bare poem endpoint served by the same process.
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the PostgreSQL helpers serve the other benches")]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gdpr_app::{App, Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_server::config::Config;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use secrecy::SecretString;

use common::{median, median_of, ratio, rounds};
use gdpr_testkit::load::{Load, Request, drive};
use hyper::Method;

/// Connections of the load driver, as `wrk -c16`.
const CONNECTIONS: usize = 16;
/// How long each endpoint is loaded.
const LOAD_FOR: Duration = Duration::from_secs(8);

const ONE_BY_ONE: usize = 3_000;
const BULK: usize = 100_000;
/// As `POST /v1/subjects:import` stores them: lines per transaction.
const BATCH: usize = 5_000;

fn new_subject(n: usize) -> NewSubject {
    NewSubject {
        email: Some(format!("person{n}@example.org")),
        full_name: Some(format!("Person Number {n}")),
        ip_address: Some(format!("198.51.{}.{}", (n / 250) % 250, 1 + n % 250)),
    }
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

async fn plaintext(
    store: &gdpr_store_seaorm::SeaOrmStore,
    from: usize,
    n: usize,
    batch: usize,
) -> Duration {
    let db = store.connection();
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS bench_plain (id BLOB PRIMARY KEY, tenant_id BLOB, email TEXT, full_name TEXT, ip TEXT, created_at INTEGER)",
    )
    .await
    .unwrap();
    let started = Instant::now();
    for chunk_start in (from..from + n).step_by(batch) {
        let rows: Vec<usize> = (chunk_start..(chunk_start + batch).min(from + n)).collect();
        let placeholders = rows
            .iter()
            .map(|_| "(?, ?, ?, ?, ?, ?)")
            .collect::<Vec<_>>()
            .join(", ");
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 6);
        for i in &rows {
            let s = new_subject(*i);
            values.extend([
                // The ids the product gives (time-ordered UUIDv7), so both sides' primary
                // keys grow the same way.
                uuid::Uuid::now_v7().into(),
                uuid::Uuid::nil().into(),
                s.email.into(),
                s.full_name.into(),
                s.ip_address.into(),
                0_i64.into(),
            ]);
        }
        let sql = format!("INSERT INTO bench_plain VALUES {placeholders}");
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .unwrap();
    }
    started.elapsed()
}

#[poem::handler]
fn bare_handler() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(serde_json::json!({"purpose": "contractors", "consented": true}))
}

/// A fresh SQLite database in its own directory, with one tenant: each round starts from
/// empty tables, so that rounds measure the same work.
struct Fresh {
    dir: tempfile::TempDir,
    config: Config,
    store: gdpr_store_seaorm::SeaOrmStore,
    app: Arc<App<gdpr_server::Deployment>>,
    ctx: Ctx,
}

async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::load(None).unwrap();
    config.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.security.admin_token = Some(SecretString::from("bench-admin-token"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.jobs.enabled = false;
    config.backups.directory = dir.path().join("backups");
    config.signing.generated_key_file = dir.path().join("signing.key");
    config.logging.level = "warn".into();
    let store = gdpr_server::open_store(&config, true).await.unwrap();
    let app = Arc::new(gdpr_server::application(&config, store.clone()).unwrap());
    let tenant = app
        .create_tenant(Actor::Operator, "Bench", "dpo@bench.example")
        .await
        .unwrap();
    Fresh {
        dir,
        config,
        store,
        app,
        ctx: Ctx::new(tenant.id, Actor::System),
    }
}

/// Puts SQLite's WAL file at the size a running deployment keeps it at (a checkpoint every
/// 16,384 pages, and the file is never truncated), then restarts it from its first frame: each
/// side then overwrites frames instead of growing the file. Growing it costs every commit a
/// metadata sync (about 75 µs here: 225 µs an autocommit insert on a fresh WAL, 151 µs on a
/// reused one, with Python's sqlite3), which went to whichever side ran first in a round.
async fn steady_wal(store: &gdpr_store_seaorm::SeaOrmStore) {
    let db = store.connection();
    for sql in [
        "CREATE TABLE IF NOT EXISTS bench_wal (b BLOB)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 17000) \
         INSERT INTO bench_wal SELECT randomblob(4000) FROM n",
        "DELETE FROM bench_wal",
        "PRAGMA wal_checkpoint(RESTART)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
}

async fn one_by_one(f: &Fresh) -> Duration {
    let started = Instant::now();
    for n in 0..ONE_BY_ONE {
        f.app.register_subject(f.ctx, new_subject(n)).await.unwrap();
    }
    started.elapsed()
}

/// The encryption one create does, alone, for `ONE_BY_ONE` subjects: the tenant's keys derived
/// (once per create, as a create is a group of one), a fresh data key wrapped, the three
/// personal fields sealed, the e-mail's blind index.
fn encryption_alone() -> Duration {
    let master = gdpr_store_seaorm::MasterKey::generate().0;
    let tenant = gdpr_pii::TenantId::at(time::OffsetDateTime::now_utc());
    let started = Instant::now();
    let mut bytes = 0;
    for n in 0..ONE_BY_ONE {
        let s = new_subject(n);
        let keys = master.tenant(tenant);
        let (wrapped, key) =
            keys.new_data_key(gdpr_pii::SubjectId::at(time::OffsetDateTime::now_utc()));
        let email = s.email.unwrap_or_default();
        bytes += wrapped.len()
            + key.seal("subjects", "email", email.as_bytes()).len()
            + key
                .seal(
                    "subjects",
                    "full_name",
                    s.full_name.unwrap_or_default().as_bytes(),
                )
                .len()
            + key
                .seal(
                    "subjects",
                    "ip_address",
                    s.ip_address.unwrap_or_default().as_bytes(),
                )
                .len()
            + keys.blind_index(&email).len();
    }
    let took = started.elapsed();
    assert!(bytes > ONE_BY_ONE * 100);
    took
}

async fn bulk(f: &Fresh) -> Duration {
    let started = Instant::now();
    for chunk in (ONE_BY_ONE..ONE_BY_ONE + BULK)
        .collect::<Vec<_>>()
        .chunks(BATCH)
    {
        let results = f
            .app
            .import_subjects(f.ctx, chunk.iter().map(|n| new_subject(*n)).collect())
            .await
            .unwrap();
        assert!(results.iter().all(Result::is_ok));
    }
    started.elapsed()
}

fn row(measure: &str, n: usize, ours: &[Duration], base: &[Duration]) {
    let per_round: Vec<f64> = ours.iter().zip(base).map(|(o, b)| ratio(*o, *b)).collect();
    println!(
        "| {measure} | {:.0}/s | {:.0}/s | {} | {:.2}x |",
        rate(n, median(ours.to_vec())),
        rate(n, median(base.to_vec())),
        per_round
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        median_of(per_round),
    );
}

#[tokio::main]
async fn main() {
    let only_http = std::env::var("BENCH_ONLY").as_deref() == Ok("http");
    if !only_http {
        // Each round on a fresh database, both sides in it; which side goes first alternates,
        // so that neither always meets the warmer (or busier) machine.
        let rounds = rounds(3);
        let (mut ours_one, mut base_one, mut ours_bulk, mut base_bulk) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut sealing = Vec::new();
        for round in 0..rounds {
            let f = fresh().await;
            sealing.push(encryption_alone());
            let steady = || steady_wal(&f.store);
            if round % 2 == 0 {
                steady().await;
                ours_one.push(one_by_one(&f).await);
                steady().await;
                base_one.push(plaintext(&f.store, 0, ONE_BY_ONE, 1).await);
                steady().await;
                ours_bulk.push(bulk(&f).await);
                steady().await;
                base_bulk.push(plaintext(&f.store, ONE_BY_ONE, BULK, BATCH).await);
            } else {
                steady().await;
                base_one.push(plaintext(&f.store, 0, ONE_BY_ONE, 1).await);
                steady().await;
                ours_one.push(one_by_one(&f).await);
                steady().await;
                base_bulk.push(plaintext(&f.store, ONE_BY_ONE, BULK, BATCH).await);
                steady().await;
                ours_bulk.push(bulk(&f).await);
            }
        }
        println!("## Storage (SQLite, release build, median of {rounds} rounds)\n");
        println!(
            "| measure | ours | plaintext baseline | ratio per round | ratio (cost) |\n|---|---|---|---|---|"
        );
        row(
            &format!("subjects one by one ({ONE_BY_ONE})"),
            ONE_BY_ONE,
            &ours_one,
            &base_one,
        );
        row(
            &format!("bulk import ({BULK}, batches of {BATCH})"),
            BULK,
            &ours_bulk,
            &base_bulk,
        );
        let (sealing, create) = (median(sealing), median(ours_one));
        println!(
            "\nencryption's share of one create (the tenant's keys derived, a data key wrapped, three fields sealed, a blind index): {:.1} us of {:.1} us, {:.1}% (target <= 15%)",
            sealing.as_secs_f64() * 1e6 / ONE_BY_ONE as f64,
            create.as_secs_f64() * 1e6 / ONE_BY_ONE as f64,
            100.0 * ratio(sealing, create)
        );
    }

    if std::env::var("BENCH_ONLY").as_deref() == Ok("storage") {
        return;
    }

    // HTTP: the real server and a bare endpoint, both in this process.
    let http = fresh().await;
    let running = gdpr_server::start(&http.config).await.unwrap();
    let base_url = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let token = common::tenant_token(&client, &base_url, "bench-admin-token").await;
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{base_url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    post(
        "/v1/purposes",
        serde_json::json!({"id": "contractors", "description": "c", "lawful_basis": "consent"}),
    )
    .await
    .unwrap();
    let cf: serde_json::Value = post(
        "/v1/consent-forms",
        serde_json::json!({"purpose": "contractors", "title": "t", "text": "x"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let s: serde_json::Value = post(
        "/v1/subjects",
        serde_json::json!({"email": "check@example.org"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let subject = s["id"].as_str().unwrap().to_owned();
    post(
        &format!("/v1/subjects/{subject}/consents"),
        serde_json::json!({"consent_form": cf["id"], "method": "api"}),
    )
    .await
    .unwrap();

    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_addr = bare_listener.local_addr().unwrap();
    drop(bare_listener);
    let bare_server = tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(bare_addr.to_string()))
            .run(poem::Route::new().at("/check", poem::get(bare_handler))),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The same server with its cache off, on the same database: what memory buys.
    let mut uncached = Config::load(None).unwrap();
    uncached.database.url.clone_from(&http.config.database.url);
    uncached
        .security
        .master_key
        .clone_from(&http.config.security.master_key);
    uncached.security.admin_token = Some(SecretString::from("bench-admin-token"));
    uncached.listen = "127.0.0.1:0".parse().unwrap();
    uncached.jobs.enabled = false;
    uncached.backups.directory = http.dir.path().join("backups");
    uncached.signing.generated_key_file = http.dir.path().join("signing.key");
    uncached.logging.level = "warn".into();
    uncached.cache.enabled = false;
    let running_uncached = gdpr_server::start(&uncached).await.unwrap();

    let f: serde_json::Value = post(
        "/v1/forms",
        serde_json::json!({"name": "Notes", "purpose": "contractors",
            "fields": [{"name": "notes", "kind": "text", "category": "free_text"}]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let form = f["id"].as_str().unwrap().to_owned();
    client
        .put(format!("{base_url}/v1/forms/{form}/consent-form"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"consent_form": cf["id"]}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let load = |addr, token: Option<String>| Load {
        addr,
        token,
        connections: CONNECTIONS,
        duration: LOAD_FOR,
        timeout: Duration::from_secs(10),
    };
    let get = |path: String| -> gdpr_testkit::load::Requests {
        Arc::new(move |_| Request {
            method: Method::GET,
            path: path.clone(),
            body: None,
        })
    };
    let check_path = format!("/v1/subjects/{subject}/consent-check?purpose=contractors");
    let record =
        format!(r#"{{"form": "{form}", "subject": "{subject}", "values": {{"notes": "n"}}}}"#);
    let token = Some(token.clone());
    let rows: Vec<(&str, Load, gdpr_testkit::load::Requests)> = vec![
        (
            "bare poem endpoint (baseline)",
            load(bare_addr, None),
            get("/check".into()),
        ),
        (
            "GET consent-check (from memory)",
            load(running.addr, token.clone()),
            get(check_path.clone()),
        ),
        (
            "GET consent-check, cache off (from the database)",
            load(running_uncached.addr, token.clone()),
            get(check_path),
        ),
        (
            "POST /v1/subjects (create)",
            load(running.addr, token.clone()),
            Arc::new(|n| Request {
                method: Method::POST,
                path: "/v1/subjects".into(),
                body: Some(format!(r#"{{"email": "w{n}@example.org"}}"#)),
            }),
        ),
        (
            "POST /v1/records (consent checked)",
            load(running.addr, token.clone()),
            Arc::new(move |_| Request {
                method: Method::POST,
                path: "/v1/records".into(),
                body: Some(record.clone()),
            }),
        ),
    ];
    println!(
        "\n## HTTP ({CONNECTIONS} connections, {}s each, one load-driver thread; server and driver share the machine)\n",
        LOAD_FOR.as_secs()
    );
    println!("| endpoint | requests/s | p50 | p99 | ratio to bare poem |\n|---|---|---|---|---|");
    let mut bare = None;
    // `BENCH_HTTP_ROW=check` loads only the baseline and the rows whose name holds it (to
    // profile one).
    let only = std::env::var("BENCH_HTTP_ROW").ok();
    for (i, (name, load, requests)) in rows.into_iter().enumerate() {
        if i > 0 && only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let m = tokio::task::spawn_blocking(move || drive(&load, requests))
            .await
            .unwrap();
        let base = *bare.get_or_insert(m.rps());
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.2} |",
            m.rps(),
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            m.rps() / base
        );
        let failed = m.not_2xx + m.io_errors + m.timeouts + m.connect_errors;
        if failed > 0 {
            println!("  ({failed} requests failed or were refused: {m:?})");
        }
    }
    running_uncached.stop().await.unwrap();
    bare_server.abort();
    running.stop().await.unwrap();
}
