//! Replaying the decision journal after a restore: every decision the restored rows do not
//! hold yet is applied again, in the order it was made, each replay audited. Every decision
//! names the row it made (a receipt, an event, a limit, records), so one already in force is
//! found and skipped: replay is idempotent, and a restore cut short (a crash, `kill -9`) is
//! finished by restoring again.
//!
//! Erasures are applied by the restore itself, which leaves their subjects out of the rows it
//! writes; an erasure voided in the journal (it never happened) is not.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_consent::{ConsentAction, ConsentEvent};
use gdpr_pii::{ApiKeyId, TenantId};
use gdpr_ports::{
    ApiKeyStore, Clock, ConsentStore, Ports, ProcessingLimitStore, RecordStore, StoreError,
    TenantStore,
};
use gdpr_rights::{Decision, ProcessingLimit};

use super::Progress;
use super::journal::Journal;
use crate::{App, AppError};

/// The reason a limit restored from the journal carries: the journal holds no free text.
pub(crate) const REPLAYED_REASON: &str = "restored from the decision journal after a restore";

/// Records deleted together by a replay, at most (a few over, the last decision's).
const DELETION_BATCH: usize = 5_000;

/// Consecutive record deletions of the journal, gathered.
#[derive(Default)]
struct Deletions {
    ids: Vec<gdpr_pii::RecordId>,
    /// The latest decision's time (none: nothing gathered).
    at: Option<time::OffsetDateTime>,
    /// How many decisions.
    decisions: u64,
    /// The last entry they came from.
    seq: u64,
}

