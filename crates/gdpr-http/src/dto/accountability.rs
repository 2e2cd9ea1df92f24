//! Wire types of accountability: erasure receipts, batch selections and jobs, the audit and
//! attestation chains, the register of processing.

use poem_openapi::types::MaybeUndefined;
use std::collections::BTreeMap;

use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

/// One place of an erasure and its outcome.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PlaceOut {
    /// The place.
    pub(crate) place: PlaceDto,
    /// Where it stands.
    pub(crate) outcome: OutcomeDto,
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
    /// Where the erasure stands as a whole.
    pub(crate) status: ErasureStatusDto,
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
    /// Subjects with a consent event (given or withdrawn) under `consent_form`.
    ConsentForm,
    /// Subjects whose consent for `purpose` stands as `state` now.
    ConsentState,
}

mirror!(
    /// Where a subject stands with a purpose's consent.
    ConsentStateDto <=> gdpr_rights::ConsentState {
        /// Consent in force (under any of the purpose's consent forms).
        Given,
        /// Withdrawn, and not given again.
        Withdrawn,
        /// Given to a version a newer one required renewing.
        ReconsentRequired,
    }
);

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
    /// Consent form.
    pub(crate) consent_form: MaybeUndefined<Uuid>,
    /// Consent-based purpose.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: MaybeUndefined<Text>,
    /// Consent state.
    pub(crate) state: MaybeUndefined<ConsentStateDto>,
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
    /// The first record read by this check: 1 for a full one; for an incremental one, the
    /// record where the last check ended (checked unchanged), and those after it.
    pub(crate) checked_from: u64,
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

mirror!(
    /// A place personal data about a subject can be, which an erasure reaches.
    PlaceDto <=> gdpr_rights::Place {
        /// Form records about the subject.
        Records,
        /// The profile fields (e-mail, name, IP).
        PersonalFields,
        /// The subject's data key.
        DataKey,
        /// The consent history.
        Consents,
        /// The error tracker, asked to forget the person.
        ErrorTracker,
        /// Backups: tombstone journaled, key shredded from every retained keyring.
        Backups,
    }
);

/// How far one place of an erasure got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum OutcomeDto {
    /// Not reached yet.
    Planned,
    /// Done.
    Done,
    /// Tried and failed; retried by a job.
    Pending,
    /// Not erased: a legal hold.
    Blocked,
}

mirror!(
    /// The overall state of an erasure receipt.
    ErasureStatusDto <=> gdpr_rights::ErasureStatus {
        /// Every place is done.
        Complete,
        /// Some place is planned or pending.
        Pending,
        /// Blocked by a legal hold; nothing was erased.
        Blocked,
    }
);

/// Who acted, as the audit chain records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ActorKind {
    /// The operator (admin token or command line).
    Operator,
    /// A tenant's API key, named by `id`.
    ApiKey,
    /// The service itself (jobs, schedules).
    System,
    /// A person on the tenant's request portal, once their e-mail code came back.
    Portal,
    /// A tenant's console user, named by `id`.
    ConsoleUser,
}

/// Who acted.
#[derive(Object)]
pub(crate) struct ActorOut {
    /// What kind of actor.
    #[oai(rename = "type")]
    pub(crate) kind: ActorKind,
    /// The API key's id (for `api_key` only).
    #[oai(skip_serializing_if_is_none)]
    pub(crate) id: Option<Uuid>,
}

mirror!(
    /// What an audit record records.
    AuditActionDto <=> gdpr_audit::AuditAction {
        TenantCreated,
        ApiKeyCreated,
        ApiKeyRevoked,
        SubjectCreated,
        SubjectViewed,
        SubjectLookedUp,
        SubjectRectified,
        SubjectErased,
        ErasureBlocked,
        ErasureStepRetried,
        SubjectsListed,
        RecordsListed,
        LegalHoldPlaced,
        LegalHoldReleased,
        FormDefined,
        FormConsentAttached,
        RecordSubmitted,
        RecordViewed,
        RecordDeleted,
        RecordsBatchDeleted,
        PurposeDefined,
        ConsentFormPublished,
        ConsentGiven,
        ConsentWithdrawn,
        RequestOpened,
        RequestExtended,
        RequestClosed,
        RequestDueSoon,
        RequestOverdue,
        ExportAssembled,
        RegisterGenerated,
        BackupPruned,
        TenantBackupsDeleted,
        BackupCreated,
        BackupVerified,
        BackupRestored,
        ExportDownloaded,
        ExportExpired,
        ProcessingLimited,
        ProcessingLimitLifted,
        BatchErasureStarted,
        BatchErasureCompleted,
        RecordDeletionStarted,
        RetentionChanged,
        RecordsExpired,
        RetentionEnforced,
        ConsentFormRetired,
        TenantOffboardingScheduled,
        TenantOffboardingCancelled,
        TenantHandedOver,
        TenantOffboarded,
        RecipientRegistered,
        RecipientChanged,
        RecipientRemoved,
        WebhookEndpointCreated,
        WebhookEndpointChanged,
        WebhookSecretRotated,
        WebhookEndpointRemoved,
        WebhookEndpointDisabled,
        WebhookDeliveriesReplayed,
        ErasureConfirmedByRecipient,
        BreachRecorded,
        BreachUpdated,
        BreachAuthorityNotified,
        BreachSubjectsDecided,
        BreachScoped,
        BreachSubjectNotified,
        BreachSubjectsNotified,
        RequestIdentityVerified,
        AuditorExport,
        InquiryReceived,
        InquiryAnsweredNothingHeld,
        InquiryRefused,
        ConsoleUserCreated,
        ConsoleUserPasswordReset,
        ConsoleUserRemoved,
        ConsoleSignedIn,
        ConsoleSignedOut,
    }
);

