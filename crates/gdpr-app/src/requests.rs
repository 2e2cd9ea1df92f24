//! Data-subject requests with their deadlines, and legal holds.

use gdpr_audit::AuditAction;
use gdpr_pii::{RequestId, SubjectId};
use gdpr_ports::{Clock, Cursor, LegalHoldStore, Page, Ports, RequestStore};
use gdpr_rights::{HoldGround, LegalHold, RequestKind, SubjectRequest};
use serde::Serialize;
use time::Date;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// A request with what its deadline means today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestView {
    /// The request.
    #[serde(flatten)]
    pub request: SubjectRequest,
    /// The last day to answer (UTC), extension included.
    pub due_date: Date,
    /// Open past its due date.
    pub overdue: bool,
    /// For an erasure request read alone ([`App::request`]): where the erasure stands with
    /// each recipient that confirms erasures (Art. 19), an overdue one included. `None` in
    /// lists and exports, and for the other rights.
    #[serde(skip)]
    pub recipients: Option<Vec<crate::ErasureConfirmation>>,
}

impl<P: Ports> App<P> {
    pub(crate) fn view(&self, request: SubjectRequest) -> RequestView {
        RequestView {
            due_date: request.due_date(),
            overdue: request.is_overdue(self.clock.now()),
            request,
            recipients: None,
        }
    }

    /// Opens a request, received now.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject; storage errors.
    pub async fn open_request(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        kind: RequestKind,
    ) -> Result<RequestView, AppError> {
        self.ensure_subject(ctx, subject).await?;
        let request = SubjectRequest::open(ctx.tenant, subject, kind, self.clock.now());
        self.insert_opened_request(ctx, &request, None).await?;
        Ok(self.view(request))
    }

    /// Stores a request just opened and audits it (`request_opened`, with the inquiry it came
    /// from, if any).
    pub(crate) async fn insert_opened_request(
        &self,
        ctx: Ctx,
        request: &SubjectRequest,
        inquiry: Option<uuid::Uuid>,
    ) -> Result<(), AppError> {
        self.store
            .insert_request(request)
            .await
            .map_err(AppError::store)?;
        let mut details: Vec<(&str, &(dyn std::fmt::Display + Sync))> =
            vec![("request", &request.id)];
        if let Some(inquiry) = &inquiry {
            details.push(("inquiry", inquiry));
        }
        self.audit_about(ctx, AuditAction::RequestOpened, request.subject, &details)
            .await
    }

    /// A request; an erasure request with its recipients' confirmations (Art. 19).
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn request(&self, ctx: Ctx, id: RequestId) -> Result<RequestView, AppError> {
        let mut view = self.view(self.load_request(ctx, id).await?);
        if view.request.kind == RequestKind::Erasure {
            view.recipients = Some(
                self.erasure_confirmations(ctx, view.request.subject)
                    .await?,
            );
        }
        Ok(view)
    }

    async fn load_request(&self, ctx: Ctx, id: RequestId) -> Result<SubjectRequest, AppError> {
        self.store
            .get_request(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("request"))
    }

