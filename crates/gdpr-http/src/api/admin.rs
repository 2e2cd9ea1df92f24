//! Operator routes: tenants, API keys, console users and a tenant's backups, behind the admin
//! token.

use std::sync::Arc;

use gdpr_app::App;
use gdpr_audit::Actor;
use gdpr_pii::{ApiKeyId, ConsoleUserId, TenantId};
use gdpr_ports::Ports;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::api::Tag;
use crate::auth::AdminToken;
use crate::convert;
use crate::dto::{
    BackupDeletionOut, ConsoleUserIn, ConsoleUserOut, IssuedConsoleUserOut, IssuedKeyOut, KeyIn,
    KeyOut, OffboardingIn, OffboardingOut, TenantIn, TenantOut,
};
use crate::problem::ApiError;

/// 201 with the created tenant.
#[derive(ApiResponse)]
pub(crate) enum TenantCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<TenantOut>),
}

/// 201 with the issued key.
#[derive(ApiResponse)]
pub(crate) enum KeyIssued {
    /// Issued; the token is in the body, once.
    #[oai(status = 201)]
    Created(Json<IssuedKeyOut>),
}

/// 201 with the created console user and their password.
#[derive(ApiResponse)]
pub(crate) enum ConsoleUserCreated {
    /// Created; the password is in the body, once.
    #[oai(status = 201)]
    Created(Json<IssuedConsoleUserOut>),
}

fn issued(issued: gdpr_app::IssuedConsoleUser) -> IssuedConsoleUserOut {
    IssuedConsoleUserOut {
        password: issued.password.expose_secret().to_owned(),
        user: issued.user.into(),
    }
}

/// 204.
#[derive(ApiResponse)]
pub(crate) enum Revoked {
    /// Revoked (or cancelled).
    #[oai(status = 204)]
    Done,
}

pub(crate) struct AdminApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Admin")]
impl<P: Ports> AdminApi<P> {
    /// Create a tenant.
    #[oai(path = "/admin/tenants", method = "post")]
    async fn create_tenant(
        &self,
        _auth: AdminToken,
        body: Json<TenantIn>,
    ) -> Result<TenantCreated, ApiError> {
        let t = self
            .0
            .create_tenant(Actor::Operator, &body.name, &body.privacy_contact)
            .await?;
        Ok(TenantCreated::Created(Json(convert::tenant(t))))
    }

    /// List tenants.
    #[oai(path = "/admin/tenants", method = "get")]
    async fn list_tenants(&self, _auth: AdminToken) -> Result<Json<Vec<TenantOut>>, ApiError> {
        Ok(Json(
            self.0
                .tenants()
                .await?
                .into_iter()
                .map(convert::tenant)
                .collect(),
        ))
    }

    /// Issue an API key for a tenant. The token is shown in this response only.
    #[oai(path = "/admin/tenants/:tenant_id/api-keys", method = "post")]
    async fn create_key(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        body: Json<KeyIn>,
    ) -> Result<KeyIssued, ApiError> {
        let issued = self
            .0
            .create_api_key(
                Actor::Operator,
                TenantId::from_uuid(tenant_id.0),
                body.read_only,
            )
            .await?;
        tracing::info!(target: "security", event = "api_key_created", key = %issued.record.id, tenant = %issued.record.tenant, "api key created");
        Ok(KeyIssued::Created(Json(IssuedKeyOut {
            id: *issued.record.id.as_uuid(),
            tenant: *issued.record.tenant.as_uuid(),
            read_only: issued.record.read_only,
            token: issued.token.expose_secret().to_owned(),
        })))
    }

    /// List a tenant's API keys (never their secrets).
    #[oai(path = "/admin/tenants/:tenant_id/api-keys", method = "get")]
    async fn list_keys(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
    ) -> Result<Json<Vec<KeyOut>>, ApiError> {
        let tenant = TenantId::from_uuid(tenant_id.0);
        self.0.tenant(tenant).await?;
        Ok(Json(
            self.0
                .api_keys(tenant)
                .await?
                .into_iter()
                .map(convert::key)
                .collect(),
        ))
    }

    /// Revoke an API key; it stops working at once.
    #[oai(path = "/admin/tenants/:tenant_id/api-keys/:key_id", method = "delete")]
    async fn revoke_key(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        let (tenant, key) = (
            TenantId::from_uuid(tenant_id.0),
            ApiKeyId::from_uuid(key_id.0),
        );
        self.0.revoke_api_key(Actor::Operator, tenant, key).await?;
        tracing::info!(target: "security", event = "api_key_revoked", key = %key, tenant = %tenant, "api key revoked");
        Ok(Revoked::Done)
    }

    /// Create a console user for a tenant (`dpo` or `viewer`), with a generated password
    /// shown in this response only. An address signs in to one tenant's console: a second
    /// user with the same address is refused (409).
    #[oai(path = "/admin/tenants/:tenant_id/console-users", method = "post")]
    async fn create_console_user(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        body: Json<ConsoleUserIn>,
    ) -> Result<ConsoleUserCreated, ApiError> {
        let tenant = TenantId::from_uuid(tenant_id.0);
        let created = self
            .0
            .create_console_user(Actor::Operator, tenant, &body.email, body.role.into())
            .await?;
        tracing::info!(target: "security", event = "console_user_created", user = %created.user.id, tenant = %tenant, "console user created");
        Ok(ConsoleUserCreated::Created(Json(issued(created))))
    }