/// One audited event: ids, times and counts, never personal data.
#[derive(Object)]
pub(crate) struct AuditEventOut {
    /// When it happened.
    pub(crate) at: OffsetDateTime,
    /// The tenant concerned (`null`: a system-wide event).
    pub(crate) tenant: Option<Uuid>,
    /// Who acted.
    pub(crate) actor: ActorOut,
    /// What happened.
    pub(crate) action: AuditActionDto,
    /// The data subject concerned, by id.
    pub(crate) subject: Option<Uuid>,
    /// Other ids and counts.
    pub(crate) details: BTreeMap<String, String>,
}

/// One record of the hash-chained audit log.
#[derive(Object)]
pub(crate) struct AuditRecordOut {
    /// Position in the chain, from 1, without gaps.
    pub(crate) seq: u64,
    /// The event.
    pub(crate) event: AuditEventOut,
    /// The previous record's hash (64 zeros for the first), hex.
    pub(crate) prev_hash: String,
    /// SHA-256 over `seq`, the event and `prev_hash`, hex.
    pub(crate) hash: String,
}

mirror!(
    /// What an attestation checks.
    CheckKindDto <=> gdpr_audit::CheckKind {
        /// No backup older than the retention period remains.
        BackupsWithinRetention,
        /// The newest backup was verified whole.
        NewestBackupVerified,
        /// The audit chain verifies and still holds the previous attestation's head.
        AuditChainVerified,
        /// No data-subject request is past its due date.
        NoOverdueRequest,
        /// No erased subject is present.
        TombstonesHold,
        /// The last log files hold no personal data.
        LogsClean,
        TransfersSafeguarded,
        BreachesNotified,
    }
);

mirror!(
    /// What one check found.
    VerdictDto <=> gdpr_audit::Verdict {
        /// The condition holds.
        Pass,
        /// It does not: the detail says how.
        Fail,
        /// Nothing to check.
        NotApplicable,
    }
);

/// One check of an attestation and its result.
#[derive(Object)]
pub(crate) struct CheckOut {
    /// What was checked.
    pub(crate) kind: CheckKindDto,
    /// What it found.
    pub(crate) verdict: VerdictDto,
    /// The evidence, in words (counts, ids, dates).
    pub(crate) detail: String,
}

/// Where the audit chain stood when an attestation was made.
#[derive(Object)]
pub(crate) struct AuditMarkOut {
    /// Its last record's position.
    pub(crate) seq: u64,
    /// Its last record's hash, hex.
    pub(crate) hash: String,
}

/// A dated, hash-chained statement of what was checked for a tenant and what it found.
#[derive(Object)]
pub(crate) struct AttestationOut {
    /// Position in the tenant's attestation chain, from 1.
    pub(crate) seq: u64,
    /// The tenant.
    pub(crate) tenant: Uuid,
    /// When it was made.
    pub(crate) at: OffsetDateTime,
    /// Every check.
    pub(crate) checks: Vec<CheckOut>,
    /// The audit chain's head then (`null`: the chain did not verify).
    pub(crate) audit: Option<AuditMarkOut>,
    /// The previous attestation's hash (64 zeros for the first), hex.
    pub(crate) prev_hash: String,
    /// SHA-256 over everything above, hex.
    pub(crate) hash: String,
}

/// One processing activity of the register.
#[derive(Object)]
pub(crate) struct ActivityOut {
    /// Its name (a form's, or a built-in activity's).
    pub(crate) name: String,
    /// Its purpose, in words.
    pub(crate) purpose: String,
    /// The lawful basis (`null`: that of each activity the data serves).
    pub(crate) lawful_basis: Option<Basis>,
    /// Categories of personal data.
    pub(crate) data_categories: Vec<Category>,
    /// Categories of data subjects.
    pub(crate) data_subjects: String,
    /// Names of the recipients.
    pub(crate) recipients: Vec<String>,
    /// How long the data is kept.
    pub(crate) retention: String,
    /// The consent form records require, for consent-based activities.
    pub(crate) consent_form: Option<Uuid>,
}

mirror!(
    /// What a recipient is to the controller.
    RoleDto <=> gdpr_rights::RecipientRole {
        /// Processes on the controller's behalf under a contract (Art. 28).
        Processor,
        /// A processor engaged by a processor (Art. 28(2), (4)).
        SubProcessor,
        /// Receives data for its own purposes (another controller, an authority).
        Recipient,
    }
);

