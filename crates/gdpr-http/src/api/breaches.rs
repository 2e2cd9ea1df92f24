//! The breach register (Art. 33, 34): a tenant's through its key, the deployment's through
//! the admin token.

use std::sync::Arc;

use gdpr_app::{App, BreachScope, BreachView};
use gdpr_ports::Ports;
use gdpr_rights::{AuthorityNotice, Breach, Clock};
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::accountability::{Markdown, selector};
use crate::api::{Tag, reader, writer};
use crate::auth::{AdminToken, TenantKey};
use crate::dto::{
    AffectedOut, BreachIn, BreachOut, ClockDto, DecisionIn, DecisionOut, NoticeIn, NoticeOut,
    SelectorIn, ToldOut,
};
use crate::problem::ApiError;

/// 201 with the recorded breach.
#[derive(ApiResponse)]
pub(crate) enum BreachCreated {
    /// Recorded; its clock runs.
    #[oai(status = 201)]
    Created(Json<BreachOut>),
}

fn breach(body: BreachIn) -> Breach {
    Breach {
        title: body.title.0.0,
        detected_at: body.detected_at,
        occurred_at: body.occurred_at,
        kinds: body.kinds.into_iter().map(Into::into).collect(),
        nature: body.nature.0.0,
        categories: body.categories.into_iter().map(Into::into).collect(),
        subjects_approx: body.subjects_approx,
        records_approx: body.records_approx,
        consequences: body.consequences.0,
        measures: body.measures.0,
        authority: None,
        subjects: None,
        subjects_notified_at: None,
        affected: None,
    }
}

fn out(v: BreachView) -> BreachOut {
    let b = v.breach;
    BreachOut {
        id: v.id,
        deployment: v.deployment,
        due_at: b.due_at(),
        clock: match v.clock {
            Clock::Running { .. } => ClockDto::Running,
            Clock::Overdue { .. } => ClockDto::Overdue,
            Clock::Notified { late: false, .. } => ClockDto::Notified,
            Clock::Notified { late: true, .. } => ClockDto::NotifiedLate,
        },
        title: b.title,
        detected_at: b.detected_at,
        occurred_at: b.occurred_at,
        kinds: b.kinds.into_iter().map(Into::into).collect(),
        nature: b.nature,
        categories: b.categories.into_iter().map(Into::into).collect(),
        subjects_approx: b.subjects_approx,
        records_approx: b.records_approx,
        consequences: b.consequences,
        measures: b.measures,
        authority: b.authority.map(|n| NoticeOut {
            notified_at: n.at,
            reference: n.reference,
            late_reason: n.late_reason,
        }),
        subjects_decision: b.subjects.map(|d| DecisionOut {
            notify: d.notify,
            reason: d.reason,
            decided_at: d.at,
        }),
        affected: b.affected.map(|a| AffectedOut {
            subjects: a.subjects,
            records: a.records,
            computed_at: a.computed_at,
        }),
        subjects_notified_at: b.subjects_notified_at,
    }
}

fn notice(body: NoticeIn) -> AuthorityNotice {
    AuthorityNotice {
        at: body.notified_at,
        reference: body.reference.map(|t| t.0),
        late_reason: body.late_reason.map(|t| t.0),
    }
}

/// The name the operator goes by in a deployment-wide draft.
const OPERATOR: &str = "the operator of this deployment";

pub(crate) struct BreachesApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Breaches")]
impl<P: Ports> BreachesApi<P> {
    /// Record a personal data breach. Its 72-hour clock (Art. 33(1)) runs from
    /// `detected_at`; the daily attestation fails once it runs out with no notification
    /// recorded. The tenant's endpoints hear `breach.recorded`.
    #[oai(path = "/breaches", method = "post")]
    async fn create(
        &self,
        auth: TenantKey,
        body: Json<BreachIn>,
    ) -> Result<BreachCreated, ApiError> {
        let scope = BreachScope::Tenant(writer(&auth)?);
        let v = self.0.record_breach(scope, breach(body.0)).await?;
        Ok(BreachCreated::Created(Json(out(v))))
    }

    /// The tenant's breaches, oldest first, each with its clock.
    #[oai(path = "/breaches", method = "get")]
    async fn list(&self, auth: TenantKey) -> Result<Json<Vec<BreachOut>>, ApiError> {
        let list = self.0.breaches(BreachScope::Tenant(reader(&auth))).await?;
        Ok(Json(list.into_iter().map(out).collect()))
    }

