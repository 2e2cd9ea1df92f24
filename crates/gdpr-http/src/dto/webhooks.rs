//! Webhook endpoints and their deliveries on the wire.

use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Text;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum DeliveryStateDto {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Dead-lettered.
    Failed,
}

impl From<DeliveryStateDto> for gdpr_ports::DeliveryState {
    fn from(s: DeliveryStateDto) -> Self {
        match s {
            DeliveryStateDto::Pending => Self::Pending,
            DeliveryStateDto::Delivered => Self::Delivered,
            DeliveryStateDto::Failed => Self::Failed,
        }
    }
}

crate::dto::mirror!(
    /// What confirms an erasure for an endpoint that confirms them (Art. 19).
    ConfirmedByDto <=> gdpr_webhooks::ConfirmedBy {
        /// Its 2xx to `subject.erased`: it was told.
        Delivery,
        /// Its signed call back (`POST /webhooks/endpoints/{id}/erasure-confirmations`), once
        /// it has erased the subject on its side; a 2xx alone leaves the erasure pending.
        Callback,
    }
);

/// An event type an endpoint subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum EventTypeDto {
    /// A subject registered.
    #[oai(rename = "subject.created")]
    SubjectCreated,
    /// A subject erased.
    #[oai(rename = "subject.erased")]
    SubjectErased,
    /// Consent given.
    #[oai(rename = "consent.given")]
    ConsentGiven,
    /// Consent withdrawn.
    #[oai(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    /// A restriction or objection placed.
    #[oai(rename = "processing.limited")]
    ProcessingLimited,
    /// A restriction or objection lifted.
    #[oai(rename = "processing.limit_lifted")]
    ProcessingLimitLifted,
    /// Records deleted.
    #[oai(rename = "records.deleted")]
    RecordsDeleted,
    /// Records expired.
    #[oai(rename = "records.expired")]
    RecordsExpired,
    /// A request opened.
    #[oai(rename = "request.opened")]
    RequestOpened,
    /// A request extended.
    #[oai(rename = "request.extended")]
    RequestExtended,
    /// A request closed.
    #[oai(rename = "request.closed")]
    RequestClosed,
    /// An open request due within a week.
    #[oai(rename = "request.due_soon")]
    RequestDueSoon,
    /// An open request past its due date.
    #[oai(rename = "request.overdue")]
    RequestOverdue,
    /// The tenant's offboarding scheduled.
    #[oai(rename = "tenant.offboarding")]
    TenantOffboarding,
    /// Another endpoint disabled.
    #[oai(rename = "endpoint.disabled")]
    EndpointDisabled,
    /// A breach recorded.
    #[oai(rename = "breach.recorded")]
    BreachRecorded,
    /// One person a breach touches to be told.
    #[oai(rename = "breach.subject_notified")]
    BreachSubjectNotified,
}

impl From<EventTypeDto> for gdpr_webhooks::EventType {
    fn from(e: EventTypeDto) -> Self {
        use gdpr_webhooks::EventType as E;
        match e {
            EventTypeDto::SubjectCreated => E::SubjectCreated,
            EventTypeDto::SubjectErased => E::SubjectErased,
            EventTypeDto::ConsentGiven => E::ConsentGiven,
            EventTypeDto::ConsentWithdrawn => E::ConsentWithdrawn,
            EventTypeDto::ProcessingLimited => E::ProcessingLimited,
            EventTypeDto::ProcessingLimitLifted => E::ProcessingLimitLifted,
            EventTypeDto::RecordsDeleted => E::RecordsDeleted,
            EventTypeDto::RecordsExpired => E::RecordsExpired,
            EventTypeDto::RequestOpened => E::RequestOpened,
            EventTypeDto::RequestExtended => E::RequestExtended,
            EventTypeDto::RequestClosed => E::RequestClosed,
            EventTypeDto::RequestDueSoon => E::RequestDueSoon,
            EventTypeDto::RequestOverdue => E::RequestOverdue,
            EventTypeDto::TenantOffboarding => E::TenantOffboarding,
            EventTypeDto::EndpointDisabled => E::EndpointDisabled,
            EventTypeDto::BreachRecorded => E::BreachRecorded,
            EventTypeDto::BreachSubjectNotified => E::BreachSubjectNotified,
        }
    }
}

