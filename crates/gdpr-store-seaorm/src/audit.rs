//! The audit log's storage: one chain per tenant (and `system`), appended with the domain's own
//! chaining function, so any adapter computes the same hashes.

use async_trait::async_trait;
use gdpr_audit::{AuditEvent, AuditRecord};
use gdpr_pii::TenantId;
use gdpr_ports::{AuditLog, StoreError};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entity::audit_entry;
use crate::{SeaOrmStore, from_json, is_unique_violation, retrying, to_json, unavailable};

pub(crate) fn chain_key(tenant: Option<TenantId>) -> String {
    tenant.map_or_else(|| "system".to_owned(), |t| t.to_string())
}

/// Appends many events in order with one read of each chain's head and batched inserts.
pub(crate) async fn append_many_in<C: ConnectionTrait>(
    c: &C,
    events: &[AuditEvent],
) -> Result<Vec<AuditRecord>, DbErr> {
    let mut heads: std::collections::HashMap<String, Option<AuditRecord>> =
        std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        let chain = chain_key(event.tenant);
        if !heads.contains_key(&chain) {
            let last = audit_entry::Entity::find()
                .filter(audit_entry::Column::Chain.eq(chain.clone()))
                .order_by_desc(audit_entry::Column::Seq)
                .limit(1)
                .one(c)
                .await?;
            let previous = match last {
                Some(row) => Some(
                    record_of(&row)
                        .map_err(|_| DbErr::Custom("stored audit record unreadable".into()))?,
                ),
                None => None,
            };
            heads.insert(chain.clone(), previous);
        }
        let head = heads.entry(chain.clone()).or_default();
        let record = AuditRecord::chain(head.as_ref(), event.clone());
        rows.push(audit_entry::ActiveModel {
            chain: Set(chain),
            seq: Set(i64::try_from(record.seq).unwrap_or(i64::MAX)),
            body: Set(to_json(&record)),
        });
        records.push(record.clone());
        *head = Some(record);
    }
    for chunk in rows.chunks(500) {
        audit_entry::Entity::insert_many(chunk.to_vec())
            .exec(c)
            .await?;
    }
    Ok(records)
}

/// A stored record; its position is the row's, so that moving a row is seen as tampering.
fn record_of(row: &audit_entry::Model) -> Result<AuditRecord, StoreError> {
    let mut record: AuditRecord = from_json(&row.body, "an audit record")?;
    record.seq = u64::try_from(row.seq).unwrap_or_default();
    Ok(record)
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let events = [event];
        let append = || async {
            // A write transaction: on SQLite, reading the chain's head and appending must not
            // be split by another writer's commit.
            let txn = self.write_txn().await?;
            let records = append_many_in(&txn, &events).await?;
            txn.commit().await?;
            Ok(records)
        };
        let mut records = retrying(append, is_unique_violation)
            .await
            .map_err(unavailable)?;
        records
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an append returned no record".into()))
    }

    async fn audit_records(
        &self,
        tenant: Option<TenantId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::Chain.eq(chain_key(tenant)))
            .filter(audit_entry::Column::Seq.gt(i64::try_from(after_seq).unwrap_or(i64::MAX)))
            .order_by_asc(audit_entry::Column::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(record_of)
            .collect()
    }
}
