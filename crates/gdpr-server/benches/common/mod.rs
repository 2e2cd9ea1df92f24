//! What the PostgreSQL benchmarks share: where the server is, how many records to make, and
//! databases that are dropped when the benchmark ends, even by a panic.

use std::process::Command;
use std::time::Duration;

/// Records to make: `BENCH_RECORDS`, or 1,000,000.
pub(crate) fn records() -> usize {
    std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The PostgreSQL server: `GDPR_TEST_POSTGRES_URL`, or the local one.
pub(crate) fn server_url() -> String {
    std::env::var("GDPR_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on that server.
pub(crate) fn db_url(name: &str) -> String {
    gdpr_testkit::postgres::database_url(&server_url(), name)
}

/// `BENCH_KEEP` set: the benchmark's databases and files stay for a look afterwards.
pub(crate) fn keep() -> bool {
    std::env::var_os("BENCH_KEEP").is_some()
}

/// The benchmark's databases, dropped when it ends (also by a panic) unless [`keep`].
pub(crate) struct Databases(pub(crate) Vec<String>);

impl Drop for Databases {
    fn drop(&mut self) {
        if keep() {
            eprintln!("BENCH_KEEP: databases kept: {}", self.0.join(", "));
            return;
        }
        for db in &self.0 {
            let _ = Command::new("psql")
                .args(["-q", "-d", &server_url(), "-c"])
                .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .status();
        }
    }
}

/// Rounds of a measurement: `BENCH_ROUNDS`, or `default`.
pub(crate) fn rounds(default: usize) -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// The middle one (the upper middle of an even count).
pub(crate) fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// The median of `values` (the upper middle of an even count).
pub(crate) fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Our time over the baseline's.
pub(crate) fn ratio(ours: Duration, theirs: Duration) -> f64 {
    ours.as_secs_f64() / theirs.as_secs_f64()
}

/// Each round's ratio, listed, and their median.
pub(crate) fn per_round(ours: &[Duration], theirs: &[Duration]) -> (String, f64) {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .map(|(o, t)| ratio(*o, *t))
        .collect();
    let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    (listed.join(", "), median_of(ratios))
}

/// Production sends the request portal's codes over SMTP: a relay on this host, which the
/// benchmarks never reach (they use no portal).
#[allow(
    dead_code,
    reason = "only the benches that run a production deployment use it"
)]
pub(crate) const LOCAL_RELAY: &str = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n";

/// The deployment's OpenPGP signing key in `dir` (made on first use, then shared by every
/// configuration of the run): its path, for `signing.key_file`, which production requires.
pub(crate) fn signing_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    use secrecy::ExposeSecret as _;
    let path = dir.join("signing.key");
    if !path.exists() {
        let (secret, _) = gdpr_crypto_openpgp::generate_signing_key("gdpr bench").unwrap();
        std::fs::write(&path, secret.expose_secret()).unwrap();
    }
    path
}

/// Runs `statement` on database `url`; how long it took (the connection not counted).
pub(crate) async fn sql(url: &str, statement: &str) -> Duration {
    use sea_orm::{ConnectionTrait as _, Database};
    let db = Database::connect(url).await.unwrap();
    let started = std::time::Instant::now();
    db.execute_unprepared(statement).await.unwrap();
    let took = started.elapsed();
    db.close().await.unwrap();
    took
}

/// Creates database `name` on the server, empty or (with `template`) as a file copy of one.
pub(crate) async fn create_database(name: &str, template: Option<&str>) {
    let statement = template.map_or_else(
        || format!("CREATE DATABASE {name}"),
        |t| format!("CREATE DATABASE {name} TEMPLATE {t} STRATEGY FILE_COPY"),
    );
    sql(&server_url(), &statement).await;
}

/// Drops database `name`, closing whatever is still connected to it.
pub(crate) async fn drop_database(name: &str) {
    sql(
        &server_url(),
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
}

/// A tenant made through the admin API of the server at `base`, and a new API key's token.
#[allow(
    dead_code,
    reason = "the HTTP benchmarks make their tenant so; the others do not"
)]
pub(crate) async fn tenant_token(client: &reqwest::Client, base: &str, admin: &str) -> String {
    let post = |path: String, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body)
            .send()
    };
    let tenant: serde_json::Value = post(
        "/v1/admin/tenants".into(),
        serde_json::json!({"name": "Bench", "privacy_contact": "dpo@bench.example"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key: serde_json::Value = post(
        format!(
            "/v1/admin/tenants/{}/api-keys",
            tenant["id"].as_str().unwrap()
        ),
        serde_json::json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    key["token"].as_str().unwrap().to_owned()
}

/// Imports `n` subjects (`{prefix}{i}@example.org`) a thousand at a time; their ids, in order.
#[allow(dead_code, reason = "the backup and erasure benches seed through SQL")]
pub(crate) async fn import_subjects(
    app: &gdpr_app::App<gdpr_server::Deployment>,
    ctx: gdpr_app::Ctx,
    n: usize,
    prefix: &str,
) -> Vec<gdpr_pii::SubjectId> {
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(1_000) {
        let batch = (start..(start + 1_000).min(n))
            .map(|i| gdpr_app::NewSubject {
                email: Some(format!("{prefix}{i}@example.org")),
                ..gdpr_app::NewSubject::default()
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            out.push(s.unwrap().id);
        }
    }
    out
}
