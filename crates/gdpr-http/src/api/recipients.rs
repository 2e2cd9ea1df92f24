//! The register of processors and recipients (Art. 28, 30(1)(d)-(e), 44–46): the
//! deployment's, named by the operator's configuration, and the tenant's own, kept here.

use std::sync::Arc;

use gdpr_app::App;
use gdpr_consent::PurposeId;
use gdpr_ports::Ports;
use gdpr_rights::{Country, Recipient};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::forms::Deleted;
use crate::api::{Tag, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{RecipientIn, RecipientOut};
use crate::problem::ApiError;

/// 201 with the registered recipient.
#[derive(ApiResponse)]
pub(crate) enum RecipientCreated {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<RecipientOut>),
}

/// The recipient as the domain takes it; the fields the wire cannot check, checked.
fn recipient(body: RecipientIn) -> Result<Recipient, ApiError> {
    let country =
        Country::parse(&body.country).map_err(|e| ApiError::invalid("country", e.to_string()))?;
    let purposes = body
        .purposes
        .iter()
        .map(|p| PurposeId::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid("purposes", e.to_string()))?;
    Ok(Recipient {
        name: body.name.0.0,
        role: body.role.into(),
        description: body.description.0,
        purposes,
        categories: body.categories.into_iter().map(Into::into).collect(),
        country: Some(country),
        location: body.location.map(|l| l.0),
        safeguard: body.safeguard.into(),
        contract: body.contract.map(|c| c.0),
    })
}

pub(crate) struct RecipientsApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Accountability")]
impl<P: Ports> RecipientsApi<P> {
    /// Every recipient of the tenant's data: the deployment's processors first (`kept_by`
    /// `deployment`: read here, changed only in the operator's configuration), then the
    /// tenant's own; each with the transfer its data makes, flagged when outside
    /// the EEA without a safeguard or with no country stated.
    #[oai(path = "/recipients", method = "get")]
    async fn list_recipients(&self, auth: TenantKey) -> Result<Json<Vec<RecipientOut>>, ApiError> {
        let list = self.0.recipients(reader(&auth)).await?;
        Ok(Json(list.into_iter().map(convert::recipient).collect()))
    }

    /// Register a processor or recipient of the tenant's data (audited). A country outside
    /// the EEA without a safeguard is accepted, and flagged by the register and the daily
    /// attestation; adequacy claimed for a country no decision covers is refused.
    #[oai(path = "/recipients", method = "post")]
    async fn create_recipient(
        &self,
        auth: TenantKey,
        body: Json<RecipientIn>,
    ) -> Result<RecipientCreated, ApiError> {
        let ctx = writer(&auth)?;
        let entry = self.0.put_recipient(ctx, None, recipient(body.0)?).await?;
        Ok(RecipientCreated::Created(Json(convert::recipient(entry))))
    }

    /// One recipient of the tenant's data: one of the deployment's processors, or the
    /// tenant's own.
    #[oai(path = "/recipients/:id", method = "get")]
    async fn get_recipient(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<RecipientOut>, ApiError> {
        let entry = self.0.recipient(reader(&auth), id.0).await?;
        Ok(Json(convert::recipient(entry)))
    }

    /// Replace one of the tenant's recipients (audited); the deployment's are refused (403).
    #[oai(path = "/recipients/:id", method = "put")]
    async fn replace_recipient(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<RecipientIn>,
    ) -> Result<Json<RecipientOut>, ApiError> {
        let ctx = writer(&auth)?;
        let entry = self
            .0
            .put_recipient(ctx, Some(id.0), recipient(body.0)?)
            .await?;
        Ok(Json(convert::recipient(entry)))
    }

    /// Remove one of the tenant's recipients (audited); the deployment's are refused (403).
    #[oai(path = "/recipients/:id", method = "delete")]
    async fn delete_recipient(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        self.0.remove_recipient(writer(&auth)?, id.0).await?;
        Ok(Deleted::Done)
    }
}
