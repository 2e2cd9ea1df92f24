//! Restoring a backup.
//!
//! A restore replaces the tenant's rows with the backup's in one storage transaction, then
//! the erasures the backup predates are replayed: every subject with a tombstone (in the
//! database's journal or the one beside the backups) and every subject whose key is no longer
//! in the backup's keyring is left out, rows and key. The payload is checked against its
//! manifest while it streams; a mismatch aborts the transaction, so a damaged backup changes
//! nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    AuditLog, ByteStream, Clock, Decryptor, DumpRow, Ports, RowStream, StoreError, TenantDumps,
    TenantStore, WrappedKey,
};
use serde::Serialize;

use super::Progress;
use super::format::{Line, LineDecoder, journal_key};
use super::journal::PRUNE_MARGIN;
use super::verify::{Check, unusable};
use crate::{App, AppError};

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
    /// Decisions of the journal that the restored rows did not hold yet, applied again
    /// (erasures are applied by leaving their subjects out, counted above).
    pub decisions_replayed: u64,
    /// Erasures since the backup whose subject the restored audit chain did not show erased
    /// (the database was lost with the entries that recorded them), recorded in it again so
    /// that the webhook endpoints hear of them (Art. 17(2), 19).
    pub erasures_announced: u64,
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
        let journal = self.read_journal(tenant).await?;
        // The journal must still reach where it was when the backup was taken: entries cut
        // from its end would otherwise go unnoticed.
        if let Some(mark) = &manifest.journal
            && !journal.reaches(mark)
        {
            return Err(AppError::Untrusted {
                object: journal_key(tenant, mark.seq),
                reason: format!(
                    "the decision journal no longer holds entry {} as the backup saw it: \
                     entries were removed or replaced",
                    mark.seq
                ),
            });
        }
        let tombstones = self.tombstones_with(tenant, &journal).await?;
        let erased: BTreeSet<SubjectId> = tombstones.iter().map(|t| t.subject).collect();
        // Erasures the backup may not have seen (a day's margin, as for pruning the journal:
        // an erasure is journaled before its transaction), each subject's latest.
        let mut erased_since: BTreeMap<SubjectId, (time::OffsetDateTime, uuid::Uuid)> =
            BTreeMap::new();
        for t in &tombstones {
            if t.erased_at >= manifest.created_at - PRUNE_MARGIN {
                let latest = erased_since
                    .entry(t.subject)
                    .or_insert((t.erased_at, t.receipt));
                if t.erased_at > latest.0 {
                    *latest = (t.erased_at, t.receipt);
                }
            }
        }
        let mut keys: Vec<WrappedKey> = Vec::new();
        for listed in &manifest.keyring {
            let keyring = self.keyring_shard(&manifest, listed).await?;
            let shard_keys = keyring.wrapped_keys().ok_or_else(|| {
                unusable(&id, format!("keyring shard {} is damaged", listed.name))
            })?;
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
        let restored = self
            .store
            .restore_tenant(tenant, keys, tombstones, rows)
            .await;
        // Old rows are back (keys, consents, limits): nothing known of the tenant holds.
        self.invalidate(gdpr_ports::Invalidation::Tenant(tenant))
            .await;
        let counts = restored.map_err(|e| match e {
            StoreError::Corrupt(reason) => unusable(&id, reason),
            other => AppError::store(other),
        })?;
        let (subjects_left_out, rows_left_out) = {
            let filter = filter.lock().unwrap_or_else(PoisonError::into_inner);
            (filter.left_out_subjects.len() as u64, filter.left_out_rows)
        };
        let replayed = self.replay(tenant, &journal, progress).await;
        self.invalidate(gdpr_ports::Invalidation::Tenant(tenant))
            .await;
        let decisions_replayed = replayed?;
        let erasures_announced = self
            .announce_lost_erasures(tenant, manifest.created_at - PRUNE_MARGIN, erased_since)
            .await?;
        let report = RestoreReport {
            tenant,
            backup: id.clone(),
            rows: counts.rows,
            keys: counts.keys,
            replaced: counts.replaced,
            tombstones: tombstone_count,
            subjects_left_out,
            rows_left_out,
            decisions_replayed,
            erasures_announced,
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
        .with("tombstones", report.tombstones)
        .with("erasures_announced", report.erasures_announced);
        self.audit(event).await?;
        Ok(report)
    }

    /// Records again, in the tenant's audit chain, each erasure of `erased_since` (by
    /// subject: when, and its receipt; erasures since `since`) that the chain does not show
    /// about its subject: lost with the database when the chain came back from the backup. The
    /// webhook feed reads the chain, so every endpoint that asked for erasures is told (again:
    /// a receiver that heard before erases nothing new), and its Art. 19 confirmation can be
    /// collected again. A chain the database kept holds the original entries, and a restore
    /// run again after a crash finds its own: neither announces twice. Only the chain's
    /// entries from an hour before `since` on are read. Returns how many were recorded.
    async fn announce_lost_erasures(
        &self,
        tenant: TenantId,
        since: time::OffsetDateTime,
        mut erased_since: BTreeMap<SubjectId, (time::OffsetDateTime, uuid::Uuid)>,
    ) -> Result<u64, AppError> {
        if erased_since.is_empty() {
            return Ok(0);
        }
        // An hour earlier: an entry takes its time before its transaction, and replicas'
        // clocks differ, so the chain is in time order only to within seconds.
        let after = self
            .audit_seq_before(tenant, since - time::Duration::HOUR)
            .await?;
        // It never breaks: every entry from there on is read.
        let ControlFlow::Continue(()) = self
            .each_audit_record(Some(tenant), after, |r| {
                if r.event.action == AuditAction::SubjectErased
                    && let Some(subject) = r.event.subject
                {
                    erased_since.remove(&subject);
                }
                ControlFlow::<std::convert::Infallible>::Continue(())
            })
            .await?;
        let mut announced = 0;
        for (subject, (_, receipt)) in erased_since {
            let event = AuditEvent::new(
                self.clock.now(),
                Some(tenant),
                Actor::System,
                AuditAction::SubjectErased,
            )
            .about(subject)
            .with("receipt", receipt)
            .with("announced_after_restore", true);
            self.audit(event).await?;
            announced += 1;
        }
        Ok(announced)
    }

    /// The position in the tenant's audit chain after which its entries are at or after
    /// `since` (0: from the start): a binary search by single reads, since a chain is numbered
    /// from 1 without gaps and written in time order (to within seconds: the caller leaves a
    /// margin). About 40 reads for a million entries.
    async fn audit_seq_before(
        &self,
        tenant: TenantId,
        since: time::OffsetDateTime,
    ) -> Result<u64, AppError> {
        // Whether entry `seq` is there and before `since`.
        let before = |seq: u64| async move {
            self.store
                .audit_records(Some(tenant), seq - 1, 1)
                .await
                .map(|page| page.first().is_some_and(|r| r.event.at < since))
                .map_err(AppError::store)
        };
        // Entry `lo` is before `since` (or `lo` is 0); entry `hi` is at or after it, or missing.
        let (mut lo, mut hi) = (0, 1);
        while before(hi).await? {
            lo = hi;
            hi *= 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if before(mid).await? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
