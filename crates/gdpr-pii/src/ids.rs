//! Identifiers. They are UUIDv7 (RFC 9562): a millisecond timestamp, then a randomly seeded
//! counter that keeps one process's ids in creation order, then random bits. The timestamp is
//! the one the caller passes (`SubjectId::at(clock.now())`): the domain reads no clock, and a
//! test clock mints ids of its own time. They carry no
//! personal data and may be logged; they tell when the thing was created, which every response
//! shows anyway. A subject's id outlives its erasure (tombstone, receipt, audit chain) and so
//! does its creation time, but the audit chain's `SubjectCreated` entry keeps that time as
//! evidence anyway. They are not secrets: every look-up is scoped to the caller's tenant, so
//! another tenant's id answers 404 whatever it is. Time-ordered ids append to the end of each
//! primary-key index instead of landing on a random page of it, which made bulk imports of
//! subjects about half again faster (see `docs/performance.md`).

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::{ContextV7, Timestamp, Uuid};

/// The counter that keeps ids minted at the same instant (a test clock standing still, many
/// ids in one millisecond) in the order they were minted, as RFC 9562 section 6.2 describes.
static SEQUENCE: Mutex<ContextV7> = Mutex::new(ContextV7::new());

/// A version 7 UUID for an id minted at `at`: the caller's time (from its `Clock` port), never
/// the system's, so that the domain reads no clock.
fn v7_at(at: OffsetDateTime) -> Uuid {
    let nanos = at.unix_timestamp_nanos().max(0);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(&SEQUENCE, seconds, subsec))
}

/// An identifier string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id: expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8")]
pub struct IdError {
    kind: &'static str,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh identifier for something created at `at` (the time of the caller's
            /// clock): that time, a counter, then random bits.
            #[must_use]
            pub fn at(at: OffsetDateTime) -> Self {
                Self(v7_at(at))
            }

            /// Wraps an existing UUID (for adapters reading stored ids).
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| IdError { kind: $kind })
            }
        }
    };
}

id_type!(
    /// A tenant: one customer of the SaaS, owner of its data subjects.
    TenantId,
    "tenant"
);
id_type!(
    /// A data subject: a person a tenant keeps data about.
    SubjectId,
    "subject"
);
id_type!(
    /// A record submitted through one of a tenant's forms.
    RecordId,
    "record"
);
id_type!(
    /// A form (a tenant-defined schema of classified fields).
    FormId,
    "form"
);
id_type!(
    /// A consent form: the versioned text a subject agrees to.
    ConsentFormId,
    "consent form"
);
id_type!(
    /// A data-subject request (access, erasure, ...).
    RequestId,
    "request"
);
id_type!(
    /// An API key (its id, never its secret).
    ApiKeyId,
    "api key"
);
id_type!(
    /// A person who signs in to a tenant's console (its id, never its address).
    ConsoleUserId,
    "console user"
);

#[cfg(test)]
mod tests {
    use super::*;

    const AT: OffsetDateTime = time::macros::datetime!(2026-12-06 10:00 UTC);

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = SubjectId::at(AT);
        assert_eq!(id.to_string().parse::<SubjectId>(), Ok(id));
    }

    #[test]
    fn fresh_ids_are_time_ordered_and_not_guessable_from_each_other() {
        // Minted at one instant (a clock standing still), then later.
        let ids: Vec<SubjectId> = (0..1_000)
            .map(|i| SubjectId::at(AT + time::Duration::milliseconds(i / 500)))
            .collect();
        // Version 7: later ids sort after earlier ones (millisecond timestamp first, then a
        // counter), which keeps primary-key indexes appending.
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids out of creation order"
        );
        // The random tails differ: ids of one millisecond do not repeat their random part.
        // The time is the caller's, not the system's.
        let millis = u64::try_from(AT.unix_timestamp_nanos() / 1_000_000).unwrap();
        assert_eq!(
            ids[0].as_uuid().get_timestamp().unwrap().to_unix().0,
            millis / 1_000
        );
        let tails: std::collections::HashSet<[u8; 8]> = ids
            .iter()
            .map(|id| id.as_uuid().as_bytes()[8..].try_into().unwrap())
            .collect();
        assert_eq!(tails.len(), ids.len());
    }

    #[test]
    fn a_non_uuid_is_rejected_with_the_kind_named() {
        let err = "not-a-uuid".parse::<TenantId>().unwrap_err();
        assert!(err.to_string().starts_with("invalid tenant id"), "{err}");
    }
}