mirror!(
    /// The ground a transfer outside the EEA rests on (Art. 45–47).
    SafeguardDto <=> gdpr_rights::Safeguard {
        /// An adequacy decision of the Commission for the country (Art. 45).
        Adequacy,
        /// Standard contractual clauses (Art. 46(2)(c)).
        StandardContractualClauses,
        /// Binding corporate rules (Art. 47).
        BindingCorporateRules,
        /// None declared (flagged outside the EEA).
        None,
    }
);

/// Where a recipient's data goes, as the register and the attestation judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum TransferDto {
    /// Inside the EEA: no transfer rule applies.
    WithinEea,
    /// Outside, under the recipient's `safeguard`.
    Safeguarded,
    /// Outside with no safeguard: flagged (Art. 44).
    Unsafeguarded,
    /// The country is not stated: flagged.
    NotStated,
}

/// Who keeps a recipient's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum KeptByDto {
    /// The operator's configuration: one of the deployment's processors.
    Deployment,
    /// The tenant, through `/v1/recipients`.
    Tenant,
}

/// A processor or recipient to register (Art. 28, 30(1)(d)-(e)).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RecipientIn {
    /// Its name: an organisation, 1 to 200 characters.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) name: Prose,
    /// What it is to the controller.
    pub(crate) role: RoleDto,
    /// What it receives and why.
    #[oai(default, validator(max_length = 1000))]
    pub(crate) description: Text,
    /// The purposes (ids) it receives data for; empty: every purpose.
    #[oai(
        default,
        validator(max_items = 100, pattern = r"^[a-z][a-z0-9_-]{0,63}$")
    )]
    pub(crate) purposes: Vec<Text>,
    /// The categories of personal data it receives.
    #[oai(default, validator(max_items = 20))]
    pub(crate) categories: Vec<Category>,
    /// The country it processes the data in: ISO 3166-1 alpha-2 (`FR`, `US`).
    #[oai(validator(pattern = r"^[A-Za-z]{2}$"))]
    pub(crate) country: Text,
    /// Where, in more detail (a city, a cloud region).
    #[oai(validator(max_length = 200))]
    pub(crate) location: Option<Text>,
    /// The ground a transfer outside the EEA rests on (`none` inside it).
    pub(crate) safeguard: SafeguardDto,
    /// The contract (Art. 28(3)) or clauses it is bound by: a reference.
    #[oai(validator(max_length = 200))]
    pub(crate) contract: Option<Text>,
}

/// A recipient of personal data (Art. 30(1)(d)-(e), 15(1)(c), 15(2)).
#[derive(Object)]
pub(crate) struct RecipientOut {
    /// Its id: in the tenant's register, or for one of the deployment's processors derived
    /// from its name (the same on every call).
    pub(crate) id: Uuid,
    /// Who keeps it: `deployment` (the operator's configuration; the tenant's routes do not
    /// change it) or `tenant`.
    pub(crate) kept_by: KeptByDto,
    /// Who.
    pub(crate) name: String,
    /// What it is to the controller.
    pub(crate) role: RoleDto,
    /// What it receives and why.
    pub(crate) description: String,
    /// The purposes it receives data for; empty: every purpose.
    pub(crate) purposes: Vec<String>,
    /// The categories of personal data it receives.
    pub(crate) categories: Vec<Category>,
    /// Its country (ISO 3166-1 alpha-2); null: not stated.
    pub(crate) country: Option<String>,
    /// Where, in more detail.
    pub(crate) location: Option<String>,
    /// The ground of a transfer outside the EEA.
    pub(crate) safeguard: SafeguardDto,
    /// The contract it is bound by.
    pub(crate) contract: Option<String>,
    /// The transfer its data makes.
    pub(crate) transfer: TransferDto,
    /// Whether the register and the daily attestation flag it: outside the EEA without a
    /// safeguard, or its country not stated.
    pub(crate) flagged: bool,
}

/// One classified field.
#[derive(Object)]
pub(crate) struct InventoryEntryOut {
    /// Where the field lives: `subject profile`, or `form <name>`.
    pub(crate) location: String,
    /// The field's name.
    pub(crate) field: String,
    /// What it holds.
    pub(crate) category: Category,
}

/// Every classified field of the tenant.
#[derive(Object)]
pub(crate) struct InventoryOut {
    /// The fields.
    pub(crate) entries: Vec<InventoryEntryOut>,
}

/// The tenant's record of processing activities (Art. 30), generated from the inventory.
#[derive(Object)]
pub(crate) struct RegisterOut {
    /// The controller's name.
    pub(crate) controller: String,
    /// The controller's privacy contact.
    pub(crate) privacy_contact: String,
    /// When it was generated.
    pub(crate) generated_at: OffsetDateTime,
    /// The activities.
    pub(crate) activities: Vec<ActivityOut>,
    /// Every recipient, with role and location.
    pub(crate) recipients: Vec<RecipientOut>,
    /// Technical and organisational measures (Art. 32).
    pub(crate) security_measures: Vec<String>,
    /// Every classified field the register was generated from.
    pub(crate) inventory: InventoryOut,
}
