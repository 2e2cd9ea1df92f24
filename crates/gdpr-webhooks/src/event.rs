//! The events a webhook carries, each drawn from one audit record: the record's tenant, time,
//! subject id and ids in its details — never personal data, since the audit chain holds none.

use std::collections::BTreeMap;

use gdpr_audit::{AuditAction, AuditRecord};
use gdpr_pii::TenantId;
use serde::Serialize;
use time::OffsetDateTime;

/// What happened, as an endpoint subscribes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// A subject registered.
    SubjectCreated,
    /// A subject erased (Art. 17): recipients must erase too (Art. 17(2), 19).
    SubjectErased,
    /// Consent given.
    ConsentGiven,
    /// Consent withdrawn (Art. 7(3)): stop processing on that basis.
    ConsentWithdrawn,
    /// A restriction (Art. 18) or objection (Art. 21) placed.
    ProcessingLimited,
    /// A restriction or objection lifted.
    ProcessingLimitLifted,
    /// Records deleted (one, or a batch).
    RecordsDeleted,
    /// Records deleted at the end of their retention period.
    RecordsExpired,
    /// A data-subject request opened.
    RequestOpened,
    /// A request's deadline extended.
    RequestExtended,
    /// A request completed or refused.
    RequestClosed,
    /// An open request is due within a week (Art. 12(3)).
    RequestDueSoon,
    /// An open request is past its due date.
    RequestOverdue,
    /// The tenant's offboarding scheduled.
    TenantOffboarding,
    /// One of the tenant's endpoints disabled after failing for the whole retry window.
    EndpointDisabled,
    /// A personal data breach recorded (Art. 33).
    BreachRecorded,
    /// One person a breach touches to be told (Art. 34): the SaaS sends the message.
    BreachSubjectNotified,
}

/// An event type no endpoint can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type: each is one of {}", EventType::ALL.map(EventType::as_str).join(", "))]
pub struct UnknownEventType;

impl EventType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [Self; 17] = [
        Self::SubjectCreated,
        Self::SubjectErased,
        Self::ConsentGiven,
        Self::ConsentWithdrawn,
        Self::ProcessingLimited,
        Self::ProcessingLimitLifted,
        Self::RecordsDeleted,
        Self::RecordsExpired,
        Self::RequestOpened,
        Self::RequestExtended,
        Self::RequestClosed,
        Self::RequestDueSoon,
        Self::RequestOverdue,
        Self::TenantOffboarding,
        Self::EndpointDisabled,
        Self::BreachRecorded,
        Self::BreachSubjectNotified,
    ];

    /// Its name on the wire (`type` of the payload).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SubjectCreated => "subject.created",
            Self::SubjectErased => "subject.erased",
            Self::ConsentGiven => "consent.given",
            Self::ConsentWithdrawn => "consent.withdrawn",
            Self::ProcessingLimited => "processing.limited",
            Self::ProcessingLimitLifted => "processing.limit_lifted",
            Self::RecordsDeleted => "records.deleted",
            Self::RecordsExpired => "records.expired",
            Self::RequestOpened => "request.opened",
            Self::RequestExtended => "request.extended",
            Self::RequestClosed => "request.closed",
            Self::RequestDueSoon => "request.due_soon",
            Self::RequestOverdue => "request.overdue",
            Self::TenantOffboarding => "tenant.offboarding",
            Self::EndpointDisabled => "endpoint.disabled",
            Self::BreachRecorded => "breach.recorded",
            Self::BreachSubjectNotified => "breach.subject_notified",
        }
    }

    /// The type a name stands for.
    ///
    /// # Errors
    /// [`UnknownEventType`].
    pub fn parse(name: &str) -> Result<Self, UnknownEventType> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or(UnknownEventType)
    }

    /// The type an audit action announces, if any (reads, listings and the vault's own
    /// housekeeping announce nothing).
    #[must_use]
    pub const fn of(action: AuditAction) -> Option<Self> {
        Some(match action {
            AuditAction::SubjectCreated => Self::SubjectCreated,
            AuditAction::SubjectErased => Self::SubjectErased,
            AuditAction::ConsentGiven => Self::ConsentGiven,
            AuditAction::ConsentWithdrawn => Self::ConsentWithdrawn,
            AuditAction::ProcessingLimited => Self::ProcessingLimited,
            AuditAction::ProcessingLimitLifted => Self::ProcessingLimitLifted,
            AuditAction::RecordDeleted | AuditAction::RecordsBatchDeleted => Self::RecordsDeleted,
            AuditAction::RecordsExpired => Self::RecordsExpired,
            AuditAction::RequestOpened => Self::RequestOpened,
            AuditAction::RequestExtended => Self::RequestExtended,
            AuditAction::RequestClosed => Self::RequestClosed,
            AuditAction::RequestDueSoon => Self::RequestDueSoon,
            AuditAction::RequestOverdue => Self::RequestOverdue,
            AuditAction::TenantOffboardingScheduled => Self::TenantOffboarding,
            AuditAction::WebhookEndpointDisabled => Self::EndpointDisabled,
            AuditAction::BreachRecorded => Self::BreachRecorded,
            AuditAction::BreachSubjectNotified => Self::BreachSubjectNotified,
            _ => return None,
        })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as every endpoint subscribed to its type receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id: the same for every endpoint and every retry (`webhook-id`), so that a receiver
    /// can drop a duplicate. `evt_<tenant>_<audit seq>`.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// The tenant it happened in.
    pub tenant: TenantId,
    /// When.
    pub at: OffsetDateTime,
    /// The audit record it comes from (its position in the tenant's chain).
    pub audit_seq: u64,
    /// Ids and counts: the subject, and the record's details.
    pub data: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    id: &'a str,
    tenant: TenantId,
    audit_seq: u64,
    #[serde(flatten)]
    details: &'a BTreeMap<String, String>,
}

