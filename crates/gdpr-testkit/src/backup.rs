//! Object storage in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use gdpr_ports::{BackupError, BackupStore, ByteStream, ObjectMeta, check_object_key};
use time::OffsetDateTime;

type Objects = BTreeMap<String, (Bytes, OffsetDateTime)>;

/// Objects in a map; an object appears only once its whole stream was read. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjectStore {
    objects: Arc<Mutex<Objects>>,
    unavailable: Arc<AtomicBool>,
    full_under: Arc<Mutex<Option<String>>>,
}

impl MemoryObjectStore {
    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn available(&self) -> Result<(), BackupError> {
        if self.unavailable.load(Ordering::Relaxed) {
            return Err(BackupError::Unavailable(
                "memory object store switched off".into(),
            ));
        }
        Ok(())
    }

    /// Makes every call fail with [`BackupError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }

    /// Makes writes of keys under `prefix` fail with [`BackupError::Full`] (one tenant's
    /// backups failing while others succeed), or no longer with `None`.
    pub fn set_full_under(&self, prefix: Option<&str>) {
        *self
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = prefix.map(str::to_owned);
    }

    fn room_for(&self, key: &str) -> Result<(), BackupError> {
        let full = self
            .full_under
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match full.as_deref() {
            Some(prefix) if key.starts_with(prefix) => Err(BackupError::Full(
                "memory object store full under this prefix".into(),
            )),
            _ => Ok(()),
        }
    }

    /// An object's bytes, if it exists.
    #[must_use]
    pub fn bytes(&self, key: &str) -> Option<Bytes> {
        self.objects().get(key).map(|(b, _)| b.clone())
    }

    /// Stores an object directly with a chosen modification time (to stage old backups).
    pub fn insert(&self, key: &str, body: &[u8], last_modified: OffsetDateTime) {
        self.objects().insert(
            key.to_owned(),
            (Bytes::copy_from_slice(body), last_modified),
        );
    }

    /// Removes an object behind the application's back (as someone with write access to the
    /// bucket could).
    pub fn remove(&self, key: &str) {
        self.objects().remove(key);
    }

    /// Every key, sorted.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }
}

#[async_trait]
impl BackupStore for MemoryObjectStore {
    async fn put(&self, key: &str, mut body: ByteStream) -> Result<ObjectMeta, BackupError> {
        check_object_key(key)?;
        self.available()?;
        self.room_for(key)?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk.map_err(BackupError::Source)?);
        }
        let now = OffsetDateTime::now_utc();
        let size = buf.len() as u64;
        self.objects().insert(key.to_owned(), (buf.freeze(), now));
        Ok(ObjectMeta {
            key: key.to_owned(),
            size,
            last_modified: now,
        })
    }

    async fn put_new(&self, key: &str, body: Bytes) -> Result<ObjectMeta, BackupError> {
        check_object_key(key)?;
        self.available()?;
        self.room_for(key)?;
        let now = OffsetDateTime::now_utc();
        let size = body.len() as u64;
        match self.objects().entry(key.to_owned()) {
            std::collections::btree_map::Entry::Occupied(_) => {
                return Err(BackupError::AlreadyExists(key.to_owned()));
            }
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert((body, now));
            }
        }
        Ok(ObjectMeta {
            key: key.to_owned(),
            size,
            last_modified: now,
        })
    }

    async fn get(&self, key: &str) -> Result<ByteStream, BackupError> {
        check_object_key(key)?;
        self.available()?;
        let body = self
            .objects()
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| BackupError::NotFound(key.to_owned()))?;
        Ok(Box::pin(stream::iter([Ok(body)])))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BackupError> {
        self.available()?;
        Ok(self
            .objects()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (b, at))| ObjectMeta {
                key: k.clone(),
                size: b.len() as u64,
                last_modified: *at,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), BackupError> {
        check_object_key(key)?;
        self.available()?;
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_stream_leaves_no_object_and_bad_keys_are_refused() {
        let store = MemoryObjectStore::default();
        let body: ByteStream = Box::pin(stream::iter([
            Ok(Bytes::from_static(b"part")),
            Err(std::io::Error::other("disk gone")),
        ]));
        assert!(matches!(
            store.put("a/b", body).await,
            Err(BackupError::Source(_))
        ));
        assert!(store.keys().is_empty());
        for key in ["", "/abs", "a/../b", "a//b"] {
            let body: ByteStream = Box::pin(stream::empty());
            assert!(
                matches!(store.put(key, body).await, Err(BackupError::InvalidKey(_))),
                "{key}"
            );
        }
        store.insert("t/1/x", b"1", OffsetDateTime::UNIX_EPOCH);
        store.insert("t/2/x", b"2", OffsetDateTime::UNIX_EPOCH);
        store.insert("u/1/x", b"3", OffsetDateTime::UNIX_EPOCH);
        let listed: Vec<_> = store
            .list("t/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(listed, ["t/1/x", "t/2/x"]);
    }
}
