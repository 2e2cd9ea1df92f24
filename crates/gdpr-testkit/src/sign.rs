//! A signer for tests: HMAC-SHA256 under a named secret stands in for the deployment's OpenPGP
//! key. It checks for real (another secret, or one changed byte, fails), so the rules around
//! signatures are tested without I/O; OpenPGP itself is tested on its adapter against `gpg`.

use async_trait::async_trait;
use bytes::Bytes;
use gdpr_ports::{SignError, Signer};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 signatures: `hmac:<signer name>:<hex tag>`.
#[derive(Debug, Clone)]
pub struct HmacSigner {
    /// The signing secret's name and bytes; `None`: this one only checks.
    key: Option<(String, Vec<u8>)>,
    /// The names and secrets it trusts (its own included).
    trusted: Vec<(String, Vec<u8>)>,
}

fn secret_of(name: &str) -> Vec<u8> {
    format!("gdpr-testkit-signing-secret:{name}").into_bytes()
}

fn tag(secret: &[u8], content: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(content);
    hex::encode(mac.finalize().into_bytes())
}

impl HmacSigner {
    /// Signs as `name`, and trusts only `name`.
    #[must_use]
    pub fn new(name: &str) -> Self {
        let key = (name.to_owned(), secret_of(name));
        Self {
            trusted: vec![key.clone()],
            key: Some(key),
        }
    }

    /// Checks signatures of `name` and cannot sign (an operator's machine without the key).
    #[must_use]
    pub fn verifying_only(name: &str) -> Self {
        Self {
            key: None,
            trusted: vec![(name.to_owned(), secret_of(name))],
        }
    }

    /// The same signer, also trusting `name`'s signatures.
    #[must_use]
    pub fn trusting(mut self, name: &str) -> Self {
        self.trusted.push((name.to_owned(), secret_of(name)));
        self
    }
}

impl Default for HmacSigner {
    fn default() -> Self {
        Self::new("deployment")
    }
}

#[async_trait]
impl Signer for HmacSigner {
    async fn sign(&self, content: Bytes) -> Result<String, SignError> {
        let (name, secret) = self.key.as_ref().ok_or(SignError::NoKey)?;
        Ok(format!("hmac:{name}:{}", tag(secret, &content)))
    }

    async fn verify(&self, content: Bytes, signature: &str) -> Result<(), SignError> {
        if self.trusted.is_empty() {
            return Err(SignError::NoTrustedKey);
        }
        let mut parts = signature.splitn(3, ':');
        let (Some("hmac"), Some(name), Some(given)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SignError::Malformed);
        };
        let trusted = self.trusted.iter().find(|(n, _)| n == name);
        match trusted {
            Some((_, secret)) if tag(secret, &content) == given => Ok(()),
            _ => Err(SignError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signatures_hold_only_for_the_trusted_signer_and_the_same_content() {
        let signer = HmacSigner::new("deployment");
        let content = Bytes::from_static(b"manifest");
        let sig = signer.sign(content.clone()).await.unwrap();
        signer.verify(content.clone(), &sig).await.unwrap();
        let other = HmacSigner::new("attacker");
        let forged = other.sign(content.clone()).await.unwrap();
        assert_eq!(
            signer.verify(content.clone(), &forged).await,
            Err(SignError::Invalid)
        );
        assert_eq!(
            signer.verify(Bytes::from_static(b"manifesT"), &sig).await,
            Err(SignError::Invalid)
        );
        assert_eq!(
            signer.verify(content.clone(), "nonsense").await,
            Err(SignError::Malformed)
        );
        let checker = HmacSigner::verifying_only("deployment");
        checker.verify(content.clone(), &sig).await.unwrap();
        assert_eq!(checker.sign(content).await, Err(SignError::NoKey));
    }
}
