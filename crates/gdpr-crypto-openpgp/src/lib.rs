//! The encryption port on rPGP (the `pgp` crate): a stream is encrypted to one or more
//! recipients' OpenPGP public keys (SEIPD v1 with AES-256, the format `gpg` 2.2 reads), and
//! signed with the deployment's key when one is configured, without ever holding the whole
//! plaintext or ciphertext in memory. With no recipient, nothing is produced: anything meant to
//! leave is refused rather than written in clear.
//!
//! [`OpenPgpDecryptor`] does the reverse with a secret key the operator holds (to verify and
//! restore backups), streamed the same way: plaintext comes out before the integrity tag
//! (MDC) at the end has been read, and a tampered message ends in an error (see
//! [`OpenPgpDecryptor`] for why this is safe for its callers).
//!
//! [`OpenPgpSigner`] makes detached signatures with the deployment's key and checks them
//! against pinned public keys: what the service writes outside its database (backup
//! manifests, keyring shards, journal entries) is believed only when a pinned key signed it.
//!
//! This crate knows the OpenPGP format through rPGP and nothing of what it encrypts.

use std::io::{self, Read, Write};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use gdpr_ports::{ByteStream, DecryptError, Decryptor, EncryptError, Encryptor, Recipients};
use pgp::composed::{
    DecryptionOptions, Deserializable, Message, MessageBuilder, SignedPublicKey, SignedSecretKey,
    TheRing,
};
use pgp::crypto::aead::{AeadAlgorithm, ChunkSize};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::{KeyDetails as _, Password, Seipdv1ReadMode, Tag, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

/// Chunks in flight between the async side and the encrypting thread, each way.
const CHANNEL: usize = 16;

/// A signing key and its passphrase.
struct DeploymentKey {
    key: SignedSecretKey,
    passphrase: SecretString,
}

/// An OpenPGP encryptor with the deployment's (or tenant's) configured recipients, and
/// optionally the deployment's signing key.
#[derive(Clone)]
pub struct OpenPgpEncryptor {
    configured: Vec<SignedPublicKey>,
    signer: Option<std::sync::Arc<DeploymentKey>>,
}

impl std::fmt::Debug for OpenPgpEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPgpEncryptor")
            .field("recipients", &self.configured.len())
            .field("signs", &self.signer.is_some())
            .finish()
    }
}

fn bad(index: usize, reason: impl Into<String>) -> EncryptError {
    EncryptError::BadRecipient {
        index,
        reason: reason.into(),
    }
}

/// Parses armored public keys, each of which must have a key valid for encryption now.
fn parse_keys(armored: &[String]) -> Result<Vec<SignedPublicKey>, EncryptError> {
    armored
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let (key, _) = SignedPublicKey::from_string(text)
                .map_err(|_| bad(index, "not an ASCII-armored OpenPGP public key"))?;
            encryption_key(&key, Timestamp::now()).map_err(|reason| bad(index, reason))?;
            Ok(key)
        })
        .collect()
}

/// The key a message to `key` is encrypted to.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// The primary key itself carries the encryption flag (`gpg --quick-gen-key ... rsa3072
    /// encrypt,sign`: no subkey at all).
    Primary(&'a pgp::packet::PublicKey),
    /// An encryption subkey (gpg's default shape).
    Subkey(&'a pgp::packet::PublicSubkey),
}

/// What a component's newest valid self-signature says about it.
struct Binding {
    created: u32,
    encrypts: bool,
    /// When the component expires (seconds since the epoch), if ever.
    expires: Option<u32>,
}

impl Binding {
    /// The newest of `signatures` that `valid` accepts, read for a component made at `born`.
    fn newest<'s>(
        signatures: impl Iterator<Item = &'s pgp::packet::Signature>,
        born: Timestamp,
        valid: impl Fn(&pgp::packet::Signature) -> bool,
    ) -> Option<Self> {
        signatures
            .filter(|sig| valid(sig))
            .max_by_key(|sig| sig.created().map_or(0, Timestamp::as_secs))
            .map(|sig| {
                let flags = sig.key_flags();
                Self {
                    created: born.as_secs(),
                    encrypts: flags.encrypt_comms() || flags.encrypt_storage(),
                    // Zero, like none, means "never" (RFC 9580, 5.2.3.13).
                    expires: sig
                        .key_expiration_time()
                        .map(|d| d.as_secs())
                        .filter(|d| *d > 0)
                        .map(|d| born.as_secs().saturating_add(d)),
                }
            })
    }

    fn expired(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|at| at <= now.as_secs())
    }
}

