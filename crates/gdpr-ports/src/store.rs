//! Storage ports. Every read and write is scoped by tenant: an id of another tenant is
//! [`StoreError::NotFound`], exactly like an id that does not exist.
//!
//! Adapters keep personal fields encrypted at rest under a per-subject data key; these traits
//! hand out and take plain domain values, so the domain never sees ciphertext.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use gdpr_audit::{Attestation, AuditEvent, AuditMark, AuditRecord, Check};
use gdpr_consent::{ConsentEvent, ConsentForm, Form, Purpose, PurposeId};
use gdpr_pii::{
    ConsentFormId, Email, FormId, Record, RecordId, RequestId, Subject, SubjectId, Tenant, TenantId,
};
pub use gdpr_retention::{Offboarding, PolicyOverride};
pub use gdpr_rights::ErasedCounts;
use gdpr_rights::{
    ErasureReceipt, LegalHold, ProcessingLimit, RecordScope, SubjectRequest, Tombstone,
};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// What [`RequestStore::update_request`] refuses with when the request changed since it was
/// read.
pub const REQUEST_CHANGED: &str =
    "the request changed while this was being done: read it again and decide again";

/// What storage can fail with. Messages never contain personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing with this id in this tenant.
    #[error("not found")]
    NotFound,
    /// The write breaks a uniqueness rule; the message names the rule, not the value.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or the transaction failed; nothing was changed and
    /// retrying may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data cannot be read back (a ciphertext that fails to decrypt, a malformed row).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// A window of a list, in its stable order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Page {
    /// How many items to skip (after `after`, if given).
    pub offset: u64,
    /// How many to return at most.
    pub limit: u32,
    /// Start after this item: one step down the index, so that the page a million items deep
    /// costs what the first does (an offset reads every item it skips).
    pub after: Option<Cursor>,
}

/// Where an item sits in a list ordered by time, then id: the item a next page starts after.
/// Items come and go between pages (an erasure): the cursor is the position, not the item, so
/// a page after a deleted item still starts where it would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cursor {
    /// The item's time in the list's order (a subject's or record's creation, a request's
    /// receipt).
    pub at: OffsetDateTime,
    /// Its id, which breaks ties.
    pub id: uuid::Uuid,
}

impl Page {
    /// Everything.
    pub const ALL: Self = Self {
        offset: 0,
        limit: u32::MAX,
        after: None,
    };

    /// The first `limit` items.
    #[must_use]
    pub const fn first(limit: u32) -> Self {
        Self {
            offset: 0,
            limit,
            after: None,
        }
    }

    /// Whether an item at `cursor` comes after this page's start.
    #[must_use]
    pub fn starts_before(&self, cursor: Cursor) -> bool {
        self.after.is_none_or(|after| cursor > after)
    }
}

/// A subject's records, counted by [`RecordStore::count_records_by_subject`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCount {
    /// In the scope asked about.
    pub in_scope: u64,
    /// In all.
    pub total: u64,
}

/// A record as its retention sees it: no field of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    /// The record.
    pub id: RecordId,
    /// Its subject.
    pub subject: SubjectId,
    /// When it was submitted.
    pub created_at: OffsetDateTime,
}

/// One subject's erasure, as the storage transaction carries it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    /// The tombstone to journal.
    pub tombstone: Tombstone,
    /// The audit entry to append.
    pub audit: AuditEvent,
    /// The receipt, every place planned: stored in the same transaction with the
    /// transaction's places done ([`ErasureReceipt::record_erased`]).
    pub receipt: ErasureReceipt,
}

/// What became of one erasure of [`ErasureStore::erase_subjects`].
#[derive(Debug, Clone, PartialEq)]
pub enum Erased {
    /// Erased; the receipt as stored, its transactional places done with their counts.
    Done(ErasureReceipt),
    /// The subject does not exist (any more): nothing written for it.
    NotFound,
    /// An active legal hold appeared since the caller checked: nothing written for it.
    Held,
}

