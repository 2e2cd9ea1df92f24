//! In-memory fakes of every port, builders, and fake personal data.
//!
//! [`InMemory`] is a [`gdpr_ports::Ports`] whose adapters keep everything in memory and behave
//! like the real ones where it matters to the rules: tenant scoping (another tenant's id is not
//! found), e-mail uniqueness, immutable consent-form versions, one atomic erasure, a chained
//! audit log, objects visible only once fully written, encryption that fails closed. Each fake
//! also lets a test reach in: make storage unavailable, make the error tracker fail, move the
//! clock, tamper with the audit log. Use them in unit tests and when embedding the domain; never
//! as a stand-in for an adapter's own tests.
//!
//! For those, it also holds real parts: [`GpgHome`] (the real `gpg` in a throwaway home) and,
//! with the `s3` feature, an S3-protocol server on 127.0.0.1 (`s3`); with the `smtp` feature,
//! an SMTP server on 127.0.0.1 (`smtp`); with the `postgres`
//! feature, throwaway databases on the test PostgreSQL server (`postgres`).

mod backup;
mod clock;
mod encrypt;
pub mod fake;
mod gpg;
#[cfg(feature = "load")]
pub mod load;
pub mod mail;
#[cfg(feature = "postgres")]
pub mod postgres;
mod report;
#[cfg(feature = "s3")]
pub mod s3;
mod sign;
mod snapshot;
mod store;
mod webhook;

pub use backup::MemoryObjectStore;
pub use clock::ManualClock;
pub use encrypt::{EnvelopeDecryptor, RecordingEncryptor};
pub use gpg::GpgHome;
pub use mail::RecordingMailer;
#[cfg(feature = "smtp")]
pub use mail::smtp;
pub use report::RecordingErrorReporter;
pub use sign::HmacSigner;
pub use snapshot::assert_snapshot;
pub use store::{FAKE_SCHEMA_VERSION, InMemoryStore};
pub use webhook::{Posted, RecordingWebhookSender};

/// The in-memory [`gdpr_ports::Ports`].
#[derive(Debug, Clone, Copy)]
pub struct InMemory;

impl gdpr_ports::Ports for InMemory {
    type Store = InMemoryStore;
    type Backups = MemoryObjectStore;
    type Encryptor = RecordingEncryptor;
    type Reporter = RecordingErrorReporter;
    type Clock = ManualClock;
    type Signer = HmacSigner;
}
