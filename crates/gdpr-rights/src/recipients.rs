//! Processors and recipients (Art. 28, 30(1)(d)-(e)) and their transfers outside the EEA
//! (Art. 44–46): who receives personal data, for which purposes, which categories, in which
//! country, under which safeguard — and the rule that flags a transfer without one.
//!
//! Pure: the registers that hold recipients (deployment-wide from configuration, per tenant
//! through the API), the Art. 30 register, access exports and the daily attestation draw on it.

use gdpr_consent::PurposeId;
use gdpr_pii::PiiCategory;
use serde::{Deserialize, Serialize};

/// What a recipient is to the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on the controller's behalf, under a contract (Art. 28): a hosting provider,
    /// an error tracker, an e-mail provider.
    Processor,
    /// A processor engaged by a processor (Art. 28(2), (4)).
    SubProcessor,
    /// Receives data for its own purposes (another controller, an authority).
    Recipient,
}

/// The ground a transfer outside the EEA rests on (Art. 45–46).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Safeguard {
    /// An adequacy decision of the Commission for the country (Art. 45).
    Adequacy,
    /// Standard contractual clauses (Art. 46(2)(c)).
    StandardContractualClauses,
    /// Binding corporate rules (Art. 46(2)(b), 47).
    BindingCorporateRules,
    /// None declared.
    None,
}

/// An ISO 3166-1 alpha-2 country code, upper case (`FR`, `US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

/// The EEA: the 27 member states of the EU, Iceland, Liechtenstein and Norway.
const EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Countries with an adequacy decision of the Commission in force (Art. 45), as of
/// 2026-12: Andorra, Argentina, Canada (commercial organisations), the Faroe Islands,
/// Guernsey, Israel, the Isle of Man, Japan, Jersey, New Zealand, the Republic of Korea,
/// Switzerland, the United Kingdom, Uruguay, and the United States (organisations certified
/// under the EU-US Data Privacy Framework: the register's contract reference should say so).
const ADEQUATE: [&str; 15] = [
    "AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US",
];

impl Country {
    /// Parses a two-letter code (any case).
    ///
    /// # Errors
    /// [`RecipientError::Country`] for anything but two ASCII letters.
    pub fn parse(code: &str) -> Result<Self, RecipientError> {
        match code.trim().as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(RecipientError::Country),
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Whether it is in the EEA (no transfer rule applies).
    #[must_use]
    pub fn in_eea(&self) -> bool {
        EEA.contains(&self.as_str())
    }

    /// Whether an adequacy decision covers it.
    #[must_use]
    pub fn adequate(&self) -> bool {
        ADEQUATE.contains(&self.as_str())
    }
}

impl std::fmt::Display for Country {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Why a recipient cannot be registered as described. Messages name the rule, not the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// The name is empty or longer than 200 characters.
    #[error("a recipient needs a name of 1 to 200 characters")]
    Name,
    /// Not an ISO 3166-1 alpha-2 code.
    #[error("the country must be an ISO 3166-1 alpha-2 code (FR, US, ...)")]
    Country,
    /// "Adequacy" for a country no adequacy decision covers.
    #[error("no adequacy decision of the Commission covers this country: name another safeguard")]
    NoAdequacyDecision,
    /// A text (`description`, `location`, `contract`) is longer than its limit.
    #[error("{0}: at most {1} characters")]
    TooLong(&'static str, usize),
}

impl RecipientError {
    /// The input field at fault.
    #[must_use]
    pub const fn field(&self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Country => "country",
            Self::NoAdequacyDecision => "safeguard",
            Self::TooLong(field, _) => field,
        }
    }
}

/// A processor or recipient as the register holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Its name (an organisation, not a person).
    pub name: String,
    /// What it is to the controller.
    pub role: RecipientRole,
    /// What it receives and why, in words (may be empty).
    #[serde(default)]
    pub description: String,
    /// The purposes it receives data for (empty: every purpose, as a hosting provider).
    pub purposes: Vec<PurposeId>,
    /// The categories of personal data it receives.
    pub categories: Vec<PiiCategory>,
    /// The country it processes the data in; `None`: not stated, which the register and the
    /// attestation flag like a transfer without a safeguard (nobody can say it is lawful).
    pub country: Option<Country>,
    /// Where, in more detail (a city, a cloud region), if the operator says.
    #[serde(default)]
    pub location: Option<String>,
    /// The ground of a transfer outside the EEA ([`Safeguard::None`] inside it).
    pub safeguard: Safeguard,
    /// The contract (Art. 28(3)) or clauses it is bound by: a reference, not the text.
    pub contract: Option<String>,
}

