//! Webhooks (Art. 17(2), 19): a tenant's endpoints, fed from its audit chain and delivered
//! by a worker several replicas run.
//!
//! The audit chain is the outbox: every decision appends its record before it is answered,
//! and an event is drawn from each record that announces one (ids, kinds and times only). The
//! feeder moves each endpoint's cursor along its tenant's chain, queueing a delivery per
//! event the endpoint wants, the cursor and the deliveries in one transaction (so no event is
//! queued twice or skipped, whichever replica feeds); the deliverer claims due deliveries
//! under a lease, signs them (Standard Webhooks), posts them and records each attempt, with
//! exponential retries for three days. A delivery failing that long is dead-lettered and its
//! endpoint disabled — audited, reported, and announced to the tenant's other endpoints; its
//! cursor stays where it was, so re-enabling it delivers what it missed. Nothing in the
//! request path waits for any of this.
//!
//! The operator may add endpoints of the deployment's own ([`EndpointScope::Deployment`]):
//! fed from every tenant's chain (a cursor per tenant), their deliveries kept under
//! [`DEPLOYMENT_DELIVERIES`] in place of a tenant, so that no tenant's delivery log, replay or
//! erasure confirmations ever show them; their changes are audited in the system chain.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use gdpr_audit::AuditAction;
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    Attempt, AuditLog, Clock, Delivery, DeliveryFilter, DeliveryState, Document, DocumentKind,
    DocumentStore, ErasureStore, Owner, Page, Ports, StoreError, WebhookSender, WebhookStore,
};
use gdpr_webhooks::{
    AddressPolicy, ConfirmedBy, Disabled, Endpoint, EndpointError, Event, EventType, HEADER_ID,
    HEADER_SIGNATURE, HEADER_TIMESTAMP, Secret, VerifyError, check_timestamp, retry_delay,
    signature, verify,
};
use rand::RngCore as _;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// Whose endpoints: a tenant's, or the deployment's (the operator's: every tenant's events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointScope {
    /// A tenant's, through its API key.
    Tenant(Ctx),
    /// The deployment's, through the admin token.
    Deployment,
}

/// What the deployment's deliveries are kept under in place of a tenant's id (no tenant has
/// it): a tenant's delivery log never shows them.
pub const DEPLOYMENT_DELIVERIES: Uuid = Uuid::nil();

impl EndpointScope {
    const fn owner(self) -> Owner {
        match self {
            Self::Tenant(ctx) => Owner::Tenant(ctx.tenant),
            Self::Deployment => Owner::Deployment,
        }
    }

    /// The key its deliveries are kept under.
    fn deliveries(self) -> TenantId {
        match self {
            Self::Tenant(ctx) => ctx.tenant,
            Self::Deployment => TenantId::from_uuid(DEPLOYMENT_DELIVERIES),
        }
    }

    /// The scope whose deliveries are kept under `key`.
    fn of_deliveries(key: TenantId) -> Self {
        if key.as_uuid().is_nil() {
            Self::Deployment
        } else {
            Self::Tenant(Ctx::new(key, gdpr_audit::Actor::System))
        }
    }
}

/// How many audit records one feeding reads per endpoint at a time.
const FEED_PAGE: u32 = 500;

/// The deployment's webhook settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Which addresses endpoints may reach.
    pub addresses: AddressPolicy,
    /// How long a worker holds the deliveries it claimed (past their timeout).
    pub lease: Duration,
    /// Deliveries claimed per round.
    pub batch: u32,
    /// Deliveries posted at once.
    pub concurrency: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            addresses: AddressPolicy::default(),
            lease: Duration::minutes(2),
            batch: 256,
            concurrency: 64,
        }
    }
}

/// An endpoint to register or the new description of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where events are posted.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The types it wants (empty: every type).
    pub events: Vec<EventType>,
    /// Whether it confirms erasures (Art. 19), and how.
    pub confirms_erasure: Option<ConfirmedBy>,
}

/// An endpoint as its tenant sees it: everything but its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    /// Its id.
    pub id: Uuid,
    /// Where events are posted.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The types it wants (empty: every type).
    pub events: Vec<EventType>,
    /// Whether it confirms erasures, and how.
    pub confirms_erasure: Option<ConfirmedBy>,
    /// Why and when it was disabled, if it is.
    pub disabled: Option<Disabled>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// How many secrets sign now (two for a day after a rotation).
    pub signing_secrets: usize,
}

