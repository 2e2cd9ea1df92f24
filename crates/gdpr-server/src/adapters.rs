//! The adapters for features not configured in this deployment. Each one does what the
//! feature being off means — nothing is reported — and says so; none pretends to succeed at
//! something it did not do.

use async_trait::async_trait;
use gdpr_pii::SubjectId;
use gdpr_ports::{ErrorReport, ErrorReporter, ForgetOutcome, ReportError};

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

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl gdpr_ports::Clock for SystemClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}
