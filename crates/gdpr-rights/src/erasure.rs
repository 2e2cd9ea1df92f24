//! Erasure (Art. 17): legal holds that block it, the plan of every place to reach, and the
//! receipt that records each place's outcome.

use gdpr_pii::{RequestId, SubjectId, TenantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The Art. 17(3) grounds on which erasure may be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldGround {
    /// 17(3)(a): freedom of expression and information.
    FreedomOfExpression,
    /// 17(3)(b): a legal obligation to keep the data (invoices, payroll...).
    LegalObligation,
    /// 17(3)(c): public health.
    PublicHealth,
    /// 17(3)(d): archiving, research or statistics in the public interest.
    Archiving,
    /// 17(3)(e): establishing, exercising or defending legal claims.
    LegalClaims,
}

impl HoldGround {
    /// The article reference.
    #[must_use]
    pub const fn article(self) -> &'static str {
        match self {
            Self::FreedomOfExpression => "Art. 17(3)(a)",
            Self::LegalObligation => "Art. 17(3)(b)",
            Self::PublicHealth => "Art. 17(3)(c)",
            Self::Archiving => "Art. 17(3)(d)",
            Self::LegalClaims => "Art. 17(3)(e)",
        }
    }
}

/// A legal hold: while active, the subject cannot be erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHold {
    /// The hold.
    pub id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject held.
    pub subject: SubjectId,
    /// The legal ground.
    pub ground: HoldGround,
    /// Why, in words (a case number, a retention law): required, and never personal data.
    pub reason: String,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When it was released, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub released_at: Option<OffsetDateTime>,
}

impl LegalHold {
    /// A hold, if the reason is given.
    ///
    /// # Errors
    /// `None` when the reason is empty or longer than 2,000 characters.
    #[must_use]
    pub fn place(
        tenant: TenantId,
        subject: SubjectId,
        ground: HoldGround,
        reason: &str,
        at: OffsetDateTime,
    ) -> Option<Self> {
        let reason = reason.trim();
        let n = reason.chars().count();
        (n > 0 && n <= 2000).then(|| Self {
            id: Uuid::new_v4(),
            tenant,
            subject,
            ground,
            reason: reason.to_owned(),
            placed_at: at,
            released_at: None,
        })
    }

    /// Whether the hold is in force.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.released_at.is_none()
    }
}

/// A place personal data about a subject can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Form records about the subject.
    Records,
    /// The subject's profile fields (e-mail, name, IP).
    PersonalFields,
    /// The subject's data key (destroying it makes every copy of their ciphertext unreadable).
    DataKey,
    /// The consent history.
    Consents,
    /// The error tracker, asked to forget the person.
    ErrorTracker,
    /// Backups: the tombstone journaled beside them (replayed on every restore) and the key
    /// removed from every retained backup's keyring. Object storage can fail on its own, so
    /// this place can be pending and retried.
    Backups,
}

impl Place {
    /// Every place, in the order erasure reaches them.
    pub const ALL: [Self; 6] = [
        Self::Records,
        Self::PersonalFields,
        Self::DataKey,
        Self::Consents,
        Self::Backups,
        Self::ErrorTracker,
    ];

    /// Whether the place is reached inside the storage transaction (as opposed to by a call
    /// to another system that can fail on its own and be retried).
    #[must_use]
    pub const fn is_transactional(self) -> bool {
        !matches!(self, Self::ErrorTracker | Self::Backups)
    }
}

/// What happened at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Not tried yet.
    Planned,
    /// Done.
    Done {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// How many items went, where countable.
        count: Option<u64>,
    },
    /// Tried and failed; will be retried until done.
    Pending {
        /// Attempts so far.
        attempts: u32,
        /// The last failure, without personal data.
        last_error: String,
        /// When it was last tried.
        #[serde(with = "time::serde::rfc3339")]
        last_attempt: OffsetDateTime,
    },
    /// Not done because erasure is blocked.
    Blocked {
        /// Why.
        reason: String,
    },
}

/// A place and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOutcome {
    /// The place.
    pub place: Place,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Erasure refused because of active legal holds, named by ground and id. A hold's reason is
/// free text that may name people: it stays with the hold (encrypted at rest under the
/// subject's key), never in a receipt or a request's refusal, which outlive an erasure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("erasure is blocked by {} legal hold(s): {}", .holds.len(), describe(.holds))]
pub struct ErasureBlocked {
    /// The holds in force: their ground and id.
    pub holds: Vec<(HoldGround, Uuid)>,
}

