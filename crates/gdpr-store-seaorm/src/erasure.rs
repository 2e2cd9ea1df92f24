//! Erasure in one transaction, the tombstone journal and erasure receipts.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use gdpr_pii::TenantId;
use gdpr_ports::{Erased, ErasedCounts, Erasure, ErasureStore, StoreError};
use gdpr_rights::{ErasureReceipt, LegalHold, Tombstone};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::audit::append_many_in;
use crate::entity::{
    consent_event, erasure_receipt, legal_hold, processing_limit, record, subject, subject_key,
    tombstone,
};
use crate::{
    SeaOrmStore, db_err, from_json, from_nanos, is_unique_violation, nanos, to_json, unavailable,
};

/// Ids per `IN (...)` list: far below every backend's limit on bound parameters.
const IN_LIST: usize = 500;

/// A table whose rows belong to a subject of a tenant.
trait OfSubject: EntityTrait {
    fn tenant_column() -> Self::Column;
    fn subject_column() -> Self::Column;
}

macro_rules! of_subject {
    ($($table:ident: $subject:ident),* $(,)?) => {$(
        impl OfSubject for $table::Entity {
            fn tenant_column() -> Self::Column {
                $table::Column::TenantId
            }
            fn subject_column() -> Self::Column {
                $table::Column::$subject
            }
        }
    )*};
}

of_subject!(
    record: SubjectId,
    consent_event: SubjectId,
    subject_key: SubjectId,
    processing_limit: SubjectId,
    subject: Id,
);

/// How many rows of `entity` each subject of `ids` has in `tenant` (absent: none). Counted, then
/// deleted in the same transaction, the two agree; an index-only count is cheaper than a
/// deletion returning every row.
async fn count_by_subject<E, C>(
    c: &C,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, u64>, DbErr>
where
    E: OfSubject,
    C: ConnectionTrait,
{
    let (tenant_column, subject_column) = (E::tenant_column(), E::subject_column());
    let mut counts = HashMap::new();
    for chunk in ids.chunks(IN_LIST) {
        let rows: Vec<(Uuid, i64)> = E::find()
            .select_only()
            .column(subject_column)
            .column_as(subject_column.count(), "n")
            .filter(tenant_column.eq(tenant))
            .filter(subject_column.is_in(chunk.iter().copied()))
            .group_by(subject_column)
            .into_tuple()
            .all(c)
            .await?;
        counts.extend(
            rows.into_iter()
                .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0))),
        );
    }
    Ok(counts)
}

/// Deletes the rows of `entity` that belong to `ids` in `tenant`.
async fn delete_by_subject<E, C>(c: &C, tenant: Uuid, ids: &[Uuid]) -> Result<(), DbErr>
where
    E: OfSubject,
    C: ConnectionTrait,
{
    let (tenant_column, subject_column) = (E::tenant_column(), E::subject_column());
    for chunk in ids.chunks(IN_LIST) {
        E::delete_many()
            .filter(tenant_column.eq(tenant))
            .filter(subject_column.is_in(chunk.iter().copied()))
            .exec(c)
            .await?;
    }
    Ok(())
}

