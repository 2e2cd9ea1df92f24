//! Data-subject requests with their deadlines.

use std::sync::Arc;

use gdpr_app::App;
use gdpr_pii::{RequestId, SubjectId};
use gdpr_ports::{Cursor, Ports};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::{Tag, next_page, page, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{
    CursorParam, ExtendIn, InquiryIn, InquiryOut, InquiryState, RefuseIn, RequestIn, RequestOut,
    RequestPage, VerificationIn, VerificationOut,
};
use crate::problem::ApiError;

/// 201 with the request.
#[derive(ApiResponse)]
pub(crate) enum RequestCreated {
    /// Opened.
    #[oai(status = 201)]
    Created(Json<RequestOut>),
}

/// 202 with the inquiry: received, waiting for the requester's identity to be verified.
#[derive(ApiResponse)]
pub(crate) enum InquiryReceived {
    /// Received.
    #[oai(status = 202)]
    Accepted(Json<InquiryOut>),
}

fn inquiry_out(v: gdpr_app::InquiryView) -> InquiryOut {
    let (mut request, mut searched_at, mut search_method) = (None, None, None);
    let (mut refused_at, mut refusal_reason) = (None, None);
    let state = match v.outcome {
        None => InquiryState::AwaitingVerification,
        Some(gdpr_app::InquiryOutcome::RequestOpened { request: r }) => {
            request = Some(*r.as_uuid());
            InquiryState::RequestOpened
        }
        Some(gdpr_app::InquiryOutcome::NothingHeld {
            searched_at: at,
            method,
        }) => {
            (searched_at, search_method) = (Some(at), Some(method));
            InquiryState::NothingHeld
        }
        Some(gdpr_app::InquiryOutcome::Refused { reason, at }) => {
            (refused_at, refusal_reason) = (Some(at), Some(reason));
            InquiryState::Refused
        }
    };
    InquiryOut {
        id: v.id,
        kind: v.kind.into(),
        received_at: v.received_at,
        state,
        verification: v.verification.map(|x| VerificationOut {
            method: x.method.into(),
            by: x.by,
            at: x.at,
            note: x.note,
        }),
        request,
        searched_at,
        search_method,
        refused_at,
        refusal_reason,
    }
}

pub(crate) struct RequestsApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Requests")]
impl<P: Ports> RequestsApi<P> {
    /// Open a request, received now: due one calendar month later.
    #[oai(path = "/requests", method = "post")]
    async fn create(
        &self,
        auth: TenantKey,
        body: Json<RequestIn>,
    ) -> Result<RequestCreated, ApiError> {
        let ctx = writer(&auth)?;
        let r = self
            .0
            .open_request(ctx, SubjectId::from_uuid(body.subject), body.kind.into())
            .await?;
        Ok(RequestCreated::Created(Json(convert::request(r))))
    }

    /// List requests with their due dates, oldest first; `overdue=true` lists only the late
    /// ones. Page with `after` (the `next` of the page before).
    #[oai(path = "/requests", method = "get")]
    async fn list(
        &self,
        auth: TenantKey,
        overdue: Query<Option<bool>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))] offset: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<RequestPage>, ApiError> {
        let page = page(offset.0, limit.0, after.0.as_deref())?;
        let items = self
            .0
            .requests(reader(&auth), overdue.0.unwrap_or(false), page)
            .await?;
        let last = items.last().map(|v| Cursor {
            at: v.request.received_at,
            id: *v.request.id.as_uuid(),
        });
        Ok(Json(RequestPage {
            next: next_page(page, items.len(), last),
            items: items.into_iter().map(convert::request).collect(),
            offset: page.offset,
            limit: page.limit,
        }))
    }

    /// Read a request.
    #[oai(path = "/requests/:id", method = "get")]
    async fn get(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<RequestOut>, ApiError> {
        Ok(Json(convert::request(
            self.0
                .request(reader(&auth), RequestId::from_uuid(id.0))
                .await?,
        )))
    }

    /// Extend the deadline once, by one or two months, with a reason.
    #[oai(path = "/requests/:id/extend", method = "post")]
    async fn extend(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<ExtendIn>,
    ) -> Result<Json<RequestOut>, ApiError> {
        let ctx = writer(&auth)?;
        let r = self
            .0
            .extend_request(ctx, RequestId::from_uuid(id.0), body.months, &body.reason)
            .await?;
        Ok(Json(convert::request(r)))
    }

    /// Record how the requester's identity was verified (method, by whom: this key, when:
    /// now). A request cannot be completed, nor an erasure made in answer to it, before.
    #[oai(path = "/requests/:id/verification", method = "post")]
    async fn verify(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<VerificationIn>,
    ) -> Result<Json<RequestOut>, ApiError> {
        let ctx = writer(&auth)?;
        let r = self
            .0
            .verify_request_identity(
                ctx,
                RequestId::from_uuid(id.0),
                body.method.into(),
                body.note.as_ref().map(|t| t.0.as_str()),
            )
            .await?;
        Ok(Json(convert::request(r)))
    }

    /// Mark the request answered (once the requester's identity is verified).
    #[oai(path = "/requests/:id/complete", method = "post")]
    async fn complete(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<RequestOut>, ApiError> {
        let ctx = writer(&auth)?;
        Ok(Json(convert::request(
            self.0
                .complete_request(ctx, RequestId::from_uuid(id.0))
                .await?,
        )))
    }

    /// Refuse the request, with the reasons the subject is told.
    #[oai(path = "/requests/:id/refuse", method = "post")]
    async fn refuse(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<RefuseIn>,
    ) -> Result<Json<RequestOut>, ApiError> {
        let ctx = writer(&auth)?;
        let r = self
            .0
            .refuse_request(ctx, RequestId::from_uuid(id.0), &body.reason)
            .await?;
        Ok(Json(convert::request(r)))
    }
    /// Receive a request from someone known only by an e-mail address (the vault may not
    /// hold them). The answer is the same whether or not it does; once the requester's
    /// identity is verified (`POST /inquiries/{id}/verification`), a request of the subject
    /// is opened, or the inquiry is answered "nothing held" with the evidence of the search.
    #[oai(path = "/inquiries", method = "post")]
    async fn open_inquiry(
        &self,
        auth: TenantKey,
        body: Json<InquiryIn>,
    ) -> Result<InquiryReceived, ApiError> {
        let ctx = writer(&auth)?;
        let v = self
            .0
            .open_inquiry(ctx, &body.email, body.kind.into())
            .await?;
        Ok(InquiryReceived::Accepted(Json(inquiry_out(v))))
    }

    /// An inquiry and, once verified, what came of it.
    #[oai(path = "/inquiries/:id", method = "get")]
    async fn get_inquiry(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<InquiryOut>, ApiError> {
        let v = self.0.inquiry(reader(&auth), id.0).await?;
        Ok(Json(inquiry_out(v)))
    }

    /// Refuse an inquiry whose requester's identity could not be verified (Art. 12(6)), with
    /// the reasons they are told (Art. 12(4)).
    ///
    /// Nothing is searched, so nothing is said of the address, which is erased.
    #[oai(path = "/inquiries/:id/refuse", method = "post")]
    async fn refuse_inquiry(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<RefuseIn>,
    ) -> Result<Json<InquiryOut>, ApiError> {
        let ctx = writer(&auth)?;
        let v = self.0.refuse_inquiry(ctx, id.0, &body.reason).await?;
        Ok(Json(inquiry_out(v)))
    }

    /// Record how the requester's identity was verified, then search: a request of the
    /// subject found is opened (due from the inquiry's receipt), or "nothing held" is the
    /// answer, with when and how the vault was searched. The address is then erased.
    #[oai(path = "/inquiries/:id/verification", method = "post")]
    async fn verify_inquiry(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<VerificationIn>,
    ) -> Result<Json<InquiryOut>, ApiError> {
        let ctx = writer(&auth)?;
        let v = self
            .0
            .verify_inquiry(
                ctx,
                id.0,
                body.method.into(),
                body.note.as_ref().map(|t| t.0.as_str()),
            )
            .await?;
        Ok(Json(inquiry_out(v)))
    }
}
