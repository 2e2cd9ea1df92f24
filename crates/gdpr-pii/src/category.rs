//! PII categories: the classification every stored field must carry.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of personal data a field holds, or the declaration that it holds none.
///
/// Every field of every form, and every profile field, carries one of these; the Art. 30
/// register, the encryption at rest and the log redaction are all driven by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiCategory {
    /// An e-mail address.
    Email,
    /// A person's full name.
    FullName,
    /// An IP address.
    IpAddress,
    /// A telephone number.
    Phone,
    /// A postal address.
    PostalAddress,
    /// A date of birth.
    DateOfBirth,
    /// A national identification number (social security, passport, tax id...).
    NationalId,
    /// Free text, which may contain anything a person typed about someone.
    FreeText,
    /// Declared, on purpose, not to be personal data.
    NotPersonal,
}

impl PiiCategory {
    /// Every category, in a stable order (for registers and documentation).
    pub const ALL: [Self; 9] = [
        Self::Email,
        Self::FullName,
        Self::IpAddress,
        Self::Phone,
        Self::PostalAddress,
        Self::DateOfBirth,
        Self::NationalId,
        Self::FreeText,
        Self::NotPersonal,
    ];

    /// Whether values of this category are personal data (and so encrypted, redacted, erased).
    #[must_use]
    pub const fn is_personal(self) -> bool {
        !matches!(self, Self::NotPersonal)
    }

    /// The stable machine name (`snake_case`), as used in configuration and APIs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::FullName => "full_name",
            Self::IpAddress => "ip_address",
            Self::Phone => "phone",
            Self::PostalAddress => "postal_address",
            Self::DateOfBirth => "date_of_birth",
            Self::NationalId => "national_id",
            Self::FreeText => "free_text",
            Self::NotPersonal => "not_personal",
        }
    }

    /// A human description for the register of processing.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::Email => "e-mail addresses",
            Self::FullName => "full names",
            Self::IpAddress => "IP addresses",
            Self::Phone => "telephone numbers",
            Self::PostalAddress => "postal addresses",
            Self::DateOfBirth => "dates of birth",
            Self::NationalId => "national identification numbers",
            Self::FreeText => "free text that may describe a person",
            Self::NotPersonal => "data declared non-personal",
        }
    }
}

impl fmt::Display for PiiCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
