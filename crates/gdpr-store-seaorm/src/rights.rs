//! Data-subject requests and legal holds.

use async_trait::async_trait;
use gdpr_pii::{RequestId, SubjectId, TenantId};
use gdpr_ports::{LegalHoldStore, Page, RequestStore, StoreError};
use gdpr_rights::{LegalHold, SubjectRequest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entity::{legal_hold, request, subject};
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

#[async_trait]
impl LegalHoldStore for SeaOrmStore {
    async fn insert_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        let subject_exists = subject::Entity::find_by_id(*hold.subject.as_uuid())
            .filter(subject::Column::TenantId.eq(*hold.tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .is_some();
        if !subject_exists {
            return Err(StoreError::NotFound);
        }
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

    async fn holds_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<LegalHold>, StoreError> {
        legal_hold::Entity::find()
            .filter(legal_hold::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(legal_hold::Column::SubjectId.eq(*subject.as_uuid()))
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| from_json(&row.body, "a legal hold"))
            .collect()
    }
}
