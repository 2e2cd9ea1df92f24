//! The decision journal: every decision that takes data away or limits its use, written
//! outside the database, in the backup storage, so that a restore after the database is lost
//! still knows it.
//!
//! A tenant's journal is a sequence of signed entries, `journal/<tenant>/<seq>.json`, numbered
//! from 1 without gaps and each chained to the one before by the SHA-256 of its signed content
//! ([`JournalEntry`]). An entry is written create-only: of two writers (two replicas) of one
//! position, one wins and the other moves on to the next. So a removed entry leaves a gap, an
//! altered one fails its signature, a reordered or foreign one breaks the chain or its binding:
//! each is refused by [`App::read_journal`], and a restore that needs the journal restores
//! nothing. Tombstones journaled by earlier versions (`tombstones/<tenant>/`, unsigned) are
//! still read, as erasures only.
//!
//! Entries are pruned with the backups they outlive, never earlier: once no backup kept is
//! older than an entry (by a day's margin, for a decision whose transaction ran while a
//! backup was being taken), a signed checkpoint records the last entry pruned and the reader
//! starts after it. The newest entry is never pruned, so the head is always an entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

use futures_util::lock::Mutex as AsyncMutex;
use gdpr_pii::TenantId;
use gdpr_ports::{BackupError, BackupStore, Clock, ErasureStore, Ports, StoreError};
use gdpr_rights::{Decision, Tombstone};

use super::format::{
    CHECKPOINT_FORMAT, GENESIS, JOURNAL_FORMAT, JOURNAL_VERSION, JournalCheckpoint, JournalEntry,
    JournalMark, journal_checkpoint_key, journal_key, journal_prefix, journal_seq,
    legacy_tombstone_prefix, read_legacy_tombstones,
};
use crate::{App, AppError};

/// How much older than the oldest backup kept an entry must be to be pruned: a decision
/// journaled before its transaction, while a backup was being dumped, may be missing from
/// that backup even though the backup's mark is past it.
pub(crate) const PRUNE_MARGIN: time::Duration = time::Duration::DAY;

/// How many journal entries a reader fetches at once.
const READ_AHEAD: usize = 32;

/// How many positions an append tries after other writers took the one it aimed at.
const APPEND_TRIES: usize = 32;

/// One tenant's journal as this process sees it: the head it last wrote or read, and the
/// decisions waiting to be written. Concurrent decisions share one entry: whoever holds the
/// writer's lock writes everything pending, and the others find their result when they get it.
#[derive(Default)]
struct TenantJournal {
    head: Option<JournalMark>,
    pending: Vec<(u64, Vec<Decision>)>,
    done: HashMap<u64, Result<JournalMark, String>>,
    next_ticket: u64,
}

/// A tenant's [`TenantJournal`], beside the lock that keeps this process's writes to it in
/// order (other processes are kept apart by the create-only write).
type Slot = Arc<(std::sync::Mutex<TenantJournal>, AsyncMutex<()>)>;

/// Every tenant's [`Slot`].
#[derive(Default)]
pub(crate) struct Heads(std::sync::Mutex<HashMap<TenantId, Slot>>);

impl Heads {
    fn of(&self, tenant: TenantId) -> Slot {
        let mut heads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(heads.entry(tenant).or_default())
    }

    /// Forgets what this process knew of a tenant's journal (deleted with the tenant).
    pub(crate) fn forget(&self, tenant: TenantId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tenant);
    }
}

/// The mark of an empty journal.
fn start() -> JournalMark {
    JournalMark {
        seq: 0,
        sha256: GENESIS.to_owned(),
    }
}

/// A tenant's journal as read and checked: its entries in order, and its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Journal {
    pub(crate) entries: Vec<JournalEntry>,
    pub(crate) head: JournalMark,
    /// The content hash of each entry, by position.
    pub(crate) hashes: BTreeMap<u64, String>,
    /// Where it starts, once pruned: the last entry deleted (none: it starts at 1).
    pub(crate) checkpoint: Option<JournalMark>,
}

impl Journal {
    /// Whether the journal still holds entry `mark` as it was, or pruned past it (a backup
    /// older than the checkpoint is older than every backup kept).
    pub(crate) fn reaches(&self, mark: &JournalMark) -> bool {
        match &self.checkpoint {
            Some(c) if mark.seq < c.seq => true,
            Some(c) if mark.seq == c.seq => mark.sha256 == c.sha256,
            _ => self.hashes.get(&mark.seq) == Some(&mark.sha256),
        }
    }
}

