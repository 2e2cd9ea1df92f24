//! Configuration: `config/default.toml` embedded in the binary, then an optional file
//! (`--config`), then `GDPR_*` environment variables (`__` separates levels). Secrets are
//! `secrecy` types: they print as `[REDACTED]` and are exposed only where they are used.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use gdpr_pii::PseudonymisationPolicy;
use gdpr_retention::RetentionPolicy;
use gdpr_rights::{Country, RecipientRole, Safeguard};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The embedded defaults.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// How the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Development: SQLite and a generated master key are fine.
    Embedded,
    /// Production: a master key must be given.
    Production,
}

/// `[database]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// Inserted into a PostgreSQL URL that carries none.
    pub password: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a query waits for a connection before failing (503 while the database is
    /// down, or every connection busy).
    pub acquire_timeout_seconds: u64,
    /// Migrate when the server starts.
    pub migrate_on_start: bool,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &without_password(&self.url))
            .field("password", &self.password)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_seconds", &self.acquire_timeout_seconds)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

/// A URL with any password in it replaced, for printing.
fn without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:[REDACTED]@{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Percent-encodes what a URL's userinfo cannot hold as is.
fn encode_userinfo(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl DatabaseConfig {
    /// The URL to connect to, with the password in it when one is configured.
    #[must_use]
    pub fn connect_url(&self) -> SecretString {
        match (&self.password, self.url.split_once("://")) {
            (Some(password), Some((scheme, rest))) if scheme.starts_with("postgres") => {
                let (userinfo, host) = rest.split_once('@').unwrap_or(("", rest));
                if userinfo.contains(':') || userinfo.is_empty() {
                    return SecretString::from(self.url.clone());
                }
                SecretString::from(format!(
                    "{scheme}://{userinfo}:{}@{host}",
                    encode_userinfo(password.expose_secret())
                ))
            }
            _ => SecretString::from(self.url.clone()),
        }
    }
}

/// `[security]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Base64 master secret.
    pub master_key: Option<SecretString>,
    /// Where the embedded profile stores a generated key.
    pub master_key_file: PathBuf,
    /// The operator's token.
    pub admin_token: Option<SecretString>,
    /// Where the embedded profile stores a generated admin token.
    pub admin_token_file: PathBuf,
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest body, bytes.
    pub body_limit: u64,
    /// Failed authentications per source per minute.
    pub auth_failures_per_minute: u32,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// The bearer token `/metrics` asks for (env `GDPR_HTTP__METRICS_TOKEN`); unset: open in
    /// the embedded profile, off in production.
    pub metrics_token: Option<SecretString>,
}

/// `[jobs]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Run scheduler and worker in-process.
    pub enabled: bool,
    /// Seconds between polls.
    pub poll_interval_seconds: u64,
    /// Seconds a claimed job stays its worker's without news before another may take it.
    pub lease_seconds: u64,
}

/// `[mail]`: how the service sends e-mail (the request portal's one-time codes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `outbox` (files) or `smtp`.
    pub transport: MailTransport,
    /// Where the outbox writes its `.eml` files.
    pub outbox_dir: PathBuf,
    /// The sender: `Name <address>` or `address`.
    pub from: String,
    /// The relay, for `transport = "smtp"`.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

/// How e-mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Written as `.eml` files into `outbox_dir` (the embedded default; nothing is sent).
    Outbox,
    /// Through an SMTP relay.
    Smtp,
}

/// `[mail.smtp]`: the relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Its host name (checked against its certificate).
    pub host: String,
    /// Its port (587 for `starttls`, 465 for `implicit`).
    pub port: u16,
    /// `starttls`, `implicit`, or `none` (a relay on this host only).
    pub tls: SmtpTls,
    /// The account, if the relay asks for one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password (env `GDPR_MAIL__SMTP__PASSWORD`).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Seconds each SMTP command may take.
    #[serde(default = "smtp_timeout")]
    pub timeout_seconds: u64,
}

const fn smtp_timeout() -> u64 {
    10
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain, then `STARTTLS`, which the relay must offer.
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// None: a relay on the loopback interface only.
    None,
}

/// `[portal]`: the request portal's one-time codes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// Minutes a code works.
    pub code_minutes: u32,
    /// Wrong codes that end a challenge.
    pub code_tries: u8,
    /// Codes sent to one address per hour.
    pub codes_per_address_per_hour: u32,
    /// Codes sent to one address per day.
    pub codes_per_address_per_day: u32,
    /// Codes asked for from one source (an IPv4 address, an IPv6 /64) per hour.
    pub codes_per_source_per_hour: u32,
    /// Codes sent for one tenant per hour, whatever the sources.
    pub codes_per_tenant_per_hour: u32,
}

