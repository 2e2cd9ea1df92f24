//! Retention: how long things are kept, and the decisions that follow from it.
//!
//! This crate owns retention periods (backups 30 days, logs 180 days and consent proofs five
//! years by default, with per-tenant and per-form overrides), the daily backup schedule, the
//! pruning decision — a pure function of (backups, period, now) that never removes the newest
//! verified backup on its own — record and log-file expiry, and when a subject left with
//! nothing is erased. It does no I/O and reads no clock: `now` is an argument.
//!
//! A pruning decision: past retention goes, except the newest verified backup.
//!
//! ```
//! use gdpr_retention::{BackupSummary, RetentionPeriod, plan_pruning};
//! use time::macros::datetime;
//!
//! let backup = |id: &str, created_at, verified| BackupSummary {
//!     id: id.into(),
//!     created_at,
//!     verified,
//! };
//! let backups = [
//!     backup("old-verified", datetime!(2026-10-01 02:00 UTC), true),
//!     backup("old", datetime!(2026-10-02 02:00 UTC), false),
//!     backup("recent", datetime!(2026-12-05 02:00 UTC), false),
//! ];
//! let plan = plan_pruning(&backups, RetentionPeriod::days(30)?, datetime!(2026-12-06 10:00 UTC));
//! // The old unverified one goes; the only verified one stays, however old.
//! assert_eq!(plan.delete, ["old"]);
//! # Ok::<(), gdpr_retention::RetentionError>(())
//! ```
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time};

/// A retention period that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retention period must be between 1 and {max} days, got {days}")]
pub struct RetentionError {
    days: u32,
    max: u32,
}

/// A number of whole days, 1 to 36,500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct RetentionPeriod(u32);

impl RetentionPeriod {
    const MAX: u32 = 36_500;

    /// A period of `days` days.
    ///
    /// # Errors
    /// [`RetentionError`] outside 1..=36,500.
    pub const fn days(days: u32) -> Result<Self, RetentionError> {
        if days == 0 || days > Self::MAX {
            Err(RetentionError {
                days,
                max: Self::MAX,
            })
        } else {
            Ok(Self(days))
        }
    }

    /// The number of days.
    #[must_use]
    pub const fn as_days(self) -> u32 {
        self.0
    }

    /// As a duration.
    #[must_use]
    pub fn duration(self) -> Duration {
        Duration::days(i64::from(self.0))
    }
}

impl TryFrom<u32> for RetentionPeriod {
    type Error = RetentionError;

    fn try_from(days: u32) -> Result<Self, Self::Error> {
        Self::days(days)
    }
}

impl From<RetentionPeriod> for u32 {
    fn from(p: RetentionPeriod) -> Self {
        p.0
    }
}

/// How long a tenant's things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Backups: 30 days by default (the policy's promise).
    pub backups: RetentionPeriod,
    /// Log files: 180 days by default (log files are the deployment's, never per tenant).
    pub logs: RetentionPeriod,
    /// Form records, counted from their submission: `None` keeps them until erased. A form
    /// may set its own.
    #[serde(default)]
    pub records: Option<RetentionPeriod>,
    /// A subject left with nothing (no record, no consent in force, no open request, no
    /// hold) is erased this long after anything was last written about them; `None`: never.
    #[serde(default)]
    pub inactive_subjects: Option<RetentionPeriod>,
    /// Proof of consent (the consent history) is kept this long after its last event once
    /// nothing else keeps the subject: the controller must be able to show consent was given
    /// (Art. 7(1)) for as long as a claim about the processing can be brought. Five years by
    /// default, the general limitation period of French civil law (Code civil, art. 2224).
    #[serde(default = "RetentionPolicy::default_consent_proofs")]
    pub consent_proofs: RetentionPeriod,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            backups: RetentionPeriod(30),
            logs: RetentionPeriod(180),
            records: None,
            inactive_subjects: None,
            consent_proofs: Self::default_consent_proofs(),
        }
    }
}

impl RetentionPolicy {
    const fn default_consent_proofs() -> RetentionPeriod {
        RetentionPeriod(5 * 365 + 1)
    }

