//! Batch deletion of records, not subjects (the policy's "suppression par lots des
//! enregistrements"): a dry run, then a durable job like batch erasure. Records of a subject
//! under an active legal hold are left alone and counted.

use std::collections::BTreeSet;

use gdpr_audit::AuditAction;
use gdpr_pii::{FormId, RecordId, SubjectId, TenantId};
use gdpr_ports::{Clock, LegalHoldStore, Page, Ports, RecordStore};
use gdpr_rights::{BatchSelector, Decision, RecordFacts};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch_job::BatchJob;
use crate::jobs::JobKind;
use crate::{App, AppError, Ctx};

/// Records deleted per transaction (and between two progress records).
const CHUNK: usize = 1_000;

/// What a batch deletion of records would do. Nothing is changed to compute it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDeletionPlan {
    /// Records that would be deleted.
    pub records: u64,
    /// Subjects they belong to.
    pub subjects: u64,
    /// Selected records left alone because their subject is under a legal hold.
    pub blocked: u64,
}

/// What a status read needs of a [`Payload`]; all a job keeps once its work is over
/// ([`settled`]).
#[derive(Debug, Serialize, Deserialize)]
struct PayloadHead {
    tenant: TenantId,
    plan: RecordDeletionPlan,
}

/// The payload a record deletion keeps once its work is over: its [`PayloadHead`].
pub(crate) fn settled(payload: &str) -> Option<String> {
    crate::batch_job::head_of::<PayloadHead>(payload)
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    tenant: TenantId,
    actor: gdpr_audit::Actor,
    selector: BatchSelector,
    plan: RecordDeletionPlan,
    /// When it started: records submitted later are never deleted by it.
    #[serde(with = "time::serde::rfc3339")]
    cutoff: time::OffsetDateTime,
}

/// A batch deletion of records as it stands.
pub type RecordDeletion = BatchJob<RecordDeletionPlan>;

impl<P: Ports> App<P> {
    /// The selected records that may go, and how many are held.
    async fn selected_records(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
        cutoff: Option<time::OffsetDateTime>,
    ) -> Result<(Vec<(RecordId, SubjectId)>, RecordDeletionPlan), AppError> {
        // A selection by consent covers its subjects' records in the forms of its purpose.
        let by_consent = match self.picked_by_consent(ctx, selector, cutoff).await? {
            Some((subjects, purpose)) => {
                let forms: BTreeSet<FormId> = self
                    .forms(ctx)
                    .await?
                    .into_iter()
                    .filter(|f| f.purpose == purpose)
                    .map(|f| f.id)
                    .collect();
                Some((subjects, forms))
            }
            None => None,
        };
        let records = self
            .store
            .list_records(ctx.tenant, None, None, Page::ALL)
            .await
            .map_err(AppError::store)?;
        let held = self
            .store
            .held_subjects(ctx.tenant)
            .await
            .map_err(AppError::store)?;
        let mut plan = RecordDeletionPlan::default();
        let mut subjects = BTreeSet::new();
        let mut ids = Vec::new();
        for r in &records {
            let facts = RecordFacts {
                form: r.form,
                subject: r.subject,
                created_at: r.created_at,
                values: &r.values,
            };
            let selected = match &by_consent {
                Some((subjects, forms)) => subjects.contains(&r.subject) && forms.contains(&r.form),
                None => selector.matches(&facts),
            };
            if !selected || cutoff.is_some_and(|c| r.created_at > c) {
                continue;
            }
            if held.contains(&r.subject) {
                plan.blocked += 1;
            } else {
                ids.push((r.id, r.subject));
                subjects.insert(r.subject);
            }
        }
        plan.records = ids.len() as u64;
        plan.subjects = subjects.len() as u64;
        Ok((ids, plan))
    }

    /// The dry run of a batch deletion of records. Changes nothing.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn plan_record_deletion(
        &self,
        ctx: Ctx,
        selector: &BatchSelector,
    ) -> Result<RecordDeletionPlan, AppError> {
        Ok(self.selected_records(ctx, selector, None).await?.1)
    }

    /// Starts a batch deletion of the selected records as a durable job. Audited.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn start_record_deletion(
        &self,
        ctx: Ctx,
        selector: BatchSelector,
    ) -> Result<(Uuid, RecordDeletionPlan), AppError> {
        let cutoff = self.clock.now();
        let plan = self.selected_records(ctx, &selector, Some(cutoff)).await?.1;
        let payload = Payload {
            tenant: ctx.tenant,
            actor: ctx.actor,
            selector,
            plan,
            cutoff,
        };
        let id = self
            .queue_batch_job(
                ctx,
                JobKind::RecordDeletion,
                &payload,
                AuditAction::RecordDeletionStarted,
                &[("records", plan.records), ("blocked", plan.blocked)],
            )
            .await?;
        Ok((id, plan))
    }

    /// A batch deletion of records of the tenant, as it stands.
    ///
    /// # Errors
    /// [`AppError::NotFound`] (no such job, or another tenant's); storage errors.
    pub async fn record_deletion(&self, ctx: Ctx, id: Uuid) -> Result<RecordDeletion, AppError> {
        self.batch_job(ctx, id, JobKind::RecordDeletion, |p: &PayloadHead| {
            (p.tenant, p.plan.records)
        })
        .await
    }

    /// Runs (or resumes: what is left is selected again) a batch deletion of records.
    pub(crate) async fn run_record_deletion(
        &self,
        job: &gdpr_ports::Job,
        worker: &str,
    ) -> Result<String, AppError> {
        let payload: Payload = serde_json::from_str(&job.payload)
            .map_err(|_| AppError::invalid("payload", "not a record deletion"))?;
        // A tenant deleted since (offboarded): nothing to do, and nothing may be written
        // under its name (journal entries, audit records).
        self.tenant(payload.tenant).await?;
        let ctx = Ctx::new(payload.tenant, payload.actor);
        let (ids, left) = self
            .selected_records(ctx, &payload.selector, Some(payload.cutoff))
            .await?;
        let total = payload.plan.records;
        let mut done = total.saturating_sub(left.records);
        self.progress(job.id, worker, done, total).await?;
        let mut blocked = left.blocked;
        for chunk in ids.chunks(CHUNK) {
            // A hold placed since the selection still wins.
            let held = self
                .store
                .held_subjects(ctx.tenant)
                .await
                .map_err(AppError::store)?;
            let ids: Vec<RecordId> = chunk
                .iter()
                .filter(|(_, s)| !held.contains(s))
                .map(|(id, _)| *id)
                .collect();
            blocked += (chunk.len() - ids.len()) as u64;
            // Offboarded while this ran: nothing under its name any more.
            self.tenant(ctx.tenant).await?;
            let at = self.clock.now();
            if !ids.is_empty() {
                let deletion = Decision::RecordsDeleted {
                    records: ids.clone(),
                    at,
                };
                self.journal(ctx.tenant, vec![deletion]).await?;
            }
            let deleted = self
                .store
                .delete_records(ctx.tenant, &ids, at)
                .await
                .map_err(AppError::store)?;
            done += deleted;
            let event = self
                .event(ctx, AuditAction::RecordsBatchDeleted)
                .with("job", job.id)
                .with("count", deleted);
            self.audit(event).await?;
            self.progress(job.id, worker, done.min(total), total)
                .await?;
        }
        let summary = RecordDeletionPlan {
            records: done.min(total),
            subjects: payload.plan.subjects,
            blocked,
        };
        Ok(serde_json::to_string(&summary).unwrap_or_else(|_| unreachable!("plain data")))
    }
}
