//! Personal data breaches (Art. 33, 34): what happened, whom it touches, the 72-hour clock
//! to notify the supervisory authority, and the decision whether the people affected must be
//! told. Pure: the register (per tenant and deployment-wide), its routes, the attestation
//! and the notification draft draw on it.

use gdpr_pii::PiiCategory;
use serde::{Deserialize, Serialize};

use crate::BatchSelector;
use time::{Duration, OffsetDateTime};

/// How long after a breach is detected the supervisory authority must be notified (Art.
/// 33(1)).
pub const NOTIFICATION_DEADLINE: Duration = Duration::hours(72);

/// What the breach did to the data (the three kinds the EDPB guidelines name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachKind {
    /// Disclosed to, or reached by, someone who should not have it.
    Confidentiality,
    /// Altered without authority.
    Integrity,
    /// Lost, or out of reach.
    Availability,
}

/// The authority's notification, as recorded (Art. 33(1), (5)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityNotice {
    /// When the authority was notified.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The authority's reference for it (its case number), if any.
    pub reference: Option<String>,
    /// Why it came after 72 hours (required then, Art. 33(1)).
    pub late_reason: Option<String>,
}

/// The decision whether the people affected must be told (Art. 34).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectsDecision {
    /// Whether they must be told.
    pub notify: bool,
    /// Why: the high risk (Art. 34(1)), or the exemption that applies (Art. 34(3)).
    pub reason: String,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The people a breach touches, as a selector found them (counts; their ids are found
/// again when they are told).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// How they were selected.
    pub selector: BatchSelector,
    /// How many people it found.
    pub subjects: u64,
    /// How many records they hold.
    pub records: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub computed_at: OffsetDateTime,
}

/// Where the 72-hour clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Not notified yet, within 72 hours.
    Running {
        /// When it runs out.
        due_at: OffsetDateTime,
    },
    /// Not notified, past 72 hours.
    Overdue {
        /// When it ran out.
        due_at: OffsetDateTime,
    },
    /// Notified.
    Notified {
        /// When.
        at: OffsetDateTime,
        /// After the 72 hours.
        late: bool,
    },
}

/// A breach as the register holds it. Its texts describe the breach, never the people in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// A short title.
    pub title: String,
    /// When the controller became aware of it: the clock starts here.
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// When it began, if known.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub occurred_at: Option<OffsetDateTime>,
    /// What it did to the data.
    pub kinds: Vec<BreachKind>,
    /// Its nature, in words (Art. 33(3)(a)).
    pub nature: String,
    /// The categories of personal data concerned.
    pub categories: Vec<PiiCategory>,
    /// Approximately how many people (Art. 33(3)(a)).
    pub subjects_approx: u64,
    /// Approximately how many records.
    pub records_approx: u64,
    /// Its likely consequences (Art. 33(3)(c)).
    pub consequences: String,
    /// The measures taken or proposed (Art. 33(3)(d)).
    pub measures: String,
    /// The authority's notification, once made.
    #[serde(default)]
    pub authority: Option<AuthorityNotice>,
    /// Whether the people affected must be told, and why.
    #[serde(default)]
    pub subjects: Option<SubjectsDecision>,
    /// When the people affected were told (their ids went out as webhook events).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub subjects_notified_at: Option<OffsetDateTime>,
    /// The people a selector found.
    #[serde(default)]
    pub affected: Option<Affected>,
}

/// Why a breach cannot be recorded or changed as asked. Messages name the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreachError {
    /// A required text is empty, or a text is too long.
    #[error("{0}: 1 to {1} characters")]
    Text(&'static str, usize),
    /// No kind named.
    #[error("kinds: name at least one of confidentiality, integrity, availability")]
    Kinds,
    /// Detected in the future, or occurred after it was detected.
    #[error("detected_at: not in the future, and not before occurred_at")]
    Times,
    /// Notified past the deadline without a reason.
    #[error("late_reason: the authority was notified after 72 hours: say why (Art. 33(1))")]
    LateWithoutReason,
    /// Notified before it was detected.
    #[error("notified_at: not before the breach was detected, nor in the future")]
    NoticeTime,
    /// Already notified.
    #[error("the authority was already notified of this breach")]
    AlreadyNotified,
    /// The decision needs a reason.
    #[error("reason: say why the people affected must, or need not, be told (Art. 34)")]
    NoReason,
    /// The people were already told.
    #[error("the people affected were already told")]
    AlreadyTold,
    /// Telling them needs a decision to tell them.
    #[error("decide first that the people affected must be told (Art. 34)")]
    NotDecided,
}

