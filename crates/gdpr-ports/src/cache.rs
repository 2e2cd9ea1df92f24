//! Invalidations of the in-process caches of every replica: the hot path (API-key
//! authentication, consent and processing checks) may be answered from memory, so a replica
//! that changes what those answers rest on tells the others. On PostgreSQL the message goes by
//! `NOTIFY`; on the embedded SQLite, where one process serves, an operator command run from
//! another process (`gdpr restore`) bumps a counter the server watches.
//!
//! Messages hold ids only (tenant, subject, API key): never personal data.

use std::fmt;

use async_trait::async_trait;
use gdpr_pii::{ApiKeyId, SubjectId, TenantId};

use crate::StoreError;

/// What an in-process cache must forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One API key (revoked).
    ApiKey(ApiKeyId),
    /// What is known of one subject: consents, limits, its existence.
    Subject {
        /// Its tenant.
        tenant: TenantId,
        /// The subject.
        subject: SubjectId,
    },
    /// Everything known of one tenant: purposes, consent forms, keys, offboarding, subjects.
    Tenant(TenantId),
    /// Everything (a change whose reach is not known, such as a restore of old rows).
    Everything,
}

impl fmt::Display for Invalidation {
    /// The wire form: `k:<key>`, `s:<tenant>:<subject>`, `t:<tenant>` or `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(key) => write!(f, "k:{key}"),
            Self::Subject { tenant, subject } => write!(f, "s:{tenant}:{subject}"),
            Self::Tenant(tenant) => write!(f, "t:{tenant}"),
            Self::Everything => f.write_str("*"),
        }
    }
}

impl Invalidation {
    /// Reads the wire form back. A message that does not parse is read as
    /// [`Invalidation::Everything`]: a cache that cannot tell what changed forgets it all.
    #[must_use]
    pub fn parse(message: &str) -> Self {
        let parsed = match message.split(':').collect::<Vec<_>>()[..] {
            ["k", key] => key.parse().ok().map(Self::ApiKey),
            ["s", tenant, subject] => tenant
                .parse()
                .ok()
                .zip(subject.parse().ok())
                .map(|(tenant, subject)| Self::Subject { tenant, subject }),
            ["t", tenant] => tenant.parse().ok().map(Self::Tenant),
            _ => None,
        };
        parsed.unwrap_or(Self::Everything)
    }
}

/// What a replica's watcher of invalidations reports to its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSignal {
    /// Another replica (or an operator command) changed this.
    Invalidate(Invalidation),
    /// The watcher lost its connection: messages may be missed, so the cache must not answer
    /// until [`CacheSignal::Up`].
    Down,
    /// The watcher is (again) receiving every message: the cache starts empty and may answer.
    Up,
}

/// Tells the other replicas (and processes) sharing the database what changed.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CacheBus: Send + Sync {
    /// Publishes `what`, after the change it describes was committed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: the other replicas then forget it only when their entries
    /// age out.
    async fn publish(&self, what: Invalidation) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::Invalidation;
    use gdpr_pii::{ApiKeyId, SubjectId, TenantId};

    #[test]
    fn invalidations_survive_their_wire_form_and_garbage_forgets_everything() {
        let at = time::OffsetDateTime::now_utc();
        let tenant = TenantId::at(at);
        for i in [
            Invalidation::ApiKey(ApiKeyId::at(at)),
            Invalidation::Subject {
                tenant,
                subject: SubjectId::at(at),
            },
            Invalidation::Tenant(tenant),
            Invalidation::Everything,
        ] {
            assert_eq!(Invalidation::parse(&i.to_string()), i);
        }
        for garbage in ["", "k:", "s:x:y", "t:1:2", "q:whatever"] {
            assert_eq!(Invalidation::parse(garbage), Invalidation::Everything);
        }
    }
}
