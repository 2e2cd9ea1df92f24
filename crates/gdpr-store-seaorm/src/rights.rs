//! Data-subject requests, legal holds, restrictions and objections.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gdpr_pii::{RequestId, SubjectId, TenantId};
use gdpr_ports::{LegalHoldStore, Page, ProcessingLimitStore, RequestStore, StoreError};
use gdpr_rights::{LegalHold, ProcessingLimit, RequestStatus, SubjectRequest};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait as _,
};

use crate::crypto::DataKey;
use crate::entity::{legal_hold, processing_limit, request, subject};
use crate::{
    SeaOrmStore, after_cursor, corrupt, db_err, from_json, limit, nanos, to_json, unavailable,
};

impl SeaOrmStore {
    /// Makes `is_open` say what each request's body says where it may not: rows written
    /// before the column existed (empty), then rows flagged open (an older replica, during a
    /// rolling upgrade or after a rollback, closes a request without the column). A page of
    /// 1,000 rows per transaction; a row is written only if it still holds the body read, so
    /// a request closed or restored meanwhile keeps what its writer set. A body that does not
    /// read back is left as it is: reading it says so. How many rows were changed.
    pub(crate) async fn fill_open_flags(&self) -> Result<u64, StoreError> {
        use request::Column as C;
        const PAGE: u64 = 1_000;
        let mut changed = 0;
        for flagged in [C::IsOpen.is_null(), C::IsOpen.eq(true)] {
            let mut after = None;
            loop {
                let mut query = request::Entity::find().filter(flagged.clone());
                if let Some(after) = after {
                    query = query.filter(C::Id.gt(after));
                }
                let rows = query
                    .order_by_asc(C::Id)
                    .limit(PAGE)
                    .all(&self.db)
                    .await
                    .map_err(unavailable)?;
                let txn = self.db.begin().await.map_err(unavailable)?;
                for row in &rows {
                    let Ok(r) = from_json::<SubjectRequest>(&row.body, "a request") else {
                        continue;
                    };
                    let open = r.status == RequestStatus::Open;
                    if row.is_open == Some(open) {
                        continue;
                    }
                    changed += request::Entity::update_many()
                        .col_expr(C::IsOpen, Expr::value(open))
                        .filter(C::Id.eq(row.id))
                        .filter(flagged.clone())
                        .filter(C::Body.eq(row.body.as_str()))
                        .exec(&txn)
                        .await
                        .map_err(unavailable)?
                        .rows_affected;
                }
                txn.commit().await.map_err(unavailable)?;
                match rows.last() {
                    Some(last) if rows.len() as u64 == PAGE => after = Some(last.id),
                    _ => break,
                }
            }
        }
        Ok(changed)
    }
}