/// Tenants.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Stores a new tenant.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id exists; [`StoreError::Unavailable`].
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;

    /// A tenant by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_tenant(&self, id: TenantId) -> Result<Tenant, StoreError>;

    /// Every tenant, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// The tenant's departures from the deployment's retention periods (none set: empty).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn tenant_retention(&self, id: TenantId) -> Result<PolicyOverride, StoreError>;

    /// Replaces the tenant's departures from the deployment's retention periods.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn set_tenant_retention(
        &self,
        id: TenantId,
        retention: &PolicyOverride,
    ) -> Result<(), StoreError>;

    /// The tenant's scheduled offboarding, if one is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn tenant_offboarding(&self, id: TenantId) -> Result<Option<Offboarding>, StoreError>;

    /// Schedules (`Some`) or cancels (`None`) the tenant's offboarding.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn set_tenant_offboarding(
        &self,
        id: TenantId,
        offboarding: Option<Offboarding>,
    ) -> Result<(), StoreError>;

    /// Deletes every row of the tenant, in one transaction: its data, its keys, its audit
    /// and attestation chains and its own row; and appends `receipt` (a system event) with
    /// one detail per table, `rows.<table>`, the count deleted, in the same transaction.
    /// Returns the counts (none: the tenant was not there, and no receipt is written).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] (nothing deleted).
    async fn delete_tenant(
        &self,
        id: TenantId,
        receipt: AuditEvent,
    ) -> Result<BTreeMap<String, u64>, StoreError>;
}

/// Data subjects' profiles.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SubjectStore: Send + Sync {
    /// Stores many new subjects (each with its data key) and their audit events, all in one
    /// transaction: every one or none.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when any e-mail is already taken (in the tenant or twice in
    /// the batch): nothing is stored; [`StoreError::Unavailable`].
    async fn insert_subjects(
        &self,
        subjects: &[Subject],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError>;

    /// A subject by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (also for another tenant's subject); [`StoreError::Corrupt`];
    /// [`StoreError::Unavailable`].
    async fn get_subject(&self, tenant: TenantId, id: SubjectId) -> Result<Subject, StoreError>;

    /// Whether the tenant has this subject, read without decrypting anything: for the use
    /// cases that only need to know (data minimisation: nothing personal is opened for it).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn subject_exists(&self, tenant: TenantId, id: SubjectId) -> Result<bool, StoreError>;

    /// The tenant's subject with this (normalised) e-mail, found without storing it in clear.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn find_subject_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<Subject>, StoreError>;

    /// Replaces a subject's profile.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when the new e-mail is taken;
    /// [`StoreError::Unavailable`].
    async fn update_subject(&self, subject: &Subject) -> Result<(), StoreError>;

    /// The tenant's subjects, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn list_subjects(&self, tenant: TenantId, page: Page)
    -> Result<Vec<Subject>, StoreError>;

    /// The tenant's subjects without any record whose profile was last written, and whose
    /// last record was deleted, at or before `before`; with the later of those two times.
    /// Reads no personal field.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn idle_subjects(
        &self,
        tenant: TenantId,
        before: OffsetDateTime,
    ) -> Result<Vec<(SubjectId, OffsetDateTime)>, StoreError>;
}

/// Forms.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait FormStore: Send + Sync {
    /// Stores a new form.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the tenant has a form with this name;
    /// [`StoreError::Unavailable`].
    async fn insert_form(&self, form: &Form) -> Result<(), StoreError>;

    /// A form by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_form(&self, tenant: TenantId, id: FormId) -> Result<Form, StoreError>;

    /// Replaces a form (to attach a consent form).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn update_form(&self, form: &Form) -> Result<(), StoreError>;

    /// The tenant's forms, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_forms(&self, tenant: TenantId) -> Result<Vec<Form>, StoreError>;
}

