//! The audit trail: what happened to personal data, by whom, when — and proof that the record
//! was not edited, removed from or reordered afterwards.
//!
//! Each [`AuditRecord`] commits, by SHA-256, to its own content and to the hash of the record
//! before it in the same chain (one chain per tenant, one for system-wide events). [`verify`]
//! recomputes the chain and names the first record that does not fit. Every storage adapter
//! computes hashes with [`AuditRecord::chain`], so they agree byte for byte.
//!
//! Events carry ids, actions and counts, never personal data: an audit log must outlive the
//! erasure of the people it mentions. This crate does no I/O.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;

mod attestation;

pub use attestation::{Attestation, AuditMark, Check, CheckKind, Verdict, verify_attestations};

use gdpr_pii::{ApiKeyId, ConsoleUserId, SubjectId, TenantId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The operator, through the admin token or the command line.
    Operator,
    /// A tenant's API key.
    ApiKey(ApiKeyId),
    /// The service itself (jobs, schedules).
    System,
    /// A person on the tenant's request portal, known by the e-mail address a one-time code
    /// went to (the address is not recorded here).
    Portal,
    /// A tenant's console user, signed in with their password (named by id, never address).
    ConsoleUser(ConsoleUserId),
}

/// What happened. Stable `snake_case` names: they are part of the hashed content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs, reason = "each variant's name says what it records")]
pub enum AuditAction {
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
    /// An open request came within a week of its due date (announced once per due date).
    RequestDueSoon,
    /// An open request passed its due date (announced once per due date).
    RequestOverdue,
    ExportAssembled,
    RegisterGenerated,
    BackupPruned,
    /// Every backup of a tenant deleted on the customer's request.
    TenantBackupsDeleted,
    /// A backup of the tenant written and made visible.
    BackupCreated,
    /// A backup decrypted and checked against its manifest.
    BackupVerified,
    /// The tenant restored from a backup (tombstones replayed).
    BackupRestored,
    /// An export downloaded (and deleted).
    ExportDownloaded,
    /// An export deleted unread at its expiry.
    ExportExpired,
    /// A restriction (Art. 18) or objection (Art. 21) placed.
    ProcessingLimited,
    /// A restriction or objection lifted.
    ProcessingLimitLifted,
    /// A batch erasure started (its counts).
    BatchErasureStarted,
    /// A batch erasure finished (its summary).
    BatchErasureCompleted,
    /// A batch deletion of records started (its counts).
    RecordDeletionStarted,
    /// A tenant's or a form's retention periods changed (the new ones).
    RetentionChanged,
    /// Records deleted because their retention period ran out (a chunk: form and count).
    RecordsExpired,
    /// The daily expiry done for a tenant (its counts).
    RetentionEnforced,
    /// A consent form retired: no new consent under it.
    ConsentFormRetired,
    /// A tenant's offboarding scheduled (its deletion date).
    TenantOffboardingScheduled,
    /// A tenant's offboarding cancelled.
    TenantOffboardingCancelled,
    /// A tenant's data handed over, encrypted (how many subjects).
    TenantHandedOver,
    /// A tenant deleted at the end of its offboarding: the operator's receipt (in the system
    /// chain; counts per table and per kind of object).
    TenantOffboarded,
    /// A processor or recipient added to a tenant's register (its id, its transfer).
    RecipientRegistered,
    /// A processor or recipient of the register changed.
    RecipientChanged,
    /// A processor or recipient removed from the register.
    RecipientRemoved,
    /// A webhook endpoint registered (its id; never its URL's secret or the secret).
    WebhookEndpointCreated,
    /// A webhook endpoint changed (its URL, events, or re-enabled).
    WebhookEndpointChanged,
    /// A webhook endpoint's signing secret rotated.
    WebhookSecretRotated,
    /// A webhook endpoint removed.
    WebhookEndpointRemoved,
    /// A webhook endpoint disabled after failing for the whole retry window.
    WebhookEndpointDisabled,
    /// Webhook deliveries queued again by the tenant (their count).
    WebhookDeliveriesReplayed,
    /// A recipient confirmed, by its signed call back, that it erased the subject (Art. 19;
    /// the endpoint's id).
    ErasureConfirmedByRecipient,
    /// A personal data breach recorded (its id; its clock starts at its detection).
    BreachRecorded,
    /// What is known of a breach updated.
    BreachUpdated,
    /// The supervisory authority's notification of a breach recorded (late or not).
    BreachAuthorityNotified,
    /// The decision whether the people a breach touches must be told.
    BreachSubjectsDecided,
    /// The people a breach touches found by a selector (their counts).
    BreachScoped,
    /// One person a breach touches to be told (the SaaS tells them, from the webhook event).
    BreachSubjectNotified,
    /// The people a breach touches told (their count).
    BreachSubjectsNotified,
    /// How a request's requester was identified, recorded (Art. 12(6)).
    RequestIdentityVerified,
    /// A page of requests or consent events exported for an auditor (what, how many).
    AuditorExport,
    /// A request from someone known only by an e-mail address received (never the address).
    InquiryReceived,
    /// Such a request answered "nothing held", after the requester's identity was verified.
    InquiryAnsweredNothingHeld,
    /// Such a request refused unverified, with reasons (Art. 12(6), 12(4)); its address erased.
    InquiryRefused,
    /// A console user created by the operator (their id and role; never their address).
    ConsoleUserCreated,
    /// A console user's password replaced by the operator (their sessions ended).
    ConsoleUserPasswordReset,
    /// A console user removed (their sessions ended).
    ConsoleUserRemoved,
    /// A console user signed in (their session's id).
    ConsoleSignedIn,
    /// A console user signed out.
    ConsoleSignedOut,
}

