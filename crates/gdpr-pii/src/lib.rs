//! Personal data, typed: what a piece of PII is, how it is parsed, how it is shown, and how it is
//! redacted.
//!
//! This crate owns the value types that carry personal data ([`Email`], [`FullName`],
//! [`IpAddress`]), the identifiers that do not ([`TenantId`], [`SubjectId`], ...), the PII
//! categories every stored field is classified under, form schemas whose fields must each carry
//! a category, record validation against a schema, and the rule-driven text [`Redactor`].
//!
//! It must not touch the outside world: no I/O, no clock, no async runtime. A PII type never
//! prints its raw value through `Debug` or `Display`; reading it is the explicit, greppable
//! `expose_pii()` call.
//!
//! Parse, don't validate: an e-mail that exists is a valid, normalised one, and it never
//! shows itself by accident.
//!
//! ```
//! use gdpr_pii::{Email, EmailError};
//!
//! let email = Email::parse("  Ada.Lovelace@Example.ORG ")?;
//! assert_eq!(email.expose_pii(), "ada.lovelace@example.org");
//! assert_eq!(email.to_string(), "<redacted e-mail>");
//! assert!(!format!("{email:?}").contains("ada"));
//!
//! // The error names the rule broken, never the input.
//! let err = Email::parse("ada@localhost").unwrap_err();
//! assert!(!err.to_string().contains("ada"));
//! # Ok::<(), EmailError>(())
//! ```
#![deny(missing_docs)]

mod category;
mod email;
mod entity;
mod ids;
mod inventory;
mod ip;
mod name;
mod redact;
mod schema;
mod structured;

pub use category::PiiCategory;
pub use email::{Email, EmailError};
pub use entity::{Record, Subject, Tenant};
pub use ids::{
    ApiKeyId, ConsentFormId, ConsoleUserId, FormId, IdError, RecordId, RequestId, SubjectId,
    TenantId,
};
pub use inventory::{Inventory, InventoryEntry, PROFILE_FIELDS};
pub use ip::{IpAddress, IpError, PseudonymisationPolicy, PseudonymousIp};
pub use name::{FullName, NameError};
pub use redact::{PatternKind, RedactionMethod, RedactionRule, Redactor, RedactorError};
pub use schema::{
    FieldError, FieldKind, FieldSpec, FieldValue, FormSchema, MAX_TEXT_CHARS, RecordValues,
    SchemaError, ValidationErrors, is_field_name,
};
pub use structured::{SENSITIVE_KEYS, StructuredRedactor};