/// What every id of a tenant's events starts with (`evt_<tenant>_`, then the audit record's
/// position): deliveries kept outside the tenant (the deployment's endpoints') are found by it.
#[must_use]
pub fn event_id_prefix(tenant: TenantId) -> String {
    format!("evt_{}_", tenant.as_uuid().simple())
}

impl Event {
    /// The event an audit record announces, if any.
    #[must_use]
    pub fn from_audit(record: &AuditRecord) -> Option<Self> {
        let kind = EventType::of(record.event.action)?;
        let tenant = record.event.tenant?;
        let mut data = record.event.details.clone();
        if let Some(subject) = record.event.subject {
            data.insert("subject".into(), subject.to_string());
        }
        Some(Self {
            id: format!("{}{}", event_id_prefix(tenant), record.seq),
            kind,
            tenant,
            at: record.event.at,
            audit_seq: record.seq,
            data,
        })
    }

    /// The body sent: `{"type", "timestamp", "data": {...}}`, as the Standard Webhooks
    /// specification shapes it.
    #[must_use]
    pub fn payload(&self) -> String {
        let payload = Payload {
            kind: self.kind.as_str(),
            timestamp: self.at,
            data: Data {
                id: &self.id,
                tenant: self.tenant,
                audit_seq: self.audit_seq,
                details: &self.data,
            },
        };
        serde_json::to_string(&payload).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, EventType};
    use gdpr_audit::{Actor, AuditAction, AuditEvent, AuditRecord};
    use gdpr_pii::{SubjectId, TenantId};
    use time::macros::datetime;

    #[test]
    fn an_audit_record_becomes_an_event_of_ids_only_and_reads_go_unannounced() {
        let at = datetime!(2026-12-07 10:00 UTC);
        let tenant = TenantId::at(at);
        let subject = SubjectId::at(at);
        let event = AuditEvent::new(
            at,
            Some(tenant),
            Actor::System,
            AuditAction::ConsentWithdrawn,
        )
        .about(subject)
        .with("consent_form", "cf1");
        let record = AuditRecord::chain(None, event);
        let e = Event::from_audit(&record).unwrap();
        assert_eq!(e.kind, EventType::ConsentWithdrawn);
        assert_eq!(e.id, format!("evt_{}_1", tenant.as_uuid().simple()));
        let body: serde_json::Value = serde_json::from_str(&e.payload()).unwrap();
        assert_eq!(body["type"], "consent.withdrawn");
        assert_eq!(body["timestamp"], "2026-12-07T10:00:00Z");
        assert_eq!(body["data"]["subject"], subject.to_string());
        assert_eq!(body["data"]["consent_form"], "cf1");
        assert_eq!(body["data"]["audit_seq"], 1);

        let read = AuditEvent::new(at, Some(tenant), Actor::System, AuditAction::SubjectViewed);
        assert_eq!(Event::from_audit(&AuditRecord::chain(None, read)), None);
        let system = AuditEvent::new(at, None, Actor::System, AuditAction::SubjectErased);
        assert_eq!(Event::from_audit(&AuditRecord::chain(None, system)), None);
    }

    #[test]
    fn every_type_reads_back_from_its_name_and_nothing_else_does() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
        }
        let err = EventType::parse("subject.viewed").unwrap_err().to_string();
        assert!(err.contains("subject.erased"), "{err}");
    }
}
