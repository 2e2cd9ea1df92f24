//! Batch erasure and deletion: which subjects a selector picks, decided on record facts or,
//! for selections by consent, on the consent history.

use std::collections::{BTreeMap, BTreeSet};

use gdpr_consent::{ConsentEvent, ConsentForm, ConsentStatus, PurposeId, current_status};
use gdpr_pii::{ConsentFormId, FormId, RecordValues, SubjectId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// What a batch erasure selects. Subjects are picked through their records, or listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum BatchSelector {
    /// Every subject with a record in this form.
    Form {
        /// The form.
        form: FormId,
    },
    /// Every subject with a record created in `[from, to)`, optionally in one form.
    CreatedBetween {
        /// Start, inclusive.
        #[serde(with = "time::serde::rfc3339")]
        from: OffsetDateTime,
        /// End, exclusive.
        #[serde(with = "time::serde::rfc3339")]
        to: OffsetDateTime,
        /// Only records of this form.
        form: Option<FormId>,
    },
    /// Every subject with a record of `form` whose `field` equals `value`.
    FieldEquals {
        /// The form.
        form: FormId,
        /// The field.
        field: String,
        /// The value, as JSON (compared after the field's own normalisation).
        value: Value,
    },
    /// These subjects.
    Subjects {
        /// Their ids.
        ids: BTreeSet<SubjectId>,
    },
    /// Every subject with a consent event (given or withdrawn) under this consent form.
    ConsentForm {
        /// The consent form.
        consent_form: ConsentFormId,
    },
    /// Every subject whose consent for `purpose` stands as `state` now: consent in force under
    /// any of its consent forms is `given`; else, one to be renewed is `reconsent_required`;
    /// else, one withdrawn is `withdrawn`.
    ConsentState {
        /// The consent-based purpose.
        purpose: PurposeId,
        /// Where the subject stands.
        state: ConsentState,
    },
}

/// Where a subject stands with a purpose's consent, for [`BatchSelector::ConsentState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Consent in force.
    Given,
    /// Withdrawn (and not given again).
    Withdrawn,
    /// Given to a version that a newer one required renewing.
    ReconsentRequired,
}

/// Records picked by form and creation time alone: `from <= created_at < to`, each bound
/// optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordScope {
    /// Only this form's records.
    pub form: Option<FormId>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
}

impl RecordScope {
    /// Every record.
    pub const ALL: Self = Self {
        form: None,
        from: None,
        to: None,
    };

    /// The same scope, without records created after `cutoff` (when given).
    #[must_use]
    pub fn until(self, cutoff: Option<OffsetDateTime>) -> Self {
        let Some(cutoff) = cutoff else { return self };
        // `to` is exclusive; the cutoff itself is included.
        let end = cutoff + time::Duration::NANOSECOND;
        Self {
            to: Some(self.to.map_or(end, |to| to.min(end))),
            ..self
        }
    }

    /// Whether a record of `form` created at `created_at` is in scope.
    #[must_use]
    pub fn contains(&self, form: FormId, created_at: OffsetDateTime) -> bool {
        self.form.is_none_or(|f| f == form)
            && self.from.is_none_or(|from| created_at >= from)
            && self.to.is_none_or(|to| created_at < to)
    }
}

/// What a selector looks at in a record.
#[derive(Debug, Clone, Copy)]
pub struct RecordFacts<'a> {
    /// The record's form.
    pub form: FormId,
    /// Its subject.
    pub subject: SubjectId,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Its values.
    pub values: &'a RecordValues,
}

impl BatchSelector {
    /// Whether the selector picks the subject of this record.
    #[must_use]
    pub fn matches(&self, record: &RecordFacts<'_>) -> bool {
        match self {
            Self::Form { form } => record.form == *form,
            Self::CreatedBetween { from, to, form } => {
                form.is_none_or(|f| f == record.form)
                    && record.created_at >= *from
                    && record.created_at < *to
            }
            Self::FieldEquals { form, field, value } => {
                record.form == *form
                    && record
                        .values
                        .get(field)
                        .is_some_and(|v| &v.expose_pii_json() == value)
            }
            Self::Subjects { ids } => ids.contains(&record.subject),
            // Picked by their consent history, not their records: see `pick_by_consent`.
            Self::ConsentForm { .. } | Self::ConsentState { .. } => false,
        }
    }

