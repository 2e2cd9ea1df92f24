//! The use cases of the compliance core, written once over the ports.
//!
//! [`App`] is generic over a [`Ports`] bundle: the binary gives it SeaORM, S3, OpenPGP and
//! Rollbar adapters; tests and embedders give it `gdpr-testkit`'s in-memory fakes. Every
//! compliance rule lives here or in the domain crates, so it is tested without I/O.
//!
//! Every use case that reads or changes personal data appends to the hash-chained audit log.
//! Errors are [`AppError`]s that say what was wrong without repeating personal data.
//!
//! This crate must not name an adapter, a database, an HTTP framework or a runtime.
//!
//! Built over `gdpr-testkit`'s in-memory adapters (the binary gives it the real ones), the
//! whole core runs in a test or an embedding application:
//!
//! ```
//! use gdpr_app::{Adapters, App, AppConfig, AppError, Ctx, NewSubject};
//! use gdpr_audit::Actor;
//! use gdpr_consent::LawfulBasis;
//! use gdpr_rights::{ErasureStatus, Place};
//! use gdpr_testkit::{InMemory, ManualClock, RecordingEncryptor, fake};
//! use time::macros::datetime;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = App::<InMemory>::new(
//!     Adapters {
//!         store: Default::default(),
//!         backups: Default::default(),
//!         encryptor: RecordingEncryptor::default(),
//!         reporter: Default::default(),
//!         clock: ManualClock::at(datetime!(2026-12-06 10:00 UTC)),
//!         signer: Default::default(),
//!     },
//!     AppConfig::default(),
//! );
//! let tenant = app.create_tenant(Actor::Operator, "LogAlto SAS", "dpo@logalto.example").await?;
//! let ctx = Ctx::new(tenant.id, Actor::System);
//! app.define_purpose(ctx, "staff", "Managing contractors", LawfulBasis::Contract).await?;
//! let form = app
//!     .define_form(ctx, "Contractors", fake::contractors_schema().specs(), "staff")
//!     .await?;
//! let ada = app
//!     .register_subject(ctx, NewSubject { email: Some("ada@example.org".into()), ..Default::default() })
//!     .await?;
//! let record = serde_json::json!({"email": "ada@example.org", "full_name": "Ada Lovelace"});
//! app.submit_record(ctx, form.id, ada.id, &record).await?;
//!
//! // Erased everywhere it went, with a receipt that says so place by place.
//! let receipt = app.erase_subject(ctx, ada.id, None).await?;
//! assert_eq!(receipt.status(), ErasureStatus::Complete);
//! assert!(receipt.places.iter().any(|p| p.place == Place::Records));
//! assert!(matches!(app.subject(ctx, ada.id).await, Err(AppError::NotFound(_))));
//! # Ok::<(), AppError>(())
//! # }).unwrap();
//! ```

mod attest;
mod audit;
mod auditor;
mod auth;
pub mod backup;
mod batch_erasure;
mod batch_job;
mod breaches;
mod cache;
mod consent;
pub mod console;
mod deadlines;
mod erasure;
mod error;
mod export;
mod export_delivery;
mod forms;
mod inquiries;
mod jobs;
mod limits;
mod objects;
mod offboarding;
pub mod portal;
mod recipients;
mod record_deletion;
mod register;
mod requests;
mod retention;
mod subjects;
mod tenants;
mod webhooks;

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{PseudonymisationPolicy, SubjectId, TenantId};
use gdpr_ports::{AuditLog, Clock, Ports};
use gdpr_retention::RetentionPolicy;