impl<P: Ports> App<P> {
    /// Applies again every decision of `journal` that the tenant's rows do not hold; how many.
    ///
    /// # Errors
    /// Storage errors (what was applied before stays applied; restoring again finishes).
    pub(crate) async fn replay(
        &self,
        tenant: TenantId,
        journal: &Journal,
        progress: &Progress,
    ) -> Result<u64, AppError> {
        let total = journal
            .entries
            .iter()
            .map(|e| e.decisions.len() as u64)
            .sum();
        progress.decisions_total.store(total, Ordering::Relaxed);
        let mut keys: BTreeMap<ApiKeyId, bool> = self
            .store
            .list_api_keys(tenant)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .map(|k| (k.id, k.revoked_at.is_some()))
            .collect();
        let mut replayed = 0;
        // Consecutive record deletions are applied together: one statement per few thousand
        // records, not per decision (a day of single deletions is many entries).
        let mut deletions = Deletions::default();
        for entry in &journal.entries {
            for decision in &entry.decisions {
                if let Decision::RecordsDeleted { records, at } = decision {
                    if deletions.ids.len() >= DELETION_BATCH {
                        replayed += self
                            .flush_deletions(tenant, &mut deletions, progress)
                            .await?;
                    }
                    deletions.ids.extend_from_slice(records);
                    deletions.at = deletions.at.max(Some(*at));
                    deletions.decisions += 1;
                    deletions.seq = entry.seq;
                    continue;
                }
                replayed += self
                    .flush_deletions(tenant, &mut deletions, progress)
                    .await?;
                let applied = match decision {
                    Decision::ApiKeyRevoked { key, at } => {
                        if keys.get(key) == Some(&false) {
                            self.store
                                .revoke_api_key(tenant, *key, *at)
                                .await
                                .map_err(AppError::store)?;
                            keys.insert(*key, true);
                            Some((AuditAction::ApiKeyRevoked, "key", key.to_string(), None))
                        } else {
                            None
                        }
                    }
                    Decision::ConsoleUserRevoked { user, removed, at } => {
                        self.replay_console_revocation(tenant, *user, *removed, *at)
                            .await?
                    }
                    Decision::ConsentWithdrawn { .. } => {
                        self.replay_withdrawal(tenant, decision).await?
                    }
                    Decision::LimitPlaced { .. } | Decision::LimitLifted { .. } => {
                        self.replay_limit(tenant, decision).await?
                    }
                    Decision::RecordsExpired {
                        form,
                        submitted_before,
                        spared,
                        at,
                    } => {
                        let (mut deleted, mut after) = (0, None);
                        loop {
                            let (n, through) = self
                                .store
                                .expire_records(
                                    tenant,
                                    *form,
                                    *submitted_before,
                                    after,
                                    spared,
                                    *at,
                                    crate::retention::EXPIRY_CHUNK,
                                )
                                .await
                                .map_err(AppError::store)?;
                            deleted += n;
                            after = through;
                            if n < u64::from(crate::retention::EXPIRY_CHUNK) || after.is_none() {
                                break;
                            }
                        }
                        (deleted > 0).then(|| {
                            (
                                AuditAction::RecordsExpired,
                                "count",
                                deleted.to_string(),
                                None,
                            )
                        })
                    }
                    // Gathered above.
                    Decision::RecordsDeleted { .. } => None,
                    Decision::ConsentFormRetired { consent_form, at } => {
                        match self.store.get_consent_form(tenant, *consent_form).await {
                            Ok(form) if form.retired_at.is_none() => {
                                self.store
                                    .retire_consent_form(tenant, *consent_form, *at)
                                    .await
                                    .map_err(AppError::store)?;
                                Some((
                                    AuditAction::ConsentFormRetired,
                                    "consent_form",
                                    consent_form.to_string(),
                                    None,
                                ))
                            }
                            // Retired already, or created after the backup (and so not
                            // restored): nothing to apply.
                            Ok(_) | Err(StoreError::NotFound) => None,
                            Err(e) => return Err(AppError::store(e)),
                        }
                    }
                    Decision::TenantOffboardingScheduled { delete_at, at } => {
                        let scheduled = gdpr_ports::Offboarding {
                            scheduled_at: *at,
                            delete_at: *delete_at,
                        };
                        self.replay_offboarding(tenant, Some(scheduled)).await?
                    }
                    Decision::TenantOffboardingCancelled { .. } => {
                        self.replay_offboarding(tenant, None).await?
                    }
                    Decision::SubjectErased { .. } | Decision::ErasureVoided { .. } => None,
                };
                if let Some((action, key, value, subject)) = applied {
                    let mut event =
                        AuditEvent::new(self.clock.now(), Some(tenant), Actor::System, action)
                            .with(key, value)
                            .with("replayed_from_journal", entry.seq);
                    if let Some(subject) = subject {
                        event = event.about(subject);
                    }
                    self.audit(event).await?;
                    replayed += 1;
                }
                progress.decisions.fetch_add(1, Ordering::Relaxed);
            }
        }
        replayed += self
            .flush_deletions(tenant, &mut deletions, progress)
            .await?;
        Ok(replayed)
    }

