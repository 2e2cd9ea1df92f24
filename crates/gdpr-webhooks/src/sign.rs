//! Standard Webhooks signatures: `v1,` and the base64 of HMAC-SHA256, keyed by the secret's
//! bytes, over `{webhook-id}.{webhook-timestamp}.{body}`; several space-separated while a
//! secret is rotated (a receiver accepts the message if any one verifies). HMAC is
//! RustCrypto's; the specification's published test vector and its reference implementation
//! check it (see the tests).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::{CtOutput, Output, OutputSizeUser};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// The header carrying the event's id (the same on every retry).
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the attempt's time, in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

const PREFIX: &str = "whsec_";

/// A signing secret: 24 to 64 random bytes, shown once as `whsec_` and their base64.
pub struct Secret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(self.0.expose_secret().clone())))
    }
}

/// A secret that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not `whsec_` and base64.
    #[error("a signing secret is `whsec_` followed by base64")]
    Format,
    /// Too short or too long.
    #[error("a signing secret holds 24 to 64 bytes")]
    Length,
}

impl Secret {
    /// A secret of these bytes (from a random source: the caller's).
    ///
    /// # Errors
    /// [`SecretError::Length`] outside 24 to 64 bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Length);
        }
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// Reads `whsec_...`.
    ///
    /// # Errors
    /// [`SecretError`].
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Format)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Format)?;
        Self::from_bytes(bytes)
    }

    /// The secret as the receiver configures it: `whsec_` and base64. Shown once.
    #[must_use]
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.expose_secret()))
    }

    /// One `v1,` signature.
    #[must_use]
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let Some(mac) = self.mac(id, timestamp, body) else {
            return String::new();
        };
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The HMAC of `id.timestamp.body` under this secret, before it is finalised.
    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
        // HMAC takes a key of any length: `None` is unreachable.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).ok()?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Some(mac)
    }
}

/// How far a signed message's `webhook-timestamp` may be from now, either way (the
/// specification's reference libraries use five minutes): an older message is a replay.
pub const TIMESTAMP_TOLERANCE: i64 = 5 * 60;

/// Why a signed message is refused. Says which rule failed, never what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `webhook-timestamp` is not Unix seconds.
    #[error("webhook-timestamp is not a number of seconds")]
    Timestamp,
    /// `webhook-timestamp` is more than [`TIMESTAMP_TOLERANCE`] from now.
    #[error("webhook-timestamp is more than five minutes from now")]
    Stale,
    /// No `v1,` signature in `webhook-signature` verifies under any of the secrets.
    #[error("no signature in webhook-signature verifies")]
    Signature,
}

/// How many `v1,` signatures of one header are tried: a sender signs with one secret, two while
/// it rotates one; more would only be work for a forger.
const MAX_SIGNATURES: usize = 4;

/// A message's `webhook-timestamp`, if it is Unix seconds within [`TIMESTAMP_TOLERANCE`] of
/// `now`. Checked before anything else, whoever the sender claims to be.
///
/// # Errors
/// [`VerifyError::Timestamp`], [`VerifyError::Stale`].
pub fn check_timestamp(timestamp: &str, now: i64) -> Result<i64, VerifyError> {
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Timestamp)?;
    if now.abs_diff(at) > TIMESTAMP_TOLERANCE.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    Ok(at)
}

