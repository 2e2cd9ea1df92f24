//! An endpoint: where events go, which ones, with which signing secrets, and whether it
//! confirms erasures (Art. 19: the erasure receipt lists it as pending until it has).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Duration, OffsetDateTime};

use crate::{AddressPolicy, EventType, Secret, UrlError, check_url};

/// How long the previous secret stays valid after a rotation: a day for the receiver to
/// switch.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// A signing secret and how long it signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningKey {
    /// The secret.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub secret: Secret,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops signing (set when a newer one replaces it).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
}

fn ser_secret<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&secret.expose())
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let text = String::deserialize(d)?;
    Secret::parse(&text).map_err(serde::de::Error::custom)
}

/// Why an endpoint was disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why (the rule, never a response body).
    pub reason: String,
}

/// Why an endpoint cannot be made as described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The URL.
    #[error("url: {0}")]
    Url(#[from] UrlError),
    /// The description is longer than 500 characters.
    #[error("description: at most 500 characters")]
    Description,
}

impl EndpointError {
    /// The input field at fault.
    #[must_use]
    pub const fn field(&self) -> &'static str {
        match self {
            Self::Url(_) => "url",
            Self::Description => "description",
        }
    }
}

/// What confirms an erasure for an endpoint that confirms erasures (Art. 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmedBy {
    /// Its 2xx to `subject.erased`: it was told.
    #[default]
    Delivery,
    /// Its signed call back, once it has erased the subject on its side: it acted. A 2xx
    /// alone leaves the erasure pending.
    Callback,
}

impl ConfirmedBy {
    /// Its name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Callback => "callback",
        }
    }
}

/// A webhook endpoint as the register keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// Where events are posted.
    pub url: String,
    /// What it is for, in words.
    #[serde(default)]
    pub description: String,
    /// The event types it wants; empty: every type.
    #[serde(with = "types")]
    pub events: Vec<EventType>,
    /// Whether it confirms erasures (Art. 19): the erasure is pending on it until it has,
    /// by [`Endpoint::confirmed_by`].
    #[serde(default)]
    pub confirms_erasure: bool,
    /// What confirms an erasure, if it confirms them.
    #[serde(default)]
    pub confirmed_by: ConfirmedBy,
    /// Its signing secrets, newest last.
    pub keys: Vec<SigningKey>,
    /// Set when it was disabled (it failed for the whole retry window, or its tenant said so).
    #[serde(default)]
    pub disabled: Option<Disabled>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

