//! Identifiers. They are random UUIDs, carry no personal data, and may be logged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
            /// A fresh random identifier.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::new_v4())
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

        impl Default for $name {
            fn default() -> Self {
                Self::new()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = SubjectId::new();
        assert_eq!(id.to_string().parse::<SubjectId>(), Ok(id));
    }

    #[test]
    fn a_non_uuid_is_rejected_with_the_kind_named() {
        let err = "not-a-uuid".parse::<TenantId>().unwrap_err();
        assert!(err.to_string().starts_with("invalid tenant id"), "{err}");
    }
}
