//! The durable jobs queue. On PostgreSQL a worker claims the oldest due job with
//! `FOR UPDATE SKIP LOCKED`, so replicas polling one table never take the same job; on SQLite
//! the single writer gives the same guarantee. A job whose worker died (its lease ran out) is
//! claimed again: jobs must therefore be resumable, which their recorded progress allows.

use async_trait::async_trait;
use gdpr_ports::{Job, JobQueue, JobState, JobStatus, QueueDepth, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Set, Statement};
use sea_orm::{ColumnTrait, QueryFilter};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::entity::job;
use crate::{SeaOrmStore, corrupt, is_unique_violation, nanos, unavailable};

const CLAIM: &str = r#"
UPDATE jobs SET state = 'running', claimed_by = $1, claimed_at = $2, attempts = attempts + 1
WHERE id = (
    SELECT id FROM jobs
    WHERE (state = 'queued' AND run_at <= $2)
       OR (state = 'running' AND claimed_at < $3 AND attempts < $4)
    ORDER BY run_at, id
    LIMIT 1
    {lock}
)
RETURNING id, kind, payload, attempts, progress_done, progress_total"#;

/// How the queue stands: jobs due (queued and due, or claimed by a worker whose lease ran
/// out), since when the oldest of them is due, jobs running, jobs given up on (failed, or
/// abandoned: their lease ran out with every attempt used, so no worker takes them again).
const DEPTH: &str = r#"
SELECT
    COALESCE(SUM(CASE WHEN (state = 'queued' AND run_at <= $1)
        OR (state = 'running' AND claimed_at < $2 AND attempts < $3) THEN 1 ELSE 0 END), 0) AS due,
    MIN(CASE WHEN state = 'queued' AND run_at <= $1 THEN run_at
        WHEN state = 'running' AND claimed_at < $2 AND attempts < $3 THEN claimed_at + $4 END) AS oldest,
    COALESCE(SUM(CASE WHEN state = 'running' AND claimed_at >= $2 THEN 1 ELSE 0 END), 0) AS running,
    COALESCE(SUM(CASE WHEN state = 'failed'
        OR (state = 'running' AND claimed_at < $2 AND attempts >= $3) THEN 1 ELSE 0 END), 0) AS failed
FROM jobs WHERE state <> 'done'"#;

fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl SeaOrmStore {
    /// Changes a job that `worker` still holds; a worker whose lease was taken over changes
    /// nothing.
    async fn update_job(
        &self,
        id: Uuid,
        worker: &str,
        changes: Vec<(job::Column, Expr)>,
    ) -> Result<(), StoreError> {
        let mut update = job::Entity::update_many()
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::ClaimedBy.eq(worker))
            .filter(job::Column::State.eq(state_name(JobState::Running)));
        for (column, value) in changes {
            update = update.col_expr(column, value);
        }
        let result = update.exec(&self.db).await.map_err(unavailable)?;
        if result.rows_affected == 0 {
            return Err(StoreError::Conflict(
                "the job's lease was lost to another worker",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SeaOrmStore {
    async fn enqueue(
        &self,
        id: Uuid,
        kind: &str,
        payload: &str,
        run_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let row = job::ActiveModel {
            id: Set(id),
            kind: Set(kind.to_owned()),
            payload: Set(payload.to_owned()),
            state: Set(state_name(JobState::Queued).to_owned()),
            run_at: Set(nanos(run_at)),
            attempts: Set(0),
            claimed_by: Set(None),
            claimed_at: Set(None),
            last_error: Set(None),
            progress_done: Set(0),
            progress_total: Set(0),
            created_at: Set(nanos(OffsetDateTime::now_utc())),
            result: Set(None),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn claim(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        let backend = self.db.get_database_backend();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = CLAIM.replace("{lock}", lock);
        let stmt = Statement::from_sql_and_values(
            backend,
            sql,
            [
                worker.into(),
                nanos(now).into(),
                nanos(now - lease).into(),
                i32::try_from(gdpr_ports::MAX_ATTEMPTS)
                    .unwrap_or(i32::MAX)
                    .into(),
            ],
        );
        let Some(row) = self.db.query_one_raw(stmt).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let get = |e| {
            let _ = e;
            corrupt("a claimed job row")
        };
        Ok(Some(Job {
            id: row.try_get::<Uuid>("", "id").map_err(get)?,
            kind: row.try_get::<String>("", "kind").map_err(get)?,
            payload: row.try_get::<String>("", "payload").map_err(get)?,
            attempts: u32::try_from(row.try_get::<i32>("", "attempts").map_err(get)?)
                .unwrap_or_default(),
            progress: (
                count(row.try_get::<i64>("", "progress_done").map_err(get)?),
                count(row.try_get::<i64>("", "progress_total").map_err(get)?),
            ),
        }))
    }

    async fn record_progress(
        &self,
        id: Uuid,
        worker: &str,
        done: u64,
        total: u64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let n = |v: u64| Expr::value(i64::try_from(v).unwrap_or(i64::MAX));
        self.update_job(
            id,
            worker,
            vec![
                (job::Column::ProgressDone, n(done)),
                (job::Column::ProgressTotal, n(total)),
                // Progress renews the lease.
                (job::Column::ClaimedAt, Expr::value(nanos(now))),
            ],
        )
        .await
    }

    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        result: &str,
        settled: Option<String>,
    ) -> Result<(), StoreError> {
        let mut changes = vec![
            (job::Column::State, Expr::value(state_name(JobState::Done))),
            (job::Column::Result, Expr::value(result.to_owned())),
        ];
        changes.extend(settled.map(|p| (job::Column::Payload, Expr::value(p))));
        self.update_job(id, worker, changes).await
    }

    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        settled: Option<String>,
    ) -> Result<(), StoreError> {
        let mut changes = vec![(job::Column::LastError, Expr::value(error.to_owned()))];
        match retry_at {
            Some(at) => {
                changes.push((
                    job::Column::State,
                    Expr::value(state_name(JobState::Queued)),
                ));
                changes.push((job::Column::RunAt, Expr::value(nanos(at))));
            }
            None => {
                changes.push((
                    job::Column::State,
                    Expr::value(state_name(JobState::Failed)),
                ));
                changes.extend(settled.map(|p| (job::Column::Payload, Expr::value(p))));
            }
        }
        self.update_job(id, worker, changes).await
    }

    async fn depth(&self, now: OffsetDateTime, lease: Duration) -> Result<QueueDepth, StoreError> {
        let stmt = Statement::from_sql_and_values(
            self.db.get_database_backend(),
            DEPTH,
            [
                nanos(now).into(),
                nanos(now - lease).into(),
                i32::try_from(gdpr_ports::MAX_ATTEMPTS)
                    .unwrap_or(i32::MAX)
                    .into(),
                i64::try_from(lease.whole_nanoseconds())
                    .unwrap_or(i64::MAX)
                    .into(),
            ],
        );
        let row = self
            .db
            .query_one_raw(stmt)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| corrupt("the jobs queue's depth"))?;
        let get = |column: &str| {
            row.try_get::<i64>("", column)
                .map_err(|_| corrupt("the jobs queue's depth"))
        };
        Ok(QueueDepth {
            due: count(get("due")?),
            oldest_due: row
                .try_get::<Option<i64>>("", "oldest")
                .map_err(|_| corrupt("the jobs queue's depth"))?
                .map(crate::from_nanos),
            running: count(get("running")?),
            failed: count(get("failed")?),
        })
    }

    async fn job(&self, id: Uuid) -> Result<JobStatus, StoreError> {
        let row = job::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        let state = match row.state.as_str() {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return Err(corrupt("a job's state")),
        };
        Ok(JobStatus {
            id,
            kind: row.kind,
            state,
            attempts: u32::try_from(row.attempts).unwrap_or_default(),
            progress: (count(row.progress_done), count(row.progress_total)),
            last_error: row.last_error,
            result: row.result,
            payload: row.payload,
        })
    }
}
