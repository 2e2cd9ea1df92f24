//! An error tracker that records what it is told and can be made to fail.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use gdpr_pii::SubjectId;
use gdpr_ports::{ErrorReport, ErrorReporter, ForgetOutcome, ReportError};

#[derive(Debug, Default)]
struct State {
    reports: Vec<ErrorReport>,
    forgets: Vec<SubjectId>,
    failures_left: u32,
    forget_calls: usize,
}

/// Records reports and forget requests; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct RecordingErrorReporter(Arc<Mutex<State>>);

impl RecordingErrorReporter {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next `n` forget requests fail as if the tracker were down.
    pub fn fail_next_forgets(&self, n: u32) {
        self.state().failures_left = n;
    }

    /// Every report received.
    #[must_use]
    pub fn reports(&self) -> Vec<ErrorReport> {
        self.state().reports.clone()
    }

    /// How many times the tracker was asked to forget someone, failed attempts included.
    #[must_use]
    pub fn forget_calls(&self) -> usize {
        self.state().forget_calls
    }

    /// Every person the tracker was successfully asked to forget, in order.
    #[must_use]
    pub fn forgotten(&self) -> Vec<SubjectId> {
        self.state().forgets.clone()
    }
}

#[async_trait]
impl ErrorReporter for RecordingErrorReporter {
    fn report(&self, report: ErrorReport) {
        self.state().reports.push(report);
    }

    async fn forget_person(&self, person: SubjectId) -> Result<ForgetOutcome, ReportError> {
        let mut state = self.state();
        state.forget_calls += 1;
        if state.failures_left > 0 {
            state.failures_left -= 1;
            return Err(ReportError::Unavailable("connection refused".into()));
        }
        state.forgets.push(person);
        Ok(ForgetOutcome::Forgotten)
    }
}
