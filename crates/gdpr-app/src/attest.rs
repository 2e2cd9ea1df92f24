//! Attestations: each day (and on `gdpr attest`), every tenant gets a dated, hash-chained
//! statement of what was checked and what it found. The checks read; the only write is the
//! attestation itself.

use gdpr_audit::{
    Attestation, AuditAction, AuditMark, ChainBreak, ChainHead, ChainVerifier, Check, CheckKind,
    verify_attestations,
};
use gdpr_pii::TenantId;
use gdpr_ports::{
    AttestationLog, AuditLog, Clock, ErasureStore, Page, Ports, RequestStore, StoreError,
    SubjectStore,
};

use crate::{App, AppError, Ctx};

const PAGE: u32 = 1_000;

/// How many ids a failing check lists before it says "and N more".
const LISTED: usize = 20;

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
            self.check_tombstones(tenant, last_restore).await?,
            self.check_logs().await,
        ];
        self.store
            .append_attestation(tenant, self.clock.now(), checks, mark)
            .await
            .map_err(AppError::store)
    }

    /// Attests every tenant, one after the other; a tenant whose attestation fails is named
    /// in the error after the others were done.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn attest_every_tenant(&self) -> Result<Vec<Attestation>, AppError> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for tenant in self.tenants().await? {
            match self.attest_tenant(tenant.id).await {
                Ok(a) => done.push(a),
                Err(e) => failed.push(format!("{}: {e}", tenant.id)),
            }
        }
        if failed.is_empty() {
            Ok(done)
        } else {
            Err(AppError::store(StoreError::Unavailable(
                format!("attestation failed for {}", failed.join("; ")).into(),
            )))
        }
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
        let days = self.config.retention.for_tenant(tenant).backups.as_days();
        match self.prune_backups(tenant, true).await {
            Ok(report) if report.plan.delete.is_empty() => Check::pass(
                kind,
                format!(
                    "{} backups kept, none older than {days} days but the newest verified",
                    report.plan.keep.len()
                ),
            ),
            Ok(report) => Check::fail(
                kind,
                format!(
                    "{} backups older than {days} days remain: {}",
                    report.plan.delete.len(),
                    listed(&report.plan.delete)
                ),
            ),
            Err(e) => Check::fail(kind, format!("backups could not be listed: {e}")),
        }
    }

    /// The newest complete backup carries the mark `gdpr verify` leaves on a whole one.
    async fn check_newest_backup(&self, tenant: TenantId) -> Check {
        let kind = CheckKind::NewestBackupVerified;
        match self.list_backups(tenant).await {
            Ok(list) => match list.iter().max_by_key(|b| b.created_at) {
                None => Check::fail(kind, "no backup of this tenant exists"),
                Some(newest) if newest.verified => Check::pass(
                    kind,
                    format!("backup {} ({}) verified", newest.id, newest.created_at),
                ),
                Some(newest) => Check::fail(
                    kind,
                    format!(
                        "backup {} ({}) has not been verified (run `gdpr verify`)",
                        newest.id, newest.created_at
                    ),
                ),
            },
            Err(e) => Check::fail(kind, format!("backups could not be listed: {e}")),
        }
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
        let mut after = 0;
        loop {
            let page = self
                .store
                .audit_records(Some(tenant), after, PAGE)
                .await
                .map_err(AppError::store)?;
            for record in &page {
                if let Err(broken) = verifier.push(record) {
                    return Ok((Check::fail(kind, broken.to_string()), None, last_restore));
                }
                if seen.is_some_and(|m| m.seq == record.seq) {
                    seen_found = seen.is_some_and(|m| m.hash == record.hash);
                }
                if record.event.action == AuditAction::BackupRestored {
                    last_restore = Some(record.seq);
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.seq,
                _ => break,
            }
        }
        let head = verifier.finish();
        let mark = (head.records > 0).then_some(AuditMark {
            seq: head.records,
            hash: head.head,
        });
        if !seen_found {
            let m = seen.unwrap_or(AuditMark {
                seq: 0,
                hash: head.head,
            });
            return Ok((
                Check::fail(
                    kind,
                    format!(
                        "the chain no longer holds record {} as the previous attestation saw it: records were removed from its end or rewritten",
                        m.seq
                    ),
                ),
                mark,
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

    /// No request of the tenant is past its due date (the late ones are listed).
    async fn check_overdue(&self, tenant: TenantId) -> Result<Check, AppError> {
        let kind = CheckKind::NoOverdueRequest;
        let now = self.clock.now();
        let late: Vec<String> = self
            .store
            .list_requests(Some(tenant), Page::ALL)
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

    /// Every subject in the tombstone journal is absent: what the replay after a restore
    /// ensures, checked on the data itself.
    async fn check_tombstones(
        &self,
        tenant: TenantId,
        last_restore: Option<u64>,
    ) -> Result<Check, AppError> {
        let kind = CheckKind::TombstonesHold;
        let tombstones = self
            .store
            .tombstones(tenant)
            .await
            .map_err(AppError::store)?;
        let mut back = Vec::new();
        for t in &tombstones {
            match self.store.get_subject(tenant, t.subject).await {
                Ok(_) => back.push(t.subject.to_string()),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(AppError::store(e)),
            }
        }
        let restore = last_restore.map_or_else(
            || "no restore recorded".to_owned(),
            |seq| format!("last restore at audit record {seq}"),
        );
        Ok(if back.is_empty() {
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
        })
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
