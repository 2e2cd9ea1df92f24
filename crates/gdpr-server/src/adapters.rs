//! The adapters for features not configured in this deployment. Each one does what the
//! feature being off means — nothing is reported, no backup exists — and says so; none pretends
//! to succeed at something it did not do.

use async_trait::async_trait;
use gdpr_pii::SubjectId;
use gdpr_ports::{
    BackupError, BackupStore, ByteStream, ErrorReport, ErrorReporter, ForgetOutcome, ObjectMeta,
    ReportError,
};

/// No error tracker is configured: nothing is ever sent, so there is nothing to forget.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoErrorTracker;

#[async_trait]
impl ErrorReporter for NoErrorTracker {
    fn report(&self, _report: ErrorReport) {}

    async fn forget_person(&self, _person: SubjectId) -> Result<ForgetOutcome, ReportError> {
        Ok(ForgetOutcome::NotConfigured)
    }
}

/// The error tracker a deployment reports to: Rollbar, or none.
#[derive(Debug, Clone)]
pub enum Reporter {
    /// Nothing is sent.
    Off(NoErrorTracker),
    /// Rollbar.
    Rollbar(gdpr_report_rollbar::RollbarReporter),
}

#[async_trait]
impl ErrorReporter for Reporter {
    fn report(&self, report: ErrorReport) {
        match self {
            Self::Off(r) => r.report(report),
            Self::Rollbar(r) => r.report(report),
        }
    }

    async fn forget_person(&self, person: SubjectId) -> Result<ForgetOutcome, ReportError> {
        match self {
            Self::Off(r) => r.forget_person(person).await,
            Self::Rollbar(r) => r.forget_person(person).await,
        }
    }
}

/// No backup storage is configured: there are no backups to list or prune, and writing one
/// is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBackupStorage;

fn off() -> BackupError {
    BackupError::Unavailable("no backup storage is configured".into())
}

#[async_trait]
impl BackupStore for NoBackupStorage {
    async fn put(&self, _key: &str, _body: ByteStream) -> Result<ObjectMeta, BackupError> {
        Err(off())
    }

    async fn get(&self, key: &str) -> Result<ByteStream, BackupError> {
        Err(BackupError::NotFound(key.to_owned()))
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<ObjectMeta>, BackupError> {
        Ok(Vec::new())
    }

    async fn delete(&self, _key: &str) -> Result<(), BackupError> {
        Ok(())
    }
}

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl gdpr_ports::Clock for SystemClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}
