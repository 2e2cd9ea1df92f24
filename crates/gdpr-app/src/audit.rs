//! Reading and verifying the audit log.

use gdpr_audit::{AuditRecord, ChainBreak, ChainHead, ChainVerifier};
use gdpr_pii::TenantId;
use gdpr_ports::{AuditLog, Ports};

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
        let mut verifier = ChainVerifier::new(tenant);
        let mut after = 0;
        loop {
            let page = self
                .store
                .audit_records(tenant, after, PAGE)
                .await
                .map_err(AppError::store)?;
            for record in &page {
                if let Err(broken) = verifier.push(record) {
                    return Ok(Err(broken));
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.seq,
                _ => return Ok(Ok(verifier.finish())),
            }
        }
    }
}