    /// This policy with a tenant's departures from it.
    #[must_use]
    pub fn overridden_by(self, o: &PolicyOverride) -> Self {
        Self {
            backups: o.backups.unwrap_or(self.backups),
            logs: self.logs,
            records: o.records.or(self.records),
            inactive_subjects: o.inactive_subjects.or(self.inactive_subjects),
            consent_proofs: o.consent_proofs.unwrap_or(self.consent_proofs),
        }
    }

    /// How long a form's records are kept: the form's own period, else this policy's.
    #[must_use]
    pub fn for_form(&self, form: Option<RetentionPeriod>) -> Option<RetentionPeriod> {
        form.or(self.records)
    }
}

/// A tenant's departures from the deployment's defaults (`None`: the default applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    /// Backups.
    #[serde(default)]
    pub backups: Option<RetentionPeriod>,
    /// Form records (a form's own period still wins).
    #[serde(default)]
    pub records: Option<RetentionPeriod>,
    /// Subjects left with nothing.
    #[serde(default)]
    pub inactive_subjects: Option<RetentionPeriod>,
    /// Consent proofs.
    #[serde(default)]
    pub consent_proofs: Option<RetentionPeriod>,
}

/// What decides whether a subject left with nothing is erased: facts read from storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectActivity {
    /// When anything was last written about the subject: their profile, a record deleted, a
    /// request received or closed.
    pub last_active: OffsetDateTime,
    /// Their last consent event (given or withdrawn), if any.
    pub last_consent_event: Option<OffsetDateTime>,
    /// They still have a record.
    pub has_records: bool,
    /// They consent to something now.
    pub consents: bool,
    /// A request of theirs is open.
    pub open_request: bool,
    /// A legal hold is active on them.
    pub held: bool,
}

/// Why a subject is kept, or that they are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Inactivity {
    /// Something keeps them: a record, consent in force, an open request, a hold.
    InUse,
    /// Nothing keeps them, but too recently (or the tenant keeps inactive subjects).
    Recent {
        /// When they may go (`None`: never, no period).
        #[serde(with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
    },
    /// Kept as proof of a consent given or withdrawn.
    ConsentProof {
        /// When the proof's retention ends.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// To be erased.
    Expired,
}

/// Decides whether a subject left with nothing is erased at `now`: inactive for longer than
/// the policy's `inactive_subjects`, and any consent proof past `consent_proofs`.
#[must_use]
pub fn subject_inactivity(
    activity: &SubjectActivity,
    policy: &RetentionPolicy,
    now: OffsetDateTime,
) -> Inactivity {
    if activity.has_records || activity.consents || activity.open_request || activity.held {
        return Inactivity::InUse;
    }
    let Some(period) = policy.inactive_subjects else {
        return Inactivity::Recent { until: None };
    };
    if !is_expired(activity.last_active, period, now) {
        return Inactivity::Recent {
            until: Some(activity.last_active + period.duration()),
        };
    }
    match activity.last_consent_event {
        Some(at) if !is_expired(at, policy.consent_proofs, now) => Inactivity::ConsentProof {
            until: at + policy.consent_proofs.duration(),
        },
        _ => Inactivity::Expired,
    }
}

/// A tenant's deletion at the end of its contract (Art. 28(3)(g)), scheduled with a grace
/// period during which the operator may cancel it and its API keys are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offboarding {
    /// When it was scheduled.
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    /// When every row, key, journal entry, backup and log line of the tenant goes.
    #[serde(with = "time::serde::rfc3339")]
    pub delete_at: OffsetDateTime,
}

/// A grace period out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the grace period must be between 0 and {max} days, got {days}")]
pub struct GraceError {
    days: u32,
    max: u32,
}

impl Offboarding {
    /// The grace period unless the operator says otherwise.
    pub const DEFAULT_GRACE_DAYS: u32 = 30;
    /// The longest grace period.
    pub const MAX_GRACE_DAYS: u32 = 365;

    /// Deletion `grace_days` after `now` (0: at the next pass of the offboarding job).
    ///
    /// # Errors
    /// [`GraceError`] past [`Offboarding::MAX_GRACE_DAYS`].
    pub fn schedule(now: OffsetDateTime, grace_days: u32) -> Result<Self, GraceError> {
        if grace_days > Self::MAX_GRACE_DAYS {
            return Err(GraceError {
                days: grace_days,
                max: Self::MAX_GRACE_DAYS,
            });
        }
        Ok(Self {
            scheduled_at: now,
            delete_at: now + Duration::days(i64::from(grace_days)),
        })
    }

