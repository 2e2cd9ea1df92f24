//! Taking a backup, and erasure reaching backups (the tombstone journal and crypto-shredding).
//!
//! A backup streams from the storage snapshot through zstd and OpenPGP into object storage:
//! nothing of its size is held in memory but the keyring (a few dozen bytes per subject). It
//! becomes a backup only when its manifest is written, last.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    BackupError, BackupStore, ByteStream, Clock, DumpItem, DumpStream, Encryptor, ErasureStore,
    Ports, Recipients, TenantDumps,
};
use gdpr_rights::Tombstone;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backup_format::{
    self, Compressor, FORMAT, FORMAT_VERSION, KEYRING, KeyringShard, MANIFEST, Manifest, PAYLOAD,
    PayloadInfo, shard_of, shards_to_search,
};
use crate::backups::BackupLayout;
use crate::{App, AppError};

/// Live counters of a long operation, for an operator's progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows (and keys) handled so far.
    pub rows: AtomicU64,
    /// Bytes written or read so far.
    pub bytes: AtomicU64,
}

impl Progress {
    pub(crate) fn add(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Rounds of rewrite-and-check before a keyring shard is given up on (for the retry job).
const SHRED_ROUNDS: usize = 5;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The manifest written.
    pub manifest: Manifest,
    /// Keys removed from the new keyring because their subject was erased while the backup
    /// was being written.
    pub shredded_while_writing: u64,
    /// Every object written.
    pub objects: Vec<String>,
}

/// What the snapshot stream gathered besides the payload.
#[derive(Default)]
struct Gathered {
    keyring: BTreeMap<String, KeyringShard>,
    rows: BTreeMap<String, u64>,
    keys: u64,
}

struct Encoding {
    dump: DumpStream,
    compressor: Option<Compressor>,
    gathered: Arc<Mutex<Gathered>>,
    progress: Arc<Progress>,
}

/// The payload's plaintext: the dump's rows as compressed lines; keys go to the keyring.
fn payload_stream(
    dump: DumpStream,
    gathered: Arc<Mutex<Gathered>>,
    progress: Arc<Progress>,
) -> std::io::Result<ByteStream> {
    let state = Encoding {
        dump,
        compressor: Some(Compressor::new()?),
        gathered,
        progress,
    };
    Ok(Box::pin(futures_util::stream::unfold(
        state,
        |mut st| async move {
            loop {
                st.compressor.as_ref()?;
                let item = st.dump.next().await;
                let mut gathered = st.gathered.lock().unwrap_or_else(PoisonError::into_inner);
                match item {
                    Some(Ok(DumpItem::Key(key))) => {
                        gathered
                            .keyring
                            .entry(shard_of(key.subject))
                            .or_insert_with(KeyringShard::new)
                            .insert(&key);
                        gathered.keys += 1;
                        st.progress.add(1, 0);
                    }
                    Some(Ok(DumpItem::Row(row))) => {
                        *gathered.rows.entry(row.table.clone()).or_default() += 1;
                        drop(gathered);
                        st.progress.add(1, 0);
                        let line = backup_format::encode_line(&row.table, row.subject, &row.json);
                        let pushed = st.compressor.as_mut().map(|c| c.push(&line));
                        match pushed {
                            Some(Ok(Some(chunk))) => return Some((Ok(chunk), st)),
                            Some(Ok(None)) => {}
                            Some(Err(e)) => {
                                st.compressor = None;
                                return Some((Err(e), st));
                            }
                            None => return None,
                        }
                    }
                    Some(Err(e)) => {
                        drop(gathered);
                        st.compressor = None;
                        return Some((Err(std::io::Error::other(e)), st));
                    }
                    None => {
                        drop(gathered);
                        let last = st.compressor.take()?.finish();
                        return Some((last, st));
                    }
                }
            }
        },
    )))
}

/// Hashes and counts what passes, for the manifest.
fn tapped(
    stream: ByteStream,
    tap: Arc<Mutex<(Sha256, u64)>>,
    progress: Arc<Progress>,
) -> ByteStream {
    Box::pin(stream.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            let mut tap = tap.lock().unwrap_or_else(PoisonError::into_inner);
            tap.0.update(bytes);
            tap.1 += bytes.len() as u64;
            progress.add(0, bytes.len() as u64);
        }
        chunk
    }))
}