/// A date, for an error message.
fn day(secs: u32) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::from(secs))
        .map_or_else(|_| secs.to_string(), |t| t.date().to_string())
}

/// The primary key's self-signatures that verify: its user ids' certifications and its
/// direct-key signatures.
fn self_signatures(key: &SignedPublicKey) -> impl Iterator<Item = &pgp::packet::Signature> {
    let primary = &key.primary_key;
    let certifications = key.details.users.iter().flat_map(move |user| {
        user.signatures.iter().filter(move |sig| {
            sig.verify_certification(primary, Tag::UserId, &user.id)
                .is_ok()
        })
    });
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(move |sig| sig.verify_key(primary).is_ok());
    certifications.chain(direct)
}

/// The key `gpg` would encrypt to at `now`: the newest component (primary or subkey) whose
/// newest valid self-signature allows encryption, neither expired nor revoked. Signatures
/// that do not verify are ignored, as gpg ignores them. The error says why there is none.
fn encryption_key(key: &SignedPublicKey, now: Timestamp) -> Result<Target<'_>, String> {
    use pgp::packet::SignatureType;
    let primary = &key.primary_key;
    let revoked = key
        .details
        .revocation_signatures
        .iter()
        .any(|sig| sig.verify_key(primary).is_ok());
    if revoked {
        return Err("the key is revoked".into());
    }
    let Some(own) = Binding::newest(self_signatures(key), primary.created_at(), |_| true) else {
        return Err("the key has no valid self-signature".into());
    };
    if own.expired(now) {
        return Err(format!(
            "the key expired on {}",
            day(own.expires.unwrap_or(0))
        ));
    }
    let mut best = own
        .encrypts
        .then_some((own.created, Target::Primary(primary)));
    let mut unusable = None;
    for sub in &key.public_subkeys {
        let is = |typ| move |sig: &pgp::packet::Signature| sig.typ() == Some(typ);
        let binds = |sig: &pgp::packet::Signature| {
            is(SignatureType::SubkeyBinding)(sig)
                && sig.verify_subkey_binding(primary, &sub.key).is_ok()
        };
        let Some(binding) = Binding::newest(sub.signatures.iter(), sub.key.created_at(), binds)
        else {
            continue;
        };
        if !binding.encrypts {
            continue;
        }
        let revoked = sub.signatures.iter().any(|sig| {
            is(SignatureType::SubkeyRevocation)(sig)
                && sig.verify_subkey_binding(primary, &sub.key).is_ok()
        });
        if revoked {
            unusable.get_or_insert_with(|| "its encryption subkey is revoked".to_owned());
        } else if binding.expired(now) {
            unusable.get_or_insert_with(|| {
                format!(
                    "its encryption subkey expired on {}",
                    day(binding.expires.unwrap_or(0))
                )
            });
        } else if best.is_none_or(|(created, _)| binding.created >= created) {
            best = Some((binding.created, Target::Subkey(&sub.key)));
        }
    }
    best.map(|(_, target)| target).ok_or_else(|| {
        unusable.unwrap_or_else(|| {
            "the key can only sign: neither it nor a subkey is marked for encryption".into()
        })
    })
}

impl OpenPgpEncryptor {
    /// An encryptor for these armored public keys (none: every `Configured` request is refused).
    ///
    /// # Errors
    /// [`EncryptError::BadRecipient`] naming the first unusable key.
    pub fn new(armored: &[String]) -> Result<Self, EncryptError> {
        Ok(Self {
            configured: parse_keys(armored)?,
            signer: None,
        })
    }