/// Where a recipient's data goes, as the register and the attestation judge it. Serialised
/// as its name alone (`within_eea`, `safeguarded`, `unsafeguarded`, `not_stated`): the
/// safeguard is the recipient's own field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Inside the EEA: no transfer rule applies.
    WithinEea,
    /// Outside, on this ground.
    Safeguarded(Safeguard),
    /// Outside, with no safeguard: flagged (Art. 44).
    Unsafeguarded,
    /// The country is not stated: flagged, since no one can tell whether a transfer happens.
    NotStated,
}

impl Serialize for Transfer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Transfer {
    /// Its name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WithinEea => "within_eea",
            Self::Safeguarded(_) => "safeguarded",
            Self::Unsafeguarded => "unsafeguarded",
            Self::NotStated => "not_stated",
        }
    }

    /// Whether the register and the attestation flag it.
    #[must_use]
    pub const fn flagged(self) -> bool {
        matches!(self, Self::Unsafeguarded | Self::NotStated)
    }
}

/// Trims `text` and checks its length; empty becomes `None`.
fn optional(
    text: Option<String>,
    what: &'static str,
    max: usize,
) -> Result<Option<String>, RecipientError> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > max) {
        return Err(RecipientError::TooLong(what, max));
    }
    Ok(text)
}

impl Recipient {
    /// The recipient as described, checked and normalised (text trimmed, categories sorted
    /// and deduplicated).
    ///
    /// # Errors
    /// [`RecipientError`]: an empty or over-long name, an over-long text, or adequacy
    /// claimed for a country without an adequacy decision.
    pub fn checked(self) -> Result<Self, RecipientError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(RecipientError::Name);
        }
        let description = optional(Some(self.description), "description", 1000)?;
        if self.safeguard == Safeguard::Adequacy
            && self.country.is_some_and(|c| !c.in_eea() && !c.adequate())
        {
            return Err(RecipientError::NoAdequacyDecision);
        }
        let mut categories = self.categories;
        categories.sort_unstable();
        categories.dedup();
        let mut purposes = self.purposes;
        purposes.sort_unstable();
        purposes.dedup();
        Ok(Self {
            name: name.to_owned(),
            role: self.role,
            description: description.unwrap_or_default(),
            purposes,
            categories,
            country: self.country,
            location: optional(self.location, "location", 200)?,
            safeguard: self.safeguard,
            contract: optional(self.contract, "contract", 200)?,
        })
    }

    /// The transfer its data makes.
    #[must_use]
    pub fn transfer(&self) -> Transfer {
        match self.country {
            None => Transfer::NotStated,
            Some(c) if c.in_eea() => Transfer::WithinEea,
            Some(_) if self.safeguard == Safeguard::None => Transfer::Unsafeguarded,
            Some(_) => Transfer::Safeguarded(self.safeguard),
        }
    }

    /// Whether it receives data processed for `purpose` (a recipient naming no purpose
    /// receives data of every one).
    #[must_use]
    pub fn serves(&self, purpose: &PurposeId) -> bool {
        self.purposes.is_empty() || self.purposes.contains(purpose)
    }
}

/// The recipients whose transfer the register flags and the daily attestation fails on:
/// outside the EEA without a safeguard, or nowhere stated.
pub fn unsafeguarded<'a>(
    recipients: impl IntoIterator<Item = &'a Recipient>,
) -> impl Iterator<Item = &'a Recipient> {
    recipients.into_iter().filter(|r| r.transfer().flagged())
}

