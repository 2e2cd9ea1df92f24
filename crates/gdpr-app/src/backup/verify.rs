//! Listing backups and verifying them: each payload decrypted and checked against its manifest
//! (size, checksum, row counts) while it streams, and marked `VERIFIED` when whole.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{BackupError, BackupStore, ByteStream, Clock, Decryptor, Ports};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Progress;
use super::format::{
    FORMAT, FORMAT_VERSION, KeyringShard, Line, LineDecoder, MANIFEST, Manifest, ShardRef,
};
use super::layout::BackupLayout;
use crate::objects::once;
use crate::{App, AppError};

/// A complete backup, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupEntry {
    /// The tenant.
    pub tenant: TenantId,
    /// Its id.
    pub id: String,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether a verification pass found it whole.
    pub verified: bool,
    /// Its objects.
    pub objects: Vec<String>,
}

/// What verifying one backup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    /// The tenant.
    pub tenant: TenantId,
    /// The backup.
    pub backup: String,
    /// `None` when whole; otherwise what is wrong.
    pub problem: Option<String>,
    /// Rows read from the payload.
    pub rows: u64,
}

/// The checks run while a payload streams.
pub(super) struct Check {
    manifest: Arc<Manifest>,
    tap: Sha256,
    size: u64,
    /// Rows seen so far, by table.
    pub(super) rows: BTreeMap<String, u64>,
}

impl Check {
    pub(super) fn new(manifest: Arc<Manifest>) -> Self {
        Self {
            manifest,
            tap: Sha256::new(),
            size: 0,
            rows: BTreeMap::new(),
        }
    }

    fn ciphertext(&mut self, bytes: &Bytes) {
        self.tap.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// What is wrong once the whole payload went through, if anything.
    pub(super) fn finish(&mut self, leftover: bool) -> Option<String> {
        let sha = hex::encode(std::mem::take(&mut self.tap).finalize());
        if self.size != self.manifest.payload.size {
            return Some(format!(
                "payload is {} bytes, the manifest says {}",
                self.size, self.manifest.payload.size
            ));
        }
        if sha != self.manifest.payload.sha256 {
            return Some("payload checksum does not match the manifest".into());
        }
        if leftover {
            return Some("payload ends in the middle of a row".into());
        }
        if self.rows != self.manifest.rows {
            return Some("payload row counts do not match the manifest".into());
        }
        None
    }
}

pub(super) fn unusable(backup: &str, reason: impl Into<String>) -> AppError {
    AppError::BackupUnusable {
        backup: backup.to_owned(),
        reason: reason.into(),
    }
}

impl<P: Ports> App<P> {
    /// The tenant's complete backups (those with a manifest), oldest first.
    ///
    /// # Errors
    /// Object storage errors.
    pub async fn list_backups(&self, tenant: TenantId) -> Result<Vec<BackupEntry>, AppError> {
        let (folders, _) = self.backup_folders(tenant).await?;
        Ok(folders
            .into_iter()
            .filter(|(_, f)| f.complete)
            .map(|(id, f)| BackupEntry {
                tenant,
                created_at: f.created_at,
                verified: f.verified,
                objects: f.objects,
                id,
            })
            .collect())
    }

    /// A backup's manifest, checked: format, version, tenant and id.
    pub(super) async fn manifest(&self, tenant: TenantId, id: &str) -> Result<Manifest, AppError> {
        let key = format!("{}{id}/{MANIFEST}", BackupLayout::tenant_prefix(tenant));
        let (manifest, _): (Manifest, _) = self.read_signed(&key).await.map_err(|e| match e {
            AppError::Backup(BackupError::NotFound(_)) => AppError::NotFound("backup"),
            other => other,
        })?;
        if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
            return Err(unusable(
                id,
                format!(
                    "format {} version {} is not {FORMAT} version {FORMAT_VERSION}",
                    manifest.format, manifest.version
                ),
            ));
        }
        if manifest.tenant != tenant || manifest.backup_id != id {
            return Err(unusable(id, "the manifest names another tenant or backup"));
        }
        Ok(manifest)
    }

    /// A keyring shard the manifest lists, believed only when a pinned key signed it and it is
    /// that shard of that backup, as written or as crypto-shredding rewrote it.
    ///
    /// # Errors
    /// [`AppError::BackupUnusable`] when it is missing; [`AppError::Untrusted`] when it fails
    /// its signature or belongs elsewhere; object storage errors.
    pub(super) async fn keyring_shard(
        &self,
        manifest: &Manifest,
        listed: &ShardRef,
    ) -> Result<KeyringShard, AppError> {
        let key = format!(
            "{}{}/{}",
            BackupLayout::tenant_prefix(manifest.tenant),
            manifest.backup_id,
            listed.name
        );
        // A listed shard that is gone means a damaged backup (a prune cut short, say):
        // restoring would silently drop every subject of that shard.
        let (shard, sha256): (KeyringShard, String) =
            self.read_signed(&key).await.map_err(|e| match e {
                AppError::Backup(BackupError::NotFound(_)) => unusable(
                    &manifest.backup_id,
                    format!("keyring shard {} is missing", listed.name),
                ),
                other => other,
            })?;
        if !shard.belongs(manifest.tenant, &manifest.backup_id, listed, &sha256) {
            return Err(AppError::Untrusted {
                object: key,
                reason: "the keyring shard is not the one the manifest lists (swapped from \
                         another backup, tenant or shard)"
                    .into(),
            });
        }
        Ok(shard)
    }

