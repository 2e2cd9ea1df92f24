//! Taking a backup: the storage snapshot streams through zstd and OpenPGP into object storage;
//! nothing of its size is held in memory but the keyring (a few dozen bytes per subject). It
//! becomes a backup only when its manifest is written, last.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{
    BackupError, BackupStore, ByteStream, Clock, DumpItem, DumpStream, Encryptor, Ports,
    Recipients, TenantDumps,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Progress;
use super::format::{
    self, Compressor, FORMAT, FORMAT_VERSION, KeyringShard, MANIFEST, Manifest, PAYLOAD,
    PayloadInfo, ShardRef, shard_of,
};
use super::layout::BackupLayout;
use crate::{App, AppError};

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
struct Gathered {
    tenant: TenantId,
    backup: String,
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
                        let Gathered {
                            tenant,
                            backup,
                            keyring,
                            ..
                        } = &mut *gathered;
                        let name = shard_of(key.subject);
                        keyring
                            .entry(name.clone())
                            .or_insert_with(|| KeyringShard::new(*tenant, backup, &name))
                            .insert(&key);
                        gathered.keys += 1;
                        st.progress.add(1, 0);
                    }
                    Some(Ok(DumpItem::Row(row))) => {
                        *gathered.rows.entry(row.table.clone()).or_default() += 1;
                        drop(gathered);
                        st.progress.add(1, 0);
                        let line = format::encode_line(&row.table, row.subject, &row.json);
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

    /// Writes a backup of the tenant (see [`super::format`]).
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
        // Read before the snapshot: every entry up to here is one a restore must find.
        let journal = self.journal_head(tenant).await?;
        let dump = self
            .store
            .dump_tenant(tenant)
            .await
            .map_err(AppError::not_found("tenant"))?;
        let gathered = Arc::new(Mutex::new(Gathered {
            tenant,
            backup: id.clone(),
            keyring: BTreeMap::new(),
            rows: BTreeMap::new(),
            keys: 0,
        }));
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
        let (mut keyring, rows, keys) = {
            let mut gathered = gathered.lock().unwrap_or_else(PoisonError::into_inner);
            (
                std::mem::take(&mut gathered.keyring),
                std::mem::take(&mut gathered.rows),
                gathered.keys,
            )
        };
        let mut shards = Vec::with_capacity(keyring.len());
        for (name, shard) in &keyring {
            let key = format!("{folder}{name}");
            let sha256 = self.put_signed(&key, shard).await?;
            shards.push(ShardRef {
                name: name.clone(),
                sha256,
            });
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
            keyring: shards,
            journal: (journal.seq > 0).then_some(journal),
        };
        let manifest_key = format!("{folder}{MANIFEST}");
        self.put_signed(&manifest_key, &manifest).await?;
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
}