/// Verifies a message the way a Standard Webhooks receiver does: its timestamp within
/// [`TIMESTAMP_TOLERANCE`] of `now`, and one `v1,` signature of the header (space-separated;
/// the first few) made by one of `secrets` (two during a rotation) over `id.timestamp.body`.
/// One HMAC per secret, whatever the header holds; tags compared in constant time
/// (RustCrypto's `CtOutput`), and every one of them, so that the time taken says nothing.
///
/// # Errors
/// [`VerifyError`].
pub fn verify<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
    id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let at = check_timestamp(timestamp, now)?;
    let given: Vec<CtOutput<Hmac<Sha256>>> = header
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| STANDARD.decode(b).ok())
        .filter(|tag| tag.len() == <Sha256 as OutputSizeUser>::output_size())
        .take(MAX_SIGNATURES)
        .map(|tag| CtOutput::new(Output::<Hmac<Sha256>>::clone_from_slice(&tag)))
        .collect();
    let mut verified = false;
    for secret in secrets {
        if let Some(mac) = secret.mac(id, at, body) {
            let expected = mac.finalize();
            verified |= given
                .iter()
                .fold(false, |any, tag| any | (*tag == expected));
        }
    }
    if verified {
        Ok(())
    } else {
        Err(VerifyError::Signature)
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
#[must_use]
pub fn signature<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::{Secret, SecretError, VerifyError, signature, verify};

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;

    /// The test vector the Standard Webhooks specification publishes with its reference
    /// libraries (github.com/standard-webhooks/standard-webhooks, `libraries/*` tests).
    #[test]
    fn the_specifications_test_vector_is_reproduced_exactly() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(secret.expose(), SPEC_SECRET, "reads back as it was given");
    }

    /// The reference implementation (its own HMAC) verifies what we sign, with either of two
    /// secrets during a rotation, and refuses a changed body.
    #[test]
    fn the_reference_implementation_verifies_our_signatures_through_a_rotation() {
        let old = Secret::from_bytes(vec![7; 32]).unwrap();
        let new = Secret::from_bytes(vec![9; 48]).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"type":"subject.erased"}"#;
        let header = signature([&old, &new], "evt_1", now, body);
        assert_eq!(header.split(' ').count(), 2);
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "evt_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", header.parse().unwrap());
        for secret in [&old, &new] {
            let verifier = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
            verifier.verify(body, &headers).unwrap();
            assert!(verifier.verify(b"{\"type\":\"forged\"}", &headers).is_err());
        }
        let stranger =
            standardwebhooks::Webhook::new(&Secret::from_bytes(vec![1; 32]).unwrap().expose())
                .unwrap();
        assert!(stranger.verify(body, &headers).is_err());
    }

    /// What the reference implementation signs, we verify (the specification's vector, and
    /// a fresh message during a rotation); a changed id, body or timestamp, a stranger's
    /// secret and a message older than five minutes are refused, each for its reason.
    #[test]
    fn we_verify_what_the_reference_implementation_signs_and_nothing_else() {
        let spec = Secret::parse(SPEC_SECRET).unwrap();
        let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let at = SPEC_TIMESTAMP.to_string();
        // (message id, timestamp header, body, seconds after the vector's time) → verdict
        type Case<'a> = (&'a str, &'a str, &'a [u8], i64, Result<(), VerifyError>);
        let cases: [Case; 6] = [
            (SPEC_ID, &at, SPEC_BODY, 299, Ok(())),
            (
                SPEC_ID,
                "-9223372036854775808",
                SPEC_BODY,
                0,
                Err(VerifyError::Stale),
            ),
            (SPEC_ID, &at, SPEC_BODY, 301, Err(VerifyError::Stale)),
            (SPEC_ID, "soon", SPEC_BODY, 0, Err(VerifyError::Timestamp)),
            ("msg_other", &at, SPEC_BODY, 0, Err(VerifyError::Signature)),
            (SPEC_ID, &at, b"{}", 0, Err(VerifyError::Signature)),
        ];
        for (id, timestamp, body, later, verdict) in cases {
            assert_eq!(
                verify([&spec], id, timestamp, header, body, SPEC_TIMESTAMP + later),
                verdict,
                "{id} {timestamp} +{later}s"
            );
        }

        // A tag of the wrong length first, then the right one: still verified.
        let short = format!("v1,AAAA {header}");
        assert_eq!(
            verify([&spec], SPEC_ID, &at, &short, SPEC_BODY, SPEC_TIMESTAMP),
            Ok(())
        );

        let old = Secret::from_bytes(vec![7; 32]).unwrap();
        let new = Secret::from_bytes(vec![9; 48]).unwrap();
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"subject":"0193a1c2-0000-7000-8000-000000000001"}"#;
        let signed = standardwebhooks::Webhook::new(&new.expose())
            .unwrap()
            .sign("msg_1", ts, body)
            .unwrap();
        let both = format!("v1,bm90IGEgc2lnbmF0dXJl {signed}");
        assert_eq!(
            verify([&old, &new], "msg_1", &ts.to_string(), &both, body, ts),
            Ok(()),
            "one signature of several verifying is enough"
        );
        assert_eq!(
            verify([&old], "msg_1", &ts.to_string(), &signed, body, ts),
            Err(VerifyError::Signature),
            "a secret the message was not signed with"
        );
    }

    #[test]
    fn a_secret_is_checked_and_never_printed() {
        assert_eq!(Secret::parse("MfKQ9r8G").unwrap_err(), SecretError::Format);
        assert_eq!(Secret::parse("whsec_!!").unwrap_err(), SecretError::Format);
        assert_eq!(
            Secret::parse("whsec_AAAA").unwrap_err(),
            SecretError::Length
        );
        let s = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
    }
}
