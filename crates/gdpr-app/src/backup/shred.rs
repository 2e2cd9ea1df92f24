//! Erasure reaching backups: crypto-shredding. A subject's data key is removed from every
//! keyring shard of the tenant's retained backups, so their copies of the subject's rows are
//! beyond use at once, without rewriting any payload.

use std::collections::{BTreeMap, BTreeSet};

use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{BackupError, BackupStore, ErasureStore, Ports};
use gdpr_rights::Tombstone;

use super::format::{KEYRING, KeyringShard, shards_to_search};
use super::layout::BackupLayout;
use crate::{App, AppError};

/// Rounds of rewrite-and-check before a keyring shard is given up on (for the retry job).
const SHRED_ROUNDS: usize = 5;

/// What [`App::erase_from_backups`] reached, per subject.
#[derive(Debug, Default)]
pub(crate) struct BackupReach {
    /// How many keyrings held each subject's key (absent: none).
    pub(crate) keyrings: BTreeMap<SubjectId, u64>,
    /// Subjects not fully reached, and why (without personal data).
    pub(crate) failed: BTreeMap<SubjectId, String>,
}

impl<P: Ports> App<P> {
    /// Removes from a backup being written (`folder`, its `keyring` still in hand) the keys of
    /// subjects erased meanwhile. How many were removed.
    pub(super) async fn shred_erased_from_new_backup(
        &self,
        tenant: TenantId,
        folder: &str,
        keyring: &mut BTreeMap<String, KeyringShard>,
    ) -> Result<u64, AppError> {
        let erased: BTreeSet<SubjectId> = self
            .store
            .tombstones(tenant)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .map(|t| t.subject)
            .collect();
        let mut shredded = 0;
        for (name, shard) in keyring.iter_mut() {
            let before = shard.keys.len();
            shard.keys.retain(|subject, _| !erased.contains(subject));
            if shard.keys.len() != before {
                shredded += (before - shard.keys.len()) as u64;
                self.shred_from_shard(&format!("{folder}{name}"), &erased)
                    .await?;
            }
        }
        Ok(shredded)
    }

    /// Removes `subjects`' keys from one keyring shard, then reads it back: a concurrent
    /// rewrite (another erasure of the same shard, a backup shredding) could have put one
    /// back, so it goes round again until the shard is seen without them. Which of them were
    /// there.
    async fn shred_from_shard(
        &self,
        key: &str,
        subjects: &BTreeSet<SubjectId>,
    ) -> Result<BTreeSet<SubjectId>, AppError> {
        let mut held = BTreeSet::new();
        for _ in 0..SHRED_ROUNDS {
            let (mut keyring, sha256): (KeyringShard, String) = match self.read_signed(key).await {
                Ok(read) => read,
                // Deleted by pruning: nothing left to shred.
                Err(AppError::Backup(BackupError::NotFound(_))) => return Ok(held),
                Err(e) => return Err(e),
            };
            let at = format!(
                "{}{}/{}",
                BackupLayout::tenant_prefix(keyring.tenant),
                keyring.backup,
                keyring.shard
            );
            if at != key {
                return Err(AppError::Untrusted {
                    object: key.to_owned(),
                    reason: "the keyring shard says it belongs elsewhere".into(),
                });
            }
            let before = keyring.keys.len();
            keyring.keys.retain(|subject, _| {
                let erased = subjects.contains(subject);
                if erased {
                    held.insert(*subject);
                }
                !erased
            });
            if keyring.keys.len() == before {
                return Ok(held);
            }
            // The manifest keeps the hash the backup wrote: a rewrite names it.
            keyring.original.get_or_insert(sha256);
            self.put_signed(key, &keyring).await?;
        }
        Err(AppError::Conflict(
            "a backup keyring kept being rewritten concurrently; the erasure retry job will finish"
                .into(),
        ))
    }

    /// Makes erasures reach the backups (already journaled before their transaction): removes
    /// the subjects' keys from every keyring of the tenants' backups, so their copies of the
    /// subjects' rows are beyond use at once. Each shard is rewritten once for all the
    /// subjects it holds. A failure stays with the subjects it concerns (a tenant's listing:
    /// all of that tenant's; a shard: the subjects of that shard) and the rest goes on, for the
    /// retry job. Idempotent: safe to run again.
    pub(crate) async fn erase_from_backups(&self, tombstones: &[Tombstone]) -> BackupReach {
        let mut reach = BackupReach::default();
        let tenants: BTreeSet<TenantId> = tombstones.iter().map(|t| t.tenant).collect();
        for tenant in tenants {
            let mine: Vec<Tombstone> = tombstones
                .iter()
                .filter(|t| t.tenant == tenant)
                .copied()
                .collect();
            let subjects: BTreeSet<SubjectId> = mine.iter().map(|t| t.subject).collect();
            if let Err(e) = self
                .reach_tenant_backups(tenant, &mine, &subjects, &mut reach)
                .await
            {
                for subject in &subjects {
                    reach
                        .failed
                        .entry(*subject)
                        .or_insert_with(|| e.to_string());
                }
            }
        }
        reach
    }

    /// [`App::erase_from_backups`] for one tenant's tombstones; shard failures are recorded
    /// per subject, the rest is this tenant's error.
    async fn reach_tenant_backups(
        &self,
        tenant: TenantId,
        mine: &[Tombstone],
        subjects: &BTreeSet<SubjectId>,
        reach: &mut BackupReach,
    ) -> Result<(), AppError> {
        let mut by_shard: BTreeMap<String, BTreeSet<SubjectId>> = BTreeMap::new();
        for t in mine {
            for shard in shards_to_search(t.subject) {
                by_shard.entry(shard).or_default().insert(t.subject);
            }
        }
        let prefix = BackupLayout::tenant_prefix(tenant);
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        for object in &objects {
            let shard = object
                .key
                .rfind(KEYRING)
                .map(|at| &object.key[at..])
                .and_then(|shard| by_shard.get(shard));
            let Some(subjects) = shard else { continue };
            match self.shred_from_shard(&object.key, subjects).await {
                Ok(held) => {
                    for subject in held {
                        *reach.keyrings.entry(subject).or_default() += 1;
                    }
                }
                Err(e) => {
                    for subject in subjects {
                        reach
                            .failed
                            .entry(*subject)
                            .or_insert_with(|| e.to_string());
                    }
                }
            }
        }
        self.forget_pending_exports(tenant, subjects).await
    }
}
