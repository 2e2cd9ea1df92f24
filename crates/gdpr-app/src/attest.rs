//! Attestations: each day (and on `gdpr attest`), every tenant gets a dated, hash-chained
//! statement of what was checked and what it found. The checks read; the only write is the
//! attestation itself.

use std::ops::ControlFlow;

use gdpr_audit::{
    Attestation, AuditAction, AuditMark, ChainBreak, ChainHead, ChainVerifier, Check, CheckKind,
    verify_attestations,
};
use gdpr_pii::TenantId;
use gdpr_ports::{AttestationLog, Clock, Ports, RequestStore, SubjectStore};

use crate::{App, AppError, Ctx};

const PAGE: u32 = 1_000;

/// How many ids a failing check lists before it says "and N more".
const LISTED: usize = 20;

/// How old a tenant's newest verified backup may be before the daily attestation fails: a
/// day, and two hours for the backup and its verification to run.
pub const VERIFIED_BACKUP_MAX_AGE: time::Duration = time::Duration::hours(26);

fn listed(ids: &[String]) -> String {
    let mut shown = ids
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED {
        shown.push_str(&format!(" and {} more", ids.len() - LISTED));
    }
    shown
}

impl<P: Ports> App<P> {
    /// Runs every check for `tenant` and appends the attestation to its chain.
    ///
    /// # Errors
    /// Storage errors (reading what is checked, or appending): then no attestation is written.
    pub async fn attest_tenant(&self, tenant: TenantId) -> Result<Attestation, AppError> {
        let logs = self.check_logs().await;
        self.attest_with(tenant, logs).await
    }

    /// The same, with the log check already made (it is the same for every tenant).
    async fn attest_with(&self, tenant: TenantId, logs: Check) -> Result<Attestation, AppError> {
        let previous = self
            .store
            .last_attestation(tenant)
            .await
            .map_err(AppError::store)?;
        let (audit_check, mark, last_restore) = self.check_audit(tenant, previous.as_ref()).await?;
        let checks = vec![
            self.check_retention(tenant).await,
            self.check_newest_backup(tenant).await,
            audit_check,
            self.check_overdue(tenant).await?,
            self.check_tombstones(tenant, last_restore).await,
            logs,
            self.check_transfers(tenant).await,
            self.check_breaches(tenant).await,
        ];
        self.store
            .append_attestation(tenant, self.clock.now(), checks, mark)
            .await
            .map_err(AppError::store)
    }

    /// Attests every tenant, one after the other (the log files scanned once for all);
    /// `after_each` runs after each tenant (the daily job renews its lease there). A tenant
    /// whose attestation could not be written does not stop the others: each result is
    /// returned.
    ///
    /// # Errors
    /// Storage errors listing the tenants, and those of `after_each`.
    pub async fn attest_every_tenant<F, Fut>(
        &self,
        mut after_each: F,
    ) -> Result<Vec<(TenantId, Result<Attestation, AppError>)>, AppError>
    where
        F: FnMut(usize, usize) -> Fut + Send,
        Fut: std::future::Future<Output = Result<(), AppError>> + Send,
    {
        let tenants = self.tenants().await?;
        let logs = self.check_logs().await;
        let mut results = Vec::with_capacity(tenants.len());
        for (i, tenant) in tenants.iter().enumerate() {
            let result = self.attest_with(tenant.id, logs.clone()).await;
            results.push((tenant.id, result));
            after_each(i + 1, tenants.len()).await?;
        }
        Ok(results)
    }