    /// Applies the record deletions gathered, audited once; the decisions they held when
    /// any record was still there (0 when none was: all in force already).
    async fn flush_deletions(
        &self,
        tenant: TenantId,
        deletions: &mut Deletions,
        progress: &Progress,
    ) -> Result<u64, AppError> {
        let gathered = std::mem::take(deletions);
        let Some(at) = gathered.at else {
            return Ok(0);
        };
        let deleted = self
            .store
            .delete_records(tenant, &gathered.ids, at)
            .await
            .map_err(AppError::store)?;
        // Gone through, whether or not a record was still there.
        progress
            .decisions
            .fetch_add(gathered.decisions, Ordering::Relaxed);
        if deleted == 0 {
            return Ok(0);
        }
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            Actor::System,
            AuditAction::RecordsBatchDeleted,
        )
        .with("count", deleted)
        .with("decisions", gathered.decisions)
        .with("replayed_from_journal", gathered.seq);
        self.audit(event).await?;
        Ok(gathered.decisions)
    }

    /// The tenant's offboarding as a journaled decision left it (scheduled, or cancelled).
    async fn replay_offboarding(
        &self,
        tenant: TenantId,
        wanted: Option<gdpr_ports::Offboarding>,
    ) -> Result<Option<Replayed>, AppError> {
        let current = self
            .store
            .tenant_offboarding(tenant)
            .await
            .map_err(AppError::store)?;
        if current == wanted {
            return Ok(None);
        }
        self.store
            .set_tenant_offboarding(tenant, wanted)
            .await
            .map_err(AppError::store)?;
        Ok(Some(match wanted {
            Some(o) => (
                AuditAction::TenantOffboardingScheduled,
                "delete_at",
                o.delete_at.to_string(),
                None,
            ),
            None => (
                AuditAction::TenantOffboardingCancelled,
                "tenant",
                tenant.to_string(),
                None,
            ),
        }))
    }

    /// A withdrawal the restored history lacks, appended as it was made (its source, a
    /// pseudonymised network, is not journaled).
    async fn replay_withdrawal(
        &self,
        tenant: TenantId,
        decision: &Decision,
    ) -> Result<Option<Replayed>, AppError> {
        let Decision::ConsentWithdrawn {
            subject,
            consent_form,
            event,
            version,
            method,
            at,
        } = decision
        else {
            return Ok(None);
        };
        let history = match self.store.consent_history(tenant, *subject).await {
            Ok(history) => history,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(AppError::store(e)),
        };
        if history.iter().any(|e| e.id == *event) {
            return Ok(None);
        }
        let form = match self.store.get_consent_form(tenant, *consent_form).await {
            Ok(form) => form,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(AppError::store(e)),
        };
        let withdrawal = ConsentEvent {
            id: *event,
            tenant,
            subject: *subject,
            form: *consent_form,
            purpose: form.purpose,
            form_version: *version,
            action: ConsentAction::Withdrawn,
            at: *at,
            method: *method,
            source: None,
        };
        match self.store.append_consent_event(&withdrawal).await {
            Ok(()) => Ok(Some((
                AuditAction::ConsentWithdrawn,
                "consent_form",
                consent_form.to_string(),
                Some(*subject),
            ))),
            // The subject is gone (erased since): nothing left to withdraw.
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// A restriction or objection the restored rows lack, or one they still hold active that
    /// was lifted.
    async fn replay_limit(
        &self,
        tenant: TenantId,
        decision: &Decision,
    ) -> Result<Option<Replayed>, AppError> {
        let (Decision::LimitPlaced { subject, limit, .. }
        | Decision::LimitLifted { subject, limit, .. }) = decision
        else {
            return Ok(None);
        };
        let limits = self
            .store
            .limits_of(tenant, *subject)
            .await
            .map_err(AppError::store)?;
        let stored = limits.into_iter().find(|l| l.id == *limit);
        let applied = match (decision, stored) {
            (
                Decision::LimitPlaced {
                    limit_kind,
                    purpose,
                    at,
                    ..
                },
                None,
            ) => {
                let placed = ProcessingLimit {
                    id: *limit,
                    tenant,
                    subject: *subject,
                    kind: *limit_kind,
                    purpose: purpose.clone(),
                    reason: REPLAYED_REASON.to_owned(),
                    placed_at: *at,
                    lifted_at: None,
                };
                match self.store.insert_limit(&placed).await {
                    Ok(()) => AuditAction::ProcessingLimited,
                    Err(StoreError::NotFound) => return Ok(None),
                    Err(e) => return Err(AppError::store(e)),
                }
            }
            (Decision::LimitLifted { at, .. }, Some(mut active)) if active.is_active() => {
                active.lifted_at = Some(*at);
                self.store
                    .update_limit(&active)
                    .await
                    .map_err(AppError::store)?;
                AuditAction::ProcessingLimitLifted
            }
            _ => return Ok(None),
        };
        Ok(Some((applied, "limit", limit.to_string(), Some(*subject))))
    }
}

/// What a replayed decision is audited as: the action, one detail, and the subject.
type Replayed = (
    AuditAction,
    &'static str,
    String,
    Option<gdpr_pii::SubjectId>,
);
