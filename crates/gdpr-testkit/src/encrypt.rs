//! A stand-in for OpenPGP that fails closed like the real adapter and can be opened by tests.
//!
//! Its output is an envelope, not ciphertext: it exists to test the rules around encryption
//! (nothing leaves without a recipient, the right recipients are used), never secrecy.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use gdpr_ports::{ByteStream, DecryptError, Decryptor, EncryptError, Encryptor, Recipients};

const HEADER: &str = "-----BEGIN TESTKIT ENVELOPE-----\n";
const ARMOR: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// Wraps plaintext in a marked envelope naming its recipients. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct RecordingEncryptor {
    configured: Vec<String>,
    used: Arc<Mutex<Vec<Vec<String>>>>,
}

impl RecordingEncryptor {
    /// An encryptor with these configured recipients (none: everything is refused).
    #[must_use]
    pub fn with_recipients(recipients: &[&str]) -> Self {
        Self {
            configured: recipients.iter().map(|r| (*r).to_owned()).collect(),
            used: Arc::default(),
        }
    }

    /// The recipient lists used, call by call.
    #[must_use]
    pub fn recipients_used(&self) -> Vec<Vec<String>> {
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The plaintext inside an envelope this fake made, or `None` for anything else.
    #[must_use]
    pub fn open(envelope: &[u8]) -> Option<Vec<u8>> {
        let rest = envelope.strip_prefix(HEADER.as_bytes())?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        Some(rest[end + 1..].to_vec())
    }
}

#[async_trait]
impl Encryptor for RecordingEncryptor {
    async fn encrypt(
        &self,
        recipients: Recipients,
        mut plaintext: ByteStream,
    ) -> Result<ByteStream, EncryptError> {
        let keys = match recipients {
            Recipients::Configured => self.configured.clone(),
            Recipients::Armored(keys) => {
                if let Some(index) = keys.iter().position(|k| !k.trim_start().starts_with(ARMOR)) {
                    return Err(EncryptError::BadRecipient {
                        index,
                        reason: "not an ASCII-armored OpenPGP public key".into(),
                    });
                }
                keys
            }
        };
        if keys.is_empty() {
            return Err(EncryptError::NoRecipient);
        }
        let mut out = BytesMut::from(HEADER);
        out.extend_from_slice(format!("recipients: {}\n", keys.len()).as_bytes());
        while let Some(chunk) = plaintext.next().await {
            out.extend_from_slice(&chunk.map_err(EncryptError::Source)?);
        }
        self.used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(keys);
        let out: Bytes = out.freeze();
        Ok(Box::pin(stream::iter([Ok(out)])))
    }
}

/// Opens what [`RecordingEncryptor`] sealed, as an operator's secret key would; anything else
/// ends the stream in an error, like a real decryptor given a damaged file.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvelopeDecryptor;

#[async_trait]
impl Decryptor for EnvelopeDecryptor {
    async fn decrypt(&self, mut ciphertext: ByteStream) -> Result<ByteStream, DecryptError> {
        let mut sealed = BytesMut::new();
        while let Some(chunk) = ciphertext.next().await {
            match chunk {
                Ok(chunk) => sealed.extend_from_slice(&chunk),
                Err(e) => return Ok(Box::pin(stream::iter([Err(e)]))),
            }
        }
        let item = RecordingEncryptor::open(&sealed)
            .map(Bytes::from)
            .ok_or_else(|| std::io::Error::other("OpenPGP decryption failed: not an envelope"));
        Ok(Box::pin(stream::iter([item])))
    }
}