/// An endpoint with a secret that is shown this once.
#[derive(Debug)]
pub struct IssuedEndpoint {
    /// The endpoint.
    pub endpoint: EndpointView,
    /// The new signing secret (`whsec_...`).
    pub secret: Secret,
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryRound {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Answered 2xx.
    pub delivered: usize,
    /// Failed, to be tried again.
    pub retried: usize,
    /// Dead-lettered.
    pub failed: usize,
    /// Endpoints disabled.
    pub disabled: usize,
}

/// Where an erasure stands with a recipient that confirms erasures (Art. 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureConfirmation {
    /// The endpoint.
    pub endpoint: Uuid,
    /// Its URL.
    pub url: String,
    /// What confirms the erasure for it.
    pub by: ConfirmedBy,
    /// When it confirmed (its 2xx to `subject.erased`, or its signed call back, as it
    /// declared); `None`: pending.
    pub confirmed_at: Option<OffsetDateTime>,
    /// Pending past the retry window (three days), or dead-lettered.
    pub overdue: bool,
}

/// A message a recipient signed, as it arrived (Standard Webhooks: its three headers and the
/// body's exact bytes).
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// `webhook-id`: the message's id, the recipient's.
    pub id: &'a str,
    /// `webhook-timestamp`: Unix seconds.
    pub timestamp: &'a str,
    /// `webhook-signature`: `v1,` signatures, space-separated.
    pub signature: &'a str,
    /// The body, byte for byte.
    pub body: &'a [u8],
}

/// A recipient's confirmation, by its signed call back, that it erased a subject (ids and a
/// time only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfirmedErasure {
    /// The endpoint.
    pub endpoint: Uuid,
    /// The subject.
    pub subject: SubjectId,
    /// When it first confirmed.
    #[serde(with = "time::serde::rfc3339")]
    pub confirmed_at: OffsetDateTime,
}

/// Where a recipient's confirmation of a subject's erasure is kept: one per pair, so that a
/// confirmation given twice (or by two replicas at once) is kept once.
fn confirmation_id(endpoint: Uuid, subject: SubjectId) -> Uuid {
    Uuid::new_v5(&endpoint, subject.as_uuid().as_bytes())
}

impl From<EndpointError> for AppError {
    fn from(e: EndpointError) -> Self {
        match e {
            // Well-formed, refused by the deployment's policy.
            EndpointError::Url(
                gdpr_webhooks::UrlError::Internal
                | gdpr_webhooks::UrlError::Scheme
                | gdpr_webhooks::UrlError::Credentials,
            ) => Self::Forbidden(e.to_string()),
            _ => Self::InvalidInput {
                field: e.field(),
                reason: e.to_string(),
            },
        }
    }
}

fn view(id: Uuid, e: &Endpoint, now: OffsetDateTime) -> EndpointView {
    EndpointView {
        id,
        url: e.url.clone(),
        description: e.description.clone(),
        events: e.events.clone(),
        confirms_erasure: e.confirms(),
        disabled: e.disabled.clone(),
        created_at: e.created_at,
        signing_secrets: e.secrets(now).count(),
    }
}

/// How an endpoint confirms erasures, as its audit records say it: `delivery`, `callback` or
/// `no`.
fn confirms(e: &Endpoint) -> &'static str {
    e.confirms().map_or("no", ConfirmedBy::as_str)
}