impl PortalSettings {
    /// The application's setting.
    #[must_use]
    pub fn app_config(&self) -> gdpr_app::PortalConfig {
        gdpr_app::PortalConfig {
            code_ttl: time::Duration::minutes(i64::from(self.code_minutes.max(1))),
            code_tries: self.code_tries.max(1),
            codes_per_address: self.codes_per_address_per_hour.max(1),
            codes_per_address_per_day: self.codes_per_address_per_day.max(1),
            codes_per_source: self.codes_per_source_per_hour.max(1),
            codes_per_tenant: self.codes_per_tenant_per_hour.max(1),
            window: time::Duration::hours(1),
        }
    }
}

/// `[console]`: the console's sessions and sign-in limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Minutes a session may go unused before it ends.
    pub idle_minutes: u32,
    /// Hours a session lasts at most, however much it is used.
    pub session_hours: u32,
}

impl ConsoleSettings {
    /// The application's setting.
    #[must_use]
    pub fn app_config(&self) -> gdpr_app::ConsoleConfig {
        gdpr_app::ConsoleConfig {
            idle: time::Duration::minutes(i64::from(self.idle_minutes.max(1))),
            lifetime: time::Duration::hours(i64::from(self.session_hours.max(1))),
        }
    }
}

/// `[webhooks]`: the delivery worker and the addresses endpoints may reach.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Run the feeder and the delivery worker in this process (every replica may; each
    /// delivery is made by one).
    pub enabled: bool,
    /// Milliseconds between rounds when there is nothing to deliver.
    pub poll_interval_ms: u64,
    /// Seconds an attempt may take.
    pub timeout_seconds: u64,
    /// Deliveries claimed per round.
    pub batch: u32,
    /// Deliveries posted at once.
    pub concurrency: usize,
    /// Endpoints may be loopback, private or link-local addresses (receivers inside your
    /// network; tests). Off: a tenant cannot make the service call its own network.
    pub allow_private_addresses: bool,
    /// Endpoints may use plain `http` (only for receivers on private addresses).
    pub allow_http: bool,
}

impl WebhookSettings {
    /// The application's setting.
    #[must_use]
    pub fn app_config(&self) -> gdpr_app::WebhookConfig {
        gdpr_app::WebhookConfig {
            addresses: self.addresses(),
            // Past the attempt's timeout, with room: a worker that died loses its claim then.
            lease: time::Duration::seconds(
                i64::try_from(self.timeout_seconds).unwrap_or(30) * 2 + 5,
            ),
            batch: self.batch.max(1),
            concurrency: self.concurrency.max(1),
        }
    }

    /// What endpoints may reach.
    #[must_use]
    pub const fn addresses(&self) -> gdpr_webhooks::AddressPolicy {
        gdpr_webhooks::AddressPolicy {
            allow_private: self.allow_private_addresses,
            allow_http: self.allow_http && self.allow_private_addresses,
        }
    }
}

/// `[cache]`: API-key authentication and processing checks answered from memory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Whether to cache at all.
    pub enabled: bool,
    /// Seconds an entry is believed at most (the bound when a replica dies between its change
    /// and its message to the others).
    pub ttl_seconds: u64,
    /// Entries held at most.
    pub capacity: usize,
}

impl CacheConfig {
    /// The application's setting (none when off).
    #[must_use]
    pub fn hot_cache(&self) -> Option<gdpr_app::HotCacheConfig> {
        self.enabled.then(|| gdpr_app::HotCacheConfig {
            ttl: std::time::Duration::from_secs(self.ttl_seconds.max(1)),
            capacity: self.capacity.max(1),
        })
    }
}

/// `[logging]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `json` or `pretty`.
    pub format: String,
    /// Level filter.
    pub level: String,
    /// Where daily log files go, if anywhere.
    pub directory: Option<PathBuf>,
}

/// `[export]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    /// Armored public keys exports are encrypted to by default.
    pub recipients: Vec<String>,
    /// Hours an export waits to be downloaded before it is deleted unread.
    pub ttl_hours: u32,
}

/// `[signing]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// An armored OpenPGP secret key that signs every backup manifest, keyring shard, journal
    /// entry and export. Required in production; the embedded profile generates one.
    pub key_file: Option<PathBuf>,
    /// Its passphrase (env `GDPR_SIGNING__PASSPHRASE`).
    pub passphrase: Option<SecretString>,
    /// Where the embedded profile keeps the key it generates.
    pub generated_key_file: PathBuf,
    /// Armored OpenPGP public keys whose signatures are trusted besides the signing key's own
    /// (an operator's machine that verifies and restores without the secret key).
    pub trusted_keys: Vec<String>,
}

