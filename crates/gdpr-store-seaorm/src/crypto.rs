//! Encryption at rest: the key hierarchy and the AEAD of personal fields.
//!
//! ```text
//! master secret (config, 32 bytes)
//!   └─ HKDF-SHA-256(info = "gdpr/v1/tenant-kek" ‖ tenant)  → tenant key-encryption key
//!   │     └─ wraps each subject's random 32-byte data key (XChaCha20-Poly1305)
//!   │           └─ encrypts each personal profile field, AD = tenant ‖ subject ‖ place ‖ field,
//!   │              and each record's personal fields together (field `*`)
//!   └─ HKDF-SHA-256(info = "gdpr/v1/tenant-bidx" ‖ tenant) → blind-index key
//!         └─ HMAC-SHA-256(normalised e-mail) → the look-up column
//! ```
//!
//! The associated data binds a ciphertext to its row and column: moved to another subject,
//! record or field, it no longer decrypts. Destroying a subject's wrapped data key makes every
//! copy of their ciphertext — in this database or in any backup — unreadable.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use gdpr_pii::{SubjectId, TenantId};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::thread_rng;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;
use zeroize::{Zeroize as _, Zeroizing};

const NONCE: usize = 24;
const TAG: usize = 16;

/// A key or ciphertext that cannot be used. Never says anything about the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The master secret is not 32 bytes of standard base64.
    #[error("master key must be 32 bytes in standard base64 (generate one with `gdpr keygen`)")]
    BadMasterKey,
    /// A ciphertext failed authentication: wrong key, wrong row or field, or tampering.
    #[error("ciphertext failed authentication")]
    Unauthentic,
}

/// The deployment's master secret. Never printed; exposed only to derive tenant keys.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<secret>)")
    }
}

impl MasterKey {
    /// Reads a base64 master secret.
    ///
    /// # Errors
    /// [`CryptoError::BadMasterKey`] unless it decodes to exactly 32 bytes.
    pub fn from_base64(secret: &SecretString) -> Result<Self, CryptoError> {
        let bytes = B64
            .decode(secret.expose_secret().trim())
            .map_err(|_| CryptoError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A fresh random master secret, and its base64 form to store.
    #[must_use]
    pub fn generate() -> (Self, SecretString) {
        let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        let encoded = SecretString::from(B64.encode(key));
        (Self(SecretBox::new(Box::new(key))), encoded)
    }

    /// A derived key, wiped from memory when dropped.
    fn derive(&self, purpose: &str, tenant: TenantId) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"gdpr/v1"), self.0.expose_secret());
        let mut out = Zeroizing::new([0; 32]);
        let info = [purpose.as_bytes(), tenant.as_uuid().as_bytes()].concat();
        // 32 bytes is far below HKDF-SHA-256's limit of 8160: expand cannot fail.
        hk.expand(&info, out.as_mut()).unwrap_or_default();
        out
    }

    /// Seals a register's document (its owner: a tenant, or the nil id for the deployment)
    /// under a key of its owner, bound to its kind and id: a webhook endpoint's signing
    /// secrets are in it, and a copy of the database must not hand them over.
    #[must_use]
    pub fn seal_document(&self, owner: TenantId, place: &str, plaintext: &[u8]) -> Vec<u8> {
        seal(&self.documents(owner), place.as_bytes(), plaintext)
    }

    /// Opens what [`Self::seal_document`] sealed for the same owner and place.
    ///
    /// # Errors
    /// [`CryptoError::Unauthentic`]: another owner's, another place's, or tampered with.
    pub fn open_document(
        &self,
        owner: TenantId,
        place: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        open(&self.documents(owner), place.as_bytes(), sealed)
    }

    fn documents(&self, owner: TenantId) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(
            self.derive("gdpr/v1/documents", owner).as_ref(),
        ))
    }

    /// The keys of one tenant.
    #[must_use]
    pub fn tenant(&self, tenant: TenantId) -> TenantKeys {
        TenantKeys {
            tenant,
            kek: XChaCha20Poly1305::new(Key::from_slice(
                self.derive("gdpr/v1/tenant-kek", tenant).as_ref(),
            )),
            bidx: self.derive("gdpr/v1/tenant-bidx", tenant),
        }
    }
}

/// A tenant's derived keys. Every key held here is wiped from memory when dropped (the
/// ciphers zeroize their keys themselves).
pub struct TenantKeys {
    tenant: TenantId,
    kek: XChaCha20Poly1305,
    bidx: Zeroizing<[u8; 32]>,
}

