//! `cargo xtask bench webhooks`: what webhooks cost, on PostgreSQL, each figure against a
//! baseline measured in the same run.
//!
//! 1. Deliveries to a local receiver (a poem server on 127.0.0.1 answering 204): 20,000 events
//!    (`BENCH_DELIVERIES`) fed from the audit chain and delivered by two workers of one
//!    process (as two replicas would), signed, each attempt recorded; against the same client
//!    posting the same bodies with no queue, no signature and no bookkeeping (the ceiling of
//!    the receiver and the client on this machine). Target: >= 5,000 deliveries/s.
//! 2. Consent withdrawals by 16 concurrent callers for a tenant with three endpoints wanting
//!    `consent.withdrawn`, with the worker paused (what the request path itself pays) and with
//!    the feeder and the deliverer running meanwhile in the same process (what sharing two
//!    cores with them costs), against a tenant with none, rounds rotating. p50 and p99.
//!    Target: <= 1.1x.
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the other helpers serve the other benches")]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gdpr_app::{App, Ctx, GiveConsent, NewEndpoint};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentMethod, LawfulBasis};
use gdpr_ports::WebhookSender as _;
use gdpr_server::Deployment;
use gdpr_server::config::{Config, Profile};
use gdpr_webhook_sender::HttpWebhookSender;
use gdpr_webhooks::EventType;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Response, Route, Server, handler, post};

use common::{Databases, create_database, db_url, import_subjects, rounds};

const CALLERS: usize = 16;
const PER_CALLER: usize = 50;

#[handler]
async fn hook(count: poem::web::Data<&Arc<AtomicU64>>) -> Response {
    count.0.fetch_add(1, Ordering::Relaxed);
    Response::builder()
        .status(poem::http::StatusCode::NO_CONTENT)
        .finish()
}

async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/hook", post(hook)).data(count.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/hook"), count)
}

fn config(dir: &std::path::Path, db: &str) -> Config {
    let mut config = Config::load(None).unwrap();
    config.profile = Profile::Production;
    config.database.url = db_url(db);
    config.database.max_connections = 16;
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.signing.key_file = Some(common::signing_key_file(dir));
    config.backups.enabled = false;
    config.jobs.enabled = false;
    config.webhooks.allow_private_addresses = true;
    config.webhooks.allow_http = true;
    config
}

fn endpoint(url: &str, events: &[EventType]) -> NewEndpoint {
    NewEndpoint {
        url: url.to_owned(),
        description: "bench".into(),
        events: events.to_vec(),
        confirms_erasure: None,
    }
}

async fn tenant(app: &App<Deployment>, name: &str) -> Ctx {
    let t = app
        .create_tenant(Actor::Operator, name, "dpo@bench.example")
        .await
        .unwrap();
    Ctx::new(t.id, Actor::Operator)
}