/// An endpoint to register, or its new description.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct EndpointIn {
    /// Where events are posted: `https`, never a loopback, private or link-local address
    /// (unless the operator allows them: 403 otherwise). A host name or an IPv4 address, a port
    /// up to 65535, a path of printable ASCII.
    #[oai(validator(
        max_length = 2000,
        pattern = r"^[A-Za-z][A-Za-z0-9+.-]*://(((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])|([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[!-~]*)?$"
    ))]
    pub(crate) url: Text,
    /// What it is for.
    #[oai(default, validator(max_length = 500))]
    pub(crate) description: Text,
    /// The event types it wants (`subject.erased`, `consent.withdrawn`, ...); empty or absent:
    /// every type.
    #[oai(default, validator(max_items = 20))]
    pub(crate) events: Vec<EventTypeDto>,
    /// Whether it confirms erasures (Art. 19): the erasure is pending on it until it has,
    /// by `erasure_confirmed_by`.
    #[oai(default)]
    pub(crate) confirms_erasure: bool,
    /// What confirms an erasure: `delivery` (its 2xx, the default) or `callback` (its signed
    /// call back once it has erased the subject). Given, it makes the endpoint one that
    /// confirms erasures, whatever `confirms_erasure` says.
    #[oai(default)]
    pub(crate) erasure_confirmed_by: Option<ConfirmedByDto>,
    /// On a change: bring a disabled endpoint back (it then receives what it missed).
    #[oai(default)]
    pub(crate) enabled: Option<bool>,
}

/// An endpoint (never its secrets).
#[derive(Object)]
pub(crate) struct EndpointOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// Where events are posted.
    pub(crate) url: String,
    /// What it is for.
    pub(crate) description: String,
    /// The event types it wants; empty: every type.
    pub(crate) events: Vec<String>,
    /// Whether it confirms erasures.
    pub(crate) confirms_erasure: bool,
    /// What confirms an erasure, if it confirms them.
    pub(crate) erasure_confirmed_by: Option<ConfirmedByDto>,
    /// Whether it receives events.
    pub(crate) enabled: bool,
    /// When it was disabled.
    pub(crate) disabled_at: Option<OffsetDateTime>,
    /// Why.
    pub(crate) disabled_reason: Option<String>,
    /// How many secrets sign now (two for a day after a rotation).
    pub(crate) signing_secrets: u32,
    /// When it was registered.
    pub(crate) created_at: OffsetDateTime,
}

/// An endpoint and its new signing secret, shown this once.
#[derive(Object)]
pub(crate) struct IssuedEndpointOut {
    /// The endpoint.
    pub(crate) endpoint: EndpointOut,
    /// The signing secret (`whsec_...`): configure the receiver with it. Not shown again.
    pub(crate) secret: String,
}

/// One delivery of one event to one endpoint.
#[derive(Object)]
pub(crate) struct DeliveryOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The endpoint.
    pub(crate) endpoint: Uuid,
    /// The event's id (`webhook-id`).
    pub(crate) event_id: String,
    /// The event's type.
    pub(crate) event_type: String,
    /// The subject the event is about.
    pub(crate) subject: Option<Uuid>,
    /// `pending`, `delivered` or `failed` (dead-lettered).
    pub(crate) state: String,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// When it is next tried (pending).
    pub(crate) next_attempt_at: Option<OffsetDateTime>,
    /// When it was queued.
    pub(crate) created_at: OffsetDateTime,
    /// When it was last tried.
    pub(crate) last_attempt_at: Option<OffsetDateTime>,
    /// The status the endpoint last answered.
    pub(crate) last_status: Option<u16>,
    /// The last failure, as a rule (never the answer's body).
    pub(crate) last_error: Option<String>,
    /// When the endpoint answered 2xx.
    pub(crate) delivered_at: Option<OffsetDateTime>,
    /// The body sent (ids, kinds and times only).
    pub(crate) payload: String,
}

/// A page of deliveries, newest first.
#[derive(Object)]
pub(crate) struct DeliveryPage {
    /// The deliveries.
    pub(crate) items: Vec<DeliveryOut>,
    /// Where the next page starts: pass it as `after`. Absent on the last page.
    pub(crate) next: Option<String>,
}

/// Deliveries to queue again.
#[derive(Object)]
pub(crate) struct ReplayOut {
    /// How many were queued again.
    pub(crate) replayed: u64,
}

/// Where an erasure stands with a recipient that confirms erasures (Art. 19).
#[derive(Object)]
pub(crate) struct ConfirmationOut {
    /// The endpoint.
    pub(crate) endpoint: Uuid,
    /// Its URL.
    pub(crate) url: String,
    /// `confirmed`, `pending` or `overdue` (not confirmed within three days).
    pub(crate) state: String,
    /// What confirms it: `delivery` (the endpoint's 2xx) or `callback` (its signed call back).
    pub(crate) confirmed_by: ConfirmedByDto,
    /// When it confirmed.
    pub(crate) confirmed_at: Option<OffsetDateTime>,
}

/// A recipient's confirmation that it erased a subject on its side (Art. 19).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ErasureConfirmationIn {
    /// The subject it erased: the `subject` of the `subject.erased` event it received.
    pub(crate) subject: Uuid,
}

/// A recipient's confirmation, as kept (the first one, if it was given again).
#[derive(Object)]
pub(crate) struct ErasureConfirmedOut {
    /// The endpoint.
    pub(crate) endpoint: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// When it first confirmed.
    pub(crate) confirmed_at: OffsetDateTime,
}
