//! `cargo xtask bench console`: what each console page costs with 100,000 subjects and 10,000
//! requests (2,000 open, 1,000 of them overdue; the rest answered) in the tenant, on SQLite and PostgreSQL, through the real
//! HTTP server (release build). Each page is read `BENCH_ROUNDS` times (default 200), one
//! after another, as a signed-in DPO; beside it, in the same run and interleaved, the JSON
//! route that matches it, read with an API key. Reported: p50 and p99 of both, and the page's
//! p99 against the target (≤ 50 ms).
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

#[allow(dead_code, reason = "the measuring helpers serve the other benches")]
mod common;

use std::time::{Duration, Instant};

use gdpr_app::{ConsoleRole, Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_ports::RequestStore as _;
use gdpr_rights::{RequestKind, SubjectRequest};
use gdpr_server::config::Config;
use secrecy::{ExposeSecret as _, SecretString};

use common::{Databases, create_database, db_url, rounds};

const SUBJECTS: usize = 100_000;
const REQUESTS: usize = 10_000;
const ADMIN: &str = "bench-admin-token-0123456789";
/// The issue's bound on a page's p99.
const TARGET_MS: f64 = 50.0;

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("console.db").display()
    );
    rows.extend(run("SQLite", &sqlite, dir.path()).await);
    let db = format!(
        "gdpr_bench_console_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let _drop = Databases(vec![db.clone()]);
    create_database(&db, None).await;
    rows.extend(run("PostgreSQL", &db_url(&db), dir.path()).await);
    println!();
    println!(
        "| database | page | page p50 | page p99 | JSON route | route p50 | route p99 | p99 ratio | p99 ≤ {TARGET_MS:.0} ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}

fn percentile(mut times: Vec<Duration>, p: f64) -> Duration {
    times.sort();
    let at = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[at]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// What the tenant holds: subjects, requests (every tenth overdue, every tenth open and not,
/// the rest answered), a DPO and an API key.
async fn seed(config: &Config) -> (String, String, SecretString, String) {
    let store = gdpr_server::open_store(config, true).await.unwrap();
    let app = gdpr_server::application(config, store.clone()).unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, "Console SAS", "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    let started = Instant::now();
    let mut subjects = Vec::with_capacity(SUBJECTS);
    for start in (0..SUBJECTS).step_by(5_000) {
        let batch = (start..(start + 5_000).min(SUBJECTS))
            .map(|i| NewSubject {
                email: Some(format!("c{i}@example.org")),
                full_name: Some(format!("Person {i}")),
                ..NewSubject::default()
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            subjects.push(s.unwrap().id);
        }
    }
    let kinds = [
        RequestKind::Access,
        RequestKind::Erasure,
        RequestKind::Portability,
        RequestKind::Rectification,
    ];
    let now = time::OffsetDateTime::now_utc();
    let mut last = String::new();
    for i in 0..REQUESTS {
        let days = if i % 10 == 0 { 40 } else { (i % 25) as i64 };
        let received = now - time::Duration::days(days);
        let mut request = SubjectRequest::open(
            tenant.id,
            subjects[i * (SUBJECTS / REQUESTS)],
            kinds[i % kinds.len()],
            received,
        );
        // Most requests of a tenant in service are answered: eight in ten here.
        if i % 10 >= 2 {
            request
                .refuse("not held", received + time::Duration::days(1))
                .unwrap();
        }
        store.insert_request(&request).await.unwrap();
        if i == REQUESTS / 2 {
            last = request.id.to_string();
        }
    }
    eprintln!(
        "seeded {SUBJECTS} subjects and {REQUESTS} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let key = app
        .create_api_key(Actor::Operator, tenant.id, false)
        .await
        .unwrap();
    let user = app
        .create_console_user(
            Actor::Operator,
            tenant.id,
            "dpo@bench.example",
            ConsoleRole::Dpo,
        )
        .await
        .unwrap();
    (
        key.token.expose_secret().to_owned(),
        last,
        user.password,
        tenant.id.to_string(),
    )
}

/// The session cookie and CSRF token of a DPO signed in through the form.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    password: &SecretString,
) -> (String, String) {
    let form = client
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie_of = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(';').next())
            .unwrap()
            .to_owned()
    };
    let pre = cookie_of(&form, "__Host-gdpr_sign_in=");
    let html = form.text().await.unwrap();
    let token = csrf(&html);
    let signed = client
        .post(format!("{base}/console/sign-in"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", token.as_str()),
                ("email", "dpo@bench.example"),
                ("password", password.expose_secret()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303, "signed in");
    let session = cookie_of(&signed, "__Host-gdpr_console=");
    let overview = client
        .get(format!("{base}/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (session, csrf(&overview))
}

fn csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let at = html.find(marker).unwrap() + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// One request of the pair measured.
#[derive(Clone)]
enum Call {
    Get(String),
    Post(String, String),
}

async fn time_call(
    client: &reqwest::Client,
    base: &str,
    call: &Call,
    auth: (&str, &str),
) -> Duration {
    let started = Instant::now();
    let req = match call {
        Call::Get(path) => client.get(format!("{base}{path}")),
        Call::Post(path, body) => {
            let json = body.starts_with('{');
            client
                .post(format!("{base}{path}"))
                .header(
                    "content-type",
                    if json {
                        "application/json"
                    } else {
                        "application/x-www-form-urlencoded"
                    },
                )
                .body(body.clone())
        }
    };
    let resp = req.header(auth.0, auth.1).send().await.unwrap();
    let status = resp.status();
    let body = resp.bytes().await.unwrap();
    let took = started.elapsed();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    took
}

async fn run(name: &str, url: &str, dir: &std::path::Path) -> Vec<String> {
    let mut config = Config::load(None).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = url.to_owned();
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.security.admin_token = Some(SecretString::from(ADMIN));
    config.jobs.enabled = false;
    config.backups.directory = dir.join(format!("backups-{name}"));
    config.mail.outbox_dir = dir.join("outbox");
    config.signing.generated_key_file = dir.join("signing.key");
    config.http.auth_failures_per_minute = 1_000_000;
    eprintln!("{name}: seeding...");
    let (key, request, password, _tenant) = seed(&config).await;
    let running = gdpr_server::start(&config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (session, token) = sign_in(&client, &base, &password).await;
    let bearer = format!("Bearer {key}");
    let search =
        serde_urlencoded::to_string([("csrf", token.as_str()), ("email", "c4242@example.org")])
            .unwrap();
    let pairs: Vec<(&str, Call, &str, Call)> = vec![
        (
            "overview",
            Call::Get("/console".into()),
            "GET /v1/requests?overdue=true",
            Call::Get("/v1/requests?overdue=true&limit=100".into()),
        ),
        (
            "requests",
            Call::Get("/console/requests".into()),
            "GET /v1/requests",
            Call::Get("/v1/requests?limit=100".into()),
        ),
        (
            "a request",
            Call::Get(format!("/console/requests/{request}")),
            "GET /v1/requests/{id}",
            Call::Get(format!("/v1/requests/{request}")),
        ),
        (
            "find a subject",
            Call::Post("/console/subjects".into(), search),
            "POST /v1/subjects/lookup",
            Call::Post(
                "/v1/subjects/lookup".into(),
                r#"{"email":"c4242@example.org"}"#.into(),
            ),
        ),
        (
            "register",
            Call::Get("/console/register".into()),
            "GET /v1/register",
            Call::Get("/v1/register".into()),
        ),
        (
            "purposes and forms",
            Call::Get("/console/purposes".into()),
            "GET /v1/forms",
            Call::Get("/v1/forms".into()),
        ),
        (
            "recipients",
            Call::Get("/console/recipients".into()),
            "GET /v1/recipients",
            Call::Get("/v1/recipients".into()),
        ),
        (
            "breaches",
            Call::Get("/console/breaches".into()),
            "GET /v1/breaches",
            Call::Get("/v1/breaches".into()),
        ),
        (
            "webhooks",
            Call::Get("/console/webhooks".into()),
            "GET /v1/webhooks/deliveries",
            Call::Get("/v1/webhooks/deliveries".into()),
        ),
        (
            "backups",
            Call::Get("/console/backups".into()),
            "GET /v1/attestations",
            Call::Get("/v1/attestations".into()),
        ),
        (
            "audit",
            Call::Get("/console/audit".into()),
            "GET /v1/audit?limit=50",
            Call::Get("/v1/audit?limit=50".into()),
        ),
    ];
    let n = rounds(200);
    let mut rows = Vec::new();
    for (page, call, route, json) in pairs {
        // Warm: the first read fills caches and marks the audit chain.
        time_call(&client, &base, &call, ("cookie", &session)).await;
        time_call(&client, &base, &json, ("authorization", &bearer)).await;
        let (mut ours, mut theirs) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            ours.push(time_call(&client, &base, &call, ("cookie", &session)).await);
            theirs.push(time_call(&client, &base, &json, ("authorization", &bearer)).await);
        }
        let (p50, p99) = (percentile(ours.clone(), 0.5), percentile(ours, 0.99));
        let (j50, j99) = (percentile(theirs.clone(), 0.5), percentile(theirs, 0.99));
        rows.push(format!(
            "| {name} | {page} | {:.2} ms | {:.2} ms | {route} | {:.2} ms | {:.2} ms | {:.2}x | {} |",
            ms(p50),
            ms(p99),
            ms(j50),
            ms(j99),
            ms(p99) / ms(j99),
            if ms(p99) <= TARGET_MS { "met" } else { "MISSED" }
        ));
        eprintln!("{}", rows.last().unwrap());
    }
    running.stop().await.unwrap();
    rows
}
