//! `spawn_app()`: the real server on 127.0.0.1:0 with a fresh database, an admin token and a
//! reqwest client.

use gdpr_server::config::Config;
use gdpr_server::{Running, start};
use gdpr_testkit::postgres::ThrowawayDatabase;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

pub(crate) const ADMIN: &str = "test-admin-token-0123456789";

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) backend: &'static str,
    running: Option<Running>,
    pub(crate) dir: tempfile::TempDir,
    pg_drop: Option<ThrowawayDatabase>,
    /// The configuration it runs with (for operator commands on the same deployment).
    pub(crate) config: Config,
}

pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) body: Value,
    pub(crate) text: String,
    /// The body as received (binary payloads).
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn config(dir: &tempfile::TempDir, url: String) -> Config {
    let mut config = Config::load(None).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = url;
    // The suite shares two cores with headless Chromium and a parallel build: a query may
    // wait longer for a connection than in service without anything being wrong. The fault
    // tests that want the 503 set their own short wait.
    config.database.acquire_timeout_seconds = 30;
    config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
    config.security.master_key_file = dir.path().join("master.key");
    config.signing.generated_key_file = dir.path().join("signing.key");
    config.security.admin_token = Some(SecretString::from(ADMIN));
    config.jobs.enabled = false;
    config.backups.directory = dir.path().join("backups");
    config.mail.outbox_dir = dir.path().join("outbox");
    config.http.body_limit = 64 * 1024;
    config.http.auth_failures_per_minute = 20;
    config
}

/// The server on SQLite.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The server on SQLite, with the configuration adjusted first.
pub(crate) async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gdpr.db").display());
    let mut config = config(&dir, url);
    adjust(&mut config);
    launch(config, dir, "sqlite", None).await
}

/// The server on a fresh PostgreSQL database (when one is configured), with an adjusted
/// configuration.
pub(crate) async fn spawn_app_on_postgres_with(
    adjust: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let db = fresh_postgres_database("gdpr_api").await?;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir, db.url.clone());
    adjust(&mut config);
    Some(launch(config, dir, "postgres", Some(db)).await)
}

/// A new, empty database on the test PostgreSQL server; `None` (said loudly) without one.
pub(crate) async fn fresh_postgres_database(prefix: &str) -> Option<ThrowawayDatabase> {
    ThrowawayDatabase::on_test_server("API tests", prefix).await
}

/// Every backend the tests run on.
pub(crate) async fn apps() -> Vec<TestApp> {
    apps_with(|_| {}).await
}

/// Every backend, with an adjusted configuration.
pub(crate) async fn apps_with(adjust: impl Fn(&mut Config)) -> Vec<TestApp> {
    let mut apps = vec![spawn_app_with(&adjust).await];
    apps.extend(spawn_app_on_postgres_with(&adjust).await);
    apps
}

async fn launch(
    config: Config,
    dir: tempfile::TempDir,
    backend: &'static str,
    pg_drop: Option<ThrowawayDatabase>,
) -> TestApp {
    let running = start(&config).await.unwrap();
    TestApp {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::new(),
        backend,
        running: Some(running),
        dir,
        pg_drop,
        config,
    }
}