impl TenantKeys {
    /// A new random data key for `subject`, wrapped for storage, and the key itself.
    #[must_use]
    pub fn new_data_key(&self, subject: SubjectId) -> (Vec<u8>, DataKey) {
        let mut key = XChaCha20Poly1305::generate_key(&mut thread_rng());
        let wrapped = seal(&self.kek, &self.wrap_ad(subject), key.as_slice());
        let cipher = XChaCha20Poly1305::new(&key);
        key.as_mut_slice().zeroize();
        (
            wrapped,
            DataKey {
                tenant: self.tenant,
                subject,
                cipher,
            },
        )
    }

    /// Unwraps a stored data key.
    ///
    /// # Errors
    /// [`CryptoError::Unauthentic`] when the wrapped key is not this tenant's key for `subject`.
    pub fn open_data_key(
        &self,
        subject: SubjectId,
        wrapped: &[u8],
    ) -> Result<DataKey, CryptoError> {
        let key = Zeroizing::new(open(&self.kek, &self.wrap_ad(subject), wrapped)?);
        if key.len() != 32 {
            return Err(CryptoError::Unauthentic);
        }
        Ok(DataKey {
            tenant: self.tenant,
            subject,
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    fn wrap_ad(&self, subject: SubjectId) -> Vec<u8> {
        ad(self.tenant, subject, "data-key", "")
    }

    /// The blind index of a normalised e-mail address: equal addresses give equal indexes
    /// within a tenant, and nothing can be learnt from it without the key.
    #[must_use]
    pub fn blind_index(&self, normalised_email: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.bidx.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(normalised_email.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// A subject's data key, ready to encrypt and decrypt their fields.
pub struct DataKey {
    tenant: TenantId,
    subject: SubjectId,
    cipher: XChaCha20Poly1305,
}

impl DataKey {
    /// Encrypts a field's value; `place` is the table or record, `field` the column or key.
    #[must_use]
    pub fn seal(&self, place: &str, field: &str, plaintext: &[u8]) -> Vec<u8> {
        seal(
            &self.cipher,
            &ad(self.tenant, self.subject, place, field),
            plaintext,
        )
    }

    /// [`Self::open`] in place: the plaintext is a slice of `data` (no copy; records read
    /// back in bulk).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_in_place<'a>(
        &self,
        place: &str,
        field: &str,
        data: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        open_in_place(
            &self.cipher,
            &ad(self.tenant, self.subject, place, field),
            data,
        )
    }

    /// Decrypts a field's value.
    ///
    /// # Errors
    /// [`CryptoError::Unauthentic`] for another subject's, place's or field's ciphertext.
    pub fn open(
        &self,
        place: &str,
        field: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        open(
            &self.cipher,
            &ad(self.tenant, self.subject, place, field),
            ciphertext,
        )
    }
}

/// `gdpr/v1|<tenant>|<subject>|<place>|<field>`, ids in hyphenated lower case. Built byte by
/// byte rather than with `format!`: it is made for every field opened, and formatting was a
/// tenth of the cost of reading records back.
fn ad(tenant: TenantId, subject: SubjectId, place: &str, field: &str) -> Vec<u8> {
    const ID: usize = uuid::fmt::Hyphenated::LENGTH;
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + 2 * ID + place.len() + field.len() + 3);
    let mut id = [0; ID];
    ad.extend_from_slice(AD_PREFIX);
    ad.extend_from_slice(
        tenant
            .as_uuid()
            .hyphenated()
            .encode_lower(&mut id)
            .as_bytes(),
    );
    ad.push(b'|');
    ad.extend_from_slice(
        subject
            .as_uuid()
            .hyphenated()
            .encode_lower(&mut id)
            .as_bytes(),
    );
    ad.push(b'|');
    ad.extend_from_slice(place.as_bytes());
    ad.push(b'|');
    ad.extend_from_slice(field.as_bytes());
    ad
}

const AD_PREFIX: &[u8] = b"gdpr/v1|";

fn seal(cipher: &XChaCha20Poly1305, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    // The thread-local ChaCha CSPRNG, seeded and periodically reseeded from the OS: a system
    // call per nonce would dominate the cost of encrypting a short field.
    let nonce = XChaCha20Poly1305::generate_nonce(&mut thread_rng());
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .unwrap_or_else(|_| {
            unreachable!("XChaCha20-Poly1305 encrypts any message that fits in memory")
        });
    [nonce.as_slice(), &ct].concat()
}

fn open(cipher: &XChaCha20Poly1305, ad: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut buf = data.to_vec();
    let len = open_in_place(cipher, ad, &mut buf)?.len();
    buf.copy_within(NONCE..NONCE + len, 0);
    buf.truncate(len);
    Ok(buf)
}

/// Decrypts `nonce ‖ ciphertext ‖ tag` (as [`seal`] lays it out) where it lies; the plaintext
/// is the middle of `data`.
fn open_in_place<'a>(
    cipher: &XChaCha20Poly1305,
    ad: &[u8],
    data: &'a mut [u8],
) -> Result<&'a [u8], CryptoError> {
    if data.len() < NONCE + TAG {
        return Err(CryptoError::Unauthentic);
    }
    let (nonce, rest) = data.split_at_mut(NONCE);
    let (message, tag) = rest.split_at_mut(rest.len() - TAG);
    cipher
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            ad,
            message,
            chacha20poly1305::Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Unauthentic)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associated_data_keeps_its_stored_layout() {
        // Every ciphertext ever stored was bound to these exact bytes: they may never change.
        let (t, s) = (
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        );
        assert_eq!(
            ad(t, s, "records/x", "*"),
            format!("gdpr/v1|{t}|{s}|records/x|*").into_bytes()
        );
        let t = TenantId::from_uuid(uuid::Uuid::from_u128(0xAB));
        assert_eq!(
            String::from_utf8(ad(t, s, "subjects", "email")).unwrap()[..45],
            *"gdpr/v1|00000000-0000-0000-0000-0000000000ab|"
        );
    }

    #[test]
    fn a_ciphertext_opens_only_in_its_own_row_and_field() {
        let (master, _) = MasterKey::generate();
        let (t, s, other) = (
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        );
        let keys = master.tenant(t);
        let (wrapped, dek) = keys.new_data_key(s);
        let ct = dek.seal("subjects", "email", b"ada@example.org");
        assert!(!ct.windows(3).any(|w| w == b"ada"));
        let reopened = keys.open_data_key(s, &wrapped).unwrap();
        assert_eq!(
            reopened.open("subjects", "email", &ct).unwrap(),
            b"ada@example.org"
        );
        assert_eq!(
            reopened.open("subjects", "full_name", &ct),
            Err(CryptoError::Unauthentic)
        );
        // In place, the same answers.
        let mut buf = ct.clone();
        assert_eq!(
            reopened.open_in_place("subjects", "email", &mut buf),
            Ok(&b"ada@example.org"[..])
        );
        let mut buf = ct.clone();
        assert_eq!(
            reopened.open_in_place("subjects", "full_name", &mut buf),
            Err(CryptoError::Unauthentic)
        );
        let mut short = ct[..NONCE + TAG - 1].to_vec();
        assert_eq!(
            reopened.open_in_place("subjects", "email", &mut short),
            Err(CryptoError::Unauthentic)
        );
        assert!(
            keys.open_data_key(other, &wrapped).is_err(),
            "a wrapped key is bound to its subject"
        );
        let (_, other_dek) = keys.new_data_key(other);
        assert_eq!(
            other_dek.open("subjects", "email", &ct),
            Err(CryptoError::Unauthentic)
        );
        let other_tenant = master.tenant(TenantId::at(time::OffsetDateTime::UNIX_EPOCH));
        assert!(
            other_tenant.open_data_key(s, &wrapped).is_err(),
            "tenant keys differ"
        );
        let mut tampered = ct.clone();
        tampered[30] ^= 1;
        assert_eq!(
            reopened.open("subjects", "email", &tampered),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(
            reopened.open("subjects", "email", &ct[..10]),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn blind_indexes_match_within_a_tenant_only() {
        let (master, encoded) = MasterKey::generate();
        let t = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let a = master.tenant(t).blind_index("ada@example.org");
        assert_eq!(a, master.tenant(t).blind_index("ada@example.org"));
        assert_ne!(a, master.tenant(t).blind_index("bob@example.org"));
        assert_ne!(
            a,
            master
                .tenant(TenantId::at(time::OffsetDateTime::UNIX_EPOCH))
                .blind_index("ada@example.org")
        );
        let again = MasterKey::from_base64(&encoded).unwrap();
        assert_eq!(
            again.tenant(t).blind_index("ada@example.org"),
            a,
            "derivation is stable"
        );
    }

    #[test]
    fn bad_master_keys_are_refused_without_echoing_them() {
        for bad in ["", "not base64!", "c2hvcnQ="] {
            let err = MasterKey::from_base64(&SecretString::from(bad)).unwrap_err();
            assert_eq!(err, CryptoError::BadMasterKey);
        }
        let (master, _) = MasterKey::generate();
        assert_eq!(format!("{master:?}"), "MasterKey(<secret>)");
    }
}
