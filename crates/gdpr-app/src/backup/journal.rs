//! The tombstone journal: erasures written beside the backups, outside the database, so that
//! a restore after the database is lost still knows whom not to bring back.
//!
//! One object per single erasure (`tombstones/<tenant>/<receipt>.json`) or per chunk of a batch
//! erasure (an array, under a fresh name); see [`super::format`] for the encoding.

use std::collections::BTreeMap;

use gdpr_pii::TenantId;
use gdpr_ports::{BackupStore, ErasureStore, Ports, StoreError};
use gdpr_rights::Tombstone;

use super::format::{self, tombstone_prefix};
use crate::objects::once;
use crate::{App, AppError};

impl<P: Ports> App<P> {
    /// Writes one journal entry holding `mine` (the tombstones of one tenant).
    pub(super) async fn journal_tombstones(
        &self,
        tenant: TenantId,
        mine: &[Tombstone],
    ) -> Result<(), AppError> {
        // One erasure: named after its receipt (rewriting it is harmless). A batch: a fresh
        // name, so two writers never overwrite each other's entry.
        let key = match mine {
            [one] => format::tombstone_key(one),
            _ => format!(
                "{}batch-{}.json",
                tombstone_prefix(tenant),
                uuid::Uuid::new_v4()
            ),
        };
        self.backups
            .put(&key, once(format::journal_entry(mine)))
            .await
            .map_err(AppError::Backup)?;
        Ok(())
    }

    /// Every tombstone of the tenant: the database's journal (if the tenant is there) and the
    /// one beside the backups, which survives the loss of the database.
    pub(crate) async fn all_tombstones(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Tombstone>, AppError> {
        let mut by_receipt: BTreeMap<uuid::Uuid, Tombstone> = BTreeMap::new();
        match self.store.tombstones(tenant).await {
            Ok(list) => by_receipt.extend(list.into_iter().map(|t| (t.receipt, t))),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(AppError::store(e)),
        }
        let objects = self
            .backups
            .list(&tombstone_prefix(tenant))
            .await
            .map_err(AppError::Backup)?;
        for object in objects {
            let bytes = self.read_object(&object.key).await?;
            let entry =
                format::read_journal_entry(&bytes).ok_or_else(|| AppError::BackupUnusable {
                    backup: object.key.clone(),
                    reason: "a tombstone journal entry does not parse".into(),
                })?;
            for t in entry.into_iter().filter(|t| t.tenant == tenant) {
                by_receipt.insert(t.receipt, t);
            }
        }
        Ok(by_receipt.into_values().collect())
    }
}
