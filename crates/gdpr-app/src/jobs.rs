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
    /// Back up every tenant (then prune), daily at the configured UTC time.
    DailyBackup,
    /// Delete exports never downloaded, hourly.
    PruneExports,
    /// A batch erasure started through the API (not periodic).
    BatchErasure,
    /// A batch deletion of records started through the API (not periodic).
    RecordDeletion,
    /// Attest every tenant, daily, an hour after the daily backup's time.
    DailyAttestation,
}

impl JobKind {
    /// The periodic kinds, queued by the scheduler.
    const PERIODIC: [Self; 5] = [
        Self::ErasureRetry,
        Self::PruneBackups,
        Self::DailyBackup,
        Self::PruneExports,
        Self::DailyAttestation,
    ];

    /// The stored name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ErasureRetry => "erasure-retry",
            Self::PruneBackups => "prune-backups",
            Self::DailyBackup => "daily-backup",
            Self::PruneExports => "prune-exports",
            Self::BatchErasure => "batch-erasure",
            Self::RecordDeletion => "record-deletion",
            Self::DailyAttestation => "daily-attestation",
        }
    }

    const fn period(self) -> Duration {
        match self {
            Self::ErasureRetry => Duration::minutes(15),
            Self::PruneBackups | Self::DailyBackup | Self::DailyAttestation => Duration::DAY,
            Self::PruneExports => Duration::HOUR,
            // Queued on request, never by the scheduler.
            Self::BatchErasure | Self::RecordDeletion => Duration::WEEK,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::PERIODIC
            .into_iter()
            .chain([Self::BatchErasure, Self::RecordDeletion])
            .find(|k| k.name() == name)
    }

    /// The start of the slot `now` falls in; slots start `offset` after each period's start
    /// (the configured time of day of the daily backup).
    fn slot_at(self, now: OffsetDateTime, offset: Duration) -> OffsetDateTime {
        let period = self.period().whole_seconds();
        let t = now.unix_timestamp() - offset.whole_seconds();
        OffsetDateTime::from_unix_timestamp(t - t.rem_euclid(period) + offset.whole_seconds())
            .unwrap_or(now)
    }

    fn slot(self, now: OffsetDateTime) -> OffsetDateTime {
        self.slot_at(now, Duration::ZERO)
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
        for kind in JobKind::PERIODIC {
            let slot = match kind {
                // Only when backups can be taken: without a recipient nothing may leave.
                JobKind::DailyBackup => match self.config.backup_at {
                    Some(at) if !self.config.backup_recipients.is_empty() => {
                        let offset = Duration::hours(at.hour().into())
                            + Duration::minutes(at.minute().into());
                        kind.slot_at(now, offset)
                    }
                    _ => continue,
                },
                // After the backup it reports on (03:00 UTC when backups are not scheduled).
                JobKind::DailyAttestation => {
                    let backup = self.config.backup_at.map_or(Duration::hours(2), |at| {
                        Duration::hours(at.hour().into()) + Duration::minutes(at.minute().into())
                    });
                    let offset = (backup + Duration::HOUR).whole_seconds().rem_euclid(86_400);
                    kind.slot_at(now, Duration::seconds(offset))
                }
                _ => kind.slot(now),
            };
            // The slot travels with the job: a retried daily backup skips the tenants
            // already backed up in it.
            let payload = serde_json::json!({ "slot": slot.unix_timestamp() }).to_string();
            if self
                .store
                .enqueue(kind.id(slot), kind.name(), &payload, slot)
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
            .claim(worker, now, self.config.job_lease)
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
            Some(JobKind::DailyBackup) => self.daily_backup(&job, worker).await,
            Some(JobKind::BatchErasure) => self
                .run_batch_erasure(&job, worker)
                .await
                .map_err(|e| e.to_string()),
            Some(JobKind::RecordDeletion) => self
                .run_record_deletion(&job, worker)
                .await
                .map_err(|e| e.to_string()),
            Some(JobKind::PruneExports) => self
                .prune_exports()
                .await
                .map(|n| format!("{n} expired exports deleted"))
                .map_err(|e| e.to_string()),
            Some(JobKind::DailyAttestation) => self.daily_attestation(&job, worker).await,
            None => Err(format!("unknown job kind '{}'", job.kind)),
        };
        match &outcome {
            Ok(summary) => self.store.complete(job.id, worker, summary).await,
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

    /// As for the daily backup: a tenant whose attestation could not be written is reported
    /// and does not fail the job (a retry would attest every other tenant twice); each tenant
    /// done renews the lease. A failing check is reported too: it is what an operator must see.
    async fn daily_attestation(
        &self,
        job: &gdpr_ports::Job,
        worker: &str,
    ) -> Result<String, String> {
        let results = self
            .attest_every_tenant(|done, total| {
                self.progress(job.id, worker, done as u64, total as u64)
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut failing = 0;
        let mut unwritten = 0;
        for (tenant, result) in &results {
            let problem = match result {
                Ok(a) if a.holds() => continue,
                Ok(a) => {
                    failing += 1;
                    let kinds: Vec<String> = a
                        .checks
                        .iter()
                        .filter(|c| c.verdict == gdpr_audit::Verdict::Fail)
                        .map(|c| format!("{:?}", c.kind))
                        .collect();
                    format!("failing checks: {}", kinds.join(", "))
                }
                Err(e) => {
                    unwritten += 1;
                    format!("not written: {e}")
                }
            };
            self.report_error(gdpr_ports::ErrorReport {
                level: gdpr_ports::ReportLevel::Warning,
                message: "a tenant's daily attestation does not hold".into(),
                person: None,
                context: [
                    ("tenant".to_owned(), tenant.to_string()),
                    ("problem".to_owned(), problem),
                ]
                .into(),
                request: None,
            });
        }
        Ok(format!(
            "{} tenants attested, {failing} with a failing check, {unwritten} not written",
            results.len() - unwritten
        ))
    }

    /// Backs up every tenant not yet backed up since the job's slot, so that a retry (or a
    /// replica taking over) does not back up anyone twice. One tenant's failure does not stop
    /// the others; it is reported, and then the job fails so that the queue runs it again a
    /// minute later, for the failed tenants only. The newest-backup check of the attestations
    /// catches a tenant still without one after the last attempt.
    async fn daily_backup(&self, job: &gdpr_ports::Job, worker: &str) -> Result<String, String> {
        let slot = serde_json::from_str::<serde_json::Value>(&job.payload)
            .ok()
            .and_then(|p| p["slot"].as_i64())
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let progress = std::sync::Arc::default();
        let tenants = self.tenants().await.map_err(|e| e.to_string())?;
        let mut results = Vec::with_capacity(tenants.len());
        let mut skipped = 0;
        for (i, tenant) in tenants.iter().enumerate() {
            // Within the slot's day only: a backup stamped later (a clock stepped back, a
            // `gdpr backup` on a host whose clock runs ahead) must not stand for every slot
            // until then.
            let done_in_slot = match slot {
                Some(slot) => self.list_backups(tenant.id).await.map(|backups| {
                    backups
                        .iter()
                        .any(|b| b.created_at >= slot && b.created_at < slot + Duration::DAY)
                }),
                None => Ok(false),
            };
            let result = match done_in_slot {
                Ok(true) => {
                    skipped += 1;
                    None
                }
                Ok(false) => {
                    let backed_up = self.back_up_tenant(tenant.id, &progress).await;
                    if backed_up.is_ok()
                        && let Err(e) = self.prune_backups(tenant.id, false).await
                    {
                        // Reported, not a failure: a retry would skip the tenant (it is backed
                        // up), and the daily prune job runs again anyway.
                        self.report_error(gdpr_ports::ErrorReport {
                            level: gdpr_ports::ReportLevel::Warning,
                            message: "a tenant's backups could not be pruned".into(),
                            person: None,
                            context: [
                                ("tenant".to_owned(), tenant.id.to_string()),
                                ("error".to_owned(), e.for_operators()),
                            ]
                            .into(),
                            request: None,
                        });
                    }
                    Some(backed_up)
                }
                Err(e) => Some(Err(e)),
            };
            if let Some(result) = result {
                results.push((tenant.id, result));
            }
            // Each tenant done renews the lease: a long run is not taken over half-way.
            self.progress(job.id, worker, i as u64 + 1, tenants.len() as u64)
                .await
                .map_err(|e| e.to_string())?;
        }
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        for (tenant, result) in &results {
            if let Err(e) = result {
                self.report_error(gdpr_ports::ErrorReport {
                    level: gdpr_ports::ReportLevel::Error,
                    message: "a tenant's daily backup failed".into(),
                    person: None,
                    context: [
                        ("tenant".to_owned(), tenant.to_string()),
                        ("error".to_owned(), e.for_operators()),
                    ]
                    .into(),
                    request: None,
                });
            }
        }
        let summary = format!(
            "{} tenants backed up, {skipped} already backed up in this slot, {failed} failed",
            results.len() - failed
        );
        if failed == 0 {
            Ok(summary)
        } else {
            let first = results
                .iter()
                .find_map(|(t, r)| {
                    r.as_ref()
                        .err()
                        .map(|e| format!("tenant {t}: {}", e.for_operators()))
                })
                .unwrap_or_default();
            Err(format!("{summary} (first failure: {first})"))
        }
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
        // The daily backup at 02:30: before it, the slot is yesterday's.
        let at = Duration::hours(2) + Duration::minutes(30);
        let d = JobKind::DailyBackup;
        assert_eq!(
            d.slot_at(datetime!(2026-01-02 02:29 UTC), at),
            datetime!(2026-01-01 2:30 UTC)
        );
        assert_eq!(
            d.slot_at(datetime!(2026-01-02 02:30 UTC), at),
            datetime!(2026-01-02 2:30 UTC)
        );
        assert_eq!(
            d.slot_at(datetime!(2026-01-02 23:00 UTC), at),
            datetime!(2026-01-02 2:30 UTC)
        );
    }
}