/// Where backups are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStorage {
    /// A folder of the local disk (the embedded default).
    Local,
    /// An S3 bucket, or any S3-protocol server.
    S3,
}

/// `[backups]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Whether backups are taken at all: turning them off is a statement the production
    /// profile asks for, never the silent result of a missing recipient.
    pub enabled: bool,
    /// `local` or `s3`.
    pub storage: BackupStorage,
    /// The folder for `local`.
    pub directory: PathBuf,
    /// The bucket for `s3`.
    pub s3: gdpr_backup_s3::S3Settings,
    /// Armored OpenPGP public keys backups are encrypted to; empty: no backup is taken.
    pub recipients: Vec<String>,
    /// The daily backup's UTC time, `HH:MM`; empty: no scheduled backup.
    pub daily_at: String,
    /// An armored OpenPGP secret key, for `gdpr verify` and `gdpr restore` only.
    pub decryption_key_file: Option<PathBuf>,
    /// Its passphrase (env `GDPR_BACKUPS__DECRYPTION_KEY_PASSPHRASE`).
    pub decryption_key_passphrase: Option<SecretString>,
    /// Where the backups are kept, for the register of processing and exports; empty: said
    /// from the storage (this host's disk, or the S3 region and endpoint).
    pub location: String,
    /// The country the backup storage is in (ISO 3166-1 alpha-2); unset: not stated, which
    /// the register and the daily attestation flag.
    pub country: Option<Country>,
    /// The ground a transfer outside the EEA rests on.
    pub safeguard: Safeguard,
    /// The contract with the storage provider (a reference).
    pub contract: Option<String>,
}

impl BackupSettings {
    /// Where the backups are kept, in words: the configured `location`, or what the storage
    /// says.
    #[must_use]
    pub fn location(&self) -> String {
        if !self.location.trim().is_empty() {
            return self.location.trim().to_owned();
        }
        match self.storage {
            BackupStorage::Local => "the service's own host (local disk)".to_owned(),
            BackupStorage::S3 => match &self.s3.endpoint {
                Some(endpoint) => format!(
                    "S3-compatible storage at {endpoint} (region {})",
                    self.s3.region
                ),
                None => format!("AWS S3, region {}", self.s3.region),
            },
        }
    }

    /// The daily backup's time, or `None` when it is off.
    ///
    /// # Errors
    /// When `daily_at` is neither empty nor `HH:MM`.
    pub fn daily_time(&self) -> Result<Option<time::Time>, ConfigError> {
        let text = self.daily_at.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let format = time::macros::format_description!("[hour]:[minute]");
        time::Time::parse(text, format)
            .map(Some)
            .map_err(|_| ConfigError("backups.daily_at: expected a UTC time as HH:MM, or \"\" to turn the daily backup off".into()))
    }
}

/// `[rollbar]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbarSettings {
    /// Send reports at all.
    pub enabled: bool,
    /// Rollbar's API address.
    pub endpoint: String,
    /// The environment reported.
    pub environment: String,
    /// The project token (`post_server_item`).
    pub access_token: Option<SecretString>,
    /// The account token (write), to forget people.
    pub account_token: Option<SecretString>,
    /// Reports waiting to be sent at most.
    pub queue: usize,
    /// Where Rollbar processes what it receives, for the register of processing and exports
    /// (Art. 30(1)(d)-(e), 15(1)(c)): name a transfer outside the EU and its safeguard.
    pub location: String,
    /// The country Rollbar processes in (ISO 3166-1 alpha-2).
    pub country: Option<Country>,
    /// The ground the transfer rests on (`none` is flagged by the register and the daily
    /// attestation).
    pub safeguard: Safeguard,
    /// The contract with Rollbar (a reference).
    pub contract: Option<String>,
}

/// `[[processors]]`: another processor of the whole deployment (an e-mail provider, a
/// hosting provider), listed in every tenant's register and access exports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Its name (an organisation).
    pub name: String,
    /// `processor` (the default), `sub_processor` or `recipient`.
    #[serde(default = "processor")]
    pub role: RecipientRole,
    /// What it receives and why.
    #[serde(default)]
    pub description: String,
    /// The categories of personal data it receives.
    #[serde(default)]
    pub categories: Vec<gdpr_pii::PiiCategory>,
    /// The country it processes in (ISO 3166-1 alpha-2); unset: not stated, and flagged.
    pub country: Option<Country>,
    /// Where, in more detail.
    pub location: Option<String>,
    /// The ground a transfer outside the EEA rests on.
    #[serde(default = "no_safeguard")]
    pub safeguard: Safeguard,
    /// The contract (a reference).
    pub contract: Option<String>,
}

