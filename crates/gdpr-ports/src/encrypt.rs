//! Encryption of anything that leaves: exports and off-site backups, to OpenPGP recipients.

use async_trait::async_trait;

use crate::ByteStream;

/// Who can decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// The recipients configured for the deployment (or the tenant).
    Configured,
    /// These ASCII-armored OpenPGP public keys (a requester's own key, say).
    Armored(Vec<String>),
}

/// What encryption can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// No recipient is configured or given: nothing may leave in clear, so nothing leaves.
    #[error("no encryption recipient is configured: refusing to write data in clear")]
    NoRecipient,
    /// A recipient key that cannot be used (unparsable, expired, no encryption subkey).
    #[error("recipient key #{index} is unusable: {reason}")]
    BadRecipient {
        /// Its position in the list.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The configured signing key cannot be used (unparsable, not a secret key).
    #[error("the signing key is unusable: {0}")]
    BadSigningKey(String),
    /// Reading the plaintext stream failed.
    #[error("reading the data to encrypt failed")]
    Source(#[source] std::io::Error),
}

/// Encrypts streams to recipients.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Encryptor: Send + Sync {
    /// The ciphertext of `plaintext` for `recipients`, as a stream.
    ///
    /// # Errors
    /// [`EncryptError::NoRecipient`] when there is nobody to encrypt to (fail closed);
    /// [`EncryptError::BadRecipient`]; [`EncryptError::Source`].
    async fn encrypt(
        &self,
        recipients: Recipients,
        plaintext: ByteStream,
    ) -> Result<ByteStream, EncryptError>;
}

/// What decryption can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// No secret key is configured to decrypt with.
    #[error("no decryption key is configured")]
    NoKey,
    /// The configured secret key cannot be used (unparsable, wrong passphrase).
    #[error("the decryption key is unusable: {0}")]
    BadKey(String),
    /// The data is not a message this key can decrypt, or it was tampered with.
    #[error("decryption failed: {0}")]
    Failed(String),
}

/// Decrypts what [`Encryptor`] produced, with a secret key held by the operator (restore and
/// verification of backups). Failures after the first byte arrive as the stream's last item.
///
/// The plaintext streams: its integrity is known only when the stream has ended without an
/// error (a tampered message ends in [`DecryptError::Failed`]). Callers act on what they
/// read only then, the way a restore commits its transaction only after the last byte.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Decryptor: Send + Sync {
    /// The plaintext of `ciphertext`, as a stream.
    ///
    /// # Errors
    /// [`DecryptError::NoKey`], [`DecryptError::BadKey`], [`DecryptError::Failed`].
    async fn decrypt(&self, ciphertext: ByteStream) -> Result<ByteStream, DecryptError>;
}
