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
        let (form, subject) = (FormId::new(), SubjectId::new());
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
                form: FormId::new(),
            },
            BatchSelector::CreatedBetween {
                from: datetime!(2026-02-01 0:00 UTC),
                to: datetime!(2026-03-01 0:00 UTC),
                form: None,
            },
            BatchSelector::CreatedBetween {
                from: datetime!(2026-03-01 0:00 UTC),
                to: datetime!(2026-03-02 0:00 UTC),
                form: Some(FormId::new()),
            },
            BatchSelector::FieldEquals {
                form,
                field: "email".into(),
                value: json!("bob@example.com"),
            },
            BatchSelector::Subjects {
                ids: [SubjectId::new()].into(),
            },
        ];
        assert!(yes.iter().all(|s| s.matches(&r)));
        assert!(no.iter().all(|s| !s.matches(&r)));
    }
}
