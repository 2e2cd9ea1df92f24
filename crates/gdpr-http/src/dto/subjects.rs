//! Wire types of subjects: profiles, look-up, import, legal holds, restrictions and
//! objections, exports.

use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

mirror!(
    /// The Art. 17(3) ground of a legal hold.
    Ground <=> gdpr_rights::HoldGround {
        /// (a).
        FreedomOfExpression,
        /// (b).
        LegalObligation,
        /// (c).
        PublicHealth,
        /// (d).
        Archiving,
        /// (e).
        LegalClaims,
    }
);

/// A subject to register.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct SubjectIn {
    /// E-mail address (normalised to lower case).
    pub(crate) email: Option<EmailText>,
    /// Full name.
    pub(crate) full_name: Option<NameText>,
    /// IP address.
    pub(crate) ip_address: Option<IpText>,
}

/// Changes to a subject's profile: an absent field is kept, `null` clears it.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RectifyIn {
    /// E-mail address.
    pub(crate) email: MaybeUndefined<EmailText>,
    /// Full name.
    pub(crate) full_name: MaybeUndefined<NameText>,
    /// IP address.
    pub(crate) ip_address: MaybeUndefined<IpText>,
}

/// A look-up by e-mail (in the body, so the address never lands in a URL or an access log).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct LookupIn {
    /// The address.
    pub(crate) email: EmailText,
}

/// A subject.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SubjectOut {
    /// Id.
    pub(crate) id: Uuid,
    /// E-mail.
    pub(crate) email: Option<String>,
    /// Full name.
    pub(crate) full_name: Option<String>,
    /// IP address.
    pub(crate) ip_address: Option<String>,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
    /// Last changed.
    pub(crate) updated_at: OffsetDateTime,
}

/// A page of subjects.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SubjectPage {
    /// The subjects.
    pub(crate) items: Vec<SubjectOut>,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
    /// Where the next page starts: pass it as `after`. Absent on a page that is not full
    /// (the last one).
    pub(crate) next: Option<String>,
}

/// One line of an import that was refused.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ImportError {
    /// Line number, from 1.
    pub(crate) line: u64,
    /// The field at fault, or empty for the line as a whole.
    pub(crate) field: String,
    /// What is wrong, never the value.
    pub(crate) reason: String,
}

/// What an import did: every line is either imported whole or refused whole.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ImportOut {
    /// Lines imported.
    pub(crate) imported: u64,
    /// Lines refused.
    pub(crate) failed: u64,
    /// The ids of the imported subjects, in line order (streamed: an import of a million
    /// lines does not hold them in memory).
    pub(crate) ids: Vec<Uuid>,
    /// Why each refused line was refused.
    pub(crate) errors: Vec<ImportError>,
}

/// A legal hold to place.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct HoldIn {
    /// Ground.
    pub(crate) ground: Ground,
    /// Why (a case number, a law), never personal data.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A legal hold.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct HoldOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Ground.
    pub(crate) ground: Ground,
    /// Reason.
    pub(crate) reason: String,
    /// Placed.
    pub(crate) placed_at: OffsetDateTime,
    /// Released.
    pub(crate) released_at: Option<OffsetDateTime>,
}

/// What an export holds.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ExportFormatIn {
    /// Everything held about the subject, with the Art. 15 context, as JSON
    /// (`docs/export.schema.json`).
    Json,
    /// The subject's records of one form as CSV, for portability (Art. 20).
    Csv,
}

/// A request for an export: parsed as [`ExportFields`], documented as [`shapes::Export`].
pub(crate) type ExportIn = Shaped<ExportFields, shapes::Export>;

/// The fields of a request for an export of a subject (Art. 15, 20).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ExportFields {
    /// `json` (the default) or `csv`.
    pub(crate) format: Option<ExportFormatIn>,
    /// The form whose records a `csv` export holds (required with `csv`; with `json`,
    /// refused even as `null`).
    pub(crate) form: MaybeUndefined<Uuid>,
    /// The requester's ASCII-armored OpenPGP public key. Without it, the export is encrypted to
    /// the deployment's configured recipients; with none configured, it is refused.
    pub(crate) recipient_key: Option<Text>,
}

/// An export waiting to be downloaded, once, before it expires.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ExportOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// `json` or `csv`.
    pub(crate) format: ExportFormatIn,
    /// The form, for `csv`.
    pub(crate) form: Option<Uuid>,
    /// When it was made.
    pub(crate) created_at: OffsetDateTime,
    /// When it is deleted if nobody downloaded it.
    pub(crate) expires_at: OffsetDateTime,
    /// The ciphertext's size in bytes.
    pub(crate) size: u64,
    /// Where to download it (once).
    pub(crate) download: String,
}

mirror!(
    /// A limit the subject puts on processing.
    LimitKindIo <=> gdpr_rights::LimitKind {
        /// Art. 18: restriction of processing (all of the subject's data).
        Restriction,
        /// Art. 21: objection to processing under legitimate interests.
        Objection,
    }
);

/// A restriction or objection to place: parsed as [`LimitFields`], documented as
/// [`shapes::Limit`].
pub(crate) type LimitIn = Shaped<LimitFields, shapes::Limit>;

/// The fields of a restriction or objection to place.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct LimitFields {
    /// `restriction` or `objection`.
    pub(crate) kind: LimitKindIo,
    /// For an objection, the one legitimate-interest purpose it concerns (default: all of
    /// them). A restriction names none.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: MaybeUndefined<Text>,
    /// Why (the contested accuracy, the subject's grounds): 1 to 2,000 characters.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A restriction or objection.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct LimitOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// `restriction` or `objection`.
    pub(crate) kind: LimitKindIo,
    /// The article.
    pub(crate) article: String,
    /// The purpose an objection concerns (none: every legitimate-interest purpose).
    pub(crate) purpose: Option<String>,
    /// Why.
    pub(crate) reason: String,
    /// When it was placed.
    pub(crate) placed_at: OffsetDateTime,
    /// When it was lifted.
    pub(crate) lifted_at: Option<OffsetDateTime>,
    /// Whether it is in force.
    pub(crate) active: bool,
}