    /// The same encryptor, also signing everything with this armored secret key (so that a
    /// recipient can check where a backup or an export comes from).
    ///
    /// # Errors
    /// [`EncryptError::BadSigningKey`] when the text is not an armored secret key.
    pub fn signing_with(
        mut self,
        armored: &str,
        passphrase: SecretString,
    ) -> Result<Self, EncryptError> {
        let (key, _) = SignedSecretKey::from_string(armored).map_err(|_| {
            EncryptError::BadSigningKey("not an ASCII-armored OpenPGP secret key".into())
        })?;
        // Unlocked once now, so that a wrong passphrase stops the start, not the first export.
        if !unlocks(&key, &passphrase) {
            return Err(EncryptError::BadSigningKey(
                "the passphrase does not unlock the key".into(),
            ));
        }
        self.signer = Some(std::sync::Arc::new(DeploymentKey { key, passphrase }));
        Ok(self)
    }
}

/// Reads what the async side forwards, on the encrypting thread.
#[derive(Debug)]
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Hands output to the async side, from the working thread, in chunks of [`OUT_CHUNK`]:
/// OpenPGP and `io::copy` write a few kilobytes at a time, and a hand-off per write (a copy, a
/// channel send, a thread woken) cost more than the cipher itself. [`Write::flush`] sends
/// what is buffered; the work must call it at the end.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: BytesMut,
}

/// Bytes gathered before a hand-off to the async side.
const OUT_CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: BytesMut::new(),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the output reader went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(OUT_CHUNK);
        }
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= OUT_CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn encrypt_blocking(
    keys: &[SignedPublicKey],
    signer: Option<&DeploymentKey>,
    plaintext: ChannelReader,
    mut out: ChannelWriter,
) -> Result<(), String> {
    let mut rng = rand::thread_rng();
    let builder = MessageBuilder::from_reader("", plaintext);
    // The same steps for either packet version (their builders are different types).
    macro_rules! seal {
        ($message:expr) => {{
            let mut message = $message;
            if let Some(signer) = signer {
                message.sign(
                    &signer.key.primary_key,
                    Password::from(signer.passphrase.expose_secret()),
                    HashAlgorithm::Sha256,
                );
            }
            for key in keys {
                // Chosen again for every message: a key valid at start may have expired since.
                let added = match encryption_key(key, Timestamp::now())? {
                    Target::Primary(k) => message.encrypt_to_key(&mut rng, k),
                    Target::Subkey(k) => message.encrypt_to_key(&mut rng, k),
                };
                added.map_err(|e| e.to_string())?;
            }
            message
                .to_writer(&mut rng, &mut out)
                .map_err(|e| e.to_string())?;
        }};
    }
    if keys.iter().all(reads_seipd_v2) {
        // RFC 9580: SEIPDv2 for recipients that advertise it; OCB is the one AEAD mode every
        // implementation of it must read. 256 KiB chunks: each authenticated before released.
        seal!(builder.seipd_v2(
            &mut rng,
            SymmetricKeyAlgorithm::AES256,
            AeadAlgorithm::Ocb,
            ChunkSize::C256KiB,
        ));
    } else {
        seal!(builder.seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256));
    }
    out.flush().map_err(|e| e.to_string())
}

/// Whether the key says that its holder reads SEIPDv2 (RFC 9580) messages: in the Features
/// subpacket of its newest self-signature that verifies (the one its encryption key is chosen
/// by; an older one, or a third party's certification, does not count). gpg 2.2 and 2.4 keys
/// do not say so: they get SEIPDv1.
fn reads_seipd_v2(key: &SignedPublicKey) -> bool {
    self_signatures(key)
        .max_by_key(|sig| sig.created().map_or(0, Timestamp::as_secs))
        .is_some_and(|sig| sig.features().is_some_and(|f| f.seipd_v2()))
}

