//! Restriction (Art. 18) and objection (Art. 21): limits a subject puts on what may be done
//! with their data, and the rule that says whether a processing may go on.
//!
//! A restriction covers all of the subject's data: while it is active nothing but storage is
//! done with it (new records are refused, every purpose answers "do not process"); access,
//! rectification and erasure stay possible, since they serve the subject. An objection stops
//! processing under legitimate interests (Art. 6(1)(f)): for one purpose, or for every such
//! purpose of the tenant when none is named.

use gdpr_pii::{SubjectId, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The kind of limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Art. 18: restriction of processing.
    Restriction,
    /// Art. 21: objection to processing under legitimate interests.
    Objection,
}

impl LimitKind {
    /// The article.
    #[must_use]
    pub const fn article(self) -> &'static str {
        match self {
            Self::Restriction => "Art. 18",
            Self::Objection => "Art. 21",
        }
    }
}

/// A restriction or an objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingLimit {
    /// The limit.
    pub id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject.
    pub subject: SubjectId,
    /// Restriction or objection.
    pub kind: LimitKind,
    /// For an objection, the one purpose it concerns (`None`: every legitimate-interest
    /// purpose). Always `None` for a restriction.
    pub purpose: Option<String>,
    /// Why, in words (the contested accuracy, the subject's grounds): required, never shown in
    /// errors.
    pub reason: String,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When it was lifted, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub lifted_at: Option<OffsetDateTime>,
}

/// Why a limit cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The reason is empty or longer than 2,000 characters.
    #[error("a reason of 1 to 2,000 characters is required")]
    Reason,
    /// A restriction names a purpose: it covers all of the subject's data.
    #[error("a restriction covers all of the subject's data and names no purpose")]
    RestrictionWithPurpose,
}

/// A processing the limits forbid, and which limit forbids it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("processing is blocked by the subject's {} ({})", self.kind_name(), self.kind.article())]
pub struct ProcessingBlocked {
    /// The limit's kind.
    pub kind: LimitKind,
    /// The limit.
    pub limit: Uuid,
}

impl ProcessingBlocked {
    const fn kind_name(&self) -> &'static str {
        match self.kind {
            LimitKind::Restriction => "restriction",
            LimitKind::Objection => "objection",
        }
    }
}

impl ProcessingLimit {
    /// A new, active limit.
    ///
    /// # Errors
    /// [`LimitError`].
    pub fn place(
        tenant: TenantId,
        subject: SubjectId,
        kind: LimitKind,
        purpose: Option<String>,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<Self, LimitError> {
        let reason = reason.trim();
        let n = reason.chars().count();
        if n == 0 || n > 2000 {
            return Err(LimitError::Reason);
        }
        if kind == LimitKind::Restriction && purpose.is_some() {
            return Err(LimitError::RestrictionWithPurpose);
        }
        Ok(Self {
            id: Uuid::new_v4(),
            tenant,
            subject,
            kind,
            purpose,
            reason: reason.to_owned(),
            placed_at: at,
            lifted_at: None,
        })
    }

    /// Whether it is in force.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.lifted_at.is_none()
    }
}

/// Whether the subject's data may be processed for `purpose`, which rests on legitimate
/// interests or not, given their limits. Storage, access, rectification and erasure are not
/// "processing" here: they are never blocked.
///
/// # Errors
/// [`ProcessingBlocked`] naming the first active limit that forbids it (a restriction first).
pub fn may_process(
    limits: &[ProcessingLimit],
    purpose: &str,
    legitimate_interests: bool,
) -> Result<(), ProcessingBlocked> {
    let active = || limits.iter().filter(|l| l.is_active());
    let blocked = |l: &ProcessingLimit| ProcessingBlocked {
        kind: l.kind,
        limit: l.id,
    };
    if let Some(l) = active().find(|l| l.kind == LimitKind::Restriction) {
        return Err(blocked(l));
    }
    if legitimate_interests
        && let Some(l) = active().find(|l| {
            l.kind == LimitKind::Objection && l.purpose.as_deref().is_none_or(|p| p == purpose)
        })
    {
        return Err(blocked(l));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn limit(kind: LimitKind, purpose: Option<&str>) -> ProcessingLimit {
        ProcessingLimit::place(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            kind,
            purpose.map(str::to_owned),
            "the subject contests the accuracy of their address",
            datetime!(2026-01-01 0:00 UTC),
        )
        .unwrap()
    }

    #[test]
    fn a_restriction_blocks_every_purpose_until_lifted() {
        let mut r = limit(LimitKind::Restriction, None);
        for (purpose, li) in [("payroll", false), ("marketing", true)] {
            let err = may_process(std::slice::from_ref(&r), purpose, li).unwrap_err();
            assert_eq!(err.kind, LimitKind::Restriction);
            assert_eq!(err.limit, r.id);
        }
        r.lifted_at = Some(datetime!(2026-02-01 0:00 UTC));
        assert!(may_process(&[r], "marketing", true).is_ok());
    }

    #[test]
    fn an_objection_stops_legitimate_interests_only_and_only_its_purpose_when_named() {
        let all = limit(LimitKind::Objection, None);
        assert!(may_process(std::slice::from_ref(&all), "analytics", true).is_err());
        assert!(may_process(std::slice::from_ref(&all), "payroll", false).is_ok());
        let one = limit(LimitKind::Objection, Some("analytics"));
        assert!(may_process(std::slice::from_ref(&one), "analytics", true).is_err());
        assert!(may_process(std::slice::from_ref(&one), "fraud", true).is_ok());
        assert!(may_process(&[], "analytics", true).is_ok());
    }

    #[test]
    fn a_limit_needs_a_reason_and_a_restriction_names_no_purpose() {
        let t = (
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            datetime!(2026-01-01 0:00 UTC),
        );
        assert_eq!(
            ProcessingLimit::place(t.0, t.1, LimitKind::Objection, None, "  ", t.2),
            Err(LimitError::Reason)
        );
        assert_eq!(
            ProcessingLimit::place(
                t.0,
                t.1,
                LimitKind::Restriction,
                Some("x".into()),
                "why",
                t.2
            ),
            Err(LimitError::RestrictionWithPurpose)
        );
        let text = "x".repeat(2001);
        assert_eq!(
            ProcessingLimit::place(t.0, t.1, LimitKind::Objection, None, &text, t.2),
            Err(LimitError::Reason)
        );
    }
}