    /// The tenant's requests, optionally only the overdue ones.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn requests(
        &self,
        ctx: Ctx,
        overdue_only: bool,
        page: Page,
    ) -> Result<Vec<RequestView>, AppError> {
        let list = if overdue_only {
            // Filter before paging so that a page of overdue requests is full; only an open
            // request can be overdue.
            self.store
                .open_requests(Some(ctx.tenant))
                .await
                .map_err(AppError::store)?
                .into_iter()
                .filter(|r| {
                    page.starts_before(Cursor {
                        at: r.received_at,
                        id: *r.id.as_uuid(),
                    })
                })
                .map(|r| self.view(r))
                .filter(|v| v.overdue)
                .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
                .take(page.limit as usize)
                .collect()
        } else {
            self.store
                .list_requests(Some(ctx.tenant), page)
                .await
                .map_err(AppError::store)?
                .into_iter()
                .map(|r| self.view(r))
                .collect()
        };
        Ok(list)
    }

    /// The tenant's open requests, oldest first: read by whether they are open, whatever
    /// the number of requests closed before.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn open_requests(&self, ctx: Ctx) -> Result<Vec<RequestView>, AppError> {
        Ok(self
            .store
            .open_requests(Some(ctx.tenant))
            .await
            .map_err(AppError::store)?
            .into_iter()
            .map(|r| self.view(r))
            .collect())
    }

    /// Prepares the export that answers an access or portability request (Art. 15, 20): only
    /// for an open request whose requester's identity is verified (Art. 12(6)); encrypted to
    /// the deployment's configured keys, like `create_export` without a key of its own.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`] for another kind of request;
    /// [`AppError::Request`] when closed or not verified; encryption and storage errors.
    pub async fn export_for_request(
        &self,
        ctx: Ctx,
        id: RequestId,
    ) -> Result<crate::ExportTicket, AppError> {
        let request = self.load_request(ctx, id).await?;
        if !matches!(request.kind, RequestKind::Access | RequestKind::Portability) {
            return Err(AppError::invalid(
                "request",
                "an export answers an access or portability request",
            ));
        }
        request.ensure_answerable()?;
        self.create_export(ctx, request.subject, crate::ExportFormat::Json, None)
            .await
    }

    /// A subject's requests, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn subject_requests(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<RequestView>, AppError> {
        Ok(self
            .store
            .list_subject_requests(ctx.tenant, subject)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .map(|r| self.view(r))
            .collect())
    }

    /// How many requests are overdue across every tenant (for a metric and attestations).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn overdue_request_count(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        Ok(self
            .store
            .open_requests(None)
            .await
            .map_err(AppError::store)?
            .iter()
            .filter(|r| r.is_overdue(now))
            .count())
    }

    /// Extends a request's deadline once, by one or two months, for a reason.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Request`]; storage errors.
    pub async fn extend_request(
        &self,
        ctx: Ctx,
        id: RequestId,
        months: u8,
        reason: &str,
    ) -> Result<RequestView, AppError> {
        let mut request = self.load_request(ctx, id).await?;
        let before = request.clone();
        request.extend(months, reason, self.clock.now())?;
        self.save_request(ctx, &before, request, AuditAction::RequestExtended)
            .await
    }

    /// Records how the requester's identity was verified (method, by whom: the caller, when:
    /// now); a request cannot be answered before. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Request`] when closed, already verified, or
    /// `other` without a note; storage errors.
    pub async fn verify_request_identity(
        &self,
        ctx: Ctx,
        id: RequestId,
        method: gdpr_rights::VerificationMethod,
        note: Option<&str>,
    ) -> Result<RequestView, AppError> {
        let mut request = self.load_request(ctx, id).await?;
        let before = request.clone();
        request.verify(gdpr_rights::IdentityVerification {
            method,
            by: verifier(ctx),
            at: self.clock.now(),
            note: note.map(str::to_owned),
        })?;
        self.save_request(ctx, &before, request, AuditAction::RequestIdentityVerified)
            .await
    }

    /// Marks a request answered, once the requester's identity is verified.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Request`] when already closed or not verified;
    /// storage errors.
    pub async fn complete_request(&self, ctx: Ctx, id: RequestId) -> Result<RequestView, AppError> {
        let mut request = self.load_request(ctx, id).await?;
        let before = request.clone();
        request.complete(self.clock.now())?;
        self.save_request(ctx, &before, request, AuditAction::RequestClosed)
            .await
    }

    /// Refuses a request, with the reasons the subject must be told (Art. 12(4)).
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Request`]; storage errors.
    pub async fn refuse_request(
        &self,
        ctx: Ctx,
        id: RequestId,
        reason: &str,
    ) -> Result<RequestView, AppError> {
        let mut request = self.load_request(ctx, id).await?;
        let before = request.clone();
        request.refuse(reason, self.clock.now())?;
        self.save_request(ctx, &before, request, AuditAction::RequestClosed)
            .await
    }

    /// Writes `request`, changed from `before` as read (refused if it changed meanwhile:
    /// [`AppError::Conflict`]), and audits `action`.
    pub(crate) async fn save_request(
        &self,
        ctx: Ctx,
        before: &SubjectRequest,
        request: SubjectRequest,
        action: AuditAction,
    ) -> Result<RequestView, AppError> {
        self.store
            .update_request(before, &request)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, action)
            .about(request.subject)
            .with("request", request.id)
            .with("status", format!("{:?}", request.status).to_lowercase());
        self.audit(event).await?;
        Ok(self.view(request))
    }

    /// Places a legal hold: the subject cannot be erased while it is active.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`] without a reason; storage errors.
    pub async fn place_legal_hold(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        ground: HoldGround,
        reason: &str,
    ) -> Result<LegalHold, AppError> {
        self.ensure_subject(ctx, subject).await?;
        let hold = LegalHold::place(ctx.tenant, subject, ground, reason, self.clock.now())
            .ok_or_else(|| {
                AppError::invalid(
                    "reason",
                    "a legal hold needs a reason (1 to 2000 characters)",
                )
            })?;
        self.store
            .insert_hold(&hold)
            .await
            .map_err(AppError::not_found("subject"))?;
        self.audit_about(
            ctx,
            AuditAction::LegalHoldPlaced,
            subject,
            &[("hold", &hold.id)],
        )
        .await?;
        Ok(hold)
    }

    /// Releases a legal hold.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the hold; storage errors.
    pub async fn release_legal_hold(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        hold: Uuid,
    ) -> Result<LegalHold, AppError> {
        let mut found = self
            .store
            .holds_of(ctx.tenant, subject)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .find(|h| h.id == hold && h.is_active())
            .ok_or(AppError::NotFound("legal hold"))?;
        found.released_at = Some(self.clock.now());
        self.store
            .update_hold(&found)
            .await
            .map_err(AppError::not_found("legal hold"))?;
        self.audit_about(
            ctx,
            AuditAction::LegalHoldReleased,
            subject,
            &[("hold", &hold)],
        )
        .await?;
        Ok(found)
    }
}

/// Who verified an identity, as the request records it: the key, or the operator.
pub(crate) fn verifier(ctx: Ctx) -> String {
    match ctx.actor {
        gdpr_audit::Actor::Operator => "operator".to_owned(),
        gdpr_audit::Actor::ApiKey(key) => format!("api_key:{key}"),
        gdpr_audit::Actor::System => "system".to_owned(),
        gdpr_audit::Actor::Portal => "portal".to_owned(),
        gdpr_audit::Actor::ConsoleUser(user) => format!("console_user:{user}"),
    }
}
