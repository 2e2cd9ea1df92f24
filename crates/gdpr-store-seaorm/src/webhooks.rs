//! The webhook delivery queue (`webhook_deliveries`) and the endpoints' cursors
//! (`webhook_cursors`): claimed like jobs, under a lease, `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL so that replicas take disjoint batches; SQLite serialises writers anyway.

use async_trait::async_trait;
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, Page, StoreError, WebhookStore,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::entity::{webhook_cursor, webhook_delivery};
use crate::{SeaOrmStore, corrupt, from_nanos, nanos, unavailable};

const CLAIM: &str = r#"
UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2
WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE state = 'pending' AND next_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3)
    ORDER BY next_at, id
    LIMIT $4
    {lock}
)
RETURNING *"#;

fn to_delivery(row: webhook_delivery::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.id,
        tenant: TenantId::from_uuid(row.tenant_id),
        endpoint: row.endpoint_id,
        event_id: row.event_id,
        event_type: row.event_type,
        subject: row.subject_id.map(SubjectId::from_uuid),
        payload: row.payload,
        state: DeliveryState::parse(&row.state).ok_or_else(|| corrupt("a delivery's state"))?,
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
        next_at: from_nanos(row.next_at),
        created_at: from_nanos(row.created_at),
        first_attempt_at: row.first_attempt_at.map(from_nanos),
        last_attempt_at: row.last_attempt_at.map(from_nanos),
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error,
        delivered_at: row.delivered_at.map(from_nanos),
    })
}

fn to_row(d: &Delivery) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(d.id),
        tenant_id: Set(*d.tenant.as_uuid()),
        endpoint_id: Set(d.endpoint),
        event_id: Set(d.event_id.clone()),
        event_type: Set(d.event_type.clone()),
        subject_id: Set(d.subject.map(|s| *s.as_uuid())),
        payload: Set(d.payload.clone()),
        state: Set(d.state.as_str().to_owned()),
        attempts: Set(i32::try_from(d.attempts).unwrap_or(i32::MAX)),
        next_at: Set(nanos(d.next_at)),
        created_at: Set(nanos(d.created_at)),
        first_attempt_at: Set(d.first_attempt_at.map(nanos)),
        last_attempt_at: Set(d.last_attempt_at.map(nanos)),
        last_status: Set(d.last_status.map(i32::from)),
        last_error: Set(d.last_error.clone()),
        delivered_at: Set(d.delivered_at.map(nanos)),
        claimed_by: Set(None),
        claimed_until: Set(None),
    }
}

/// Deletes a tenant's deliveries and cursors, inside its deletion's transaction.
pub(crate) async fn delete_tenant(
    txn: &DatabaseTransaction,
    tenant: TenantId,
) -> Result<[(&'static str, u64); 2], StoreError> {
    let id = *tenant.as_uuid();
    let deliveries = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::TenantId.eq(id))
        .exec(txn)
        .await
        .map_err(unavailable)?
        .rows_affected;
    // The deployment's endpoints' deliveries of the tenant's events (kept under the nil id;
    // an event's id names its tenant: `evt_<tenant>_<seq>`).
    let deployment = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::TenantId.eq(uuid::Uuid::nil()))
        .filter(
            webhook_delivery::Column::EventId.starts_with(gdpr_webhooks::event_id_prefix(tenant)),
        )
        .exec(txn)
        .await
        .map_err(unavailable)?
        .rows_affected;
    let deliveries = deliveries + deployment;
    let cursors = webhook_cursor::Entity::delete_many()
        .filter(webhook_cursor::Column::TenantId.eq(id))
        .exec(txn)
        .await
        .map_err(unavailable)?
        .rows_affected;
    Ok([
        ("webhook_deliveries", deliveries),
        ("webhook_cursors", cursors),
    ])
}

/// A batch's attempts in one statement (PostgreSQL): each row's outcome from a `VALUES` list,
/// with the same effect as [`Delivery::apply`] on each, for the deliveries `$1` still holds.
const RECORD: &str = r#"
UPDATE webhook_deliveries AS d SET
    state = v.state,
    attempts = d.attempts + 1,
    next_at = COALESCE(v.next_at, d.next_at),
    first_attempt_at = COALESCE(d.first_attempt_at, v.at),
    last_attempt_at = v.at,
    last_status = v.status,
    last_error = v.error,
    delivered_at = COALESCE(v.delivered_at, d.delivered_at),
    claimed_by = NULL,
    claimed_until = NULL