impl SeaOrmStore {
    /// One attempt at [`ErasureStore::erase_subjects`], in one transaction.
    async fn erase_once(&self, erasures: &[Erasure]) -> Result<Vec<Erased>, DbErr> {
        let txn = self.write_txn().await?;
        let mut outcomes = vec![Erased::NotFound; erasures.len()];
        let mut tenants: Vec<TenantId> = erasures.iter().map(|e| e.tombstone.tenant).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let mut audits = Vec::new();
        for tenant_id in tenants {
            let tenant = *tenant_id.as_uuid();
            let mine: Vec<usize> = (0..erasures.len())
                .filter(|&i| erasures[i].tombstone.tenant == tenant_id)
                .collect();
            let asked: Vec<Uuid> = mine
                .iter()
                .map(|&i| *erasures[i].tombstone.subject.as_uuid())
                .collect();
            // The profiles that exist, with how many personal fields each holds.
            let mut fields: HashMap<Uuid, u64> = HashMap::new();
            for chunk in asked.chunks(IN_LIST) {
                let mut query = subject::Entity::find()
                    .filter(subject::Column::TenantId.eq(tenant))
                    .filter(subject::Column::Id.is_in(chunk.iter().copied()));
                // On PostgreSQL the rows are locked: a record or consent submitted meanwhile
                // (its foreign key check takes a share lock on the subject) waits for the
                // commit and then finds the subject gone, so counts and deletions agree, and
                // a concurrent erasure of the same subject finds nobody. SQLite's write
                // transaction already excludes every other writer.
                if self.backend() == sea_orm::DbBackend::Postgres {
                    query = query.lock_exclusive();
                }
                for row in query.all(&txn).await? {
                    let present = [
                        row.email_ct.is_some(),
                        row.full_name_ct.is_some(),
                        row.ip_ct.is_some(),
                    ];
                    fields.insert(row.id, present.into_iter().filter(|p| *p).count() as u64);
                }
            }
            // The use case checked the holds before; a hold placed since then still wins.
            let mut held: HashSet<Uuid> = HashSet::new();
            for chunk in asked.chunks(IN_LIST) {
                for row in legal_hold::Entity::find()
                    .filter(legal_hold::Column::TenantId.eq(tenant))
                    .filter(legal_hold::Column::SubjectId.is_in(chunk.iter().copied()))
                    .all(&txn)
                    .await?
                {
                    // A hold that cannot be read is taken as active: erasure never wins by doubt.
                    let active = serde_json::from_str::<LegalHold>(&row.body)
                        .map_or(true, |h| h.is_active());
                    if active {
                        held.insert(row.subject_id);
                    }
                }
            }
            let mut targets = Vec::new();
            let mut seen = HashSet::new();
            for (&i, id) in mine.iter().zip(&asked) {
                if !fields.contains_key(id) || !seen.insert(*id) {
                    continue;
                }
                if held.contains(id) {
                    outcomes[i] = Erased::Held;
                } else {
                    targets.push((i, *id));
                }
            }
            let ids: Vec<Uuid> = targets.iter().map(|(_, id)| *id).collect();
            // Counted, then deleted: with the subjects locked (above), the two agree.
            let records = count_by_subject::<record::Entity, _>(&txn, tenant, &ids).await?;
            delete_by_subject::<record::Entity, _>(&txn, tenant, &ids).await?;
            let consents = count_by_subject::<consent_event::Entity, _>(&txn, tenant, &ids).await?;
            delete_by_subject::<consent_event::Entity, _>(&txn, tenant, &ids).await?;
            let keys = count_by_subject::<subject_key::Entity, _>(&txn, tenant, &ids).await?;
            delete_by_subject::<subject_key::Entity, _>(&txn, tenant, &ids).await?;
            // A restriction's or objection's reason may describe the person: it goes with them.
            delete_by_subject::<processing_limit::Entity, _>(&txn, tenant, &ids).await?;
            delete_by_subject::<subject::Entity, _>(&txn, tenant, &ids).await?;
            let mut tombstones = Vec::with_capacity(targets.len());
            let mut receipts = Vec::with_capacity(targets.len());
            for (i, id) in targets {
                let e = &erasures[i];
                let count = |map: &HashMap<Uuid, u64>| map.get(&id).copied().unwrap_or(0);
                let mut receipt = e.receipt.clone();
                receipt.record_erased(
                    ErasedCounts {
                        records: count(&records),
                        personal_fields: count(&fields),
                        keys: count(&keys),
                        consents: count(&consents),
                    },
                    e.tombstone.erased_at,
                );
                tombstones.push(tombstone::ActiveModel {
                    receipt_id: Set(e.tombstone.receipt),
                    tenant_id: Set(tenant),
                    subject_id: Set(id),
                    erased_at: Set(nanos(e.tombstone.erased_at)),
                });
                receipts.push(receipt_row(&receipt));
                audits.push(e.audit.clone());
                outcomes[i] = Erased::Done(receipt);
            }
            for chunk in tombstones.chunks(IN_LIST) {
                tombstone::Entity::insert_many(chunk.to_vec())
                    .exec(&txn)
                    .await?;
            }
            for chunk in receipts.chunks(IN_LIST) {
                erasure_receipt::Entity::insert_many(chunk.to_vec())
                    .exec(&txn)
                    .await?;
            }
        }
        append_many_in(&txn, &self.audit_heads, &audits).await?;
        txn.commit().await?;
        Ok(outcomes)
    }

    /// Replaces receipts in one transaction: the rows of the same tenant and id go, the new
    /// ones come (an id of another tenant's receipt then collides and rolls it all back).
    async fn save_receipts_once(&self, receipts: &[ErasureReceipt]) -> Result<(), DbErr> {
        let txn = self.write_txn().await?;
        for chunk in receipts.chunks(IN_LIST) {
            let tenants: HashSet<TenantId> = chunk.iter().map(|r| r.tenant).collect();
            for tenant in tenants {
                let ids = chunk.iter().filter(|r| r.tenant == tenant).map(|r| r.id);
                erasure_receipt::Entity::delete_many()
                    .filter(erasure_receipt::Column::TenantId.eq(*tenant.as_uuid()))
                    .filter(erasure_receipt::Column::Id.is_in(ids))
                    .exec(&txn)
                    .await?;
            }
            erasure_receipt::Entity::insert_many(chunk.iter().map(receipt_row))
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }
}

fn receipt_row(receipt: &ErasureReceipt) -> erasure_receipt::ActiveModel {
    erasure_receipt::ActiveModel {
        id: Set(receipt.id),
        tenant_id: Set(*receipt.tenant.as_uuid()),
        subject_id: Set(*receipt.subject.as_uuid()),
        unfinished: Set(!receipt.unfinished().is_empty()),
        body: Set(to_json(receipt)),
    }
}

#[async_trait]
impl ErasureStore for SeaOrmStore {
    async fn erase_subjects(&self, erasures: Vec<Erasure>) -> Result<Vec<Erased>, StoreError> {
        if erasures.is_empty() {
            return Ok(Vec::new());
        }
        // A race for the audit chain's next position rolls the whole transaction back, so it
        // is safe to run again.
        self.retrying(|| self.erase_once(&erasures), is_unique_violation)
            .await
            .map_err(unavailable)
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

    async fn save_erasure_receipts(&self, receipts: &[ErasureReceipt]) -> Result<(), StoreError> {
        if receipts.is_empty() {
            return Ok(());
        }
        self.save_receipts_once(receipts).await.map_err(db_err(
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
