//! Retention periods and the expiry plan.

use poem_openapi::Object;
use time::OffsetDateTime;
use uuid::Uuid;

/// A tenant's own retention periods, in days (1 to 36,500). A property left out or `null`:
/// the deployment's default applies. Replaces what was set before.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RetentionIn {
    /// How long backups are kept.
    #[oai(validator(minimum(value = "1"), maximum(value = "36500")))]
    pub(crate) backups_days: Option<u32>,
    /// How long records are kept after submission (a form's own period wins).
    #[oai(validator(minimum(value = "1"), maximum(value = "36500")))]
    pub(crate) records_days: Option<u32>,
    /// How long after anything was last written about them a subject left with nothing (no
    /// record, no consent in force, no open request, no hold) is erased.
    #[oai(validator(minimum(value = "1"), maximum(value = "36500")))]
    pub(crate) inactive_subjects_days: Option<u32>,
    /// How long consent history is kept after its last event, once nothing else keeps the
    /// subject.
    #[oai(validator(minimum(value = "1"), maximum(value = "36500")))]
    pub(crate) consent_proofs_days: Option<u32>,
}

/// A form's own retention period for its records.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct FormRetentionIn {
    /// Days after submission (1 to 36,500); `null`: the tenant's period applies.
    #[oai(validator(minimum(value = "1"), maximum(value = "36500")))]
    pub(crate) days: Option<u32>,
}

/// Retention periods, in days.
#[derive(Object)]
pub(crate) struct PeriodsOut {
    /// Backups.
    pub(crate) backups_days: u32,
    /// Log files (the deployment's, never a tenant's).
    pub(crate) logs_days: u32,
    /// Records after submission; `null`: kept until erased.
    pub(crate) records_days: Option<u32>,
    /// Subjects left with nothing; `null`: never erased for it.
    pub(crate) inactive_subjects_days: Option<u32>,
    /// Consent history after its last event, once nothing else keeps the subject.
    pub(crate) consent_proofs_days: u32,
}

/// What the tenant set (`null`: the default applies).
#[derive(Object)]
pub(crate) struct OverridesOut {
    /// Backups.
    pub(crate) backups_days: Option<u32>,
    /// Records.
    pub(crate) records_days: Option<u32>,
    /// Subjects left with nothing.
    pub(crate) inactive_subjects_days: Option<u32>,
    /// Consent history.
    pub(crate) consent_proofs_days: Option<u32>,
}

/// How long one form's records are kept.
#[derive(Object)]
pub(crate) struct FormRetentionOut {
    /// The form.
    pub(crate) form: Uuid,
    /// Its name.
    pub(crate) name: String,
    /// Its own period, if it sets one.
    pub(crate) own_days: Option<u32>,
    /// What applies; `null`: kept until erased.
    pub(crate) records_days: Option<u32>,
}

/// A tenant's retention: the deployment's defaults, the tenant's own, and what applies.
#[derive(Object)]
pub(crate) struct RetentionOut {
    /// The deployment's defaults.
    pub(crate) defaults: PeriodsOut,
    /// What the tenant set.
    pub(crate) overrides: OverridesOut,
    /// What applies.
    pub(crate) in_force: PeriodsOut,
    /// Each form's records.
    pub(crate) forms: Vec<FormRetentionOut>,
}

/// One form's part of the plan.
#[derive(Object)]
pub(crate) struct FormExpiryOut {
    /// The form.
    pub(crate) form: Uuid,
    /// Its period, in days.
    pub(crate) period_days: u32,
    /// Records past it: deleted by the next expiry.
    pub(crate) expired: u64,
    /// Records past it that a legal hold keeps.
    pub(crate) held: u64,
    /// When the next record still within its period expires.
    pub(crate) next_expiry: Option<OffsetDateTime>,
}

/// What the next expiry would do, as of now. Nothing is changed to compute it.
#[derive(Object)]
pub(crate) struct ExpiryPlanOut {
    /// As of.
    pub(crate) at: OffsetDateTime,
    /// Per form with a period.
    pub(crate) forms: Vec<FormExpiryOut>,
    /// Records past their period.
    pub(crate) records_expired: u64,
    /// Records past their period that a legal hold keeps.
    pub(crate) records_held: u64,
    /// Subjects left with nothing past the inactivity period: erased by the next expiry.
    pub(crate) subjects_expired: u64,
    /// Subjects left with nothing, kept as proof of consent until that proof's period ends.
    pub(crate) subjects_kept_as_consent_proof: u64,
}
