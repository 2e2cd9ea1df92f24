//! Form schemas whose every field is classified, and validation of records against them.
//!
//! A schema is parsed from [`FieldSpec`]s once; a field whose category is missing makes the whole
//! schema an error, so an unclassified field can never hold data. Records are validated into
//! [`RecordValues`]: types checked, required fields present, unknown fields refused, every
//! problem reported at once by field name, never by value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Date;
use time::format_description::well_known::Iso8601;

use crate::{Email, PiiCategory};

/// The longest text value accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
const MAX_FIELDS: usize = 200;
const MAX_NAME: usize = 64;

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A string of at most 10,000 characters.
    Text,
    /// An e-mail address, parsed and normalised.
    Email,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

/// A field as a tenant declares it: the category is optional here only so that its absence can
/// be reported as an error rather than a deserialisation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name: lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: String,
    /// The value type.
    pub kind: FieldKind,
    /// The PII category (or [`PiiCategory::NotPersonal`]); required.
    pub category: Option<PiiCategory>,
    /// Whether every record must carry it.
    #[serde(default)]
    pub required: bool,
}

impl FieldSpec {
    /// A classified field.
    #[must_use]
    pub fn new(name: &str, kind: FieldKind, category: PiiCategory, required: bool) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            category: Some(category),
            required,
        }
    }
}

/// Why a set of field specs is not a schema. Field names are tenant-chosen labels, not PII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// No fields at all.
    #[error("a form needs at least one field")]
    NoFields,
    /// More fields than allowed.
    #[error("a form has at most {max} fields")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// A field name breaks the naming rule.
    #[error(
        "field #{index}: name must be 1 to 64 lowercase ASCII letters, digits or '_', starting with a letter"
    )]
    InvalidName {
        /// The field's position (0-based).
        index: usize,
    },
    /// Two fields share a name.
    #[error("field '{0}' is declared twice")]
    DuplicateField(String),
    /// A field without a PII category: every field must say what it holds.
    #[error("field '{0}' has no PII category: classify it, or declare it not_personal")]
    MissingCategory(String),
    /// An e-mail field classified as something other than an e-mail.
    #[error("field '{0}' has kind email and must be classified as email")]
    KindCategoryMismatch(String),
}

/// A validated form schema: every field named once and classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<FieldSpec>", into = "Vec<FieldSpec>")]
pub struct FormSchema {
    fields: Vec<Field>,
}

/// A field of a validated schema.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    kind: FieldKind,
    category: PiiCategory,
    required: bool,
}