/// One event, before it is chained. Ids and counts only: never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The tenant concerned; `None` for system-wide events.
    pub tenant: Option<TenantId>,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The data subject concerned, by id.
    pub subject: Option<SubjectId>,
    /// Other ids and counts (record id, request id, number of rows...).
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    /// An event with no subject and no details.
    #[must_use]
    pub fn new(
        at: OffsetDateTime,
        tenant: Option<TenantId>,
        actor: Actor,
        action: AuditAction,
    ) -> Self {
        Self {
            at,
            tenant,
            actor,
            action,
            subject: None,
            details: BTreeMap::new(),
        }
    }

    /// The same event about `subject`.
    #[must_use]
    pub fn about(mut self, subject: SubjectId) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The same event with one more detail (an id or a count, never personal data).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }
}

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Digest256([u8; 32]);

impl Digest256 {
    /// The hash that the first record of every chain links to.
    pub const GENESIS: Self = Self([0; 32]);

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest256({self})")
    }
}

impl From<Digest256> for String {
    fn from(d: Digest256) -> Self {
        d.to_string()
    }
}

impl TryFrom<String> for Digest256 {
    type Error = hex::FromHexError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut out = [0; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Self(out))
    }
}

/// A chained event: its position, the hash of the record before it, and its own hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in its chain, from 1, without gaps.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// The hash of the previous record ([`Digest256::GENESIS`] for the first).
    pub prev_hash: Digest256,
    /// SHA-256 over `seq`, the event and `prev_hash`.
    pub hash: Digest256,
}

#[derive(Serialize)]
struct HashInput<'a> {
    seq: u64,
    event: &'a AuditEvent,
    prev_hash: Digest256,
}

fn digest(seq: u64, event: &AuditEvent, prev_hash: Digest256) -> Digest256 {
    digest_of(&HashInput {
        seq,
        event,
        prev_hash,
    })
}

/// SHA-256 of a value's JSON form (field order is the struct's, so stable).
pub(crate) fn digest_of<T: Serialize>(value: &T) -> Digest256 {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Digest256(Sha256::digest(bytes).into())
}

impl AuditRecord {
    /// Chains `event` after `previous` (the last record of the same chain, if any).
    #[must_use]
    pub fn chain(previous: Option<&Self>, event: AuditEvent) -> Self {
        let (seq, prev_hash) = previous.map_or((1, Digest256::GENESIS), |p| (p.seq + 1, p.hash));
        let hash = digest(seq, &event, prev_hash);
        Self {
            seq,
            event,
            prev_hash,
            hash,
        }
    }
}

/// Where and how a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainBreak {
    /// The record's content no longer matches its hash: it was edited.
    #[error("audit record {seq} was altered: its content does not match its hash")]
    Altered {
        /// The record.
        seq: u64,
    },
    /// A sequence number is missing or out of order: a record was removed or moved.
    #[error(
        "audit record {found} stands where record {expected} should be: a record was removed or reordered"
    )]
    OutOfSequence {
        /// The sequence number the position calls for.
        expected: u64,
        /// The one found there.
        found: u64,
    },
    /// The record does not link to the hash of the one before it.
    #[error("audit record {seq} does not link to the record before it")]
    BrokenLink {
        /// The record.
        seq: u64,
    },
    /// A record of another chain is mixed in.
    #[error("audit record {seq} belongs to another tenant's chain")]
    ForeignRecord {
        /// The record.
        seq: u64,
    },
}

/// The summary of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    /// How many records were checked.
    pub records: u64,
    /// The hash of the last record ([`Digest256::GENESIS`] for an empty chain).
    pub head: Digest256,
}

