//! Wiring and running: the composition root, the HTTP server with graceful shutdown, and the
//! background worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gdpr_app::{Adapters, App, AppConfig};
use gdpr_http::{HttpOptions, Readiness};
use gdpr_pii::PiiCategory;
use gdpr_ports::Ports;
use gdpr_rights::{Recipient, RecipientRole};
use gdpr_store_seaorm::{MasterKey, SeaOrmStore};
use gdpr_telemetry::LogRedaction;
use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::adapters::{NoErrorTracker, Reporter, SystemClock};
use crate::config::BackupStorage;
use crate::config::{Config, Profile};
use gdpr_backup_s3::ObjectBackupStore;

/// A failure to start, with what to do about it.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// The adapters of a deployment.
#[derive(Debug, Clone, Copy)]
pub struct Deployment;

impl Ports for Deployment {
    type Store = SeaOrmStore;
    type Backups = ObjectBackupStore;
    type Encryptor = gdpr_crypto_openpgp::OpenPgpEncryptor;
    type Reporter = Reporter;
    type Clock = SystemClock;
    type Signer = gdpr_crypto_openpgp::OpenPgpSigner;
}

/// The master key: from configuration, else (embedded profile only) from its file, else a new
/// one generated into that file with a loud warning.
///
/// # Errors
/// In the production profile without `security.master_key`; when the key or its file is bad.
pub fn master_key(config: &Config) -> Result<MasterKey, StartError> {
    if let Some(key) = &config.security.master_key {
        return Ok(MasterKey::from_base64(key)?);
    }
    if config.profile == Profile::Production {
        return Err(
            "refusing to start: the production profile needs security.master_key \
                    (GDPR_SECURITY__MASTER_KEY); `gdpr keygen` prints a fresh one"
                .into(),
        );
    }
    let path = &config.security.master_key_file;
    if path.exists() {
        let text = std::fs::read_to_string(path)?;
        return Ok(MasterKey::from_base64(&SecretString::from(text))?);
    }
    let (key, encoded) = MasterKey::generate();
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    write_private(path, encoded.expose_secret())?;
    tracing::warn!(
        target: "security",
        event = "master_key_generated",
        path = %path.display(),
        "EMBEDDED PROFILE: generated a new master key and stored it next to the data. Losing it \
         makes every personal field unreadable; in production set security.master_key instead"
    );
    Ok(key)
}

/// The shortest admin token accepted: a guessable token would open every tenant.
const MIN_ADMIN_TOKEN: usize = 16;

