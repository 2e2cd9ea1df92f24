//! Attestations: dated statements, per tenant, of what was checked and what it found — the
//! continuous evidence an auditor reads (Art. 5(2), 24).
//!
//! Each [`Attestation`] is hash-chained to the one before it, in its own chain beside the
//! tenant's audit chain, and records the audit chain's head when it was made, so that a later
//! attestation can tell whether the audit chain lost records from its end (which a chain alone
//! cannot show). Attestations carry ids, counts and dates, never personal data.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ChainBreak, ChainHead, Digest256, digest_of};
use gdpr_pii::TenantId;

/// What an attestation checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// No backup older than the tenant's retention remains (the newest verified one aside,
    /// which is never pruned automatically).
    BackupsWithinRetention,
    /// The newest backup was verified whole (decrypted, checksum matched) by `gdpr verify`.
    NewestBackupVerified,
    /// The audit chain verifies, and still holds the head the previous attestation saw.
    AuditChainVerified,
    /// No data-subject request is past its due date.
    NoOverdueRequest,
    /// The tombstone journal holds after the last restore: no erased subject is present.
    TombstonesHold,
    /// The last log files hold no personal data the redactor would have removed.
    LogsClean,
    /// No recipient of the tenant's data (the deployment's or its own) is outside the EEA
    /// without a safeguard, or nowhere stated (Art. 44–46).
    TransfersSafeguarded,
    /// No personal data breach of the tenant (or of the deployment) is past its 72 hours
    /// without the authority's notification recorded (Art. 33(1)).
    BreachesNotified,
}

impl CheckKind {
    /// Every check, in the order an attestation lists them.
    pub const ALL: [Self; 8] = [
        Self::BackupsWithinRetention,
        Self::NewestBackupVerified,
        Self::AuditChainVerified,
        Self::NoOverdueRequest,
        Self::TombstonesHold,
        Self::LogsClean,
        Self::TransfersSafeguarded,
        Self::BreachesNotified,
    ];
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The condition holds.
    Pass,
    /// It does not: the detail says how.
    Fail,
    /// Nothing to check (no log files are written, say): neither proof nor breach.
    NotApplicable,
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// What it found.
    pub verdict: Verdict,
    /// The evidence, in words: counts, ids, dates (never personal data).
    pub detail: String,
}

impl Check {
    /// A check that holds.
    #[must_use]
    pub fn pass(kind: CheckKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            verdict: Verdict::Pass,
            detail: detail.into(),
        }
    }

    /// A check that does not hold.
    #[must_use]
    pub fn fail(kind: CheckKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            verdict: Verdict::Fail,
            detail: detail.into(),
        }
    }

    /// A check with nothing to check.
    #[must_use]
    pub fn not_applicable(kind: CheckKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            verdict: Verdict::NotApplicable,
            detail: detail.into(),
        }
    }
}

/// Where the audit chain stood when an attestation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditMark {
    /// Its last record's position.
    pub seq: u64,
    /// Its last record's hash.
    pub hash: Digest256,
}

/// A dated, hash-chained statement of what was checked for a tenant and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// Position in the tenant's attestation chain, from 1.
    pub seq: u64,
    /// The tenant.
    pub tenant: TenantId,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Every check, in [`CheckKind::ALL`] order.
    pub checks: Vec<Check>,
    /// The audit chain's head at that time (`None`: the chain did not verify).
    pub audit: Option<AuditMark>,
    /// The hash of the previous attestation ([`Digest256::GENESIS`] for the first).
    pub prev_hash: Digest256,
    /// SHA-256 over everything above.
    pub hash: Digest256,
}

#[derive(Serialize)]
struct HashInput<'a> {
    seq: u64,
    tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    checks: &'a [Check],
    audit: Option<AuditMark>,
    prev_hash: Digest256,
}

