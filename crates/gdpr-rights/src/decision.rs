//! Decisions that take data away or limit its use. Each is written to the decision journal,
//! outside the database, and applied again after every restore: a restore may lose data
//! created after its snapshot, never a decision. Ids, kinds and times only: a decision never
//! holds personal data.

use gdpr_pii::{ApiKeyId, SubjectId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One decision, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// A subject was erased (its tombstone: the subject never comes back from a backup).
    SubjectErased {
        /// The subject.
        subject: SubjectId,
        /// The erasure receipt.
        receipt: Uuid,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// An API key was revoked (a restore never brings back a working key the tenant revoked).
    ApiKeyRevoked {
        /// The key.
        key: ApiKeyId,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl Decision {
    /// When it was made.
    #[must_use]
    pub const fn at(&self) -> OffsetDateTime {
        match self {
            Self::SubjectErased { at, .. } | Self::ApiKeyRevoked { at, .. } => *at,
        }
    }
}