    /// Whether the grace period is over at `now`.
    #[must_use]
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        now >= self.delete_at
    }
}

/// Whether something created at `created_at` and kept for `period` has expired at `now`.
/// Kept for 30 days means: still there 30 days later to the second, gone after that.
#[must_use]
pub fn is_expired(
    created_at: OffsetDateTime,
    period: RetentionPeriod,
    now: OffsetDateTime,
) -> bool {
    now - created_at > period.duration()
}

/// Whether a record has expired; a record with no period never does.
#[must_use]
pub fn record_expired(
    created_at: OffsetDateTime,
    period: Option<RetentionPeriod>,
    now: OffsetDateTime,
) -> bool {
    period.is_some_and(|p| is_expired(created_at, p, now))
}

/// Whether a log file holding the lines of `file_date` (UTC) is past its retention on `today`.
#[must_use]
pub fn log_file_expired(file_date: Date, period: RetentionPeriod, today: Date) -> bool {
    today - file_date > period.duration()
}

/// When the daily backup runs, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// The time of day (UTC).
    pub at: Time,
}

impl Default for BackupSchedule {
    fn default() -> Self {
        Self {
            at: Time::from_hms(2, 0, 0).unwrap_or(Time::MIDNIGHT),
        }
    }
}

impl BackupSchedule {
    /// The latest scheduled slot at or before `now`.
    #[must_use]
    pub fn last_slot(&self, now: OffsetDateTime) -> OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        let today = now.date().with_time(self.at).assume_utc();
        if today <= now {
            today
        } else {
            today - Duration::DAY
        }
    }

    /// The first scheduled slot strictly after `now`.
    #[must_use]
    pub fn next_slot(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.last_slot(now) + Duration::DAY
    }

    /// Whether a backup is due: none has succeeded since the last slot.
    #[must_use]
    pub fn is_due(&self, last_success: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        last_success.is_none_or(|last| last < self.last_slot(now))
    }
}

/// What pruning needs to know of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// Its id.
    pub id: String,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether it has been verified (decrypts, checksum matches).
    pub verified: bool,
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    /// Younger than the retention period.
    WithinRetention,
    /// Expired, but the newest verified backup: never pruned automatically.
    NewestVerified,
    /// Expired, but no backup is verified and this is the newest one.
    NewestUnverified,
}

/// The outcome of a pruning decision: every backup is in exactly one list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruningPlan {
    /// Backups kept, with the reason.
    pub keep: Vec<(String, KeepReason)>,
    /// Backups to delete.
    pub delete: Vec<String>,
}

