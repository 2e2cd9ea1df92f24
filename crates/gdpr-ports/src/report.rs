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

/// The HTTP request an error happened in, as an error tracker may see it: the adapter keeps
/// the path without its query string, scrubs sensitive headers and pseudonymises the address.
/// `Debug` shows header names only.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `GET`, `POST`...
    pub method: String,
    /// The path; a query string, if any, is dropped by the adapter.
    pub path: String,
    /// Request headers, scrubbed by the adapter.
    pub headers: Vec<(String, String)>,
    /// The client's address, pseudonymised by the adapter.
    pub client_ip: Option<gdpr_pii::IpAddress>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("RequestContext")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &names)
            .field("client_ip", &self.client_ip)
            .finish()
    }
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
    /// The request, when the error happened in one.
    pub request: Option<RequestContext>,
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

/// What a scan of the service's own log files found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogScan {
    /// Files read.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Lines holding something the redactor would have removed (an e-mail, an address): a
    /// leak of personal data into the logs.
    pub leaks: u64,
}

/// The service's own log files: scanned for personal data that escaped redaction (the
/// "canary scan" an attestation reports), and rid of an offboarded tenant's lines.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait LogScanner: Send + Sync {
    /// The scan's result; `None` when the service writes no log files (stdout only).
    ///
    /// # Errors
    /// A file that cannot be read, in words without personal data.
    async fn scan(&self) -> Result<Option<LogScan>, String>;

    /// Removes every line mentioning `tenant` from the log files (an offboarded tenant's);
    /// how many went (none without log files).
    ///
    /// # Errors
    /// A file that cannot be read or rewritten, in words without personal data.
    async fn forget_tenant(&self, tenant: gdpr_pii::TenantId) -> Result<u64, String>;
}