#[async_trait]
impl Encryptor for OpenPgpEncryptor {
    async fn encrypt(
        &self,
        recipients: Recipients,
        plaintext: ByteStream,
    ) -> Result<ByteStream, EncryptError> {
        let keys = match recipients {
            Recipients::Configured => self.configured.clone(),
            Recipients::Armored(armored) => parse_keys(&armored)?,
        };
        if keys.is_empty() {
            return Err(EncryptError::NoRecipient);
        }
        let signer = self.signer.clone();
        Ok(on_a_thread(
            plaintext,
            "encryption",
            move |reader, writer| encrypt_blocking(&keys, signer.as_deref(), reader, writer),
        ))
    }
}

/// Runs `work` on a blocking thread, fed from `input` and feeding the returned stream. A
/// failure arrives as the stream's last item, never as a short stream.
fn on_a_thread(
    mut input: ByteStream,
    what: &'static str,
    work: impl FnOnce(ChannelReader, ChannelWriter) -> Result<(), String> + Send + 'static,
) -> ByteStream {
    let (in_tx, in_rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL);
    let (out_tx, out_rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL);
    tokio::spawn(async move {
        while let Some(chunk) = input.next().await {
            if in_tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let errors = out_tx.clone();
    tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx: in_rx,
            current: Bytes::new(),
        };
        if let Err(reason) = work(reader, ChannelWriter::new(out_tx)) {
            let _ = errors.blocking_send(Err(io::Error::other(format!(
                "OpenPGP {what} failed: {reason}"
            ))));
        }
    });
    Box::pin(futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Decrypts with one secret key (the operator's backup key), streaming: memory stays flat
/// whatever the message's size, and plaintext comes out before the integrity tag at the end
/// has been checked (rPGP's `Seipdv1ReadMode::Streaming`). A tampered message ends in an
/// error, the stream's last item. That is safe for the callers this exists for: verification
/// only reports pass or fail, and a restore writes inside one database transaction that it
/// commits only after the stream ended cleanly and the payload's SHA-256 and row counts
/// matched its manifest; a failure anywhere rolls everything back.
pub struct OpenPgpDecryptor {
    key: SignedSecretKey,
    passphrase: SecretString,
}

impl std::fmt::Debug for OpenPgpDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPgpDecryptor")
            .field("key", &self.key.fingerprint().to_string())
            .finish_non_exhaustive()
    }
}

impl OpenPgpDecryptor {
    /// A decryptor for this ASCII-armored secret key, protected by `passphrase` (empty for
    /// an unprotected key).
    ///
    /// # Errors
    /// [`DecryptError::BadKey`] when the text is not an armored secret key.
    pub fn new(armored: &str, passphrase: SecretString) -> Result<Self, DecryptError> {
        let (key, _) = SignedSecretKey::from_string(armored)
            .map_err(|_| DecryptError::BadKey("not an ASCII-armored OpenPGP secret key".into()))?;
        if !unlocks(&key, &passphrase) {
            return Err(DecryptError::BadKey(
                "the passphrase does not unlock the key".into(),
            ));
        }
        Ok(Self { key, passphrase })
    }
}

/// Whether `passphrase` unlocks the key (an unprotected key always does).
fn unlocks(key: &SignedSecretKey, passphrase: &SecretString) -> bool {
    key.primary_key
        .unlock(&Password::from(passphrase.expose_secret()), |_, _| Ok(()))
        .is_ok()
}

fn decrypt_blocking(
    key: &SignedSecretKey,
    passphrase: &Password,
    input: ChannelReader,
    mut out: ChannelWriter,
) -> Result<(), String> {
    let message = Message::from_bytes(io::BufReader::new(input)).map_err(|e| e.to_string())?;
    // rPGP's default reads the whole message into memory to check the MDC first, and refuses
    // one over 1 GiB: a large tenant's backup could then never be restored. Streamed instead.
    let ring = TheRing {
        secret_keys: vec![key],
        key_passwords: vec![passphrase],
        decrypt_options: DecryptionOptions::new().set_seipdv1_read_mode(Seipdv1ReadMode::Streaming),
        ..TheRing::default()
    };
    let (mut message, _) = message
        .decrypt_the_ring(ring, true)
        .map_err(|e| e.to_string())?;
    if message.is_compressed() {
        message = message.decompress().map_err(|e| e.to_string())?;
    }
    // Reading to the end checks the integrity tag (MDC): a tampered message fails here.
    io::copy(&mut message, &mut out).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())
}