impl TestApp {
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::read(req.send().await.unwrap()).await
    }

    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::read(req.send().await.unwrap()).await
    }

    /// A JSON body posted with these headers and no API key (a recipient's signed call).
    pub(crate) async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        Self::read(req.send().await.unwrap()).await
    }

    async fn read(resp: reqwest::Response) -> Response {
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp.bytes().await.unwrap().to_vec();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response {
            status,
            content_type,
            body,
            text,
            bytes,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(token), Some(&body))
            .await
    }

    /// A tenant and a read-write API key for it.
    pub(crate) async fn tenant(&self, name: &str) -> (String, String) {
        let t = self
            .post(
                "/v1/admin/tenants",
                ADMIN,
                json!({"name": name, "privacy_contact": "dpo@example.com"}),
            )
            .await;
        assert_eq!(t.status, StatusCode::CREATED, "{}", t.text);
        let id = t.body["id"].as_str().unwrap().to_owned();
        (id.clone(), self.key(&id, false).await)
    }

    pub(crate) async fn key(&self, tenant: &str, read_only: bool) -> String {
        let k = self
            .post(
                &format!("/v1/admin/tenants/{tenant}/api-keys"),
                ADMIN,
                json!({"read_only": read_only}),
            )
            .await;
        assert_eq!(k.status, StatusCode::CREATED, "{}", k.text);
        k.body["token"].as_str().unwrap().to_owned()
    }

    /// A consent-based "Contractors" form with its consent form: (form id, consent form id).
    pub(crate) async fn contractors(&self, key: &str) -> (String, String) {
        let p = self
            .post("/v1/purposes", key, json!({"id": "contractors", "description": "Managing contractors", "lawful_basis": "consent"}))
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.text);
        let cf = self
            .post(
                "/v1/consent-forms",
                key,
                json!({"purpose": "contractors", "title": "Contractor data", "text": "I agree."}),
            )
            .await;
        assert_eq!(cf.status, StatusCode::CREATED, "{}", cf.text);
        let form = self
            .post(
                "/v1/forms",
                key,
                json!({"name": "Contractors", "purpose": "contractors", "fields": [
                    {"name": "email", "kind": "email", "category": "email", "required": true},
                    {"name": "full_name", "kind": "text", "category": "full_name"},
                    {"name": "day_rate", "kind": "number", "category": "not_personal"}
                ]}),
            )
            .await;
        assert_eq!(form.status, StatusCode::CREATED, "{}", form.text);
        let (form_id, cf_id) = (
            form.body["id"].as_str().unwrap().to_owned(),
            cf.body["id"].as_str().unwrap().to_owned(),
        );
        let attached = self
            .send(
                Method::PUT,
                &format!("/v1/forms/{form_id}/consent-form"),
                Some(key),
                Some(&json!({"consent_form": cf_id})),
            )
            .await;
        assert_eq!(attached.status, StatusCode::OK, "{}", attached.text);
        (form_id, cf_id)
    }

    pub(crate) async fn subject(&self, key: &str, email: &str) -> String {
        let s = self
            .post(
                "/v1/subjects",
                key,
                json!({"email": email, "full_name": "Ada Lovelace", "ip_address": "192.0.2.44"}),
            )
            .await;
        assert_eq!(s.status, StatusCode::CREATED, "{}", s.text);
        s.body["id"].as_str().unwrap().to_owned()
    }

    /// The subject consents through `consent_form` (by API).
    pub(crate) async fn consent(&self, key: &str, subject: &str, consent_form: &str) {
        let given = self
            .post(
                &format!("/v1/subjects/{subject}/consents"),
                key,
                json!({"consent_form": consent_form, "method": "api"}),
            )
            .await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.text);
    }

    /// Submits a record; its id.
    pub(crate) async fn record(
        &self,
        key: &str,
        form: &str,
        subject: &str,
        values: Value,
    ) -> String {
        let r = self
            .post(
                "/v1/records",
                key,
                json!({"form": form, "subject": subject, "values": values}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// One subject's records, read for `use_` (`processing` or `legal_claims`).
    pub(crate) async fn records_of(&self, key: &str, subject: &str, use_: &str) -> Response {
        self.get(&format!("/v1/records?subject={subject}&use={use_}"), key)
            .await
    }

    /// Stops the server, keeping its database and files.
    pub(crate) async fn halt(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }

    /// Starts the server again on the same configuration.
    pub(crate) async fn resume(&mut self) {
        let running = start(&self.config).await.unwrap();
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// The database, on PostgreSQL.
    pub(crate) fn postgres(&self) -> Option<&ThrowawayDatabase> {
        self.pg_drop.as_ref()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
        if let Some(db) = self.pg_drop.take() {
            db.drop_database().await;
        }
    }
}

/// Asserts an RFC 7807 problem with this status and kind.
pub(crate) fn assert_problem(r: &Response, status: StatusCode, kind: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{}: {}",
        r.content_type,
        r.text
    );
    assert_eq!(
        r.body["type"],
        format!("urn:gdpr:problem:{kind}"),
        "{}",
        r.text
    );
    assert_eq!(r.body["status"], status.as_u16());
    assert!(
        r.body["detail"].is_string()
            && r.body["instance"].is_string()
            && r.body["request_id"].is_string(),
        "{}",
        r.text
    );
}

/// A local server standing in for Rollbar: it accepts items, starts deletion job 1 and reports
/// it done, and keeps every request it is sent.
pub(crate) async fn rollbar_stand_in() -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let rollbar = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/1/item/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&rollbar)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/1/people/delete_jobs/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": {"id": 1}})))
        .mount(&rollbar)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/1/people/delete_jobs/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"result": {"status": "success"}})),
        )
        .mount(&rollbar)
        .await;
    rollbar
}