/// Decides which backups to delete.
///
/// Expired backups go, except the newest verified one, which is kept however old it is, so that
/// a tenant is never left without a restorable backup by automation. If no backup is verified,
/// the newest one is kept instead. Deleting those is an operator's explicit act (the tenant
/// backup deletion), not pruning.
#[must_use]
pub fn plan_pruning(
    backups: &[BackupSummary],
    period: RetentionPeriod,
    now: OffsetDateTime,
) -> PruningPlan {
    let newest_by = |verified_only: bool| {
        backups
            .iter()
            .filter(|b| b.verified || !verified_only)
            .max_by_key(|b| (b.created_at, b.id.clone()))
            .map(|b| b.id.clone())
    };
    let protected = newest_by(true)
        .map(|id| (id, KeepReason::NewestVerified))
        .or_else(|| newest_by(false).map(|id| (id, KeepReason::NewestUnverified)));
    let mut plan = PruningPlan::default();
    for backup in backups {
        if !is_expired(backup.created_at, period, now) {
            plan.keep
                .push((backup.id.clone(), KeepReason::WithinRetention));
        } else if let Some((_, reason)) = protected.as_ref().filter(|(id, _)| *id == backup.id) {
            plan.keep.push((backup.id.clone(), *reason));
        } else {
            plan.delete.push(backup.id.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime, time};

    use super::*;

    fn backup(id: &str, created_at: OffsetDateTime, verified: bool) -> BackupSummary {
        BackupSummary {
            id: id.into(),
            created_at,
            verified,
        }
    }

    #[test]
    fn pruning_decisions() {
        let now = datetime!(2026-03-31 12:00 UTC);
        let days = |n: i64| now - Duration::days(n);
        let d30 = RetentionPeriod::days(30).unwrap();
        type Case = (
            &'static str,
            Vec<BackupSummary>,
            Vec<&'static str>,
            Vec<(&'static str, KeepReason)>,
        );
        let cases: Vec<Case> = vec![
            ("nothing to prune", vec![], vec![], vec![]),
            (
                "exactly 30 days old is kept, older goes",
                vec![
                    backup("a", days(30), true),
                    backup("b", days(31), true),
                    backup("c", days(1), true),
                ],
                vec!["b"],
                vec![
                    ("a", KeepReason::WithinRetention),
                    ("c", KeepReason::WithinRetention),
                ],
            ),
            (
                "all expired: the newest verified stays",
                vec![
                    backup("old", days(90), true),
                    backup("newer", days(40), true),
                    backup("newest", days(35), false),
                ],
                vec!["old", "newest"],
                vec![("newer", KeepReason::NewestVerified)],
            ),
            (
                "all expired and none verified: the newest stays",
                vec![backup("x", days(60), false), backup("y", days(50), false)],
                vec!["x"],
                vec![("y", KeepReason::NewestUnverified)],
            ),
            (
                "a fresh verified backup lets every expired one go",
                vec![
                    backup("fresh", days(1), true),
                    backup("old", days(45), true),
                ],
                vec!["old"],
                vec![("fresh", KeepReason::WithinRetention)],
            ),
        ];
        for (name, backups, delete, keep) in cases {
            let plan = plan_pruning(&backups, d30, now);
            assert_eq!(plan.delete, delete, "{name}");
            let keep: Vec<(String, KeepReason)> =
                keep.into_iter().map(|(id, r)| (id.to_owned(), r)).collect();
            assert_eq!(plan.keep, keep, "{name}");
        }
    }

    #[test]
    fn overrides_apply_from_most_to_least_specific() {
        let d = |n| Some(RetentionPeriod::days(n).unwrap());
        let defaults = RetentionPolicy::default();
        assert_eq!(defaults.backups.as_days(), 30);
        assert_eq!(defaults.logs.as_days(), 180);
        assert_eq!(defaults.consent_proofs.as_days(), 1826);
        assert_eq!(defaults.for_form(None), None);
        let tenant = defaults.overridden_by(&PolicyOverride {
            backups: d(7),
            records: d(365),
            inactive_subjects: None,
            consent_proofs: d(1000),
        });
        assert_eq!(tenant.backups.as_days(), 7);
        assert_eq!(tenant.logs.as_days(), 180, "log files are never a tenant's");
        assert_eq!(tenant.inactive_subjects, None);
        assert_eq!(tenant.consent_proofs.as_days(), 1000);
        assert_eq!(tenant.for_form(d(90)), d(90), "the form's own period wins");
        assert_eq!(tenant.for_form(None), d(365));
        assert_eq!(
            defaults.overridden_by(&PolicyOverride::default()),
            defaults,
            "an empty override changes nothing"
        );
    }

    #[test]
    fn a_subject_left_with_nothing_goes_after_its_period_and_its_consent_proof() {
        let now = datetime!(2026-06-01 0:00 UTC);
        let idle = SubjectActivity {
            last_active: datetime!(2025-01-01 0:00 UTC),
            last_consent_event: None,
            has_records: false,
            consents: false,
            open_request: false,
            held: false,
        };
        let year = RetentionPolicy {
            inactive_subjects: Some(RetentionPeriod::days(365).unwrap()),
            ..RetentionPolicy::default()
        };
        assert_eq!(subject_inactivity(&idle, &year, now), Inactivity::Expired);
        assert_eq!(
            subject_inactivity(&idle, &RetentionPolicy::default(), now),
            Inactivity::Recent { until: None },
            "no period: kept"
        );
        for kept in [
            SubjectActivity {
                has_records: true,
                ..idle
            },
            SubjectActivity {
                consents: true,
                ..idle
            },
            SubjectActivity {
                open_request: true,
                ..idle
            },
            SubjectActivity { held: true, ..idle },
        ] {
            assert_eq!(subject_inactivity(&kept, &year, now), Inactivity::InUse);
        }
        let recent = SubjectActivity {
            last_active: datetime!(2026-01-01 0:00 UTC),
            ..idle
        };
        assert_eq!(
            subject_inactivity(&recent, &year, now),
            Inactivity::Recent {
                until: Some(datetime!(2027-01-01 0:00 UTC))
            }
        );
        let withdrew = SubjectActivity {
            last_consent_event: Some(datetime!(2024-06-01 0:00 UTC)),
            ..idle
        };
        assert_eq!(
            subject_inactivity(&withdrew, &year, now),
            Inactivity::ConsentProof {
                until: datetime!(2024-06-01 0:00 UTC) + Duration::days(1826)
            }
        );
        let long_ago = SubjectActivity {
            last_consent_event: Some(datetime!(2019-01-01 0:00 UTC)),
            ..idle
        };
        assert_eq!(
            subject_inactivity(&long_ago, &year, now),
            Inactivity::Expired
        );
    }

    #[test]
    fn an_offboarding_is_due_once_its_grace_period_is_over() {
        let now = datetime!(2026-12-01 0:00 UTC);
        let o = Offboarding::schedule(now, Offboarding::DEFAULT_GRACE_DAYS).unwrap();
        assert_eq!(o.delete_at, datetime!(2026-12-31 0:00 UTC));
        assert!(!o.is_due(datetime!(2026-12-30 23:59:59 UTC)));
        assert!(o.is_due(datetime!(2026-12-31 0:00 UTC)));
        assert!(Offboarding::schedule(now, 0).unwrap().is_due(now));
        assert!(Offboarding::schedule(now, 366).is_err());
    }

    #[test]
    fn periods_are_bounded() {
        assert!(RetentionPeriod::days(0).is_err());
        assert!(RetentionPeriod::days(36_501).is_err());
        assert!(serde_json::from_str::<RetentionPeriod>("0").is_err());
        assert_eq!(
            serde_json::from_str::<RetentionPeriod>("30")
                .unwrap()
                .as_days(),
            30
        );
    }

    #[test]
    fn the_daily_schedule() {
        let s = BackupSchedule { at: time!(02:00) };
        let before = datetime!(2026-05-10 01:59 UTC);
        let after = datetime!(2026-05-10 02:00 UTC);
        assert_eq!(s.last_slot(before), datetime!(2026-05-09 02:00 UTC));
        assert_eq!(s.last_slot(after), after);
        assert_eq!(s.next_slot(before), datetime!(2026-05-10 02:00 UTC));
        assert_eq!(s.next_slot(after), datetime!(2026-05-11 02:00 UTC));
        assert!(s.is_due(None, before));
        assert!(!s.is_due(Some(datetime!(2026-05-09 02:05 UTC)), before));
        assert!(s.is_due(Some(datetime!(2026-05-09 02:05 UTC)), after));
        assert!(!s.is_due(Some(after), after));
        // A clock in another offset is read as the same instant.
        let paris = datetime!(2026-05-10 03:30 +02:00);
        assert_eq!(s.last_slot(paris), datetime!(2026-05-09 02:00 UTC));
    }

    #[test]
    fn records_and_log_files_expire() {
        let created = datetime!(2026-01-01 0:00 UTC);
        let d10 = RetentionPeriod::days(10).unwrap();
        assert!(!record_expired(
            created,
            None,
            datetime!(2036-01-01 0:00 UTC)
        ));
        assert!(!record_expired(
            created,
            Some(d10),
            datetime!(2026-01-11 0:00 UTC)
        ));
        assert!(record_expired(
            created,
            Some(d10),
            datetime!(2026-01-11 0:00:01 UTC)
        ));
        let d180 = RetentionPeriod::days(180).unwrap();
        assert!(!log_file_expired(
            date!(2026 - 01 - 01),
            d180,
            date!(2026 - 06 - 30)
        ));
        assert!(log_file_expired(
            date!(2026 - 01 - 01),
            d180,
            date!(2026 - 07 - 01)
        ));
    }
}
