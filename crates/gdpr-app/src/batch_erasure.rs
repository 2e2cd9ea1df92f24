//! Batch erasure (Art. 17) as a durable job: started with a selector, run by a worker with its
//! progress recorded, resumable after a crash or a restart.
//!
//! The job holds the list its dry run made (the subjects to erase, and those a legal hold kept
//! out), so that a run does not select again: it erases the list in order, chunk by chunk. A
//! run that died half-way is run again from the top of the list: the subjects already erased
//! are met and skipped, so nothing depends on where it stopped. Subjects are erased in chunks,
//! one storage transaction per chunk, with the same guarantees as a single erasure: per
//! subject, all of it or none of it, its own tombstone, audit entry and receipt; the job's
//! result is the batch summary. Jobs queued before the list was kept (no list in their
//! payload) select again, as they always did.

use gdpr_audit::{Actor, AuditAction};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{Clock, Ports};
use gdpr_rights::BatchSelector;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::batch_job::BatchJob;
use crate::jobs::JobKind;
use crate::{App, AppError, BatchPlan, Ctx};

/// Subjects erased in one storage transaction, between two progress records (which also
/// renew the worker's lease): large enough that a batch costs few round trips and few
/// keyring rewrites, small enough that a transaction stays short.
pub(crate) const CHUNK: usize = 500;

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    tenant: TenantId,
    actor: Actor,
    selector: BatchSelector,
    /// Erasable subjects at the start (the dry run's count).
    total: u64,
    /// Their records at the start.
    records: u64,
    /// When it started: records submitted later select nothing, so the job never reaches
    /// beyond what its dry run showed.
    #[serde(with = "time::serde::rfc3339")]
    cutoff: time::OffsetDateTime,
    /// The dry run's subjects, in the order they are erased (absent in jobs queued by earlier
    /// versions, which select again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subjects: Option<Vec<SubjectId>>,
    /// The dry run's subjects held by a legal hold, each given its "blocked" receipt at the end
    /// (or erased, if the hold was lifted meanwhile).
    #[serde(default)]
    blocked: Vec<SubjectId>,
}

/// What a status read needs of a [`Payload`]: the lists, which can be long, are skipped.
/// All a job keeps once its work is over ([`settled`]).
#[derive(Debug, Serialize, Deserialize)]
struct PayloadHead {
    tenant: TenantId,
    total: u64,
}

/// The payload a batch erasure keeps once its work is over: its [`PayloadHead`].
pub(crate) fn settled(payload: &str) -> Option<String> {
    crate::batch_job::head_of::<PayloadHead>(payload)
}

/// What a finished batch erasure came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Subjects erased (each with its own receipt), or found already gone.
    pub erased: u64,
    /// The records of the subjects the dry run would erase, as it counted them.
    pub records: u64,
    /// Subjects selected but held by a legal hold, at the dry run or since, left alone (each
    /// with a receipt saying so).
    pub blocked: u64,
}

/// A batch erasure as it stands.
pub type BatchErasure = BatchJob<BatchSummary>;

