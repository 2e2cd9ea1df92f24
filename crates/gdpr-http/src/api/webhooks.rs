//! Webhook endpoints, their deliveries and replays, and where an erasure stands with the
//! recipients that confirm erasures (Art. 17(2), 19); and the deployment's own endpoints, the
//! operator's (`/admin/webhooks`).

use std::sync::Arc;

use gdpr_app::{App, EndpointScope, EndpointView, NewEndpoint, SignedMessage};
use gdpr_pii::SubjectId;
use gdpr_ports::{Cursor, Delivery, DeliveryFilter, DeliveryState, Ports};
use gdpr_webhooks::ConfirmedBy;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::forms::Deleted;
use crate::api::{Tag, next_page, page, reader, writer};
use crate::auth::{AdminToken, TenantKey};
use crate::dto::{
    ConfirmationOut, CursorParam, DeliveryOut, DeliveryPage, DeliveryStateDto, EndpointIn,
    EndpointOut, ErasureConfirmationIn, ErasureConfirmedOut, IssuedEndpointOut, ReplayOut,
};
use crate::problem::ApiError;
use crate::signed::SignedJson;

/// 201 with the endpoint and its secret.
#[derive(ApiResponse)]
pub(crate) enum EndpointCreated {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<IssuedEndpointOut>),
}

fn endpoint_out(v: EndpointView) -> EndpointOut {
    EndpointOut {
        id: v.id,
        url: v.url,
        description: v.description,
        events: v.events.iter().map(|e| e.as_str().to_owned()).collect(),
        confirms_erasure: v.confirms_erasure.is_some(),
        erasure_confirmed_by: v.confirms_erasure.map(Into::into),
        enabled: v.disabled.is_none(),
        disabled_at: v.disabled.as_ref().map(|d| d.at),
        disabled_reason: v.disabled.map(|d| d.reason),
        signing_secrets: u32::try_from(v.signing_secrets).unwrap_or(u32::MAX),
        created_at: v.created_at,
    }
}

fn delivery_out(d: Delivery) -> DeliveryOut {
    DeliveryOut {
        id: d.id,
        endpoint: d.endpoint,
        event_id: d.event_id,
        event_type: d.event_type,
        subject: d.subject.map(|s| *s.as_uuid()),
        state: d.state.as_str().to_owned(),
        attempts: d.attempts,
        next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_at),
        created_at: d.created_at,
        last_attempt_at: d.last_attempt_at,
        last_status: d.last_status,
        last_error: d.last_error,
        delivered_at: d.delivered_at,
        payload: d.payload,
    }
}

/// A page of deliveries, with the cursor of the next.
fn delivery_page(items: Vec<Delivery>, page: gdpr_ports::Page) -> DeliveryPage {
    let last = items.last().map(|d| Cursor {
        at: d.created_at,
        id: d.id,
    });
    let next = next_page(page, items.len(), last);
    DeliveryPage {
        items: items.into_iter().map(delivery_out).collect(),
        next,
    }
}

/// An endpoint with its secret, shown this once.
fn issued_out(issued: gdpr_app::IssuedEndpoint) -> IssuedEndpointOut {
    IssuedEndpointOut {
        endpoint: endpoint_out(issued.endpoint),
        secret: issued.secret.expose(),
    }
}

/// The endpoint a body describes; `kept` is how the endpoint confirms erasures now, kept when
/// a change says it confirms them without saying how (a client that predates the field must
/// not turn a recipient's callback back into its 2xx).
fn new_endpoint(body: EndpointIn, kept: Option<ConfirmedBy>) -> Result<NewEndpoint, ApiError> {
    Ok(NewEndpoint {
        url: body.url.0,
        description: body.description.0,
        events: body.events.into_iter().map(Into::into).collect(),
        // Saying how it confirms erasures makes it an endpoint that confirms them.
        confirms_erasure: match (body.confirms_erasure, body.erasure_confirmed_by) {
            (_, Some(by)) => Some(by.into()),
            (true, None) => Some(kept.unwrap_or_default()),
            (false, None) => None,
        },
    })
}