#[async_trait]
impl Decryptor for OpenPgpDecryptor {
    async fn decrypt(&self, ciphertext: ByteStream) -> Result<ByteStream, DecryptError> {
        let key = self.key.clone();
        let passphrase = Password::from(self.passphrase.expose_secret());
        Ok(on_a_thread(
            ciphertext,
            "decryption",
            move |reader, writer| decrypt_blocking(&key, &passphrase, reader, writer),
        ))
    }
}

/// Detached OpenPGP signatures (armored, SHA-256, over the exact bytes): made with the
/// deployment's secret key, checked against pinned public keys. `gpg --verify sig content`
/// checks them too.
#[derive(Clone)]
pub struct OpenPgpSigner {
    key: Option<std::sync::Arc<DeploymentKey>>,
    trusted: std::sync::Arc<Vec<SignedPublicKey>>,
}

impl std::fmt::Debug for OpenPgpSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPgpSigner")
            .field("signs", &self.key.is_some())
            .field("trusted", &self.trusted.len())
            .finish()
    }
}

/// A signing key that cannot be used, or a pinned key that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SignerKeyError {
    /// The signing key does not parse or does not unlock.
    #[error("the signing key is unusable: {0}")]
    SigningKey(String),
    /// A pinned public key does not parse.
    #[error("trusted key #{index} is unusable: {reason}")]
    TrustedKey {
        /// Its position in the list.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl OpenPgpSigner {
    /// A signer with the deployment's armored secret key (none: it only checks), trusting that
    /// key's own public part and the armored public keys of `trusted`.
    ///
    /// # Errors
    /// [`SignerKeyError`] naming the key at fault.
    pub fn new(
        signing: Option<(&str, SecretString)>,
        trusted: &[String],
    ) -> Result<Self, SignerKeyError> {
        let mut pinned = Vec::new();
        let key = match signing {
            Some((armored, passphrase)) => {
                let (key, _) = SignedSecretKey::from_string(armored).map_err(|_| {
                    SignerKeyError::SigningKey("not an ASCII-armored OpenPGP secret key".into())
                })?;
                if !unlocks(&key, &passphrase) {
                    return Err(SignerKeyError::SigningKey(
                        "the passphrase does not unlock the key".into(),
                    ));
                }
                pinned.push(key.to_public_key());
                Some(std::sync::Arc::new(DeploymentKey { key, passphrase }))
            }
            None => None,
        };
        for (index, text) in trusted.iter().enumerate() {
            let (public, _) =
                SignedPublicKey::from_string(text).map_err(|_| SignerKeyError::TrustedKey {
                    index,
                    reason: "not an ASCII-armored OpenPGP public key".into(),
                })?;
            pinned.push(public);
        }
        Ok(Self {
            key,
            trusted: std::sync::Arc::new(pinned),
        })
    }

    /// The armored public part of the signing key, for the operators' machines to pin.
    #[must_use]
    pub fn public_key(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        key.key
            .to_public_key()
            .to_armored_string(pgp::composed::ArmorOptions::default())
            .ok()
    }
}

/// A fresh Ed25519 signing key for `user_id`, unprotected (the embedded profile keeps it in a
/// file readable by the service alone): `(armored secret key, armored public key)`.
///
/// # Errors
/// When rPGP cannot build the key (it never should).
pub fn generate_signing_key(user_id: &str) -> Result<(SecretString, String), SignerKeyError> {
    use pgp::composed::{KeyType, SecretKeyParamsBuilder};
    let failed = |e: &dyn std::fmt::Display| SignerKeyError::SigningKey(e.to_string());
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_owned())
        .passphrase(None)
        .build()
        .map_err(|e| failed(&e))?;
    let key = params
        .generate(rand::thread_rng())
        .map_err(|e| failed(&e))?;
    let secret = key
        .to_armored_string(pgp::composed::ArmorOptions::default())
        .map_err(|e| failed(&e))?;
    let public = key
        .to_public_key()
        .to_armored_string(pgp::composed::ArmorOptions::default())
        .map_err(|e| failed(&e))?;
    Ok((SecretString::from(secret), public))
}

