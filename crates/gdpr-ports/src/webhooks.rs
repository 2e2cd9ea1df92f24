//! Webhook deliveries: the queue the delivery worker claims from (several replicas, each
//! delivery held by one under a lease), the cursors that say how far each endpoint has been
//! fed from its tenant's audit chain, and the sender that posts them.

use async_trait::async_trait;
use gdpr_pii::{SubjectId, TenantId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Page, StoreError};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Dead-lettered: failing for the whole retry window, or its endpoint disabled or removed.
    Failed,
}

impl DeliveryState {
    /// Its stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The state a stored name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// The endpoint (a document id).
    pub endpoint: Uuid,
    /// The event's id (`webhook-id`: the same on every retry and for every endpoint).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The subject the event is about, if any (to answer "did every recipient confirm this
    /// erasure?").
    pub subject: Option<SubjectId>,
    /// The body (ids, kinds and times only).
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When it is next due (pending).
    pub next_at: OffsetDateTime,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was first tried.
    pub first_attempt_at: Option<OffsetDateTime>,
    /// When it was last tried.
    pub last_attempt_at: Option<OffsetDateTime>,
    /// The last HTTP status the endpoint answered.
    pub last_status: Option<u16>,
    /// The last failure, as a rule (timeout, refused address, status): never a response body.
    pub last_error: Option<String>,
    /// When the endpoint answered 2xx.
    pub delivered_at: Option<OffsetDateTime>,
}

impl Delivery {
    /// The delivery after `attempt`: what every store records.
    pub fn apply(&mut self, attempt: Attempt) {
        self.attempts += 1;
        match attempt {
            Attempt::Delivered { at, status } => {
                self.state = DeliveryState::Delivered;
                self.first_attempt_at.get_or_insert(at);
                self.last_attempt_at = Some(at);
                self.last_status = Some(status);
                self.last_error = None;
                self.delivered_at = Some(at);
            }
            Attempt::Retry {
                at,
                status,
                error,
                next_at,
            } => {
                self.first_attempt_at.get_or_insert(at);
                self.last_attempt_at = Some(at);
                self.last_status = status;
                self.last_error = Some(error);
                self.next_at = next_at;
            }
            Attempt::Failed { at, status, error } => {
                self.state = DeliveryState::Failed;
                self.first_attempt_at.get_or_insert(at);
                self.last_attempt_at = Some(at);
                self.last_status = status;
                self.last_error = Some(error);
            }
        }
    }

    /// The delivery queued again (a replay): due at `now`, its attempts and retry window
    /// starting over.
    pub fn requeue(&mut self, now: OffsetDateTime) {
        self.state = DeliveryState::Pending;
        self.attempts = 0;
        self.next_at = now;
        self.first_attempt_at = None;
    }
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered {
        /// When.
        at: OffsetDateTime,
        /// The status.
        status: u16,
    },
    /// Failed; tried again at `next_at`.
    Retry {
        /// When.
        at: OffsetDateTime,
        /// The status, if the endpoint answered.
        status: Option<u16>,
        /// Why.
        error: String,
        /// When it is due again.
        next_at: OffsetDateTime,
    },
    /// Failed for good (dead-lettered).
    Failed {
        /// When.
        at: OffsetDateTime,
        /// The status, if the endpoint answered.
        status: Option<u16>,
        /// Why.
        error: String,
    },
}

/// Which deliveries a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryFilter {
    /// One endpoint's only.
    pub endpoint: Option<Uuid>,
    /// In this state only.
    pub state: Option<DeliveryState>,
    /// About this subject only.
    pub subject: Option<SubjectId>,
}

/// The delivery queue and the endpoints' cursors.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// How far an endpoint has been fed from its tenant's audit chain (the last sequence
    /// number queued); `None` before its first feeding.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn webhook_cursor(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
    ) -> Result<Option<u64>, StoreError>;

    /// Queues deliveries and moves the endpoint's cursor from `from` to `to`, in one
    /// transaction; `false` (nothing written) when the cursor is no longer at `from`: another
    /// replica fed it first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn queue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        from: Option<u64>,
        to: u64,
        deliveries: Vec<Delivery>,
    ) -> Result<bool, StoreError>;

    /// Claims up to `limit` due deliveries for `worker` until `now + lease`: pending, due,
    /// and not held by a live lease. Two workers never hold one delivery at once.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn claim_deliveries(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records attempts of deliveries `worker` holds (one transaction); an attempt on a
    /// delivery it no longer holds is ignored.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn record_attempts(
        &self,
        worker: &str,
        attempts: Vec<(Uuid, Attempt)>,
    ) -> Result<(), StoreError>;

    /// A tenant's deliveries, newest first, filtered.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn delivery(&self, tenant: TenantId, id: Uuid) -> Result<Delivery, StoreError>;

    /// Queues failed deliveries again, due at `now` with their attempts reset: the ones
    /// named, or every failed one of an endpoint. Returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn requeue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Option<Uuid>,
        ids: Vec<Uuid>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Dead-letters every pending delivery of an endpoint (disabled or removed), with the
    /// reason; forgets its cursor when `forget` (removed). Returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn fail_pending(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        reason: &str,
        forget: bool,
    ) -> Result<u64, StoreError>;
}

/// Posts one delivery. The adapter refuses addresses the deployment forbids (every address
/// a name resolves to), follows no redirect, gives up after its timeout and reads at most a
/// few KiB of the answer.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Posts `body` (JSON) with `headers` to `url`; the status the endpoint answered, or why
    /// there was none (a rule or a network failure: never the answer's body).
    ///
    /// # Errors
    /// The reason, as text for the delivery log.
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<u16, String>;
}
