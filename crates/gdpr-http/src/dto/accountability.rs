//! Wire types of accountability: erasure receipts, batch selections and jobs, the audit and
//! attestation chains, the register of processing.

use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

/// One place of an erasure and its outcome.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PlaceOut {
    /// The place: records, personal_fields, data_key, consents, backups, error_tracker.
    pub(crate) place: String,
    /// planned, done, pending or blocked.
    pub(crate) outcome: String,
    /// When it was done or last tried.
    pub(crate) at: Option<OffsetDateTime>,
    /// How many items went.
    pub(crate) count: Option<u64>,
    /// Attempts so far (pending).
    pub(crate) attempts: Option<u32>,
    /// Last failure (pending) or the blocking reason.
    pub(crate) reason: Option<String>,
}

/// An erasure receipt.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ReceiptOut {
    /// Id.
    pub(crate) id: Uuid,
    /// The subject erased.
    pub(crate) subject: Uuid,
    /// The request answered.
    pub(crate) request: Option<Uuid>,
    /// Started.
    pub(crate) started_at: OffsetDateTime,
    /// complete, pending or blocked.
    pub(crate) status: String,
    /// Each place.
    pub(crate) places: Vec<PlaceOut>,
}

/// How a batch erasure selects subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum SelectBy {
    /// Subjects with a record in `form`.
    Form,
    /// Subjects with a record created in `[from, to)` (optionally in `form`).
    CreatedBetween,
    /// Subjects with a record of `form` whose `field` equals `value`.
    FieldEquals,
    /// The `subjects` listed.
    Subjects,
}

/// A batch selection: parsed as [`SelectorFields`], documented as [`shapes::Selector`].
pub(crate) type SelectorIn = Shaped<SelectorFields, shapes::Selector>;

/// The fields of a batch selection; `by` says which of the others it takes.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct SelectorFields {
    /// The kind of selection.
    pub(crate) by: SelectBy,
    // Each field is read as present or absent, `null` included: one the kind does not use
    // is refused even as `null`, as the documented shapes say.
    /// Form.
    pub(crate) form: MaybeUndefined<Uuid>,
    /// Start (inclusive).
    pub(crate) from: MaybeUndefined<OffsetDateTime>,
    /// End (exclusive).
    pub(crate) to: MaybeUndefined<OffsetDateTime>,
    /// Field name.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub(crate) field: MaybeUndefined<Text>,
    /// Field value (`null` is a value: no record holds it, so it selects nobody).
    pub(crate) value: MaybeUndefined<Value>,
    /// Subject ids.
    #[oai(validator(max_items = 100000))]
    pub(crate) subjects: MaybeUndefined<Vec<Uuid>>,
}

/// What a batch erasure would do.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchPlanOut {
    /// Subjects that would be erased.
    pub(crate) subjects: Vec<Uuid>,
    /// Records they hold.
    pub(crate) records: u64,
    /// Selected but held by a legal hold.
    pub(crate) blocked: Vec<Uuid>,
    /// Listed ids that match no subject.
    pub(crate) unknown: u64,
}

/// The result of verifying the audit chain.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuditVerifyOut {
    /// Whether the chain is intact.
    pub(crate) valid: bool,
    /// Records checked.
    pub(crate) records: u64,
    /// Hash of the last record (when valid).
    pub(crate) head: Option<String>,
    /// Where it breaks (when not).
    pub(crate) problem: Option<String>,
    /// The sequence number where it breaks.
    pub(crate) broken_at: Option<u64>,
}

/// A batch job's progress (an erasure, a deletion of records).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct JobProgressOut {
    /// The job's id.
    pub(crate) id: Uuid,
    /// `queued`, `running`, `done` or `failed`.
    pub(crate) state: String,
    /// Items (subjects, records) done so far: the furthest point a run has recorded.
    pub(crate) done: u64,
    /// Items to do (the dry run's count when it started).
    pub(crate) total: u64,
    /// Runs so far (more than one after a crash or restart: the job resumes).
    pub(crate) attempts: u32,
    /// The last failure, if any (the job is retried).
    pub(crate) last_error: Option<String>,
    /// Where to follow it.
    pub(crate) status: String,
}

/// A batch erasure, started or as it stands.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchErasureOut {
    /// Its progress.
    #[oai(flatten)]
    pub(crate) job: JobProgressOut,
    /// Once done: subjects erased, their records, subjects left alone by a legal hold.
    pub(crate) summary: Option<BatchSummaryOut>,
}

/// What a batch erasure came to.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchSummaryOut {
    /// Subjects erased, each with its own receipt, or found already gone.
    pub(crate) erased: u64,
    /// The records of the subjects the dry run would erase, as it counted them.
    pub(crate) records: u64,
    /// Subjects left alone by a legal hold, held at the dry run or since (each with a receipt
    /// saying so).
    pub(crate) blocked: u64,
}

/// What a batch deletion of records would delete, or deleted.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordDeletionPlanOut {
    /// Records (to be) deleted.
    pub(crate) records: u64,
    /// The subjects they belong to (who stay).
    pub(crate) subjects: u64,
    /// Selected records left alone: their subject is under a legal hold.
    pub(crate) blocked: u64,
}

/// A batch deletion of records, started or as it stands.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordDeletionOut {
    /// Its progress.
    #[oai(flatten)]
    pub(crate) job: JobProgressOut,
    /// Once done, what it came to.
    pub(crate) summary: Option<RecordDeletionPlanOut>,
}

/// A whole JSON document (a receipt, the register, an audit record) as the domain defines it.
pub(crate) type Document = Value;
