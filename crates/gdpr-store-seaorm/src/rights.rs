//! Data-subject requests, legal holds, restrictions and objections.

use async_trait::async_trait;
use gdpr_pii::{RequestId, SubjectId, TenantId};
use gdpr_ports::{LegalHoldStore, Page, ProcessingLimitStore, RequestStore, StoreError};
use gdpr_rights::{LegalHold, ProcessingLimit, SubjectRequest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entity::{legal_hold, processing_limit, request, subject};
use crate::{SeaOrmStore, db_err, from_json, limit, nanos, to_json, unavailable};

#[async_trait]
impl RequestStore for SeaOrmStore {
    async fn insert_request(&self, r: &SubjectRequest) -> Result<(), StoreError> {
        request::ActiveModel {
            id: Set(*r.id.as_uuid()),
            tenant_id: Set(*r.tenant.as_uuid()),
            subject_id: Set(*r.subject.as_uuid()),
            received_at: Set(nanos(r.received_at)),
            body: Set(to_json(r)),
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

    async fn update_request(&self, r: &SubjectRequest) -> Result<(), StoreError> {
        use request::Column as C;
        crate::replace_body::<request::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            *r.id.as_uuid(),
            *r.tenant.as_uuid(),
            to_json(r),
        )
        .await
    }

    async fn list_requests(
        &self,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let (offset, limit) = limit(page);
        let mut query = request::Entity::find();
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

/// The JSON bodies of a subject's rows in a `(id, tenant_id, subject_id, body)` table.
async fn bodies_of<E, T>(
    db: &sea_orm::DatabaseConnection,
    [tenant_column, subject_column]: [E::Column; 2],
    tenant: TenantId,
    subject: SubjectId,
    body: fn(E::Model) -> String,
    what: &str,
) -> Result<Vec<T>, StoreError>
where
    E: EntityTrait,
    T: serde::de::DeserializeOwned,
{
    E::find()
        .filter(tenant_column.eq(*tenant.as_uuid()))
        .filter(subject_column.eq(*subject.as_uuid()))
        .all(db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|row| from_json(&body(row), what))
        .collect()
}

#[async_trait]
impl LegalHoldStore for SeaOrmStore {
    async fn insert_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        self.ensure_subject(hold.tenant, hold.subject).await?;
        legal_hold::ActiveModel {
            id: Set(hold.id),
            tenant_id: Set(*hold.tenant.as_uuid()),
            subject_id: Set(*hold.subject.as_uuid()),
            body: Set(to_json(hold)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("legal hold id already exists"))
    }

    async fn update_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        use legal_hold::Column as C;
        crate::replace_body::<legal_hold::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            hold.id,
            *hold.tenant.as_uuid(),
            to_json(hold),
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
            let hold: LegalHold = from_json(&row.body, "a legal hold")?;
            if hold.is_active() {
                held.insert(hold.subject);
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
        bodies_of::<legal_hold::Entity, _>(
            &self.db,
            [C::TenantId, C::SubjectId],
            tenant,
            subject,
            |row| row.body,
            "a legal hold",
        )
        .await
    }
}

#[async_trait]
impl ProcessingLimitStore for SeaOrmStore {
    async fn insert_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        self.ensure_subject(limit.tenant, limit.subject).await?;
        processing_limit::ActiveModel {
            id: Set(limit.id),
            tenant_id: Set(*limit.tenant.as_uuid()),
            subject_id: Set(*limit.subject.as_uuid()),
            body: Set(to_json(limit)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("processing limit id already exists"))
    }

    async fn update_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        use processing_limit::Column as C;
        crate::replace_body::<processing_limit::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            limit.id,
            *limit.tenant.as_uuid(),
            to_json(limit),
        )
        .await
    }

    async fn limits_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ProcessingLimit>, StoreError> {
        use processing_limit::Column as C;
        let mut limits: Vec<ProcessingLimit> = bodies_of::<processing_limit::Entity, _>(
            &self.db,
            [C::TenantId, C::SubjectId],
            tenant,
            subject,
            |row| row.body,
            "a processing limit",
        )
        .await?;
        limits.sort_by_key(|l| (l.placed_at, l.id));
        Ok(limits)
    }
}
