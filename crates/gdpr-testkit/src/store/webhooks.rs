//! The delivery queue and the endpoints' cursors, in memory, with the real store's rules:
//! a cursor moves only from where the caller saw it, a claim holds a delivery for one worker
//! until its lease runs out, an attempt of a worker that lost its lease is ignored.

use async_trait::async_trait;
use gdpr_pii::TenantId;
use gdpr_ports::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, Page, StoreError, WebhookStore,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::InMemoryStore;

/// A delivery and who holds it.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) delivery: Delivery,
    pub(super) worker: Option<String>,
    pub(super) until: Option<OffsetDateTime>,
}

#[async_trait]
impl WebhookStore for InMemoryStore {
    async fn webhook_cursor(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.state()?.cursors.get(&(tenant, endpoint)).copied())
    }

    async fn queue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        from: Option<u64>,
        to: u64,
        deliveries: Vec<Delivery>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state()?;
        if s.cursors.get(&(tenant, endpoint)).copied() != from {
            return Ok(false);
        }
        s.cursors.insert((tenant, endpoint), to);
        s.deliveries
            .extend(deliveries.into_iter().map(|delivery| Held {
                delivery,
                worker: None,
                until: None,
            }));
        Ok(true)
    }

    async fn claim_deliveries(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut s = self.state()?;
        let mut due: Vec<&mut Held> = s
            .deliveries
            .iter_mut()
            .filter(|h| {
                h.delivery.state == DeliveryState::Pending
                    && h.delivery.next_at <= now
                    && h.until.is_none_or(|u| u < now)
            })
            .collect();
        due.sort_by_key(|h| (h.delivery.next_at, h.delivery.id));
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|h| {
                h.worker = Some(worker.to_owned());
                h.until = Some(now + lease);
                h.delivery.clone()
            })
            .collect())
    }

    async fn record_attempts(
        &self,
        worker: &str,
        attempts: Vec<(Uuid, Attempt)>,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        for (id, attempt) in attempts {
            let Some(h) = s
                .deliveries
                .iter_mut()
                .find(|h| h.delivery.id == id && h.worker.as_deref() == Some(worker))
            else {
                continue;
            };
            h.worker = None;
            h.until = None;
            h.delivery.apply(attempt);
        }
        Ok(())
    }

    async fn deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<Vec<Delivery>, StoreError> {
        let s = self.state()?;
        let mut list: Vec<Delivery> = s
            .deliveries
            .iter()
            .map(|h| &h.delivery)
            .filter(|d| {
                d.tenant == tenant
                    && filter.endpoint.is_none_or(|e| d.endpoint == e)
                    && filter.state.is_none_or(|st| d.state == st)
                    && filter.subject.is_none_or(|x| d.subject == Some(x))
                    && page
                        .after
                        .is_none_or(|c| (d.created_at, d.id) < (c.at, c.id))
            })
            .cloned()
            .collect();
        list.sort_by_key(|d| std::cmp::Reverse((d.created_at, d.id)));
        Ok(list
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .collect())
    }

    async fn delivery(&self, tenant: TenantId, id: Uuid) -> Result<Delivery, StoreError> {
        self.state()?
            .deliveries
            .iter()
            .map(|h| &h.delivery)
            .find(|d| d.tenant == tenant && d.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn requeue_deliveries(
        &self,
        tenant: TenantId,
        endpoint: Option<Uuid>,
        ids: Vec<Uuid>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut s = self.state()?;
        let mut n = 0;
        for h in &mut s.deliveries {
            let d = &mut h.delivery;
            let chosen = endpoint.is_some_and(|e| d.endpoint == e) || ids.contains(&d.id);
            if d.tenant == tenant && d.state == DeliveryState::Failed && chosen {
                d.requeue(now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn fail_pending(
        &self,
        tenant: TenantId,
        endpoint: Uuid,
        reason: &str,
        forget: bool,
    ) -> Result<u64, StoreError> {
        let mut s = self.state()?;
        let mut n = 0;
        for h in &mut s.deliveries {
            let d = &mut h.delivery;
            if d.tenant == tenant && d.endpoint == endpoint && d.state == DeliveryState::Pending {
                d.state = DeliveryState::Failed;
                d.last_error = Some(reason.to_owned());
                h.worker = None;
                h.until = None;
                n += 1;
            }
        }
        if forget {
            // Every cursor of the endpoint: one per tenant for the deployment's.
            s.cursors.retain(|(_, e), _| *e != endpoint);
        }
        Ok(n)
    }
}