/// Verifies a chain record by record, so that a long chain never has to be in memory at once.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    tenant: Option<TenantId>,
    records: u64,
    head: Digest256,
}

impl ChainVerifier {
    /// A verifier for the chain of `tenant` (`None`: the system chain).
    #[must_use]
    pub const fn new(tenant: Option<TenantId>) -> Self {
        Self {
            tenant,
            records: 0,
            head: Digest256::GENESIS,
        }
    }

    /// A verifier that goes on from `from`, a head an earlier check of the same chain found:
    /// the records up to it are taken as checked (see the app's incremental verification).
    #[must_use]
    pub const fn resume(tenant: Option<TenantId>, from: ChainHead) -> Self {
        Self {
            tenant,
            records: from.records,
            head: from.head,
        }
    }

    /// Checks the next record, in stored order.
    ///
    /// # Errors
    /// The [`ChainBreak`] this record shows.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        let expected = self.records + 1;
        if record.seq != expected {
            return Err(ChainBreak::OutOfSequence {
                expected,
                found: record.seq,
            });
        }
        if record.event.tenant != self.tenant {
            return Err(ChainBreak::ForeignRecord { seq: record.seq });
        }
        if digest(record.seq, &record.event, record.prev_hash) != record.hash {
            return Err(ChainBreak::Altered { seq: record.seq });
        }
        if record.prev_hash != self.head {
            return Err(ChainBreak::BrokenLink { seq: record.seq });
        }
        self.records = expected;
        self.head = record.hash;
        Ok(())
    }

    /// The summary of everything pushed so far.
    #[must_use]
    pub const fn finish(&self) -> ChainHead {
        ChainHead {
            records: self.records,
            head: self.head,
        }
    }
}

/// Verifies one chain, given whole in stored order.
///
/// Removing records from the end is invisible to a chain alone; compare the returned head with
/// one kept elsewhere (an attestation, an operator's note) to detect truncation.
///
/// # Errors
/// The first [`ChainBreak`] found.
pub fn verify(tenant: Option<TenantId>, records: &[AuditRecord]) -> Result<ChainHead, ChainBreak> {
    let mut verifier = ChainVerifier::new(tenant);
    for record in records {
        verifier.push(record)?;
    }
    Ok(verifier.finish())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn chain(n: usize, tenant: TenantId) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let event = AuditEvent::new(
                datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(i as i64),
                Some(tenant),
                Actor::System,
                AuditAction::RecordSubmitted,
            )
            .with("n", i);
            records.push(AuditRecord::chain(records.last(), event));
        }
        records
    }

    #[test]
    fn an_untouched_chain_verifies_and_reports_its_head() {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let records = chain(5, tenant);
        let head = verify(Some(tenant), &records).unwrap();
        assert_eq!(head.records, 5);
        assert_eq!(head.head, records[4].hash);
        assert_eq!(verify(None, &[]).unwrap().head, Digest256::GENESIS);
    }

    #[test]
    fn each_kind_of_tampering_is_found_at_the_right_record() {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let records = chain(5, tenant);

        let mut edited = records.clone();
        edited[2].event.action = AuditAction::RecordDeleted;
        assert_eq!(
            verify(Some(tenant), &edited),
            Err(ChainBreak::Altered { seq: 3 })
        );

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(
            verify(Some(tenant), &removed),
            Err(ChainBreak::OutOfSequence {
                expected: 2,
                found: 3
            })
        );

        let mut reordered = records.clone();
        reordered.swap(1, 3);
        assert!(matches!(
            verify(Some(tenant), &reordered),
            Err(ChainBreak::OutOfSequence {
                expected: 2,
                found: 4
            })
        ));

        // Rewriting a record and its hash still breaks the link from the next one.
        let mut rehashed = records.clone();
        rehashed[1].event.details.insert("n".into(), "99".into());
        rehashed[1] = AuditRecord::chain(Some(&records[0]), rehashed[1].event.clone());
        assert_eq!(
            verify(Some(tenant), &rehashed),
            Err(ChainBreak::BrokenLink { seq: 3 })
        );

        assert_eq!(
            verify(
                Some(TenantId::at(time::OffsetDateTime::UNIX_EPOCH)),
                &records
            ),
            Err(ChainBreak::ForeignRecord { seq: 1 })
        );
    }

    #[test]
    fn digests_round_trip_as_hex() {
        let d = chain(1, TenantId::at(time::OffsetDateTime::UNIX_EPOCH))[0].hash;
        let s = String::from(d);
        assert_eq!(s.len(), 64);
        assert_eq!(Digest256::try_from(s).unwrap(), d);
    }
}
