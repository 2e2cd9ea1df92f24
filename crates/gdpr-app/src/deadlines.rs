//! Deadlines announced (Art. 12(3)): each open request is announced once when it comes within
//! [`DUE_SOON`] of its due date, and once when it passes it (an extension's new date in its
//! turn), as audit records
//! (`request_due_soon`, `request_overdue`) that webhooks carry (`request.due_soon`,
//! `request.overdue`), so that the SaaS's own tools chase them. An hourly job runs it.
//!
//! What was announced is kept as one small document per request and stage (ids only). The
//! audit record is written first: a crash between the two announces again at the next run,
//! never not at all (receivers dedupe on the request and the stage).

use gdpr_audit::{Actor, AuditAction};
use gdpr_pii::TenantId;
use gdpr_ports::RequestStore as _;
use gdpr_ports::{
    Clock as _, Document, DocumentKind, DocumentStore as _, Owner, Ports, StoreError,
};
use gdpr_rights::{RequestStatus, SubjectRequest};
use time::Duration;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// How long before its due date an open request is announced as due soon.
pub const DUE_SOON: Duration = Duration::days(7);

/// What one run announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineReport {
    /// Requests announced due soon.
    pub due_soon: usize,
    /// Requests announced overdue.
    pub overdue: usize,
}

/// The announcement a request is owed now: overdue once past its due date, due soon within
/// [`DUE_SOON`] of it, nothing once closed.
fn owed(request: &SubjectRequest, now: time::OffsetDateTime) -> Option<AuditAction> {
    if request.status != RequestStatus::Open {
        return None;
    }
    let today = now.to_offset(time::UtcOffset::UTC).date();
    if request.is_overdue(now) {
        Some(AuditAction::RequestOverdue)
    } else if request.due_date() - today <= DUE_SOON {
        Some(AuditAction::RequestDueSoon)
    } else {
        None
    }
}

/// The id of the document that says `stage` was announced for `request` due on `due`: an
/// extension moves the due date, and the new one is announced in its turn.
fn mark(request: Uuid, stage: AuditAction, due: &str) -> Uuid {
    let stage = match stage {
        AuditAction::RequestOverdue => "overdue",
        _ => "due_soon",
    };
    Uuid::new_v5(&request, format!("{stage}:{due}").as_bytes())
}

impl<P: Ports> App<P> {
    /// Announces every tenant's requests that came within a week of their due date or passed
    /// it since the last run.
    ///
    /// # Errors
    /// The first tenant's storage error, once every other tenant was done (one tenant's
    /// failure holds no other back; the job is retried).
    pub async fn announce_request_deadlines(&self) -> Result<DeadlineReport, AppError> {
        let mut report = DeadlineReport::default();
        let mut failed = None;
        for tenant in self.tenants().await? {
            match self.announce_tenant_deadlines(tenant.id).await {
                Ok(one) => {
                    report.due_soon += one.due_soon;
                    report.overdue += one.overdue;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(report), Err)
    }

    async fn announce_tenant_deadlines(
        &self,
        tenant: TenantId,
    ) -> Result<DeadlineReport, AppError> {
        let now = self.clock.now();
        let owner = Owner::Tenant(tenant);
        let requests = self
            .store
            .open_requests(Some(tenant))
            .await
            .map_err(AppError::store)?;
        let ctx = Ctx::new(tenant, Actor::System);
        let mut report = DeadlineReport::default();
        for request in &requests {
            let id = *request.id.as_uuid();
            if let Some(stage) = owed(request, now) {
                let due = request.due_date().to_string();
                let mark = mark(id, stage, &due);
                // Looked up one by one: the open requests owed something, not every reminder
                // the tenant was ever sent.
                match self
                    .store
                    .get_document(owner, DocumentKind::RequestReminder, mark)
                    .await
                {
                    Ok(_) => continue,
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(AppError::store(e)),
                }
                self.audit_about(
                    ctx,
                    stage,
                    request.subject,
                    &[("request", &request.id), ("due", &due)],
                )
                .await?;
                self.store
                    .put_document(&Document {
                        id: mark,
                        kind: DocumentKind::RequestReminder,
                        owner,
                        created_at: now,
                        body: "{}".into(),
                    })
                    .await
                    .map_err(AppError::store)?;
                match stage {
                    AuditAction::RequestOverdue => report.overdue += 1,
                    _ => report.due_soon += 1,
                }
            }
        }
        Ok(report)
    }
}