impl BreachError {
    /// The input field at fault.
    #[must_use]
    pub const fn field(&self) -> &'static str {
        match self {
            Self::Text(field, _) => field,
            Self::Kinds => "kinds",
            Self::Times => "detected_at",
            Self::LateWithoutReason => "late_reason",
            Self::NoticeTime => "notified_at",
            Self::NoReason => "reason",
            Self::AlreadyNotified | Self::AlreadyTold | Self::NotDecided => "breach",
        }
    }
}

fn text(
    value: &str,
    field: &'static str,
    max: usize,
    required: bool,
) -> Result<String, BreachError> {
    let value = value.trim();
    if (required && value.is_empty()) || value.chars().count() > max {
        return Err(BreachError::Text(field, max));
    }
    Ok(value.to_owned())
}

impl Breach {
    /// The breach as described, checked and normalised, at `now`.
    ///
    /// # Errors
    /// [`BreachError`] naming the field.
    pub fn checked(self, now: OffsetDateTime) -> Result<Self, BreachError> {
        let mut kinds = self.kinds;
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.is_empty() {
            return Err(BreachError::Kinds);
        }
        if self.detected_at > now || self.occurred_at.is_some_and(|o| o > self.detected_at) {
            return Err(BreachError::Times);
        }
        let mut categories = self.categories;
        categories.sort_unstable();
        categories.dedup();
        Ok(Self {
            title: text(&self.title, "title", 200, true)?,
            kinds,
            nature: text(&self.nature, "nature", 4000, true)?,
            categories,
            consequences: text(&self.consequences, "consequences", 4000, false)?,
            measures: text(&self.measures, "measures", 4000, false)?,
            ..self
        })
    }

    /// When the authority must have been notified.
    #[must_use]
    pub fn due_at(&self) -> OffsetDateTime {
        self.detected_at + NOTIFICATION_DEADLINE
    }

    /// Where the 72-hour clock stands at `now`.
    #[must_use]
    pub fn clock(&self, now: OffsetDateTime) -> Clock {
        let due_at = self.due_at();
        match &self.authority {
            Some(n) => Clock::Notified {
                at: n.at,
                late: n.at > due_at,
            },
            None if now > due_at => Clock::Overdue { due_at },
            None => Clock::Running { due_at },
        }
    }

    /// Records the authority's notification; past 72 hours, only with the reason for the
    /// delay.
    ///
    /// # Errors
    /// [`BreachError::AlreadyNotified`], [`BreachError::NoticeTime`],
    /// [`BreachError::LateWithoutReason`].
    pub fn notify_authority(
        &mut self,
        notice: AuthorityNotice,
        now: OffsetDateTime,
    ) -> Result<(), BreachError> {
        if self.authority.is_some() {
            return Err(BreachError::AlreadyNotified);
        }
        if notice.at < self.detected_at || notice.at > now {
            return Err(BreachError::NoticeTime);
        }
        let late_reason = notice
            .late_reason
            .map(|r| text(&r, "late_reason", 2000, false))
            .transpose()?
            .filter(|r| !r.is_empty());
        if notice.at > self.due_at() && late_reason.is_none() {
            return Err(BreachError::LateWithoutReason);
        }
        let reference = notice
            .reference
            .map(|r| text(&r, "reference", 200, false))
            .transpose()?
            .filter(|r| !r.is_empty());
        self.authority = Some(AuthorityNotice {
            at: notice.at,
            reference,
            late_reason,
        });
        Ok(())
    }

    /// Records whether the people affected must be told, and why.
    ///
    /// # Errors
    /// [`BreachError::NoReason`]; [`BreachError::AlreadyTold`].
    pub fn decide(
        &mut self,
        notify: bool,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), BreachError> {
        if self.subjects_notified_at.is_some() {
            return Err(BreachError::AlreadyTold);
        }
        let reason = text(reason, "reason", 2000, false)?;
        if reason.is_empty() {
            return Err(BreachError::NoReason);
        }
        self.subjects = Some(SubjectsDecision {
            notify,
            reason,
            at: now,
        });
        Ok(())
    }