mod types {
    use super::EventType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(types: &[EventType], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(types.iter().map(|t| t.as_str()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EventType>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| EventType::parse(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl Endpoint {
    /// A new endpoint signing with `secret`; `confirms_erasure` says how it confirms
    /// erasures, if it does.
    ///
    /// # Errors
    /// [`EndpointError`].
    pub fn new(
        url: &str,
        description: &str,
        mut events: Vec<EventType>,
        confirms_erasure: Option<ConfirmedBy>,
        secret: Secret,
        now: OffsetDateTime,
        policy: AddressPolicy,
    ) -> Result<Self, EndpointError> {
        let url = check_url(url, policy)?;
        let description = description.trim();
        if description.chars().count() > 500 {
            return Err(EndpointError::Description);
        }
        events.sort_unstable();
        events.dedup();
        Ok(Self {
            url: url.to_string(),
            description: description.to_owned(),
            events,
            confirms_erasure: confirms_erasure.is_some(),
            confirmed_by: confirms_erasure.unwrap_or_default(),
            keys: vec![SigningKey {
                secret,
                created_at: now,
                expires_at: None,
            }],
            disabled: None,
            created_at: now,
        })
    }

    /// How it confirms erasures, if it does.
    #[must_use]
    pub const fn confirms(&self) -> Option<ConfirmedBy> {
        if self.confirms_erasure {
            Some(self.confirmed_by)
        } else {
            None
        }
    }

    /// Whether it gets events of this type now.
    #[must_use]
    pub fn wants(&self, kind: EventType) -> bool {
        self.disabled.is_none() && self.asked_for(kind)
    }

    /// Whether it asked for events of this type, enabled or not (a disabled endpoint that
    /// confirms erasures is still owed each one).
    #[must_use]
    pub fn asked_for(&self, kind: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// The secrets that sign at `now` (two during a rotation).
    pub fn secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &Secret> {
        self.keys
            .iter()
            .filter(move |k| k.expires_at.is_none_or(|e| e > now))
            .map(|k| &k.secret)
    }

    /// Starts signing with `secret`; the ones before it keep signing for
    /// [`ROTATION_OVERLAP`], and those already expired are dropped.
    pub fn rotate(&mut self, secret: Secret, now: OffsetDateTime) {
        self.keys.retain(|k| k.expires_at.is_none_or(|e| e > now));
        for key in &mut self.keys {
            if key.expires_at.is_none() {
                key.expires_at = Some(now + ROTATION_OVERLAP);
            }
        }
        self.keys.push(SigningKey {
            secret,
            created_at: now,
            expires_at: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfirmedBy, Endpoint, EndpointError, ROTATION_OVERLAP};
    use crate::{AddressPolicy, EventType, Secret, UrlError};
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn an_endpoint_signs_with_two_secrets_for_a_day_after_a_rotation() {
        let now = datetime!(2026-12-07 10:00 UTC);
        let mut e = Endpoint::new(
            "https://hooks.example.com/gdpr",
            " CRM ",
            vec![
                EventType::SubjectErased,
                EventType::ConsentWithdrawn,
                EventType::SubjectErased,
            ],
            Some(ConfirmedBy::Callback),
            Secret::from_bytes(vec![1; 32]).unwrap(),
            now,
            AddressPolicy::default(),
        )
        .unwrap();
        assert_eq!(e.description, "CRM");
        assert_eq!(
            e.events,
            [EventType::SubjectErased, EventType::ConsentWithdrawn]
        );
        assert!(e.wants(EventType::SubjectErased) && !e.wants(EventType::SubjectCreated));
        e.rotate(Secret::from_bytes(vec![2; 32]).unwrap(), now);
        assert_eq!(e.secrets(now).count(), 2);
        assert_eq!(e.secrets(now + ROTATION_OVERLAP).count(), 1);
        e.rotate(
            Secret::from_bytes(vec![3; 32]).unwrap(),
            now + Duration::days(2),
        );
        assert_eq!(e.keys.len(), 2, "the expired one is dropped");
        // Read back from its stored form, secrets included.
        let json = serde_json::to_string(&e).unwrap();
        let back: Endpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back.secrets(now + Duration::days(2)).count(), 2);
        assert_eq!(back.events, e.events);
        assert_eq!(back.confirms(), Some(ConfirmedBy::Callback));
        // An endpoint stored before confirmations by callback existed confirms by delivery.
        let mut older: serde_json::Value = serde_json::from_str(&json).unwrap();
        older.as_object_mut().unwrap().remove("confirmed_by");
        let older: Endpoint = serde_json::from_value(older).unwrap();
        assert_eq!(older.confirms(), Some(ConfirmedBy::Delivery));
    }

    #[test]
    fn a_bad_endpoint_says_which_field() {
        let now = datetime!(2026-12-07 10:00 UTC);
        let make = |url: &str, description: &str| {
            Endpoint::new(
                url,
                description,
                Vec::new(),
                None,
                Secret::from_bytes(vec![1; 32]).unwrap(),
                now,
                AddressPolicy::default(),
            )
        };
        let err = make("https://10.0.0.1/x", "").unwrap_err();
        assert_eq!(err, EndpointError::Url(UrlError::Internal));
        assert_eq!(err.field(), "url");
        assert_eq!(
            make("https://hooks.example.com", &"x".repeat(501))
                .unwrap_err()
                .field(),
            "description"
        );
    }
}
