//! Tenants, API keys and subjects' data keys.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use gdpr_pii::{ApiKeyId, SubjectId, Tenant, TenantId};
use gdpr_ports::{ApiKeyRecord, ApiKeyStore, Offboarding, PolicyOverride, StoreError, TenantStore};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use time::OffsetDateTime;

use crate::crypto::DataKey;
use crate::entity::{api_key, audit_entry, subject_key, tenant};
use crate::{SeaOrmStore, corrupt, db_err, from_json, from_nanos, nanos, to_json, unavailable};

impl SeaOrmStore {
    /// The data keys of `subjects` (those that still have one), unwrapped.
    pub(crate) async fn data_keys<C: ConnectionTrait>(
        &self,
        c: &C,
        tenant: TenantId,
        subjects: &[SubjectId],
    ) -> Result<HashMap<SubjectId, DataKey>, StoreError> {
        let ids: std::collections::BTreeSet<uuid::Uuid> =
            subjects.iter().map(|s| *s.as_uuid()).collect();
        let ids: Vec<uuid::Uuid> = ids.into_iter().collect();
        let mut rows = Vec::with_capacity(ids.len());
        // Bounded IN lists: far below SQLite's and PostgreSQL's bound-parameter limits.
        for chunk in ids.chunks(500) {
            rows.extend(
                subject_key::Entity::find()
                    .filter(subject_key::Column::TenantId.eq(*tenant.as_uuid()))
                    .filter(subject_key::Column::SubjectId.is_in(chunk.to_vec()))
                    .all(c)
                    .await
                    .map_err(unavailable)?,
            );
        }
        let keys = self.master.tenant(tenant);
        rows.into_iter()
            .map(|row| {
                let subject = SubjectId::from_uuid(row.subject_id);
                let key = keys
                    .open_data_key(subject, &row.wrapped)
                    .map_err(|_| corrupt("a subject's data key does not open"))?;
                Ok((subject, key))
            })
            .collect()
    }

    /// One subject's data key.
    pub(crate) async fn data_key<C: ConnectionTrait>(
        &self,
        c: &C,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<DataKey, StoreError> {
        self.data_keys(c, tenant, &[subject])
            .await?
            .remove(&subject)
            .ok_or(StoreError::NotFound)
    }
}

impl SeaOrmStore {
    /// Whether the subject's data key exists (erasure destroys it): for tests and operators,
    /// the use cases never ask.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn has_subject_key(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<bool, StoreError> {
        let row = subject_key::Entity::find_by_id(*subject.as_uuid())
            .filter(subject_key::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl TenantStore for SeaOrmStore {
    async fn insert_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        tenant::ActiveModel {
            id: Set(*t.id.as_uuid()),
            name: Set(t.name.clone()),
            privacy_contact: Set(t.privacy_contact.clone()),
            created_at: Set(nanos(t.created_at)),
            retention: Set(None),
            offboarding: Set(None),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("tenant id already exists"))
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant, StoreError> {
        tenant::Entity::find_by_id(*id.as_uuid())
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(tenant_of)
            .ok_or(StoreError::NotFound)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAt)
            .order_by_asc(tenant::Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(tenant_of).collect())
    }

    async fn tenant_retention(&self, id: TenantId) -> Result<PolicyOverride, StoreError> {
        let row = self.tenant_row(id).await?;
        row.retention.map_or_else(
            || Ok(PolicyOverride::default()),
            |json| from_json(&json, "a tenant's retention"),
        )
    }

    async fn set_tenant_retention(
        &self,
        id: TenantId,
        retention: &PolicyOverride,
    ) -> Result<(), StoreError> {
        self.set_tenant_column(id, tenant::Column::Retention, Some(to_json(retention)))
            .await
    }

    async fn tenant_offboarding(&self, id: TenantId) -> Result<Option<Offboarding>, StoreError> {
        let row = self.tenant_row(id).await?;
        row.offboarding
            .map(|json| from_json(&json, "a tenant's offboarding"))
            .transpose()
    }

    async fn set_tenant_offboarding(
        &self,
        id: TenantId,
        offboarding: Option<Offboarding>,
    ) -> Result<(), StoreError> {
        self.set_tenant_column(
            id,
            tenant::Column::Offboarding,
            offboarding.as_ref().map(to_json),
        )
        .await
    }

    async fn delete_tenant(
        &self,
        id: TenantId,
        mut receipt: gdpr_audit::AuditEvent,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let txn = self.write_txn().await.map_err(unavailable)?;
        let mut counts = BTreeMap::new();
        // Children before parents: the reverse of the registry's order.
        for table in crate::tables::REGISTRY.iter().rev() {
            let n = table
                .clear(&txn, *id.as_uuid())
                .await
                .map_err(unavailable)?;
            if n > 0 {
                counts.insert(table.name().to_owned(), n);
            }
        }
        let attestations = audit_entry::Entity::delete_many()
            .filter(audit_entry::Column::Chain.eq(crate::audit::attestation_chain(id)))
            .exec(&txn)
            .await
            .map_err(unavailable)?
            .rows_affected;
        if attestations > 0 {
            counts.insert("attestations".to_owned(), attestations);
        }
        for (name, n) in crate::webhooks::delete_tenant(&txn, id).await? {
            if n > 0 {
                counts.insert(name.to_owned(), n);
            }
        }
        if counts.is_empty() {
            return Ok(counts);
        }
        for (table, n) in &counts {
            receipt = receipt.with(&format!("rows.{table}"), n);
        }
        crate::audit::append_many_in(&txn, &self.audit_heads, &[receipt])
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        Ok(counts)
    }
}

impl SeaOrmStore {
    async fn tenant_row(&self, id: TenantId) -> Result<tenant::Model, StoreError> {
        tenant::Entity::find_by_id(*id.as_uuid())
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)
    }