/// A configuration file for `gdpr` processes and the test alike: the production profile, a
/// SQLite database, a master key, the admin token and a signing key, then `extra` (TOML
/// tables). Without a `[backups]` table in `extra`, backups are off on purpose: production
/// refuses to start with backups on and nobody to encrypt them for.
pub(crate) fn deployment_file(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    use secrecy::ExposeSecret;
    let master = gdpr_store_seaorm::MasterKey::generate().1;
    let signing_key = dir.join("signing.key");
    if !signing_key.exists() {
        let (secret, _) =
            gdpr_crypto_openpgp::generate_signing_key("gdpr test deployment").unwrap();
        std::fs::write(&signing_key, secret.expose_secret()).unwrap();
    }
    let backups = if extra.contains("[backups]") {
        ""
    } else {
        "[backups]\nenabled = false\n"
    };
    // Production sends the portal's codes over SMTP: a relay on this host (never reached here).
    let mail = if extra.contains("[mail") {
        ""
    } else {
        "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n"
    };
    let text = format!(
        "profile = \"production\"\n[database]\nurl = \"sqlite://{}?mode=rwc\"\n[security]\nmaster_key = \"{}\"\nadmin_token = \"{ADMIN}\"\n[signing]\nkey_file = \"{}\"\n{backups}{mail}{extra}",
        dir.join("gdpr.db").display(),
        master.expose_secret(),
        signing_key.display(),
    );
    let path = dir.join("gdpr.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The deployment's application, in this process, on `config`'s (migrated) database, with a
/// new tenant: to prepare data for `gdpr` processes.
pub(crate) async fn tenant_in_process(
    config: &Config,
    name: &str,
) -> (gdpr_app::App<gdpr_server::Deployment>, gdpr_app::Ctx) {
    let store = gdpr_server::open_store(config, true).await.unwrap();
    let app = gdpr_server::application(config, store).unwrap();
    let tenant = app
        .create_tenant(gdpr_audit::Actor::Operator, name, "dpo@example.com")
        .await
        .unwrap();
    (
        app,
        gdpr_app::Ctx::new(tenant.id, gdpr_audit::Actor::Operator),
    )
}

/// Imports one subject per e-mail address in one batch (with this name and IP, if any), as a
/// SaaS migrating its people would; their ids, in order.
pub(crate) async fn import_in_process(
    app: &gdpr_app::App<gdpr_server::Deployment>,
    ctx: gdpr_app::Ctx,
    emails: impl IntoIterator<Item = String>,
    full_name: Option<&str>,
    ip_address: Option<&str>,
) -> Vec<gdpr_pii::SubjectId> {
    let batch = emails
        .into_iter()
        .map(|email| gdpr_app::NewSubject {
            email: Some(email),
            full_name: full_name.map(str::to_owned),
            ip_address: ip_address.map(str::to_owned),
        })
        .collect();
    app.import_subjects(ctx, batch)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.unwrap().id)
        .collect()
}

/// A "Contractors" form under a purpose resting on a contract (no consent needed), defined
/// in-process; its id.
pub(crate) async fn contractors_in_process(
    app: &gdpr_app::App<gdpr_server::Deployment>,
    ctx: gdpr_app::Ctx,
) -> gdpr_pii::FormId {
    app.define_purpose(
        ctx,
        "staff",
        "Contractors",
        gdpr_consent::LawfulBasis::Contract,
    )
    .await
    .unwrap();
    let specs = gdpr_testkit::fake::contractors_schema().specs();
    app.define_form(ctx, "Contractors", specs, "staff")
        .await
        .unwrap()
        .id
}

/// Imports `count` records per subject (the `n`th subject's e-mail `{prefix}{n}@example.org`,
/// with this name), 5,000 per call, each checked and sealed like a single submission.
pub(crate) async fn import_records_in_process(
    app: &gdpr_app::App<gdpr_server::Deployment>,
    ctx: gdpr_app::Ctx,
    form: gdpr_pii::FormId,
    subjects: &[gdpr_pii::SubjectId],
    (prefix, full_name): (&str, &str),
    count: usize,
) {
    let lines: Vec<_> = subjects
        .iter()
        .enumerate()
        .flat_map(|(n, s)| {
            let values =
                json!({"email": format!("{prefix}{n}@example.org"), "full_name": full_name});
            std::iter::repeat_n((*s, values), count)
        })
        .collect();
    for chunk in lines.chunks(5_000) {
        for result in app.import_records(ctx, form, chunk.to_vec()).await.unwrap() {
            result.unwrap();
        }
    }
}

/// `gdpr serve` on a deployment file, on a free port, its output discarded: for crash tests.
pub(crate) fn serve_deployment(config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_gdpr"))
        .arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("GDPR_TEST_POSTGRES_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills a process with SIGKILL (no chance to clean up) and waits for it.
pub(crate) fn kill_9(mut child: std::process::Child) {
    std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(!child.wait().unwrap().success(), "killed");
}
