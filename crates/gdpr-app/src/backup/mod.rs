//! Backups: what they are made of, and every use case that touches them.
//!
//! A backup of a tenant is a folder `backups/<tenant>/<backup id>/` in object storage (the
//! `layout`), in the versioned [`format`](mod@format): an OpenPGP-encrypted, zstd-compressed payload of
//! the tenant's rows, keyring shards of the subjects' wrapped data keys beside it, and a
//! manifest written last. Decisions (erasures among them) are journaled outside every backup
//! (`journal`) and replayed after a restore (`replay`); erasures reach
//! the retained backups by crypto-shredding (`shred`).
//!
//! | module | what it does |
//! | --- | --- |
//! | `layout` | object names, backup ids, a tenant's listing read into folders |
//! | [`format`](mod@format) | the versioned format: manifest, keyring shards, payload lines, journal entries |
//! | `create` | taking a backup |
//! | `verify` | listing and verifying backups |
//! | `restore` | restoring a tenant, erasures replayed |
//! | `journal` | the decision journal beside the backups (signed, chained) |
//! | `replay` | the journal's decisions applied again after a restore |
//! | `shred` | erasure reaching backups (crypto-shredding) |
//! | `prune` | pruning by retention; deleting a tenant's backups on request |

use std::sync::atomic::{AtomicU64, Ordering};

mod create;
pub mod format;
pub(crate) mod journal;
mod layout;
mod prune;
mod replay;
mod restore;
mod shred;
mod verify;

pub use create::BackupReport;
pub use layout::BackupLayout;
pub use prune::{BackupDeletionReceipt, PruneReport};
pub use restore::RestoreReport;
pub use verify::{BackupEntry, VerifyOutcome};

/// Live counters of a long operation, for an operator's progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows (and keys) handled so far.
    pub rows: AtomicU64,
    /// Bytes written or read so far.
    pub bytes: AtomicU64,
    /// Decisions of the journal the replay after a restore has gone through so far (applied,
    /// or found in force already).
    pub decisions: AtomicU64,
    /// How many decisions the journal holds (zero until the replay starts).
    pub decisions_total: AtomicU64,
}

impl Progress {
    pub(crate) fn add(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}
