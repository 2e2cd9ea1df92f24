//! `cargo xtask bench paging`: what a page of subjects costs as the tenant grows, on SQLite
//! and PostgreSQL. 1,000,000 subjects (`BENCH_RECORDS`) imported through the app, then the
//! page of 100 at depth 0, and the page at depth 999,900 reached by `offset` and by a cursor
//! (`after`, the previous page's last item); each the median of 15 reads, one after another,
//! through the app as the API calls it (decryption and the audit entry included). The
//! baseline is the first page, read in the same run. Then the tenant's audit chain (over a
//! million records) verified whole, and incrementally after 100 more writes.
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the measuring helpers serve the other benches")]
mod common;

use std::time::{Duration, Instant};

use gdpr_app::{Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_ports::{Cursor, Page};
use gdpr_server::config::Config;

use common::{Databases, create_database, db_url, median, records};

/// Reads of each page.
const READS: usize = 15;
/// Subjects per page.
const LIMIT: u32 = 100;

#[tokio::main]
async fn main() {
    let n = records();
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("paging.db").display()
    );
    rows.extend(run("SQLite", &sqlite, dir.path(), n).await);
    let db = format!(
        "gdpr_bench_paging_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let _drop = Databases(vec![db.clone()]);
    create_database(&db, None).await;
    rows.extend(run("PostgreSQL", &db_url(&db), dir.path(), n).await);
    println!();
    println!("| database | measure | time (pages: median of {READS}) | ratio |");
    println!("| --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}

async fn run(name: &str, url: &str, dir: &std::path::Path, n: usize) -> Vec<String> {
    let mut config = Config::load(None).unwrap();
    config.database.url = url.to_owned();
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.jobs.enabled = false;
    config.backups.directory = dir.join(format!("backups-{name}"));
    config.signing.generated_key_file = dir.join("signing.key");
    let store = gdpr_server::open_store(&config, true).await.unwrap();
    let app = gdpr_server::application(&config, store).unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, "Paging SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    println!("{name}: importing {n} subjects...");
    let started = Instant::now();
    for start in (0..n).step_by(5_000) {
        let batch = (start..(start + 5_000).min(n))
            .map(|i| NewSubject {
                email: Some(format!("p{i}@example.org")),
                ..NewSubject::default()
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            s.unwrap();
        }
    }
    println!(
        "{name}: imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let depth = n.saturating_sub(LIMIT as usize) as u64;
    // The item before the deep page, read once (untimed) for its cursor.
    let before = app
        .subjects(
            ctx,
            Page {
                offset: depth.saturating_sub(1),
                limit: 1,
                after: None,
            },
        )
        .await
        .unwrap();
    let cursor = before.first().map(|s| Cursor {
        at: s.created_at,
        id: *s.id.as_uuid(),
    });
    let pages = [
        ("depth 0", Page::first(LIMIT)),
        (
            "depth 999,900 by offset",
            Page {
                offset: depth,
                ..Page::first(LIMIT)
            },
        ),
        (
            "depth 999,900 by cursor",
            Page {
                after: cursor,
                ..Page::first(LIMIT)
            },
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); pages.len()];
    let mut firsts = Vec::new();
    // Interleaved, so that the machine's moods fall on every page alike.
    for _ in 0..READS {
        for (i, (_, page)) in pages.iter().enumerate() {
            let started = Instant::now();
            let got = app.subjects(ctx, *page).await.unwrap();
            times[i].push(started.elapsed());
            assert_eq!(got.len(), LIMIT as usize);
            firsts.push((i, got[0].id));
        }
    }
    // Both deep pages hold the same subjects.
    let first_of = |i: usize| firsts.iter().find(|(p, _)| *p == i).map(|(_, id)| *id);
    assert_eq!(first_of(1), first_of(2), "offset and cursor agree");
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let mut rows: Vec<String> = pages
        .iter()
        .zip(&medians)
        .map(|((label, _), m)| {
            format!(
                "| {name} | page of {LIMIT}, {label} | {:.2} ms | {:.1}x the first page |",
                m.as_secs_f64() * 1_000.0,
                m.as_secs_f64() / medians[0].as_secs_f64()
            )
        })
        .collect();
    // The audit chain (a record per subject imported, and one per page read): checked whole,
    // then from the mark the whole check left, after 100 more writes.
    let tenant = Some(tenant.id);
    let started = Instant::now();
    let full = app.verify_audit(tenant).await.unwrap().unwrap();
    let full_took = started.elapsed();
    for _ in 0..100 {
        app.register_subject(ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let started = Instant::now();
    let (since, from) = app.verify_audit_since_last(tenant).await.unwrap();
    let since_took = started.elapsed();
    assert_eq!(since.unwrap().records, full.records + 100);
    rows.push(format!(
        "| {name} | audit verification, full: {} records | {:.0} ms | (baseline) |",
        full.records,
        full_took.as_secs_f64() * 1_000.0
    ));
    rows.push(format!(
        "| {name} | audit verification, incremental: 100 records written since (from {from}) | {:.2} ms | {:.4}x the full check |",
        since_took.as_secs_f64() * 1_000.0,
        since_took.as_secs_f64() / full_took.as_secs_f64()
    ));
    rows
}