pub(crate) fn once(bytes: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(bytes)]))
}

/// What [`App::erase_from_backups`] reached, per subject.
#[derive(Debug, Default)]
pub(crate) struct BackupReach {
    /// How many keyrings held each subject's key (absent: none).
    pub(crate) keyrings: BTreeMap<SubjectId, u64>,
    /// Subjects not fully reached, and why (without personal data).
    pub(crate) failed: BTreeMap<SubjectId, String>,
}

impl<P: Ports> App<P> {
    /// Backs up every tenant, then prunes each one's backups; one result per tenant, so that
    /// one tenant's failure does not stop the others.
    ///
    /// # Errors
    /// Storage errors listing the tenants.
    pub async fn back_up_every_tenant(
        &self,
        progress: &Arc<Progress>,
    ) -> Result<Vec<(TenantId, Result<BackupReport, AppError>)>, AppError> {
        let mut results = Vec::new();
        for tenant in self.tenants().await? {
            let result = self.back_up_tenant(tenant.id, progress).await;
            if result.is_ok() {
                // The newest backup is now the fresh one; pruning can go on from there.
                if let Err(e) = self.prune_backups(tenant.id, false).await {
                    results.push((tenant.id, Err(e)));
                    continue;
                }
            }
            results.push((tenant.id, result));
        }
        Ok(results)
    }

