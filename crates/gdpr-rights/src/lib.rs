//! Data-subject rights: requests and their legal deadlines, legal holds, and erasure — what it
//! must reach, what stops it, and the receipt that proves it.
//!
//! This crate owns the request lifecycle (access, portability, rectification, erasure,
//! restriction, objection), the one-calendar-month deadline of Art. 12(3) with its single
//! extension, overdue detection, the Art. 17(3) legal holds that block erasure, the erasure plan
//! listing every place personal data went, the receipt recording each place's outcome, and the
//! selection rules of batch erasure, and the restrictions (Art. 18) and objections (Art. 21)
//! that limit processing; and the register of processors and recipients with the rule that
//! flags a transfer outside the EEA without a safeguard (Art. 28, 30(1)(d)-(e), 44–46). It does
//! no I/O and reads no clock.
#![deny(missing_docs)]

mod batch;
mod breach;
mod deadline;
mod decision;
mod erasure;
mod limits;
mod recipients;
mod request;

pub use batch::{BatchSelector, ConsentState, RecordFacts, RecordScope};
pub use breach::{
    Affected, AuthorityNotice, Breach, BreachError, BreachKind, Clock, NOTIFICATION_DEADLINE,
    SubjectsDecision,
};
pub use deadline::{add_months, due_date};
pub use decision::Decision;
pub use erasure::{
    ErasedCounts, ErasureBlocked, ErasurePlan, ErasureReceipt, ErasureStatus, HoldGround,
    LegalHold, Outcome, Place, PlaceOutcome, Tombstone,
};
pub use limits::{LimitError, LimitKind, ProcessingBlocked, ProcessingLimit, may_process};
pub use recipients::{
    Country, Recipient, RecipientError, RecipientRole, Safeguard, Transfer, unsafeguarded,
};
pub use request::{
    Extension, IdentityVerification, RequestError, RequestKind, RequestStatus, SubjectRequest,
    VerificationMethod, check_reason,
};
