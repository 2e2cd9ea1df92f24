//! Listing, verifying and restoring backups.
//!
//! A restore replaces the tenant's rows with the backup's in one storage transaction, then
//! the erasures the backup predates are replayed: every subject with a tombstone (in the
//! database's journal or the one beside the backups) and every subject whose key is no longer
//! in the backup's keyring is left out, rows and key. The payload is checked against its
//! manifest while it streams; a mismatch aborts the transaction, so a damaged backup changes
//! nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    BackupError, BackupStore, ByteStream, Clock, Decryptor, DumpRow, ErasureStore, Ports,
    RowStream, StoreError, TenantDumps, TenantStore, WrappedKey,
};
use gdpr_rights::Tombstone;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::backup_create::{Progress, once};
use crate::backup_format::{
    self as backup_format, FORMAT, FORMAT_VERSION, KeyringShard, Line, LineDecoder, MANIFEST,
    Manifest, tombstone_prefix,
};
use crate::backups::BackupLayout;
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

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// The tenant.
    pub tenant: TenantId,
    /// The backup restored.
    pub backup: String,
    /// Rows written, by table.
    pub rows: BTreeMap<String, u64>,
    /// Data keys written.
    pub keys: u64,
    /// Rows of the tenant that the database held before and the backup replaced.
    pub replaced: u64,
    /// Tombstones replayed (the database's and the journal's, together).
    pub tombstones: u64,
    /// Subjects left out: erased since the backup, or whose key was shredded.
    pub subjects_left_out: u64,
    /// Their rows, left out.
    pub rows_left_out: u64,
}

/// The checks run while a payload streams.
struct Check {
    manifest: Arc<Manifest>,
    tap: Sha256,
    size: u64,
    rows: BTreeMap<String, u64>,
}

