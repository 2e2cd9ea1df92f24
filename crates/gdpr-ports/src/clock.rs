//! The clock: the only source of "now", so every deadline rule is testable.

use time::OffsetDateTime;

/// Tells the time, in UTC.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant, UTC. Infallible.
    fn now(&self) -> OffsetDateTime;
}
