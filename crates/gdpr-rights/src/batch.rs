//! Batch erasure: which subjects a selector picks, decided on record facts alone.

use std::collections::BTreeSet;

use gdpr_pii::{FormId, RecordValues, SubjectId};
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
            Self::FieldEquals { .. } | Self::Subjects { .. } => None,
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