    async fn set_tenant_column(
        &self,
        id: TenantId,
        column: tenant::Column,
        value: Option<String>,
    ) -> Result<(), StoreError> {
        let update = tenant::Entity::update_many()
            .col_expr(column, sea_orm::sea_query::Expr::value(value))
            .filter(tenant::Column::Id.eq(*id.as_uuid()));
        crate::update_found(&self.db, update).await
    }
}

fn tenant_of(row: tenant::Model) -> Tenant {
    Tenant {
        id: TenantId::from_uuid(row.id),
        name: row.name,
        privacy_contact: row.privacy_contact,
        created_at: from_nanos(row.created_at),
    }
}

fn api_key_of(row: api_key::Model) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        secret_hash: row
            .secret_hash
            .try_into()
            .map_err(|_| corrupt("an API key hash is not 32 bytes"))?,
        read_only: row.read_only,
        created_at: from_nanos(row.created_at),
        revoked_at: row.revoked_at.map(from_nanos),
    })
}

#[async_trait]
impl ApiKeyStore for SeaOrmStore {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        api_key::ActiveModel {
            id: Set(*key.id.as_uuid()),
            tenant_id: Set(*key.tenant.as_uuid()),
            secret_hash: Set(key.secret_hash.to_vec()),
            read_only: Set(key.read_only),
            created_at: Set(nanos(key.created_at)),
            revoked_at: Set(key.revoked_at.map(nanos)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("api key id already exists"))
    }

    async fn get_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError> {
        api_key::Entity::find_by_id(*id.as_uuid())
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)
            .and_then(api_key_of)
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = api_key::Entity::update_many()
            .col_expr(
                api_key::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(nanos(at)),
            )
            .filter(api_key::Column::Id.eq(*id.as_uuid()))
            .filter(api_key::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if result.rows_affected == 0 {
            // Already revoked is fine; unknown (or another tenant's) is not found.
            let exists = api_key::Entity::find_by_id(*id.as_uuid())
                .filter(api_key::Column::TenantId.eq(*tenant.as_uuid()))
                .one(&self.db)
                .await
                .map_err(unavailable)?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(api_key_of)
            .collect()
    }
}