    /// Records that the people affected were told.
    ///
    /// # Errors
    /// [`BreachError::NotDecided`] without a decision to tell them; [`BreachError::AlreadyTold`].
    pub fn mark_subjects_told(&mut self, now: OffsetDateTime) -> Result<(), BreachError> {
        if self.subjects_notified_at.is_some() {
            return Err(BreachError::AlreadyTold);
        }
        if !self.subjects.as_ref().is_some_and(|d| d.notify) {
            return Err(BreachError::NotDecided);
        }
        self.subjects_notified_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthorityNotice, Breach, BreachError, BreachKind, Clock};
    use gdpr_pii::PiiCategory;
    use time::Duration;
    use time::macros::datetime;

    fn breach() -> Breach {
        Breach {
            title: " Laptop stolen ".into(),
            detected_at: datetime!(2026-12-01 09:00 UTC),
            occurred_at: Some(datetime!(2026-11-30 18:00 UTC)),
            kinds: vec![
                BreachKind::Confidentiality,
                BreachKind::Availability,
                BreachKind::Confidentiality,
            ],
            nature: "an unencrypted export on a stolen laptop".into(),
            categories: vec![PiiCategory::Email, PiiCategory::FullName],
            subjects_approx: 1200,
            records_approx: 3400,
            consequences: "phishing".into(),
            measures: "passwords reset".into(),
            authority: None,
            subjects: None,
            subjects_notified_at: None,
            affected: None,
        }
    }

    #[test]
    fn the_clock_runs_72_hours_from_detection_and_a_late_notice_needs_its_reason() {
        let now = datetime!(2026-12-02 09:00 UTC);
        let mut b = breach().checked(now).unwrap();
        assert_eq!(b.title, "Laptop stolen");
        assert_eq!(
            b.kinds,
            [BreachKind::Confidentiality, BreachKind::Availability]
        );
        let due = datetime!(2026-12-04 09:00 UTC);
        assert_eq!(b.clock(now), Clock::Running { due_at: due });
        let late = due + Duration::hours(5);
        assert_eq!(b.clock(late), Clock::Overdue { due_at: due });
        let notice = |reason: Option<&str>| AuthorityNotice {
            at: late,
            reference: Some("CNIL-2026-1234".into()),
            late_reason: reason.map(str::to_owned),
        };
        assert_eq!(
            b.notify_authority(notice(None), late),
            Err(BreachError::LateWithoutReason)
        );
        assert_eq!(
            b.notify_authority(notice(Some("  ")), late),
            Err(BreachError::LateWithoutReason)
        );
        b.notify_authority(notice(Some("the scope took four days to establish")), late)
            .unwrap();
        assert_eq!(
            b.clock(late),
            Clock::Notified {
                at: late,
                late: true
            }
        );
        assert_eq!(
            b.notify_authority(notice(Some("again")), late),
            Err(BreachError::AlreadyNotified)
        );
    }

    #[test]
    fn telling_the_people_needs_a_reasoned_decision_to_tell_them() {
        let now = datetime!(2026-12-02 09:00 UTC);
        let mut b = breach().checked(now).unwrap();
        assert_eq!(b.mark_subjects_told(now), Err(BreachError::NotDecided));
        assert_eq!(b.decide(true, " ", now), Err(BreachError::NoReason));
        b.decide(false, "the data was encrypted (Art. 34(3)(a))", now)
            .unwrap();
        assert_eq!(b.mark_subjects_told(now), Err(BreachError::NotDecided));
        b.decide(true, "high risk: names and e-mails in clear", now)
            .unwrap();
        b.mark_subjects_told(now).unwrap();
        assert_eq!(
            b.decide(false, "changed my mind", now),
            Err(BreachError::AlreadyTold)
        );
    }

    #[test]
    fn a_breach_against_the_rules_says_which_field() {
        let now = datetime!(2026-12-02 09:00 UTC);
        let mut future = breach();
        future.detected_at = now + Duration::hours(1);
        assert_eq!(future.checked(now).unwrap_err().field(), "detected_at");
        let mut none = breach();
        none.kinds.clear();
        assert_eq!(none.checked(now).unwrap_err(), BreachError::Kinds);
        let mut untitled = breach();
        untitled.title = String::new();
        assert_eq!(untitled.checked(now).unwrap_err().field(), "title");
        let mut early = breach().checked(now).unwrap();
        let before = AuthorityNotice {
            at: early.detected_at - Duration::hours(1),
            reference: None,
            late_reason: None,
        };
        assert_eq!(
            early.notify_authority(before, now),
            Err(BreachError::NoticeTime)
        );
    }
}
