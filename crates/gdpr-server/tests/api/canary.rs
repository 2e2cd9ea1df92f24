//! The canary test: a whole scenario through the real binary with unique canary e-mails, names,
//! IPs and phone numbers; every log line (stdout and the daily files), every payload sent to the
//! stand-in for Rollbar and every HTTP error body is scanned, and no canary may be found. (A
//! panic cannot be provoked through the binary; gdpr-http's own tests inject one and show its
//! report carries no message from it.)

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

const EMAIL: &str = "canary.scenario@canary-mail.example";
const NAME: &str = "Canaryname Zzyzx";
const IP: &str = "198.51.100.213";
const PHONE: &str = "+33 6 99 88 77 66";
const CANARIES: [&str; 6] = [EMAIL, "canary-mail", NAME, "Zzyzx", IP, PHONE];

fn scan(text: &str) -> Vec<&'static str> {
    CANARIES
        .iter()
        .copied()
        .filter(|c| text.contains(c))
        .collect()
}

/// The secrets among `secrets` that appear in `text`.
fn leaked<'a>(text: &str, secrets: &[&'a str]) -> Vec<&'a str> {
    secrets
        .iter()
        .copied()
        .filter(|c| text.contains(c))
        .collect()
}

/// Signs in to the console of the server on `port` through its form, after one wrong
/// password; the session's `cookie` header value.
async fn console_session(port: u16, email: &str, password: &str) -> String {
    let root = format!("http://127.0.0.1:{port}");
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut session = None;
    for attempt in ["a wrong password", password] {
        let form = web
            .get(format!("{root}/console/sign-in"))
            .send()
            .await
            .unwrap();
        let pre = form
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let token = crate::console::csrf(&form.text().await.unwrap());
        let signed = web
            .post(format!("{root}/console/sign-in"))
            .header("cookie", pre)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("csrf", token.as_str()),
                    ("email", email),
                    ("password", attempt),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        session = signed
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-gdpr_console="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
    }
    session.expect("signed in with the right password")
}

/// Drains a child's pipe on its own thread, so a chatty server never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

fn read_dir_text(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    all
}