pub use attest::VERIFIED_BACKUP_MAX_AGE;
pub use auditor::{ConsentEventPage, Period, consent_events_csv, requests_csv};
pub use auth::{Authenticated, IssuedKey, TOKEN_PREFIX};
pub use backup::{
    BackupDeletionReceipt, BackupEntry, BackupLayout, BackupReport, Progress, PruneReport,
    RestoreReport, VerifyOutcome,
};
pub use batch_erasure::{BatchErasure, BatchSummary};
pub use batch_job::BatchJob;
pub use breaches::{BreachScope, BreachView, NotificationDraft};
pub use cache::HotCacheConfig;
pub use consent::{ConsentView, GiveConsent};
pub use console::{
    ConsoleConfig, ConsoleRole, ConsoleSession, ConsoleUser, IssuedConsoleUser, OperatorSession,
    SignedIn,
};
pub use deadlines::{DUE_SOON, DeadlineReport};
pub use erasure::{BatchPlan, RetryReport};
pub use error::AppError;
pub use export::{EXPORT_SCHEMA_VERSION, ExportBundle};
pub use export_delivery::{ExportFormat, ExportTicket};
pub use forms::{ReadUse, RecordList};
pub use gdpr_ports as ports;
pub use inquiries::{InquiryOutcome, InquiryView, SEARCH_METHOD};
pub use jobs::{JobKind, JobRun, LEASE as JOB_LEASE};
pub use limits::ProcessingCheck;
pub use offboarding::OffboardingReceipt;
pub use portal::{Lang, PortalAnswer, PortalConfig, PortalTicket};
pub use recipients::{KeptBy, RecipientEntry};
pub use record_deletion::{RecordDeletion, RecordDeletionPlan};
pub use register::{ProcessingActivity, Register};
pub use requests::RequestView;
pub use retention::{ExpiryReport, FormExpiry, FormRetention, RetentionView};
pub use subjects::{NewSubject, Rectification};
pub use webhooks::{
    ConfirmedErasure, DEPLOYMENT_DELIVERIES, DeliveryRound, EndpointScope, EndpointView,
    ErasureConfirmation, IssuedEndpoint, NewEndpoint, SignedMessage, WebhookConfig,
};

/// Who is acting, for which tenant: every tenant use case takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// The tenant the caller is scoped to.
    pub tenant: TenantId,
    /// The caller.
    pub actor: Actor,
}

impl Ctx {
    /// A context.
    #[must_use]
    pub const fn new(tenant: TenantId, actor: Actor) -> Self {
        Self { tenant, actor }
    }
}

/// Deployment-wide settings the use cases need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// How IP addresses are truncated for consent proofs and logs.
    pub pseudonymisation: PseudonymisationPolicy,
    /// The deployment's retention periods; a tenant (and a form) may set its own.
    pub retention: RetentionPolicy,
    /// The deployment's processors and recipients (from configuration): every tenant's
    /// register, access exports and attestation list them before the tenant's own.
    pub recipients: Vec<gdpr_rights::Recipient>,
    /// Technical and organisational security measures (Art. 30(1)(g), Art. 32).
    pub security_measures: Vec<String>,
    /// ASCII-armored OpenPGP public keys backups are encrypted to. Empty: no backup is taken
    /// (nothing leaves in clear).
    pub backup_recipients: Vec<String>,
    /// Backups turned off on purpose (`backups.enabled = false`): the attestation then says
    /// their check does not apply instead of failing it.
    pub backups_disabled: bool,
    /// The UTC time of day of the daily backup job; `None`: no scheduled backup.
    pub backup_at: Option<time::Time>,
    /// How long an export waits to be downloaded before it is deleted unread.
    pub export_ttl: time::Duration,
    /// How long a claimed job belongs to its worker without news before another worker may
    /// take it over (a worker that died: a crash, `kill -9`).
    pub job_lease: time::Duration,
    /// Whether decisions are written to the decision journal before they are made. Always
    /// on in a deployment; off only to measure what the journal costs (benchmarks): every
    /// decision is then lost by a restore.
    pub journal_decisions: bool,
    /// The in-process cache of API keys and processing checks (none: every answer is read
    /// from the database). It answers only once told its watcher of other replicas' changes
    /// is up ([`App::cache_signal`]).
    pub hot_cache: Option<HotCacheConfig>,
    /// Webhooks: the addresses endpoints may reach, the delivery worker's lease and batch.
    pub webhooks: WebhookConfig,
    /// The request portal's codes: how long they work, how many are sent.
    pub portal: PortalConfig,
    /// The console's sessions and sign-in limits.
    pub console: ConsoleConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            pseudonymisation: PseudonymisationPolicy::default(),
            retention: RetentionPolicy::default(),
            // The deployment's processors are the configuration's to name.
            recipients: Vec::new(),
            security_measures: vec![
                "personal fields encrypted at rest under a per-subject key (AEAD)".into(),
                "e-mail look-ups through a keyed blind index, never plaintext".into(),
                "exports and off-site backups OpenPGP-encrypted to configured recipients".into(),
                "logs and error reports redacted; IP addresses pseudonymised".into(),
                "hash-chained, verifiable audit log of every access to personal data".into(),
                "erasure by deletion and crypto-shredding of the subject's data key".into(),
                "per-tenant API keys, stored hashed; tenants isolated from each other".into(),
            ],
            backup_recipients: Vec::new(),
            backups_disabled: false,
            backup_at: Some(time::macros::time!(02:00)),
            export_ttl: time::Duration::hours(72),
            job_lease: jobs::LEASE,
            journal_decisions: true,
            hot_cache: Some(HotCacheConfig::default()),
            webhooks: WebhookConfig::default(),
            portal: PortalConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

