//! Wire types of purposes, forms and their records.

use gdpr_pii::{FieldKind, PiiCategory};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

mirror!(
    /// What a field's values are.
    Kind <=> FieldKind {
        /// Text up to 10,000 characters.
        Text,
        /// An e-mail address.
        Email,
        /// A number.
        Number,
        /// true or false.
        Boolean,
        /// YYYY-MM-DD.
        Date,
    }
);

mirror!(
    /// What kind of personal data a field holds (or `not_personal`).
    Category <=> PiiCategory {
        /// E-mail address.
        Email,
        /// Full name.
        FullName,
        /// IP address.
        IpAddress,
        /// Telephone number.
        Phone,
        /// Postal address.
        PostalAddress,
        /// Date of birth.
        DateOfBirth,
        /// National identification number.
        NationalId,
        /// Free text.
        FreeText,
        /// Declared not personal.
        NotPersonal,
    }
);

mirror!(
    /// The lawful basis of a purpose (GDPR Art. 6(1)).
    Basis <=> gdpr_consent::LawfulBasis {
        /// (a) consent.
        Consent,
        /// (b) contract.
        Contract,
        /// (c) legal obligation.
        LegalObligation,
        /// (d) vital interests.
        VitalInterests,
        /// (e) public task.
        PublicTask,
        /// (f) legitimate interests.
        LegitimateInterests,
    }
);

/// A purpose to declare.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct PurposeIn {
    /// Identifier: 1 to 64 lowercase letters, digits, '-' and '_', starting with a letter.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) id: Text,
    /// What the processing is for.
    #[oai(validator(max_length = 1000, custom = "crate::dto::NotBlank"))]
    pub(crate) description: Prose,
    /// Its lawful basis.
    pub(crate) lawful_basis: Basis,
}

/// A purpose.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PurposeOut {
    /// Identifier.
    pub(crate) id: String,
    /// Description.
    pub(crate) description: String,
    /// Lawful basis.
    pub(crate) lawful_basis: Basis,
    /// Its article, e.g. `Art. 6(1)(a)`.
    pub(crate) article: String,
}

/// A form field and its classification: parsed as [`FieldFields`], documented as
/// [`shapes::Field`].
pub(crate) type FieldIn = Shaped<FieldFields, shapes::Field>;

/// The parts of a form field.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct FieldFields {
    /// Name: lowercase letters, digits and '_'.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub(crate) name: Text,
    /// Value type.
    pub(crate) kind: Kind,
    /// PII category (declare `not_personal` explicitly). Optional here only so that its
    /// absence gets the domain's error, which names the field; the document requires it.
    pub(crate) category: Option<Category>,
    /// Whether every record must have it.
    #[oai(default)]
    pub(crate) required: bool,
}

/// A field of a form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FieldOut {
    /// Name.
    pub(crate) name: String,
    /// Value type.
    pub(crate) kind: Kind,
    /// PII category.
    pub(crate) category: Category,
    /// Required.
    pub(crate) required: bool,
}

/// A form to define.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct FormIn {
    /// Name, unique in the tenant.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) name: Prose,
    /// The purpose it serves.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: Text,
    /// Its fields, each classified, each name once (422 otherwise: JSON Schema cannot say
    /// that items differ by one property).
    #[oai(validator(min_items = 1, max_items = 200))]
    pub(crate) fields: Vec<FieldIn>,
}

/// A form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FormOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Name.
    pub(crate) name: String,
    /// Purpose.
    pub(crate) purpose: String,
    /// The consent form records need, if the purpose rests on consent.
    pub(crate) consent_form: Option<Uuid>,
    /// Its own retention period for its records, in days; `null`: the tenant's applies.
    pub(crate) retention_days: Option<u32>,
    /// Fields.
    pub(crate) fields: Vec<FieldOut>,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
}

/// A consent form to attach.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct AttachIn {
    /// The consent form.
    pub(crate) consent_form: Uuid,
}

/// A record to submit.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RecordIn {
    /// The form.
    pub(crate) form: Uuid,
    /// The subject it is about.
    pub(crate) subject: Uuid,
    /// Field values, as the form's schema says.
    pub(crate) values: Value,
}

/// A record.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Form.
    pub(crate) form: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Values.
    pub(crate) values: Value,
    /// Submitted.
    pub(crate) created_at: OffsetDateTime,
}

/// A page of records.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordPage {
    /// The records.
    pub(crate) items: Vec<RecordOut>,
    /// Records of this page withheld because their subject's processing is stopped (a
    /// restriction, an objection to the purpose, consent withdrawn): read for processing only.
    pub(crate) withheld: u64,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
    /// Where the next page starts: pass it as `after`. Absent on a page that is not full
    /// (the last one).
    pub(crate) next: Option<String>,
}

mirror!(
    /// Why records are read. `processing` (the default): to use them for the form's purpose,
    /// refused (409 `processing-blocked` or `consent-required`) while the subject's processing
    /// is stopped, and their records withheld from a listing. `legal_claims`: to establish,
    /// exercise or defend legal claims (Art. 18(2)), allowed and audited as such. The
    /// subject's own access goes through `/subjects/{id}/export`.
    ReadUseDto <=> gdpr_app::ReadUse {
        /// For the form's purpose.
        Processing,
        /// For legal claims.
        LegalClaims,
    }
);
