//! Retention: the tenant's periods, a form's own, and the plan of the next expiry.

use std::sync::Arc;

use gdpr_app::App;
use gdpr_pii::FormId;
use gdpr_ports::Ports;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use crate::api::{Tag, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{ExpiryPlanOut, FormOut, FormRetentionIn, RetentionIn, RetentionOut};
use crate::problem::ApiError;

pub(crate) struct RetentionApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Retention")]
impl<P: Ports> RetentionApi<P> {
    /// The tenant's retention periods: the deployment's defaults, the tenant's own, what
    /// applies, and each form's.
    #[oai(path = "/retention", method = "get")]
    async fn get_retention(&self, auth: TenantKey) -> Result<Json<RetentionOut>, ApiError> {
        Ok(Json(convert::retention(
            self.0.retention(reader(&auth)).await?,
        )))
    }

    /// Set the tenant's own retention periods (replacing the previous ones; a period left
    /// out: the default applies). The daily expiry applies them.
    #[oai(path = "/retention", method = "put")]
    async fn set_retention(
        &self,
        auth: TenantKey,
        body: Json<RetentionIn>,
    ) -> Result<Json<RetentionOut>, ApiError> {
        let ctx = writer(&auth)?;
        let overrides = convert::overrides(&body.0)?;
        Ok(Json(convert::retention(
            self.0.set_retention(ctx, overrides).await?,
        )))
    }

    /// Set how long a form's records are kept (`null`: the tenant's period applies).
    #[oai(path = "/forms/:id/retention", method = "put")]
    async fn set_form_retention(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<FormRetentionIn>,
    ) -> Result<Json<FormOut>, ApiError> {
        let ctx = writer(&auth)?;
        let period = convert::period("days", body.days)?;
        let form = self
            .0
            .set_form_retention(ctx, FormId::from_uuid(id.0), period)
            .await?;
        Ok(Json(convert::form(form)))
    }

    /// What the next expiry would delete now (records past their period, subjects left with
    /// nothing past theirs), what a legal hold keeps, and when each form's next record
    /// expires. A dry run: nothing changes.
    #[oai(path = "/retention/plan", method = "get")]
    async fn plan(&self, auth: TenantKey) -> Result<Json<ExpiryPlanOut>, ApiError> {
        let report = self.0.retention_plan(reader(&auth)).await?;
        Ok(Json(convert::expiry_plan(report)))
    }
}
