//! Personal data breaches on the wire (Art. 33, 34).

use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Category, Prose, Text, mirror};

mirror!(
    /// What the breach did to the data.
    BreachKindDto <=> gdpr_rights::BreachKind {
        /// Disclosed to, or reached by, someone who should not have it.
        Confidentiality,
        /// Altered without authority.
        Integrity,
        /// Lost, or out of reach.
        Availability,
    }
);

/// A breach to record, or what is now known of it. Its texts describe the breach, never the
/// people in it.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct BreachIn {
    /// A short title.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) title: Prose,
    /// When the controller became aware of it: the 72-hour clock starts here.
    pub(crate) detected_at: OffsetDateTime,
    /// When it began, if known.
    pub(crate) occurred_at: Option<OffsetDateTime>,
    /// What it did to the data.
    #[oai(validator(min_items = 1, max_items = 3))]
    pub(crate) kinds: Vec<BreachKindDto>,
    /// Its nature, in words (Art. 33(3)(a)).
    #[oai(validator(max_length = 4000, custom = "crate::dto::NotBlank"))]
    pub(crate) nature: Prose,
    /// The categories of personal data concerned.
    #[oai(default, validator(max_items = 20))]
    pub(crate) categories: Vec<Category>,
    /// Approximately how many people.
    #[oai(
        default,
        validator(minimum(value = "0"), maximum(value = "1000000000000"))
    )]
    pub(crate) subjects_approx: u64,
    /// Approximately how many records.
    #[oai(
        default,
        validator(minimum(value = "0"), maximum(value = "1000000000000000"))
    )]
    pub(crate) records_approx: u64,
    /// Its likely consequences (Art. 33(3)(c)).
    #[oai(default, validator(max_length = 4000))]
    pub(crate) consequences: Text,
    /// The measures taken or proposed (Art. 33(3)(d)).
    #[oai(default, validator(max_length = 4000))]
    pub(crate) measures: Text,
}

/// Where the 72-hour clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ClockDto {
    /// Not notified yet, within 72 hours.
    Running,
    /// Not notified, past 72 hours.
    Overdue,
    /// Notified within 72 hours.
    Notified,
    /// Notified after 72 hours (with the reasons for the delay).
    NotifiedLate,
}

/// The authority's notification.
#[derive(Object)]
pub(crate) struct NoticeOut {
    /// When.
    pub(crate) notified_at: OffsetDateTime,
    /// The authority's reference.
    pub(crate) reference: Option<String>,
    /// Why it came after 72 hours.
    pub(crate) late_reason: Option<String>,
}

/// The decision whether the people affected must be told.
#[derive(Object)]
pub(crate) struct DecisionOut {
    /// Whether they must be told.
    pub(crate) notify: bool,
    /// Why.
    pub(crate) reason: String,
    /// When it was decided.
    pub(crate) decided_at: OffsetDateTime,
}

/// The people a selector found.
#[derive(Object)]
pub(crate) struct AffectedOut {
    /// People.
    pub(crate) subjects: u64,
    /// Their records.
    pub(crate) records: u64,
    /// When they were counted.
    pub(crate) computed_at: OffsetDateTime,
}

/// A breach in the register.
#[derive(Object)]
pub(crate) struct BreachOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// Whether it is the deployment's (touching every tenant).
    pub(crate) deployment: bool,
    /// A short title.
    pub(crate) title: String,
    /// When it was detected.
    pub(crate) detected_at: OffsetDateTime,
    /// When it began.
    pub(crate) occurred_at: Option<OffsetDateTime>,
    /// What it did to the data.
    pub(crate) kinds: Vec<BreachKindDto>,
    /// Its nature.
    pub(crate) nature: String,
    /// The categories of personal data concerned.
    pub(crate) categories: Vec<Category>,
    /// Approximately how many people.
    pub(crate) subjects_approx: u64,
    /// Approximately how many records.
    pub(crate) records_approx: u64,
    /// Its likely consequences.
    pub(crate) consequences: String,
    /// The measures taken or proposed.
    pub(crate) measures: String,
    /// When the authority must be notified (72 hours after detection).
    pub(crate) due_at: OffsetDateTime,
    /// Where the clock stands.
    pub(crate) clock: ClockDto,
    /// The authority's notification.
    pub(crate) authority: Option<NoticeOut>,
    /// Whether the people affected must be told, and why.
    pub(crate) subjects_decision: Option<DecisionOut>,
    /// The people a selector found.
    pub(crate) affected: Option<AffectedOut>,
    /// When the people affected were told.
    pub(crate) subjects_notified_at: Option<OffsetDateTime>,
}

/// The authority's notification, as made.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct NoticeIn {
    /// When it was made.
    pub(crate) notified_at: OffsetDateTime,
    /// The authority's reference for it.
    #[oai(validator(max_length = 200))]
    pub(crate) reference: Option<Text>,
    /// Why it came after 72 hours (required then).
    #[oai(validator(max_length = 2000))]
    pub(crate) late_reason: Option<Text>,
}

/// Whether the people affected must be told (Art. 34).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct DecisionIn {
    /// Whether they must be told.
    pub(crate) notify: bool,
    /// Why: the high risk, or the exemption of Art. 34(3) that applies.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// How many people were told.
#[derive(Object)]
pub(crate) struct ToldOut {
    /// People whose id went out as a `breach.subject_notified` event.
    pub(crate) notified: u64,
}
