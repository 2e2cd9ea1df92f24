//! The ports: what the compliance core needs from the world, as traits.
//!
//! Storage (tenants, subjects, forms, records, consents, requests, legal holds, keys,
//! tombstones and erasure receipts; registers kept as documents), the audit log, invalidations of other replicas' caches, object storage for backups, encryption of
//! what leaves, signatures on what is written outside the database, e-mail, error reporting
//! and the clock. Adapters implement them (`gdpr-store-seaorm`,
//! `gdpr-backup-s3`, `gdpr-crypto-openpgp`, `gdpr-report-rollbar`, the in-memory fakes of
//! `gdpr-testkit`); `gdpr-app` uses them and never names an adapter.
//!
//! Each method's `# Errors` section says which errors a caller must expect. With the `mocks`
//! feature every trait has a mockall mock (`MockSubjectStore`, ...). This crate does no I/O.
#![deny(missing_docs)]

mod backup;
mod cache;
mod clock;
mod documents;
mod dump;
mod encrypt;
mod jobs;
mod keys;
mod mail;
mod report;
mod sign;
mod store;
mod webhooks;

pub use backup::{BackupError, BackupStore, ByteStream, ObjectMeta, check_object_key};
pub use cache::{CacheBus, CacheSignal, Invalidation};
pub use clock::Clock;
pub use documents::{Document, DocumentKind, DocumentStore, Owner};
pub use dump::{DumpItem, DumpRow, DumpStream, RestoredCounts, RowStream, TenantDumps, WrappedKey};
pub use encrypt::{DecryptError, Decryptor, EncryptError, Encryptor, Recipients};
pub use jobs::{Job, JobQueue, JobState, JobStatus, MAX_ATTEMPTS, QueueDepth};
pub use keys::{ApiKeyRecord, ApiKeyStore};
pub use mail::{Mail, MailError, Mailer};
pub use report::{
    ErrorReport, ErrorReporter, ForgetOutcome, LogScan, LogScanner, ReportError, ReportLevel,
    RequestContext,
};
pub use sign::{SignError, Signer};
pub use store::{
    AttestationLog, AuditLog, ConsentStore, Cursor, Erased, ErasedCounts, Erasure, ErasureStore,
    FormStore, LegalHoldStore, Offboarding, Page, PolicyOverride, ProcessingLimitStore,
    REQUEST_CHANGED, RecordCount, RecordRef, RecordStore, RequestStore, Storage, StoreError,
    SubjectStore, TenantStore,
};
pub use webhooks::{Attempt, Delivery, DeliveryFilter, DeliveryState, WebhookSender, WebhookStore};

#[cfg(feature = "mocks")]
pub use backup::MockBackupStore;
#[cfg(feature = "mocks")]
pub use cache::MockCacheBus;
#[cfg(feature = "mocks")]
pub use clock::MockClock;
#[cfg(feature = "mocks")]
pub use documents::MockDocumentStore;
#[cfg(feature = "mocks")]
pub use dump::MockTenantDumps;
#[cfg(feature = "mocks")]
pub use encrypt::{MockDecryptor, MockEncryptor};
#[cfg(feature = "mocks")]
pub use jobs::MockJobQueue;
#[cfg(feature = "mocks")]
pub use keys::MockApiKeyStore;
#[cfg(feature = "mocks")]
pub use mail::MockMailer;
#[cfg(feature = "mocks")]
pub use report::{MockErrorReporter, MockLogScanner};
#[cfg(feature = "mocks")]
pub use sign::MockSigner;
#[cfg(feature = "mocks")]
pub use store::{
    MockAttestationLog, MockAuditLog, MockConsentStore, MockErasureStore, MockFormStore,
    MockLegalHoldStore, MockProcessingLimitStore, MockRecordStore, MockRequestStore,
    MockSubjectStore, MockTenantStore,
};
#[cfg(feature = "mocks")]
pub use webhooks::{MockWebhookSender, MockWebhookStore};

/// The set of adapters an application runs on, named once so that use cases take one type
/// parameter instead of five. The binary's composition root and `gdpr-testkit` implement it.
pub trait Ports: Send + Sync + 'static {
    /// Storage and the audit log.
    type Store: Storage + 'static;
    /// Object storage for backups.
    type Backups: BackupStore + 'static;
    /// Encryption of what leaves.
    type Encryptor: Encryptor + 'static;
    /// The error tracker.
    type Reporter: ErrorReporter + 'static;
    /// The clock.
    type Clock: Clock + 'static;
    /// Signatures on what is written outside the database.
    type Signer: Signer + 'static;
}