impl Check {
    fn new(manifest: Arc<Manifest>) -> Self {
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
    fn finish(&mut self, leftover: bool) -> Option<String> {
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

fn unusable(backup: &str, reason: impl Into<String>) -> AppError {
    AppError::BackupUnusable {
        backup: backup.to_owned(),
        reason: reason.into(),
    }
}

/// Which rows a restore keeps, and what it left out.
struct Filter {
    erased: BTreeSet<SubjectId>,
    keyed: BTreeSet<SubjectId>,
    left_out_subjects: BTreeSet<SubjectId>,
    left_out_rows: u64,
}

struct Reading {
    plain: ByteStream,
    decoder: LineDecoder,
    ready: VecDeque<DumpRow>,
    check: Arc<Mutex<Check>>,
    filter: Arc<Mutex<Filter>>,
    progress: Arc<Progress>,
    done: bool,
}

fn corrupt(reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(reason.to_string())
}

/// The payload's rows, checked as they stream; the stream ends in an error if any check fails.
fn rows_of(reading: Reading) -> RowStream {
    Box::pin(futures_util::stream::unfold(reading, |mut st| async move {
        loop {
            if let Some(row) = st.ready.pop_front() {
                return Some((Ok(row), st));
            }
            if st.done {
                return None;
            }
            match st.plain.next().await {
                Some(Ok(bytes)) => {
                    let Reading {
                        decoder,
                        ready,
                        check,
                        filter,
                        progress,
                        ..
                    } = &mut st;
                    let mut check = check.lock().unwrap_or_else(PoisonError::into_inner);
                    let mut filter = filter.lock().unwrap_or_else(PoisonError::into_inner);
                    let pushed = decoder.push::<std::io::Error>(&bytes, |line| {
                        let line: Line<'_> = serde_json::from_slice(line)
                            .map_err(|_| std::io::Error::other("a payload line does not parse"))?;
                        *check.rows.entry(line.t.clone()).or_default() += 1;
                        progress.add(1, 0);
                        if let Some(subject) = line.s
                            && (filter.erased.contains(&subject)
                                || !filter.keyed.contains(&subject))
                        {
                            filter.left_out_subjects.insert(subject);
                            filter.left_out_rows += 1;
                            return Ok(());
                        }
                        ready.push_back(DumpRow {
                            table: line.t,
                            subject: line.s,
                            json: line.r.get().to_owned(),
                        });
                        Ok(())
                    });
                    drop((check, filter));
                    if let Err(e) = pushed {
                        st.done = true;
                        return Some((Err(corrupt(e)), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(corrupt(format!("reading the payload failed: {e}"))), st));
                }
                None => {
                    st.done = true;
                    let leftover = st.decoder.has_leftover();
                    let problem = st
                        .check
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .finish(leftover);
                    if let Some(problem) = problem {
                        return Some((Err(corrupt(problem)), st));
                    }
                }
            }
        }
    }))
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

    async fn manifest(&self, tenant: TenantId, id: &str) -> Result<Manifest, AppError> {
        let key = format!("{}{id}/{MANIFEST}", BackupLayout::tenant_prefix(tenant));
        let manifest: Manifest = self.read_json(&key).await.map_err(|e| match e {
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

    /// The payload's plaintext, with the ciphertext checked on the way through.
    async fn open_payload(
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
        for shard in &manifest.keyring {
            let key = format!("{}{id}/{shard}", BackupLayout::tenant_prefix(tenant));
            let keyring: KeyringShard = self.read_json(&key).await?;
            if keyring.wrapped_keys().is_none() {
                return Err(unusable(id, format!("keyring shard {shard} is damaged")));
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
            let entry = backup_format::read_journal_entry(&bytes).ok_or_else(|| {
                AppError::BackupUnusable {
                    backup: object.key.clone(),
                    reason: "a tombstone journal entry does not parse".into(),
                }
            })?;
            for t in entry.into_iter().filter(|t| t.tenant == tenant) {
                by_receipt.insert(t.receipt, t);
            }
        }
        Ok(by_receipt.into_values().collect())
    }

    /// Restores the tenant from a backup (the newest complete one unless `backup` names one)
    /// into the configured database, then replays the tombstones so that no erased subject
    /// comes back. A tenant already in the database is replaced only with `replace`.
    ///
    /// # Errors
    /// [`AppError::NotFound`] when there is no such backup; [`AppError::Conflict`] when the
    /// tenant exists and `replace` is false; [`AppError::BackupUnusable`] for a damaged or
    /// foreign backup (nothing changed); decryption, storage and object storage errors
    /// (nothing changed).
    pub async fn restore_tenant(
        &self,
        tenant: TenantId,
        backup: Option<&str>,
        replace: bool,
        decryptor: &dyn Decryptor,
        progress: &Arc<Progress>,
    ) -> Result<RestoreReport, AppError> {
        let id = match backup {
            Some(id) => id.to_owned(),
            None => self
                .list_backups(tenant)
                .await?
                .pop()
                .map(|b| b.id)
                .ok_or(AppError::NotFound("backup"))?,
        };
        let manifest = Arc::new(self.manifest(tenant, &id).await?);
        if !self.store.reads_schema(&manifest.schema_version) {
            return Err(unusable(
                &id,
                format!(
                    "its rows are in schema {}, which this version ({}) cannot read",
                    manifest.schema_version,
                    self.store.schema_version()
                ),
            ));
        }
        match self.store.get_tenant(tenant).await {
            Ok(_) if !replace => {
                return Err(AppError::Conflict(
                    "the tenant exists in this database: restoring would replace its data (pass replace to confirm)".into(),
                ));
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(AppError::store(e)),
        }
        let tombstones = self.all_tombstones(tenant).await?;
        let erased: BTreeSet<SubjectId> = tombstones.iter().map(|t| t.subject).collect();
        let mut keys: Vec<WrappedKey> = Vec::new();
        for shard in &manifest.keyring {
            let key = format!("{}{id}/{shard}", BackupLayout::tenant_prefix(tenant));
            // A listed shard that is gone means a damaged backup (a prune cut short, say):
            // restoring would silently drop every subject of that shard.
            let keyring: KeyringShard = self.read_json(&key).await.map_err(|e| match e {
                AppError::Backup(BackupError::NotFound(_)) => {
                    unusable(&id, format!("keyring shard {shard} is missing"))
                }
                other => other,
            })?;
            let shard_keys = keyring
                .wrapped_keys()
                .ok_or_else(|| unusable(&id, format!("keyring shard {shard} is damaged")))?;
            keys.extend(
                shard_keys
                    .into_iter()
                    .filter(|k| !erased.contains(&k.subject)),
            );
        }
        let filter = Arc::new(Mutex::new(Filter {
            keyed: keys.iter().map(|k| k.subject).collect(),
            erased,
            left_out_subjects: BTreeSet::new(),
            left_out_rows: 0,
        }));
        let check = Arc::new(Mutex::new(Check::new(Arc::clone(&manifest))));
        let plain = self
            .open_payload(&manifest, decryptor, &check, progress)
            .await?;
        let rows = rows_of(Reading {
            plain,
            decoder: LineDecoder::new().map_err(|e| unusable(&id, e.to_string()))?,
            ready: VecDeque::new(),
            check,
            filter: Arc::clone(&filter),
            progress: Arc::clone(progress),
            done: false,
        });
        let tombstone_count = tombstones.len() as u64;
        let counts = self
            .store
            .restore_tenant(tenant, keys, tombstones, rows)
            .await
            .map_err(|e| match e {
                StoreError::Corrupt(reason) => unusable(&id, reason),
                other => AppError::store(other),
            })?;
        let (subjects_left_out, rows_left_out) = {
            let filter = filter.lock().unwrap_or_else(PoisonError::into_inner);
            (filter.left_out_subjects.len() as u64, filter.left_out_rows)
        };
        let report = RestoreReport {
            tenant,
            backup: id.clone(),
            rows: counts.rows,
            keys: counts.keys,
            replaced: counts.replaced,
            tombstones: tombstone_count,
            subjects_left_out,
            rows_left_out,
        };
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            Actor::System,
            AuditAction::BackupRestored,
        )
        .with("backup", &id)
        .with("rows", report.rows.values().sum::<u64>())
        .with("subjects_left_out", report.subjects_left_out)
        .with("tombstones", report.tombstones);
        self.audit(event).await?;
        Ok(report)
    }
}