impl Journal {
    /// Every decision, in the order they were journaled.
    pub(crate) fn decisions(&self) -> impl Iterator<Item = &Decision> {
        self.entries.iter().flat_map(|e| e.decisions.iter())
    }
}

impl<P: Ports> App<P> {
    /// Appends `decisions` (of `tenant`) to its journal, and returns the mark of the entry
    /// that holds them. When this returns, the decisions are in object storage. Decisions of
    /// one tenant made meanwhile by other callers are written in the same entry.
    ///
    /// # Errors
    /// Object storage and signing errors (nothing is written); [`AppError::Untrusted`] when an
    /// entry read back to find the head is not trusted; [`AppError::Conflict`] when other
    /// writers kept taking the next position.
    pub(crate) async fn journal(
        &self,
        tenant: TenantId,
        decisions: Vec<Decision>,
    ) -> Result<JournalMark, AppError> {
        if !self.config.journal_decisions {
            return Ok(start());
        }
        let slot = self.journal_heads.of(tenant);
        let (state, writer) = (&slot.0, &slot.1);
        let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = {
            let mut j = lock();
            let ticket = j.next_ticket;
            j.next_ticket += 1;
            j.pending.push((ticket, decisions));
            ticket
        };
        let _writing = writer.lock().await;
        let (batch, head) = {
            let mut j = lock();
            if let Some(done) = j.done.remove(&ticket) {
                // Written by whoever held the lock before: with this caller's decisions.
                return done
                    .map_err(|reason| AppError::Backup(BackupError::Unavailable(reason.into())));
            }
            (std::mem::take(&mut j.pending), j.head.take())
        };
        let others: Vec<u64> = batch
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t != ticket)
            .collect();
        let decisions = batch.into_iter().flat_map(|(_, d)| d).collect();
        let written = self.append_entry(tenant, head, decisions).await;
        let mut j = lock();
        j.head = written.as_ref().ok().cloned();
        for t in others {
            let shared = written
                .as_ref()
                .map(Clone::clone)
                .map_err(ToString::to_string);
            j.done.insert(t, shared);
        }
        written
    }

    /// Writes one entry holding `decisions` after `head` (read from storage when `None`),
    /// moving past positions other writers took.
    async fn append_entry(
        &self,
        tenant: TenantId,
        head: Option<JournalMark>,
        decisions: Vec<Decision>,
    ) -> Result<JournalMark, AppError> {
        let mut head = match head {
            Some(head) => head,
            None => self.journal_head(tenant).await?,
        };
        let mut entry = JournalEntry {
            format: JOURNAL_FORMAT.into(),
            version: JOURNAL_VERSION,
            tenant,
            seq: 0,
            prev: String::new(),
            written_at: self.clock.now(),
            decisions,
        };
        for _ in 0..APPEND_TRIES {
            entry.seq = head.seq + 1;
            entry.prev.clone_from(&head.sha256);
            match self
                .put_new_signed(&journal_key(tenant, entry.seq), &entry)
                .await
            {
                Ok(sha256) => {
                    return Ok(JournalMark {
                        seq: entry.seq,
                        sha256,
                    });
                }
                // Another writer took the position: move on past what it wrote.
                Err(AppError::Backup(BackupError::AlreadyExists(_))) => {
                    head = self.journal_head_after(tenant, head).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(AppError::Conflict(
            "the decision journal kept being written by other writers; try again".into(),
        ))
    }

    /// The newest entry of the tenant's journal (a listing, then that entry read).
    pub(crate) async fn journal_head(&self, tenant: TenantId) -> Result<JournalMark, AppError> {
        let objects = self
            .backups
            .list(&journal_prefix(tenant))
            .await
            .map_err(AppError::Backup)?;
        let Some(seq) = objects.iter().filter_map(|o| journal_seq(&o.key)).max() else {
            return Ok(start());
        };
        let (_, sha256) = self
            .read_signed::<JournalEntry>(&journal_key(tenant, seq))
            .await?;
        Ok(JournalMark { seq, sha256 })
    }

    /// The head after `known`: the entries written since, read one by one until the next is
    /// missing.
    async fn journal_head_after(
        &self,
        tenant: TenantId,
        known: JournalMark,
    ) -> Result<JournalMark, AppError> {
        let mut head = known;
        loop {
            let seq = head.seq + 1;
            match self
                .read_signed::<JournalEntry>(&journal_key(tenant, seq))
                .await
            {
                Ok((_, sha256)) => head = JournalMark { seq, sha256 },
                Err(AppError::Backup(BackupError::NotFound(_))) => return Ok(head),
                Err(e) => return Err(e),
            }
        }
    }

    /// The tenant's journal, every entry checked: signed by a pinned key, of this tenant, at
    /// the position its name says, numbered from 1 without a gap, each chained to the one
    /// before.
    ///
    /// # Errors
    /// [`AppError::Untrusted`] naming the first entry that fails; object storage errors.
    pub(crate) async fn read_journal(&self, tenant: TenantId) -> Result<Journal, AppError> {
        let prefix = journal_prefix(tenant);
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        let untrusted = |object: &str, reason: String| AppError::Untrusted {
            object: object.to_owned(),
            reason,
        };
        let checkpoint_key = journal_checkpoint_key(tenant);
        let checkpoint = if objects.iter().any(|o| o.key == checkpoint_key) {
            let (c, _) = self
                .read_signed::<JournalCheckpoint>(&checkpoint_key)
                .await?;
            if c.format != CHECKPOINT_FORMAT || c.version != JOURNAL_VERSION || c.tenant != tenant {
                return Err(untrusted(
                    &checkpoint_key,
                    "not this tenant's journal checkpoint".into(),
                ));
            }
            Some(JournalMark {
                seq: c.seq,
                sha256: c.sha256,
            })
        } else {
            None
        };
        let mut journal = Journal {
            entries: Vec::new(),
            head: checkpoint.clone().unwrap_or_else(start),
            hashes: BTreeMap::new(),
            checkpoint,
        };
        let pruned_through = journal.head.seq;
        let mut keys = Vec::with_capacity(objects.len());
        for object in &objects {
            if object.key == checkpoint_key {
                continue;
            }
            let Some(seq) = journal_seq(&object.key) else {
                return Err(untrusted(&object.key, "not a journal entry".into()));
            };
            // Left by a pruning cut short: past the checkpoint, never read again.
            if seq > pruned_through {
                keys.push((seq, object.key.clone()));
            }
        }
        keys.sort();
        // Read many at a time, in order. Each entry holds the hash of the one before, so the
        // newest entry's signature vouches for every entry before it: one signature is
        // checked, every link is.
        let mut newest: Option<(&String, crate::objects::Enveloped<JournalEntry>)> = None;
        // (Futures gathered in a `Vec` first: a stream of closures over `self` would make the
        // caller's future not `Send` for every lifetime, which `tokio::spawn` needs.)
        let mut reads = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(READ_AHEAD) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|(_, key)| self.read_enveloped::<JournalEntry>(key))
                .collect();
            let read = futures_util::future::join_all(batch).await;
            reads.extend(chunk.iter().zip(read).map(|((seq, key), r)| (*seq, key, r)));
        }
        for (seq, key, read) in reads {
            if seq != journal.head.seq + 1 {
                return Err(untrusted(
                    key,
                    format!(
                        "the journal has a gap: entry {} is missing",
                        journal.head.seq + 1
                    ),
                ));
            }
            let read = read?;
            let entry = &read.value;
            if entry.format != JOURNAL_FORMAT || entry.version != JOURNAL_VERSION {
                return Err(untrusted(
                    key,
                    "not a journal entry this version reads".into(),
                ));
            }
            if entry.tenant != tenant || entry.seq != seq {
                return Err(untrusted(
                    key,
                    "the entry belongs to another tenant or position".into(),
                ));
            }
            if entry.prev != journal.head.sha256 {
                // The one before may be the altered one: say so when its signature fails.
                if let Some((before, read)) = &newest {
                    self.check_signature(before, read).await?;
                }
                return Err(untrusted(
                    key,
                    "the entry does not follow the one before it (an entry was replaced)".into(),
                ));
            }
            journal.hashes.insert(seq, read.sha256.clone());
            journal.head = JournalMark {
                seq,
                sha256: read.sha256.clone(),
            };
            journal.entries.push(read.value.clone());
            newest = Some((key, read));
        }
        if let Some((key, read)) = newest {
            self.check_signature(key, &read).await?;
        }
        Ok(journal)
    }

    /// Prunes the tenant's journal up to what the oldest backup kept no longer needs: the
    /// entries it already holds (up to its mark), written more than [`PRUNE_MARGIN`] before
    /// it was taken, and never the newest. Writes the checkpoint first, then deletes the
    /// entries (a pass cut short leaves some, which readers skip and the next pass
    /// deletes). Returns how many entries went.
    ///
    /// # Errors
    /// [`AppError::Untrusted`] when the journal does not verify (nothing is pruned); object
    /// storage and signing errors.
    pub(crate) async fn prune_journal(
        &self,
        tenant: TenantId,
        oldest_kept: Option<(JournalMark, time::OffsetDateTime)>,
    ) -> Result<u64, AppError> {
        let Some((mark, taken_at)) = oldest_kept else {
            return Ok(0);
        };
        let journal = self.read_journal(tenant).await?;
        let Some(through) = journal
            .entries
            .iter()
            .filter(|e| {
                e.seq <= mark.seq
                    && e.seq < journal.head.seq
                    && e.written_at <= taken_at - PRUNE_MARGIN
            })
            .map(|e| e.seq)
            .max()
        else {
            return Ok(0);
        };
        let sha256 = journal.hashes[&through].clone();
        let checkpoint = JournalCheckpoint {
            format: CHECKPOINT_FORMAT.into(),
            version: JOURNAL_VERSION,
            tenant,
            seq: through,
            sha256,
            written_at: self.clock.now(),
        };
        self.put_signed(&journal_checkpoint_key(tenant), &checkpoint)
            .await?;
        let mut pruned = 0;
        let first = journal.checkpoint.as_ref().map_or(1, |c| c.seq + 1);
        for seq in first..=through {
            match self.backups.delete(&journal_key(tenant, seq)).await {
                Ok(()) | Err(BackupError::NotFound(_)) => pruned += 1,
                Err(e) => return Err(AppError::Backup(e)),
            }
        }
        Ok(pruned)
    }

    /// Every tombstone of the tenant: the database's (if the tenant is there), the journal's
    /// erasures, and the tombstones earlier versions journaled; each survives the loss of the
    /// database but the first.
    ///
    /// # Errors
    /// Storage and object storage errors; [`AppError::Untrusted`] for a journal that fails its
    /// checks.
    pub(crate) async fn all_tombstones(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<Tombstone>, AppError> {
        let journal = self.read_journal(tenant).await?;
        self.tombstones_with(tenant, &journal).await
    }

    /// [`Self::all_tombstones`] with the journal already read.
    pub(crate) async fn tombstones_with(
        &self,
        tenant: TenantId,
        journal: &Journal,
    ) -> Result<Vec<Tombstone>, AppError> {
        let mut by_receipt: BTreeMap<uuid::Uuid, Tombstone> = BTreeMap::new();
        match self.store.tombstones(tenant).await {
            Ok(list) => by_receipt.extend(list.into_iter().map(|t| (t.receipt, t))),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(AppError::store(e)),
        }
        let voided: std::collections::BTreeSet<uuid::Uuid> = journal
            .decisions()
            .filter_map(|d| match d {
                Decision::ErasureVoided { receipt, .. } => Some(*receipt),
                _ => None,
            })
            .collect();
        for entry in &journal.entries {
            for decision in &entry.decisions {
                if let Decision::SubjectErased {
                    subject,
                    receipt,
                    at,
                } = *decision
                    && !voided.contains(&receipt)
                {
                    by_receipt.insert(
                        receipt,
                        Tombstone {
                            tenant,
                            subject,
                            erased_at: at,
                            receipt,
                        },
                    );
                }
            }
        }
        let legacy = self
            .backups
            .list(&legacy_tombstone_prefix(tenant))
            .await
            .map_err(AppError::Backup)?;
        for object in legacy {
            let bytes = self.read_object(&object.key).await?;
            let entry = read_legacy_tombstones(&bytes).ok_or_else(|| AppError::BackupUnusable {
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
