//! Durable background work: the jobs queue that several replicas claim from.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::StoreError;

/// How many times a job is claimed at most (a job that keeps killing its worker stops being
/// picked up, and stays visible as running with its attempts).
pub const MAX_ATTEMPTS: u32 = 10;

/// A job as a worker sees it once claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job.
    pub id: Uuid,
    /// What to do (`erasure-retry`, `backup`, ...).
    pub kind: String,
    /// Its parameters, as JSON text (ids and counts only).
    pub payload: String,
    /// How many times it has been claimed, this time included.
    pub attempts: u32,
    /// Progress recorded so far: (done, total).
    pub progress: (u64, u64),
}

/// A job's state, as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its time or a worker.
    Queued,
    /// Claimed by a worker whose lease has not run out.
    Running,
    /// Finished.
    Done,
    /// Given up on.
    Failed,
}

/// A job's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job.
    pub id: Uuid,
    /// What it does.
    pub kind: String,
    /// Where it stands.
    pub state: JobState,
    /// Claims so far.
    pub attempts: u32,
    /// (done, total).
    pub progress: (u64, u64),
    /// The last failure, without personal data.
    pub last_error: Option<String>,
    /// What it came to, once done (a summary, no personal data).
    pub result: Option<String>,
    /// Its payload (to check who may see it).
    pub payload: String,
}

/// How the queue stands, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Jobs queued whose time has come (or claimed, their lease run out), not yet taken.
    pub due: u64,
    /// When the longest-waiting of them was due.
    pub oldest_due: Option<OffsetDateTime>,
    /// Jobs claimed by a worker now.
    pub running: u64,
    /// Jobs given up on: failed, or abandoned (their lease ran out with every attempt used).
    pub failed: u64,
}

/// A durable queue of background jobs. Several workers (server replicas) may claim from one
/// queue: each job is claimed by one worker at a time, and a job whose worker died is claimed
/// again once its lease runs out.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues a job with a caller-chosen id; queuing the same id twice queues it once (so
    /// replicas scheduling the same daily job agree). Returns whether it was newly queued.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn enqueue(
        &self,
        id: Uuid,
        kind: &str,
        payload: &str,
        run_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Claims the oldest due job for `worker`, or a running one whose lease (`lease` after its
    /// claim or last progress) has expired and that has been claimed fewer than
    /// [`MAX_ATTEMPTS`] times.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn claim(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError>;

    /// Records progress, so that a resumed job knows where it was, and renews `worker`'s lease
    /// from `now`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `worker` no longer holds the job (its lease ran out and
    /// another worker took it): the caller must stop; [`StoreError::Unavailable`].
    async fn record_progress(
        &self,
        id: Uuid,
        worker: &str,
        done: u64,
        total: u64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Marks a job done. `settled`, if given, replaces its payload: a job whose work is over
    /// keeps what its status needs, not its inputs (a selector's value may be personal data).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `worker` no longer holds the job; [`StoreError::Unavailable`].
    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        result: &str,
        settled: Option<String>,
    ) -> Result<(), StoreError>;

    /// Records a failure: queued again at `retry_at`, or failed for good with `None`, its
    /// payload then replaced by `settled` if given (as [`JobQueue::complete`] does).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `worker` no longer holds the job; [`StoreError::Unavailable`].
    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        settled: Option<String>,
    ) -> Result<(), StoreError>;

    /// A job's status.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn job(&self, id: Uuid) -> Result<JobStatus, StoreError>;

    /// How the queue stands at `now`, a claim older than `lease` counting as due again.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn depth(&self, now: OffsetDateTime, lease: Duration) -> Result<QueueDepth, StoreError>;
}
