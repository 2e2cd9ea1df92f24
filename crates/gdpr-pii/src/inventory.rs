//! The inventory of personal data: every place a field is stored and what category it holds.
//!
//! The Art. 30 register, the log redaction of structured fields and the erasure plan are all
//! derived from it; nobody keeps a second hand-written list.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::{FormSchema, PiiCategory};

/// The fields every subject profile may hold, with their categories.
pub const PROFILE_FIELDS: [(&str, PiiCategory); 3] = [
    ("email", PiiCategory::Email),
    ("full_name", PiiCategory::FullName),
    ("ip_address", PiiCategory::IpAddress),
];

/// One stored field and its classification.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct InventoryEntry {
    /// Where the field lives: `subject profile`, or `form <name>`.
    pub location: String,
    /// The field's name.
    pub field: String,
    /// What it holds.
    pub category: PiiCategory,
}

/// Every classified field of a tenant: the subject profile plus each form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    entries: Vec<InventoryEntry>,
}

impl Inventory {
    /// The profile fields alone.
    #[must_use]
    pub fn profile() -> Self {
        let entries = PROFILE_FIELDS
            .iter()
            .map(|(field, category)| InventoryEntry {
                location: "subject profile".into(),
                field: (*field).into(),
                category: *category,
            })
            .collect();
        Self { entries }
    }

    /// Adds a form's fields under `form <name>`.
    pub fn add_form(&mut self, form_name: &str, schema: &FormSchema) {
        self.entries.extend(
            schema
                .classification()
                .map(|(field, category)| InventoryEntry {
                    location: format!("form {form_name}"),
                    field: field.into(),
                    category,
                }),
        );
    }

    /// Every entry, in insertion order.
    #[must_use]
    pub fn entries(&self) -> &[InventoryEntry] {
        &self.entries
    }

    /// The personal categories held anywhere, sorted.
    #[must_use]
    pub fn personal_categories(&self) -> BTreeSet<PiiCategory> {
        self.entries
            .iter()
            .map(|e| e.category)
            .filter(|c| c.is_personal())
            .collect()
    }

    /// The names of every field classified as personal, sorted: the structured-field keys a log
    /// layer must redact.
    #[must_use]
    pub fn personal_field_names(&self) -> BTreeSet<&str> {
        self.entries
            .iter()
            .filter(|e| e.category.is_personal())
            .map(|e| e.field.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldKind, FieldSpec};

    #[test]
    fn the_inventory_lists_profile_and_form_fields_with_their_categories() {
        let schema = FormSchema::new(vec![
            FieldSpec::new("phone", FieldKind::Text, PiiCategory::Phone, false),
            FieldSpec::new("rate", FieldKind::Number, PiiCategory::NotPersonal, false),
        ])
        .unwrap();
        let mut inventory = Inventory::profile();
        inventory.add_form("Contractors", &schema);
        assert_eq!(inventory.entries().len(), 5);
        assert_eq!(inventory.entries()[3].location, "form Contractors");
        assert!(
            inventory
                .personal_categories()
                .contains(&PiiCategory::Phone)
        );
        assert!(
            !inventory
                .personal_categories()
                .contains(&PiiCategory::NotPersonal)
        );
        let names = inventory.personal_field_names();
        assert!(names.contains("phone") && names.contains("email"));
        assert!(!names.contains("rate"));
    }
}