    /// The records this selector picks when that can be told without reading their values
    /// (a form, a creation window): storage can then count them without decrypting anything.
    /// `None` for a field comparison and for a list of subjects.
    #[must_use]
    pub const fn record_scope(&self) -> Option<RecordScope> {
        match self {
            Self::Form { form } => Some(RecordScope {
                form: Some(*form),
                from: None,
                to: None,
            }),
            Self::CreatedBetween { from, to, form } => Some(RecordScope {
                form: *form,
                from: Some(*from),
                to: Some(*to),
            }),
            Self::FieldEquals { .. }
            | Self::Subjects { .. }
            | Self::ConsentForm { .. }
            | Self::ConsentState { .. } => None,
        }
    }

    /// For a selection by consent: the subjects it picks from the tenant's consent forms and
    /// consent history (in append order), counting only events at or before `cutoff` when
    /// given; and the purpose whose forms' records it covers. `None` for other selections.
    #[must_use]
    pub fn pick_by_consent(
        &self,
        forms: &[ConsentForm],
        events: &[ConsentEvent],
        cutoff: Option<OffsetDateTime>,
    ) -> Option<(BTreeSet<SubjectId>, PurposeId)> {
        let events = events.iter().filter(|e| cutoff.is_none_or(|c| e.at <= c));
        match self {
            Self::ConsentForm { consent_form } => {
                let purpose = forms
                    .iter()
                    .find(|f| f.id == *consent_form)
                    .map(|f| f.purpose.clone())?;
                let picked = events
                    .filter(|e| e.form == *consent_form)
                    .map(|e| e.subject)
                    .collect();
                Some((picked, purpose))
            }
            Self::ConsentState { purpose, state } => {
                let of_purpose: Vec<&ConsentForm> =
                    forms.iter().filter(|f| f.purpose == *purpose).collect();
                let mut histories: BTreeMap<SubjectId, Vec<ConsentEvent>> = BTreeMap::new();
                for e in events.filter(|e| of_purpose.iter().any(|f| f.id == e.form)) {
                    histories.entry(e.subject).or_default().push(e.clone());
                }
                let picked = histories
                    .into_iter()
                    .filter(|(_, history)| {
                        let statuses: Vec<ConsentStatus> = of_purpose
                            .iter()
                            .map(|f| current_status(f, history))
                            .collect();
                        let any = |pick: fn(&ConsentStatus) -> bool| statuses.iter().any(pick);
                        let standing = if any(|s| matches!(s, ConsentStatus::Given { .. })) {
                            ConsentState::Given
                        } else if any(|s| matches!(s, ConsentStatus::ReconsentRequired { .. })) {
                            ConsentState::ReconsentRequired
                        } else {
                            ConsentState::Withdrawn
                        };
                        standing == *state
                            && statuses.iter().any(|s| *s != ConsentStatus::NeverGiven)
                    })
                    .map(|(subject, _)| subject)
                    .collect();
                Some((picked, purpose.clone()))
            }
            _ => None,
        }
    }