    /// One breach.
    #[oai(path = "/breaches/:id", method = "get")]
    async fn get(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<BreachOut>, ApiError> {
        let v = self
            .0
            .breach(BreachScope::Tenant(reader(&auth)), id.0)
            .await?;
        Ok(Json(out(v)))
    }

    /// What is now known of the breach (its notification, decision and people found stay).
    #[oai(path = "/breaches/:id", method = "put")]
    async fn update(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<BreachIn>,
    ) -> Result<Json<BreachOut>, ApiError> {
        let scope = BreachScope::Tenant(writer(&auth)?);
        let v = self.0.update_breach(scope, id.0, breach(body.0)).await?;
        Ok(Json(out(v)))
    }

    /// Record the supervisory authority's notification; after 72 hours, `late_reason` is
    /// required (Art. 33(1)).
    #[oai(path = "/breaches/:id/authority-notification", method = "post")]
    async fn notify_authority(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<NoticeIn>,
    ) -> Result<Json<BreachOut>, ApiError> {
        let scope = BreachScope::Tenant(writer(&auth)?);
        let v = self.0.notify_authority(scope, id.0, notice(body.0)).await?;
        Ok(Json(out(v)))
    }

    /// Record whether the people affected must be told, and why (Art. 34).
    #[oai(path = "/breaches/:id/subjects-decision", method = "post")]
    async fn decide(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<DecisionIn>,
    ) -> Result<Json<BreachOut>, ApiError> {
        let scope = BreachScope::Tenant(writer(&auth)?);
        let v = self
            .0
            .decide_breach_subjects(scope, id.0, body.notify, &body.reason.0.0)
            .await?;
        Ok(Json(out(v)))
    }

    /// Find the people the breach touches with a selector (as a batch erasure's): their
    /// count and their records', kept with the breach.
    #[oai(path = "/breaches/:id/scope", method = "post")]
    async fn scope(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<SelectorIn>,
    ) -> Result<Json<BreachOut>, ApiError> {
        let ctx = writer(&auth)?;
        let v = self.0.scope_breach(ctx, id.0, selector(body.0)?).await?;
        Ok(Json(out(v)))
    }

    /// Tell the people the breach touches, once decided: each one's id goes out as a
    /// `breach.subject_notified` event (ids only) for the SaaS to send its message.
    #[oai(path = "/breaches/:id/subjects-notification", method = "post")]
    async fn tell(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<ToldOut>, ApiError> {
        let n = self.0.notify_breach_subjects(writer(&auth)?, id.0).await?;
        Ok(Json(ToldOut { notified: n }))
    }

    /// The draft of the authority's notification, as Markdown: every field Art. 33(3) asks
    /// for.
    #[oai(path = "/breaches/:id/draft.md", method = "get")]
    async fn draft(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Markdown, ApiError> {
        let d = self
            .0
            .breach_draft(BreachScope::Tenant(reader(&auth)), id.0, OPERATOR)
            .await?;
        Ok(Markdown::Ok(PlainText(d.to_markdown())))
    }

    /// Record a breach of the whole deployment (the operator's: a stolen backup key, a
    /// compromised host). Every tenant's attestation fails once its clock runs out with no
    /// notification recorded.
    #[oai(path = "/admin/breaches", method = "post")]
    async fn create_deployment(
        &self,
        _auth: AdminToken,
        body: Json<BreachIn>,
    ) -> Result<BreachCreated, ApiError> {
        let v = self
            .0
            .record_breach(BreachScope::Deployment, breach(body.0))
            .await?;
        Ok(BreachCreated::Created(Json(out(v))))
    }

    /// The deployment's breaches.
    #[oai(path = "/admin/breaches", method = "get")]
    async fn list_deployment(&self, _auth: AdminToken) -> Result<Json<Vec<BreachOut>>, ApiError> {
        let list = self.0.breaches(BreachScope::Deployment).await?;
        Ok(Json(list.into_iter().map(out).collect()))
    }

    /// Record the authority's notification of a deployment-wide breach.
    #[oai(path = "/admin/breaches/:id/authority-notification", method = "post")]
    async fn notify_authority_deployment(
        &self,
        _auth: AdminToken,
        id: Path<Uuid>,
        body: Json<NoticeIn>,
    ) -> Result<Json<BreachOut>, ApiError> {
        let v = self
            .0
            .notify_authority(BreachScope::Deployment, id.0, notice(body.0))
            .await?;
        Ok(Json(out(v)))
    }
}