FROM (VALUES {rows}) AS v(id, state, at, next_at, status, error, delivered_at)
WHERE d.id = v.id AND d.claimed_by = $1"#;

impl SeaOrmStore {
    async fn record_attempts_at_once(
        &self,
        worker: &str,
        attempts: Vec<(Uuid, Attempt)>,
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(attempts.len());
        let mut values: Vec<sea_orm::Value> = vec![worker.into()];
        for (id, attempt) in attempts {
            let n = values.len();
            rows.push(format!(
                "(${}::uuid, ${}::text, ${}::bigint, ${}::bigint, ${}::int, ${}::text, ${}::bigint)",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            ));
            let (state, at, next_at, status, error, delivered_at) = match attempt {
                Attempt::Delivered { at, status } => (
                    DeliveryState::Delivered,
                    at,
                    None,
                    Some(status),
                    None,
                    Some(nanos(at)),
                ),
                Attempt::Retry {
                    at,
                    status,
                    error,
                    next_at,
                } => (
                    DeliveryState::Pending,
                    at,
                    Some(nanos(next_at)),
                    status,
                    Some(error),
                    None,
                ),
                Attempt::Failed { at, status, error } => {
                    (DeliveryState::Failed, at, None, status, Some(error), None)
                }
            };
            values.extend([
                id.into(),
                state.as_str().into(),
                nanos(at).into(),
                next_at.into(),
                status.map(i32::from).into(),
                error.into(),
                delivered_at.into(),
            ]);
        }
        let sql = RECORD.replace("{rows}", &rows.join(", "));
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

#[async_trait]
impl WebhookStore for SeaOrmStore {
    async fn webhook_cursor(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
    ) -> Result<Option<u64>, StoreError> {
        let row = webhook_cursor::Entity::find_by_id((endpoint, *tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.map(|r| u64::try_from(r.seq).unwrap_or_default()))
    }

    async fn queue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        from: Option<u64>,
        to: u64,
        deliveries: Vec<Delivery>,
    ) -> Result<bool, StoreError> {
        let seq = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let txn = self.write_txn().await.map_err(unavailable)?;
        // The cursor moves only from where the caller saw it: the replica that loses the
        // race writes nothing.
        let moved = match from {
            Some(from) => {
                webhook_cursor::Entity::update_many()
                    .col_expr(webhook_cursor::Column::Seq, Expr::value(seq(to)))
                    .filter(webhook_cursor::Column::EndpointId.eq(endpoint))
                    .filter(webhook_cursor::Column::TenantId.eq(*tenant.as_uuid()))
                    .filter(webhook_cursor::Column::Seq.eq(seq(from)))
                    .exec(&txn)
                    .await
                    .map_err(unavailable)?
                    .rows_affected
                    == 1
            }
            None => {
                let inserted = webhook_cursor::ActiveModel {
                    endpoint_id: Set(endpoint),
                    tenant_id: Set(*tenant.as_uuid()),
                    seq: Set(seq(to)),
                }
                .insert(&txn)
                .await;
                match inserted {
                    Ok(_) => true,
                    Err(e) if crate::is_unique_violation(&e) => false,
                    Err(e) => return Err(unavailable(e)),
                }
            }
        };
        if !moved {
            return Ok(false);
        }
        for chunk in deliveries.chunks(500) {
            webhook_delivery::Entity::insert_many(chunk.iter().map(to_row))
                .exec_without_returning(&txn)
                .await
                .map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn claim_deliveries(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let backend = self.db.get_database_backend();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let stmt = Statement::from_sql_and_values(
            backend,
            CLAIM.replace("{lock}", lock),
            [
                worker.into(),
                nanos(now + lease).into(),
                nanos(now).into(),
                i64::from(limit).into(),
            ],
        );
        let rows = webhook_delivery::Entity::find()
            .from_raw_sql(stmt)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let mut out = rows
            .into_iter()
            .map(to_delivery)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|d| (d.next_at, d.id));
        Ok(out)
    }

    async fn record_attempts(
        &self,
        worker: &str,
        attempts: Vec<(Uuid, Attempt)>,
    ) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        if self.db.get_database_backend() == DbBackend::Postgres {
            return self.record_attempts_at_once(worker, attempts).await;
        }
        let ids: Vec<Uuid> = attempts.iter().map(|(id, _)| *id).collect();
        let txn = self.write_txn().await.map_err(unavailable)?;
        let held = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .filter(webhook_delivery::Column::ClaimedBy.eq(worker))
            .all(&txn)
            .await
            .map_err(unavailable)?;
        for row in held {
            let Some((_, attempt)) = attempts.iter().find(|(id, _)| *id == row.id) else {
                continue;
            };
            let mut delivery = to_delivery(row)?;
            delivery.apply(attempt.clone());
            let mut active = to_row(&delivery);
            // Released: the lease is over with the attempt.
            active.claimed_by = Set(None);
            active.claimed_until = Set(None);
            active.update(&txn).await.map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)
    }

    async fn deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<Vec<Delivery>, StoreError> {
        use webhook_delivery::Column as C;
        let mut q = webhook_delivery::Entity::find().filter(C::TenantId.eq(*tenant.as_uuid()));
        if let Some(e) = filter.endpoint {
            q = q.filter(C::EndpointId.eq(e));
        }
        if let Some(s) = filter.state {
            q = q.filter(C::State.eq(s.as_str()));
        }
        if let Some(s) = filter.subject {
            q = q.filter(C::SubjectId.eq(*s.as_uuid()));
        }
        if let Some(after) = page.after {
            let at = nanos(after.at);
            q = q.filter(
                sea_orm::Condition::any()
                    .add(C::CreatedAt.lt(at))
                    .add(C::CreatedAt.eq(at).and(C::Id.lt(after.id))),
            );
        }
        q.order_by_desc(C::CreatedAt)
            .order_by_desc(C::Id)
            .offset(page.offset)
            .limit(u64::from(page.limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(to_delivery)
            .collect()
    }

    async fn delivery(&self, tenant: TenantId, id: Uuid) -> Result<Delivery, StoreError> {
        let row = webhook_delivery::Entity::find_by_id(id)
            .filter(webhook_delivery::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        to_delivery(row)
    }

    async fn requeue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Option<Uuid>,
        ids: Vec<Uuid>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        use webhook_delivery::Column as C;
        let mut chosen = sea_orm::Condition::any().add(C::Id.is_in(ids));
        if let Some(e) = endpoint {
            chosen = chosen.add(C::EndpointId.eq(e));
        }
        let done = webhook_delivery::Entity::update_many()
            .col_expr(C::State, Expr::value(DeliveryState::Pending.as_str()))
            .col_expr(C::Attempts, Expr::value(0))
            .col_expr(C::NextAt, Expr::value(nanos(now)))
            .col_expr(C::FirstAttemptAt, Expr::value(Option::<i64>::None))
            .filter(C::TenantId.eq(*tenant.as_uuid()))
            .filter(C::State.eq(DeliveryState::Failed.as_str()))
            .filter(chosen)
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected)
    }

    async fn fail_pending(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        reason: &str,
        forget: bool,
    ) -> Result<u64, StoreError> {
        use webhook_delivery::Column as C;
        let txn = self.write_txn().await.map_err(unavailable)?;
        let done = webhook_delivery::Entity::update_many()
            .col_expr(C::State, Expr::value(DeliveryState::Failed.as_str()))
            .col_expr(C::LastError, Expr::value(reason))
            .col_expr(C::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(C::ClaimedUntil, Expr::value(Option::<i64>::None))
            .filter(C::TenantId.eq(*tenant.as_uuid()))
            .filter(C::EndpointId.eq(endpoint))
            .filter(C::State.eq(DeliveryState::Pending.as_str()))
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        if forget {
            // Every cursor of the endpoint: one per tenant for the deployment's.
            webhook_cursor::Entity::delete_many()
                .filter(webhook_cursor::Column::EndpointId.eq(endpoint))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(done.rows_affected)
    }
}
