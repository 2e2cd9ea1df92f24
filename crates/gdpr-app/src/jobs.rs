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
    /// Expire every tenant's records and inactive subjects, daily, half an hour after the
    /// daily backup's time.
    DailyExpiry,
    /// Delete the tenants whose offboarding grace period is over, hourly.
    Offboarding,
    /// Announce requests that come within a week of their due date or pass it, hourly.
    RequestDeadlines,
    /// Delete the request portal's inquiries whose code expired unanswered, hourly.
    PrunePortal,
}

impl JobKind {
    /// The periodic kinds, queued by the scheduler.
    const PERIODIC: [Self; 9] = [
        Self::ErasureRetry,
        Self::PruneBackups,
        Self::DailyBackup,
        Self::PruneExports,
        Self::DailyAttestation,
        Self::DailyExpiry,
        Self::Offboarding,
        Self::RequestDeadlines,
        Self::PrunePortal,
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
            Self::DailyExpiry => "daily-expiry",
            Self::Offboarding => "offboarding",
            Self::RequestDeadlines => "request-deadlines",
            Self::PrunePortal => "prune-portal",
        }
    }

    const fn period(self) -> Duration {
        match self {
            Self::ErasureRetry => Duration::minutes(15),
            Self::PruneBackups | Self::DailyBackup | Self::DailyAttestation | Self::DailyExpiry => {
                Duration::DAY
            }
            Self::PruneExports | Self::Offboarding | Self::RequestDeadlines | Self::PrunePortal => {
                Duration::HOUR
            }
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
    /// The hourly clean-up of what people left behind: unconfirmed portal inquiries and
    /// ended console sessions.
    async fn prune_portal(&self) -> Result<String, String> {
        let inquiries = self
            .prune_portal_inquiries()
            .await
            .map_err(|e| e.to_string())?;
        let sessions = self
            .prune_console_sessions()
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{inquiries} unconfirmed portal inquiries deleted, {sessions} ended console sessions deleted"
        ))
    }

    /// How the jobs queue stands now (for monitoring).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn queue_depth(&self) -> Result<gdpr_ports::QueueDepth, AppError> {
        self.store
            .depth(self.clock.now(), self.config.job_lease)
            .await
            .map_err(AppError::store)
    }
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
                JobKind::DailyAttestation => kind.slot_at(now, self.after_backup(Duration::HOUR)),
                // After the backup, so that a restore of it has the journal replay what expired.
                JobKind::DailyExpiry => kind.slot_at(now, self.after_backup(Duration::minutes(30))),
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
            Some(JobKind::DailyExpiry) => self.daily_expiry(&job, worker).await,
            Some(JobKind::Offboarding) => self
                .offboard_due_tenants()
                .await
                .map(|receipts| format!("{} tenants offboarded", receipts.len()))
                .map_err(|e| e.to_string()),
            Some(JobKind::PrunePortal) => self.prune_portal().await,
            Some(JobKind::RequestDeadlines) => self
                .announce_request_deadlines()
                .await
                .map(|r| format!("{} requests due soon, {} overdue", r.due_soon, r.overdue))
                .map_err(|e| e.to_string()),
            None => Err(format!("unknown job kind '{}'", job.kind)),
        };
        // Once its work is over, a batch job keeps what its status reads (ids and counts),
        // not its selector, whose value may be personal data, nor its lists of subjects.
        let settled = match JobKind::parse(&job.kind) {
            Some(JobKind::BatchErasure) => crate::batch_erasure::settled(&job.payload),
            Some(JobKind::RecordDeletion) => crate::record_deletion::settled(&job.payload),
            _ => None,
        };
        match &outcome {
            Ok(summary) => self.store.complete(job.id, worker, summary, settled).await,
            Err(error) => {
                let retry = (job.attempts < 5).then(|| now + Duration::minutes(1));
                self.store.fail(job.id, worker, error, retry, settled).await
            }
        }
        .map_err(AppError::store)?;
        Ok(Some(JobRun {
            job: job.id,
            kind: job.kind,
            outcome,
        }))
    }

    /// Reports a job's trouble with one tenant (its id and one detail, never personal data).
    fn report_tenant(
        &self,
        level: gdpr_ports::ReportLevel,
        message: &str,
        tenant: gdpr_pii::TenantId,
        (key, detail): (&str, String),
    ) {
        self.report_error(gdpr_ports::ErrorReport {
            level,
            message: message.into(),
            person: None,
            context: [
                ("tenant".to_owned(), tenant.to_string()),
                (key.to_owned(), detail),
            ]
            .into(),
            request: None,
        });
    }

    /// The time of day `delay` after the daily backup's (02:00 UTC when backups are not
    /// scheduled), as an offset from midnight.
    fn after_backup(&self, delay: Duration) -> Duration {
        let backup = self.config.backup_at.map_or(Duration::hours(2), |at| {
            Duration::hours(at.hour().into()) + Duration::minutes(at.minute().into())
        });
        Duration::seconds((backup + delay).whole_seconds().rem_euclid(86_400))
    }

    /// Expires every tenant. Running it again expires what is left (nothing more than what
    /// has expired since), so a run cut short is finished by the next attempt; each tenant
    /// done renews the lease. A tenant that fails is reported, and then the job fails so that
    /// the queue runs it again.
    async fn daily_expiry(&self, job: &gdpr_ports::Job, worker: &str) -> Result<String, String> {
        let tenants = self.tenants().await.map_err(|e| e.to_string())?;
        let (mut records, mut subjects, mut failed) = (0, 0, Vec::new());
        for (i, tenant) in tenants.iter().enumerate() {
            match self.expire(tenant.id).await {
                Ok(report) => {
                    records += report.records_expired;
                    subjects += report.subjects_expired;
                }
                Err(e) => {
                    self.report_tenant(
                        gdpr_ports::ReportLevel::Error,
                        "a tenant's expiry failed",
                        tenant.id,
                        ("error", e.for_operators()),
                    );
                    failed.push(format!("tenant {}: {}", tenant.id, e.for_operators()));
                }
            }
            self.progress(job.id, worker, i as u64 + 1, tenants.len() as u64)
                .await
                .map_err(|e| e.to_string())?;
        }
        let summary = format!(
            "{} tenants, {records} records expired, {subjects} inactive subjects erased, {} failed",
            tenants.len(),
            failed.len()
        );
        match failed.first() {
            None => Ok(summary),
            Some(first) => Err(format!("{summary} (first failure: {first})")),
        }
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
            self.report_tenant(
                gdpr_ports::ReportLevel::Warning,
                "a tenant's daily attestation does not hold",
                *tenant,
                ("problem", problem),
            );
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
                        self.report_tenant(
                            gdpr_ports::ReportLevel::Warning,
                            "a tenant's backups could not be pruned",
                            tenant.id,
                            ("error", e.for_operators()),
                        );
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
                self.report_tenant(
                    gdpr_ports::ReportLevel::Error,
                    "a tenant's daily backup failed",
                    *tenant,
                    ("error", e.for_operators()),
                );
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
