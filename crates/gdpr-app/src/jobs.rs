//! Background work through the durable jobs queue: what is scheduled when, and how a worker
//! runs one job.
//!
//! Every replica runs the same scheduler. A periodic job's id is derived from its kind and its
//! time slot, so all replicas queue the same id and the queue keeps one; workers then claim
//! jobs one at a time, so each runs exactly once even with several replicas.

use gdpr_ports::{Clock, JobQueue, Ports};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{App, AppError};

/// How long a claimed job belongs to its worker before another may take it over.
pub const LEASE: Duration = Duration::minutes(10);

/// The kinds of background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Retry erasure steps that failed (the error tracker was down), every 15 minutes.
    ErasureRetry,
    /// Prune every tenant's backups past retention, daily.
    PruneBackups,
}

impl JobKind {
    const ALL: [Self; 2] = [Self::ErasureRetry, Self::PruneBackups];

    /// The stored name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ErasureRetry => "erasure-retry",
            Self::PruneBackups => "prune-backups",
        }
    }

    const fn period(self) -> Duration {
        match self {
            Self::ErasureRetry => Duration::minutes(15),
            Self::PruneBackups => Duration::DAY,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The start of the slot `now` falls in.
    fn slot(self, now: OffsetDateTime) -> OffsetDateTime {
        let period = self.period().whole_seconds();
        let t = now.unix_timestamp();
        OffsetDateTime::from_unix_timestamp(t - t.rem_euclid(period)).unwrap_or(now)
    }

    /// The job id every replica computes for this slot.
    fn id(self, slot: OffsetDateTime) -> Uuid {
        let digest = Sha256::digest(format!("{}|{}", self.name(), slot.unix_timestamp()));
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }
}

/// What running one job came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    /// The job.
    pub job: Uuid,
    /// Its kind, as stored.
    pub kind: String,
    /// A summary of what it did, or why it failed (no personal data either way).
    pub outcome: Result<String, String>,
}

impl<P: Ports> App<P> {
    /// Queues the periodic jobs of the current slots (idempotent across replicas). Returns how
    /// many were newly queued.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn schedule_due_jobs(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut queued = 0;
        for kind in JobKind::ALL {
            let slot = kind.slot(now);
            if self
                .store
                .enqueue(kind.id(slot), kind.name(), "{}", slot)
                .await
                .map_err(AppError::store)?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Claims and runs one due job, if any. A failed job is queued again a minute later,
    /// up to five attempts.
    ///
    /// # Errors
    /// Storage errors of the queue itself (the job's own failure is in [`JobRun::outcome`]).
    pub async fn run_next_job(&self, worker: &str) -> Result<Option<JobRun>, AppError> {
        let now = self.clock.now();
        let Some(job) = self
            .store
            .claim(worker, now, LEASE)
            .await
            .map_err(AppError::store)?
        else {
            return Ok(None);
        };
        let outcome = match JobKind::parse(&job.kind) {
            Some(JobKind::ErasureRetry) => self
                .retry_pending_erasures()
                .await
                .map(|r| {
                    format!(
                        "{} receipts, {} attempts, {} completed",
                        r.receipts, r.attempts, r.completed
                    )
                })
                .map_err(|e| e.to_string()),
            Some(JobKind::PruneBackups) => self.prune_all_backups().await,
            None => Err(format!("unknown job kind '{}'", job.kind)),
        };
        match &outcome {
            Ok(_) => self.store.complete(job.id, worker).await,
            Err(error) => {
                let retry = (job.attempts < 5).then(|| now + Duration::minutes(1));
                self.store.fail(job.id, worker, error, retry).await
            }
        }
        .map_err(AppError::store)?;
        Ok(Some(JobRun {
            job: job.id,
            kind: job.kind,
            outcome,
        }))
    }

    async fn prune_all_backups(&self) -> Result<String, String> {
        let reports = self
            .prune_every_tenant(false)
            .await
            .map_err(|e| e.to_string())?;
        let deleted: usize = reports.iter().map(|r| r.plan.delete.len()).sum();
        Ok(format!(
            "{} tenants, {deleted} backups pruned",
            reports.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn slots_and_ids_are_the_same_on_every_replica() {
        let k = JobKind::ErasureRetry;
        let a = k.slot(datetime!(2026-01-01 10:07:59 UTC));
        let b = k.slot(datetime!(2026-01-01 10:00:00 UTC));
        assert_eq!(a, b);
        assert_eq!(k.id(a), k.id(b));
        let next = k.slot(datetime!(2026-01-01 10:15:00 UTC));
        assert_ne!(k.id(a), k.id(next));
        assert_ne!(JobKind::PruneBackups.id(a), k.id(a));
        assert_eq!(
            JobKind::PruneBackups.slot(datetime!(2026-01-01 23:59 UTC)),
            datetime!(2026-01-01 0:00 UTC)
        );
    }
}
