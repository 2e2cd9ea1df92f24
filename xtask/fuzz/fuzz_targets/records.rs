//! Form schemas and records from any JSON: a schema is accepted or refused without a panic,
//! and an accepted one names each field once, validly, with a category; a record validates
//! or is refused by field, the owned and borrowing validations agree, and accepted values read
//! back identical (a stored record must open as it was written).
#![no_main]

use gdpr_pii::{FieldKind, FieldSpec, FormSchema, PiiCategory};
use libfuzzer_sys::fuzz_target;

fn every_kind() -> FormSchema {
    FormSchema::new(vec![
        FieldSpec::new("note", FieldKind::Text, PiiCategory::FreeText, false),
        FieldSpec::new("email", FieldKind::Email, PiiCategory::Email, true),
        FieldSpec::new("rate", FieldKind::Number, PiiCategory::NotPersonal, false),
        FieldSpec::new(
            "active",
            FieldKind::Boolean,
            PiiCategory::NotPersonal,
            false,
        ),
        FieldSpec::new("born", FieldKind::Date, PiiCategory::DateOfBirth, true),
    ])
    .expect("a valid schema")
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(specs) = serde_json::from_value::<Vec<FieldSpec>>(input.clone()) {
        if let Ok(schema) = FormSchema::new(specs.clone()) {
            let names: std::collections::BTreeSet<_> =
                schema.specs().iter().map(|s| s.name.clone()).collect();
            assert_eq!(names.len(), specs.len());
            assert!(
                schema
                    .specs()
                    .iter()
                    .all(|s| gdpr_pii::is_field_name(&s.name))
            );
            assert!(schema.specs().iter().all(|s| s.category.is_some()));
        }
    }
    let schema = every_kind();
    let validated = schema.validate(&input);
    if let serde_json::Value::Object(object) = &input {
        assert_eq!(schema.validate_owned(object.clone()), validated);
    }
    match validated {
        Ok(values) => {
            assert_eq!(schema.validate(&values.expose_pii_json()), Ok(values));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(
                    e.field.is_empty()
                        || e.field == "<unknown>"
                        || gdpr_pii::is_field_name(&e.field),
                    "an error names a field that is not one: it could be personal data"
                );
            }
        }
    }
});
