//! What batch jobs (a batch erasure, a batch deletion of records) share: queuing one with its
//! audit entry, reading one back for its tenant, recording its progress.

use gdpr_audit::AuditAction;
use gdpr_pii::TenantId;
use gdpr_ports::{Clock, JobQueue, JobState, Ports, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::jobs::JobKind;
use crate::{App, AppError, Ctx};

/// A batch job (an erasure, a deletion of records) as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchJob<S> {
    /// The job.
    pub id: Uuid,
    /// `queued`, `running`, `done` or `failed`.
    pub state: &'static str,
    /// Items (subjects, records) done so far: the furthest point any run has recorded (a
    /// run after a crash goes over the done ones again without showing less).
    pub done: u64,
    /// Items to do, as the dry run counted them.
    pub total: u64,
    /// Runs so far (more than one after a crash, a restart or a failure).
    pub attempts: u32,
    /// The last failure, if any (retried).
    pub last_error: Option<String>,
    /// The summary, once done.
    pub summary: Option<S>,
}

/// A job state as the API names it.
const fn job_state(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    }
}

/// `payload` cut down to its head `H` (the fields `H` has), as JSON; `None` when it does
/// not read as one.
pub(crate) fn head_of<H: Serialize + serde::de::DeserializeOwned>(payload: &str) -> Option<String> {
    let head: H = serde_json::from_str(payload).ok()?;
    serde_json::to_string(&head).ok()
}

impl<P: Ports> App<P> {
    /// Queues a batch job with what it needs to run (its selector, whose value may be
    /// personal data, is kept only until its work is over: then the job keeps its ids and
    /// counts, `jobs::run_next_job`), and audits its start
    /// (`action`, with the job's id and `counts`). Its id.
    pub(crate) async fn queue_batch_job(
        &self,
        ctx: Ctx,
        kind: JobKind,
        payload: &impl Serialize,
        action: AuditAction,
        counts: &[(&str, u64)],
    ) -> Result<Uuid, AppError> {
        let id = Uuid::new_v4();
        let json = serde_json::to_string(payload)
            .unwrap_or_else(|_| unreachable!("a payload of plain data serialises"));
        self.store
            .enqueue(id, kind.name(), &json, self.clock.now())
            .await
            .map_err(AppError::store)?;
        let mut event = self.event(ctx, action).with("job", id);
        for (name, count) in counts {
            event = event.with(name, count);
        }
        self.audit(event).await?;
        Ok(id)
    }

    /// A batch job of `kind` started by the tenant (another tenant's is not found);
    /// `tenant_and_total` reads its payload `T`.
    pub(crate) async fn batch_job<T, S>(
        &self,
        ctx: Ctx,
        id: Uuid,
        kind: JobKind,
        tenant_and_total: fn(&T) -> (TenantId, u64),
    ) -> Result<BatchJob<S>, AppError>
    where
        T: serde::de::DeserializeOwned,
        S: serde::de::DeserializeOwned,
    {
        let status = self
            .store
            .job(id)
            .await
            .map_err(AppError::not_found("job"))?;
        let (_, total) = serde_json::from_str::<T>(&status.payload)
            .ok()
            .map(|p| tenant_and_total(&p))
            .filter(|(tenant, _)| status.kind == kind.name() && *tenant == ctx.tenant)
            .ok_or(AppError::NotFound("job"))?;
        Ok(BatchJob {
            id,
            state: job_state(status.state),
            done: status.progress.0,
            total,
            attempts: status.attempts,
            last_error: status.last_error,
            summary: status.result.and_then(|r| serde_json::from_str(&r).ok()),
        })
    }

    pub(crate) async fn progress(
        &self,
        id: Uuid,
        worker: &str,
        done: u64,
        total: u64,
    ) -> Result<(), AppError> {
        match self
            .store
            .record_progress(id, worker, done, total, self.clock.now())
            .await
        {
            Ok(()) => Ok(()),
            // The lease went to another worker: stop, it carries on.
            Err(StoreError::Conflict(_)) => Err(AppError::Conflict(
                "the job was taken over by another worker".into(),
            )),
            Err(e) => Err(AppError::store(e)),
        }
    }
}
