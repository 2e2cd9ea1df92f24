//! Small objects in object storage (backup manifests and keyrings, journal entries, export
//! tickets), written and read whole; signed ones are written in an envelope with the
//! deployment's signature and believed only when a pinned key signed them.

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_ports::{BackupError, BackupStore, ByteStream, Ports, Signer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backup::format::{Envelope, content_sha256, envelope};

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

    /// `value` as JSON, signed, in its envelope; and the SHA-256 of the signed content.
    async fn signed_bytes<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(Bytes, String), AppError> {
        let content =
            serde_json::to_vec(value).unwrap_or_else(|_| unreachable!("plain data serialises"));
        let signature = self.signer.sign(Bytes::copy_from_slice(&content)).await?;
        Ok((envelope(&content, &signature), content_sha256(&content)))
    }

    /// Writes `value` signed at `key` (replacing what is there); the SHA-256 of its signed
    /// content.
    pub(crate) async fn put_signed<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<String, AppError> {
        let (bytes, sha256) = self.signed_bytes(value).await?;
        self.backups
            .put(key, once(bytes))
            .await
            .map_err(AppError::Backup)?;
        Ok(sha256)
    }

    /// Writes `value` signed at `key` only if nothing is there
    /// ([`BackupError::AlreadyExists`] otherwise); the SHA-256 of its signed content.
    pub(crate) async fn put_new_signed<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<String, AppError> {
        let (bytes, sha256) = self.signed_bytes(value).await?;
        self.backups
            .put_new(key, bytes)
            .await
            .map_err(AppError::Backup)?;
        Ok(sha256)
    }

    /// A signed object, believed only if a pinned key signed it: its content and the SHA-256
    /// of its signed content.
    ///
    /// # Errors
    /// [`AppError::Untrusted`] naming the object when it is no envelope, its signature fails
    /// or its content does not parse as `T`; object storage errors.
    pub(crate) async fn read_signed<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<(T, String), AppError> {
        let read = self.read_enveloped::<T>(key).await?;
        self.check_signature(key, &read).await?;
        Ok((read.value, read.sha256))
    }

    /// A signed object as stored, its signature not checked yet: for a hash chain, where one
    /// signature checked (the newest link's) vouches for every link before it.
    ///
    /// # Errors
    /// [`AppError::Untrusted`] naming the object when it is no envelope or its content does
    /// not parse as `T`; object storage errors.
    pub(crate) async fn read_enveloped<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Enveloped<T>, AppError> {
        let bytes = self.read_object(key).await?;
        let untrusted = |reason: String| AppError::Untrusted {
            object: key.to_owned(),
            reason,
        };
        let stored: Envelope<'_> =
            serde_json::from_slice(&bytes).map_err(|_| untrusted("not a signed object".into()))?;
        let content = stored.signed.get().as_bytes();
        let value = serde_json::from_slice(content)
            .map_err(|_| untrusted("its signed content is not what was expected there".into()))?;
        Ok(Enveloped {
            value,
            sha256: content_sha256(content),
            content: Bytes::copy_from_slice(content),
            signature: stored.signature,
        })
    }

    /// Checks the signature of an object [`App::read_enveloped`] read.
    ///
    /// # Errors
    /// [`AppError::Untrusted`] naming the object; [`AppError::Signing`] without a pinned key.
    pub(crate) async fn check_signature<T>(
        &self,
        key: &str,
        read: &Enveloped<T>,
    ) -> Result<(), AppError> {
        match self
            .signer
            .verify(read.content.clone(), &read.signature)
            .await
        {
            Ok(()) => Ok(()),
            // Nothing to check against: the deployment's configuration, not this object.
            Err(e @ gdpr_ports::SignError::NoTrustedKey) => Err(AppError::Signing(e)),
            Err(e) => Err(AppError::Untrusted {
                object: key.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

/// A signed object as read, before its signature is checked.
pub(crate) struct Enveloped<T> {
    /// Its content, parsed.
    pub(crate) value: T,
    /// SHA-256 of its signed content.
    pub(crate) sha256: String,
    /// The signed content, byte for byte.
    content: Bytes,
    /// The detached signature.
    signature: String,
}
