//! Error reporting to a tracker (Rollbar), and asking it to forget a person.

use std::collections::BTreeMap;

use async_trait::async_trait;
use gdpr_pii::SubjectId;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportLevel {
    /// A failure that needs attention.
    Error,
    /// A crash.
    Critical,
    /// Worth knowing.
    Warning,
}

/// An error report, built without personal data: messages are redacted before they get here,
/// and the person is a pseudonymous subject id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// How bad.
    pub level: ReportLevel,
    /// The redacted message.
    pub message: String,
    /// The subject concerned, by pseudonymous id.
    pub person: Option<SubjectId>,
    /// Non-personal context (route, request id, error kind).
    pub context: BTreeMap<String, String>,
}

/// What a forget request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgetOutcome {
    /// The tracker confirmed the person's data is deleted.
    Forgotten,
    /// The tracker accepted the deletion job; it will finish on its side.
    Accepted {
        /// The tracker's job id.
        job: String,
    },
    /// Error reporting is not configured: nothing was ever sent.
    NotConfigured,
}

/// What a forget request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The tracker could not be reached or answered with an error; retry later.
    #[error("error tracker unavailable: {0}")]
    Unavailable(String),
    /// The tracker refused the credentials.
    #[error("error tracker refused the credentials")]
    Unauthorized,
}

/// An error tracker.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ErrorReporter: Send + Sync {
    /// Queues a report. Never blocks the caller on the network and never fails: a report that
    /// cannot be delivered is dropped and counted by the adapter.
    fn report(&self, report: ErrorReport);

    /// Asks the tracker to delete everything it holds about `person`.
    ///
    /// # Errors
    /// [`ReportError::Unavailable`] (retry later), [`ReportError::Unauthorized`].
    async fn forget_person(&self, person: SubjectId) -> Result<ForgetOutcome, ReportError>;
}
