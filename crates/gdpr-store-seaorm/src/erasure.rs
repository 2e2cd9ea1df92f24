//! Erasure in one transaction, the tombstone journal and erasure receipts.

use async_trait::async_trait;
use gdpr_audit::AuditEvent;
use gdpr_pii::TenantId;
use gdpr_ports::{ErasedCounts, ErasureStore, StoreError};
use gdpr_rights::{ErasureReceipt, LegalHold, Tombstone};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::audit::append_many_in;
use crate::entity::{
    consent_event, erasure_receipt, legal_hold, processing_limit, record, subject, subject_key,
    tombstone,
};
use crate::{
    SeaOrmStore, db_err, from_json, from_nanos, is_unique_violation, nanos, retrying, to_json,
    unavailable,
};

enum Failure {
    NotFound,
    Held,
    Db(DbErr),
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

impl SeaOrmStore {
    async fn erase_once(&self, t: &Tombstone, audit: AuditEvent) -> Result<ErasedCounts, Failure> {
        let (tenant, subject_id) = (*t.tenant.as_uuid(), *t.subject.as_uuid());
        let txn = self.write_txn().await?;
        let profile = subject::Entity::find_by_id(subject_id)
            .filter(subject::Column::TenantId.eq(tenant))
            .one(&txn)
            .await?
            .ok_or(Failure::NotFound)?;
        // The use case checked the holds before; a hold placed since then still wins.
        let holds = legal_hold::Entity::find()
            .filter(legal_hold::Column::TenantId.eq(tenant))
            .filter(legal_hold::Column::SubjectId.eq(subject_id))
            .all(&txn)
            .await?;
        for hold in holds {
            let hold: LegalHold = serde_json::from_str(&hold.body).map_err(|_| Failure::Held)?;
            if hold.is_active() {
                return Err(Failure::Held);
            }
        }
        let personal_fields = [
            profile.email_ct.is_some(),
            profile.full_name_ct.is_some(),
            profile.ip_ct.is_some(),
        ]
        .into_iter()
        .filter(|present| *present)
        .count() as u64;
        let records = record::Entity::delete_many()
            .filter(record::Column::TenantId.eq(tenant))
            .filter(record::Column::SubjectId.eq(subject_id))
            .exec(&txn)
            .await?
            .rows_affected;
        let consents = consent_event::Entity::delete_many()
            .filter(consent_event::Column::TenantId.eq(tenant))
            .filter(consent_event::Column::SubjectId.eq(subject_id))
            .exec(&txn)
            .await?
            .rows_affected;
        let keys = subject_key::Entity::delete_many()
            .filter(subject_key::Column::TenantId.eq(tenant))
            .filter(subject_key::Column::SubjectId.eq(subject_id))
            .exec(&txn)
            .await?
            .rows_affected;
        // A restriction's or objection's reason may describe the person: it goes with them.
        processing_limit::Entity::delete_many()
            .filter(processing_limit::Column::TenantId.eq(tenant))
            .filter(processing_limit::Column::SubjectId.eq(subject_id))
            .exec(&txn)
            .await?;
        subject::Entity::delete_many()
            .filter(subject::Column::TenantId.eq(tenant))
            .filter(subject::Column::Id.eq(subject_id))
            .exec(&txn)
            .await?;
        tombstone::ActiveModel {
            receipt_id: Set(t.receipt),
            tenant_id: Set(tenant),
            subject_id: Set(subject_id),
            erased_at: Set(nanos(t.erased_at)),
        }
        .insert(&txn)
        .await?;
        append_many_in(&txn, &[audit]).await?;
        txn.commit().await?;
        Ok(ErasedCounts {
            records,
            personal_fields,
            keys,
            consents,
        })
    }
}

#[async_trait]
impl ErasureStore for SeaOrmStore {
    async fn erase_subject(
        &self,
        t: &Tombstone,
        audit: AuditEvent,
    ) -> Result<ErasedCounts, StoreError> {
        // A race for the audit chain's next position rolls the whole transaction back, so it
        // is safe to run again.
        let race = |f: &Failure| matches!(f, Failure::Db(e) if is_unique_violation(e));
        match retrying(|| self.erase_once(t, audit.clone()), race).await {
            Ok(counts) => Ok(counts),
            Err(Failure::NotFound) => Err(StoreError::NotFound),
            Err(Failure::Held) => Err(StoreError::Conflict("an active legal hold blocks erasure")),
            Err(Failure::Db(e)) => Err(unavailable(e)),
        }
    }

    async fn tombstones(&self, tenant: TenantId) -> Result<Vec<Tombstone>, StoreError> {
        Ok(tombstone::Entity::find()
            .filter(tombstone::Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(tombstone::Column::ErasedAt)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|row| Tombstone {
                tenant,
                subject: gdpr_pii::SubjectId::from_uuid(row.subject_id),
                erased_at: from_nanos(row.erased_at),
                receipt: row.receipt_id,
            })
            .collect())
    }

    async fn save_erasure_receipt(&self, receipt: &ErasureReceipt) -> Result<(), StoreError> {
        let unfinished = !receipt.unfinished().is_empty();
        let updated = erasure_receipt::Entity::update_many()
            .col_expr(erasure_receipt::Column::Unfinished, Expr::value(unfinished))
            .col_expr(erasure_receipt::Column::Body, Expr::value(to_json(receipt)))
            .filter(erasure_receipt::Column::Id.eq(receipt.id))
            .filter(erasure_receipt::Column::TenantId.eq(*receipt.tenant.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(unavailable)?
            .rows_affected;
        if updated > 0 {
            return Ok(());
        }
        erasure_receipt::ActiveModel {
            id: Set(receipt.id),
            tenant_id: Set(*receipt.tenant.as_uuid()),
            subject_id: Set(*receipt.subject.as_uuid()),
            unfinished: Set(unfinished),
            body: Set(to_json(receipt)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err(
            "an erasure receipt with this id belongs to another tenant",
        ))
    }

    async fn get_erasure_receipt(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<ErasureReceipt, StoreError> {
        let row = erasure_receipt::Entity::find_by_id(id)
            .filter(erasure_receipt::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        from_json(&row.body, "an erasure receipt")
    }

    async fn unfinished_erasure_receipts(&self) -> Result<Vec<ErasureReceipt>, StoreError> {
        erasure_receipt::Entity::find()
            .filter(erasure_receipt::Column::Unfinished.eq(true))
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| from_json(&row.body, "an erasure receipt"))
            .collect()
    }
}
