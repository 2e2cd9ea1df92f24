//! Data-subject requests and their lifecycle.

use gdpr_pii::{RequestId, SubjectId, TenantId};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::due_date;

/// Which right the subject exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Art. 15: a copy of the data and the context of its processing.
    Access,
    /// Art. 20: the data in a machine-readable format.
    Portability,
    /// Art. 16: correct inaccurate data.
    Rectification,
    /// Art. 17: erase the data.
    Erasure,
    /// Art. 18: keep but do not use.
    Restriction,
    /// Art. 21: stop processing based on legitimate interests.
    Objection,
}

impl RequestKind {
    /// The article that grants the right.
    #[must_use]
    pub const fn article(self) -> &'static str {
        match self {
            Self::Access => "Art. 15",
            Self::Portability => "Art. 20",
            Self::Rectification => "Art. 16",
            Self::Erasure => "Art. 17",
            Self::Restriction => "Art. 18",
            Self::Objection => "Art. 21",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Received and not yet answered.
    Open,
    /// Answered: the right was given effect.
    Completed,
    /// Answered with a refusal (Art. 12(4): the reasons must be given).
    Refused,
}

/// The one extension a request may get (Art. 12(3)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// One or two months.
    pub months: u8,
    /// Why (complexity, number of requests); told to the subject.
    pub reason: String,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Why a request cannot move as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request is already answered.
    #[error("the request is already {0:?} and can no longer change")]
    Closed(RequestStatus),
    /// A second extension.
    #[error("the request was already extended once; Art. 12(3) allows one extension")]
    AlreadyExtended,
    /// Zero months or more than two.
    #[error("an extension is 1 or 2 months, got {0}")]
    ExtensionTooLong(u8),
    /// An extension or refusal without a reason.
    #[error("a reason is required (1 to 2000 characters)")]
    ReasonRequired,
    /// A verification's note too long.
    #[error("a verification's note is at most 500 characters")]
    NoteTooLong,
    /// An extension decided after the original deadline.
    #[error("the deadline has passed: an extension must be decided within the first month")]
    TooLateToExtend,
    /// Completed (or erased for) before the requester's identity was verified.
    #[error(
        "the requester's identity is not verified: record how it was (POST /v1/requests/{{id}}/verification) before answering (Art. 12(2), 12(6))"
    )]
    IdentityNotVerified,
    /// Verified twice.
    #[error("the requester's identity was already verified")]
    AlreadyVerified,
}

/// How a requester's identity was verified (Art. 12(6): only what is needed to confirm it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// A one-time code sent to the subject's known e-mail address and given back.
    EmailCode,
    /// The request came through the subject's signed-in account with the SaaS.
    AccountLogin,
    /// An identity document was seen (and not kept).
    IdentityDocument,
    /// In person.
    InPerson,
    /// Another means, described in the note.
    Other,
}

/// The record of a requester's identity verification: how, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityVerification {
    /// How.
    pub method: VerificationMethod,
    /// Who verified it: an API key's id, a console user's, `operator`.
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was checked, in words (never a copy of the document): at most 500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A data-subject request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRequest {
    /// The request.
    pub id: RequestId,
    /// The tenant that must answer.
    pub tenant: TenantId,
    /// The subject.
    pub subject: SubjectId,
    /// The right exercised.
    pub kind: RequestKind,
    /// When it was received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Where it stands.
    pub status: RequestStatus,
    /// Its extension, if any.
    pub extension: Option<Extension>,
    /// When it was answered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// A refusal's reasons.
    pub refusal_reason: Option<String>,
    /// How the requester's identity was verified; `None`: not yet (it cannot be answered).
    #[serde(default)]
    pub verification: Option<IdentityVerification>,
}

/// A reason given for a refusal or an extension, trimmed: 1 to 2,000 characters.
///
/// # Errors
/// [`RequestError::ReasonRequired`] otherwise.
pub fn check_reason(reason: &str) -> Result<String, RequestError> {
    let reason = reason.trim();
    let n = reason.chars().count();
    if n == 0 || n > 2000 {
        Err(RequestError::ReasonRequired)
    } else {
        Ok(reason.to_owned())
    }
}

