//! `cargo xtask bench import`: what an NDJSON import costs as it grows, over HTTP, against a
//! `gdpr serve` process of its own (so that its peak memory is the server's alone).
//!
//! Into one tenant: an import of 100,000 subjects, then one of 1,000,000 (`BENCH_RECORDS`)
//! into the same tenant, on SQLite and on PostgreSQL. The rate of each, their ratio (target:
//! the rate at 1,000,000 ≥ 0.9x the rate at 100,000), and the server's peak resident memory
//! (`VmHWM`) after each (target: flat in the import's size: the answer is streamed).
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the other helpers serve the other benches")]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Databases, create_database, db_url};

const ADMIN: &str = "bench-admin-token-0123456789";
const SMALL: usize = 100_000;

/// The server process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(dir: &std::path::Path, database: &str) -> Self {
        use secrecy::ExposeSecret as _;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let signing = common::signing_key_file(dir);
        let config = dir.join("gdpr.toml");
        std::fs::write(
            &config,
            format!(
                "profile = \"production\"\n[database]\nurl = \"{database}\"\n[security]\nmaster_key = \"{}\"\nadmin_token = \"{ADMIN}\"\n[signing]\nkey_file = \"{}\"\n[backups]\nenabled = false\n[jobs]\nenabled = false\n[logging]\nlevel = \"warn\"\n{}",
                gdpr_store_seaorm::MasterKey::generate().1.expose_secret(),
                signing.display(),
                common::LOCAL_RELAY,
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gdpr"))
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("GDPR_TEST_POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// The server's peak resident memory so far, in MB.
    fn peak_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb / 1024.0
    }
}

/// An NDJSON body of `n` subjects numbered from `from`, made as it is sent.
fn lines(from: usize, n: usize) -> reqwest::Body {
    let chunks = (from..from + n).step_by(10_000).map(move |start| {
        let mut chunk = String::with_capacity(10_000 * 40);
        for i in start..(start + 10_000).min(from + n) {
            chunk.push_str(&format!("{{\"email\": \"i{i}@example.org\"}}\n"));
        }
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// Imports `n` subjects; how many per second, checked against the answer.
async fn import(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    from: usize,
    n: usize,
) -> f64 {
    let started = Instant::now();
    let answer = client
        .post(format!("{}/v1/subjects/import", server.base))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(lines(from, n))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    // Read as a stream: the benchmark's own memory stays out of the way too.
    let mut body = answer.bytes_stream();
    let mut head = Vec::new();
    let mut quotes = 0_usize;
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        let chunk = chunk.unwrap();
        if head.len() < 256 {
            head.extend_from_slice(&chunk[..chunk.len().min(256)]);
        }
        quotes += chunk.iter().filter(|b| **b == b'"').count();
    }
    let took = started.elapsed();
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with(&format!("{{\"imported\":{n},\"failed\":0,")),
        "{head}"
    );
    // Each id is quoted once; the head's keys make 8 more quotes.
    assert_eq!(quotes, 2 * n + 8, "every id in the answer");
    n as f64 / took.as_secs_f64()
}

async fn growth(name: &str, dir: &std::path::Path, database: &str, large: usize) -> String {
    let server = Server::start(dir, database).await;
    let client = reqwest::Client::new();
    let token = common::tenant_token(&client, &server.base, ADMIN).await;
    let key = token.as_str();
    let idle = server.peak_mb();
    let small = import(&client, &server, key, 0, SMALL).await;
    let after_small = server.peak_mb();
    println!("{name}: {SMALL} at {small:.0}/s, peak {after_small:.0} MB");
    let big = import(&client, &server, key, SMALL, large).await;
    let after_big = server.peak_mb();
    println!("{name}: {large} at {big:.0}/s, peak {after_big:.0} MB");
    format!(
        "| {name} | {small:.0}/s | {big:.0}/s | **{:.2}** | {idle:.0} MB | {after_small:.0} MB | {after_big:.0} MB |",
        big / small
    )
}

#[tokio::main]
async fn main() {
    let large = common::records();
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("gdpr.db").display());
    rows.push(growth("SQLite", dir.path(), &sqlite, large).await);
    if std::env::var_os("BENCH_SKIP_POSTGRES").is_none() {
        let name = format!(
            "gdpr_bench_import_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        create_database(&name, None).await;
        let _drop = Databases(vec![name.clone()]);
        let pg_dir = tempfile::tempdir().unwrap();
        rows.push(growth("PostgreSQL", pg_dir.path(), &db_url(&name), large).await);
    }
    println!();
    println!(
        "| database | import of {SMALL} | then of {large} (same tenant) | ratio (target >= 0.9) | server peak RSS at start | after {SMALL} | after {large} |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}