/// The operator's token: configured, else (embedded profile only) read from its file or
/// generated into it. `None` disables the admin routes.
///
/// # Errors
/// When the token file cannot be read or written.
pub fn admin_token(config: &Config) -> Result<Option<SecretString>, StartError> {
    let long_enough = |token: &str, from: &str| {
        if token.chars().count() < MIN_ADMIN_TOKEN {
            Err(format!(
                "refusing to start: {from} must be at least {MIN_ADMIN_TOKEN} characters"
            ))
        } else {
            Ok(SecretString::from(token.to_owned()))
        }
    };
    if let Some(token) = &config.security.admin_token {
        return Ok(Some(long_enough(
            token.expose_secret().trim(),
            "security.admin_token",
        )?));
    }
    if config.profile == Profile::Production {
        tracing::warn!(
            "no security.admin_token: the /v1/admin routes (tenants, API keys) are disabled"
        );
        return Ok(None);
    }
    let path = &config.security.admin_token_file;
    if path.exists() {
        let token = std::fs::read_to_string(path)?;
        return Ok(Some(long_enough(
            token.trim(),
            &format!("the admin token in {}", path.display()),
        )?));
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    write_private(path, &token)?;
    tracing::warn!(
        target: "security",
        event = "admin_token_generated",
        path = %path.display(),
        "EMBEDDED PROFILE: generated an admin token; read it from this file to create tenants and API keys"
    );
    Ok(Some(SecretString::from(token)))
}

/// The deployment's signing key (armored, with its passphrase): configured, else (embedded
/// profile only) read from its generated file or generated into it with a loud warning. `None`
/// in production without `signing.key_file`: then nothing can be signed here (an operator's
/// machine that only verifies and restores, with `signing.trusted_keys`), and `serve` refuses
/// to start.
///
/// # Errors
/// When the key file cannot be read or written.
pub(crate) fn signing_key(
    config: &Config,
) -> Result<Option<(SecretString, SecretString)>, StartError> {
    let passphrase = config
        .signing
        .passphrase
        .clone()
        .unwrap_or_else(|| SecretString::from(""));
    if let Some(path) = &config.signing.key_file {
        let armored = std::fs::read_to_string(path)
            .map_err(|e| format!("signing.key_file {}: {e}", path.display()))?;
        return Ok(Some((SecretString::from(armored), passphrase)));
    }
    if config.profile == Profile::Production {
        return Ok(None);
    }
    let path = &config.signing.generated_key_file;
    if path.exists() {
        let armored = std::fs::read_to_string(path)
            .map_err(|e| format!("signing.generated_key_file {}: {e}", path.display()))?;
        return Ok(Some((SecretString::from(armored), SecretString::from(""))));
    }
    let (secret, public) = gdpr_crypto_openpgp::generate_signing_key("gdpr deployment")?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    write_private(path, secret.expose_secret())?;
    let public_path = path.with_extension("pub.asc");
    std::fs::write(&public_path, public)?;
    tracing::warn!(
        target: "security",
        event = "signing_key_generated",
        path = %path.display(),
        public_key = %public_path.display(),
        "EMBEDDED PROFILE: generated a signing key for backups and the decision journal; \
         losing it means new backups cannot be verified against the old key. In production set \
         signing.key_file instead"
    );
    Ok(Some((secret, SecretString::from(""))))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Creates a folder (and its parents) readable by the service's user alone: it holds the
/// database, the keys, the backups or the logs.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty SQLite database file readable by the service's user alone, unless it
/// exists (SQLite gives its WAL and shared-memory files the database file's permissions).
fn create_private_file(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Connects to the configured database (creating the SQLite folder), migrating if asked.
///
/// # Errors
/// When the database cannot be reached or migrated, or the key is missing.
pub async fn open_store(config: &Config, migrate: bool) -> Result<SeaOrmStore, StartError> {
    let url = config.database.connect_url();
    if let Some(path) = url.expose_secret().strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            create_private_dir(dir)?;
        }
        if !file.is_empty() && file != ":memory:" {
            create_private_file(std::path::Path::new(file))?;
        }
    }
    let store = SeaOrmStore::connect_waiting(
        url.expose_secret(),
        config.database.max_connections,
        std::time::Duration::from_secs(config.database.acquire_timeout_seconds.max(1)),
        master_key(config)?,
    )
    .await
    .map_err(|e| format!("cannot open the database: {}", with_causes(&e)))?;
    if migrate {
        store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate the database: {}", with_causes(&e)))?;
    }
    Ok(store)
}

/// An error and its sources, for an operator reading why the service did not start.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long `/readyz` waits for the database.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

struct StoreReadiness {
    store: SeaOrmStore,
    freshness: BackupFreshness,
}

/// When each tenant's newest verified backup was taken, as last looked up (every few
/// minutes, off the request path: it lists object storage).
#[derive(Clone, Default, Debug)]
pub(crate) struct BackupFreshness(Arc<std::sync::RwLock<Option<Freshness>>>);

/// Each tenant, and when its newest verified backup was taken (`None`: none is).
type Freshness = Vec<(gdpr_pii::TenantId, Option<time::OffsetDateTime>)>;

impl BackupFreshness {
    pub(crate) fn snapshot(&self) -> Option<Freshness> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One line for `/readyz`: the stalest tenant, without naming it.
    fn detail(&self) -> Option<String> {
        let list = self.snapshot()?;
        let now = time::OffsetDateTime::now_utc();
        let without = list.iter().filter(|(_, at)| at.is_none()).count();
        let stalest = list.iter().filter_map(|(_, at)| *at).min();
        let limit = gdpr_app::VERIFIED_BACKUP_MAX_AGE.whole_hours();
        Some(match (stalest, without) {
            (_, n) if n > 0 => format!(
                "backups: {n} of {} tenants have no verified backup",
                list.len()
            ),
            (Some(at), _) => {
                let hours = (now - at).whole_hours();
                let state = if hours > limit { "STALE" } else { "ok" };
                format!(
                    "backups: {state}: the oldest newest-verified backup of {} tenants is {hours} h old (limit {limit} h)",
                    list.len()
                )
            }
            (None, _) => "backups: no tenant yet".to_owned(),
        })
    }
}

/// Looks the backups' freshness up every five minutes until stopped.
async fn watch_backup_freshness(
    app: Arc<App<Deployment>>,
    freshness: BackupFreshness,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match app.backup_freshness().await {
            Ok(list) => {
                *freshness
                    .0
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(list);
            }
            Err(e) => tracing::warn!(error = %e.for_operators(), "could not look the backups up"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
    }
}

#[async_trait]
impl Readiness for StoreReadiness {
    /// Bounded, so that a probe gets its answer before its own timeout gives up.
    async fn ready(&self) -> Result<(), String> {
        match tokio::time::timeout(READINESS_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("the database does not answer".to_owned()),
            Err(_) => Err(format!(
                "the database did not answer within {} s",
                READINESS_TIMEOUT.as_secs()
            )),
        }
    }

    fn detail(&self) -> Option<String> {
        self.freshness.detail()
    }
}

/// The error tracker the configuration asks for (Rollbar needs a running tokio runtime).
///
/// # Errors
/// When Rollbar is enabled without an access token, or its client cannot be built.
pub fn reporter(
    config: &Config,
    redaction: Option<Arc<gdpr_pii::StructuredRedactor>>,
) -> Result<Reporter, StartError> {
    let settings = &config.rollbar;
    if !settings.enabled {
        return Ok(Reporter::Off(NoErrorTracker));
    }
    let token = settings
        .access_token
        .as_ref()
        .ok_or("rollbar.enabled needs rollbar.access_token (GDPR_ROLLBAR__ACCESS_TOKEN)")?;
    let mut rollbar = gdpr_report_rollbar::RollbarConfig::new(
        &settings.endpoint,
        SecretString::from(token.expose_secret().to_owned()),
        &settings.environment,
    );
    rollbar.account_token = settings
        .account_token
        .as_ref()
        .map(|t| SecretString::from(t.expose_secret().to_owned()));
    rollbar.queue = settings.queue;
    rollbar.pseudonymisation = config.pseudonymisation;
    if let Some(redaction) = redaction {
        rollbar.redaction = redaction;
    }
    if settings.account_token.is_none() {
        tracing::warn!(
            "rollbar.account_token is not set: erasures will stay pending at the error tracker"
        );
    }
    Ok(Reporter::Rollbar(
        gdpr_report_rollbar::RollbarReporter::start(rollbar)?,
    ))
}

/// The backup storage the configuration names.
///
/// # Errors
/// When `s3` is chosen without a bucket, or the local folder cannot be created.
/// The configured object storage for backups.
///
/// # Errors
/// When the folder cannot be created or the S3 settings are incomplete.
pub fn backup_storage(config: &Config) -> Result<ObjectBackupStore, StartError> {
    let b = &config.backups;
    let store = match b.storage {
        BackupStorage::Local => ObjectBackupStore::local(&b.directory).map_err(|e| {
            format!(
                "backups.directory {}: {}",
                b.directory.display(),
                with_causes(&e)
            )
        })?,
        BackupStorage::S3 => {
            if b.s3.bucket.trim().is_empty() {
                return Err("backups.s3.bucket is required when backups.storage = \"s3\"".into());
            }
            ObjectBackupStore::s3(&b.s3).map_err(|e| format!("backups.s3: {}", with_causes(&e)))?
        }
    };
    Ok(store)
}

/// The application over a deployment's adapters.
///
/// # Errors
/// When the error tracker cannot be set up.
pub fn application(config: &Config, store: SeaOrmStore) -> Result<App<Deployment>, StartError> {
    application_with(config, store, reporter(config, None)?)
}

/// Refuses backup storage that keeps old versions of what it overwrites (an S3 bucket with
/// versioning or object lock): crypto-shredding overwrites keyring shards, and an old version
/// would keep an erased subject's wrapped key. `docs/operations.md` says how to set the bucket.
///
/// # Errors
/// When the bucket keeps old versions, or cannot be probed.
pub(crate) async fn refuse_versioned_backups(config: &Config) -> Result<(), StartError> {
    if config.backups.storage != BackupStorage::S3 {
        return Ok(());
    }
    let versioned = backup_storage(config)?
        .keeps_old_versions()
        .await
        .map_err(|e| format!("backups.s3: cannot probe the bucket: {}", with_causes(&e)))?;
    if versioned {
        return Err(
            "refusing to start: the backup bucket keeps old versions of what is \
                    overwritten (versioning or object lock is on): crypto-shredding could not \
                    remove an erased subject's key from them. Use a bucket without versioning \
                    (see docs/operations.md)"
                .into(),
        );
    }
    Ok(())
}

/// The application over a deployment's adapters, with this error tracker.
///
/// # Errors
/// When a configured export recipient key is unusable or backup storage is misconfigured.
pub fn application_with(
    config: &Config,
    store: SeaOrmStore,
    reporter: Reporter,
) -> Result<App<Deployment>, StartError> {
    application_tuned(config, store, reporter, |_| {})
}

/// [`application_with`], with the application's settings adjusted last: for benchmarks that
/// measure what a setting costs (the decision journal off, say), never for a deployment.
///
/// # Errors
/// As [`application_with`].
pub fn application_tuned(
    config: &Config,
    store: SeaOrmStore,
    reporter: Reporter,
    tune: impl FnOnce(&mut AppConfig),
) -> Result<App<Deployment>, StartError> {
    let mut encryptor = gdpr_crypto_openpgp::OpenPgpEncryptor::new(&config.export.recipients)
        .map_err(|e| format!("export.recipients: {e}"))?;
    let signing_key = signing_key(config)?;
    // Exports and payloads carry an inner signature only with a configured key: their
    // recipients must know the key, or `gpg` reports the signature as unverifiable. The key
    // the embedded profile generates signs what only this service reads back.
    if let (Some((armored, passphrase)), Some(_)) = (&signing_key, &config.signing.key_file) {
        encryptor = encryptor
            .signing_with(armored.expose_secret(), passphrase.clone())
            .map_err(|e| format!("signing.key_file: {e}"))?;
    }
    let signer = gdpr_crypto_openpgp::OpenPgpSigner::new(
        signing_key
            .as_ref()
            .map(|(armored, passphrase)| (armored.expose_secret(), passphrase.clone())),
        &config.signing.trusted_keys,
    )
    .map_err(|e| format!("signing: {e}"))?;
    if signing_key.is_none() && config.signing.trusted_keys.is_empty() {
        return Err(
            "signing: neither signing.key_file nor signing.trusted_keys is set: \
                    nothing read back from backup storage could be trusted"
                .into(),
        );
    }
    let mut app_config = AppConfig {
        retention: config.retention,
        pseudonymisation: config.pseudonymisation,
        recipients: recipients(config)?,
        webhooks: config.webhooks.app_config(),
        ..AppConfig::default()
    };
    // Checked here so that a bad key fails at start, not at 02:00.
    gdpr_crypto_openpgp::OpenPgpEncryptor::new(&config.backups.recipients)
        .map_err(|e| format!("backups.recipients: {e}"))?;
    app_config
        .backup_recipients
        .clone_from(&config.backups.recipients);
    app_config.backup_at = if config.backups.enabled {
        config.backups.daily_time()?
    } else {
        None
    };
    app_config.backups_disabled = !config.backups.enabled;
    app_config.export_ttl = time::Duration::hours(config.export.ttl_hours.max(1).into());
    app_config.hot_cache = config.cache.hot_cache();
    app_config.job_lease =
        time::Duration::seconds(i64::try_from(config.jobs.lease_seconds.max(1)).unwrap_or(600));
    app_config.portal = config.portal.app_config();
    app_config.console = config.console.app_config();
    let mailer = mailer(config)?;
    tune(&mut app_config);
    Ok(App::new(
        Adapters {
            store,
            backups: backup_storage(config)?,
            encryptor,
            reporter,
            clock: SystemClock,
            signer,
        },
        app_config,
    )
    .with_log_scanner(Arc::new(crate::logging::log_scanner(config)))
    .with_mailer(Arc::new(mailer)))
}

/// The mailer of `[mail]`.
///
/// # Errors
/// The setting at fault: the outbox in production (nobody would get the codes), SMTP with
/// no `[mail.smtp]`, a sender that is not a mailbox, TLS off for a relay on another host.
fn mailer(config: &Config) -> Result<gdpr_mail::LettreMailer, String> {
    use crate::config::{MailTransport, SmtpTls};
    let mail = &config.mail;
    match mail.transport {
        MailTransport::Outbox if config.profile == Profile::Production => Err(
            "refusing to start: the production profile sends the request portal's codes \
             over SMTP: set mail.transport = \"smtp\" and [mail.smtp]"
                .into(),
        ),
        MailTransport::Outbox => gdpr_mail::LettreMailer::outbox(&mail.from, &mail.outbox_dir)
            .map_err(|e| format!("mail: {e}")),
        MailTransport::Smtp => {
            let smtp = mail
                .smtp
                .as_ref()
                .ok_or("mail.smtp: the relay is required with mail.transport = \"smtp\"")?;
            let settings = gdpr_mail::SmtpSettings {
                host: smtp.host.clone(),
                port: smtp.port,
                tls: match smtp.tls {
                    SmtpTls::Starttls => gdpr_mail::Tls::StartTls,
                    SmtpTls::Implicit => gdpr_mail::Tls::Implicit,
                    SmtpTls::None => gdpr_mail::Tls::None,
                },
                username: smtp.username.clone(),
                password: smtp.password.clone(),
                timeout: std::time::Duration::from_secs(smtp.timeout_seconds.max(1)),
            };
            gdpr_mail::LettreMailer::smtp(&mail.from, &settings)
                .map_err(|e| format!("mail.smtp: {e}"))
        }
    }
}

/// The processors that receive personal data in this deployment, where they process it and
/// on what ground: the register of processing, access exports and the daily attestation list
/// them (Art. 30(1)(d)-(e), 15(1)(c), 15(2), 44–46).
///
/// # Errors
/// The setting at fault, when a processor is described against the rules (adequacy claimed
/// for a country no decision covers, an empty name, a name another processor has).
fn recipients(config: &Config) -> Result<Vec<Recipient>, String> {
    let mut out = Vec::new();
    if config.rollbar.enabled {
        let rollbar = Recipient {
            name: "Error tracker (Rollbar)".into(),
            role: RecipientRole::Processor,
            description: "receives error reports, scrubbed of personal data, with a \
                          pseudonymous subject id; asked to forget a subject on erasure"
                .into(),
            purposes: Vec::new(),
            categories: Vec::new(),
            country: config.rollbar.country,
            location: Some(config.rollbar.location.clone()),
            safeguard: config.rollbar.safeguard,
            contract: config.rollbar.contract.clone(),
        };
        out.push(rollbar.checked().map_err(|e| format!("rollbar: {e}"))?);
    }
    if config.backups.enabled {
        let backups = Recipient {
            name: "Backup object storage".into(),
            role: RecipientRole::Processor,
            description: "stores daily backups, OpenPGP-encrypted, kept for the backup \
                          retention period"
                .into(),
            purposes: Vec::new(),
            categories: PiiCategory::ALL
                .into_iter()
                .filter(|c| c.is_personal())
                .collect(),
            country: config.backups.country,
            location: Some(config.backups.location()),
            safeguard: config.backups.safeguard,
            contract: config.backups.contract.clone(),
        };
        out.push(backups.checked().map_err(|e| format!("backups: {e}"))?);
    }
    for (i, p) in config.processors.iter().enumerate() {
        let processor = Recipient {
            name: p.name.clone(),
            role: p.role,
            description: p.description.clone(),
            purposes: Vec::new(),
            categories: p.categories.clone(),
            country: p.country,
            location: p.location.clone(),
            safeguard: p.safeguard,
            contract: p.contract.clone(),
        };
        let processor = processor
            .checked()
            .map_err(|e| format!("processors[{i}]: {e}"))?;
        // A processor's id is derived from its name: two of one name would be one entry.
        if out.iter().any(|r: &Recipient| r.name == processor.name) {
            return Err(format!(
                "processors[{i}]: name: another processor of the deployment has this name"
            ));
        }
        out.push(processor);
    }
    Ok(out)
}

/// A running service.
pub struct Running {
    /// The address it listens on (port 0 in the config becomes the real port here).
    pub addr: SocketAddr,
    stop_server: oneshot::Sender<()>,
    stop_worker: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    worker: Option<JoinHandle<()>>,
    webhooks: Option<JoinHandle<()>>,
    chores: JoinHandle<()>,
    watch_backups: Option<JoinHandle<()>>,
    /// Hears the other replicas' cache invalidations; stops when dropped.
    _cache_watcher: Option<gdpr_store_seaorm::Watcher>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (10 s at most), stops the worker.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn stop(self) -> Result<(), StartError> {
        let _ = self.stop_worker.send(true);
        let _ = self.stop_server.send(());
        self.server.await??;
        if let Some(worker) = self.worker {
            worker.await?;
        }
        if let Some(webhooks) = self.webhooks {
            webhooks.await?;
        }
        self.chores.await?;
        if let Some(watch) = self.watch_backups {
            watch.await?;
        }
        Ok(())
    }
}

/// Starts the service: store, application, HTTP server and worker.
///
/// # Errors
/// When the store cannot be opened or the address cannot be bound.
pub async fn start(config: &Config) -> Result<Running, StartError> {
    start_with(config, None).await
}

/// Starts the service; with `redaction`, the worker keeps it taught the personal fields of
/// every tenant's forms and deletes log files past their retention.
///
/// # Errors
/// When the store cannot be opened or the address cannot be bound.
pub async fn start_with(
    config: &Config,
    redaction: Option<Arc<LogRedaction>>,
) -> Result<Running, StartError> {
    let store = open_store(config, config.database.migrate_on_start).await?;
    refuse_versioned_backups(config).await?;
    if config.profile == Profile::Production && config.signing.key_file.is_none() {
        return Err(
            "refusing to start: the production profile needs signing.key_file (an \
                    armored OpenPGP secret key that signs backups and the decision journal)"
                .into(),
        );
    }
    if config.backups.enabled && config.backups.recipients.is_empty() {
        if config.profile == Profile::Production {
            return Err(
                "refusing to start: no backup would be taken (backups.recipients is \
                        empty); give the operators' public keys, or set backups.enabled = false \
                        to say backups are off on purpose"
                    .into(),
            );
        }
        tracing::warn!(
            target: "security",
            event = "backups_off",
            "NO BACKUP WILL BE TAKEN: backups.recipients is empty (nothing may leave in clear). \
             Give the operators' public keys, or set backups.enabled = false"
        );
    }
    let freshness = BackupFreshness::default();
    let readiness = Arc::new(StoreReadiness {
        store: store.clone(),
        freshness: freshness.clone(),
    });
    let reporter = reporter(config, redaction.as_ref().map(|r| r.shared()))?;
    let rollbar = match &reporter {
        Reporter::Rollbar(rollbar) => Some(rollbar.clone()),
        Reporter::Off(_) => None,
    };
    let jobs = crate::metrics::JobMetrics::default();
    let register_metrics: gdpr_http::RegisterMetrics = {
        let (jobs, freshness, store) = (jobs.clone(), freshness.clone(), store.clone());
        Box::new(move |registry| {
            crate::metrics::register(registry, &jobs, freshness, store, rollbar)
        })
    };
    // This process's own changes reach its cache directly; on SQLite only other processes
    // (operator commands) bump the counter it watches.
    store.announce_changes(false);
    let watched = store.clone();
    let app = Arc::new(application_with(config, store, reporter)?);
    let cache_watcher = config.cache.enabled.then(|| {
        let app = app.clone();
        watched.watch_invalidations(move |signal| app.cache_signal(signal))
    });
    let routes = gdpr_http::routes(
        app.clone(),
        HttpOptions {
            admin_token: admin_token(config)?,
            body_limit: config.http.body_limit,
            auth_failures_per_minute: config.http.auth_failures_per_minute,
            readiness,
            register_metrics: Some(register_metrics),
            trusted_proxies: config
                .http
                .trusted_proxies
                .iter()
                .map(|p| p.parse().map_err(|e| format!("http.trusted_proxies: {e}")))
                .collect::<Result<_, _>>()?,
            metrics: match (&config.http.metrics_token, config.profile) {
                (Some(token), _) => gdpr_http::MetricsAccess::Token(token.clone()),
                (None, Profile::Embedded) => gdpr_http::MetricsAccess::Open,
                (None, Profile::Production) => gdpr_http::MetricsAccess::Off,
            },
        },
    );
    let acceptor = TcpListener::bind(config.listen.to_string())
        .into_acceptor()
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(config.listen);
    let (stop_server, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            routes,
            async {
                let _ = stopped.await;
            },
            Some(Duration::from_secs(10)),
        ),
    );
    let (stop_worker, stop_rx) = watch::channel(false);
    let housekeeping = Housekeeping {
        redaction,
        log_dir: config.logging.directory.clone(),
        log_retention: config.retention.logs,
    };
    housekeeping.run(&app).await;
    // Chores are per process and run whether or not this process takes shared jobs: a
    // web-only replica still has log files to prune and forms' fields to learn.
    let chores = tokio::spawn(run_chores(app.clone(), housekeeping, stop_rx.clone()));
    let watch_backups = config.backups.enabled.then(|| {
        tokio::spawn(watch_backup_freshness(
            app.clone(),
            freshness.clone(),
            stop_rx.clone(),
        ))
    });
    let webhooks = if config.webhooks.enabled {
        let sender = gdpr_webhook_sender::HttpWebhookSender::new(
            config.webhooks.addresses(),
            Duration::from_secs(config.webhooks.timeout_seconds.max(1)),
        )
        .map_err(StartError::from)?;
        Some(tokio::spawn(run_webhooks(
            app.clone(),
            sender,
            Duration::from_millis(config.webhooks.poll_interval_ms.max(10)),
            stop_rx.clone(),
        )))
    } else {
        None
    };
    let worker = config.jobs.enabled.then(|| {
        tokio::spawn(run_worker(
            app,
            jobs,
            Duration::from_secs(config.jobs.poll_interval_seconds.max(1)),
            stop_rx,
        ))
    });
    tracing::info!(%addr, "gdpr listening");
    Ok(Running {
        addr,
        stop_server,
        stop_worker,
        server,
        worker,
        webhooks,
        chores,
        watch_backups,
        _cache_watcher: cache_watcher,
    })
}

/// Feeds the webhook endpoints from their audit chains and delivers, until told to stop:
/// round after round while there is work, then every `every`.
async fn run_webhooks(
    app: Arc<App<Deployment>>,
    sender: gdpr_webhook_sender::HttpWebhookSender,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let name = format!("gdpr-{}-webhooks", std::process::id());
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = app.feed_webhooks().await {
            tracing::warn!(error = %e, "could not feed the webhook endpoints");
        }
        let busy = match app.deliver_webhooks(&sender, &name).await {
            Ok(round) => {
                if round.failed > 0 || round.disabled > 0 {
                    tracing::warn!(
                        failed = round.failed,
                        disabled = round.disabled,
                        "webhook deliveries dead-lettered"
                    );
                }
                round.claimed > 0
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not deliver webhooks");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Per-process chores beside the shared jobs: the log redaction's field names, and this
/// process's own log files.
struct Housekeeping {
    redaction: Option<Arc<LogRedaction>>,
    log_dir: Option<std::path::PathBuf>,
    log_retention: gdpr_retention::RetentionPeriod,
}

impl Housekeeping {
    async fn run(&self, app: &App<Deployment>) {
        if let Some(redaction) = &self.redaction {
            match crate::logging::learn_personal_fields(app, redaction).await {
                Ok(n) => {
                    tracing::debug!(fields = n, "log redaction knows the forms' personal fields")
                }
                Err(e) => tracing::warn!(error = %e, "could not load the forms' personal fields"),
            }
        }
        if let Some(dir) = &self.log_dir {
            let today = time::OffsetDateTime::now_utc().date();
            match gdpr_telemetry::prune_log_files(
                dir,
                gdpr_telemetry::LOG_FILE_PREFIX,
                self.log_retention,
                today,
            ) {
                Ok(deleted) if !deleted.is_empty() => {
                    tracing::info!(files = deleted.len(), "log files past retention deleted")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune log files"),
            }
        }
    }
}

/// Hourly per-process chores, until told to stop.
async fn run_chores(
    app: Arc<App<Deployment>>,
    housekeeping: Housekeeping,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => housekeeping.run(&app).await,
        }
    }
}

async fn run_worker(
    app: Arc<App<Deployment>>,
    jobs: crate::metrics::JobMetrics,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let name = format!("gdpr-{}", std::process::id());
    loop {
        if let Err(e) = app.schedule_due_jobs().await {
            tracing::warn!(error = %e, "could not schedule jobs");
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let started = std::time::Instant::now();
            match app.run_next_job(&name).await {
                Ok(Some(run)) => match &run.outcome {
                    Ok(summary) => {
                        jobs.ran(&run.kind, false, started.elapsed());
                        tracing::info!(job = %run.job, kind = run.kind, summary, "job done")
                    }
                    Err(error) => {
                        jobs.ran(&run.kind, true, started.elapsed());
                        tracing::warn!(job = %run.job, kind = run.kind, error, "job failed")
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// When starting or stopping fails.
pub async fn serve(config: &Config, redaction: Arc<LogRedaction>) -> Result<(), StartError> {
    // Listen for the signals before serving, so that one arriving during start-up is not lost
    // (it would otherwise kill the process without a graceful stop).
    let stop = shutdown_signal()?;
    let running = start_with(config, Some(redaction)).await?;
    stop.await;
    tracing::info!("shutting down");
    running.stop().await
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_codes_leave_by_smtp_in_production_and_the_relay_is_checked() {
        use crate::config::{MailTransport, SmtpConfig, SmtpTls};
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(None).unwrap();
        config.mail.outbox_dir = dir.path().join("outbox");
        assert!(mailer(&config).is_ok(), "the embedded default: the outbox");
        assert!(config.mail.outbox_dir.is_dir());
        config.profile = Profile::Production;
        let refused = mailer(&config).unwrap_err();
        assert!(refused.contains("mail.transport"), "{refused}");
        config.mail.transport = MailTransport::Smtp;
        let refused = mailer(&config).unwrap_err();
        assert!(refused.contains("mail.smtp"), "{refused}");
        config.mail.smtp = Some(SmtpConfig {
            host: "smtp.example.org".into(),
            port: 25,
            tls: SmtpTls::None,
            username: Some("vault".into()),
            password: Some("s3cret-password".to_owned().into()),
            timeout_seconds: 10,
        });
        let refused = mailer(&config).unwrap_err();
        assert!(
            refused.contains("tls") && !refused.contains("s3cret"),
            "{refused}"
        );
        config.mail.smtp.as_mut().unwrap().tls = SmtpTls::Starttls;
        assert!(mailer(&config).is_ok());
    }

    #[test]
    fn an_admin_token_too_short_is_refused_from_configuration_and_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(None).unwrap();
        config.security.admin_token_file = dir.path().join("admin.token");
        std::fs::write(&config.security.admin_token_file, "short\n").unwrap();
        let refused = admin_token(&config).unwrap_err().to_string();
        assert!(
            refused.contains("admin.token") && refused.contains("at least 16"),
            "{refused}"
        );
        std::fs::write(
            &config.security.admin_token_file,
            "long-enough-token-0123\n",
        )
        .unwrap();
        assert!(admin_token(&config).unwrap().is_some());
        config.security.admin_token = Some(SecretString::from("tiny"));
        let refused = admin_token(&config).unwrap_err().to_string();
        assert!(refused.contains("security.admin_token"), "{refused}");
        assert!(!refused.contains("tiny"), "the token is never repeated");
    }
}