    /// The payload's plaintext, with the ciphertext checked on the way through.
    pub(super) async fn open_payload(
        &self,
        manifest: &Manifest,
        decryptor: &dyn Decryptor,
        check: &Arc<Mutex<Check>>,
        progress: &Arc<Progress>,
    ) -> Result<ByteStream, AppError> {
        let key = format!(
            "{}{}/{}",
            BackupLayout::tenant_prefix(manifest.tenant),
            manifest.backup_id,
            manifest.payload.object
        );
        let cipher = self.backups.get(&key).await.map_err(AppError::Backup)?;
        let check = Arc::clone(check);
        let progress = Arc::clone(progress);
        let cipher: ByteStream = Box::pin(cipher.map(move |chunk| {
            if let Ok(bytes) = &chunk {
                check
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .ciphertext(bytes);
                progress.add(0, bytes.len() as u64);
            }
            chunk
        }));
        Ok(decryptor.decrypt(cipher).await?)
    }

    /// Verifies every complete backup of `tenant` (or of every tenant): decrypts each payload,
    /// checks its size, checksum and row counts against the manifest, and marks it `VERIFIED`
    /// when whole. Damaged backups are reported, not deleted.
    ///
    /// # Errors
    /// Storage and object storage errors listing the backups; [`AppError::Decryption`] when
    /// the decryption key itself is unusable (no point going on).
    pub async fn verify_backups(
        &self,
        tenant: Option<TenantId>,
        decryptor: &dyn Decryptor,
        progress: &Arc<Progress>,
    ) -> Result<Vec<VerifyOutcome>, AppError> {
        let tenants = match tenant {
            Some(t) => vec![t],
            None => self.tenants().await?.into_iter().map(|t| t.id).collect(),
        };
        let mut outcomes = Vec::new();
        for tenant in tenants {
            for entry in self.list_backups(tenant).await? {
                let (problem, rows) = match self
                    .verify_one(tenant, &entry.id, decryptor, progress)
                    .await
                {
                    Ok(rows) => (None, rows),
                    Err(AppError::Decryption(
                        e @ (gdpr_ports::DecryptError::NoKey | gdpr_ports::DecryptError::BadKey(_)),
                    )) => {
                        return Err(AppError::Decryption(e));
                    }
                    Err(AppError::BackupUnusable { reason, .. }) => (Some(reason), 0),
                    Err(e @ AppError::Untrusted { .. }) => (Some(e.to_string()), 0),
                    Err(AppError::Decryption(e)) => (Some(e.to_string()), 0),
                    Err(AppError::NotFound(_) | AppError::Backup(BackupError::NotFound(_))) => {
                        (Some("an object of the backup is missing".into()), 0)
                    }
                    Err(e) => return Err(e),
                };
                let event = AuditEvent::new(
                    self.clock.now(),
                    Some(tenant),
                    Actor::System,
                    AuditAction::BackupVerified,
                )
                .with("backup", &entry.id)
                .with(
                    "result",
                    if problem.is_none() {
                        "whole"
                    } else {
                        "damaged"
                    },
                );
                self.audit(event).await?;
                outcomes.push(VerifyOutcome {
                    tenant,
                    backup: entry.id,
                    problem,
                    rows,
                });
            }
        }
        Ok(outcomes)
    }

    async fn verify_one(
        &self,
        tenant: TenantId,
        id: &str,
        decryptor: &dyn Decryptor,
        progress: &Arc<Progress>,
    ) -> Result<u64, AppError> {
        let manifest = Arc::new(self.manifest(tenant, id).await?);
        let check = Arc::new(Mutex::new(Check::new(Arc::clone(&manifest))));
        let mut plain = self
            .open_payload(&manifest, decryptor, &check, progress)
            .await?;
        let mut decoder = LineDecoder::new().map_err(|e| unusable(id, e.to_string()))?;
        while let Some(chunk) = plain.next().await {
            let chunk = chunk.map_err(|e| unusable(id, format!("decryption failed: {e}")))?;
            let mut check = check.lock().unwrap_or_else(PoisonError::into_inner);
            decoder
                .push::<std::io::Error>(&chunk, |line| {
                    let line: Line<'_> = serde_json::from_slice(line)
                        .map_err(|_| std::io::Error::other("a payload line does not parse"))?;
                    *check.rows.entry(line.t).or_default() += 1;
                    progress.add(1, 0);
                    Ok(())
                })
                .map_err(|e| unusable(id, e.to_string()))?;
        }
        let leftover = decoder.has_leftover();
        let rows = {
            let mut check = check.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(problem) = check.finish(leftover) {
                return Err(unusable(id, problem));
            }
            check.rows.values().sum()
        };
        for listed in &manifest.keyring {
            let keyring = self.keyring_shard(&manifest, listed).await?;
            if keyring.wrapped_keys().is_none() {
                return Err(unusable(
                    id,
                    format!("keyring shard {} is damaged", listed.name),
                ));
            }
        }
        let marker = serde_json::json!({ "verified_at": self.clock.now().unix_timestamp() });
        self.backups
            .put(
                &format!(
                    "{}{id}/{}",
                    BackupLayout::tenant_prefix(tenant),
                    BackupLayout::VERIFIED
                ),
                once(Bytes::from(marker.to_string())),
            )
            .await
            .map_err(AppError::Backup)?;
        Ok(rows)
    }
}
