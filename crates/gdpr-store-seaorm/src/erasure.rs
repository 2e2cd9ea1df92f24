//! Erasure in one transaction, the tombstone journal and erasure receipts.

use async_trait::async_trait;
use gdpr_audit::AuditEvent;
use gdpr_pii::TenantId;
use gdpr_ports::{ErasedCounts, ErasureStore, StoreError};
use gdpr_rights::{ErasureReceipt, Tombstone};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use uuid::Uuid;

use crate::audit::{APPEND_RETRIES, append_in};
use crate::entity::{consent_event, erasure_receipt, record, subject, subject_key, tombstone};
use crate::{SeaOrmStore, from_json, from_nanos, is_unique_violation, nanos, to_json, unavailable};

enum Failure {
    NotFound,
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
        let txn = self.db.begin().await?;
        let profile = subject::Entity::find_by_id(subject_id)
            .filter(subject::Column::TenantId.eq(tenant))
            .one(&txn)
            .await?
            .ok_or(Failure::NotFound)?;
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
        subject::Entity::delete_many()
            .filter(subject::Column::TenantId.eq(tenant))
            .filter(subject::Column::Id.eq(subject_id))
            .exec(&txn)
            .await?;
        let keys = subject_key::Entity::delete_many()
            .filter(subject_key::Column::TenantId.eq(tenant))
            .filter(subject_key::Column::SubjectId.eq(subject_id))
            .exec(&txn)
            .await?
            .rows_affected;
        tombstone::ActiveModel {
            receipt_id: Set(t.receipt),
            tenant_id: Set(tenant),
            subject_id: Set(subject_id),
            erased_at: Set(nanos(t.erased_at)),
        }
        .insert(&txn)
        .await?;
        append_in(&txn, audit).await?;
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
        let mut attempt = 0;
        loop {
            match self.erase_once(t, audit.clone()).await {
                Ok(counts) => return Ok(counts),
                Err(Failure::NotFound) => return Err(StoreError::NotFound),
                // Another writer took the audit chain's next position: the whole transaction
                // was rolled back, so it is safe to run again.
                Err(Failure::Db(e)) if is_unique_violation(&e) && attempt < APPEND_RETRIES => {
                    attempt += 1
                }
                Err(Failure::Db(e)) => return Err(unavailable(e)),
            }
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
        let row = erasure_receipt::ActiveModel {
            id: Set(receipt.id),
            tenant_id: Set(*receipt.tenant.as_uuid()),
            subject_id: Set(*receipt.subject.as_uuid()),
            unfinished: Set(!receipt.unfinished().is_empty()),
            body: Set(to_json(receipt)),
        };
        let exists = erasure_receipt::Entity::find_by_id(receipt.id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .is_some();
        if exists {
            row.update(&self.db).await.map(drop).map_err(unavailable)
        } else {
            row.insert(&self.db).await.map(drop).map_err(unavailable)
        }
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
