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