/// The adapters an [`App`] runs on.
pub struct Adapters<P: Ports> {
    /// Storage and audit log.
    pub store: P::Store,
    /// Object storage for backups.
    pub backups: P::Backups,
    /// Encryption of what leaves.
    pub encryptor: P::Encryptor,
    /// Error tracker.
    pub reporter: P::Reporter,
    /// Clock.
    pub clock: P::Clock,
    /// Signatures on what is written outside the database (backups, the decision journal).
    pub signer: P::Signer,
}

/// The compliance core: every use case, over the adapters in `P`.
pub struct App<P: Ports> {
    store: P::Store,
    backups: P::Backups,
    encryptor: P::Encryptor,
    reporter: P::Reporter,
    clock: P::Clock,
    signer: P::Signer,
    /// Each tenant's decision journal head, as this process last saw it.
    journal_heads: backup::journal::Heads,
    /// Each audit chain's head as this process last found it intact: where the next
    /// incremental verification starts.
    verified_chains: VerifiedChains,
    /// API keys and processing checks, from memory.
    cache: cache::HotCache,
    config: AppConfig,
    /// The canary scan of the service's log files, for attestations (none: not reported).
    log_scanner: Option<std::sync::Arc<dyn gdpr_ports::LogScanner>>,
    /// Sends the request portal's codes (none: the portal cannot send, and says so).
    mailer: Option<std::sync::Arc<dyn gdpr_ports::Mailer>>,
    /// The portal's codes sent per address and per source, in this replica's memory.
    portal_limits: portal::PortalLimits,
}

/// Audit chains found intact, by chain (`None`: the system chain).
type VerifiedChains = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<Option<TenantId>, gdpr_audit::ChainHead>>,
>;

impl<P: Ports> App<P> {
    /// An application over these adapters.
    #[must_use]
    pub fn new(adapters: Adapters<P>, config: AppConfig) -> Self {
        Self {
            store: adapters.store,
            backups: adapters.backups,
            encryptor: adapters.encryptor,
            reporter: adapters.reporter,
            clock: adapters.clock,
            signer: adapters.signer,
            journal_heads: backup::journal::Heads::default(),
            verified_chains: VerifiedChains::default(),
            cache: cache::HotCache::new(config.hot_cache),
            config,
            log_scanner: None,
            mailer: None,
            portal_limits: portal::PortalLimits::default(),
        }
    }

    /// The same application, with the scanner of its log files that attestations report on.
    #[must_use]
    pub fn with_log_scanner(mut self, scanner: std::sync::Arc<dyn gdpr_ports::LogScanner>) -> Self {
        self.log_scanner = Some(scanner);
        self
    }

    /// The mailer the request portal sends its codes with.
    #[must_use]
    pub fn with_mailer(mut self, mailer: std::sync::Arc<dyn gdpr_ports::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Now, by the application's clock (pages say how old things are by it).
    #[must_use]
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Hands an unexpected failure to the error tracker. Never blocks and never fails: the
    /// adapter queues it (and scrubs it) or drops and counts it.
    pub fn report_error(&self, report: gdpr_ports::ErrorReport) {
        gdpr_ports::ErrorReporter::report(&self.reporter, report);
    }

    fn event(&self, ctx: Ctx, action: AuditAction) -> AuditEvent {
        AuditEvent::new(self.clock.now(), Some(ctx.tenant), ctx.actor, action)
    }

    async fn audit(&self, event: AuditEvent) -> Result<(), AppError> {
        self.store
            .append_audit(event)
            .await
            .map(drop)
            .map_err(AppError::store)
    }

    async fn audit_about(
        &self,
        ctx: Ctx,
        action: AuditAction,
        subject: SubjectId,
        details: &[(&str, &(dyn std::fmt::Display + Sync))],
    ) -> Result<(), AppError> {
        let mut event = self.event(ctx, action).about(subject);
        for (key, value) in details {
            event = event.with(key, value);
        }
        self.audit(event).await
    }
}
