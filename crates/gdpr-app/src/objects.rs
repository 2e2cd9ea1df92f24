//! Small objects in object storage (backup manifests and keyrings, journal entries, export
//! tickets), written and read whole.

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_ports::{BackupError, BackupStore, ByteStream, Ports};

use crate::{App, AppError};

/// A body of one chunk, for [`BackupStore::put`].
pub(crate) fn once(bytes: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(bytes)]))
}

impl<P: Ports> App<P> {
    /// A small object, whole.
    pub(crate) async fn read_object(&self, key: &str) -> Result<Vec<u8>, AppError> {
        let mut stream = self.backups.get(key).await.map_err(AppError::Backup)?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| AppError::Backup(BackupError::Source(e)))?);
        }
        Ok(out)
    }

    /// A small JSON object, parsed.
    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<T, AppError> {
        let bytes = self.read_object(key).await?;
        serde_json::from_slice(&bytes).map_err(|_| AppError::BackupUnusable {
            backup: key.to_owned(),
            reason: "an object of the backup does not parse".into(),
        })
    }
}
