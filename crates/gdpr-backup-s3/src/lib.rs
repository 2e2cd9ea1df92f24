//! The backup object-storage port ([`gdpr_ports::BackupStore`]) on `object_store`: S3 or any
//! S3-protocol server, and the local disk (the embedded default, `./data/backups`).
//!
//! Owns: addressing, credentials and streaming. Bodies are streamed both ways: a `put` is a
//! multipart upload fed chunk by chunk (at most a few parts in memory), a `get` streams the
//! response. An object becomes visible only when complete: S3 publishes a multipart upload on
//! completion, the local store writes a staging file and renames it; a failed body aborts the
//! upload, so nothing half-written is ever listed.
//!
//! An upload cut short by a crash or a dropped future is never listed, but can leave parts
//! behind: on S3, set the bucket's `AbortIncompleteMultipartUpload` lifecycle rule (see
//! `docs/operations.md`); on disk, a `key#N` staging file. One object holds at most 10,000 parts
//! of 5 MiB, about 48 GiB.
//!
//! Must not touch: what a backup contains, its format, encryption or retention (the app's
//! business); this crate stores bytes it never reads.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use gdpr_ports::{BackupError, BackupStore, ByteStream, ObjectMeta, check_object_key};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetResultPayload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

/// How many parts of one upload may be in flight (each up to 5 MiB in memory).
const PARTS_IN_FLIGHT: usize = 2;

/// Where S3 backups go and with which credentials; also the `[backups.s3]` section of the
/// server's configuration, read as it is.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket (required with `storage = "s3"`).
    pub bucket: String,
    /// The region (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// A custom endpoint (`http://127.0.0.1:9000`, an S3-compatible provider); `None` for AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub path_style: bool,
    /// Allow plain HTTP to the endpoint (a local test server only).
    pub allow_http: bool,
    /// The access key id (env `GDPR_BACKUPS__S3__ACCESS_KEY_ID`); `None` takes the usual AWS
    /// environment and instance credentials.
    pub access_key_id: Option<SecretString>,
    /// The secret access key (env `GDPR_BACKUPS__S3__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<SecretString>,
}

/// Object storage for backups.
#[derive(Clone)]
pub struct ObjectBackupStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

impl std::fmt::Debug for ObjectBackupStore {
    // The inner store's Debug may show endpoint details; the kind is enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackupStore")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ObjectBackupStore {
    /// Backups in a folder of the local disk, created if missing.
    ///
    /// # Errors
    /// [`BackupError::Unavailable`] when the folder cannot be created or opened.
    pub fn local(dir: &std::path::Path) -> Result<Self, BackupError> {
        // Readable by the service's user alone (new folders; an existing one keeps its mode).
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder
            .create(dir)
            .map_err(|e| BackupError::Unavailable(Box::new(e)))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(unavailable)?
            // Deleting a tenant's last backup leaves no empty folders behind.
            .with_automatic_cleanup(true)
            // A backup reported stored must survive a power cut.
            .with_fsync(true);
        Ok(Self {
            inner: Arc::new(store),
            kind: "local",
        })
    }

    /// Backups in an S3 bucket. Nothing is contacted until the first call.
    ///
    /// # Errors
    /// [`BackupError::Unavailable`] when the settings are incomplete or invalid.
    pub fn s3(settings: &S3Settings) -> Result<Self, BackupError> {
        // The ambient AWS_* environment (session tokens, endpoint overrides, unsigned
        // requests) is read only when no credentials are configured, so it cannot silently
        // redirect or weaken a configured deployment.
        let explicit = settings.access_key_id.is_some() || settings.secret_access_key.is_some();
        let builder = if explicit {
            AmazonS3Builder::new()
        } else {
            AmazonS3Builder::from_env()
        };
        let mut builder = builder
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http)
            .with_virtual_hosted_style_request(!settings.path_style)
            // A few quick retries ride out a blip; a longer outage fails the backup job, which
            // the scheduler runs again, rather than holding it for minutes.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id.expose_secret());
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        Ok(Self {
            inner: Arc::new(builder.build().map_err(unavailable)?),
            kind: "s3",
        })
    }

    /// `"local"` or `"s3"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the store keeps old versions of what is overwritten or deleted (an S3 bucket
    /// with versioning or object lock): then crypto-shredding, which overwrites keyring shards,
    /// would leave an erased subject's wrapped key in an old version. Found out by writing a
    /// probe object: S3 answers with a version id only when the bucket keeps versions (or did:
    /// a suspended bucket still holds the versions written before). A local folder never does.
    ///
    /// # Errors
    /// [`BackupError::Unavailable`] when the probe cannot be written.
    pub async fn keeps_old_versions(&self) -> Result<bool, BackupError> {
        if self.kind == "local" {
            return Ok(false);
        }
        let probe = Path::from(".gdpr/versioning-probe");
        let written = self
            .inner
            .put(&probe, PutPayload::from_static(b"probe"))
            .await
            .map_err(|e| map_error(probe.as_ref(), e))?;
        let _ = self.inner.delete(&probe).await;
        Ok(written.version.is_some())
    }
}

fn unavailable(e: object_store::Error) -> BackupError {
    BackupError::Unavailable(Box::new(e))
}

/// Errors of writes and listings: a missing bucket or folder is the store being unavailable,
/// never an object that is "not found"; a full disk says so.
fn map_error(key: &str, e: object_store::Error) -> BackupError {
    match e {
        object_store::Error::InvalidPath { .. } => BackupError::InvalidKey(key.to_owned()),
        other if out_of_space(&other) => BackupError::Full(Box::new(other)),
        other => unavailable(other),
    }
}