/// A new recipient key pair for exports and backups (the operator keeps the secret half
/// offline): Ed25519 primary, X25519 encryption subkey (RFC 9580's algorithms 27 and 25), its
/// self-signature saying it reads SEIPDv2, so that what is encrypted to it alone is
/// AES-256/OCB. RFC 9580 tools read it (rPGP, and so `gdpr verify` and `gdpr restore`; Sequoia);
/// gpg 2.2 and 2.4 do not know these algorithms: an operator who decrypts with gpg makes the key
/// with gpg instead (and gets SEIPDv1). Unprotected: the caller stores it where only the
/// operator reads it. The secret key and the public key, both armored.
///
/// # Errors
/// [`SignerKeyError::SigningKey`] when the key cannot be made.
pub fn generate_recipient_key(user_id: &str) -> Result<(SecretString, String), SignerKeyError> {
    use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
    let failed = |e: &dyn std::fmt::Display| SignerKeyError::SigningKey(e.to_string());
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519)
        .can_certify(true)
        .can_sign(true)
        .feature_seipd_v2(true)
        .primary_user_id(user_id.to_owned())
        .passphrase(None)
        .subkey(
            SubkeyParamsBuilder::default()
                .key_type(KeyType::X25519)
                .can_encrypt(EncryptionCaps::All)
                .build()
                .map_err(|e| failed(&e))?,
        )
        .build()
        .map_err(|e| failed(&e))?;
    let key = params
        .generate(rand::thread_rng())
        .map_err(|e| failed(&e))?;
    let armor = pgp::composed::ArmorOptions::default();
    let secret = key
        .to_armored_string(armor.clone())
        .map_err(|e| failed(&e))?;
    let public = key
        .to_public_key()
        .to_armored_string(armor)
        .map_err(|e| failed(&e))?;
    Ok((SecretString::from(secret), public))
}

/// Whether `signature` verifies over `content` with `key`'s primary key or one of its
/// signing subkeys.
fn signed_by(
    signature: &pgp::composed::DetachedSignature,
    key: &SignedPublicKey,
    content: &[u8],
) -> bool {
    signature.verify(&key.primary_key, content).is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|sub| signature.verify(&sub.key, content).is_ok())
}

#[async_trait]
impl gdpr_ports::Signer for OpenPgpSigner {
    async fn sign(&self, content: Bytes) -> Result<String, gdpr_ports::SignError> {
        let key = self.key.clone().ok_or(gdpr_ports::SignError::NoKey)?;
        tokio::task::spawn_blocking(move || {
            let signature = pgp::composed::DetachedSignature::sign_binary_data(
                rand::thread_rng(),
                &key.key.primary_key,
                &Password::from(key.passphrase.expose_secret()),
                HashAlgorithm::Sha256,
                &content[..],
            )
            .map_err(|e| gdpr_ports::SignError::Failed(e.to_string()))?;
            signature
                .to_armored_string(pgp::composed::ArmorOptions::default())
                .map_err(|e| gdpr_ports::SignError::Failed(e.to_string()))
        })
        .await
        .map_err(|e| gdpr_ports::SignError::Failed(e.to_string()))?
    }

    async fn verify(&self, content: Bytes, signature: &str) -> Result<(), gdpr_ports::SignError> {
        if self.trusted.is_empty() {
            return Err(gdpr_ports::SignError::NoTrustedKey);
        }
        let (signature, _) = pgp::composed::DetachedSignature::from_string(signature)
            .map_err(|_| gdpr_ports::SignError::Malformed)?;
        let trusted = std::sync::Arc::clone(&self.trusted);
        tokio::task::spawn_blocking(move || {
            if trusted
                .iter()
                .any(|key| signed_by(&signature, key, &content))
            {
                Ok(())
            } else {
                Err(gdpr_ports::SignError::Invalid)
            }
        })
        .await
        .map_err(|e| gdpr_ports::SignError::Failed(e.to_string()))?
    }
}
