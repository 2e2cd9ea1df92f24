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
    /// The contract reference is longer than 200 characters.
    #[error("the contract reference is at most 200 characters")]
    Contract,
}

/// A processor or recipient as the register holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Its name (an organisation, not a person).
    pub name: String,
    /// What it is to the controller.
    pub role: RecipientRole,
    /// The purposes it receives data for (empty: every purpose, as a hosting provider).
    pub purposes: Vec<PurposeId>,
    /// The categories of personal data it receives.
    pub categories: Vec<PiiCategory>,
    /// Where it processes the data.
    pub country: Country,
    /// The ground of a transfer outside the EEA ([`Safeguard::None`] inside it).
    pub safeguard: Safeguard,
    /// The contract (Art. 28(3)) or clauses it is bound by: a reference, not the text.
    pub contract: Option<String>,
}

/// Where a recipient's data goes, as the register and the attestation judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transfer {
    /// Inside the EEA: no transfer rule applies.
    WithinEea,
    /// Outside, on this ground.
    Safeguarded(Safeguard),
    /// Outside, with no safeguard: flagged (Art. 44).
    Unsafeguarded,
}

impl Recipient {
    /// A recipient, checked.
    ///
    /// # Errors
    /// [`RecipientError`]: an empty or over-long name or contract reference, or adequacy
    /// claimed for a country without an adequacy decision.
    pub fn new(
        name: &str,
        role: RecipientRole,
        purposes: Vec<PurposeId>,
        categories: Vec<PiiCategory>,
        country: Country,
        safeguard: Safeguard,
        contract: Option<&str>,
    ) -> Result<Self, RecipientError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(RecipientError::Name);
        }
        let contract = contract.map(str::trim).filter(|c| !c.is_empty());
        if contract.is_some_and(|c| c.chars().count() > 200) {
            return Err(RecipientError::Contract);
        }
        if safeguard == Safeguard::Adequacy && !country.in_eea() && !country.adequate() {
            return Err(RecipientError::NoAdequacyDecision);
        }
        let mut categories = categories;
        categories.sort_unstable();
        categories.dedup();
        Ok(Self {
            name: name.to_owned(),
            role,
            purposes,
            categories,
            country,
            safeguard,
            contract: contract.map(str::to_owned),
        })
    }

    /// The transfer its data makes.
    #[must_use]
    pub fn transfer(&self) -> Transfer {
        if self.country.in_eea() {
            Transfer::WithinEea
        } else if self.safeguard == Safeguard::None {
            Transfer::Unsafeguarded
        } else {
            Transfer::Safeguarded(self.safeguard)
        }
    }
}

/// The recipients whose transfer lacks a safeguard: what the register flags and the daily
/// attestation fails on.
pub fn unsafeguarded(recipients: &[Recipient]) -> impl Iterator<Item = &Recipient> {
    recipients
        .iter()
        .filter(|r| r.transfer() == Transfer::Unsafeguarded)
}

#[cfg(test)]
mod tests {
    use super::{
        Country, Recipient, RecipientError, RecipientRole, Safeguard, Transfer, unsafeguarded,
    };
    use gdpr_pii::PiiCategory;

    fn at(country: &str, safeguard: Safeguard) -> Result<Recipient, RecipientError> {
        Recipient::new(
            "Mail Provider Inc.",
            RecipientRole::Processor,
            Vec::new(),
            vec![PiiCategory::Email, PiiCategory::Email],
            Country::parse(country)?,
            safeguard,
            Some("DPA 2026-04"),
        )
    }

    #[test]
    fn a_transfer_outside_the_eea_without_a_safeguard_is_flagged_and_only_that() {
        let inside = at("fr", Safeguard::None).unwrap();
        assert_eq!(inside.country.as_str(), "FR");
        assert_eq!(inside.transfer(), Transfer::WithinEea);
        assert_eq!(inside.categories, [PiiCategory::Email], "deduplicated");
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
        let all = [inside, norway, sccs, adequate, bare];
        let flagged: Vec<&str> = unsafeguarded(&all).map(|r| r.country.as_str()).collect();
        assert_eq!(flagged, ["US"]);
    }

    #[test]
    fn adequacy_is_refused_where_no_decision_covers_the_country_and_bad_input_says_which() {
        assert_eq!(
            at("IN", Safeguard::Adequacy),
            Err(RecipientError::NoAdequacyDecision)
        );
        assert_eq!(at("F", Safeguard::None), Err(RecipientError::Country));
        assert_eq!(at("F1", Safeguard::None), Err(RecipientError::Country));
        let no_name = Recipient::new(
            "  ",
            RecipientRole::Recipient,
            Vec::new(),
            Vec::new(),
            Country::parse("FR").unwrap(),
            Safeguard::None,
            None,
        );
        assert_eq!(no_name, Err(RecipientError::Name));
        let long = "x".repeat(201);
        let contract = Recipient::new(
            "Host",
            RecipientRole::Processor,
            Vec::new(),
            Vec::new(),
            Country::parse("DE").unwrap(),
            Safeguard::None,
            Some(&long),
        );
        assert_eq!(contract, Err(RecipientError::Contract));
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
