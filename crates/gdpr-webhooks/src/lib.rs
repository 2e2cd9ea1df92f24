//! Webhooks, pure: what the vault tells the SaaS's other systems (Art. 17(2), 19), and how.
//!
//! Owns the event types and their payloads (ids, kinds and times only: each event is drawn
//! from an audit record, which never holds personal data), Standard Webhooks signatures
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`, `whsec_` secrets, two valid at
//! once while one is rotated), the retry schedule (exponential with jitter, three days, then
//! dead-lettered), endpoints and the rule on the addresses they may reach. It does no I/O:
//! the store keeps deliveries, an adapter sends them, `gdpr-app` runs the worker.

mod address;
mod endpoint;
mod event;
mod schedule;
mod sign;

pub use address::{AddressPolicy, UrlError, check_url};
pub use endpoint::{ConfirmedBy, Disabled, Endpoint, EndpointError, ROTATION_OVERLAP, SigningKey};
pub use event::{Event, EventType, UnknownEventType, event_id_prefix};
pub use schedule::{MAX_ATTEMPTS, RETRY_WINDOW, retry_delay};
pub use sign::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Secret, SecretError, TIMESTAMP_TOLERANCE,
    VerifyError, check_timestamp, signature, verify,
};
