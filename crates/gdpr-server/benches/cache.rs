//! `cargo xtask bench cache`: how late a PostgreSQL replica hears of another's change, the
//! bound on "refused at once" across replicas (`docs/compliance.md`, Art. 7(3)).
//!
//! Two stores on one database, as two replicas: A publishes invalidations from 16 concurrent
//! callers (as 16 concurrent withdrawals would, each after its commit), B's watcher receives
//! them; the lag of each is the time from A's publication returning to B's watcher handing it
//! to its cache. Once idle, once while 16 callers keep B's database busy with consent checks
//! read from the database.
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the other helpers serve the other benches")]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{CacheBus as _, CacheSignal, Invalidation};
use gdpr_store_seaorm::{MasterKey, SeaOrmStore};

use common::{Databases, create_database, db_url};

const CALLERS: usize = 16;
const PER_CALLER: usize = 125;

type Sent = Arc<Mutex<HashMap<SubjectId, Instant>>>;

async fn lags(a: &SeaOrmStore, received: &Arc<Mutex<Vec<(SubjectId, Instant)>>>) -> Vec<Duration> {
    let tenant = TenantId::at(time::OffsetDateTime::now_utc());
    let sent: Sent = Arc::default();
    received.lock().unwrap().clear();
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (a, sent) = (a.clone(), Arc::clone(&sent));
        callers.push(tokio::spawn(async move {
            for _ in 0..PER_CALLER {
                let subject = SubjectId::at(time::OffsetDateTime::now_utc());
                a.publish(Invalidation::Subject { tenant, subject })
                    .await
                    .unwrap();
                sent.lock().unwrap().insert(subject, Instant::now());
            }
        }));
    }
    for c in callers {
        c.await.unwrap();
    }
    let total = CALLERS * PER_CALLER;
    let started = Instant::now();
    while received.lock().unwrap().len() < total && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = sent.lock().unwrap();
    let mut lags: Vec<Duration> = received
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(s, at)| sent.get(s).map(|t| at.saturating_duration_since(*t)))
        .collect();
    assert_eq!(lags.len(), total, "every message heard");
    lags.sort();
    lags
}

fn ms(lags: &[Duration], p: f64) -> f64 {
    lags[((lags.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let name = format!(
        "gdpr_bench_cache_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    create_database(&name, None).await;
    let _drop = Databases(vec![name.clone()]);
    let url = db_url(&name);
    let (_, secret) = MasterKey::generate();
    let connect = || async {
        SeaOrmStore::connect(&url, 8, MasterKey::from_base64(&secret).unwrap())
            .await
            .unwrap()
    };
    let (a, b) = (connect().await, connect().await);
    a.migrate().await.unwrap();
    let received: Arc<Mutex<Vec<(SubjectId, Instant)>>> = Arc::default();
    let heard = Arc::clone(&received);
    let _watch = b.watch_invalidations(move |signal| {
        if let CacheSignal::Invalidate(Invalidation::Subject { subject, .. }) = signal {
            heard.lock().unwrap().push((subject, Instant::now()));
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = lags(&a, &received).await;
    // B's database busy meanwhile: 16 callers reading consent rows in a loop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..CALLERS {
        let (b, stop) = (b.clone(), Arc::clone(&stop));
        load.push(tokio::spawn(async move {
            let tenant = TenantId::at(time::OffsetDateTime::now_utc());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let subject = SubjectId::at(time::OffsetDateTime::now_utc());
                let _ = gdpr_ports::ConsentStore::consent_history(&b, tenant, subject).await;
            }
        }));
    }
    let busy = lags(&a, &received).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    println!(
        "| NOTIFY lag, {} messages from {CALLERS} concurrent publishers | p50 | p99 | max | target |",
        CALLERS * PER_CALLER
    );
    println!("| --- | --- | --- | --- | --- |");
    for (what, lags) in [
        ("idle", idle),
        ("the listening replica's database busy (16 readers)", busy),
    ] {
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.2} ms | p99 <= 100 ms |",
            ms(&lags, 0.5),
            ms(&lags, 0.99),
            ms(&lags, 1.0)
        );
    }
}
