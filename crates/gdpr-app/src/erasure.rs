//! Erasure (Art. 17, 19): one subject, the retry of steps that failed, and batch planning.
//!
//! Erasing a subject reaches every place of the [`ErasurePlan`]: records, profile fields, data
//! key and consent history go in one storage transaction together with the tombstone and the
//! audit entry; the error tracker is asked to forget the person afterwards, and if it cannot be
//! reached the receipt says "pending" and [`App::retry_pending_erasures`] tries again until it
//! is done. A legal hold blocks everything and the receipt says why.

use std::collections::BTreeSet;

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{RequestId, SubjectId};
use gdpr_ports::{
    Clock, ErasureStore, ErrorReporter, ForgetOutcome, LegalHoldStore, Page, Ports, RecordStore,
    SubjectStore,
};
use gdpr_rights::{
    BatchSelector, ErasurePlan, ErasureReceipt, ErasureStatus, Outcome, Place, RecordFacts,
    RequestKind, Tombstone,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// What a batch erasure would do: the dry run. Nothing is changed to compute it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchPlan {
    /// Subjects that would be erased.
    pub subjects: Vec<SubjectId>,
    /// Records those subjects hold (all deleted with them).
    pub records: u64,
    /// Subjects selected but held by a legal hold: they would be skipped, with a receipt.
    pub blocked: Vec<SubjectId>,
    /// Ids listed that match no subject of the tenant.
    pub unknown: u64,
}

/// What a retry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetryReport {
    /// Receipts with unfinished places looked at.
    pub receipts: usize,
    /// Places retried.
    pub attempts: usize,
    /// Receipts now complete.
    pub completed: usize,
}

impl<P: Ports> App<P> {
    /// Erases a subject everywhere and returns the receipt. When `request` is given, that
    /// erasure request is closed: completed, or refused with the hold's reason when blocked.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject (or the request); storage errors (then nothing
    /// was erased and no receipt was written).
    pub async fn erase_subject(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        request: Option<RequestId>,
    ) -> Result<ErasureReceipt, AppError> {
        self.load_subject(ctx, subject).await?;
        if let Some(id) = request {
            let r = self.request(ctx, id).await?;
            if r.request.subject != subject || r.request.kind != RequestKind::Erasure {
                return Err(AppError::invalid(
                    "request",
                    "not an erasure request of this subject",
                ));
            }
        }
        let holds = self
            .store
            .holds_of(ctx.tenant, subject)
            .await
            .map_err(AppError::store)?;
        let now = self.clock.now();
        let plan = match ErasurePlan::for_subject(ctx.tenant, subject, &holds) {
            Ok(plan) => plan,
            Err(blocked) => {
                let receipt = ErasureReceipt::blocked(ctx.tenant, subject, request, &blocked, now);
                self.store
                    .save_erasure_receipt(&receipt)
                    .await
                    .map_err(AppError::store)?;
                self.audit_about(
                    ctx,
                    AuditAction::ErasureBlocked,
                    subject,
                    &[("receipt", &receipt.id)],
                )
                .await?;
                if let Some(id) = request {
                    self.refuse_request(ctx, id, &blocked.to_string()).await?;
                }
                return Ok(receipt);
            }
        };
        let mut receipt = ErasureReceipt::planned(&plan, request, now);
        let tombstone = Tombstone {
            tenant: ctx.tenant,
            subject,
            erased_at: now,
            receipt: receipt.id,
        };
        let audit = self
            .event(ctx, AuditAction::SubjectErased)
            .about(subject)
            .with("receipt", receipt.id);
        let counts = self
            .store
            .erase_subject(&tombstone, audit)
            .await
            .map_err(AppError::not_found("subject"))?;
        let done = |count: Option<u64>| Outcome::Done { at: now, count };
        receipt.record(Place::Records, done(Some(counts.records)));
        receipt.record(Place::PersonalFields, done(Some(counts.personal_fields)));
        receipt.record(Place::DataKey, done(Some(counts.keys)));
        receipt.record(Place::Consents, done(Some(counts.consents)));
        self.reach_backups(&mut receipt, &tombstone).await;
        self.forget_in_error_tracker(&mut receipt).await;
        self.store
            .save_erasure_receipt(&receipt)
            .await
            .map_err(AppError::store)?;
        if let Some(id) = request {
            self.complete_request(ctx, id).await?;
        }
        Ok(receipt)
    }

    /// Journals the tombstone beside the backups and shreds the subject's key from their
    /// keyrings; on failure the place stays pending for the retry job.
    async fn reach_backups(&self, receipt: &mut ErasureReceipt, tombstone: &Tombstone) {
        let now = self.clock.now();
        match self.erase_from_backups(tombstone).await {
            Ok(keyrings) => receipt.record(
                Place::Backups,
                Outcome::Done {
                    at: now,
                    count: Some(keyrings),
                },
            ),
            Err(e) => receipt.record_failure(Place::Backups, &e.to_string(), now),
        }
    }