#[tokio::test]
async fn no_canary_reaches_a_log_line_or_an_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = "canary-test-admin-token-0123";
    // A local server stands in for Rollbar and keeps every payload it is sent.
    let rollbar = crate::helpers::rollbar_stand_in().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gdpr"))
        .current_dir(dir.path())
        .env_remove("GDPR_TEST_POSTGRES_URL")
        .env("RUST_LOG", "debug")
        .env("GDPR_SECURITY__ADMIN_TOKEN", admin)
        .env("GDPR_LOGGING__DIRECTORY", &logs)
        .env("GDPR_ROLLBAR__ENABLED", "true")
        .env("GDPR_ROLLBAR__ENDPOINT", rollbar.uri())
        .env("GDPR_ROLLBAR__ACCESS_TOKEN", "canary-project-token")
        .env("GDPR_ROLLBAR__ACCOUNT_TOKEN", "canary-account-token")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bodies = Vec::new();
    let mut call = async |method: reqwest::Method,
                          path: &str,
                          token: &str,
                          body: Value|
           -> (StatusCode, Value) {
        let r = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .header("x-forwarded-for", IP)
            .header("x-customer-email", EMAIL)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        if !status.is_success() {
            bodies.push(text.clone());
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    use reqwest::Method as M;
    let (_, tenant) = call(
        M::POST,
        "/admin/tenants",
        admin,
        json!({"name": "T", "privacy_contact": "dpo@t.example"}),
    )
    .await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let (_, key) = call(
        M::POST,
        &format!("/admin/tenants/{tenant}/api-keys"),
        admin,
        json!({}),
    )
    .await;
    let key = key["token"].as_str().unwrap().to_owned();
    call(
        M::POST,
        "/purposes",
        &key,
        json!({"id": "contractors", "description": "c", "lawful_basis": "consent"}),
    )
    .await;
    let (_, cf) = call(
        M::POST,
        "/consent-forms",
        &key,
        json!({"purpose": "contractors", "title": "t", "text": "I agree"}),
    )
    .await;
    let (_, form) = call(
        M::POST,
        "/forms",
        &key,
        json!({"name": "Contractors", "purpose": "contractors", "fields": [
            {"name": "email", "kind": "email", "category": "email", "required": true},
            {"name": "contractor_phone", "kind": "text", "category": "phone"}]}),
    )
    .await;
    let form = form["id"].as_str().unwrap().to_owned();
    call(
        M::PUT,
        &format!("/forms/{form}/consent-form"),
        &key,
        json!({"consent_form": cf["id"]}),
    )
    .await;
    let (status, subject) = call(
        M::POST,
        "/subjects",
        &key,
        json!({"email": EMAIL, "full_name": NAME, "ip_address": IP}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let subject = subject["id"].as_str().unwrap().to_owned();
    let record = json!({"form": form, "subject": subject, "values": {"email": EMAIL, "contractor_phone": PHONE}});
    let (status, _) = call(M::POST, "/records", &key, record.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "refused without consent");
    call(
        M::POST,
        &format!("/subjects/{subject}/consents"),
        &key,
        json!({"consent_form": cf["id"], "method": "web_form", "source_ip": IP}),
    )
    .await;
    let (status, _) = call(M::POST, "/records", &key, record).await;
    assert_eq!(status, StatusCode::CREATED);
    // Bad input carrying canaries, and a forged key.
    call(M::POST, "/subjects", &key, json!({"email": NAME})).await;
    call(
        M::POST,
        "/subjects",
        &key,
        json!({"email": EMAIL, "Canaryname Zzyzx": 1}),
    )
    .await;
    call(M::POST, "/subjects", &key, json!({"email": EMAIL})).await;
    call(
        M::POST,
        "/subjects/lookup",
        &key,
        json!({"email": format!("x{EMAIL}")}),
    )
    .await;
    call(M::POST, "/records", &key, json!({"form": form, "subject": subject, "values": {"email": NAME, "contractor_phone": PHONE}})).await;
    call(M::GET, "/subjects", &format!("gdpr_{EMAIL}"), json!({})).await;
    let (status, receipt) = call(M::DELETE, &format!("/subjects/{subject}"), &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        receipt["places"][5]["outcome"], "done",
        "the error tracker forgot the person: {receipt}"
    );
    // A server error, with a canary in a header: reported to Rollbar, scrubbed.
    let db = Database::connect(format!(
        "sqlite://{}",
        dir.path().join("data/gdpr.db").display()
    ))
    .await
    .unwrap();
    db.execute_unprepared("DROP TABLE records").await.unwrap();
    let (status, _) = call(
        M::GET,
        &format!("/records?subject={subject}"),
        &key,
        json!({}),
    )
    .await;
    assert!(status.is_server_error(), "{status}");
    assert!(
        bodies.len() >= 7,
        "the bad requests were refused: {}",
        bodies.len()
    );
    // The console, as a DPO uses it: the staff's address and password, and the subject's
    // address searched for, reach no log line either (nor does a wrong password).
    let staff = "dpo@canary-mail.example";
    let made: Value = client
        .post(format!("{base}/admin/tenants/{tenant}/console-users"))
        .bearer_auth(admin)
        .json(&json!({"email": staff, "role": "dpo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let password = made["password"].as_str().unwrap().to_owned();
    let session = console_session(port, staff, &password).await;
    let root = format!("http://127.0.0.1:{port}");
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let search = web
        .get(format!("{root}/console/subjects"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let found = web
        .post(format!("{root}/console/subjects"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", IP)
        .body(
            serde_urlencoded::to_string([
                ("csrf", crate::console::csrf(&search).as_str()),
                ("email", EMAIL),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        found.status() == StatusCode::OK || found.status() == StatusCode::NOT_FOUND,
        "{}",
        found.status()
    );
    let found = found.text().await.unwrap();
    assert!(!found.contains(EMAIL), "the searched address is not echoed");
    // The console and the portal with the database failing under them (sessions and
    // inquiries are documents): a 503 page each, and a line telling operators why.
    db.execute_unprepared("DROP TABLE documents").await.unwrap();
    let console_down = web
        .get(format!("{root}/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(console_down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let portal_down = web
        .post(format!("{root}/portal/{tenant}/{}", uuid::Uuid::now_v7()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("code=12345678")
        .send()
        .await
        .unwrap();
    assert_eq!(portal_down.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Reports leave from a queue: wait for this one before stopping the process.
    let waited = std::time::Instant::now();
    while waited.elapsed() < std::time::Duration::from_secs(15)
        && !rollbar
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains("HTTP 503"))
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let files = read_dir_text(&logs);
    assert!(
        stdout.lines().count() > 20 && stdout.contains("\"target\":\"access\""),
        "logs were written"
    );
    assert!(!files.is_empty(), "the daily log file was written");
    assert!(
        stdout.contains("/console/subjects") && stdout.contains("console_sign_in_failed"),
        "the console's requests and its failed sign-in were logged (and scanned)"
    );
    assert_eq!(scan(&stdout), Vec::<&str>::new(), "canary in stdout logs");
    // The forged key left a security line: the event, why, and the pseudonymised source (a
    // /24 of this host), never the key.
    let failed: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "security" && l["event"] == "authentication_failed")
        .collect();
    assert!(
        !failed.is_empty(),
        "no security line for the forged key: {}",
        stdout
            .lines()
            .filter(|l| l.contains("security"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for line in &failed {
        assert_eq!(line["source"], "127.0.0.0/24", "{line}");
        assert_eq!(line["reason"], "invalid api key", "{line}");
        assert!(
            !line.to_string().contains("gdpr_"),
            "the key is not logged: {line}"
        );
    }
    // Each failure the caller cannot mend left one line for operators: which front met it,
    // and the database's own reason (the error's words, never its `Debug`, which would print
    // the driver's whole error and any value it quotes).
    let failures: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "dependency unavailable")
        .collect();
    for (surface, table) in [
        ("api", "records"),
        ("console", "documents"),
        ("portal", "documents"),
    ] {
        let why = format!(
            "storage failed: error returned from database: (code: 1) no such table: {table}"
        );
        assert!(
            failures
                .iter()
                .any(|l| l["surface"] == surface && l["error"] == why.as_str()),
            "no line for the {surface}'s failure: {failures:?}"
        );
    }
    // One access line per request: method, path without its query, status, request id and
    // the pseudonymised source.
    let access: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "access")
        .collect();
    assert!(
        access.iter().any(|l| l["method"] == "GET"
            && l["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/console/subjects"))
            && l["status"].as_u64().is_some()),
        "{access:?}"
    );
    for line in &access {
        assert_eq!(line["source"], "127.0.0.0/24", "{line}");
        assert!(!line["path"].as_str().unwrap().contains('?'), "{line}");
        assert!(
            line["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{line}"
        );
    }
    assert_eq!(scan(&files), Vec::<&str>::new(), "canary in log files");
    assert_eq!(scan(&stderr), Vec::<&str>::new(), "canary on stderr");
    // Secrets are never printed either: not the admin token, the API key or Rollbar's tokens.
    let secrets = [
        admin,
        key.as_str(),
        "canary-project-token",
        "canary-account-token",
        password.as_str(),
        session.split_once('=').map_or("", |(_, token)| token),
    ];
    for (sink, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("log files", &files),
    ] {
        assert_eq!(
            leaked(text, &secrets),
            Vec::<&str>::new(),
            "secret in {sink}"
        );
    }
    for body in &bodies {
        assert_eq!(
            scan(body),
            Vec::<&str>::new(),
            "canary in an error body: {body}"
        );
    }

    let payloads: Vec<String> = rollbar
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        payloads.iter().any(|p| p.contains("HTTP 503")),
        "the 5xx was reported: {payloads:?}"
    );
    for payload in &payloads {
        assert_eq!(
            scan(payload),
            Vec::<&str>::new(),
            "canary in a Rollbar payload: {payload}"
        );
        assert_eq!(
            leaked(payload, &secrets),
            Vec::<&str>::new(),
            "secret in a Rollbar payload"
        );
    }

    // The scan is not blind: a canary written without redaction into the log folder is found.
    std::fs::write(
        logs.join("gdpr.log.leak"),
        format!("deliberate leak {EMAIL}"),
    )
    .unwrap();
    assert_eq!(scan(&read_dir_text(&logs)), vec![EMAIL, "canary-mail"]);
}