/// Form records.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Stores a new record.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when its subject or form is gone; [`StoreError::Unavailable`].
    async fn insert_record(&self, record: &Record) -> Result<(), StoreError>;

    /// Stores many new records and their audit events in one transaction: every one or none.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when a subject (or form) is gone: nothing is stored;
    /// [`StoreError::Unavailable`].
    async fn insert_records(
        &self,
        records: &[Record],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError>;

    /// A record by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn get_record(&self, tenant: TenantId, id: RecordId) -> Result<Record, StoreError>;

    /// The tenant's records, oldest first, optionally only one form's and/or one subject's.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn list_records(
        &self,
        tenant: TenantId,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
    ) -> Result<Vec<Record>, StoreError>;

    /// Per subject of the tenant with a record in `scope`: how many it has there, and in all.
    /// One pass; reads no personal field, so nothing is decrypted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn count_records_by_subject(
        &self,
        tenant: TenantId,
        scope: RecordScope,
    ) -> Result<BTreeMap<SubjectId, RecordCount>, StoreError>;

    /// The records of one form submitted at or before `before`, in submission order, after
    /// `after` (the last one of the previous page): ids, subjects and times only, so nothing
    /// is decrypted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn records_submitted_before(
        &self,
        tenant: TenantId,
        form: FormId,
        before: OffsetDateTime,
        after: Option<RecordRef>,
        limit: u32,
    ) -> Result<Vec<RecordRef>, StoreError>;

    /// How many records of `form` submitted at or before `submitted_before` the `subjects`
    /// have (those an expiry spared). Reads no personal field.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn count_records_of(
        &self,
        tenant: TenantId,
        form: FormId,
        subjects: &[SubjectId],
        submitted_before: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Deletes about `limit` of the records of `form` submitted after `after` (when given)
    /// and at or before `submitted_before`, oldest first (the records submitted at the same
    /// instant as the last one go with it), but those of the subjects `spared`, in one
    /// transaction that also notes `at` on their subjects as the time a record of theirs was
    /// last deleted. Returns how many went and the submission time the chunk reached: the
    /// next chunk's `after` (`None`: nothing was left). Reads no personal field.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] (nothing deleted).
    #[allow(
        clippy::too_many_arguments,
        reason = "a port method: one call, its whole rule"
    )]
    async fn expire_records(
        &self,
        tenant: TenantId,
        form: FormId,
        submitted_before: OffsetDateTime,
        after: Option<OffsetDateTime>,
        spared: &[SubjectId],
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<(u64, Option<OffsetDateTime>), StoreError>;

    /// Deletes records, in one transaction, and notes `at` on their subjects as the time a
    /// record of theirs was last deleted (when a subject left with nothing started to be).
    /// Ids that are not there (or not the tenant's) are skipped. Returns how many were
    /// deleted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] (nothing deleted).
    async fn delete_records(
        &self,
        tenant: TenantId,
        ids: &[RecordId],
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

/// Purposes, consent forms and the consent history.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Stores a new purpose of the tenant.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists; [`StoreError::Unavailable`].
    async fn insert_purpose(&self, tenant: TenantId, purpose: &Purpose) -> Result<(), StoreError>;

    /// A purpose by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_purpose(&self, tenant: TenantId, id: &PurposeId) -> Result<Purpose, StoreError>;

    /// The tenant's purposes, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_purposes(&self, tenant: TenantId) -> Result<Vec<Purpose>, StoreError>;

    /// Stores a consent form, or the versions it gained since it was last saved. Published
    /// versions are immutable: the adapter never rewrites one.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a stored version would change;
    /// [`StoreError::Unavailable`].
    async fn save_consent_form(&self, form: &ConsentForm) -> Result<(), StoreError>;

    /// A consent form with all its versions.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn get_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
    ) -> Result<ConsentForm, StoreError>;

    /// The tenant's consent forms.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_consent_forms(&self, tenant: TenantId) -> Result<Vec<ConsentForm>, StoreError>;

    /// Marks a consent form retired at `at` (one retired already keeps its first time).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn retire_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every consent event of the tenant, in append order: for batch selections by consent
    /// (a pass over the tenant's whole consent history).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn tenant_consent_events(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<ConsentEvent>, StoreError>;

    /// A page of the tenant's consent events in the order they were recorded, after position
    /// `after` (0: from the first), each with its position: what auditors page through.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn consent_events_page(
        &self,
        tenant: TenantId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, ConsentEvent)>, StoreError>;

    /// Appends to the history. There is no update and no delete but erasure.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the subject is gone; [`StoreError::Unavailable`].
    async fn append_consent_event(&self, event: &ConsentEvent) -> Result<(), StoreError>;

    /// A subject's history, in append order.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn consent_history(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ConsentEvent>, StoreError>;
}

/// Data-subject requests.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Stores a new request.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn insert_request(&self, request: &SubjectRequest) -> Result<(), StoreError>;

    /// A request by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_request(
        &self,
        tenant: TenantId,
        id: RequestId,
    ) -> Result<SubjectRequest, StoreError>;

    /// Replaces a request (extension, verification, closing) with `after`, if it still is
    /// `before`, as the caller read it: of two changes made at once from the same read, one
    /// is kept and the other refused, where it would have undone the first (a refusal
    /// reopened by a verification written after it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when it changed since `before`
    /// (nothing is written); [`StoreError::Unavailable`].
    async fn update_request(
        &self,
        before: &SubjectRequest,
        after: &SubjectRequest,
    ) -> Result<(), StoreError>;

    /// The tenant's requests, or every tenant's with `None`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_requests(
        &self,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<SubjectRequest>, StoreError>;

    /// The open requests of the tenant, or of every tenant with `None`, oldest first (the
    /// console's overview, deadline reminders, the attestation's overdue check, the overdue
    /// gauge): read by whether they are open, so their cost follows the open requests, not
    /// every request ever received.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn open_requests(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<SubjectRequest>, StoreError>;

    /// One subject's requests, oldest first (an export, the console's subject page): read
    /// by subject, not filtered from every request of the tenant.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_subject_requests(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<SubjectRequest>, StoreError>;
}