    async fn forget_in_error_tracker(&self, receipt: &mut ErasureReceipt) {
        let now = self.clock.now();
        match self.reporter.forget_person(receipt.subject).await {
            Ok(ForgetOutcome::Forgotten | ForgetOutcome::NotConfigured) => {
                receipt.record(
                    Place::ErrorTracker,
                    Outcome::Done {
                        at: now,
                        count: None,
                    },
                );
            }
            // Started but not confirmed: stays pending, and the retry job asks again.
            Ok(ForgetOutcome::Accepted { job }) => receipt.record_failure(
                Place::ErrorTracker,
                &format!("deletion job {job} accepted by the error tracker, not yet confirmed"),
                now,
            ),
            Err(e) => receipt.record_failure(Place::ErrorTracker, &e.to_string(), now),
        }
    }

    /// An erasure receipt.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn erasure_receipt(&self, ctx: Ctx, id: Uuid) -> Result<ErasureReceipt, AppError> {
        self.store
            .get_erasure_receipt(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("erasure receipt"))
    }

    /// Retries every unfinished place of every erasure receipt (run by a job until done).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn retry_pending_erasures(&self) -> Result<RetryReport, AppError> {
        let receipts = self
            .store
            .unfinished_erasure_receipts()
            .await
            .map_err(AppError::store)?;
        let mut report = RetryReport {
            receipts: receipts.len(),
            ..RetryReport::default()
        };
        for mut receipt in receipts {
            for place in receipt.unfinished() {
                // Transactional places are done together or not at all; only calls to other
                // systems can be left unfinished.
                match place {
                    Place::ErrorTracker => {
                        report.attempts += 1;
                        self.forget_in_error_tracker(&mut receipt).await;
                    }
                    Place::Backups => {
                        report.attempts += 1;
                        // The erasure wrote its tombstone from the same receipt: rebuild it
                        // instead of reading the whole journal for each receipt.
                        let tombstone = Tombstone {
                            tenant: receipt.tenant,
                            subject: receipt.subject,
                            erased_at: receipt.started_at,
                            receipt: receipt.id,
                        };
                        self.reach_backups(&mut receipt, &tombstone).await;
                    }
                    _ => {}
                }
            }
            self.store
                .save_erasure_receipt(&receipt)
                .await
                .map_err(AppError::store)?;
            let event = AuditEvent::new(
                self.clock.now(),
                Some(receipt.tenant),
                Actor::System,
                AuditAction::ErasureStepRetried,
            )
            .about(receipt.subject)
            .with("receipt", receipt.id);
            self.audit(event).await?;
            if receipt.status() == ErasureStatus::Complete {
                report.completed += 1;
            }
        }
        Ok(report)
    }

    /// The dry run of a batch erasure: which subjects the selector picks, how many records
    /// they hold, which are held by a legal hold. Changes nothing.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn plan_batch_erasure(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
    ) -> Result<BatchPlan, AppError> {
        self.plan_batch_erasure_until(ctx, selector, None).await
    }

    /// The same, counting only records created at or before `cutoff`: a batch job started at
    /// `cutoff` never reaches subjects selected only by records submitted after it started.
    pub(crate) async fn plan_batch_erasure_until(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
        cutoff: Option<time::OffsetDateTime>,
    ) -> Result<BatchPlan, AppError> {
        let mut plan = BatchPlan::default();
        let selected: BTreeSet<SubjectId> = if let Some(ids) = selector.listed() {
            let mut found = BTreeSet::new();
            for id in ids {
                match self.store.get_subject(ctx.tenant, *id).await {
                    Ok(_) => {
                        found.insert(*id);
                    }
                    Err(gdpr_ports::StoreError::NotFound) => plan.unknown += 1,
                    Err(e) => return Err(AppError::store(e)),
                }
            }
            found
        } else {
            let form = match selector {
                BatchSelector::Form { form } | BatchSelector::FieldEquals { form, .. } => {
                    Some(*form)
                }
                BatchSelector::CreatedBetween { form, .. } => *form,
                BatchSelector::Subjects { .. } => None,
            };
            self.store
                .list_records(ctx.tenant, form, None, Page::ALL)
                .await
                .map_err(AppError::store)?
                .iter()
                .filter(|r| cutoff.is_none_or(|c| r.created_at <= c))
                .filter(|r| {
                    selector.matches(&RecordFacts {
                        form: r.form,
                        subject: r.subject,
                        created_at: r.created_at,
                        values: &r.values,
                    })
                })
                .map(|r| r.subject)
                .collect()
        };
        for subject in selected {
            let held = self
                .store
                .holds_of(ctx.tenant, subject)
                .await
                .map_err(AppError::store)?
                .iter()
                .any(gdpr_rights::LegalHold::is_active);
            if held {
                plan.blocked.push(subject);
                continue;
            }
            plan.records += self
                .store
                .list_records(ctx.tenant, None, Some(subject), Page::ALL)
                .await
                .map_err(AppError::store)?
                .len() as u64;
            plan.subjects.push(subject);
        }
        Ok(plan)
    }
}