fn new_secret() -> Secret {
    let mut bytes = vec![0; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 32 bytes are within the 24 to 64 a secret takes.
    Secret::from_bytes(bytes).unwrap_or_else(|_| unreachable!("32 bytes make a secret"))
}

fn parse(doc: &Document) -> Result<Endpoint, AppError> {
    serde_json::from_str(&doc.body).map_err(|_| {
        AppError::store(StoreError::Corrupt(
            "a webhook endpoint does not read back".into(),
        ))
    })
}

fn body(e: &Endpoint) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

impl<P: Ports> App<P> {
    /// An audit event of `scope`: the tenant's chain, or the system chain for the
    /// deployment's (the operator acted).
    fn scoped_event(&self, scope: EndpointScope, action: AuditAction) -> gdpr_audit::AuditEvent {
        match scope {
            EndpointScope::Tenant(ctx) => self.event(ctx, action),
            EndpointScope::Deployment => gdpr_audit::AuditEvent::new(
                self.clock.now(),
                None,
                gdpr_audit::Actor::Operator,
                action,
            ),
        }
    }

    async fn endpoint_in(
        &self,
        scope: EndpointScope,
        id: Uuid,
    ) -> Result<(Document, Endpoint), AppError> {
        let doc = self
            .store
            .get_document(scope.owner(), DocumentKind::WebhookEndpoint, id)
            .await
            .map_err(AppError::not_found("webhook endpoint"))?;
        let endpoint = parse(&doc)?;
        Ok((doc, endpoint))
    }

    async fn save_endpoint(&self, mut doc: Document, e: &Endpoint) -> Result<(), AppError> {
        doc.body = body(e);
        self.store.put_document(&doc).await.map_err(AppError::store)
    }

    /// Registers an endpoint; its signing secret is in the answer, and nowhere else ever
    /// again. It receives the events of decisions made from now on. Audited.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] naming the field (a URL that is not `https`, or points at
    /// an address this deployment forbids); storage errors.
    pub async fn create_webhook_endpoint(
        &self,
        ctx: Ctx,
        new: NewEndpoint,
    ) -> Result<IssuedEndpoint, AppError> {
        self.create_webhook_endpoint_in(EndpointScope::Tenant(ctx), new)
            .await
    }

    /// As [`App::create_webhook_endpoint`], for a tenant's endpoint or the deployment's (fed
    /// every tenant's events from its creation on).
    ///
    /// # Errors
    /// As [`App::create_webhook_endpoint`].
    pub async fn create_webhook_endpoint_in(
        &self,
        scope: EndpointScope,
        new: NewEndpoint,
    ) -> Result<IssuedEndpoint, AppError> {
        let now = self.clock.now();
        let secret = new_secret();
        let endpoint = Endpoint::new(
            &new.url,
            &new.description,
            new.events,
            new.confirms_erasure,
            secret.clone(),
            now,
            self.config.webhooks.addresses,
        )?;
        let id = Uuid::now_v7();
        self.store
            .put_document(&Document {
                id,
                kind: DocumentKind::WebhookEndpoint,
                owner: scope.owner(),
                created_at: now,
                body: body(&endpoint),
            })
            .await
            .map_err(AppError::store)?;
        let record = self
            .store
            .append_audit(
                self.scoped_event(scope, AuditAction::WebhookEndpointCreated)
                    .with("endpoint", id)
                    .with("confirms_erasure", confirms(&endpoint)),
            )
            .await
            .map_err(AppError::store)?;
        // Fed from here on: the chain before it is not this endpoint's news. (Cut short
        // here, the feeder starts it from its creation time instead; so it starts the
        // deployment's, in every tenant's chain.)
        if let EndpointScope::Tenant(ctx) = scope {
            self.store
                .queue_deliveries(ctx.tenant, id, None, record.seq, Vec::new())
                .await
                .map_err(AppError::store)?;
        }
        Ok(IssuedEndpoint {
            endpoint: view(id, &endpoint, now),
            secret,
        })
    }

    /// The tenant's endpoints.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn webhook_endpoints(&self, ctx: Ctx) -> Result<Vec<EndpointView>, AppError> {
        self.webhook_endpoints_in(EndpointScope::Tenant(ctx)).await
    }

    /// A scope's endpoints.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn webhook_endpoints_in(
        &self,
        scope: EndpointScope,
    ) -> Result<Vec<EndpointView>, AppError> {
        let now = self.clock.now();
        let docs = self
            .store
            .list_documents(scope.owner(), DocumentKind::WebhookEndpoint)
            .await
            .map_err(AppError::store)?;
        docs.iter()
            .map(|d| Ok(view(d.id, &parse(d)?, now)))
            .collect()
    }

    /// One endpoint.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn webhook_endpoint(&self, ctx: Ctx, id: Uuid) -> Result<EndpointView, AppError> {
        self.webhook_endpoint_in(EndpointScope::Tenant(ctx), id)
            .await
    }

    /// One endpoint of a scope.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn webhook_endpoint_in(
        &self,
        scope: EndpointScope,
        id: Uuid,
    ) -> Result<EndpointView, AppError> {
        let (_, e) = self.endpoint_in(scope, id).await?;
        Ok(view(id, &e, self.clock.now()))
    }

    /// Changes an endpoint's URL, description, events and erasure confirmations; `enable`
    /// brings a disabled one back (it then receives what it missed). Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`]; storage errors.
    pub async fn update_webhook_endpoint(
        &self,
        ctx: Ctx,
        id: Uuid,
        new: NewEndpoint,
        enable: bool,
    ) -> Result<EndpointView, AppError> {
        self.update_webhook_endpoint_in(EndpointScope::Tenant(ctx), id, new, enable)
            .await
    }

    /// As [`App::update_webhook_endpoint`], in a scope.
    ///
    /// # Errors
    /// As [`App::update_webhook_endpoint`].
    pub async fn update_webhook_endpoint_in(
        &self,
        scope: EndpointScope,
        id: Uuid,
        new: NewEndpoint,
        enable: bool,
    ) -> Result<EndpointView, AppError> {
        let now = self.clock.now();
        let (doc, old) = self.endpoint_in(scope, id).await?;
        let Some(current) = old.keys.last().map(|k| k.secret.clone()) else {
            return Err(AppError::store(StoreError::Corrupt(
                "a webhook endpoint without a secret".into(),
            )));
        };
        let mut endpoint = Endpoint::new(
            &new.url,
            &new.description,
            new.events,
            new.confirms_erasure,
            current,
            old.created_at,
            self.config.webhooks.addresses,
        )?;
        endpoint.keys = old.keys;
        endpoint.disabled = if enable { None } else { old.disabled };
        self.save_endpoint(doc, &endpoint).await?;
        self.audit(
            self.scoped_event(scope, AuditAction::WebhookEndpointChanged)
                .with("endpoint", id)
                .with("enabled", endpoint.disabled.is_none())
                .with("confirms_erasure", confirms(&endpoint)),
        )
        .await?;
        Ok(view(id, &endpoint, now))
    }

    /// A new signing secret, shown once; the previous one keeps signing for a day so that
    /// the receiver can switch without losing a message. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn rotate_webhook_secret(
        &self,
        ctx: Ctx,
        id: Uuid,
    ) -> Result<IssuedEndpoint, AppError> {
        self.rotate_webhook_secret_in(EndpointScope::Tenant(ctx), id)
            .await
    }

    /// As [`App::rotate_webhook_secret`], in a scope.
    ///
    /// # Errors
    /// As [`App::rotate_webhook_secret`].
    pub async fn rotate_webhook_secret_in(
        &self,
        scope: EndpointScope,
        id: Uuid,
    ) -> Result<IssuedEndpoint, AppError> {
        let now = self.clock.now();
        let (doc, mut endpoint) = self.endpoint_in(scope, id).await?;
        let secret = new_secret();
        endpoint.rotate(secret.clone(), now);
        self.save_endpoint(doc, &endpoint).await?;
        self.audit(
            self.scoped_event(scope, AuditAction::WebhookSecretRotated)
                .with("endpoint", id),
        )
        .await?;
        Ok(IssuedEndpoint {
            endpoint: view(id, &endpoint, now),
            secret,
        })
    }

    /// Removes an endpoint: its pending deliveries are dead-lettered, its delivery log kept.
    /// Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn remove_webhook_endpoint(&self, ctx: Ctx, id: Uuid) -> Result<(), AppError> {
        self.remove_webhook_endpoint_in(EndpointScope::Tenant(ctx), id)
            .await
    }

    /// As [`App::remove_webhook_endpoint`], in a scope.
    ///
    /// # Errors
    /// As [`App::remove_webhook_endpoint`].
    pub async fn remove_webhook_endpoint_in(
        &self,
        scope: EndpointScope,
        id: Uuid,
    ) -> Result<(), AppError> {
        let gone = self
            .store
            .delete_document(scope.owner(), DocumentKind::WebhookEndpoint, id)
            .await
            .map_err(AppError::store)?;
        if !gone {
            return Err(AppError::NotFound("webhook endpoint"));
        }
        self.store
            .fail_pending(scope.deliveries(), id, "the endpoint was removed", true)
            .await
            .map_err(AppError::store)?;
        self.audit(
            self.scoped_event(scope, AuditAction::WebhookEndpointRemoved)
                .with("endpoint", id),
        )
        .await
    }

    /// The tenant's deliveries, newest first.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn webhook_deliveries(
        &self,
        ctx: Ctx,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<Vec<Delivery>, AppError> {
        self.webhook_deliveries_in(EndpointScope::Tenant(ctx), filter, page)
            .await
    }

    /// A scope's deliveries, newest first (the deployment's: to its own endpoints, about
    /// every tenant).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn webhook_deliveries_in(
        &self,
        scope: EndpointScope,
        filter: DeliveryFilter,
        page: Page,
    ) -> Result<Vec<Delivery>, AppError> {
        self.store
            .deliveries(scope.deliveries(), filter, page)
            .await
            .map_err(AppError::store)
    }

    /// One delivery.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn webhook_delivery(&self, ctx: Ctx, id: Uuid) -> Result<Delivery, AppError> {
        self.store
            .delivery(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("webhook delivery"))
    }

    /// Queues failed deliveries again (the ones named, or every failed one of an endpoint),
    /// due now, their retry window starting over. Audited with the count.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an endpoint the tenant does not have; storage errors.
    pub async fn replay_webhook_deliveries(
        &self,
        ctx: Ctx,
        endpoint: Option<Uuid>,
        ids: Vec<Uuid>,
    ) -> Result<u64, AppError> {
        self.replay_webhook_deliveries_in(EndpointScope::Tenant(ctx), endpoint, ids)
            .await
    }

    /// As [`App::replay_webhook_deliveries`], in a scope.
    ///
    /// # Errors
    /// As [`App::replay_webhook_deliveries`].
    pub async fn replay_webhook_deliveries_in(
        &self,
        scope: EndpointScope,
        endpoint: Option<Uuid>,
        ids: Vec<Uuid>,
    ) -> Result<u64, AppError> {
        if let Some(id) = endpoint {
            self.endpoint_in(scope, id).await?;
        }
        let n = self
            .store
            .requeue_deliveries(scope.deliveries(), endpoint, ids, self.clock.now())
            .await
            .map_err(AppError::store)?;
        self.audit(
            self.scoped_event(scope, AuditAction::WebhookDeliveriesReplayed)
                .with("deliveries", n),
        )
        .await?;
        Ok(n)
    }

    /// A recipient's confirmation that it erased a subject on its side (Art. 19), called by
    /// the recipient itself: no API key, the message signed per Standard Webhooks with the
    /// endpoint's own signing secret (either one during a rotation) within five minutes of
    /// now. Only an endpoint that confirms by callback may, and only for a subject whose
    /// `subject.erased` was queued for it (a recipient may well confirm before its 2xx is
    /// recorded). Idempotent: a confirmation given again answers the first, and only the
    /// first is audited.
    ///
    /// # Errors
    /// [`AppError::Signature`] (an unknown endpoint is told the same, so that ids cannot be
    /// probed); [`AppError::Conflict`] for an endpoint that confirms by delivery or not at all;
    /// [`AppError::NotFound`] when no erasure of this subject was sent to it; storage errors.
    pub async fn confirm_erasure(
        &self,
        endpoint_id: Uuid,
        subject: SubjectId,
        signed: &SignedMessage<'_>,
    ) -> Result<ConfirmedErasure, AppError> {
        let now = self.clock.now();
        // The time first, whoever the sender claims to be: a stale message is told so
        // whether its endpoint exists or not.
        check_timestamp(signed.timestamp, now.unix_timestamp()).map_err(AppError::Signature)?;
        // By its id alone (the call names no tenant): one step down the primary key, not a
        // read of every endpoint, for a route anyone may call.
        let found = match self
            .store
            .document_by_id(DocumentKind::WebhookEndpoint, endpoint_id)
            .await
        {
            Ok(d) => Some(d),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(AppError::store(e)),
        }
        // Only a tenant's endpoint is owed its tenant's erasures.
        .and_then(|d| match d.owner {
            Owner::Tenant(tenant) => Some((tenant, d)),
            Owner::Deployment => None,
        });
        let endpoint = found
            .map(|(tenant, doc)| parse(&doc).map(|e| (tenant, e)))
            .transpose()?;
        // An unknown endpoint is verified under a secret nobody holds: the same answer as a
        // forgery after the same HMAC work. A known one also cost its row's decryption
        // (microseconds, under a network round trip's noise); with 74 random bits in an id,
        // time could at most confirm an id the caller already holds.
        let decoy;
        let secrets: Vec<&Secret> = match &endpoint {
            Some((_, e)) => e.secrets(now).collect(),
            None => {
                decoy = new_secret();
                vec![&decoy]
            }
        };
        let verdict = verify(
            secrets,
            signed.id,
            signed.timestamp,
            signed.signature,
            signed.body,
            now.unix_timestamp(),
        );
        let Some((tenant, endpoint)) = endpoint else {
            return Err(AppError::Signature(VerifyError::Signature));
        };
        verdict.map_err(AppError::Signature)?;
        if endpoint.confirms() != Some(ConfirmedBy::Callback) {
            return Err(AppError::Conflict(
                "this endpoint does not confirm erasures by callback (its erasure_confirmed_by)"
                    .into(),
            ));
        }
        let sent = self
            .store
            .deliveries(
                tenant,
                DeliveryFilter {
                    endpoint: Some(endpoint_id),
                    subject: Some(subject),
                    ..DeliveryFilter::default()
                },
                Page::first(1000),
            )
            .await
            .map_err(AppError::store)?
            .iter()
            .any(|d| d.event_type == EventType::SubjectErased.as_str());
        if !sent {
            return Err(AppError::NotFound("erasure sent to this endpoint"));
        }
        let owner = Owner::Tenant(tenant);
        let id = confirmation_id(endpoint_id, subject);
        let confirmed = ConfirmedErasure {
            endpoint: endpoint_id,
            subject,
            confirmed_at: now,
        };
        // Claimed first (create-only, under an id derived from the pair): of two calls at
        // once, or a call given again, one writes and only that one is audited.
        let claimed = self
            .store
            .insert_document(&Document {
                id,
                kind: DocumentKind::ErasureConfirmation,
                owner,
                created_at: now,
                body: serde_json::to_string(&confirmed).unwrap_or_default(),
            })
            .await;
        match claimed {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return self
                    .callback_confirmation(owner, id)
                    .await?
                    .ok_or(AppError::NotFound("erasure confirmation"));
            }
            Err(e) => return Err(AppError::store(e)),
        }
        let audited = self
            .audit(
                gdpr_audit::AuditEvent::new(
                    now,
                    Some(tenant),
                    gdpr_audit::Actor::System,
                    AuditAction::ErasureConfirmedByRecipient,
                )
                .about(subject)
                .with("endpoint", endpoint_id),
            )
            .await;
        if let Err(e) = audited {
            // Not in the chain, so not kept: the recipient's next call is the first again.
            let _ = self
                .store
                .delete_document(owner, DocumentKind::ErasureConfirmation, id)
                .await;
            return Err(e);
        }
        Ok(confirmed)
    }

    /// The confirmation a recipient called back with, if it did.
    async fn callback_confirmation(
        &self,
        owner: Owner,
        id: Uuid,
    ) -> Result<Option<ConfirmedErasure>, AppError> {
        match self
            .store
            .get_document(owner, DocumentKind::ErasureConfirmation, id)
            .await
        {
            Ok(doc) => serde_json::from_str(&doc.body).map(Some).map_err(|_| {
                AppError::store(StoreError::Corrupt(
                    "an erasure confirmation does not read back".into(),
                ))
            }),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// Where a subject's erasure stands with each endpoint that confirms erasures (Art. 19).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn erasure_confirmations(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<ErasureConfirmation>, AppError> {
        let now = self.clock.now();
        let deliveries = self
            .store
            .deliveries(
                ctx.tenant,
                DeliveryFilter {
                    subject: Some(subject),
                    ..DeliveryFilter::default()
                },
                Page::first(1000),
            )
            .await
            .map_err(AppError::store)?;
        let mut out = Vec::new();
        // When the subject was erased: looked up once, and only if a recipient has no delivery.
        let mut erased_at: Option<Option<OffsetDateTime>> = None;
        for doc in self
            .store
            .list_documents(Owner::Tenant(ctx.tenant), DocumentKind::WebhookEndpoint)
            .await
            .map_err(AppError::store)?
        {
            let endpoint = parse(&doc)?;
            // Disabled or not, an endpoint that asked for erasures is owed this one.
            let Some(by) = endpoint.confirms() else {
                continue;
            };
            if !endpoint.asked_for(EventType::SubjectErased) {
                continue;
            }
            let erased = deliveries.iter().find(|d| {
                d.endpoint == doc.id && d.event_type == EventType::SubjectErased.as_str()
            });
            let (confirmed_at, overdue) = if let Some(d) = erased {
                // A confirmation the recipient called back with stands whatever the endpoint
                // says now; without one, its current mode decides (a change of mode applies
                // to the erasures it has not confirmed yet).
                let called_back = self
                    .callback_confirmation(
                        Owner::Tenant(ctx.tenant),
                        confirmation_id(doc.id, subject),
                    )
                    .await?
                    .map(|c| c.confirmed_at);
                let confirmed_at = match by {
                    ConfirmedBy::Delivery => called_back.or(d.delivered_at),
                    ConfirmedBy::Callback => called_back,
                };
                // A recipient confirming by callback has the same three days to do so.
                (
                    confirmed_at,
                    confirmed_at.is_none()
                        && (d.state == DeliveryState::Failed
                            || now - d.created_at > gdpr_webhooks::RETRY_WINDOW),
                )
            } else {
                // Erased, and nothing queued for this recipient yet: the feeder is behind, or
                // the endpoint was disabled before the erasure and hears nothing until
                // re-enabled. It must still be told: pending, then overdue — never left out.
                // (An endpoint registered after the erasure was never to hear of it.)
                if erased_at.is_none() {
                    erased_at = Some(self.erased_at(ctx, subject).await?);
                }
                match erased_at {
                    Some(Some(at)) if doc.created_at <= at => {
                        (None, now - at > gdpr_webhooks::RETRY_WINDOW)
                    }
                    _ => continue,
                }
            };
            out.push(ErasureConfirmation {
                endpoint: doc.id,
                url: endpoint.url,
                by,
                confirmed_at,
                overdue,
            });
        }
        Ok(out)
    }

    /// When the subject was erased (its tombstone), if it was.
    async fn erased_at(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Option<OffsetDateTime>, AppError> {
        Ok(self
            .store
            .tombstones(ctx.tenant)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .find(|t| t.subject == subject)
            .map(|t| t.erased_at))
    }

    /// Feeds every enabled endpoint from its tenant's audit chain: one delivery per new
    /// event it wants. Any replica may run it at any time; the cursor decides who wins.
    /// Returns how many deliveries were queued.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn feed_webhooks(&self) -> Result<usize, AppError> {
        let mut queued = 0;
        let docs = self
            .store
            .all_documents(DocumentKind::WebhookEndpoint)
            .await
            .map_err(AppError::store)?;
        // Listed once a round, only if the deployment has endpoints of its own.
        let mut tenants: Option<Vec<TenantId>> = None;
        // One endpoint's or one chain's failure does not stop the others': the first is
        // returned once the round is done.
        let mut failed = None;
        for doc in docs {
            let endpoint = match parse(&doc) {
                Ok(endpoint) => endpoint,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if endpoint.disabled.is_some() {
                continue;
            }
            let (chains, key) = match doc.owner {
                Owner::Tenant(tenant) => (vec![tenant], tenant),
                Owner::Deployment => {
                    if tenants.is_none() {
                        tenants = Some(self.tenants().await?.into_iter().map(|t| t.id).collect());
                    }
                    (
                        tenants.clone().unwrap_or_default(),
                        EndpointScope::Deployment.deliveries(),
                    )
                }
            };
            for tenant in chains {
                match self.feed_endpoint(&doc, &endpoint, tenant, key).await {
                    Ok(n) => queued += n,
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(queued),
        }
    }

    /// Feeds one endpoint from `tenant`'s chain, its deliveries kept under `key` (the tenant,
    /// or [`DEPLOYMENT_DELIVERIES`]); how many were queued.
    async fn feed_endpoint(
        &self,
        doc: &Document,
        endpoint: &Endpoint,
        tenant: TenantId,
        key: TenantId,
    ) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut queued = 0;
        loop {
            let cursor = self
                .store
                .webhook_cursor(tenant, doc.id)
                .await
                .map_err(AppError::store)?;
            let records = self
                .store
                .audit_records(Some(tenant), cursor.unwrap_or(0), FEED_PAGE)
                .await
                .map_err(AppError::store)?;
            let Some(last) = records.last().map(|r| r.seq) else {
                break;
            };
            let deliveries: Vec<Delivery> = records
                .iter()
                // Nothing from before the endpoint is its news: this matters where there is
                // no cursor yet (its creation was cut short, the database was restored, a
                // deployment's endpoint meets a tenant's chain), on every page of the chain.
                .filter(|r| r.event.at >= endpoint.created_at)
                .filter_map(Event::from_audit)
                .filter(|e| endpoint.wants(e.kind))
                .map(|e| delivery(doc.id, key, &e, now))
                .collect();
            let n = deliveries.len();
            let moved = self
                .store
                .queue_deliveries(tenant, doc.id, cursor, last, deliveries)
                .await
                .map_err(AppError::store)?;
            if moved {
                queued += n;
            }
            if records.len() < FEED_PAGE as usize {
                break;
            }
        }
        Ok(queued)
    }

    /// One round of delivery: claims due deliveries for `worker`, posts them through
    /// `sender` (signed, several at once), and records what came of each. A delivery failing
    /// for the whole retry window is dead-lettered and its endpoint disabled.
    ///
    /// # Errors
    /// Storage errors (claiming, or recording: the lease then runs out and another round
    /// tries again, at least once).
    pub async fn deliver_webhooks<S: WebhookSender>(
        &self,
        sender: &S,
        worker: &str,
    ) -> Result<DeliveryRound, AppError> {
        let config = self.config.webhooks;
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_deliveries(worker, now, config.lease, config.batch)
            .await
            .map_err(AppError::store)?;
        let mut round = DeliveryRound {
            claimed: claimed.len(),
            ..DeliveryRound::default()
        };
        if claimed.is_empty() {
            return Ok(round);
        }
        let mut endpoints: BTreeMap<(TenantId, Uuid), Option<Endpoint>> = BTreeMap::new();
        for d in &claimed {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                endpoints.entry((d.tenant, d.endpoint))
            {
                let scope = EndpointScope::of_deliveries(d.tenant);
                let found = match self.endpoint_in(scope, d.endpoint).await {
                    Ok((_, e)) => Some(e),
                    Err(AppError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                slot.insert(found);
            }
        }
        let endpoints = &endpoints;
        let attempts: Vec<(Delivery, Attempt)> = futures_util::stream::iter(claimed)
            .map(|d| async move {
                let endpoint = endpoints
                    .get(&(d.tenant, d.endpoint))
                    .and_then(Option::as_ref);
                let attempt = self.attempt(sender, &d, endpoint).await;
                (d, attempt)
            })
            .buffer_unordered(config.concurrency.max(1))
            .collect()
            .await;
        let mut dead: BTreeMap<(TenantId, Uuid), usize> = BTreeMap::new();
        for (d, attempt) in &attempts {
            match attempt {
                Attempt::Delivered { .. } => round.delivered += 1,
                Attempt::Retry { .. } => round.retried += 1,
                Attempt::Failed { .. } => {
                    round.failed += 1;
                    if endpoints
                        .get(&(d.tenant, d.endpoint))
                        .is_some_and(Option::is_some)
                    {
                        *dead.entry((d.tenant, d.endpoint)).or_default() += 1;
                    }
                }
            }
        }
        self.store
            .record_attempts(
                worker,
                attempts.into_iter().map(|(d, a)| (d.id, a)).collect(),
            )
            .await
            .map_err(AppError::store)?;
        for (tenant, endpoint) in dead.into_keys() {
            if self.disable_endpoint(tenant, endpoint).await? {
                round.disabled += 1;
            }
        }
        Ok(round)
    }

    /// Posts one delivery, signed with the endpoint's current secrets.
    async fn attempt<S: WebhookSender>(
        &self,
        sender: &S,
        d: &Delivery,
        endpoint: Option<&Endpoint>,
    ) -> Attempt {
        let now = self.clock.now();
        let Some(endpoint) = endpoint else {
            return Attempt::Failed {
                at: now,
                status: None,
                error: "the endpoint was removed".into(),
            };
        };
        let timestamp = now.unix_timestamp();
        let headers = vec![
            (HEADER_ID, d.event_id.clone()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (
                HEADER_SIGNATURE,
                signature(
                    endpoint.secrets(now),
                    &d.event_id,
                    timestamp,
                    d.payload.as_bytes(),
                ),
            ),
        ];
        let (status, error) = match sender.post(&endpoint.url, headers, d.payload.clone()).await {
            Ok(status) if (200..300).contains(&status) => {
                return Attempt::Delivered { at: now, status };
            }
            Ok(status) => (Some(status), format!("the endpoint answered {status}")),
            Err(e) => (None, e),
        };
        let failing_for = now - d.first_attempt_at.unwrap_or(now);
        let jitter = f64::from(rand::rngs::OsRng.next_u32()) / f64::from(u32::MAX);
        match retry_delay(d.attempts + 1, failing_for, jitter) {
            Some(delay) => Attempt::Retry {
                at: now,
                status,
                error,
                next_at: now + delay,
            },
            None => Attempt::Failed {
                at: now,
                status,
                error: format!("{error}; given up after {} attempts", d.attempts + 1),
            },
        }
    }

    /// Disables an endpoint whose delivery was dead-lettered: its other pending deliveries
    /// are dead-lettered too, and the tenant is told (audit, which announces it to its other
    /// endpoints; the error tracker). Whether it was enabled until now.
    async fn disable_endpoint(&self, tenant: TenantId, id: Uuid) -> Result<bool, AppError> {
        let scope = EndpointScope::of_deliveries(tenant);
        let (doc, mut endpoint) = match self.endpoint_in(scope, id).await {
            Ok(found) => found,
            Err(AppError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if endpoint.disabled.is_some() {
            return Ok(false);
        }
        let reason = "a delivery failed for the whole retry window (three days)";
        endpoint.disabled = Some(Disabled {
            at: self.clock.now(),
            reason: reason.into(),
        });
        self.save_endpoint(doc, &endpoint).await?;
        self.store
            .fail_pending(tenant, id, "the endpoint was disabled", false)
            .await
            .map_err(AppError::store)?;
        // The tenant's chain (its other endpoints hear of it), or the system chain.
        let event = match scope {
            EndpointScope::Tenant(ctx) => self.event(ctx, AuditAction::WebhookEndpointDisabled),
            EndpointScope::Deployment => gdpr_audit::AuditEvent::new(
                self.clock.now(),
                None,
                gdpr_audit::Actor::System,
                AuditAction::WebhookEndpointDisabled,
            ),
        };
        self.audit(event.with("endpoint", id)).await?;
        self.report_error(gdpr_ports::ErrorReport {
            level: gdpr_ports::ReportLevel::Warning,
            message: "a webhook endpoint was disabled after failing for three days".into(),
            person: None,
            context: [
                (
                    "tenant".to_owned(),
                    match scope {
                        EndpointScope::Tenant(_) => tenant.to_string(),
                        EndpointScope::Deployment => "deployment".to_owned(),
                    },
                ),
                ("endpoint".to_owned(), id.to_string()),
            ]
            .into(),
            request: None,
        });
        Ok(true)
    }
}

/// The delivery of `event` to an endpoint, due now, kept under `key` (the event's tenant,
/// or [`DEPLOYMENT_DELIVERIES`] for the deployment's endpoints).
fn delivery(endpoint: Uuid, key: TenantId, event: &Event, now: OffsetDateTime) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        tenant: key,
        endpoint,
        event_id: event.id.clone(),
        event_type: event.kind.as_str().to_owned(),
        subject: event
            .data
            .get("subject")
            .and_then(|s| s.parse::<Uuid>().ok())
            .map(SubjectId::from_uuid),
        payload: event.payload(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: now,
        created_at: now,
        first_attempt_at: None,
        last_attempt_at: None,
        last_status: None,
        last_error: None,
        delivered_at: None,
    }
}
