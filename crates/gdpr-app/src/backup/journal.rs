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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

use futures_util::lock::Mutex as AsyncMutex;
use gdpr_pii::TenantId;
use gdpr_ports::{BackupError, BackupStore, Clock, ErasureStore, Ports, StoreError};
use gdpr_rights::{Decision, Tombstone};

use super::format::{
    GENESIS, JOURNAL_FORMAT, JOURNAL_VERSION, JournalEntry, JournalMark, journal_key,
    journal_prefix, journal_seq, legacy_tombstone_prefix, read_legacy_tombstones,
};
use crate::{App, AppError};

/// How many positions an append tries after other writers took the one it aimed at.
const APPEND_TRIES: usize = 32;

/// Each tenant's journal head as this process last wrote or read it, behind a lock that keeps
/// this process's appends to one tenant in order (other processes are kept apart by the
/// create-only write).
#[derive(Default)]
pub(crate) struct Heads(std::sync::Mutex<HashMap<TenantId, Arc<AsyncMutex<Option<JournalMark>>>>>);

impl Heads {
    fn of(&self, tenant: TenantId) -> Arc<AsyncMutex<Option<JournalMark>>> {
        let mut heads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(heads.entry(tenant).or_default())
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
}

impl<P: Ports> App<P> {
    /// Appends `decisions` (of `tenant`) to its journal as one signed entry, and returns the
    /// entry's mark. When this returns, the decisions are in object storage.
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
        let lock = self.journal_heads.of(tenant);
        let mut cached = lock.lock().await;
        let mut head = match cached.take() {
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
                    let mark = JournalMark {
                        seq: entry.seq,
                        sha256,
                    };
                    *cached = Some(mark.clone());
                    return Ok(mark);
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
        let mut journal = Journal {
            entries: Vec::new(),
            head: start(),
            hashes: BTreeMap::new(),
        };
        let untrusted = |object: &str, reason: String| AppError::Untrusted {
            object: object.to_owned(),
            reason,
        };
        for object in &objects {
            let Some(seq) = journal_seq(&object.key) else {
                return Err(untrusted(&object.key, "not a journal entry".into()));
            };
            if seq != journal.head.seq + 1 {
                return Err(untrusted(
                    &object.key,
                    format!(
                        "the journal has a gap: entry {} is missing",
                        journal.head.seq + 1
                    ),
                ));
            }
            let (entry, sha256) = self.read_signed::<JournalEntry>(&object.key).await?;
            if entry.format != JOURNAL_FORMAT || entry.version != JOURNAL_VERSION {
                return Err(untrusted(
                    &object.key,
                    "not a journal entry this version reads".into(),
                ));
            }
            if entry.tenant != tenant || entry.seq != seq {
                return Err(untrusted(
                    &object.key,
                    "the entry belongs to another tenant or position".into(),
                ));
            }
            if entry.prev != journal.head.sha256 {
                return Err(untrusted(
                    &object.key,
                    "the entry does not follow the one before it (an entry was replaced)".into(),
                ));
            }
            journal.hashes.insert(seq, sha256.clone());
            journal.head = JournalMark { seq, sha256 };
            journal.entries.push(entry);
        }
        Ok(journal)
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
        for entry in &journal.entries {
            for decision in &entry.decisions {
                if let Decision::SubjectErased {
                    subject,
                    receipt,
                    at,
                } = *decision
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
