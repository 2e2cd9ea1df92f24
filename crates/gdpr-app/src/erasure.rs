//! Erasure (Art. 17, 19): one subject, the retry of steps that failed, and batch planning.
//!
//! Erasing a subject reaches every place of the [`ErasurePlan`]: records, profile fields, data
//! key and consent history go in one storage transaction together with the tombstone, the
//! audit entry and the receipt (its other places still planned, so a crash right after the
//! commit leaves them to the retry job); the backups and the error tracker are reached
//! afterwards, and a place that cannot be reached stays "pending" until
//! [`App::retry_pending_erasures`] gets it done. A legal hold blocks everything and the
//! receipt says why. A batch erases many subjects per transaction with the same guarantees.

use std::collections::{BTreeMap, BTreeSet};

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{RequestId, SubjectId, TenantId};
use gdpr_ports::{
    Clock, ConsentStore, Erased, Erasure, ErasureStore, ErrorReporter, ForgetOutcome,
    LegalHoldStore, Page, Ports, RecordStore, SubjectStore,
};
use gdpr_rights::{
    BatchSelector, Decision, ErasurePlan, ErasureReceipt, ErasureStatus, Outcome, Place,
    RecordFacts, RecordScope, RequestKind, Tombstone,
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

/// What a bulk erasure's transaction leaves to do: see [`App::finish_bulk`].
#[derive(Debug, Default)]
pub(crate) struct BulkErased {
    /// Receipts of the subjects erased, their places outside the database still planned.
    receipts: Vec<ErasureReceipt>,
    /// Subjects a legal hold placed since they were selected kept out.
    held: Vec<SubjectId>,
}

/// How long an erasure's outside places may stay planned before the retry job takes them as
/// left behind by a crash (an erasure reaches them within seconds of its commit).
const IN_FLIGHT: time::Duration = time::Duration::minutes(10);

/// Receipts retried and saved together.
const RETRY_CHUNK: usize = 500;

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
        self.ensure_subject(ctx, subject).await?;
        if let Some(id) = request {
            let r = self.request(ctx, id).await?;
            if r.request.subject != subject || r.request.kind != RequestKind::Erasure {
                return Err(AppError::invalid(
                    "request",
                    "not an erasure request of this subject",
                ));
            }
            // An erasure in answer to a request waits for the requester's identity to be
            // verified: an impostor's request must not erase anyone (Art. 12(6)).
            r.request.ensure_answerable()?;
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
                    .save_erasure_receipts(std::slice::from_ref(&receipt))
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
        let erasure = self.erasure(ctx, &plan, request, now);
        let receipt_id = erasure.receipt.id;
        self.journal_erasures(ctx.tenant, std::slice::from_ref(&erasure))
            .await?;
        let outcome = self.store.erase_subjects(vec![erasure]).await;
        // Whatever came of it, what was known of the subject may be gone.
        self.invalidate_subject(ctx.tenant, subject).await;
        let outcome = match outcome {
            Ok(mut outcomes) => outcomes.pop(),
            Err(e) => {
                self.void_erasures(ctx.tenant, vec![receipt_id]).await;
                return Err(AppError::store(e));
            }
        };
        let mut receipts = match outcome {
            Some(Erased::Done(receipt)) => [receipt],
            Some(Erased::Held) => {
                self.void_erasures(ctx.tenant, vec![receipt_id]).await;
                return Err(AppError::Conflict(
                    "a legal hold placed during the erasure blocks it".into(),
                ));
            }
            Some(Erased::NotFound) | None => {
                self.void_erasures(ctx.tenant, vec![receipt_id]).await;
                return Err(AppError::NotFound("subject"));
            }
        };
        self.reach_other_systems(&mut receipts).await?;
        if let Some(id) = request {
            self.complete_request(ctx, id).await?;
        }
        let [receipt] = receipts;
        Ok(receipt)
    }

    /// What the storage transaction needs to erase the subject of `plan`.
    fn erasure(
        &self,
        ctx: Ctx,
        plan: &ErasurePlan,
        request: Option<RequestId>,
        now: time::OffsetDateTime,
    ) -> Erasure {
        let receipt = ErasureReceipt::planned(plan, request, now);
        let tombstone = Tombstone {
            tenant: ctx.tenant,
            subject: plan.subject,
            erased_at: now,
            receipt: receipt.id,
        };
        let audit = self
            .event(ctx, AuditAction::SubjectErased)
            .about(plan.subject)
            .with("receipt", receipt.id);
        Erasure {
            tombstone,
            audit,
            receipt,
        }
    }

    /// Journals erasures before their transaction: when it commits, no restore can bring
    /// their subjects back.
    async fn journal_erasures(
        &self,
        tenant: TenantId,
        erasures: &[Erasure],
    ) -> Result<(), AppError> {
        let decisions = erasures
            .iter()
            .map(|e| Decision::SubjectErased {
                subject: e.tombstone.subject,
                receipt: e.tombstone.receipt,
                at: e.tombstone.erased_at,
            })
            .collect();
        self.journal(tenant, decisions).await.map(drop)
    }

    /// Journals the erasures of `receipts`, one entry per tenant: those of a tenant whose
    /// journal cannot be written get their backups place marked failed, for the next retry.
    /// Returns (journaled, not journaled).
    async fn journal_receipts(
        &self,
        receipts: Vec<ErasureReceipt>,
    ) -> (Vec<ErasureReceipt>, Vec<ErasureReceipt>) {
        let tenants: BTreeSet<TenantId> = receipts.iter().map(|r| r.tenant).collect();
        let mut failed: BTreeMap<TenantId, String> = BTreeMap::new();
        for tenant in tenants {
            let decisions = receipts
                .iter()
                .filter(|r| r.tenant == tenant)
                .map(|r| Decision::SubjectErased {
                    subject: r.subject,
                    receipt: r.id,
                    at: r.started_at,
                })
                .collect();
            if let Err(e) = self.journal(tenant, decisions).await {
                failed.insert(tenant, e.to_string());
            }
        }
        let now = self.clock.now();
        let (mut journaled, mut not) = (Vec::new(), Vec::new());
        for mut r in receipts {
            match failed.get(&r.tenant) {
                None => journaled.push(r),
                Some(error) => {
                    r.record_failure(Place::Backups, error, now);
                    not.push(r);
                }
            }
        }
        (journaled, not)
    }

    /// Journals that erasures journaled before their transaction did not happen (a hold placed
    /// meanwhile, the subject gone, the transaction failed), so that no restore applies them.
    /// Best effort: a failure is reported to the error tracker (ids only), and a restore would
    /// then leave those subjects out, the side a data subject's request errs on.
    async fn void_erasures(&self, tenant: TenantId, receipts: Vec<Uuid>) {
        let at = self.clock.now();
        let count = receipts.len();
        let decisions = receipts
            .into_iter()
            .map(|receipt| Decision::ErasureVoided { receipt, at })
            .collect();
        if let Err(e) = self.journal(tenant, decisions).await {
            self.report_error(gdpr_ports::ErrorReport {
                level: gdpr_ports::ReportLevel::Error,
                message: format!(
                    "{count} erasure(s) that did not happen could not be voided in the decision journal: {}",
                    e.for_operators()
                ),
                person: None,
                context: [("tenant".to_owned(), tenant.to_string())].into(),
                request: None,
            });
        }
    }

    /// Erases many subjects of the tenant in one storage transaction (the batch job's path).
    /// Subjects gone since they were selected are skipped. What is left to do is returned:
    /// the erased subjects' receipts, whose places outside the database are still to reach,
    /// and the subjects a legal hold kept out; [`App::finish_bulk`] does it.
    ///
    /// # Errors
    /// Storage errors from the transaction (then nothing of it was erased).
    pub(crate) async fn erase_in_bulk(
        &self,
        ctx: Ctx,
        subjects: &[SubjectId],
    ) -> Result<BulkErased, AppError> {
        let now = self.clock.now();
        let erasures = subjects
            .iter()
            .map(|&subject| {
                // Holds are checked by the storage transaction itself, for all at once.
                let plan = ErasurePlan::for_subject(ctx.tenant, subject, &[])
                    .unwrap_or_else(|_| unreachable!("no hold given, none blocks"));
                self.erasure(ctx, &plan, None, now)
            })
            .collect::<Vec<Erasure>>();
        self.journal_erasures(ctx.tenant, &erasures).await?;
        let receipts: Vec<Uuid> = erasures.iter().map(|e| e.receipt.id).collect();
        let erased = self.store.erase_subjects(erasures).await;
        // Many subjects at once: the tenant's whole entry is forgotten (one message).
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        let outcomes = match erased {
            Ok(outcomes) => outcomes,
            Err(e) => {
                self.void_erasures(ctx.tenant, receipts).await;
                return Err(AppError::store(e));
            }
        };
        let mut left = BulkErased::default();
        let mut void = Vec::new();
        for ((subject, receipt), outcome) in subjects.iter().zip(receipts).zip(outcomes) {
            match outcome {
                Erased::Done(receipt) => left.receipts.push(receipt),
                Erased::NotFound => void.push(receipt),
                Erased::Held => {
                    void.push(receipt);
                    left.held.push(*subject);
                }
            }
        }
        if !void.is_empty() {
            self.void_erasures(ctx.tenant, void).await;
        }
        Ok(left)
    }

    /// What follows [`App::erase_in_bulk`]: the backups reached once for all its subjects and
    /// the error tracker for each, their receipts saved, and each held subject given its own
    /// "blocked" receipt through [`App::erase_subject`]. Returns how many ended blocked (a
    /// hold lifted meanwhile lets the subject be erased).
    ///
    /// # Errors
    /// Storage errors from saving receipts (the retry job then completes them).
    pub(crate) async fn finish_bulk(
        &self,
        ctx: Ctx,
        mut left: BulkErased,
    ) -> Result<u64, AppError> {
        self.reach_other_systems(&mut left.receipts).await?;
        self.erase_or_block(ctx, &left.held).await
    }

    /// Erases each of `subjects` on its own: a held one gets its "blocked" receipt, one gone
    /// meanwhile is nothing left to do. Returns how many ended blocked.
    ///
    /// # Errors
    /// As [`App::erase_subject`], but for [`AppError::NotFound`].
    pub(crate) async fn erase_or_block(
        &self,
        ctx: Ctx,
        subjects: &[SubjectId],
    ) -> Result<u64, AppError> {
        let mut blocked = 0;
        for subject in subjects {
            match self.erase_subject(ctx, *subject, None).await {
                Ok(receipt) if receipt.status() == ErasureStatus::Blocked => blocked += 1,
                Ok(_) | Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(blocked)
    }

    /// The places outside the database, for receipts whose transaction is done: the backups
    /// (one pass for all) and the error tracker (one call each); then the receipts are saved.
    /// A place that fails stays pending for the retry job.
    async fn reach_other_systems(&self, receipts: &mut [ErasureReceipt]) -> Result<(), AppError> {
        self.reach_backups(receipts).await;
        self.forget_all(receipts.iter_mut()).await;
        self.store
            .save_erasure_receipts(receipts)
            .await
            .map_err(AppError::store)
    }

    /// Shreds the receipts' subjects' keys from the backups' keyrings (their erasures were
    /// journaled before their transaction); on failure the place stays pending for the retry
    /// job.
    async fn reach_backups(&self, receipts: &mut [ErasureReceipt]) {
        if receipts.is_empty() {
            return;
        }
        let now = self.clock.now();
        // The erasure wrote its tombstone from the same receipt: rebuild it rather than read
        // the journal.
        let tombstones: Vec<Tombstone> = receipts
            .iter()
            .map(|r| Tombstone {
                tenant: r.tenant,
                subject: r.subject,
                erased_at: r.started_at,
                receipt: r.id,
            })
            .collect();
        let reach = self.erase_from_backups(&tombstones).await;
        for receipt in receipts.iter_mut() {
            match reach.failed.get(&receipt.subject) {
                Some(error) => receipt.record_failure(Place::Backups, error, now),
                None => {
                    let count = reach.keyrings.get(&receipt.subject).copied().unwrap_or(0);
                    receipt.record(
                        Place::Backups,
                        Outcome::Done {
                            at: now,
                            count: Some(count),
                        },
                    );
                }
            }
        }
    }

    /// Asks the error tracker to forget each receipt's subject, in turn, until it fails: once
    /// it is down (refusing, or not answering in time), the others are not asked (each call
    /// would wait as long again) and stay pending for the retry job. Returns how many were
    /// asked.
    async fn forget_all<'a>(
        &self,
        receipts: impl Iterator<Item = &'a mut ErasureReceipt>,
    ) -> usize {
        let mut asked = 0;
        let mut down = false;
        for receipt in receipts {
            if down {
                receipt.record_failure(
                    Place::ErrorTracker,
                    "not asked: the error tracker failed for an earlier subject; retried later",
                    self.clock.now(),
                );
                continue;
            }
            asked += 1;
            down = !self.forget_in_error_tracker(receipt).await;
        }
        asked
    }

    /// Whether the tracker answered (a refusal or no answer: `false`).
    async fn forget_in_error_tracker(&self, receipt: &mut ErasureReceipt) -> bool {
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
                true
            }
            // Started but not confirmed: stays pending, and the retry job asks again.
            Ok(ForgetOutcome::Accepted { job }) => {
                receipt.record_failure(
                    Place::ErrorTracker,
                    &format!("deletion job {job} accepted by the error tracker, not yet confirmed"),
                    now,
                );
                true
            }
            Err(e) => {
                receipt.record_failure(Place::ErrorTracker, &e.to_string(), now);
                false
            }
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
        let now = self.clock.now();
        // A place that failed is retried at once. One still planned is most likely being
        // reached by the erasure that wrote it a moment ago: it is left to that erasure
        // unless it is old enough to be a crash's leftover, so nobody is asked twice.
        let receipts: Vec<ErasureReceipt> = self
            .store
            .unfinished_erasure_receipts()
            .await
            .map_err(AppError::store)?
            .into_iter()
            .filter(|r| {
                r.places
                    .iter()
                    .any(|p| matches!(p.outcome, Outcome::Pending { .. }))
                    || now - r.started_at >= IN_FLIGHT
            })
            .collect();
        let mut report = RetryReport {
            receipts: receipts.len(),
            ..RetryReport::default()
        };
        // Saved chunk by chunk: a failure or a crash keeps what was done before it.
        for chunk in receipts.chunks(RETRY_CHUNK) {
            let mut chunk = chunk.to_vec();
            // Transactional places are done together or not at all; only calls to other
            // systems can be left unfinished. The backups: one pass for the chunk.
            let (mut backups, mut rest): (Vec<_>, Vec<_>) = chunk
                .drain(..)
                .partition(|r| r.unfinished().contains(&Place::Backups));
            report.attempts += backups.len();
            // Journaled again first (harmless twice: replay goes by receipt): an erasure cut
            // short by a crash, or made by an earlier version, is then journaled for sure.
            let (mut journaled, mut unjournaled) = self.journal_receipts(backups).await;
            self.reach_backups(&mut journaled).await;
            backups = journaled;
            backups.append(&mut unjournaled);
            backups.append(&mut rest);
            let asked = backups
                .iter_mut()
                .filter(|r| r.unfinished().contains(&Place::ErrorTracker));
            report.attempts += self.forget_all(asked).await;
            self.store
                .save_erasure_receipts(&backups)
                .await
                .map_err(AppError::store)?;
            for receipt in &backups {
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
        }
        Ok(report)
    }

    /// For a selection by consent: the subjects it picks (as of `cutoff`) and the purpose
    /// whose forms' records it covers; `None` for other selections.
    pub(crate) async fn picked_by_consent(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
        cutoff: Option<time::OffsetDateTime>,
    ) -> Result<Option<(BTreeSet<SubjectId>, gdpr_consent::PurposeId)>, AppError> {
        let (forms, events) = match selector {
            BatchSelector::ConsentForm { .. } | BatchSelector::ConsentState { .. } => (
                self.consent_forms(ctx).await?,
                self.store
                    .tenant_consent_events(ctx.tenant)
                    .await
                    .map_err(AppError::store)?,
            ),
            _ => return Ok(None),
        };
        match selector.pick_by_consent(&forms, &events, cutoff) {
            Some(picked) => Ok(Some(picked)),
            None => Err(AppError::NotFound("consent form")),
        }
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
        self.plan_batch_erasure_until(ctx, selector, None, true)
            .await
    }

    /// The same, counting only records created at or before `cutoff`: a batch job started at
    /// `cutoff` never reaches subjects selected only by records submitted after it started.
    /// Without `with_records` the plan's record count stays 0 (a running job needs the
    /// subjects only, and counting reads every record of the tenant).
    pub(crate) async fn plan_batch_erasure_until(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
        cutoff: Option<time::OffsetDateTime>,
        mut with_records: bool,
    ) -> Result<BatchPlan, AppError> {
        let mut plan = BatchPlan::default();
        let mut records: BTreeMap<SubjectId, u64> = BTreeMap::new();
        let selected: BTreeSet<SubjectId> = if let Some(ids) = selector.listed() {
            let mut found = BTreeSet::new();
            for id in ids {
                // Counted, not opened: an unreadable profile is still a subject to erase.
                match self.store.subject_exists(ctx.tenant, *id).await {
                    Ok(true) => {
                        found.insert(*id);
                    }
                    Ok(false) => plan.unknown += 1,
                    Err(e) => return Err(AppError::store(e)),
                }
            }
            found
        } else if let Some((picked, _)) = self.picked_by_consent(ctx, selector, cutoff).await? {
            picked
        } else if let Some(scope) = selector.record_scope() {
            // By form and creation time: counted by storage, nothing decrypted, and the same
            // pass counts every record of the subjects selected.
            let counts = self
                .store
                .count_records_by_subject(ctx.tenant, scope.until(cutoff))
                .await
                .map_err(AppError::store)?;
            records = counts.iter().map(|(s, c)| (*s, c.total)).collect();
            with_records = false;
            counts.into_keys().collect()
        } else {
            // A field's value: the records are read (and decrypted) to compare it.
            let form = match selector {
                BatchSelector::FieldEquals { form, .. } => Some(*form),
                _ => None,
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
        let held = self
            .store
            .held_subjects(ctx.tenant)
            .await
            .map_err(AppError::store)?;
        // Every record of a selected subject goes with it, whatever selected it.
        if with_records {
            records = self
                .store
                .count_records_by_subject(ctx.tenant, RecordScope::ALL)
                .await
                .map_err(AppError::store)?
                .into_iter()
                .map(|(s, c)| (s, c.total))
                .collect();
        }
        for subject in selected {
            if held.contains(&subject) {
                plan.blocked.push(subject);
            } else {
                plan.records += records.get(&subject).copied().unwrap_or(0);
                plan.subjects.push(subject);
            }
        }
        Ok(plan)
    }
}
