//! Consent forms and their versions.

use std::sync::Arc;

use gdpr_app::App;
use gdpr_pii::ConsentFormId;
use gdpr_ports::Ports;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::{Tag, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{ConsentFormIn, ConsentFormOut, VersionIn};
use crate::problem::ApiError;

/// 201 with the consent form.
#[derive(ApiResponse)]
pub(crate) enum ConsentFormCreated {
    /// Published.
    #[oai(status = 201)]
    Created(Json<ConsentFormOut>),
}

pub(crate) struct ConsentApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Consent")]
impl<P: Ports> ConsentApi<P> {
    /// Publish a consent form (its first version) for a consent-based purpose.
    #[oai(path = "/consent-forms", method = "post")]
    async fn create(
        &self,
        auth: TenantKey,
        body: Json<ConsentFormIn>,
    ) -> Result<ConsentFormCreated, ApiError> {
        let ctx = writer(&auth)?;
        let form = self
            .0
            .publish_consent_form(ctx, &body.purpose, &body.title, &body.text)
            .await?;
        Ok(ConsentFormCreated::Created(Json(convert::consent_form(
            form,
        ))))
    }

    /// List consent forms.
    #[oai(path = "/consent-forms", method = "get")]
    async fn list(&self, auth: TenantKey) -> Result<Json<Vec<ConsentFormOut>>, ApiError> {
        Ok(Json(
            self.0
                .consent_forms(reader(&auth))
                .await?
                .into_iter()
                .map(convert::consent_form)
                .collect(),
        ))
    }

    /// Read a consent form with every version.
    #[oai(path = "/consent-forms/:id", method = "get")]
    async fn get(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<ConsentFormOut>, ApiError> {
        let form = self
            .0
            .consent_form(reader(&auth), ConsentFormId::from_uuid(id.0))
            .await?;
        Ok(Json(convert::consent_form(form)))
    }

    /// Publish a new version; earlier versions stay as they were.
    #[oai(path = "/consent-forms/:id/versions", method = "post")]
    async fn version(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<VersionIn>,
    ) -> Result<ConsentFormCreated, ApiError> {
        let ctx = writer(&auth)?;
        let form = self
            .0
            .publish_consent_version(
                ctx,
                ConsentFormId::from_uuid(id.0),
                &body.text,
                body.requires_reconsent,
            )
            .await?;
        Ok(ConsentFormCreated::Created(Json(convert::consent_form(
            form,
        ))))
    }

    /// Retire a consent form: no consent is given under it from now on (nor a version
    /// published), while the consents given before stay, as proof, and can be withdrawn.
    /// Journaled, so that no restore reopens it. 409 when it is retired already.
    #[oai(path = "/consent-forms/:id/retirement", method = "post")]
    async fn retire(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<ConsentFormOut>, ApiError> {
        let ctx = writer(&auth)?;
        let form = self
            .0
            .retire_consent_form(ctx, ConsentFormId::from_uuid(id.0))
            .await?;
        Ok(Json(convert::consent_form(form)))
    }
}