    /// List a tenant's console users (never their passwords).
    #[oai(path = "/admin/tenants/:tenant_id/console-users", method = "get")]
    async fn list_console_users(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
    ) -> Result<Json<Vec<ConsoleUserOut>>, ApiError> {
        let users = self
            .0
            .console_users(TenantId::from_uuid(tenant_id.0))
            .await?;
        Ok(Json(users.into_iter().map(Into::into).collect()))
    }

    /// Give a console user a new generated password (shown in this response only); their
    /// sessions end.
    #[oai(
        path = "/admin/tenants/:tenant_id/console-users/:user_id/password",
        method = "post"
    )]
    async fn reset_console_password(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<Json<IssuedConsoleUserOut>, ApiError> {
        let (tenant, user) = (
            TenantId::from_uuid(tenant_id.0),
            ConsoleUserId::from_uuid(user_id.0),
        );
        let reset = self
            .0
            .reset_console_password(Actor::Operator, tenant, user)
            .await?;
        tracing::info!(target: "security", event = "console_password_reset", user = %user, tenant = %tenant, "console password reset");
        Ok(Json(issued(reset)))
    }

    /// Remove a console user; their sessions end at once.
    #[oai(
        path = "/admin/tenants/:tenant_id/console-users/:user_id",
        method = "delete"
    )]
    async fn remove_console_user(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        let (tenant, user) = (
            TenantId::from_uuid(tenant_id.0),
            ConsoleUserId::from_uuid(user_id.0),
        );
        self.0
            .remove_console_user(Actor::Operator, tenant, user)
            .await?;
        tracing::info!(target: "security", event = "console_user_removed", user = %user, tenant = %tenant, "console user removed");
        Ok(Revoked::Done)
    }

    /// Delete every backup of a tenant, on the customer's request; the receipt lists every
    /// object removed. Calling again after a failure finishes the job.
    #[oai(path = "/admin/tenants/:tenant_id/backups", method = "delete")]
    async fn delete_backups(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
    ) -> Result<Json<BackupDeletionOut>, ApiError> {
        let tenant = TenantId::from_uuid(tenant_id.0);
        let receipt = self
            .0
            .delete_tenant_backups(Actor::Operator, tenant)
            .await?;
        tracing::info!(target: "security", event = "backups_deleted", tenant = %tenant, objects = receipt.deleted_objects.len(), "tenant backups deleted");
        Ok(Json(BackupDeletionOut {
            tenant: *receipt.tenant.as_uuid(),
            at: receipt.at,
            deleted_objects: receipt.deleted_objects,
        }))
    }

    /// Schedule the tenant's offboarding (the end of its contract, Art. 28(3)(g)): its API
    /// keys are refused from now on (409 `tenant-offboarding`), and when the grace period
    /// ends every row, key, backup, journal entry, export and log line of the tenant is
    /// deleted, the receipt kept in the system audit chain. Hand its data over first with
    /// `gdpr handover`.
    #[oai(path = "/admin/tenants/:tenant_id/offboarding", method = "post")]
    async fn schedule_offboarding(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
        body: Json<OffboardingIn>,
    ) -> Result<Json<OffboardingOut>, ApiError> {
        let tenant = TenantId::from_uuid(tenant_id.0);
        let o = self
            .0
            .schedule_offboarding(Actor::Operator, tenant, body.grace_days)
            .await?;
        tracing::info!(target: "security", event = "offboarding_scheduled", tenant = %tenant, delete_at = %o.delete_at, "tenant offboarding scheduled");
        Ok(Json(OffboardingOut {
            tenant: tenant_id.0,
            scheduled_at: o.scheduled_at,
            delete_at: o.delete_at,
        }))
    }

    /// The tenant's scheduled offboarding (404 when none is).
    #[oai(path = "/admin/tenants/:tenant_id/offboarding", method = "get")]
    async fn offboarding(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
    ) -> Result<Json<OffboardingOut>, ApiError> {
        let o = self
            .0
            .offboarding(TenantId::from_uuid(tenant_id.0))
            .await?
            .ok_or(gdpr_app::AppError::NotFound("offboarding"))?;
        Ok(Json(OffboardingOut {
            tenant: tenant_id.0,
            scheduled_at: o.scheduled_at,
            delete_at: o.delete_at,
        }))
    }

    /// Cancel the tenant's offboarding during its grace period: its keys work again.
    ///
    /// Once the grace period is over, 409: the deletion may have begun.
    #[oai(path = "/admin/tenants/:tenant_id/offboarding", method = "delete")]
    async fn cancel_offboarding(
        &self,
        _auth: AdminToken,
        tenant_id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        let tenant = TenantId::from_uuid(tenant_id.0);
        self.0.cancel_offboarding(Actor::Operator, tenant).await?;
        tracing::info!(target: "security", event = "offboarding_cancelled", tenant = %tenant, "tenant offboarding cancelled");
        Ok(Revoked::Done)
    }
}