const fn processor() -> RecipientRole {
    RecipientRole::Processor
}

const fn no_safeguard() -> Safeguard {
    Safeguard::None
}

/// The whole configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Embedded or production.
    pub profile: Profile,
    /// Database.
    pub database: DatabaseConfig,
    /// Keys and tokens.
    pub security: SecurityConfig,
    /// HTTP limits.
    pub http: HttpConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// The in-process cache of the hot path.
    pub cache: CacheConfig,
    /// Logs.
    pub logging: LoggingConfig,
    /// Default retention periods.
    pub retention: RetentionPolicy,
    /// IP pseudonymisation.
    pub pseudonymisation: PseudonymisationPolicy,
    /// Export encryption.
    pub export: ExportSettings,
    /// The error tracker.
    pub rollbar: RollbarSettings,
    /// Backup storage.
    pub backups: BackupSettings,
    /// Signing of what leaves.
    pub signing: SigningSettings,
    /// The deployment's other processors.
    #[serde(default)]
    pub processors: Vec<ProcessorSettings>,
    /// Webhooks.
    pub webhooks: WebhookSettings,
    /// E-mail (the request portal's codes).
    pub mail: MailSettings,
    /// The request portal.
    pub portal: PortalSettings,
    /// The console.
    pub console: ConsoleSettings,
}

/// A configuration that cannot be loaded, with the key at fault. Quoted values are redacted
/// from the message, since a mistyped value may be a secret.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// The message with every double-quoted value replaced by `…`; the quoted key name after
/// `for key` stays readable.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside: Option<bool> = None;
    for c in message.chars() {
        match (c, inside) {
            ('"', None) => {
                let keep = out.ends_with("key ");
                out.push('"');
                if !keep {
                    out.push('…');
                }
                inside = Some(keep);
            }
            ('"', Some(_)) => {
                out.push('"');
                inside = None;
            }
            (c, Some(true) | None) => out.push(c),
            (_, Some(false)) => {}
        }
    }
    out
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key that is missing, unknown or of the wrong type.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // GDPR_TEST_* variables belong to the test suites, not to the service.
        let env = Env::prefixed("GDPR_")
            .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .split("__");
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(without_values(&e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_defaults_load_and_describe_the_embedded_profile() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.profile, Profile::Embedded);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.database.url.starts_with("sqlite://data/"));
        assert_eq!(config.retention.backups.as_days(), 30);
        assert_eq!(config.backups.storage, BackupStorage::Local);
        assert_eq!(config.backups.directory, Path::new("data/backups"));
        assert!(config.security.master_key.is_none() && config.security.admin_token.is_none());
        // The portal's codes go to a folder: nothing to install; its limits are the app's.
        assert_eq!(config.mail.transport, MailTransport::Outbox);
        assert_eq!(config.mail.outbox_dir, Path::new("data/outbox"));
        assert_eq!(
            config.portal.app_config(),
            gdpr_app::PortalConfig::default()
        );
        assert_eq!(
            config.console.app_config(),
            gdpr_app::ConsoleConfig::default()
        );
    }

    #[test]
    fn a_file_overrides_the_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gdpr.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\n[security]\nmaster_key_file = \"k\"\nadmin_token = \"s3cret-token\"\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(
            config
                .security
                .admin_token
                .as_ref()
                .map(|t| t.expose_secret().len()),
            Some(12)
        );
        assert!(
            !format!("{config:?}").contains("s3cret-token"),
            "secrets never print"
        );
        std::fs::write(&file, "[http]\nbody_limit = \"s3cret-value\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(
            err.contains("body_limit") && !err.contains("s3cret-value"),
            "{err}"
        );
    }

    #[test]
    fn a_password_goes_into_a_postgres_url_that_has_none() {
        let db = |url: &str, password: Option<&str>| DatabaseConfig {
            url: url.into(),
            password: password.map(SecretString::from),
            max_connections: 1,
            acquire_timeout_seconds: 1,
            migrate_on_start: false,
        };
        let url = |d: DatabaseConfig| d.connect_url().expose_secret().to_owned();
        assert_eq!(
            url(db("postgres://gdpr@db:5432/gdpr", Some("pw"))),
            "postgres://gdpr:pw@db:5432/gdpr"
        );
        assert_eq!(
            url(db("postgres://gdpr:own@db/gdpr", Some("pw"))),
            "postgres://gdpr:own@db/gdpr"
        );
        assert_eq!(
            url(db("sqlite://data/x.db", Some("pw"))),
            "sqlite://data/x.db"
        );
    }
}
