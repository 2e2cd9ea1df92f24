//! Object storage for backups: put, get, list and delete objects, streamed both ways.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use time::OffsetDateTime;

/// A stream of bytes, so that no object ever has to fit in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its key (`/`-separated path).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: OffsetDateTime,
}

/// What object storage can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No object has this key.
    #[error("no object at key {0}")]
    NotFound(String),
    /// An object is already at this key (a create-only write lost to another writer).
    #[error("an object already exists at key {0}")]
    AlreadyExists(String),
    /// A key that is empty, absolute, or contains `..`.
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    /// The store cannot be reached or refused the operation; retrying may succeed.
    #[error("object storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store has no space left (a full disk or quota); what was being written is not
    /// stored, and retrying succeeds only once space is freed.
    #[error("object storage full: no space left on the backup target")]
    Full(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading the stream given to `put` failed; nothing was stored.
    #[error("reading the data to store failed")]
    Source(#[source] std::io::Error),
}

/// Checks an object key the way every adapter must: not empty, not absolute, no empty, `.` or
/// `..` segment (a key must never reach outside the backup area), and no `#` (the local-disk
/// store names its staging files `key#N`, so every store refuses it alike).
///
/// # Errors
/// [`BackupError::InvalidKey`].
pub fn check_object_key(key: &str) -> Result<(), BackupError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('#')
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(BackupError::InvalidKey(key.to_owned()))
    } else {
        Ok(())
    }
}

/// Object storage (S3, local disk, memory).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Stores `body` at `key`, replacing any object there. The object becomes visible only
    /// once the whole stream is stored: a failure mid-way leaves no object (or the old one).
    ///
    /// # Errors
    /// [`BackupError::InvalidKey`], [`BackupError::Source`] when `body` fails,
    /// [`BackupError::Full`] when the store has no space left, [`BackupError::Unavailable`].
    async fn put(&self, key: &str, body: ByteStream) -> Result<ObjectMeta, BackupError>;

    /// Stores a small object at `key` only if none is there, atomically: of two writers of the
    /// same new key, one succeeds and the other gets [`BackupError::AlreadyExists`] (sequenced
    /// journal entries, once-only claims).
    ///
    /// # Errors
    /// [`BackupError::AlreadyExists`], [`BackupError::InvalidKey`], [`BackupError::Full`],
    /// [`BackupError::Unavailable`].
    async fn put_new(&self, key: &str, body: Bytes) -> Result<ObjectMeta, BackupError>;

    /// Streams the object at `key`.
    ///
    /// # Errors
    /// [`BackupError::NotFound`], [`BackupError::InvalidKey`], [`BackupError::Unavailable`].
    async fn get(&self, key: &str) -> Result<ByteStream, BackupError>;

    /// Every object whose key starts with `prefix`, sorted by key.
    ///
    /// # Errors
    /// [`BackupError::Unavailable`].
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BackupError>;

    /// Deletes the object at `key`; deleting a missing object succeeds (idempotent).
    ///
    /// # Errors
    /// [`BackupError::InvalidKey`], [`BackupError::Unavailable`].
    async fn delete(&self, key: &str) -> Result<(), BackupError>;
}