/// Delivers until `target` deliveries are made, with two workers.
async fn drain(app: &Arc<App<Deployment>>, sender: &HttpWebhookSender, delivered: usize) {
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for name in ["bench-a", "bench-b"] {
        let (app, sender, done) = (app.clone(), sender.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while done.load(Ordering::Relaxed) < delivered as u64 {
                let round = app.deliver_webhooks(&sender, name).await.unwrap();
                done.fetch_add(round.delivered as u64, Ordering::Relaxed);
                if round.claimed == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
}

async fn throughput(app: &Arc<App<Deployment>>, sender: &HttpWebhookSender) -> Vec<String> {
    let n: usize = std::env::var("BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (url, received) = receiver().await;
    let ctx = tenant(app, "Throughput SAS").await;
    app.create_webhook_endpoint(ctx, endpoint(&url, &[EventType::SubjectCreated]))
        .await
        .unwrap();
    println!("creating {n} subjects...");
    import_subjects(app, ctx, n, "t").await;
    let started = Instant::now();
    let mut queued = 0;
    while queued < n {
        queued += app.feed_webhooks().await.unwrap();
    }
    let fed = started.elapsed();
    let started = Instant::now();
    drain(app, sender, n).await;
    let ours = started.elapsed();
    assert!(received.load(Ordering::Relaxed) >= n as u64);

    // The same number of posts of a like body, straight through the client.
    let body = r#"{"type":"subject.created","timestamp":"2026-12-07T10:00:00Z","data":{"id":"evt_0193a7c2_1","tenant":"0193a7c2-0000-7000-8000-000000000000","audit_seq":1,"subject":"0193a7c2-0000-7000-8000-000000000001"}}"#;
    let started = Instant::now();
    let statuses: Vec<Result<u16, String>> = futures_util::stream::iter(0..n)
        .map(|_| sender.post(&url, Vec::new(), body.to_owned()))
        .buffer_unordered(128)
        .collect()
        .await;
    let bare = started.elapsed();
    assert!(statuses.iter().all(|s| *s == Ok(204)));
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    vec![
        format!(
            "| webhook deliveries, {n} events, 2 workers, signed and recorded (PostgreSQL) | {:.0} /s | bare posts: {:.0} /s | {:.2} | >= 5,000 /s |",
            rate(ours),
            rate(bare),
            rate(ours) / rate(bare)
        ),
        format!(
            "| feeding {n} events from the audit chain into deliveries | {:.0} /s | | | |",
            rate(fed)
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn withdrawals(app: &Arc<App<Deployment>>, sender: &HttpWebhookSender) -> Vec<String> {
    let (url, _) = receiver().await;
    let rounds = rounds(3);
    let each = rounds * CALLERS * PER_CALLER;
    let how = || GiveConsent {
        method: ConsentMethod::Api,
        source_ip: None,
        version: None,
    };
    let mut tenants = Vec::new();
    // (name, endpoints, variants drawing on its subjects)
    for (name, endpoints, uses) in [("Quiet SAS", 0, 1), ("Hooked SAS", 3, 2)] {
        let ctx = tenant(app, name).await;
        app.define_purpose(ctx, "news", "Newsletter", LawfulBasis::Consent)
            .await
            .unwrap();
        let form = app
            .publish_consent_form(ctx, "news", "News", "I want the newsletter.")
            .await
            .unwrap();
        for _ in 0..endpoints {
            app.create_webhook_endpoint(ctx, endpoint(&url, &[EventType::ConsentWithdrawn]))
                .await
                .unwrap();
        }
        let n = each * uses;
        println!("seeding {n} subjects who consent for {name}...");
        let people = import_subjects(app, ctx, n, &name.replace(' ', "")).await;
        for chunk in people.chunks(64) {
            let given = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|s| app.give_consent(ctx, *s, form.id, how())),
            )
            .await;
            assert!(given.iter().all(Result::is_ok));
        }
        tenants.push((ctx, form.id, people.into_iter()));
    }
    // The worker, as a replica runs it: only while the variant that measures it runs (the
    // backlog of the others is drained between rounds, unmeasured).
    let active = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (app, sender, active, stop) =
            (app.clone(), sender.clone(), active.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if !active.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                app.feed_webhooks().await.unwrap();
                let round = app.deliver_webhooks(&sender, "bench-worker").await.unwrap();
                if round.claimed == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    };
    // (label, tenant, worker running)
    let variants = [
        ("no endpoint", 0, false),
        ("3 endpoints, worker paused", 1, false),
        (
            "3 endpoints, worker feeding and delivering meanwhile",
            1,
            true,
        ),
    ];
    let mut latencies = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            let (_, t, with_worker) = variants[v];
            let (ctx, form) = (tenants[t].0, tenants[t].1);
            active.store(with_worker, Ordering::Relaxed);
            let mut callers = Vec::new();
            for _ in 0..CALLERS {
                let mine: Vec<_> = tenants[t].2.by_ref().take(PER_CALLER).collect();
                let app = app.clone();
                callers.push(tokio::spawn(async move {
                    let mut took = Vec::with_capacity(mine.len());
                    for s in mine {
                        let started = Instant::now();
                        app.withdraw_consent(ctx, s, form, how()).await.unwrap();
                        took.push(started.elapsed());
                    }
                    took
                }));
            }
            for c in callers {
                latencies[v].extend(c.await.unwrap());
            }
            active.store(false, Ordering::Relaxed);
        }
        // The backlog delivered between rounds, unmeasured.
        while app.feed_webhooks().await.unwrap() > 0
            || app
                .deliver_webhooks(sender, "bench-drain")
                .await
                .unwrap()
                .claimed
                > 0
        {}
        println!("withdrawals: round {} done", round + 1);
    }
    stop.store(true, Ordering::Relaxed);
    worker.await.unwrap();
    for l in &mut latencies {
        l.sort();
    }
    let tails = |v: usize| {
        (
            percentile(&latencies[v], 0.5),
            percentile(&latencies[v], 0.99),
        )
    };
    let (q50, q99) = tails(0);
    (1..variants.len())
        .map(|v| {
            let (h50, h99) = tails(v);
            format!(
                "| consent withdrawal, {CALLERS} callers, {} calls, {} (p50 / p99) | {:.2} / {:.2} ms | no endpoint: {:.2} / {:.2} ms | {:.2} / {:.2} | <= 1.1 |",
                latencies[v].len(),
                variants[v].0,
                ms(h50),
                ms(h99),
                ms(q50),
                ms(q99),
                h50.as_secs_f64() / q50.as_secs_f64(),
                h99.as_secs_f64() / q99.as_secs_f64(),
            )
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let db = format!("gdpr_bench_webhooks_{suffix}");
    let _drop = Databases(vec![db.clone()]);
    create_database(&db, None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &db);
    let store = gdpr_server::open_store(&config, true).await.unwrap();
    let app = Arc::new(gdpr_server::application(&config, store).unwrap());
    let sender =
        HttpWebhookSender::new(config.webhooks.addresses(), Duration::from_secs(10)).unwrap();
    let mut rows = Vec::new();
    if std::env::var_os("BENCH_SKIP_THROUGHPUT").is_none() {
        rows.extend(throughput(&app, &sender).await);
    }
    if std::env::var_os("BENCH_SKIP_WITHDRAWALS").is_none() {
        rows.extend(withdrawals(&app, &sender).await);
    }
    println!();
    println!("| measure | ours | baseline | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}
