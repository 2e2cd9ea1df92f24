//! Consent forms: versioned texts, immutable once published, identified by their SHA-256.

use std::fmt;

use gdpr_pii::{ConsentFormId, TenantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::purpose::check_text;
use crate::{ConsentError, LawfulBasis, Purpose, PurposeId};

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 100_000;

/// The SHA-256 of a consent text: the version's identity and the proof of what was shown.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The hash of `text`, exactly as given (not trimmed: what was shown is what is proven).
    #[must_use]
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Parses the lowercase hex form.
    ///
    /// # Errors
    /// When `s` is not 64 hex digits.
    pub fn parse(s: &str) -> Result<Self, hex::FromHexError> {
        let mut out = [0; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl From<ContentHash> for String {
    fn from(h: ContentHash) -> Self {
        h.to_string()
    }
}

impl TryFrom<String> for ContentHash {
    type Error = hex::FromHexError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// One published version of a consent form. There is no way to change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentFormVersion {
    /// 1 for the first version, then consecutive.
    pub number: u32,
    /// The SHA-256 of `text`.
    pub hash: ContentHash,
    /// The exact text shown to the subject.
    pub text: String,
    /// When it was published.
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    /// Whether consents given to earlier versions stop counting when this one is published.
    pub requires_reconsent: bool,
}

/// A consent form: a purpose, a title, and the list of its published versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentForm {
    /// The form.
    pub id: ConsentFormId,
    /// Its owner.
    pub tenant: TenantId,
    /// The consent-based purpose it asks consent for.
    pub purpose: PurposeId,
    /// A short title.
    pub title: String,
    versions: Vec<ConsentFormVersion>,
    /// When it was retired: no consent is given under it since, and the consents given before
    /// stay as they were, as proof.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

impl ConsentForm {
    /// Publishes the first version of a new form.
    ///
    /// # Errors
    /// [`ConsentError::NotConsentBased`] when the purpose's basis is not consent;
    /// [`ConsentError::InvalidText`] for an empty or over-long title or text.
    pub fn publish(
        tenant: TenantId,
        purpose: &Purpose,
        title: &str,
        text: &str,
        at: OffsetDateTime,
    ) -> Result<Self, ConsentError> {
        if purpose.basis != LawfulBasis::Consent {
            return Err(ConsentError::NotConsentBased {
                purpose: purpose.id.to_string(),
                basis: purpose.basis,
            });
        }
        check_text("title", title, MAX_TITLE)?;
        check_text("text", text, MAX_TEXT)?;
        Ok(Self {
            id: ConsentFormId::at(at),
            tenant,
            purpose: purpose.id.clone(),
            title: title.trim().to_owned(),
            versions: vec![ConsentFormVersion {
                number: 1,
                hash: ContentHash::of(text),
                text: text.to_owned(),
                published_at: at,
                requires_reconsent: true,
            }],
            retired_at: None,
        })
    }

    /// Rebuilds a form from stored versions (for storage adapters).
    ///
    /// # Errors
    /// [`ConsentError::UnknownVersion`] when `versions` is empty, misnumbered, or a hash does not
    /// match its text.
    pub fn from_parts(
        id: ConsentFormId,
        tenant: TenantId,
        purpose: PurposeId,
        title: String,
        versions: Vec<ConsentFormVersion>,
    ) -> Result<Self, ConsentError> {
        let consistent = !versions.is_empty()
            && versions
                .iter()
                .enumerate()
                .all(|(i, v)| v.number as usize == i + 1 && v.hash == ContentHash::of(&v.text));
        if !consistent {
            return Err(ConsentError::UnknownVersion);
        }
        Ok(Self {
            id,
            tenant,
            purpose,
            title,
            versions,
            retired_at: None,
        })
    }

    /// Retires the form at `at`: no consent is given under it any more.
    ///
    /// # Errors
    /// [`ConsentError::Retired`] when it already is.
    pub fn retire(&mut self, at: OffsetDateTime) -> Result<(), ConsentError> {
        if self.retired_at.is_some() {
            return Err(ConsentError::Retired);
        }
        self.retired_at = Some(at);
        Ok(())
    }

    /// Publishes a new version, leaving every earlier one as it was.
    ///
    /// # Errors
    /// [`ConsentError::Unchanged`] when the text equals the latest version's;
    /// [`ConsentError::InvalidText`] for an empty or over-long text; [`ConsentError::Retired`].
    pub fn publish_version(
        &mut self,
        text: &str,
        requires_reconsent: bool,
        at: OffsetDateTime,
    ) -> Result<&ConsentFormVersion, ConsentError> {
        if self.retired_at.is_some() {
            return Err(ConsentError::Retired);
        }
        check_text("text", text, MAX_TEXT)?;
        let hash = ContentHash::of(text);
        if hash == self.latest().hash {
            return Err(ConsentError::Unchanged);
        }
        let number = self.latest().number + 1;
        self.versions.push(ConsentFormVersion {
            number,
            hash,
            text: text.to_owned(),
            published_at: at,
            requires_reconsent,
        });
        Ok(self.latest())
    }

    /// Every version, oldest first.
    #[must_use]
    pub fn versions(&self) -> &[ConsentFormVersion] {
        &self.versions
    }

    /// The version shown to subjects now.
    #[must_use]
    pub fn latest(&self) -> &ConsentFormVersion {
        // A form always has at least one version: `publish` and `from_parts` guarantee it.
        &self.versions[self.versions.len() - 1]
    }

    /// The version with this hash.
    #[must_use]
    pub fn version(&self, hash: &ContentHash) -> Option<&ConsentFormVersion> {
        self.versions.iter().find(|v| &v.hash == hash)
    }

    /// The oldest version a consent may have been given to and still count: the newest version
    /// that required re-consent.
    #[must_use]
    pub fn oldest_acceptable(&self) -> u32 {
        self.versions
            .iter()
            .rev()
            .find(|v| v.requires_reconsent)
            .map_or(1, |v| v.number)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn purpose(basis: LawfulBasis) -> Purpose {
        Purpose::new(PurposeId::parse("newsletter").unwrap(), "news", basis).unwrap()
    }

    #[test]
    fn versions_are_identified_by_the_hash_of_their_exact_text() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let mut form = ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose(LawfulBasis::Consent),
            "News",
            "v1",
            at,
        )
        .unwrap();
        assert_eq!(form.latest().hash, ContentHash::of("v1"));
        assert_eq!(
            form.latest().hash.to_string(),
            "3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe"
        );
        assert_eq!(
            form.publish_version("v1", false, at),
            Err(ConsentError::Unchanged)
        );
        form.publish_version("v1 ", false, at).unwrap();
        assert_eq!(form.versions().len(), 2);
        assert_eq!(
            form.versions()[0].text,
            "v1",
            "earlier versions are untouched"
        );
        assert_eq!(form.latest().number, 2);
    }

    #[test]
    fn only_consent_based_purposes_get_consent_forms() {
        let err = ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose(LawfulBasis::Contract),
            "t",
            "x",
            datetime!(2026-01-01 0:00 UTC),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ConsentError::NotConsentBased {
                basis: LawfulBasis::Contract,
                ..
            }
        ));
    }

    #[test]
    fn the_oldest_acceptable_version_follows_reconsent_requirements() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let mut form = ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose(LawfulBasis::Consent),
            "t",
            "v1",
            at,
        )
        .unwrap();
        assert_eq!(form.oldest_acceptable(), 1);
        form.publish_version("v2 typo fix", false, at).unwrap();
        assert_eq!(form.oldest_acceptable(), 1);
        form.publish_version("v3 new use", true, at).unwrap();
        assert_eq!(form.oldest_acceptable(), 3);
    }

    #[test]
    fn stored_forms_are_checked_when_rebuilt() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let form = ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose(LawfulBasis::Consent),
            "t",
            "v1",
            at,
        )
        .unwrap();
        let mut versions = form.versions().to_vec();
        versions[0].text = "tampered".into();
        let rebuilt = ConsentForm::from_parts(
            form.id,
            form.tenant,
            form.purpose.clone(),
            "t".into(),
            versions,
        );
        assert_eq!(rebuilt, Err(ConsentError::UnknownVersion));
    }
}
