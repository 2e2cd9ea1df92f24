//! Wire types of data-subject requests.

use poem_openapi::{Enum, Object};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::*;

mirror!(
    /// The right a request exercises.
    RequestKindDto <=> gdpr_rights::RequestKind {
        /// Art. 15.
        Access,
        /// Art. 20.
        Portability,
        /// Art. 16.
        Rectification,
        /// Art. 17.
        Erasure,
        /// Art. 18.
        Restriction,
        /// Art. 21.
        Objection,
    }
);

mirror!(
    /// Where a request stands.
    RequestStatusDto <=> gdpr_rights::RequestStatus {
        /// Not yet answered.
        Open,
        /// Answered.
        Completed,
        /// Refused, with reasons.
        Refused,
    }
);

/// A request to open.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RequestIn {
    /// The subject.
    pub(crate) subject: Uuid,
    /// The right exercised.
    pub(crate) kind: RequestKindDto,
}

/// An extension.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ExtendIn {
    /// 1 or 2 months.
    #[oai(validator(minimum(value = "1"), maximum(value = "2")))]
    pub(crate) months: u8,
    /// Why; told to the subject.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A refusal.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RefuseIn {
    /// The reasons the subject is told.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// An extension granted.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ExtensionOut {
    /// Months.
    pub(crate) months: u8,
    /// Why.
    pub(crate) reason: String,
    /// When decided.
    pub(crate) at: OffsetDateTime,
}

/// A data-subject request.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RequestOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Right.
    pub(crate) kind: RequestKindDto,
    /// Status.
    pub(crate) status: RequestStatusDto,
    /// Received.
    pub(crate) received_at: OffsetDateTime,
    /// Last day to answer (UTC).
    pub(crate) due_date: Date,
    /// Open past its due date.
    pub(crate) overdue: bool,
    /// Extension.
    pub(crate) extension: Option<ExtensionOut>,
    /// Answered.
    pub(crate) closed_at: Option<OffsetDateTime>,
    /// Reasons of a refusal.
    pub(crate) refusal_reason: Option<String>,
    /// How the requester's identity was verified; absent: not yet, and the request cannot be
    /// completed (nor an erasure made in answer to it).
    pub(crate) verification: Option<VerificationOut>,
    /// For an erasure request read alone (`GET /v1/requests/{id}`): where the erasure stands
    /// with each recipient that confirms erasures (Art. 19) — `overdue` when one has not
    /// confirmed within three days. Absent in lists and for the other rights.
    pub(crate) erasure_recipients: Option<Vec<crate::dto::ConfirmationOut>>,
}

mirror!(
    /// How a requester's identity was verified.
    VerificationMethodDto <=> gdpr_rights::VerificationMethod {
        /// A one-time code sent to the subject's known e-mail address and given back.
        EmailCode,
        /// Through the subject's signed-in account with the SaaS.
        AccountLogin,
        /// An identity document was seen (and not kept).
        IdentityDocument,
        /// In person.
        InPerson,
        /// Another means, described in the note.
        Other,
    }
);

/// A requester's identity verification, as recorded.
#[derive(Object)]
pub(crate) struct VerificationOut {
    /// How.
    pub(crate) method: VerificationMethodDto,
    /// Who verified it (`api_key:<id>`, `operator`).
    pub(crate) by: String,
    /// When.
    pub(crate) at: OffsetDateTime,
    /// What was checked.
    pub(crate) note: Option<String>,
}

/// How the requester's identity was verified (Art. 12(6): only what confirming it needs).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct VerificationIn {
    /// How.
    pub(crate) method: VerificationMethodDto,
    /// What was checked, in words (advised for `other`; never a copy of a document).
    #[oai(validator(max_length = 500))]
    pub(crate) note: Option<Text>,
}

/// A page of requests.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RequestPage {
    /// The requests.
    pub(crate) items: Vec<RequestOut>,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
    /// Where the next page starts: pass it as `after`. Absent on a page that is not full
    /// (the last one).
    pub(crate) next: Option<String>,
}

/// A request from someone known only by an e-mail address.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct InquiryIn {
    /// Their address.
    pub(crate) email: EmailText,
    /// The right they ask to exercise.
    pub(crate) kind: RequestKindDto,
}

/// What came of an inquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum InquiryState {
    /// Waiting for the requester's identity to be verified: nothing is said of the address.
    AwaitingVerification,
    /// The person is a subject: `request` was opened.
    RequestOpened,
    /// Nothing is held about the person: `searched_at` and `search_method` are the evidence.
    NothingHeld,
    /// Refused unverified (Art. 12(6)): `refusal_reason`, told to the requester; nothing
    /// was searched.
    Refused,
}

/// An inquiry.
#[derive(Object)]
pub(crate) struct InquiryOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The right asked for.
    pub(crate) kind: RequestKindDto,
    /// When it was received.
    pub(crate) received_at: OffsetDateTime,
    /// Where it stands.
    pub(crate) state: InquiryState,
    /// How the requester's identity was verified.
    pub(crate) verification: Option<VerificationOut>,
    /// The request opened (`request_opened`).
    pub(crate) request: Option<Uuid>,
    /// When the vault was searched (`nothing_held`).
    pub(crate) searched_at: Option<OffsetDateTime>,
    /// How (`nothing_held`).
    pub(crate) search_method: Option<String>,
    /// When it was refused (`refused`).
    pub(crate) refused_at: Option<OffsetDateTime>,
    /// The reasons (`refused`).
    pub(crate) refusal_reason: Option<String>,
}