/// Whether an I/O error somewhere in the chain says the disk or quota is full.
fn out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}

fn path(key: &str) -> Result<Path, BackupError> {
    check_object_key(key)?;
    Path::parse(key).map_err(|_| BackupError::InvalidKey(key.to_owned()))
}

fn meta(m: object_store::ObjectMeta) -> ObjectMeta {
    // Whole seconds always fit; sub-second precision is added when representable.
    let seconds = OffsetDateTime::from_unix_timestamp(m.last_modified.timestamp())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let last_modified = seconds
        .replace_nanosecond(m.last_modified.timestamp_subsec_nanos())
        .unwrap_or(seconds);
    ObjectMeta {
        key: m.location.to_string(),
        size: m.size,
        last_modified,
    }
}

#[async_trait]
impl BackupStore for ObjectBackupStore {
    async fn put(&self, key: &str, mut body: ByteStream) -> Result<ObjectMeta, BackupError> {
        let location = path(key)?;
        let upload = self
            .inner
            .put_multipart(&location)
            .await
            .map_err(|e| map_error(key, e))?;
        let mut writer = WriteMultipart::new(upload);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    // Nothing half-written may become visible: abort the upload. If the abort
                    // fails too, the parts stay invisible and the lifecycle rule removes them.
                    let _ = writer.abort().await;
                    return Err(BackupError::Source(e));
                }
            };
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(map_error(key, e));
            }
            writer.put(chunk);
        }
        writer.finish().await.map_err(|e| map_error(key, e))?;
        let stored = self
            .inner
            .head(&location)
            .await
            .map_err(|e| map_error(key, e))?;
        Ok(meta(stored))
    }

    async fn put_new(&self, key: &str, body: Bytes) -> Result<ObjectMeta, BackupError> {
        let location = path(key)?;
        // S3: `If-None-Match: *`; the local disk: a hard link that fails on an existing file.
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let put = self
            .inner
            .put_opts(&location, PutPayload::from_bytes(body), options)
            .await;
        match put {
            Ok(_) => {}
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {
                return Err(BackupError::AlreadyExists(key.to_owned()));
            }
            Err(e) => return Err(map_error(key, e)),
        }
        let stored = self
            .inner
            .head(&location)
            .await
            .map_err(|e| map_error(key, e))?;
        Ok(meta(stored))
    }

    async fn get(&self, key: &str) -> Result<ByteStream, BackupError> {
        let location = path(key)?;
        let got = self.inner.get(&location).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => BackupError::NotFound(key.to_owned()),
            other => map_error(key, other),
        })?;
        Ok(match got.payload {
            GetResultPayload::File(file, _) => file_stream(file, got.range),
            GetResultPayload::Stream(stream) => Box::pin(stream.map_err(std::io::Error::other)),
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, BackupError> {
        // object_store lists by whole path segments; the port lists by string prefix, so list
        // the folder the prefix is in and filter.
        let folder = prefix.rsplit_once('/').map(|(dir, _)| dir);
        let folder = match folder {
            Some(dir) if !dir.is_empty() => match path(dir) {
                Ok(dir) => Some(dir),
                // No valid key can start with an invalid folder.
                Err(_) => return Ok(Vec::new()),
            },
            _ => None,
        };
        let mut found: Vec<ObjectMeta> = self
            .inner
            .list(folder.as_ref())
            .map_ok(meta)
            .try_filter(|m| std::future::ready(m.key.starts_with(prefix)))
            .try_collect()
            .await
            .map_err(unavailable)?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn delete(&self, key: &str) -> Result<(), BackupError> {
        let location = path(key)?;
        match self.inner.delete(&location).await {
            Ok(()) => Ok(()),
            // S3 answers a missing key with success already; the local disk needs this (a
            // missing bucket on S3 is not "not found": it stays an error).
            Err(object_store::Error::NotFound { .. }) if self.kind == "local" => Ok(()),
            Err(e) => Err(map_error(key, e)),
        }
    }
}

/// Bytes read from a local file per trip to the blocking pool. `object_store`'s own file
/// stream reads 8 KiB per trip: a 200 MB restore paid for 25,000 thread hand-offs.
const FILE_CHUNK: usize = 1024 * 1024;

/// The `range` of a local file, streamed in [`FILE_CHUNK`]s read on the blocking pool.
fn file_stream(file: std::fs::File, range: std::ops::Range<u64>) -> ByteStream {
    let file = Arc::new(file);
    Box::pin(futures_util::stream::try_unfold(range, move |range| {
        let file = Arc::clone(&file);
        async move {
            if range.start >= range.end {
                return Ok(None);
            }
            let want = usize::try_from(range.end - range.start)
                .unwrap_or(FILE_CHUNK)
                .min(FILE_CHUNK);
            let at = range.start;
            let chunk = tokio::task::spawn_blocking(move || {
                use std::io::{Read as _, Seek as _};
                let mut buf = vec![0; want];
                let mut file = &*file;
                file.seek(std::io::SeekFrom::Start(at))?;
                file.read_exact(&mut buf).map(|()| buf)
            })
            .await
            .map_err(std::io::Error::other)??;
            Ok(Some((Bytes::from(chunk), at + want as u64..range.end)))
        }
    }))
}