    /// Writes a backup of the tenant (see [`crate::backup_format`]).
    ///
    /// # Errors
    /// [`AppError::Encryption`] when no backup recipient is configured (nothing is written);
    /// [`AppError::NotFound`] for an unknown tenant; storage, object storage and encryption
    /// errors (then no backup is visible: objects already written are left for pruning).
    pub async fn back_up_tenant(
        &self,
        tenant: TenantId,
        progress: &Arc<Progress>,
    ) -> Result<BackupReport, AppError> {
        let recipients = self.backup_recipients()?;
        let created_at = self.clock.now();
        let id = BackupLayout::new_id(created_at);
        let folder = format!("{}{id}/", BackupLayout::tenant_prefix(tenant));
        let dump = self
            .store
            .dump_tenant(tenant)
            .await
            .map_err(AppError::not_found("tenant"))?;
        let gathered = Arc::new(Mutex::new(Gathered::default()));
        let plain = payload_stream(dump, Arc::clone(&gathered), Arc::clone(progress))
            .map_err(|e| AppError::Backup(BackupError::Source(e)))?;
        let cipher = self.encryptor.encrypt(recipients, plain).await?;
        let tap = Arc::new(Mutex::new((Sha256::new(), 0)));
        let payload_key = format!("{folder}{PAYLOAD}");
        self.backups
            .put(
                &payload_key,
                tapped(cipher, Arc::clone(&tap), Arc::clone(progress)),
            )
            .await
            .map_err(AppError::Backup)?;
        let mut objects = vec![payload_key];
        let Gathered {
            mut keyring,
            rows,
            keys,
        } = std::mem::take(&mut *gathered.lock().unwrap_or_else(PoisonError::into_inner));
        for (name, shard) in &keyring {
            let key = format!("{folder}{name}");
            self.backups
                .put(&key, once(shard.to_bytes()))
                .await
                .map_err(AppError::Backup)?;
            objects.push(key);
        }
        // An erasure that committed before this point may have listed the backups before the
        // shards above existed: shred its subject here. One that commits after will find them.
        let shredded = self
            .shred_erased_from_new_backup(tenant, &folder, &mut keyring)
            .await?;
        let (hasher, size) =
            std::mem::take(&mut *tap.lock().unwrap_or_else(PoisonError::into_inner));
        let manifest = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            schema_version: self.store.schema_version(),
            tenant,
            backup_id: id.clone(),
            created_at,
            completed_at: self.clock.now(),
            rows,
            keys,
            payload: PayloadInfo {
                object: PAYLOAD.into(),
                size,
                sha256: hex::encode(hasher.finalize()),
                compression: "zstd".into(),
                encryption: "openpgp".into(),
            },
            keyring: keyring.keys().cloned().collect(),
        };
        let manifest_key = format!("{folder}{MANIFEST}");
        let body = serde_json::to_vec_pretty(&manifest)
            .unwrap_or_else(|_| unreachable!("a manifest serialises"));
        self.backups
            .put(&manifest_key, once(Bytes::from(body)))
            .await
            .map_err(AppError::Backup)?;
        objects.push(manifest_key);
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            Actor::System,
            AuditAction::BackupCreated,
        )
        .with("backup", &id)
        .with("rows", manifest.rows.values().sum::<u64>())
        .with("keys", keys);
        self.audit(event).await?;
        Ok(BackupReport {
            manifest,
            shredded_while_writing: shredded,
            objects,
        })
    }

    fn backup_recipients(&self) -> Result<Recipients, AppError> {
        if self.config.backup_recipients.is_empty() {
            return Err(AppError::Encryption(gdpr_ports::EncryptError::NoRecipient));
        }
        Ok(Recipients::Armored(self.config.backup_recipients.clone()))
    }

    async fn shred_erased_from_new_backup(
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
            let mut keyring: KeyringShard = match self.read_json(key).await {
                Ok(keyring) => keyring,
                // Deleted by pruning: nothing left to shred.
                Err(AppError::Backup(BackupError::NotFound(_))) => return Ok(held),
                Err(e) => return Err(e),
            };
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
            self.backups
                .put(key, once(keyring.to_bytes()))
                .await
                .map_err(AppError::Backup)?;
        }
        Err(AppError::Conflict(
            "a backup keyring kept being rewritten concurrently; the erasure retry job will finish"
                .into(),
        ))
    }

    /// Makes erasures reach the backups: journals the tombstones beside them (one entry per
    /// tenant, replayed on every restore) and removes the subjects' keys from every keyring of
    /// the tenants' backups, so their copies of the subjects' rows are beyond use at once.
    /// Each shard is rewritten once for all the subjects it holds. A failure stays with the
    /// subjects it concerns (a tenant's journal or listing: all of that tenant's; a shard: the
    /// subjects of that shard) and the rest goes on. Idempotent: safe to run again.
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
        // One erasure: named after its receipt (rewriting it is harmless). A batch: a fresh
        // name, so two writers never overwrite each other's entry.
        let key = match mine {
            [one] => backup_format::tombstone_key(one),
            _ => format!(
                "{}batch-{}.json",
                backup_format::tombstone_prefix(tenant),
                uuid::Uuid::new_v4()
            ),
        };
        self.backups
            .put(&key, once(backup_format::journal_entry(mine)))
            .await
            .map_err(AppError::Backup)?;
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

    /// A small object, whole.
    pub(crate) async fn read_object(&self, key: &str) -> Result<Vec<u8>, AppError> {
        let mut stream = self.backups.get(key).await.map_err(AppError::Backup)?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| AppError::Backup(BackupError::Source(e)))?);
        }
        Ok(out)
    }

    /// A small JSON object, parsed.
    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<T, AppError> {
        let bytes = self.read_object(key).await?;
        serde_json::from_slice(&bytes).map_err(|_| AppError::BackupUnusable {
            backup: key.to_owned(),
            reason: "an object of the backup does not parse".into(),
        })
    }
}
