//! Wire types of consent forms, giving and withdrawing consent, and its receipts.

use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

mirror!(
    /// How consent was given or withdrawn.
    Method <=> gdpr_consent::ConsentMethod {
        /// A web form.
        WebForm,
        /// An API call.
        Api,
        /// A paper form.
        Paper,
        /// An e-mail.
        Email,
        /// Recorded verbally.
        Verbal,
    }
);

/// A consent form to publish.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ConsentFormIn {
    /// Its consent-based purpose.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: Text,
    /// Title.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) title: Prose,
    /// The exact text shown to subjects.
    #[oai(validator(max_length = 100000, custom = "crate::dto::NotBlank"))]
    pub(crate) text: Prose,
}

/// A new version of a consent form.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct VersionIn {
    /// The new text.
    #[oai(validator(max_length = 100000, custom = "crate::dto::NotBlank"))]
    pub(crate) text: Prose,
    /// Whether earlier consents stop counting.
    pub(crate) requires_reconsent: bool,
}

/// A published version.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct VersionOut {
    /// 1, 2, ...
    pub(crate) number: u32,
    /// SHA-256 of the text.
    pub(crate) hash: String,
    /// The text.
    pub(crate) text: String,
    /// Published.
    pub(crate) published_at: OffsetDateTime,
    /// Whether it required re-consent.
    pub(crate) requires_reconsent: bool,
}

/// A consent form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentFormOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Purpose.
    pub(crate) purpose: String,
    /// Title.
    pub(crate) title: String,
    /// Versions, oldest first.
    pub(crate) versions: Vec<VersionOut>,
    /// When it was retired (no consent is given under it since); `null`: in use.
    pub(crate) retired_at: Option<OffsetDateTime>,
}

/// Giving or withdrawing consent.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ConsentIn {
    /// The consent form.
    pub(crate) consent_form: Uuid,
    /// How.
    pub(crate) method: Method,
    /// The address the subject acted from; only its network is kept.
    pub(crate) source_ip: Option<IpText>,
    /// The version shown, by the SHA-256 of its text (default: the latest).
    #[oai(validator(pattern = r"^[0-9a-fA-F]{64}$"))]
    pub(crate) version: Option<Text>,
}

/// Where a subject stands with a consent form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ConsentStatusDto {
    /// Current.
    Given,
    /// Withdrawn.
    Withdrawn,
    /// Given to a version since replaced by one requiring re-consent.
    ReconsentRequired,
    /// Never given.
    NeverGiven,
}

/// A subject's consent to one form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentStateOut {
    /// The consent form.
    pub(crate) consent_form: Uuid,
    /// Its purpose.
    pub(crate) purpose: String,
    /// The status.
    pub(crate) status: ConsentStatusDto,
    /// When given or withdrawn.
    pub(crate) at: Option<OffsetDateTime>,
    /// The version consented to.
    pub(crate) version: Option<String>,
}

/// Whether a subject's data may be processed for a purpose now.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentCheckOut {
    /// The purpose.
    pub(crate) purpose: String,
    /// Whether the subject currently consents to it (consent-based purposes).
    pub(crate) consented: bool,
    /// The answer to act on: the purpose's basis holds (consent given where it is the basis)
    /// and no restriction or objection forbids the processing.
    pub(crate) may_process: bool,
    /// What forbids it, if anything: `restriction` (Art. 18) or `objection` (Art. 21).
    pub(crate) blocked_by: Option<LimitKindIo>,
}

mirror!(
    /// Giving or withdrawing.
    ConsentActionDto <=> gdpr_consent::ConsentAction {
        /// Consent given.
        Given,
        /// Consent withdrawn; effective at once.
        Withdrawn,
    }
);

/// The controller, as a consent receipt names it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ControllerOut {
    /// Legal name.
    #[oai(rename = "piiController")]
    pub(crate) name: String,
    /// A contact point (a role, a DPO).
    pub(crate) contact: String,
    /// The controller's contact e-mail.
    pub(crate) email: String,
}

/// One purpose as a consent receipt lists it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ReceiptPurposeOut {
    /// The purpose in words.
    pub(crate) purpose: String,
    /// The purpose's id.
    pub(crate) purpose_category: Vec<String>,
    /// `EXPLICIT`.
    pub(crate) consent_type: String,
    /// The categories of data processed for it.
    pub(crate) pii_category: Vec<String>,
    /// Always `true`.
    pub(crate) primary_purpose: bool,
    /// How the consent ends.
    pub(crate) termination: String,
    /// Whether data is disclosed to third parties for it.
    pub(crate) third_party_disclosure: bool,
}

/// One service (a consent form) as a consent receipt lists it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ReceiptServiceOut {
    /// The consent form's title.
    pub(crate) service: String,
    /// Its purposes.
    pub(crate) purposes: Vec<ReceiptPurposeOut>,
}

/// A consent receipt in the shape of the Kantara Initiative Consent Receipt Specification
/// v1.1, plus the action, the exact version hash and the pseudonymised source.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub(crate) struct ConsentReceiptOut {
    /// `KI-CR-v1.1.0`.
    pub(crate) version: String,
    /// `EU`.
    pub(crate) jurisdiction: String,
    /// Seconds since the Unix epoch.
    pub(crate) consent_timestamp: i64,
    /// How consent was collected.
    pub(crate) collection_method: String,
    /// The consent event's id.
    #[oai(rename = "consentReceiptID")]
    pub(crate) consent_receipt_id: String,
    /// `en`.
    pub(crate) language: String,
    /// The subject's pseudonymous id.
    pub(crate) pii_principal_id: String,
    /// The controller.
    pub(crate) pii_controllers: Vec<ControllerOut>,
    /// The controller's privacy policy.
    pub(crate) policy_url: String,
    /// The consent form and purpose.
    pub(crate) services: Vec<ReceiptServiceOut>,
    /// Whether special categories of data are involved.
    pub(crate) sensitive: bool,
    /// The special categories involved.
    pub(crate) spi_cat: Vec<String>,
    /// Given or withdrawn.
    pub(crate) action: ConsentActionDto,
    /// The SHA-256 of the exact consent text.
    pub(crate) consent_form_version: String,
    /// The pseudonymised network the consent came from.
    pub(crate) source: Option<String>,
}
