//! Decisions that take data away or limit its use. Each is written to the decision journal,
//! outside the database, before it is made, and applied again after every restore: a restore
//! may lose data created after its snapshot, never a decision. Ids, kinds and times only: a
//! decision never holds personal data (a limit's or hold's free-text reason stays out).
//!
//! Every decision names the row it made (a receipt, an event, a limit, records), so that
//! applying it again finds it already in force and does nothing: replay is idempotent.

use gdpr_consent::{ConsentEventId, ConsentMethod, ContentHash};
use gdpr_pii::{ApiKeyId, ConsentFormId, ConsoleUserId, FormId, RecordId, SubjectId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::LimitKind;

/// One decision, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A subject was erased (its tombstone: the subject never comes back from a backup).
    SubjectErased {
        /// The subject.
        subject: SubjectId,
        /// The erasure receipt.
        receipt: Uuid,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// An erasure journaled before its transaction did not happen after all (a legal hold
    /// placed meanwhile, the subject already gone): the [`Decision::SubjectErased`] with this
    /// receipt is void.
    ErasureVoided {
        /// The receipt of the erasure that did not happen.
        receipt: Uuid,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// An API key was revoked (a restore never brings back a working key the tenant revoked).
    ApiKeyRevoked {
        /// The key.
        key: ApiKeyId,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A console user removed, or their password reset (a restore never brings back a user
    /// the operator removed, nor a password replaced since).
    ConsoleUserRevoked {
        /// The user.
        user: ConsoleUserId,
        /// Removed (else: their password reset).
        removed: bool,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A subject withdrew consent (Art. 7(3)): the withdrawal event, as recorded.
    ConsentWithdrawn {
        /// The subject.
        subject: SubjectId,
        /// The consent form.
        consent_form: ConsentFormId,
        /// The withdrawal event.
        event: ConsentEventId,
        /// The version consent had been given to (SHA-256 of its text).
        version: ContentHash,
        /// How the withdrawal came.
        method: ConsentMethod,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A restriction (Art. 18) or objection (Art. 21) was placed.
    LimitPlaced {
        /// The subject.
        subject: SubjectId,
        /// The limit.
        limit: Uuid,
        /// Restriction or objection.
        limit_kind: LimitKind,
        /// The purpose objected to, if one.
        purpose: Option<String>,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A restriction or objection was lifted.
    LimitLifted {
        /// The subject.
        subject: SubjectId,
        /// The limit.
        limit: Uuid,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Records were deleted (one, or a chunk of a batch deletion).
    RecordsDeleted {
        /// The records.
        records: Vec<RecordId>,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Records were deleted because their retention period ran out (Art. 5(1)(e)): every
    /// record of `form` submitted at or before `submitted_before`, but those of the subjects
    /// `spared` (under a legal hold). A rule rather than a list: as exact (no record is
    /// submitted in the past), and a million records expire in one small entry.
    RecordsExpired {
        /// The form.
        form: FormId,
        /// Records submitted at or before this went.
        #[serde(with = "time::serde::rfc3339")]
        submitted_before: OffsetDateTime,
        /// Subjects whose records were kept.
        spared: Vec<SubjectId>,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The tenant's offboarding was scheduled: its data goes at `delete_at` unless cancelled.
    TenantOffboardingScheduled {
        /// When its data goes.
        #[serde(with = "time::serde::rfc3339")]
        delete_at: OffsetDateTime,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The tenant's offboarding was cancelled.
    TenantOffboardingCancelled {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A consent form was retired: no consent is collected under it any more.
    ConsentFormRetired {
        /// The consent form.
        consent_form: ConsentFormId,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl Decision {
    /// When it was made.
    #[must_use]
    pub const fn at(&self) -> OffsetDateTime {
        match self {
            Self::SubjectErased { at, .. }
            | Self::ErasureVoided { at, .. }
            | Self::ApiKeyRevoked { at, .. }
            | Self::ConsoleUserRevoked { at, .. }
            | Self::ConsentWithdrawn { at, .. }
            | Self::LimitPlaced { at, .. }
            | Self::LimitLifted { at, .. }
            | Self::RecordsDeleted { at, .. }
            | Self::RecordsExpired { at, .. }
            | Self::ConsentFormRetired { at, .. }
            | Self::TenantOffboardingScheduled { at, .. }
            | Self::TenantOffboardingCancelled { at } => *at,
        }
    }

    /// Its kind, as the journal names it (`subject_erased`, ...).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::SubjectErased { .. } => "subject_erased",
            Self::ErasureVoided { .. } => "erasure_voided",
            Self::ApiKeyRevoked { .. } => "api_key_revoked",
            Self::ConsoleUserRevoked { .. } => "console_user_revoked",
            Self::ConsentWithdrawn { .. } => "consent_withdrawn",
            Self::LimitPlaced { .. } => "limit_placed",
            Self::LimitLifted { .. } => "limit_lifted",
            Self::RecordsDeleted { .. } => "records_deleted",
            Self::RecordsExpired { .. } => "records_expired",
            Self::ConsentFormRetired { .. } => "consent_form_retired",
            Self::TenantOffboardingScheduled { .. } => "tenant_offboarding_scheduled",
            Self::TenantOffboardingCancelled { .. } => "tenant_offboarding_cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_hold_ids_kinds_and_times_and_name_their_kind() {
        let at = time::macros::datetime!(2026-12-06 10:00 UTC);
        let d = Decision::LimitPlaced {
            subject: SubjectId::at(at),
            limit: Uuid::nil(),
            limit_kind: LimitKind::Restriction,
            purpose: None,
            at,
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["kind"], d.kind());
        assert_eq!(json["limit_kind"], "restriction");
        assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), d);
        assert_eq!(d.at(), at);
    }
}