impl FormSchema {
    /// Validates the specs into a schema.
    ///
    /// # Errors
    /// The first [`SchemaError`] met, in field order.
    pub fn new(specs: Vec<FieldSpec>) -> Result<Self, SchemaError> {
        if specs.is_empty() {
            return Err(SchemaError::NoFields);
        }
        if specs.len() > MAX_FIELDS {
            return Err(SchemaError::TooManyFields { max: MAX_FIELDS });
        }
        let mut seen = BTreeSet::new();
        let mut fields = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            if !is_valid_name(&spec.name) {
                return Err(SchemaError::InvalidName { index });
            }
            if !seen.insert(spec.name.clone()) {
                return Err(SchemaError::DuplicateField(spec.name));
            }
            let Some(category) = spec.category else {
                return Err(SchemaError::MissingCategory(spec.name));
            };
            if spec.kind == FieldKind::Email && category != PiiCategory::Email {
                return Err(SchemaError::KindCategoryMismatch(spec.name));
            }
            fields.push(Field {
                name: spec.name,
                kind: spec.kind,
                category,
                required: spec.required,
            });
        }
        Ok(Self { fields })
    }

    /// The fields as specs (each with its category), in declaration order.
    #[must_use]
    pub fn specs(&self) -> Vec<FieldSpec> {
        self.fields
            .iter()
            .map(|f| FieldSpec::new(&f.name, f.kind, f.category, f.required))
            .collect()
    }

    /// Each field's name and category, in declaration order.
    pub fn classification(&self) -> impl Iterator<Item = (&str, PiiCategory)> {
        self.fields.iter().map(|f| (f.name.as_str(), f.category))
    }

    /// The category of a field, if the schema has it.
    #[must_use]
    pub fn category_of(&self, field: &str) -> Option<PiiCategory> {
        self.fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.category)
    }

    /// Validates a record's JSON object against the schema.
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every field that is wrong, by name, never by value.
    pub fn validate(&self, input: &Value) -> Result<RecordValues, ValidationErrors> {
        let Value::Object(object) = input else {
            return Err(ValidationErrors(vec![FieldError {
                field: String::new(),
                reason: "a record must be a JSON object of field names to values".into(),
            }]));
        };
        self.validate_object(object)
    }

    /// [`Self::validate`] of an object it may consume: names and text move into the values
    /// instead of being copied (records read back in bulk).
    ///
    /// # Errors
    /// As [`Self::validate`].
    pub fn validate_owned(
        &self,
        mut object: Map<String, Value>,
    ) -> Result<RecordValues, ValidationErrors> {
        let mut errors = self.unknown_fields(&object);
        let mut values = BTreeMap::new();
        for field in &self.fields {
            let parsed = match object.remove_entry(&field.name) {
                None | Some((_, Value::Null)) => {
                    if field.required {
                        errors.push(FieldError::new(&field.name, "required field is missing"));
                    }
                    continue;
                }
                Some((name, Value::String(text)))
                    if field.kind == FieldKind::Text && text.chars().count() <= MAX_TEXT_CHARS =>
                {
                    Ok((name, FieldValue::Text(text)))
                }
                Some((name, value)) => parse_value(field.kind, &value).map(|v| (name, v)),
            };
            match parsed {
                Ok((name, value)) => {
                    values.insert(name, value);
                }
                Err(reason) => errors.push(FieldError::new(&field.name, reason)),
            }
        }
        if errors.is_empty() {
            Ok(RecordValues(values))
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// An error for each key the form does not declare.
    fn unknown_fields(&self, object: &Map<String, Value>) -> Vec<FieldError> {
        object
            .keys()
            .filter(|key| !self.fields.iter().any(|f| &f.name == *key))
            .map(|key| FieldError {
                // An unknown key is echoed only if it looks like a field name, so that a key
                // made of personal data is not sent back.
                field: if is_valid_name(key) {
                    key.clone()
                } else {
                    "<unknown>".into()
                },
                reason: "unknown field: the form does not declare it".into(),
            })
            .collect()
    }

    fn validate_object(
        &self,
        object: &Map<String, Value>,
    ) -> Result<RecordValues, ValidationErrors> {
        let mut errors = self.unknown_fields(object);
        let mut values = BTreeMap::new();
        for field in &self.fields {
            match object.get(&field.name) {
                None | Some(Value::Null) => {
                    if field.required {
                        errors.push(FieldError::new(&field.name, "required field is missing"));
                    }
                }
                Some(value) => match parse_value(field.kind, value) {
                    Ok(parsed) => {
                        values.insert(field.name.clone(), parsed);
                    }
                    Err(reason) => errors.push(FieldError::new(&field.name, reason)),
                },
            }
        }
        if errors.is_empty() {
            Ok(RecordValues(values))
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

impl TryFrom<Vec<FieldSpec>> for FormSchema {
    type Error = SchemaError;

    fn try_from(specs: Vec<FieldSpec>) -> Result<Self, Self::Error> {
        Self::new(specs)
    }
}

impl From<FormSchema> for Vec<FieldSpec> {
    fn from(schema: FormSchema) -> Self {
        schema.specs()
    }
}

/// Whether `name` is a valid field name: 1 to 64 lowercase ASCII letters, digits or `_`,
/// starting with a letter. Such names are the tenant's labels, never personal data, and may be
/// echoed in errors.
#[must_use]
pub fn is_field_name(name: &str) -> bool {
    is_valid_name(name)
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_value(kind: FieldKind, value: &Value) -> Result<FieldValue, String> {
    match (kind, value) {
        (FieldKind::Text, Value::String(s)) => {
            if s.chars().count() > MAX_TEXT_CHARS {
                Err(format!("text is longer than {MAX_TEXT_CHARS} characters"))
            } else {
                Ok(FieldValue::Text(s.clone()))
            }
        }
        (FieldKind::Email, Value::String(s)) => Email::parse(s)
            .map(FieldValue::Email)
            .map_err(|e| e.to_string()),
        (FieldKind::Number, Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(FieldValue::Number)
            .ok_or_else(|| "number is out of range".into()),
        (FieldKind::Boolean, Value::Bool(b)) => Ok(FieldValue::Boolean(*b)),
        // Exactly YYYY-MM-DD: ISO 8601 also has signed six-digit years (`-000001-01-01`),
        // which would be stored as `-0001-01-01` and not read back (found by the fuzzer).
        (FieldKind::Date, Value::String(s)) if is_plain_date(s) => Date::parse(s, &Iso8601::DATE)
            .map(FieldValue::Date)
            .map_err(|_| "expected a calendar date as YYYY-MM-DD".into()),
        (FieldKind::Date, Value::String(_)) => Err("expected a calendar date as YYYY-MM-DD".into()),
        (kind, _) => Err(format!("expected {}", expected(kind))),
    }
}

/// `YYYY-MM-DD` by its shape: four, two and two ASCII digits.
fn is_plain_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

const fn expected(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "a string",
        FieldKind::Email => "an e-mail address as a string",
        FieldKind::Number => "a number",
        FieldKind::Boolean => "true or false",
        FieldKind::Date => "a date string YYYY-MM-DD",
    }
}

/// One validated value.
#[derive(Clone, PartialEq)]
pub enum FieldValue {
    /// Text.
    Text(String),
    /// An e-mail address.
    Email(Email),
    /// A number.
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A date.
    Date(Date),
}

impl FieldValue {
    /// The value as JSON, exposing personal data: for exports to the subject and for storage.
    #[must_use]
    pub fn expose_pii_json(&self) -> Value {
        match self {
            Self::Text(s) => Value::String(s.clone()),
            Self::Email(e) => Value::String(e.expose_pii().to_owned()),
            Self::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Self::Boolean(b) => Value::Bool(*b),
            Self::Date(d) => Value::String(d.to_string()),
        }
    }

    /// [`Self::expose_pii_json`], consuming the value: no copy of its text.
    #[must_use]
    pub fn into_pii_json(self) -> Value {
        match self {
            Self::Text(s) => Value::String(s),
            Self::Email(e) => Value::String(e.into_pii()),
            other => other.expose_pii_json(),
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<value>")
    }
}

/// A record's values after validation, keyed by field name.
///
/// `Debug` lists field names only: values may be personal data.
#[derive(Clone, PartialEq, Default)]
pub struct RecordValues(BTreeMap<String, FieldValue>);

impl RecordValues {
    /// The value of a field, if present.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.0.get(field)
    }

    /// Field names and values, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The record as a JSON object, exposing personal data (exports, storage adapters).
    #[must_use]
    pub fn expose_pii_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.expose_pii_json()))
                .collect(),
        )
    }

    /// [`Self::expose_pii_json`], consuming the values: no copy of names or text (large
    /// exports).
    #[must_use]
    pub fn into_pii_json(self) -> Value {
        Value::Object(
            self.0
                .into_iter()
                .map(|(k, v)| (k, v.into_pii_json()))
                .collect(),
        )
    }

    /// How many fields hold a value.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field holds a value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RecordValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name (empty for the record as a whole).
    pub field: String,
    /// What is wrong, without the value.
    pub reason: String,
}

impl FieldError {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Every problem a record has, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record is invalid: {}", summary(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| {
            if e.field.is_empty() {
                e.reason.clone()
            } else {
                format!("{}: {}", e.field, e.reason)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contractors() -> FormSchema {
        FormSchema::new(vec![
            FieldSpec::new("email", FieldKind::Email, PiiCategory::Email, true),
            FieldSpec::new("full_name", FieldKind::Text, PiiCategory::FullName, true),
            FieldSpec::new(
                "day_rate",
                FieldKind::Number,
                PiiCategory::NotPersonal,
                false,
            ),
            FieldSpec::new(
                "active",
                FieldKind::Boolean,
                PiiCategory::NotPersonal,
                false,
            ),
            FieldSpec::new("born", FieldKind::Date, PiiCategory::DateOfBirth, false),
        ])
        .unwrap()
    }

    #[test]
    fn dates_are_exactly_yyyy_mm_dd_and_read_back() {
        let schema = contractors();
        let record = |born: &str| serde_json::json!({"email": "ada@example.org", "full_name": "Ada", "born": born});
        for good in ["1815-12-10", "0005-01-01", "9999-12-31"] {
            let values = schema.validate(&record(good)).unwrap();
            assert_eq!(values.expose_pii_json()["born"], good);
            assert_eq!(schema.validate(&values.expose_pii_json()), Ok(values));
        }
        for bad in [
            "-000001-01-01",
            "+010000-01-01",
            "1815-12-1",
            "1815-13-10",
            "18151210",
        ] {
            let errors = schema.validate(&record(bad)).unwrap_err();
            assert_eq!(errors.0[0].field, "born", "{bad}");
        }
    }

    #[test]
    fn a_field_without_a_category_makes_the_schema_an_error() {
        let mut spec = FieldSpec::new("notes", FieldKind::Text, PiiCategory::FreeText, false);
        spec.category = None;
        assert_eq!(
            FormSchema::new(vec![spec]),
            Err(SchemaError::MissingCategory("notes".into()))
        );
        let json = json!([{ "name": "notes", "kind": "text" }]);
        let err = serde_json::from_value::<FormSchema>(json).unwrap_err();
        assert!(err.to_string().contains("has no PII category"), "{err}");
    }

    #[test]
    fn schema_rules() {
        let f = |n: &str| FieldSpec::new(n, FieldKind::Text, PiiCategory::FreeText, false);
        assert_eq!(FormSchema::new(vec![]), Err(SchemaError::NoFields));
        assert_eq!(
            FormSchema::new(vec![f("a"), f("a")]),
            Err(SchemaError::DuplicateField("a".into()))
        );
        for bad in ["", "A", "1a", "a-b", "é", &"a".repeat(65)] {
            assert_eq!(
                FormSchema::new(vec![f(bad)]),
                Err(SchemaError::InvalidName { index: 0 }),
                "{bad:?}"
            );
        }
        assert_eq!(
            FormSchema::new(vec![FieldSpec::new(
                "mail",
                FieldKind::Email,
                PiiCategory::NotPersonal,
                false
            )]),
            Err(SchemaError::KindCategoryMismatch("mail".into()))
        );
        let many = (0..201).map(|i| f(&format!("f{i}"))).collect();
        assert_eq!(
            FormSchema::new(many),
            Err(SchemaError::TooManyFields { max: 200 })
        );
    }

    #[test]
    fn a_valid_record_is_parsed_and_typed() {
        let values = contractors()
            .validate(&json!({
                "email": " Ada@Example.com ",
                "full_name": "Ada Lovelace",
                "day_rate": 450.5,
                "active": true,
                "born": "1815-12-10",
            }))
            .unwrap();
        assert_eq!(values.len(), 5);
        assert_eq!(values.expose_pii_json()["email"], json!("ada@example.com"));
        assert_eq!(
            values.get("born").unwrap().expose_pii_json(),
            json!("1815-12-10")
        );
        let debug = format!("{values:?}");
        assert!(!debug.contains("Ada") && !debug.contains("ada@"), "{debug}");
    }

    #[test]
    fn every_problem_is_reported_by_field_and_never_by_value() {
        let err = contractors()
            .validate(&json!({
                "email": "canary@@example.com",
                "day_rate": "cheap",
                "active": "yes",
                "born": "10/12/1815",
                "canary_field": 1,
                "Canary Person": 2,
            }))
            .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "<unknown>",
                "canary_field",
                "email",
                "full_name",
                "day_rate",
                "active",
                "born"
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("full_name: required field is missing"),
            "{text}"
        );
        assert!(text.contains("day_rate: expected a number"), "{text}");
        assert!(
            !text.contains("Canary Person") && !text.contains("canary@"),
            "{text}"
        );
        assert!(contractors().validate(&json!([1])).is_err());
    }

    #[test]
    fn null_counts_as_absent_and_over_long_text_is_refused() {
        let schema = contractors();
        let err = schema
            .validate(&json!({"email": null, "full_name": "x".repeat(MAX_TEXT_CHARS + 1)}))
            .unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(err.0[1].reason.contains("longer than"));
    }

    #[test]
    fn a_schema_round_trips_through_json_with_its_categories() {
        let schema = contractors();
        let json = serde_json::to_value(&schema).unwrap();
        assert_eq!(json[0]["category"], "email");
        assert_eq!(serde_json::from_value::<FormSchema>(json).unwrap(), schema);
    }
}