impl Attestation {
    /// Chains a new attestation after `previous` (the tenant's last, if any).
    #[must_use]
    pub fn chain(
        previous: Option<&Self>,
        tenant: TenantId,
        at: OffsetDateTime,
        checks: Vec<Check>,
        audit: Option<AuditMark>,
    ) -> Self {
        let (seq, prev_hash) = previous.map_or((1, Digest256::GENESIS), |p| (p.seq + 1, p.hash));
        let mut attestation = Self {
            seq,
            tenant,
            at,
            checks,
            audit,
            prev_hash,
            hash: Digest256::GENESIS,
        };
        attestation.hash = attestation.computed_hash();
        attestation
    }

    fn computed_hash(&self) -> Digest256 {
        digest_of(&HashInput {
            seq: self.seq,
            tenant: self.tenant,
            at: self.at,
            checks: &self.checks,
            audit: self.audit,
            prev_hash: self.prev_hash,
        })
    }

    /// Whether no check failed.
    #[must_use]
    pub fn holds(&self) -> bool {
        self.checks.iter().all(|c| c.verdict != Verdict::Fail)
    }

    /// The check of this kind.
    #[must_use]
    pub fn check(&self, kind: CheckKind) -> Option<&Check> {
        self.checks.iter().find(|c| c.kind == kind)
    }
}

/// Verifies a tenant's attestations, given whole in stored order, as [`crate::verify`] does
/// audit records.
///
/// # Errors
/// The first [`ChainBreak`] found.
pub fn verify_attestations(
    tenant: TenantId,
    attestations: &[Attestation],
) -> Result<ChainHead, ChainBreak> {
    let mut head = Digest256::GENESIS;
    for (i, a) in attestations.iter().enumerate() {
        let expected = i as u64 + 1;
        if a.seq != expected {
            return Err(ChainBreak::OutOfSequence {
                expected,
                found: a.seq,
            });
        }
        if a.tenant != tenant {
            return Err(ChainBreak::ForeignRecord { seq: a.seq });
        }
        if a.computed_hash() != a.hash {
            return Err(ChainBreak::Altered { seq: a.seq });
        }
        if a.prev_hash != head {
            return Err(ChainBreak::BrokenLink { seq: a.seq });
        }
        head = a.hash;
    }
    Ok(ChainHead {
        records: attestations.len() as u64,
        head,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn chain(n: u64, tenant: TenantId) -> Vec<Attestation> {
        let mut out: Vec<Attestation> = Vec::new();
        for i in 0..n {
            let checks = vec![
                Check::pass(CheckKind::AuditChainVerified, format!("{i} records")),
                Check::fail(CheckKind::NoOverdueRequest, "1 overdue"),
            ];
            let a = Attestation::chain(
                out.last(),
                tenant,
                datetime!(2026-01-01 00:00 UTC) + time::Duration::days(i as i64),
                checks,
                None,
            );
            out.push(a);
        }
        out
    }

    #[test]
    fn a_chain_verifies_and_any_edit_removal_or_move_is_named() {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let good = chain(4, tenant);
        assert_eq!(verify_attestations(tenant, &good).unwrap().records, 4);
        assert!(!good[0].holds());

        let mut edited = good.clone();
        edited[2].checks[1].verdict = Verdict::Pass;
        assert_eq!(
            verify_attestations(tenant, &edited),
            Err(ChainBreak::Altered { seq: 3 })
        );
        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(
            verify_attestations(tenant, &removed),
            Err(ChainBreak::OutOfSequence {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            verify_attestations(TenantId::at(time::OffsetDateTime::UNIX_EPOCH), &good),
            Err(ChainBreak::ForeignRecord { seq: 1 })
        );
        let mut relinked = good;
        relinked[1].prev_hash = Digest256::GENESIS;
        relinked[1].hash = relinked[1].computed_hash();
        assert_eq!(
            verify_attestations(tenant, &relinked),
            Err(ChainBreak::BrokenLink { seq: 2 })
        );
    }
}