#[cfg(test)]
mod tests {
    use super::{
        Country, Recipient, RecipientError, RecipientRole, Safeguard, Transfer, unsafeguarded,
    };
    use gdpr_pii::PiiCategory;

    fn recipient(name: &str, country: Option<Country>, safeguard: Safeguard) -> Recipient {
        Recipient {
            name: name.into(),
            role: RecipientRole::Processor,
            description: " sends e-mail ".into(),
            purposes: Vec::new(),
            categories: vec![PiiCategory::Email, PiiCategory::Email],
            country,
            location: Some("  ".into()),
            safeguard,
            contract: Some("DPA 2026-04".into()),
        }
    }

    fn at(country: &str, safeguard: Safeguard) -> Result<Recipient, RecipientError> {
        recipient(
            "Mail Provider Inc.",
            Some(Country::parse(country)?),
            safeguard,
        )
        .checked()
    }

    #[test]
    fn a_transfer_outside_the_eea_without_a_safeguard_is_flagged_and_only_that() {
        let inside = at("fr", Safeguard::None).unwrap();
        assert_eq!(inside.country.map(|c| c.to_string()).as_deref(), Some("FR"));
        assert_eq!(inside.transfer(), Transfer::WithinEea);
        assert_eq!(inside.categories, [PiiCategory::Email], "deduplicated");
        assert_eq!(inside.description, "sends e-mail", "trimmed");
        assert_eq!(inside.location, None, "blank is none");
        let norway = at("NO", Safeguard::None).unwrap();
        assert_eq!(
            norway.transfer(),
            Transfer::WithinEea,
            "the EEA, not only the EU"
        );
        let sccs = at("IN", Safeguard::StandardContractualClauses).unwrap();
        assert_eq!(
            sccs.transfer(),
            Transfer::Safeguarded(Safeguard::StandardContractualClauses)
        );
        let adequate = at("JP", Safeguard::Adequacy).unwrap();
        assert_eq!(
            adequate.transfer(),
            Transfer::Safeguarded(Safeguard::Adequacy)
        );
        let bare = at("US", Safeguard::None).unwrap();
        assert_eq!(bare.transfer(), Transfer::Unsafeguarded);
        let nowhere = recipient("Somewhere", None, Safeguard::StandardContractualClauses)
            .checked()
            .unwrap();
        assert_eq!(nowhere.transfer(), Transfer::NotStated, "flagged too");
        let all = [inside, norway, sccs, adequate, bare, nowhere];
        let flagged: Vec<&str> = unsafeguarded(&all).map(|r| r.name.as_str()).collect();
        assert_eq!(flagged, ["Mail Provider Inc.", "Somewhere"]);
        assert_eq!(
            unsafeguarded(&all)
                .filter_map(|r| r.country)
                .next()
                .map(|c| c.to_string()),
            Some("US".to_owned())
        );
    }

    #[test]
    fn adequacy_is_refused_where_no_decision_covers_the_country_and_bad_input_says_which() {
        assert_eq!(
            at("IN", Safeguard::Adequacy),
            Err(RecipientError::NoAdequacyDecision)
        );
        assert_eq!(at("F", Safeguard::None), Err(RecipientError::Country));
        assert_eq!(at("F1", Safeguard::None), Err(RecipientError::Country));
        let fr = Country::parse("FR").ok();
        assert_eq!(
            recipient("  ", fr, Safeguard::None).checked(),
            Err(RecipientError::Name)
        );
        let mut long = recipient("Host", fr, Safeguard::None);
        long.contract = Some("x".repeat(201));
        assert_eq!(
            long.checked(),
            Err(RecipientError::TooLong("contract", 200))
        );
        assert_eq!(
            recipient("Host", None, Safeguard::Adequacy)
                .checked()
                .map(|r| r.transfer()),
            Ok(Transfer::NotStated),
            "adequacy cannot be judged without a country, and is flagged"
        );
    }

    #[test]
    fn a_country_reads_back_from_its_json() {
        let r = at("gb", Safeguard::Adequacy).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["country"], "GB");
        assert_eq!(json["safeguard"], "adequacy");
        let back: Recipient = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_value::<Country>(serde_json::json!("GBR")).is_err());
    }
}