    /// The subjects listed outright (a `Subjects` selector), or none.
    #[must_use]
    pub fn listed(&self) -> Option<&BTreeSet<SubjectId>> {
        match self {
            Self::Subjects { ids } => Some(ids),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use gdpr_pii::{FieldKind, FieldSpec, FormSchema, PiiCategory};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn each_selector_picks_what_it_says() {
        let schema = FormSchema::new(vec![FieldSpec::new(
            "email",
            FieldKind::Email,
            PiiCategory::Email,
            true,
        )])
        .unwrap();
        let values = schema
            .validate(&json!({"email": "Ada@Example.com"}))
            .unwrap();
        let (form, subject) = (
            FormId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        );
        let r = RecordFacts {
            form,
            subject,
            created_at: datetime!(2026-03-01 0:00 UTC),
            values: &values,
        };
        let yes = [
            BatchSelector::Form { form },
            BatchSelector::CreatedBetween {
                from: datetime!(2026-03-01 0:00 UTC),
                to: datetime!(2026-03-02 0:00 UTC),
                form: None,
            },
            BatchSelector::FieldEquals {
                form,
                field: "email".into(),
                value: json!("ada@example.com"),
            },
            BatchSelector::Subjects {
                ids: [subject].into(),
            },
        ];
        let no = [
            BatchSelector::Form {
                form: FormId::at(time::OffsetDateTime::UNIX_EPOCH),
            },
            BatchSelector::CreatedBetween {
                from: datetime!(2026-02-01 0:00 UTC),
                to: datetime!(2026-03-01 0:00 UTC),
                form: None,
            },
            BatchSelector::CreatedBetween {
                from: datetime!(2026-03-01 0:00 UTC),
                to: datetime!(2026-03-02 0:00 UTC),
                form: Some(FormId::at(time::OffsetDateTime::UNIX_EPOCH)),
            },
            BatchSelector::FieldEquals {
                form,
                field: "email".into(),
                value: json!("bob@example.com"),
            },
            BatchSelector::Subjects {
                ids: [SubjectId::at(time::OffsetDateTime::UNIX_EPOCH)].into(),
            },
        ];
        assert!(yes.iter().all(|s| s.matches(&r)));
        assert!(no.iter().all(|s| !s.matches(&r)));
        // Where storage can select without reading values, it selects exactly the same.
        for selector in yes.iter().chain(&no) {
            if let Some(scope) = selector.record_scope() {
                assert_eq!(
                    scope.contains(r.form, r.created_at),
                    selector.matches(&r),
                    "{selector:?}"
                );
            }
        }
        assert!(yes[2].record_scope().is_none() && yes[3].record_scope().is_none());
    }

    #[test]
    fn selections_by_consent_pick_from_the_history() {
        use gdpr_consent::{ConsentAction, ConsentMethod, LawfulBasis, Purpose};
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let tenant = gdpr_pii::TenantId::at(t0);
        let purpose = Purpose::new(
            PurposeId::parse("news").unwrap(),
            "News",
            LawfulBasis::Consent,
        )
        .unwrap();
        let (a, b) = (
            ConsentForm::publish(tenant, &purpose, "A", "v1", t0).unwrap(),
            ConsentForm::publish(tenant, &purpose, "B", "v1", t0).unwrap(),
        );
        let [given, withdrew, switched, never] = [(); 4].map(|()| SubjectId::at(t0));
        let event = |form: &ConsentForm, subject, action, minutes| {
            ConsentEvent::new(
                form,
                subject,
                action,
                None,
                t0 + time::Duration::minutes(minutes),
                ConsentMethod::Api,
                None,
            )
            .unwrap()
        };
        let events = [
            event(&a, given, ConsentAction::Given, 1),
            event(&a, withdrew, ConsentAction::Given, 2),
            event(&a, withdrew, ConsentAction::Withdrawn, 3),
            // Withdrew under A, consents under B: given for the purpose.
            event(&a, switched, ConsentAction::Given, 4),
            event(&a, switched, ConsentAction::Withdrawn, 5),
            event(&b, switched, ConsentAction::Given, 6),
        ];
        let forms = [a.clone(), b.clone()];
        let pick = |selector: BatchSelector, cutoff| {
            selector.pick_by_consent(&forms, &events, cutoff).unwrap()
        };
        let state = |state| BatchSelector::ConsentState {
            purpose: purpose.id.clone(),
            state,
        };
        assert_eq!(
            pick(state(ConsentState::Withdrawn), None).0,
            [withdrew].into()
        );
        assert_eq!(
            pick(state(ConsentState::Given), None).0,
            [given, switched].into()
        );
        // As of minute 5, the one who switched had withdrawn.
        assert_eq!(
            pick(
                state(ConsentState::Withdrawn),
                Some(t0 + time::Duration::minutes(5))
            )
            .0,
            [withdrew, switched].into()
        );
        let (by_b, covers) = pick(BatchSelector::ConsentForm { consent_form: b.id }, None);
        assert_eq!((by_b, covers), ([switched].into(), purpose.id.clone()));
        assert!(!pick(state(ConsentState::Given), None).0.contains(&never));
        assert!(
            BatchSelector::Form {
                form: FormId::at(t0)
            }
            .pick_by_consent(&forms, &events, None)
            .is_none()
        );
    }

    #[test]
    fn a_cutoff_keeps_records_up_to_and_including_it() {
        let (form, at) = (
            FormId::at(time::OffsetDateTime::UNIX_EPOCH),
            datetime!(2026-03-01 12:00 UTC),
        );
        let scope = BatchSelector::Form { form }.record_scope().unwrap();
        assert!(
            scope
                .until(None)
                .contains(form, at + time::Duration::days(9))
        );
        let cut = scope.until(Some(at));
        assert!(cut.contains(form, at));
        assert!(!cut.contains(form, at + time::Duration::NANOSECOND));
        // An earlier end of the selector's own window stays.
        let window = BatchSelector::CreatedBetween {
            from: at - time::Duration::days(1),
            to: at - time::Duration::hours(1),
            form: None,
        };
        let cut = window.record_scope().unwrap().until(Some(at));
        assert_eq!(cut.to, Some(at - time::Duration::hours(1)));
        assert!(!cut.contains(form, at - time::Duration::minutes(30)));
        assert!(
            !RecordScope::ALL
                .until(Some(at))
                .contains(form, at + time::Duration::SECOND)
        );
    }
}