fn describe(holds: &[(HoldGround, Uuid)]) -> String {
    holds
        .iter()
        .map(|(g, id)| format!("{} (hold {id})", g.article()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What survives a subject's erasure: ids and a time, no personal data. The journal of
/// tombstones lives outside backups and is replayed after every restore, so an erased subject
/// never comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The tenant.
    pub tenant: TenantId,
    /// The subject erased.
    pub subject: SubjectId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub erased_at: OffsetDateTime,
    /// The erasure receipt.
    pub receipt: Uuid,
}

/// Every place erasure of one subject must reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasurePlan {
    /// The tenant.
    pub tenant: TenantId,
    /// The subject.
    pub subject: SubjectId,
    /// The places, in order.
    pub places: Vec<Place>,
}

impl ErasurePlan {
    /// The plan for a subject, unless an active hold blocks it.
    ///
    /// # Errors
    /// [`ErasureBlocked`] listing every active hold of this subject.
    pub fn for_subject(
        tenant: TenantId,
        subject: SubjectId,
        holds: &[LegalHold],
    ) -> Result<Self, ErasureBlocked> {
        let active: Vec<_> = holds
            .iter()
            .filter(|h| h.is_active() && h.subject == subject && h.tenant == tenant)
            .map(|h| (h.ground, h.id))
            .collect();
        if !active.is_empty() {
            return Err(ErasureBlocked { holds: active });
        }
        Ok(Self {
            tenant,
            subject,
            places: Place::ALL.to_vec(),
        })
    }
}

/// The overall state of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Every place is done.
    Complete,
    /// Some place is planned or pending.
    Pending,
    /// Blocked by a legal hold; nothing was erased.
    Blocked,
}

/// What the storage transaction of an erasure removed, per place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedCounts {
    /// Form records deleted.
    pub records: u64,
    /// Profile fields cleared (e-mail, name, IP: those that held a value).
    pub personal_fields: u64,
    /// Data keys destroyed (1, or 0 if it was already gone).
    pub keys: u64,
    /// Consent events deleted.
    pub consents: u64,
}

/// The receipt of one subject's erasure: each place, its outcome, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    /// The receipt.
    pub id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject erased (an id that no longer resolves to anyone).
    pub subject: SubjectId,
    /// The request it answers, if any.
    pub request: Option<RequestId>,
    /// When erasure started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Each place and its outcome.
    pub places: Vec<PlaceOutcome>,
}

