//! Consent: why data is processed, under which lawful basis, and the proof that a subject
//! agreed to exactly which text, when, how and from where.
//!
//! This crate owns purposes (each with exactly one Art. 6 lawful basis), consent forms whose
//! published versions are immutable and identified by the SHA-256 of their text, the
//! append-only history of consent events, the current state as a fold of that history, and
//! Kantara-style consent receipts. It does no I/O and reads no clock: times come in.
//!
//! A consent decision is a fold of the subject's history against the consent form: the last
//! event decides, and a withdrawal takes effect at once.
//!
//! ```
//! use gdpr_consent::{
//!     ConsentAction, ConsentError, ConsentEvent, ConsentForm, ConsentMethod, ConsentStatus,
//!     LawfulBasis, Purpose, PurposeId, current_status,
//! };
//! use gdpr_pii::{SubjectId, TenantId};
//! use time::macros::datetime;
//!
//! let at = datetime!(2026-12-06 10:00 UTC);
//! let purpose = Purpose::new(PurposeId::parse("newsletter")?, "Monthly news", LawfulBasis::Consent)?;
//! let form = ConsentForm::publish(TenantId::at(at), &purpose, "News", "I want the news", at)?;
//! let ada = SubjectId::at(at);
//! let event = |action, at| ConsentEvent::new(&form, ada, action, None, at, ConsentMethod::WebForm, None);
//!
//! let mut history = vec![event(ConsentAction::Given, at)?];
//! assert!(current_status(&form, &history).is_valid());
//!
//! history.push(event(ConsentAction::Withdrawn, datetime!(2026-12-07 09:00 UTC))?);
//! assert!(!current_status(&form, &history).is_valid());
//! assert!(matches!(current_status(&form, &history), ConsentStatus::Withdrawn { .. }));
//! # Ok::<(), ConsentError>(())
//! ```
#![deny(missing_docs)]

mod form;
mod history;
mod processing;
mod purpose;
mod receipt;

pub use form::{ConsentForm, ConsentFormVersion, ContentHash};
pub use history::{
    ConsentAction, ConsentEvent, ConsentEventId, ConsentMethod, ConsentStatus, current_status,
};
pub use processing::{Form, FormError};
pub use purpose::{LawfulBasis, Purpose, PurposeId};
pub use receipt::{ConsentReceipt, Controller, ReceiptPurpose, ReceiptService};

/// Why a consent operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// A purpose id that breaks the naming rule.
    #[error(
        "purpose id must be 1 to 64 lowercase ASCII letters, digits, '-' or '_', starting with a letter"
    )]
    InvalidPurposeId,
    /// A text that is empty or too long.
    #[error("{field} must be between 1 and {max} characters")]
    InvalidText {
        /// Which text.
        field: &'static str,
        /// The longest allowed.
        max: usize,
    },
    /// A consent form for a purpose that is not based on consent.
    #[error(
        "purpose '{purpose}' has lawful basis {basis}; consent forms are only for purposes based on consent"
    )]
    NotConsentBased {
        /// The purpose.
        purpose: String,
        /// Its basis.
        basis: LawfulBasis,
    },
    /// Publishing a version whose text equals the latest one.
    #[error("this text is already the latest published version")]
    Unchanged,
    /// A version hash the form never published.
    #[error("the consent form has no version with this hash")]
    UnknownVersion,
    /// Withdrawing consent that is not currently given.
    #[error("there is no current consent to withdraw")]
    NotGiven,
    /// Consent given, a version published or a form attached under a retired consent form.
    #[error("the consent form is retired: no new consent is collected under it")]
    Retired,
}