impl IdentityVerification {
    /// The verification, its note trimmed (blank: none).
    ///
    /// # Errors
    /// [`RequestError::NoteTooLong`] for a note over 500 characters.
    pub fn checked(self) -> Result<Self, RequestError> {
        let note = self
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(RequestError::NoteTooLong);
        }
        Ok(Self { note, ..self })
    }
}

impl SubjectRequest {
    /// A request received at `received_at`.
    #[must_use]
    pub fn open(
        tenant: TenantId,
        subject: SubjectId,
        kind: RequestKind,
        received_at: OffsetDateTime,
    ) -> Self {
        Self {
            id: RequestId::at(received_at),
            tenant,
            subject,
            kind,
            received_at,
            status: RequestStatus::Open,
            extension: None,
            closed_at: None,
            refusal_reason: None,
            verification: None,
        }
    }

    /// The last day (UTC) to answer, extension included.
    #[must_use]
    pub fn due_date(&self) -> Date {
        let utc = self.received_at.to_offset(time::UtcOffset::UTC);
        due_date(utc.date(), self.extension.as_ref().map_or(0, |e| e.months))
    }

    /// Whether it is open past its due date.
    #[must_use]
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        self.status == RequestStatus::Open
            && now.to_offset(time::UtcOffset::UTC).date() > self.due_date()
    }

    fn ensure_open(&self) -> Result<(), RequestError> {
        match self.status {
            RequestStatus::Open => Ok(()),
            closed => Err(RequestError::Closed(closed)),
        }
    }

    /// Extends the deadline, once, by one or two months, for a reason.
    ///
    /// # Errors
    /// [`RequestError`] when closed, already extended, too long, too late or without a reason.
    pub fn extend(
        &mut self,
        months: u8,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<(), RequestError> {
        self.ensure_open()?;
        if self.extension.is_some() {
            return Err(RequestError::AlreadyExtended);
        }
        if !(1..=2).contains(&months) {
            return Err(RequestError::ExtensionTooLong(months));
        }
        let reason = check_reason(reason)?;
        if self.is_overdue(at) {
            return Err(RequestError::TooLateToExtend);
        }
        self.extension = Some(Extension { months, reason, at });
        Ok(())
    }

    /// Records how the requester's identity was verified, once.
    ///
    /// # Errors
    /// [`RequestError::Closed`]; [`RequestError::AlreadyVerified`];
    /// [`RequestError::NoteTooLong`] for a note over 500 characters.
    pub fn verify(&mut self, verification: IdentityVerification) -> Result<(), RequestError> {
        self.ensure_open()?;
        if self.verification.is_some() {
            return Err(RequestError::AlreadyVerified);
        }
        self.verification = Some(verification.checked()?);
        Ok(())
    }

    /// Whether it may be answered: open, and the requester's identity verified.
    ///
    /// # Errors
    /// [`RequestError::Closed`]; [`RequestError::IdentityNotVerified`].
    pub fn ensure_answerable(&self) -> Result<(), RequestError> {
        self.ensure_open()?;
        if self.verification.is_none() {
            return Err(RequestError::IdentityNotVerified);
        }
        Ok(())
    }

    /// Marks the request answered, which needs the requester's identity verified.
    ///
    /// # Errors
    /// [`RequestError::Closed`] when already answered; [`RequestError::IdentityNotVerified`].
    pub fn complete(&mut self, at: OffsetDateTime) -> Result<(), RequestError> {
        self.ensure_answerable()?;
        self.status = RequestStatus::Completed;
        self.closed_at = Some(at);
        Ok(())
    }

    /// Refuses the request, with the reasons the subject must be told.
    ///
    /// # Errors
    /// [`RequestError`] when already answered or without a reason.
    pub fn refuse(&mut self, reason: &str, at: OffsetDateTime) -> Result<(), RequestError> {
        self.ensure_open()?;
        self.refusal_reason = Some(check_reason(reason)?);
        self.status = RequestStatus::Refused;
        self.closed_at = Some(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn request(received: OffsetDateTime) -> SubjectRequest {
        SubjectRequest::open(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            RequestKind::Access,
            received,
        )
    }

    #[test]
    fn a_request_is_due_one_month_after_receipt_and_overdue_the_day_after() {
        let r = request(datetime!(2026-01-31 23:30 UTC));
        assert_eq!(r.due_date(), date!(2026 - 02 - 28));
        assert!(!r.is_overdue(datetime!(2026-02-28 23:59 UTC)));
        assert!(r.is_overdue(datetime!(2026-03-01 00:00 UTC)));
        // Receipt is counted in UTC whatever the offset it was recorded with.
        let r = request(datetime!(2026-02-01 00:30 +01:00));
        assert_eq!(r.due_date(), date!(2026 - 02 - 28));
    }

    #[test]
    fn one_extension_of_at_most_two_months_with_a_reason() {
        let mut r = request(datetime!(2026-01-31 10:00 UTC));
        let at = datetime!(2026-02-10 10:00 UTC);
        assert_eq!(
            r.extend(3, "complex", at),
            Err(RequestError::ExtensionTooLong(3))
        );
        assert_eq!(
            r.extend(0, "complex", at),
            Err(RequestError::ExtensionTooLong(0))
        );
        assert_eq!(r.extend(2, "  ", at), Err(RequestError::ReasonRequired));
        r.extend(2, "many records across forms", at).unwrap();
        assert_eq!(r.due_date(), date!(2026 - 04 - 30));
        assert_eq!(r.extend(1, "again", at), Err(RequestError::AlreadyExtended));
        assert!(!r.is_overdue(datetime!(2026-04-30 12:00 UTC)));
        assert!(r.is_overdue(datetime!(2026-05-01 0:00 UTC)));
    }

    #[test]
    fn an_extension_must_come_before_the_deadline() {
        let mut r = request(datetime!(2026-01-10 10:00 UTC));
        assert_eq!(
            r.extend(1, "late", datetime!(2026-02-11 0:00 UTC)),
            Err(RequestError::TooLateToExtend)
        );
    }

    fn verified() -> super::IdentityVerification {
        super::IdentityVerification {
            method: super::VerificationMethod::EmailCode,
            by: "api-key 0193".into(),
            at: datetime!(2026-01-10 12:00 UTC),
            note: Some("  code sent to the address on file  ".into()),
        }
    }

    #[test]
    fn a_verification_is_recorded_once_with_its_note_trimmed() {
        let mut r = request(datetime!(2026-01-10 10:00 UTC));
        let mut long = verified();
        long.note = Some("x".repeat(501));
        assert_eq!(r.verify(long), Err(RequestError::NoteTooLong));
        r.verify(verified()).unwrap();
        assert_eq!(
            r.verification.as_ref().and_then(|v| v.note.as_deref()),
            Some("code sent to the address on file")
        );
        assert_eq!(r.verify(verified()), Err(RequestError::AlreadyVerified));
        // Refusing needs no verification (Art. 12(6): a refusal may be for want of it).
        let mut r = request(datetime!(2026-01-10 10:00 UTC));
        r.refuse(
            "identity could not be confirmed",
            datetime!(2026-01-11 0:00 UTC),
        )
        .unwrap();
    }

    #[test]
    fn closed_requests_stay_closed_and_are_never_overdue() {
        let mut r = request(datetime!(2026-01-10 10:00 UTC));
        assert_eq!(
            r.refuse("", datetime!(2026-01-11 0:00 UTC)),
            Err(RequestError::ReasonRequired)
        );
        assert_eq!(
            r.complete(datetime!(2026-01-11 0:00 UTC)),
            Err(RequestError::IdentityNotVerified),
            "not before the requester's identity is verified"
        );
        r.verify(verified()).unwrap();
        r.complete(datetime!(2026-01-11 0:00 UTC)).unwrap();
        assert_eq!(
            r.complete(datetime!(2026-01-12 0:00 UTC)),
            Err(RequestError::Closed(RequestStatus::Completed))
        );
        assert!(!r.is_overdue(datetime!(2027-01-01 0:00 UTC)));
        let mut r = request(datetime!(2026-01-10 10:00 UTC));
        r.refuse(
            "manifestly unfounded: repetitive",
            datetime!(2026-01-11 0:00 UTC),
        )
        .unwrap();
        assert_eq!(r.status, RequestStatus::Refused);
        assert!(r.extend(1, "x", datetime!(2026-01-12 0:00 UTC)).is_err());
    }
}