impl<P: Ports> App<P> {
    /// Starts a batch erasure of what `selector` picks: the dry run's counts are fixed as the
    /// job's total, and a worker does the rest. Audited.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn start_batch_erasure(
        &self,
        ctx: Ctx,
        selector: BatchSelector,
    ) -> Result<(Uuid, BatchPlan), AppError> {
        let cutoff = self.clock.now();
        let plan = self
            .plan_batch_erasure_until(ctx, &selector, Some(cutoff), true)
            .await?;
        let payload = Payload {
            tenant: ctx.tenant,
            actor: ctx.actor,
            selector,
            total: plan.subjects.len() as u64,
            records: plan.records,
            cutoff,
            subjects: Some(plan.subjects.clone()),
            blocked: plan.blocked.clone(),
        };
        let counts = [
            ("subjects", payload.total),
            ("records", payload.records),
            ("blocked", plan.blocked.len() as u64),
        ];
        let id = self
            .queue_batch_job(
                ctx,
                JobKind::BatchErasure,
                &payload,
                AuditAction::BatchErasureStarted,
                &counts,
            )
            .await?;
        Ok((id, plan))
    }

    /// A batch erasure of the tenant, as it stands.
    ///
    /// # Errors
    /// [`AppError::NotFound`] (no such job, or another tenant's); storage errors.
    pub async fn batch_erasure(&self, ctx: Ctx, id: Uuid) -> Result<BatchErasure, AppError> {
        self.batch_job(ctx, id, JobKind::BatchErasure, |p: &PayloadHead| {
            (p.tenant, p.total)
        })
        .await
    }

    /// Runs (or resumes) a batch erasure job; its summary as JSON.
    pub(crate) async fn run_batch_erasure(
        &self,
        job: &gdpr_ports::Job,
        worker: &str,
    ) -> Result<String, AppError> {
        let payload: Payload = serde_json::from_str(&job.payload)
            .map_err(|_| AppError::invalid("payload", "not a batch erasure"))?;
        // A tenant deleted since (offboarded): nothing to do, and nothing may be written
        // under its name (journal entries, audit records).
        self.tenant(payload.tenant).await?;
        let ctx = Ctx::new(payload.tenant, payload.actor);
        // Every run goes through the whole list: subjects an earlier run erased are met again
        // and skipped (one look-up per chunk). So nothing rests on where an earlier run, or
        // an earlier version, stopped: a chunk committed whose follow-up never ran is met
        // again, and its subjects held meanwhile get their "blocked" receipts then.
        let (todo, blocked, mut position) = if let Some(subjects) = payload.subjects {
            (subjects, payload.blocked, 0)
        } else {
            let plan = self
                .plan_batch_erasure_until(ctx, &payload.selector, Some(payload.cutoff), false)
                .await?;
            let done = payload.total.saturating_sub(plan.subjects.len() as u64);
            (plan.subjects, plan.blocked, done)
        };
        // What an earlier run recorded is never shown going back.
        let floor = job.progress.0;
        let shown = |position: u64| position.max(floor).min(payload.total);
        self.progress(job.id, worker, shown(position), payload.total)
            .await?;
        // Pipelined: while a chunk's transaction runs, the chunk before it reaches the places
        // outside the database and saves its receipts (on PostgreSQL on another connection,
        // so the two cores work at once; SQLite serialises the writes, and only the calls to
        // other systems overlap). If a follow-up fails, its receipts stay as the transaction
        // wrote them, outside places planned, for the retry job, as after a crash.
        let mut left = None;
        // Listed subjects a hold placed since the dry run kept out (counted by this run, which
        // meets every one of them).
        let mut held_since = 0;
        for chunk in todo.chunks(CHUNK) {
            // Subjects gone since the plan (another erasure) are done too: nothing is left of
            // them. One held since then gets its "blocked" receipt.
            let before = async {
                match left.take() {
                    Some(left) => self.finish_bulk(ctx, left).await,
                    None => Ok(0),
                }
            };
            let (erased, finished) =
                futures_util::future::join(self.erase_in_bulk(ctx, chunk), before).await;
            held_since += finished?;
            let erased = erased?;
            position += chunk.len() as u64;
            self.progress(job.id, worker, shown(position), payload.total)
                .await?;
            left = Some(erased);
        }
        if let Some(left) = left {
            held_since += self.finish_bulk(ctx, left).await?;
        }
        // The dry run's held subjects: each gets its "blocked" receipt, or, its hold lifted
        // since, is erased.
        let still_held = self.erase_or_block(ctx, &blocked).await?;
        // Subjects gone before this run reached them (an earlier run, another erasure) count
        // as erased: nothing is left of them.
        let summary = BatchSummary {
            erased: payload.total.saturating_sub(held_since)
                + (blocked.len() as u64).saturating_sub(still_held),
            records: payload.records,
            blocked: held_since + still_held,
        };
        // Offboarded while this ran: nothing under its name any more.
        self.tenant(payload.tenant).await?;
        let event = self
            .event(ctx, AuditAction::BatchErasureCompleted)
            .with("job", job.id)
            .with("subjects", summary.erased)
            .with("blocked", summary.blocked);
        self.audit(event).await?;
        Ok(serde_json::to_string(&summary).unwrap_or_else(|_| unreachable!("plain data")))
    }
}
