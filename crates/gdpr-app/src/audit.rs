//! Reading and verifying the audit log.

use std::ops::ControlFlow;

use gdpr_audit::{AuditRecord, ChainBreak, ChainHead, ChainVerifier};
use gdpr_pii::TenantId;
use gdpr_ports::{AttestationLog, AuditLog, Ports};

use crate::{App, AppError, Ctx};

const PAGE: u32 = 1_000;

impl<P: Ports> App<P> {
    /// The tenant's audit records after `after_seq`, at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn audit_log(
        &self,
        ctx: Ctx,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, AppError> {
        self.store
            .audit_records(Some(ctx.tenant), after_seq, limit)
            .await
            .map_err(AppError::store)
    }

    /// Verifies a whole chain (a tenant's, or the system one with `None`), a page at a time.
    /// The outer error is a failure to read; the inner one is where the chain breaks.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn verify_audit(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Result<ChainHead, ChainBreak>, AppError> {
        self.walk_chain(ChainVerifier::new(tenant), tenant, 0).await
    }

    /// Verifies a chain from where this process last found it intact — or, for a tenant's chain
    /// this process has not checked yet (after a restart), from the head its last daily
    /// attestation found intact with a full check; a full check when there is neither: the
    /// record at that mark must still be there, unchanged, and every record after it must
    /// follow; when the marked record is not as it was, the whole chain is checked.
    /// Cheap however long the chain; what it does not see is a record altered before the
    /// mark, which the full check ([`App::verify_audit`], run by every daily attestation)
    /// does. The check's head and the first position it read.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn verify_audit_since_last(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<(Result<ChainHead, ChainBreak>, u64), AppError> {
        let mark = self
            .verified_chains
            .lock()
            .ok()
            .and_then(|m| m.get(&tenant).cloned());
        let mark = match (mark, tenant) {
            (None, Some(t)) => self.attested_mark(t).await?,
            (mark, _) => mark,
        };
        let Some(mark) = mark.filter(|m| m.records > 0) else {
            return Ok((self.verify_audit(tenant).await?, 1));
        };
        let at = self
            .store
            .audit_records(tenant, mark.records - 1, 1)
            .await
            .map_err(AppError::store)?;
        // The marked record checked on its own (position, tenant, digest), then against the
        // hash it had when the mark was set. Anything else (the log restored from a backup
        // since, by this process or the `gdpr restore` command; a record altered or cut) is
        // for the full check to judge: an incremental check never says less than it would.
        let unchanged = at.first().is_some_and(|record| {
            let before = ChainHead {
                records: mark.records - 1,
                head: record.prev_hash,
            };
            ChainVerifier::resume(tenant, before).push(record).is_ok() && record.hash == mark.head
        });
        if !unchanged {
            return Ok((self.verify_audit(tenant).await?, 1));
        }
        let verifier = ChainVerifier::resume(tenant, mark.clone());
        Ok((
            self.walk_chain(verifier, tenant, mark.records).await?,
            mark.records,
        ))
    }

    /// The head of the tenant's audit chain as its last attestation found it intact.
    async fn attested_mark(&self, tenant: TenantId) -> Result<Option<ChainHead>, AppError> {
        let last = self
            .store
            .last_attestation(tenant)
            .await
            .map_err(AppError::store)?;
        Ok(last.and_then(|a| a.audit).map(|audit| ChainHead {
            records: audit.seq,
            head: audit.hash,
        }))
    }

    /// Feeds `verifier` the chain's records after `after`; a chain found intact is marked.
    async fn walk_chain(
        &self,
        mut verifier: ChainVerifier,
        tenant: Option<TenantId>,
        after: u64,
    ) -> Result<Result<ChainHead, ChainBreak>, AppError> {
        let walked = self
            .each_audit_record(tenant, after, |record| match verifier.push(record) {
                Ok(()) => ControlFlow::Continue(()),
                Err(broken) => ControlFlow::Break(broken),
            })
            .await?;
        if let ControlFlow::Break(broken) = walked {
            return Ok(Err(broken));
        }
        let head = verifier.finish();
        if let Ok(mut marks) = self.verified_chains.lock() {
            marks.insert(tenant, head.clone());
        }
        Ok(Ok(head))
    }

    /// Hands `visit` the chain's records after `after` (a tenant's, or the deployment's), in
    /// order and a page at a time, until the chain ends or `visit` breaks; what it broke with.
    pub(crate) async fn each_audit_record<B>(
        &self,
        tenant: Option<TenantId>,
        mut after: u64,
        mut visit: impl FnMut(&AuditRecord) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, AppError> {
        loop {
            let page = self
                .store
                .audit_records(tenant, after, PAGE)
                .await
                .map_err(AppError::store)?;
            for record in &page {
                if let ControlFlow::Break(b) = visit(record) {
                    return Ok(ControlFlow::Break(b));
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.seq,
                _ => return Ok(ControlFlow::Continue(())),
            }
        }
    }
}