impl ErasureReceipt {
    /// A receipt with every place of the plan still to do.
    #[must_use]
    pub fn planned(plan: &ErasurePlan, request: Option<RequestId>, at: OffsetDateTime) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant: plan.tenant,
            subject: plan.subject,
            request,
            started_at: at,
            places: plan
                .places
                .iter()
                .map(|&place| PlaceOutcome {
                    place,
                    outcome: Outcome::Planned,
                })
                .collect(),
        }
    }

    /// A receipt saying that nothing was erased, and why.
    #[must_use]
    pub fn blocked(
        tenant: TenantId,
        subject: SubjectId,
        request: Option<RequestId>,
        blocked: &ErasureBlocked,
        at: OffsetDateTime,
    ) -> Self {
        let reason = blocked.to_string();
        Self {
            id: Uuid::new_v4(),
            tenant,
            subject,
            request,
            started_at: at,
            places: Place::ALL
                .iter()
                .map(|&place| PlaceOutcome {
                    place,
                    outcome: Outcome::Blocked {
                        reason: reason.clone(),
                    },
                })
                .collect(),
        }
    }

    /// Records the outcome at a place.
    pub fn record(&mut self, place: Place, outcome: Outcome) {
        if let Some(p) = self.places.iter_mut().find(|p| p.place == place) {
            p.outcome = outcome;
        }
    }

    /// Records the places the storage transaction erased (records, personal fields, data
    /// key, consents) as done at `at`, with their counts.
    pub fn record_erased(&mut self, counts: ErasedCounts, at: OffsetDateTime) {
        for (place, count) in [
            (Place::Records, counts.records),
            (Place::PersonalFields, counts.personal_fields),
            (Place::DataKey, counts.keys),
            (Place::Consents, counts.consents),
        ] {
            self.record(
                place,
                Outcome::Done {
                    at,
                    count: Some(count),
                },
            );
        }
    }

    /// Records a failed attempt at a place: it becomes (or stays) pending, attempts counted.
    pub fn record_failure(&mut self, place: Place, error: &str, at: OffsetDateTime) {
        let attempts = match self.outcome(place) {
            Some(Outcome::Pending { attempts, .. }) => attempts + 1,
            _ => 1,
        };
        self.record(
            place,
            Outcome::Pending {
                attempts,
                last_error: error.to_owned(),
                last_attempt: at,
            },
        );
    }

    /// The outcome at a place.
    #[must_use]
    pub fn outcome(&self, place: Place) -> Option<&Outcome> {
        self.places
            .iter()
            .find(|p| p.place == place)
            .map(|p| &p.outcome)
    }

    /// The places not yet done.
    #[must_use]
    pub fn unfinished(&self) -> Vec<Place> {
        self.places
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::Planned | Outcome::Pending { .. }))
            .map(|p| p.place)
            .collect()
    }

    /// The overall state.
    #[must_use]
    pub fn status(&self) -> ErasureStatus {
        if self
            .places
            .iter()
            .any(|p| matches!(p.outcome, Outcome::Blocked { .. }))
        {
            ErasureStatus::Blocked
        } else if self.unfinished().is_empty() {
            ErasureStatus::Complete
        } else {
            ErasureStatus::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_plan_reaches_every_place_unless_a_hold_blocks_it() {
        let (t, s) = (
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        );
        let at = datetime!(2026-01-01 0:00 UTC);
        let plan = ErasurePlan::for_subject(t, s, &[]).unwrap();
        assert_eq!(plan.places, Place::ALL);
        let mut hold =
            LegalHold::place(t, s, HoldGround::LegalClaims, "case 2026-114", at).unwrap();
        let other = LegalHold::place(
            t,
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            HoldGround::Archiving,
            "x",
            at,
        )
        .unwrap();
        let err = ErasurePlan::for_subject(t, s, &[hold.clone(), other.clone()]).unwrap_err();
        assert_eq!(err.holds, vec![(HoldGround::LegalClaims, hold.id)]);
        assert!(
            err.to_string()
                .contains(&format!("Art. 17(3)(e) (hold {})", hold.id)),
            "{err}"
        );
        hold.released_at = Some(at);
        assert!(ErasurePlan::for_subject(t, s, &[hold, other]).is_ok());
        assert!(LegalHold::place(t, s, HoldGround::LegalClaims, " ", at).is_none());
    }

    #[test]
    fn a_receipt_tracks_each_place_until_all_are_done() {
        let plan = ErasurePlan::for_subject(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            &[],
        )
        .unwrap();
        let at = datetime!(2026-01-01 0:00 UTC);
        let mut receipt = ErasureReceipt::planned(&plan, None, at);
        assert_eq!(receipt.status(), ErasureStatus::Pending);
        let counts = ErasedCounts {
            records: 4,
            personal_fields: 2,
            keys: 1,
            consents: 3,
        };
        receipt.record_erased(counts, at);
        assert_eq!(
            receipt.unfinished(),
            vec![Place::Backups, Place::ErrorTracker],
            "the transaction's places are done"
        );
        assert_eq!(
            receipt.outcome(Place::Records),
            Some(&Outcome::Done { at, count: Some(4) })
        );
        assert_eq!(
            receipt.outcome(Place::Consents),
            Some(&Outcome::Done { at, count: Some(3) })
        );
        receipt.record(Place::Backups, Outcome::Done { at, count: Some(3) });
        receipt.record_failure(Place::ErrorTracker, "error tracker unreachable", at);
        receipt.record_failure(Place::ErrorTracker, "error tracker unreachable", at);
        assert!(matches!(
            receipt.outcome(Place::ErrorTracker),
            Some(Outcome::Pending { attempts: 2, .. })
        ));
        assert_eq!(receipt.unfinished(), vec![Place::ErrorTracker]);
        assert_eq!(receipt.status(), ErasureStatus::Pending);
        receipt.record(Place::ErrorTracker, Outcome::Done { at, count: None });
        assert_eq!(receipt.status(), ErasureStatus::Complete);
    }

    #[test]
    fn a_blocked_receipt_says_why_at_every_place() {
        let (t, s) = (
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        );
        let at = datetime!(2026-01-01 0:00 UTC);
        let hold = LegalHold::place(
            t,
            s,
            HoldGround::LegalObligation,
            "invoices of Ada kept 10 years",
            at,
        )
        .unwrap();
        let blocked = ErasurePlan::for_subject(t, s, std::slice::from_ref(&hold)).unwrap_err();
        let r = ErasureReceipt::blocked(t, s, None, &blocked, at);
        assert_eq!(r.status(), ErasureStatus::Blocked);
        let why = format!("Art. 17(3)(b) (hold {})", hold.id);
        assert!(r.places.iter().all(|p| matches!(&p.outcome,
            Outcome::Blocked { reason } if reason.contains(&why))));
        // The hold's free text stays with the hold: a receipt outlives the erasure.
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            !json.contains("Ada") && !blocked.to_string().contains("Ada"),
            "{json}"
        );
    }
}