pub(crate) struct WebhooksApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Webhooks")]
impl<P: Ports> WebhooksApi<P> {
    /// Register an endpoint. The answer holds its signing secret, shown this once. It
    /// receives the events of decisions made from now on, signed per the Standard Webhooks
    /// specification (see `docs/webhooks.md`).
    #[oai(path = "/webhooks/endpoints", method = "post")]
    async fn create_endpoint(
        &self,
        auth: TenantKey,
        body: Json<EndpointIn>,
    ) -> Result<EndpointCreated, ApiError> {
        let ctx = writer(&auth)?;
        let issued = self
            .0
            .create_webhook_endpoint(ctx, new_endpoint(body.0, None)?)
            .await?;
        Ok(EndpointCreated::Created(Json(issued_out(issued))))
    }

    /// The tenant's endpoints.
    #[oai(path = "/webhooks/endpoints", method = "get")]
    async fn list_endpoints(&self, auth: TenantKey) -> Result<Json<Vec<EndpointOut>>, ApiError> {
        let list = self.0.webhook_endpoints(reader(&auth)).await?;
        Ok(Json(list.into_iter().map(endpoint_out).collect()))
    }

    /// One endpoint.
    #[oai(path = "/webhooks/endpoints/:id", method = "get")]
    async fn get_endpoint(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<EndpointOut>, ApiError> {
        let v = self.0.webhook_endpoint(reader(&auth), id.0).await?;
        Ok(Json(endpoint_out(v)))
    }

    /// Change an endpoint; `"enabled": true` brings a disabled one back, and it then receives
    /// what it missed.
    #[oai(path = "/webhooks/endpoints/:id", method = "put")]
    async fn update_endpoint(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<EndpointIn>,
    ) -> Result<Json<EndpointOut>, ApiError> {
        let ctx = writer(&auth)?;
        let enable = body.enabled.unwrap_or(false);
        let kept = if body.confirms_erasure && body.erasure_confirmed_by.is_none() {
            self.0.webhook_endpoint(ctx, id.0).await?.confirms_erasure
        } else {
            None
        };
        let v = self
            .0
            .update_webhook_endpoint(ctx, id.0, new_endpoint(body.0, kept)?, enable)
            .await?;
        Ok(Json(endpoint_out(v)))
    }

    /// Remove an endpoint: its pending deliveries are dead-lettered, its delivery log kept.
    #[oai(path = "/webhooks/endpoints/:id", method = "delete")]
    async fn delete_endpoint(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        self.0.remove_webhook_endpoint(writer(&auth)?, id.0).await?;
        Ok(Deleted::Done)
    }

    /// A new signing secret, shown this once; the previous one keeps signing beside it for
    /// 24 hours.
    #[oai(path = "/webhooks/endpoints/:id/rotate-secret", method = "post")]
    async fn rotate_secret(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<IssuedEndpointOut>, ApiError> {
        let issued = self.0.rotate_webhook_secret(writer(&auth)?, id.0).await?;
        Ok(Json(issued_out(issued)))
    }

    /// Queue every failed delivery of an endpoint again, due now.
    #[oai(path = "/webhooks/endpoints/:id/replay", method = "post")]
    async fn replay_endpoint(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<ReplayOut>, ApiError> {
        let n = self
            .0
            .replay_webhook_deliveries(writer(&auth)?, Some(id.0), Vec::new())
            .await?;
        Ok(Json(ReplayOut { replayed: n }))
    }

    /// Deliveries, newest first: filter by endpoint, state (`pending`, `delivered`,
    /// `failed`) or subject; page with `after` (the `next` of the page before).
    #[oai(path = "/webhooks/deliveries", method = "get")]
    async fn list_deliveries(
        &self,
        auth: TenantKey,
        endpoint: Query<Option<Uuid>>,
        state: Query<Option<DeliveryStateDto>>,
        subject: Query<Option<Uuid>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        let state = state.0.map(DeliveryState::from);
        let page = page(None, limit.0, after.0.as_deref())?;
        let filter = DeliveryFilter {
            endpoint: endpoint.0,
            state,
            subject: subject.0.map(SubjectId::from_uuid),
        };
        let items = self
            .0
            .webhook_deliveries(reader(&auth), filter, page)
            .await?;
        Ok(Json(delivery_page(items, page)))
    }

    /// One delivery, with its last attempt.
    #[oai(path = "/webhooks/deliveries/:id", method = "get")]
    async fn get_delivery(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<DeliveryOut>, ApiError> {
        let d = self.0.webhook_delivery(reader(&auth), id.0).await?;
        Ok(Json(delivery_out(d)))
    }

    /// Queue one failed delivery again, due now.
    #[oai(path = "/webhooks/deliveries/:id/replay", method = "post")]
    async fn replay_delivery(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<ReplayOut>, ApiError> {
        let ctx = writer(&auth)?;
        self.0.webhook_delivery(ctx, id.0).await?;
        let n = self
            .0
            .replay_webhook_deliveries(ctx, None, vec![id.0])
            .await?;
        Ok(Json(ReplayOut { replayed: n }))
    }

    /// Where the subject's erasure stands with each endpoint that confirms erasures
    /// (Art. 19): `confirmed` once it answered 2xx to `subject.erased`, `pending` until then,
    /// `overdue` past three days.
    #[oai(path = "/subjects/:id/erasure-confirmations", method = "get")]
    async fn erasure_confirmations(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<ConfirmationOut>>, ApiError> {
        let list = self
            .0
            .erasure_confirmations(reader(&auth), SubjectId::from_uuid(id.0))
            .await?;
        Ok(Json(
            list.into_iter().map(crate::convert::confirmation).collect(),
        ))
    }

    /// A recipient confirms that it erased a subject on its side (Art. 19). Called by the
    /// recipient, with no API key: the request is signed as the events it receives are
    /// (Standard Webhooks, with the endpoint's signing secret; `webhook-id` of its choosing,
    /// `webhook-timestamp` within five minutes of now). Only for an endpoint registered with
    /// `"erasure_confirmed_by": "callback"`, and a subject whose `subject.erased` was sent to
    /// it. Given again, it answers the first confirmation. 401 for a signature that does not
    /// verify, or an endpoint that does not exist (the same answer); refusals count against
    /// the source's allowance of failed authentications (429 past it), as bad keys do.
    #[oai(
        path = "/webhooks/endpoints/:id/erasure-confirmations",
        method = "post"
    )]
    async fn confirm_erasure(
        &self,
        req: &poem::Request,
        id: Path<Uuid>,
        /// The message's id, the recipient's own.
        #[oai(name = "webhook-id", validator(min_length = 1, max_length = 256))]
        message_id: Header<String>,
        /// When it was signed, in Unix seconds.
        #[oai(name = "webhook-timestamp", validator(pattern = r"^[0-9]{1,19}$"))]
        timestamp: Header<String>,
        /// `v1,` and the base64 of its HMAC-SHA256, space-separated if several.
        #[oai(name = "webhook-signature", validator(max_length = 2000))]
        signature: Header<String>,
        body: SignedJson<ErasureConfirmationIn>,
    ) -> Result<Json<ErasureConfirmedOut>, ApiError> {
        crate::auth::throttle_signed(req)?;
        let signed = SignedMessage {
            id: &message_id.0,
            timestamp: &timestamp.0,
            signature: &signature.0,
            body: &body.raw,
        };
        let c = self
            .0
            .confirm_erasure(id.0, SubjectId::from_uuid(body.value.subject), &signed)
            .await
            .inspect_err(|e| {
                if matches!(e, gdpr_app::AppError::Signature(_)) {
                    crate::auth::signature_refused(req);
                }
            })?;
        Ok(Json(ErasureConfirmedOut {
            endpoint: c.endpoint,
            subject: *c.subject.as_uuid(),
            confirmed_at: c.confirmed_at,
        }))
    }
}

/// The deployment's own endpoints (the operator's), behind the admin token: each receives
/// the events of every tenant (the payload names the tenant), signed like a tenant's; their
/// deliveries are listed here only, never in a tenant's log.
pub(crate) struct AdminWebhooksApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Admin")]
impl<P: Ports> AdminWebhooksApi<P> {
    /// Register an endpoint of the deployment's: every tenant's events from now on. The
    /// answer holds its signing secret, shown this once.
    #[oai(path = "/admin/webhooks/endpoints", method = "post")]
    async fn create_deployment_endpoint(
        &self,
        _auth: AdminToken,
        body: Json<EndpointIn>,
    ) -> Result<EndpointCreated, ApiError> {
        let issued = self
            .0
            .create_webhook_endpoint_in(EndpointScope::Deployment, new_endpoint(body.0, None)?)
            .await?;
        Ok(EndpointCreated::Created(Json(issued_out(issued))))
    }

    /// The deployment's endpoints.
    #[oai(path = "/admin/webhooks/endpoints", method = "get")]
    async fn list_deployment_endpoints(
        &self,
        _auth: AdminToken,
    ) -> Result<Json<Vec<EndpointOut>>, ApiError> {
        let list = self
            .0
            .webhook_endpoints_in(EndpointScope::Deployment)
            .await?;
        Ok(Json(list.into_iter().map(endpoint_out).collect()))
    }

    /// Change an endpoint of the deployment's; `"enabled": true` brings a disabled one back.
    #[oai(path = "/admin/webhooks/endpoints/:id", method = "put")]
    async fn update_deployment_endpoint(
        &self,
        _auth: AdminToken,
        id: Path<Uuid>,
        body: Json<EndpointIn>,
    ) -> Result<Json<EndpointOut>, ApiError> {
        let enable = body.enabled.unwrap_or(false);
        let v = self
            .0
            .update_webhook_endpoint_in(
                EndpointScope::Deployment,
                id.0,
                new_endpoint(body.0, None)?,
                enable,
            )
            .await?;
        Ok(Json(endpoint_out(v)))
    }

    /// Remove an endpoint of the deployment's: its pending deliveries are dead-lettered.
    #[oai(path = "/admin/webhooks/endpoints/:id", method = "delete")]
    async fn delete_deployment_endpoint(
        &self,
        _auth: AdminToken,
        id: Path<Uuid>,
    ) -> Result<Deleted, ApiError> {
        self.0
            .remove_webhook_endpoint_in(EndpointScope::Deployment, id.0)
            .await?;
        Ok(Deleted::Done)
    }

    /// A new signing secret for an endpoint of the deployment's, shown this once; the
    /// previous one keeps signing beside it for 24 hours.
    #[oai(path = "/admin/webhooks/endpoints/:id/rotate-secret", method = "post")]
    async fn rotate_deployment_secret(
        &self,
        _auth: AdminToken,
        id: Path<Uuid>,
    ) -> Result<Json<IssuedEndpointOut>, ApiError> {
        let issued = self
            .0
            .rotate_webhook_secret_in(EndpointScope::Deployment, id.0)
            .await?;
        Ok(Json(issued_out(issued)))
    }

    /// Queue every failed delivery of an endpoint of the deployment's again, due now.
    #[oai(path = "/admin/webhooks/endpoints/:id/replay", method = "post")]
    async fn replay_deployment_endpoint(
        &self,
        _auth: AdminToken,
        id: Path<Uuid>,
    ) -> Result<Json<ReplayOut>, ApiError> {
        let n = self
            .0
            .replay_webhook_deliveries_in(EndpointScope::Deployment, Some(id.0), Vec::new())
            .await?;
        Ok(Json(ReplayOut { replayed: n }))
    }

    /// The deployment's deliveries, newest first: filter by endpoint or state; page with
    /// `after`.
    #[oai(path = "/admin/webhooks/deliveries", method = "get")]
    async fn list_deployment_deliveries(
        &self,
        _auth: AdminToken,
        endpoint: Query<Option<Uuid>>,
        state: Query<Option<DeliveryStateDto>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        let page = page(None, limit.0, after.0.as_deref())?;
        let filter = DeliveryFilter {
            endpoint: endpoint.0,
            state: state.0.map(DeliveryState::from),
            subject: None,
        };
        let items = self
            .0
            .webhook_deliveries_in(EndpointScope::Deployment, filter, page)
            .await?;
        Ok(Json(delivery_page(items, page)))
    }
}
