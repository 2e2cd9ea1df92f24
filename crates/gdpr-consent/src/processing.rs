//! Forms as processing activities: a classified schema, the purpose it serves, and the consent
//! form a record needs when that purpose rests on consent.

use gdpr_pii::{ConsentFormId, FormId, FormSchema, TenantId};
use gdpr_retention::RetentionPeriod;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ConsentError, ConsentForm, LawfulBasis, Purpose, PurposeId, purpose::check_text};

/// A tenant's form: what it collects (a schema whose every field is classified), why (one
/// purpose), and, for consent-based purposes, which consent form a subject must have agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    /// The form.
    pub id: FormId,
    /// Its owner.
    pub tenant: TenantId,
    /// Its name ("Contractors").
    pub name: String,
    /// Its fields.
    pub schema: FormSchema,
    /// Why its data is processed.
    pub purpose: PurposeId,
    /// The consent form a subject must currently agree to before a record is accepted.
    pub consent_form: Option<ConsentFormId>,
    /// How long its records are kept from submission; `None`: the tenant's period applies.
    #[serde(default)]
    pub retention: Option<RetentionPeriod>,
    /// When it was defined.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why a form cannot be defined or attached as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A name that is empty or too long.
    #[error("form name must be between 1 and 200 characters")]
    InvalidName,
    /// A consent form for another purpose.
    #[error(
        "the consent form is for purpose '{consent_purpose}', the form's purpose is '{form_purpose}'"
    )]
    PurposeMismatch {
        /// The form's purpose.
        form_purpose: String,
        /// The consent form's purpose.
        consent_purpose: String,
    },
    /// A consent form attached to a form whose purpose does not rest on consent.
    #[error("{0}")]
    Consent(#[from] ConsentError),
}

impl Form {
    /// Defines a form for `purpose`.
    ///
    /// A form whose purpose rests on consent starts without a consent form; until one is
    /// attached, every record is refused (consent cannot be shown). Other purposes need none.
    ///
    /// # Errors
    /// [`FormError::InvalidName`].
    pub fn define(
        tenant: TenantId,
        name: &str,
        schema: FormSchema,
        purpose: &Purpose,
        at: OffsetDateTime,
    ) -> Result<Self, FormError> {
        check_text("name", name, 200).map_err(|_| FormError::InvalidName)?;
        Ok(Self {
            id: FormId::at(at),
            tenant,
            name: name.trim().to_owned(),
            schema,
            purpose: purpose.id.clone(),
            consent_form: None,
            retention: None,
            created_at: at,
        })
    }

    /// Attaches the consent form records will need.
    ///
    /// # Errors
    /// [`FormError::PurposeMismatch`] when the consent form serves another purpose;
    /// [`FormError::Consent`] when the purpose does not rest on consent, or the consent form
    /// is retired.
    pub fn attach_consent_form(
        &mut self,
        purpose: &Purpose,
        consent_form: &ConsentForm,
    ) -> Result<(), FormError> {
        if purpose.basis != LawfulBasis::Consent {
            return Err(ConsentError::NotConsentBased {
                purpose: purpose.id.to_string(),
                basis: purpose.basis,
            }
            .into());
        }
        if consent_form.retired_at.is_some() {
            return Err(ConsentError::Retired.into());
        }
        if consent_form.purpose != self.purpose || purpose.id != self.purpose {
            return Err(FormError::PurposeMismatch {
                form_purpose: self.purpose.to_string(),
                consent_purpose: consent_form.purpose.to_string(),
            });
        }
        self.consent_form = Some(consent_form.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gdpr_pii::{FieldKind, FieldSpec, PiiCategory};
    use time::macros::datetime;

    use super::*;

    fn purpose(id: &str, basis: LawfulBasis) -> Purpose {
        Purpose::new(PurposeId::parse(id).unwrap(), "why", basis).unwrap()
    }

    fn schema() -> FormSchema {
        FormSchema::new(vec![FieldSpec::new(
            "notes",
            FieldKind::Text,
            PiiCategory::FreeText,
            false,
        )])
        .unwrap()
    }

    #[test]
    fn a_consent_form_must_serve_the_forms_own_consent_based_purpose() {
        let at = datetime!(2026-01-01 0:00 UTC);
        let t = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let contractors = purpose("contractors", LawfulBasis::Consent);
        let news = purpose("news", LawfulBasis::Consent);
        let mut form = Form::define(t, "Contractors", schema(), &contractors, at).unwrap();
        let wrong = ConsentForm::publish(t, &news, "News", "text", at).unwrap();
        assert!(matches!(
            form.attach_consent_form(&contractors, &wrong),
            Err(FormError::PurposeMismatch { .. })
        ));
        let right = ConsentForm::publish(t, &contractors, "Contractors", "text", at).unwrap();
        form.attach_consent_form(&contractors, &right).unwrap();
        assert_eq!(form.consent_form, Some(right.id));

        let billing = purpose("billing", LawfulBasis::Contract);
        let mut invoices = Form::define(t, "Invoices", schema(), &billing, at).unwrap();
        assert!(matches!(
            invoices.attach_consent_form(&billing, &right),
            Err(FormError::Consent(ConsentError::NotConsentBased { .. }))
        ));
        assert_eq!(
            Form::define(t, " ", schema(), &billing, at),
            Err(FormError::InvalidName)
        );
    }
}
