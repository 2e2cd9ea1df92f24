//! The append-only consent history and the current state folded from it.

use gdpr_pii::{ConsentFormId, PseudonymousIp, SubjectId, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{ConsentError, ConsentForm, ContentHash, PurposeId};

/// A consent event's identifier (also the receipt's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsentEventId(pub Uuid);

/// Giving or withdrawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Consent given.
    Given,
    /// Consent withdrawn; effective at once.
    Withdrawn,
}

/// How consent was collected or withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// A web form the subject filled in.
    WebForm,
    /// An API call on the subject's behalf.
    Api,
    /// A signed paper form.
    Paper,
    /// An e-mail from the subject.
    Email,
    /// A recorded telephone call or conversation.
    Verbal,
}

impl ConsentMethod {
    /// A human name, for receipts.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::WebForm => "web form",
            Self::Api => "api",
            Self::Paper => "paper form",
            Self::Email => "e-mail",
            Self::Verbal => "verbal, recorded",
        }
    }
}

/// One entry of the history: who, what, which exact text, when, how and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// The event (and receipt) id.
    pub id: ConsentEventId,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject.
    pub subject: SubjectId,
    /// The consent form.
    pub form: ConsentFormId,
    /// The purpose consented to.
    pub purpose: PurposeId,
    /// The exact version shown.
    pub form_version: ContentHash,
    /// Given or withdrawn.
    pub action: ConsentAction,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How.
    pub method: ConsentMethod,
    /// From where, pseudonymised (a /24 or /48 network), if known.
    pub source: Option<PseudonymousIp>,
}

impl ConsentEvent {
    /// A new event for the form's latest version.
    ///
    /// # Errors
    /// [`ConsentError::UnknownVersion`] when `version` is given and the form never published it;
    /// [`ConsentError::Retired`] for consent given under a retired form (a withdrawal still
    /// goes through).
    pub fn new(
        form: &ConsentForm,
        subject: SubjectId,
        action: ConsentAction,
        version: Option<ContentHash>,
        at: OffsetDateTime,
        method: ConsentMethod,
        source: Option<PseudonymousIp>,
    ) -> Result<Self, ConsentError> {
        if action == ConsentAction::Given && form.retired_at.is_some() {
            return Err(ConsentError::Retired);
        }
        let form_version = match version {
            Some(hash) => {
                form.version(&hash)
                    .ok_or(ConsentError::UnknownVersion)?
                    .hash
            }
            None => form.latest().hash,
        };
        Ok(Self {
            id: ConsentEventId(Uuid::new_v4()),
            tenant: form.tenant,
            subject,
            form: form.id,
            purpose: form.purpose.clone(),
            form_version,
            action,
            at,
            method,
            source,
        })
    }
}

/// Where a subject stands with one consent form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Consent is current.
    Given {
        /// When it was given.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// To which version.
        version: ContentHash,
    },
    /// The last event was a withdrawal.
    Withdrawn {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Given to a version older than one that required re-consent.
    ReconsentRequired {
        /// The version consented to.
        given_for: ContentHash,
    },
    /// No event at all.
    NeverGiven,
}

impl ConsentStatus {
    /// Whether processing that needs this consent may go ahead.
    #[must_use]
    pub const fn is_valid(&self) -> bool {
        matches!(self, Self::Given { .. })
    }
}

/// Folds a subject's history (in append order) into their status with `form`.
///
/// The last event for the form decides: a withdrawal wins at once; a consent counts only if the
/// version it was given to is not older than [`ConsentForm::oldest_acceptable`]. Events of other
/// forms are ignored.
#[must_use]
pub fn current_status(form: &ConsentForm, history: &[ConsentEvent]) -> ConsentStatus {
    let Some(last) = history.iter().rev().find(|e| e.form == form.id) else {
        return ConsentStatus::NeverGiven;
    };
    match last.action {
        ConsentAction::Withdrawn => ConsentStatus::Withdrawn { at: last.at },
        ConsentAction::Given => match form.version(&last.form_version) {
            Some(v) if v.number >= form.oldest_acceptable() => ConsentStatus::Given {
                at: last.at,
                version: last.form_version,
            },
            _ => ConsentStatus::ReconsentRequired {
                given_for: last.form_version,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::{LawfulBasis, Purpose};

    fn form() -> ConsentForm {
        let purpose = Purpose::new(
            PurposeId::parse("newsletter").unwrap(),
            "news",
            LawfulBasis::Consent,
        )
        .unwrap();
        ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose,
            "News",
            "v1",
            datetime!(2026-01-01 0:00 UTC),
        )
        .unwrap()
    }

    fn event(
        form: &ConsentForm,
        subject: SubjectId,
        action: ConsentAction,
        minute: u8,
    ) -> ConsentEvent {
        ConsentEvent::new(
            form,
            subject,
            action,
            None,
            datetime!(2026-01-02 0:00 UTC) + time::Duration::minutes(minute.into()),
            ConsentMethod::WebForm,
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_state_is_the_fold_of_the_history() {
        let form = form();
        let s = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let mut history = vec![];
        assert_eq!(current_status(&form, &history), ConsentStatus::NeverGiven);
        history.push(event(&form, s, ConsentAction::Given, 1));
        assert!(current_status(&form, &history).is_valid());
        history.push(event(&form, s, ConsentAction::Withdrawn, 2));
        assert!(matches!(
            current_status(&form, &history),
            ConsentStatus::Withdrawn { .. }
        ));
        history.push(event(&form, s, ConsentAction::Given, 3));
        assert!(current_status(&form, &history).is_valid());
    }

    #[test]
    fn a_version_requiring_reconsent_invalidates_older_consents() {
        let mut form = form();
        let s = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let history = vec![event(&form, s, ConsentAction::Given, 1)];
        form.publish_version("v2 cosmetic", false, datetime!(2026-02-01 0:00 UTC))
            .unwrap();
        assert!(
            current_status(&form, &history).is_valid(),
            "a cosmetic change keeps consent"
        );
        form.publish_version(
            "v3 new purpose wording",
            true,
            datetime!(2026-03-01 0:00 UTC),
        )
        .unwrap();
        assert!(matches!(
            current_status(&form, &history),
            ConsentStatus::ReconsentRequired { .. }
        ));
    }

    #[test]
    fn events_of_other_forms_are_ignored_and_unknown_versions_refused() {
        let (a, b) = (form(), form());
        let s = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let history = vec![event(&b, s, ConsentAction::Given, 1)];
        assert_eq!(current_status(&a, &history), ConsentStatus::NeverGiven);
        let err = ConsentEvent::new(
            &a,
            s,
            ConsentAction::Given,
            Some(ContentHash::of("never published")),
            datetime!(2026-01-02 0:00 UTC),
            ConsentMethod::Api,
            None,
        );
        assert_eq!(err, Err(ConsentError::UnknownVersion));
    }
}
