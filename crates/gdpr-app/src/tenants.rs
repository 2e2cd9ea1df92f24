//! Tenants: the SaaS's customers, each the controller of its subjects' data.

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::{Tenant, TenantId};
use gdpr_ports::{Clock, Ports, TenantStore};

use crate::{App, AppError};

fn bounded(field: &'static str, value: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    let n = value.chars().count();
    if n == 0 || n > max || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

impl<P: Ports> App<P> {
    /// Creates a tenant (an operator action).
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] for an empty or over-long name or contact; storage errors.
    pub async fn create_tenant(
        &self,
        actor: Actor,
        name: &str,
        privacy_contact: &str,
    ) -> Result<Tenant, AppError> {
        let now = self.clock.now();
        let tenant = Tenant {
            id: TenantId::at(now),
            name: bounded("name", name, 200)?,
            privacy_contact: bounded("privacy_contact", privacy_contact, 320)?,
            created_at: now,
        };
        self.store
            .insert_tenant(&tenant)
            .await
            .map_err(AppError::store)?;
        self.audit(AuditEvent::new(
            tenant.created_at,
            Some(tenant.id),
            actor,
            AuditAction::TenantCreated,
        ))
        .await?;
        Ok(tenant)
    }

    /// A tenant by id.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn tenant(&self, id: TenantId) -> Result<Tenant, AppError> {
        self.store
            .get_tenant(id)
            .await
            .map_err(AppError::not_found("tenant"))
    }

    /// Every tenant.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, AppError> {
        self.store.list_tenants().await.map_err(AppError::store)
    }
}