    /// For each check an attestation makes, how many tenants' latest attestation fails it
    /// (every check listed, 0 included): what monitoring alerts on.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn failing_checks(
        &self,
    ) -> Result<std::collections::BTreeMap<gdpr_audit::CheckKind, usize>, AppError> {
        let mut failing: std::collections::BTreeMap<_, usize> = gdpr_audit::CheckKind::ALL
            .into_iter()
            .map(|k| (k, 0))
            .collect();
        for tenant in self.tenants().await? {
            let last = self
                .store
                .last_attestation(tenant.id)
                .await
                .map_err(AppError::store)?;
            for check in last.iter().flat_map(|a| &a.checks) {
                if check.verdict == gdpr_audit::Verdict::Fail {
                    *failing.entry(check.kind).or_default() += 1;
                }
            }
        }
        Ok(failing)
    }

    /// The tenant's attestations after `after_seq`, at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn attestations(
        &self,
        ctx: Ctx,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Attestation>, AppError> {
        self.store
            .attestations(ctx.tenant, after_seq, limit)
            .await
            .map_err(AppError::store)
    }

    /// Verifies the tenant's whole attestation chain. The outer error is a failure to read;
    /// the inner one is where the chain breaks.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn verify_attestation_chain(
        &self,
        ctx: Ctx,
    ) -> Result<Result<ChainHead, ChainBreak>, AppError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .store
                .attestations(
                    ctx.tenant,
                    all.last().map_or(0, |a: &Attestation| a.seq),
                    PAGE,
                )
                .await
                .map_err(AppError::store)?;
            let full = page.len() == PAGE as usize;
            all.extend(page);
            if !full {
                return Ok(verify_attestations(ctx.tenant, &all));
            }
        }
    }

    /// No backup past retention remains: a dry run of the pruning finds nothing to delete.
    async fn check_retention(&self, tenant: TenantId) -> Check {
        let kind = CheckKind::BackupsWithinRetention;
        let days = match self.retention_policy(tenant).await {
            Ok(policy) => policy.backups.as_days(),
            Err(e) => return Check::fail(kind, format!("retention could not be read: {e}")),
        };
        match self.prune_backups(tenant, true).await {
            Ok(report) if report.plan.delete.is_empty() && report.abandoned.is_empty() => {
                Check::pass(
                    kind,
                    format!(
                        "{} backups kept, none older than {days} days but the newest verified",
                        report.plan.keep.len()
                    ),
                )
            }
            Ok(report) => {
                // What an interrupted backup left holds encrypted personal data too.
                let stale: Vec<String> = report
                    .plan
                    .delete
                    .iter()
                    .chain(&report.abandoned)
                    .cloned()
                    .collect();
                Check::fail(
                    kind,
                    format!(
                        "{} backups older than {days} days and {} abandoned partial ones remain: {}",
                        report.plan.delete.len(),
                        report.abandoned.len(),
                        listed(&stale)
                    ),
                )
            }
            Err(e) => Check::fail(kind, format!("backups could not be listed: {e}")),
        }
    }

    /// The tenant's newest verified backup is at most [`VERIFIED_BACKUP_MAX_AGE`] old: backups
    /// are taken daily and verified where the decryption key lives (`gdpr verify`, which marks
    /// a whole one), so an older one means backups, or their verification, stopped.
    async fn check_newest_backup(&self, tenant: TenantId) -> Check {
        let kind = CheckKind::NewestBackupVerified;
        if self.config.backups_disabled {
            return Check::not_applicable(kind, "backups are turned off by configuration");
        }
        let list = match self.list_backups(tenant).await {
            Ok(list) => list,
            Err(e) => return Check::fail(kind, format!("backups could not be listed: {e}")),
        };
        let now = self.clock.now();
        let newest = list.iter().max_by_key(|b| b.created_at);
        let verified = list
            .iter()
            .filter(|b| b.verified)
            .max_by_key(|b| b.created_at);
        let unverified = match (newest, verified) {
            (Some(n), Some(v)) if n.id != v.id => format!("; newer, not verified yet: {}", n.id),
            (Some(n), None) => format!("; newest, not verified: {}", n.id),
            _ => String::new(),
        };
        match verified {
            Some(v) if now - v.created_at <= VERIFIED_BACKUP_MAX_AGE => Check::pass(
                kind,
                format!(
                    "backup {} ({}) verified, {} h old{unverified}",
                    v.id,
                    v.created_at,
                    (now - v.created_at).whole_hours()
                ),
            ),
            Some(v) => Check::fail(
                kind,
                format!(
                    "the newest verified backup, {} ({}), is {} h old: more than {} h (backups \
                     stopped, or `gdpr verify` did not run){unverified}",
                    v.id,
                    v.created_at,
                    (now - v.created_at).whole_hours(),
                    VERIFIED_BACKUP_MAX_AGE.whole_hours()
                ),
            ),
            None if list.is_empty() => Check::fail(kind, "no backup of this tenant exists"),
            None => Check::fail(
                kind,
                format!("no backup of this tenant is verified (run `gdpr verify`){unverified}"),
            ),
        }
    }

    /// For each tenant, when its newest verified backup was taken (`None`: none is): what
    /// the daily attestation checks, for metrics and readiness detail.
    ///
    /// # Errors
    /// Storage and object storage errors.
    pub async fn backup_freshness(
        &self,
    ) -> Result<Vec<(TenantId, Option<time::OffsetDateTime>)>, AppError> {
        let mut out = Vec::new();
        for tenant in self.tenants().await? {
            let newest = self
                .list_backups(tenant.id)
                .await?
                .into_iter()
                .filter(|b| b.verified)
                .map(|b| b.created_at)
                .max();
            out.push((tenant.id, newest));
        }
        Ok(out)
    }

    /// Verifies the audit chain whole, checks that it still holds the head the previous
    /// attestation saw (so records cut from its end show), and notes the last restore.
    async fn check_audit(
        &self,
        tenant: TenantId,
        previous: Option<&Attestation>,
    ) -> Result<(Check, Option<AuditMark>, Option<u64>), AppError> {
        let kind = CheckKind::AuditChainVerified;
        let seen = previous.and_then(|p| p.audit);
        let mut verifier = ChainVerifier::new(Some(tenant));
        let mut seen_found = seen.is_none();
        let mut last_restore = None;
        let walked = self
            .each_audit_record(Some(tenant), 0, |record| {
                if let Err(broken) = verifier.push(record) {
                    return ControlFlow::Break(broken);
                }
                if seen.is_some_and(|m| m.seq == record.seq) {
                    seen_found = seen.is_some_and(|m| m.hash == record.hash);
                }
                if record.event.action == AuditAction::BackupRestored {
                    last_restore = Some(record.seq);
                }
                ControlFlow::Continue(())
            })
            .await?;
        if let ControlFlow::Break(broken) = walked {
            // The last known-good mark is carried forward: tomorrow's attestation compares
            // against it again, so a failure is not forgotten overnight.
            return Ok((Check::fail(kind, broken.to_string()), seen, last_restore));
        }
        let head = verifier.finish();
        let mark = (head.records > 0).then_some(AuditMark {
            seq: head.records,
            hash: head.head,
        });
        if let Some(m) = seen.filter(|_| !seen_found) {
            return Ok((
                Check::fail(
                    kind,
                    format!(
                        "the chain no longer holds record {} as an earlier attestation saw it: records were removed from its end or rewritten",
                        m.seq
                    ),
                ),
                seen,
                last_restore,
            ));
        }
        Ok((
            Check::pass(
                kind,
                format!("{} records verified, head {}", head.records, head.head),
            ),
            mark,
            last_restore,
        ))
    }

    /// Every recipient of the tenant's data says where it processes, and one outside the EEA
    /// names a safeguard (the flagged ones are listed by name: organisations, not people).
    async fn check_transfers(&self, tenant: TenantId) -> Check {
        let kind = CheckKind::TransfersSafeguarded;
        let ctx = crate::Ctx::new(tenant, gdpr_audit::Actor::System);
        let recipients = match self.recipients(ctx).await {
            Ok(r) => r,
            Err(e) => return Check::fail(kind, format!("the recipients could not be read: {e}")),
        };
        let flagged: Vec<String> = recipients
            .iter()
            .filter(|r| r.transfer.flagged())
            .map(|r| format!("{} ({})", r.recipient.name, r.transfer.as_str()))
            .collect();
        if flagged.is_empty() {
            Check::pass(
                kind,
                format!(
                    "{} recipients, each within the EEA or under a safeguard",
                    recipients.len()
                ),
            )
        } else {
            Check::fail(
                kind,
                format!(
                    "{} recipients lack a safeguard or a stated country: {}",
                    flagged.len(),
                    listed(&flagged)
                ),
            )
        }
    }

    /// No breach of the tenant, nor of the deployment, is past its 72 hours without the
    /// authority's notification recorded (the late ones are listed by id).
    async fn check_breaches(&self, tenant: TenantId) -> Check {
        let kind = CheckKind::BreachesNotified;
        match self.overdue_breaches(tenant).await {
            Ok(late) if late.is_empty() => Check::pass(
                kind,
                "no breach is past 72 hours without the authority's notification",
            ),
            Ok(late) => {
                let ids: Vec<String> = late.iter().map(ToString::to_string).collect();
                Check::fail(
                    kind,
                    format!(
                        "{} breaches are past 72 hours with no notification recorded: {}",
                        ids.len(),
                        listed(&ids)
                    ),
                )
            }
            Err(e) => Check::fail(kind, format!("the breaches could not be read: {e}")),
        }
    }

    /// No request of the tenant is past its due date (the late ones are listed).
    async fn check_overdue(&self, tenant: TenantId) -> Result<Check, AppError> {
        let kind = CheckKind::NoOverdueRequest;
        let now = self.clock.now();
        let late: Vec<String> = self
            .store
            .open_requests(Some(tenant))
            .await
            .map_err(AppError::store)?
            .iter()
            .filter(|r| r.is_overdue(now))
            .map(|r| r.id.to_string())
            .collect();
        Ok(if late.is_empty() {
            Check::pass(kind, "no request is past its due date")
        } else {
            Check::fail(
                kind,
                format!("{} requests are overdue: {}", late.len(), listed(&late)),
            )
        })
    }

    /// Every erased subject (tombstones of the database and of the journal kept beside the
    /// backups, which a restored database cannot take back) is absent: what the replay after
    /// a restore ensures, checked on the data itself.
    async fn check_tombstones(&self, tenant: TenantId, last_restore: Option<u64>) -> Check {
        let kind = CheckKind::TombstonesHold;
        let tombstones = match self.all_tombstones(tenant).await {
            Ok(list) => list,
            Err(e) => return Check::fail(kind, format!("the tombstones could not be read: {e}")),
        };
        let mut back = Vec::new();
        for t in &tombstones {
            // Present, whole or not (a row without its key is still a row): nothing opened.
            match self.store.subject_exists(tenant, t.subject).await {
                Ok(false) => {}
                Ok(true) => back.push(t.subject.to_string()),
                Err(e) => {
                    return Check::fail(kind, format!("the subjects could not be read: {e}"));
                }
            }
        }
        let restore = last_restore.map_or_else(
            || "no restore recorded".to_owned(),
            |seq| format!("last restore at audit record {seq}"),
        );
        if back.is_empty() {
            Check::pass(
                kind,
                format!(
                    "{restore}; none of {} erased subjects is present",
                    tombstones.len()
                ),
            )
        } else {
            Check::fail(
                kind,
                format!(
                    "{restore}; {} erased subjects are present again: {}",
                    back.len(),
                    listed(&back)
                ),
            )
        }
    }

    /// The canary scan of the last log files, when the service writes any.
    async fn check_logs(&self) -> Check {
        let kind = CheckKind::LogsClean;
        let Some(scanner) = &self.log_scanner else {
            return Check::not_applicable(kind, "no log scanner is configured");
        };
        match scanner.scan().await {
            Ok(None) => Check::not_applicable(kind, "logs go to standard output only"),
            Ok(Some(scan)) if scan.leaks == 0 => Check::pass(
                kind,
                format!(
                    "{} lines of {} files hold no personal data",
                    scan.lines, scan.files
                ),
            ),
            Ok(Some(scan)) => Check::fail(
                kind,
                format!(
                    "{} of {} lines of {} files hold personal data the redactor would remove",
                    scan.leaks, scan.lines, scan.files
                ),
            ),
            Err(e) => Check::fail(kind, format!("the log files could not be scanned: {e}")),
        }
    }
}
