//! A tenant's rows, taken out of storage as a consistent snapshot and put back: what backups
//! are made of and restored from.
//!
//! Rows are opaque JSON chosen by the adapter (the ciphertext of personal fields stays
//! ciphertext); the adapter tags each row with its table and, for rows that hold personal data,
//! with their subject, so that the use cases can drop an erased subject's rows on restore
//! without knowing the schema. Subjects' data keys come out apart from the rows, as
//! [`WrappedKey`]s: backups keep them in a keyring beside the payload, so that erasure can
//! remove a key from every retained backup (crypto-shredding).

use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;
use gdpr_pii::{SubjectId, TenantId};
use gdpr_rights::Tombstone;
use serde::Serialize;

use crate::StoreError;

/// One row of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRow {
    /// Its table (or kind of row).
    pub table: String,
    /// The subject whose personal data the row holds, if any.
    pub subject: Option<SubjectId>,
    /// The row, as one line of JSON (no newline).
    pub json: String,
}

/// A subject's data key as stored: wrapped (encrypted) under the tenant's key, useless
/// without the deployment's master secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The subject.
    pub subject: SubjectId,
    /// The wrapped key.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a dump yields: every data key first, ordered by subject id, then every row, parents
/// before children (the order a restore inserts them in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpItem {
    /// A subject's data key.
    Key(WrappedKey),
    /// A row.
    Row(DumpRow),
}

/// A dump, streamed: it never has to fit in memory.
pub type DumpStream = Pin<Box<dyn Stream<Item = Result<DumpItem, StoreError>> + Send>>;

/// Rows to restore, streamed.
pub type RowStream = Pin<Box<dyn Stream<Item = Result<DumpRow, StoreError>> + Send>>;

/// What a restore wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoredCounts {
    /// Rows inserted, by table.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// Data keys inserted.
    pub keys: u64,
    /// Rows of the tenant deleted first (what the database held before).
    pub replaced: u64,
}

/// Taking a tenant out of storage and putting it back.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TenantDumps: Send + Sync {
    /// The version of the schema rows are dumped in (the latest migration applied); a restore
    /// accepts only dumps of the same version.
    fn schema_version(&self) -> String;

    /// Whether rows dumped at schema `version` can be restored here (an older schema whose
    /// rows still fit, or this one).
    fn reads_schema(&self, version: &str) -> bool;

    /// A consistent snapshot of the tenant (one read transaction), streamed: keys, then rows.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown tenant; [`StoreError::Unavailable`], also as
    /// an item of the stream when the database fails mid-way.
    async fn dump_tenant(&self, tenant: TenantId) -> Result<DumpStream, StoreError>;

    /// In one transaction: replaces the tenant's rows by `rows` (as a dump yielded them) and
    /// `keys`, and records `tombstones`. If `rows` fails or ends in an error, nothing is
    /// changed. Keys of subjects absent from `rows` are not inserted.
    ///
    /// The accountability records are never deleted: the tenant's audit chain is kept when
    /// the database holds one (the dump's audit rows are inserted only into an empty chain),
    /// and tombstones, erasure receipts and the documents of kinds
    /// [`kept_through_restore`](crate::DocumentKind::kept_through_restore) (recipients'
    /// erasure confirmations) are added where missing.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a row that does not parse or belongs elsewhere (another
    /// tenant, an unknown table); [`StoreError::Unavailable`]; the stream's own error.
    async fn restore_tenant(
        &self,
        tenant: TenantId,
        keys: Vec<WrappedKey>,
        tombstones: Vec<Tombstone>,
        rows: RowStream,
    ) -> Result<RestoredCounts, StoreError>;
}
