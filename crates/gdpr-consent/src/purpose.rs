//! Purposes of processing and their lawful basis (GDPR Art. 6(1)).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ConsentError;

/// The six lawful bases of Art. 6(1). A purpose has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LawfulBasis {
    /// Art. 6(1)(a): the subject consented.
    Consent,
    /// Art. 6(1)(b): needed for a contract with the subject.
    Contract,
    /// Art. 6(1)(c): needed to comply with a legal obligation.
    LegalObligation,
    /// Art. 6(1)(d): needed to protect someone's vital interests.
    VitalInterests,
    /// Art. 6(1)(e): a task in the public interest.
    PublicTask,
    /// Art. 6(1)(f): the controller's legitimate interests (the subject may object, Art. 21).
    LegitimateInterests,
}

impl LawfulBasis {
    /// The article reference, e.g. `Art. 6(1)(a)`.
    #[must_use]
    pub const fn article(self) -> &'static str {
        match self {
            Self::Consent => "Art. 6(1)(a)",
            Self::Contract => "Art. 6(1)(b)",
            Self::LegalObligation => "Art. 6(1)(c)",
            Self::VitalInterests => "Art. 6(1)(d)",
            Self::PublicTask => "Art. 6(1)(e)",
            Self::LegitimateInterests => "Art. 6(1)(f)",
        }
    }

    /// The stable machine name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Contract => "contract",
            Self::LegalObligation => "legal_obligation",
            Self::VitalInterests => "vital_interests",
            Self::PublicTask => "public_task",
            Self::LegitimateInterests => "legitimate_interests",
        }
    }
}

impl fmt::Display for LawfulBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A purpose's short, stable identifier (`newsletter`, `contractor-management`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PurposeId(String);

impl PurposeId {
    /// Parses an identifier.
    ///
    /// # Errors
    /// [`ConsentError::InvalidPurposeId`] when it breaks the naming rule.
    pub fn parse(s: &str) -> Result<Self, ConsentError> {
        let mut chars = s.chars();
        let ok = s.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ConsentError::InvalidPurposeId)
        }
    }

    /// The identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PurposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PurposeId {
    type Error = ConsentError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PurposeId> for String {
    fn from(p: PurposeId) -> Self {
        p.0
    }
}

/// Why personal data is processed, under exactly one lawful basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// The identifier.
    pub id: PurposeId,
    /// What the processing is for, in words a subject understands.
    pub description: String,
    /// Its lawful basis.
    pub basis: LawfulBasis,
}

pub(crate) fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), ConsentError> {
    let n = text.trim().chars().count();
    if n == 0 || n > max {
        Err(ConsentError::InvalidText { field, max })
    } else {
        Ok(())
    }
}

impl Purpose {
    /// A purpose.
    ///
    /// # Errors
    /// [`ConsentError::InvalidText`] for an empty or over-long (1,000 characters) description.
    pub fn new(id: PurposeId, description: &str, basis: LawfulBasis) -> Result<Self, ConsentError> {
        check_text("description", description, 1_000)?;
        Ok(Self {
            id,
            description: description.trim().to_owned(),
            basis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_ids_follow_the_naming_rule() {
        assert!(PurposeId::parse("contractor-management").is_ok());
        for bad in ["", "Newsletter", "1st", "a b", &"a".repeat(65)] {
            assert_eq!(
                PurposeId::parse(bad),
                Err(ConsentError::InvalidPurposeId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_purpose_needs_a_description() {
        let id = PurposeId::parse("newsletter").unwrap();
        assert!(Purpose::new(id.clone(), "  ", LawfulBasis::Consent).is_err());
        let p = Purpose::new(id, " Monthly news ", LawfulBasis::Consent).unwrap();
        assert_eq!(p.description, "Monthly news");
        assert_eq!(p.basis.article(), "Art. 6(1)(a)");
    }
}