/// Legal holds (Art. 17(3)).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait LegalHoldStore: Send + Sync {
    /// Stores a new hold.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the subject is gone; [`StoreError::Unavailable`].
    async fn insert_hold(&self, hold: &LegalHold) -> Result<(), StoreError>;

    /// Replaces a hold (to release it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn update_hold(&self, hold: &LegalHold) -> Result<(), StoreError>;

    /// The tenant's subjects with at least one active hold.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn held_subjects(&self, tenant: TenantId) -> Result<BTreeSet<SubjectId>, StoreError>;

    /// A subject's holds, active and released.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn holds_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<LegalHold>, StoreError>;
}

/// Restrictions (Art. 18) and objections (Art. 21).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ProcessingLimitStore: Send + Sync {
    /// Stores a new limit.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the subject is gone; [`StoreError::Unavailable`].
    async fn insert_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError>;

    /// Replaces a limit (to lift it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn update_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError>;

    /// A subject's limits, active and lifted, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn limits_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ProcessingLimit>, StoreError>;
}

/// Erasure: the one transaction, the tombstone journal and the receipts.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// In one transaction, for every subject of `erasures` that still exists and has no
    /// active legal hold: deletes its records, consent history, processing limits and profile
    /// (every personal field), destroys its data key, journals its tombstone, appends its
    /// audit entry and stores its receipt. Either all of that happens for all of them or
    /// none of it for any. The others are reported and left untouched. Results are in the
    /// order of `erasures`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] (nothing changed).
    async fn erase_subjects(&self, erasures: Vec<Erasure>) -> Result<Vec<Erased>, StoreError>;

    /// The tenant's tombstones, oldest first (replayed after a restore).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn tombstones(&self, tenant: TenantId) -> Result<Vec<Tombstone>, StoreError>;

    /// Stores or replaces erasure receipts, all or none.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an id belongs to another tenant's receipt;
    /// [`StoreError::Unavailable`].
    async fn save_erasure_receipts(&self, receipts: &[ErasureReceipt]) -> Result<(), StoreError>;

    /// A receipt by id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn get_erasure_receipt(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<ErasureReceipt, StoreError>;

    /// Every receipt, of any tenant, with a place still planned or pending (for the retry job).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn unfinished_erasure_receipts(&self) -> Result<Vec<ErasureReceipt>, StoreError>;
}

/// The hash-chained audit log: one chain per tenant, one for system-wide events.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Chains and appends an event (with [`AuditRecord::chain`]); concurrent appends to one
    /// chain are serialised by the adapter.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError>;

    /// A chain's records in sequence order, starting after `after_seq`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn audit_records(
        &self,
        tenant: Option<TenantId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The attestations: one hash chain per tenant, beside its audit chain.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AttestationLog: Send + Sync {
    /// Chains an attestation after the tenant's last (with [`Attestation::chain`]) and appends
    /// it; concurrent appends to one chain are serialised by the adapter.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] (the last one is unreadable); [`StoreError::Unavailable`].
    async fn append_attestation(
        &self,
        tenant: TenantId,
        at: OffsetDateTime,
        checks: Vec<Check>,
        audit: Option<AuditMark>,
    ) -> Result<Attestation, StoreError>;

    /// A tenant's attestations in sequence order, starting after `after_seq`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn attestations(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Attestation>, StoreError>;

    /// The tenant's last attestation, if any.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]; [`StoreError::Unavailable`].
    async fn last_attestation(&self, tenant: TenantId) -> Result<Option<Attestation>, StoreError>;
}

/// Everything storage offers, as one bound for the use cases.
pub trait Storage:
    crate::ApiKeyStore
    + crate::JobQueue
    + TenantStore
    + SubjectStore
    + FormStore
    + RecordStore
    + ConsentStore
    + RequestStore
    + LegalHoldStore
    + ProcessingLimitStore
    + ErasureStore
    + AuditLog
    + AttestationLog
    + crate::TenantDumps
    + crate::CacheBus
    + crate::DocumentStore
    + crate::WebhookStore
{
}

impl<T> Storage for T where
    T: crate::ApiKeyStore
        + crate::JobQueue
        + TenantStore
        + SubjectStore
        + FormStore
        + RecordStore
        + ConsentStore
        + RequestStore
        + LegalHoldStore
        + ProcessingLimitStore
        + ErasureStore
        + AuditLog
        + AttestationLog
        + crate::TenantDumps
        + crate::CacheBus
        + crate::DocumentStore
        + crate::WebhookStore
{
}