#[async_trait]
impl RequestStore for SeaOrmStore {
    async fn insert_request(&self, r: &SubjectRequest) -> Result<(), StoreError> {
        request::ActiveModel {
            id: Set(*r.id.as_uuid()),
            tenant_id: Set(*r.tenant.as_uuid()),
            subject_id: Set(*r.subject.as_uuid()),
            received_at: Set(nanos(r.received_at)),
            body: Set(to_json(r)),
            is_open: Set(Some(r.status == RequestStatus::Open)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("request id already exists"))
    }

    async fn get_request(
        &self,
        tenant: TenantId,
        id: RequestId,
    ) -> Result<SubjectRequest, StoreError> {
        let row = request::Entity::find_by_id(*id.as_uuid())
            .filter(request::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        from_json(&row.body, "a request")
    }

    async fn update_request(
        &self,
        before: &SubjectRequest,
        after: &SubjectRequest,
    ) -> Result<(), StoreError> {
        use request::Column as C;
        let (id, tenant) = (*after.id.as_uuid(), *after.tenant.as_uuid());
        let txn = self.write_txn().await.map_err(unavailable)?;
        let mut query = request::Entity::find()
            .filter(C::Id.eq(id))
            .filter(C::TenantId.eq(tenant));
        // Compared, then written, with no other writer between: SQLite's write transaction
        // excludes them; on PostgreSQL the row is locked.
        if self.backend() == sea_orm::DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let row = query
            .one(&txn)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        // By value, not by text: a body an earlier version wrote compares by what it says.
        if from_json::<SubjectRequest>(&row.body, "a request")? != *before {
            return Err(StoreError::Conflict(gdpr_ports::REQUEST_CHANGED));
        }
        let update = request::Entity::update_many()
            .col_expr(C::Body, Expr::value(to_json(after)))
            .col_expr(C::IsOpen, Expr::value(after.status == RequestStatus::Open))
            .filter(C::Id.eq(id))
            .filter(C::TenantId.eq(tenant));
        crate::update_found(&txn, update).await?;
        txn.commit().await.map_err(unavailable)
    }

    async fn open_requests(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        use request::Column as C;
        // Two reads by `requests_open` (led by the column): the rows that say open, and any
        // not filled in yet (written by an older replica during an upgrade), judged by their
        // body. One read with `OR` would not use the index on SQLite.
        // Both in one snapshot, so that a row filled in between is in one of them; a row in
        // both (emptied meanwhile by an older replica's restore) is listed once.
        let txn = self.snapshot().await?;
        let mut rows = std::collections::BTreeMap::new();
        for flag in [C::IsOpen.eq(true), C::IsOpen.is_null()] {
            let mut query = request::Entity::find().filter(flag);
            if let Some(t) = tenant {
                query = query.filter(C::TenantId.eq(*t.as_uuid()));
            }
            for row in query.all(&txn).await.map_err(unavailable)? {
                rows.insert(row.id, row.body);
            }
        }
        txn.commit().await.map_err(unavailable)?;
        let mut open = Vec::new();
        for body in rows.values() {
            let r: SubjectRequest = from_json(body, "a request")?;
            if r.status == RequestStatus::Open {
                open.push(r);
            }
        }
        // Both reads, every tenant's together: sorted here.
        open.sort_by_key(|r| (r.received_at, r.id));
        Ok(open)
    }

    async fn list_requests(
        &self,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let (offset, limit) = limit(page);
        let mut query = request::Entity::find().filter(after_cursor(
            page,
            request::Column::ReceivedAt,
            request::Column::Id,
        ));
        if let Some(t) = tenant {
            query = query.filter(request::Column::TenantId.eq(*t.as_uuid()));
        }
        query
            .order_by_asc(request::Column::ReceivedAt)
            .order_by_asc(request::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| from_json(&row.body, "a request"))
            .collect()
    }

    async fn list_subject_requests(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        // Sorted here, not by the database: a subject has a handful of requests, and an
        // ORDER BY makes SQLite's planner walk the tenant's index (which gives the order) and
        // read every request of the tenant, rather than the subject's (`requests_subject`).
        let mut rows = request::Entity::find()
            .filter(request::Column::SubjectId.eq(*subject.as_uuid()))
            .filter(request::Column::TenantId.eq(*tenant.as_uuid()))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        rows.sort_by_key(|row| (row.received_at, row.id));
        rows.iter()
            .map(|row| from_json(&row.body, "a request"))
            .collect()
    }
}

impl SeaOrmStore {
    /// `NotFound` unless the tenant has this subject.
    async fn ensure_subject(&self, tenant: TenantId, id: SubjectId) -> Result<(), StoreError> {
        subject::Entity::find_by_id(*id.as_uuid())
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(drop)
            .ok_or(StoreError::NotFound)
    }
}

/// What a reason reads as once its subject's data key is destroyed (an erased subject's
/// released hold).
const ERASED_REASON: &str = "(erased with the subject)";

/// The body of a hold or limit, its free-text `reason` sealed under the subject's data key
/// (`{"sealed": base64}`): a reason may name people, and it goes with the subject's key.
fn sealed_body<T: serde::Serialize>(value: &T, key: &DataKey, place: &str) -> String {
    let mut json =
        serde_json::to_value(value).unwrap_or_else(|_| unreachable!("domain types serialise"));
    if let Some(reason) = json.get_mut("reason")
        && let Some(text) = reason.as_str()
    {
        let sealed = key.seal(place, "reason", text.as_bytes());
        *reason = serde_json::json!({ "sealed": B64.encode(sealed) });
    }
    json.to_string()
}

/// A hold or limit read back: its reason opened with the subject's key (gone: the reason is
/// [`ERASED_REASON`]); a reason stored in clear by an earlier version is read as it is.
fn opened_body<T: serde::de::DeserializeOwned>(
    body: &str,
    key: Option<&DataKey>,
    place: &str,
    what: &str,
) -> Result<T, StoreError> {
    let mut json: serde_json::Value = from_json(body, what)?;
    if let Some(reason) = json.get_mut("reason")
        && let Some(sealed) = reason.get("sealed").and_then(serde_json::Value::as_str)
    {
        let text = match key {
            Some(key) => {
                let bytes = B64.decode(sealed).map_err(|_| corrupt(what))?;
                let plain = key
                    .open(place, "reason", &bytes)
                    .map_err(|_| corrupt(what))?;
                String::from_utf8(plain).map_err(|_| corrupt(what))?
            }
            None => ERASED_REASON.to_owned(),
        };
        *reason = serde_json::Value::String(text);
    }
    serde_json::from_value(json).map_err(|_| corrupt(what))
}

/// Whether a hold's body says it is still in force (read without opening its reason).
fn active_hold(body: &str) -> Result<bool, StoreError> {
    let json: serde_json::Value = from_json(body, "a legal hold")?;
    Ok(json
        .get("released_at")
        .is_none_or(serde_json::Value::is_null))
}

impl SeaOrmStore {
    /// The subject's data key, if it still has one.
    async fn key_if_any(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Option<DataKey>, StoreError> {
        Ok(self
            .data_keys(&self.db, tenant, &[subject])
            .await?
            .remove(&subject))
    }

    /// The bodies of a subject's rows in a `(id, tenant_id, subject_id, body)` table, their
    /// reasons opened.
    async fn bodies_of<E, T>(
        &self,
        [tenant_column, subject_column]: [E::Column; 2],
        tenant: TenantId,
        subject: SubjectId,
        row: fn(E::Model) -> (uuid::Uuid, String),
        (table, what): (&str, &str),
    ) -> Result<Vec<T>, StoreError>
    where
        E: EntityTrait,
        T: serde::de::DeserializeOwned,
    {
        let rows = E::find()
            .filter(tenant_column.eq(*tenant.as_uuid()))
            .filter(subject_column.eq(*subject.as_uuid()))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key_if_any(tenant, subject).await?;
        rows.into_iter()
            .map(|model| {
                let (id, body) = row(model);
                opened_body(&body, key.as_ref(), &format!("{table}/{id}"), what)
            })
            .collect()
    }
}

#[async_trait]
impl LegalHoldStore for SeaOrmStore {
    async fn insert_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        self.ensure_subject(hold.tenant, hold.subject).await?;
        let key = self
            .key_if_any(hold.tenant, hold.subject)
            .await?
            .ok_or(StoreError::NotFound)?;
        legal_hold::ActiveModel {
            id: Set(hold.id),
            tenant_id: Set(*hold.tenant.as_uuid()),
            subject_id: Set(*hold.subject.as_uuid()),
            body: Set(sealed_body(hold, &key, &format!("legal_holds/{}", hold.id))),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("legal hold id already exists"))
    }

    async fn update_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        use legal_hold::Column as C;
        let body = match self.key_if_any(hold.tenant, hold.subject).await? {
            Some(key) => sealed_body(hold, &key, &format!("legal_holds/{}", hold.id)),
            // Erased since: the reason went with the key, and stays gone.
            None => to_json(&LegalHold {
                reason: ERASED_REASON.to_owned(),
                ..hold.clone()
            }),
        };
        crate::replace_body::<legal_hold::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            hold.id,
            *hold.tenant.as_uuid(),
            body,
        )
        .await
    }

