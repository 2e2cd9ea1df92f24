//! Signatures on what the service writes outside its database (backup manifests, keyring
//! shards, journal entries) and checks when it reads them back: object storage is not trusted,
//! so nothing read from it is believed without a signature from a pinned key.

use async_trait::async_trait;
use bytes::Bytes;

/// What signing or checking a signature can fail with. Messages never hold the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// No signing key is configured here: this deployment (or this operator's machine) can
    /// check signatures but not make them.
    #[error("no signing key is configured")]
    NoKey,
    /// No key is pinned to check signatures with: nothing can be trusted.
    #[error("no trusted signing key is configured to check signatures with")]
    NoTrustedKey,
    /// The signature does not parse.
    #[error("the signature is malformed")]
    Malformed,
    /// The signature is well formed but not by a pinned key, or not over this content.
    #[error("the signature is not a valid signature of a trusted key over this content")]
    Invalid,
    /// Signing failed (the key could not be used).
    #[error("signing failed: {0}")]
    Failed(String),
}

/// Makes and checks detached signatures: made with the deployment's key, checked against the
/// keys pinned in configuration.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Signer: Send + Sync {
    /// A detached signature over `content`, as text (ASCII, no personal data).
    ///
    /// # Errors
    /// [`SignError::NoKey`]; [`SignError::Failed`].
    async fn sign(&self, content: Bytes) -> Result<String, SignError>;

    /// Whether `signature` is a valid signature over `content` by a pinned key.
    ///
    /// # Errors
    /// [`SignError::NoTrustedKey`]; [`SignError::Malformed`]; [`SignError::Invalid`].
    async fn verify(&self, content: Bytes, signature: &str) -> Result<(), SignError>;
}