    async fn held_subjects(
        &self,
        tenant: TenantId,
    ) -> Result<std::collections::BTreeSet<SubjectId>, StoreError> {
        let rows = legal_hold::Entity::find()
            .filter(legal_hold::Column::TenantId.eq(*tenant.as_uuid()))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let mut held = std::collections::BTreeSet::new();
        for row in rows {
            if active_hold(&row.body)? {
                held.insert(SubjectId::from_uuid(row.subject_id));
            }
        }
        Ok(held)
    }

    async fn holds_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<LegalHold>, StoreError> {
        use legal_hold::Column as C;
        self.bodies_of::<legal_hold::Entity, _>(
            [C::TenantId, C::SubjectId],
            tenant,
            subject,
            |row| (row.id, row.body),
            ("legal_holds", "a legal hold"),
        )
        .await
    }
}

#[async_trait]
impl ProcessingLimitStore for SeaOrmStore {
    async fn insert_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        self.ensure_subject(limit.tenant, limit.subject).await?;
        let key = self
            .key_if_any(limit.tenant, limit.subject)
            .await?
            .ok_or(StoreError::NotFound)?;
        processing_limit::ActiveModel {
            id: Set(limit.id),
            tenant_id: Set(*limit.tenant.as_uuid()),
            subject_id: Set(*limit.subject.as_uuid()),
            body: Set(sealed_body(
                limit,
                &key,
                &format!("processing_limits/{}", limit.id),
            )),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("processing limit id already exists"))
    }

    async fn update_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        use processing_limit::Column as C;
        let key = self
            .key_if_any(limit.tenant, limit.subject)
            .await?
            .ok_or(StoreError::NotFound)?;
        crate::replace_body::<processing_limit::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            limit.id,
            *limit.tenant.as_uuid(),
            sealed_body(limit, &key, &format!("processing_limits/{}", limit.id)),
        )
        .await
    }

    async fn limits_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ProcessingLimit>, StoreError> {
        use processing_limit::Column as C;
        let mut limits: Vec<ProcessingLimit> = self
            .bodies_of::<processing_limit::Entity, _>(
                [C::TenantId, C::SubjectId],
                tenant,
                subject,
                |row| (row.id, row.body),
                ("processing_limits", "a processing limit"),
            )
            .await?;
        limits.sort_by_key(|l| (l.placed_at, l.id));
        Ok(limits)
    }
}
