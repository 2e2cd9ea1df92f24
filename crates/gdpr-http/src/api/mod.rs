//! The operations, one `#[OpenApi]` struct per resource family, each generic over the ports
//! so that this crate never names an adapter.

pub(crate) mod accountability;
pub(crate) mod admin;
pub(crate) mod consent;
pub(crate) mod forms;
pub(crate) mod requests;
pub(crate) mod retention;
pub(crate) mod subjects;

use gdpr_app::Ctx;
use gdpr_audit::Actor;
use gdpr_ports::Page;
use poem_openapi::Tags;

use crate::auth::TenantKey;
use crate::problem::ApiError;

/// Groups in the documentation.
#[derive(Tags)]
pub(crate) enum Tag {
    /// Operator routes: tenants and their API keys (admin token).
    Admin,
    /// Data subjects: profiles, look-up, import, rectification, erasure, legal holds.
    Subjects,
    /// Consent: consent forms, giving and withdrawing, state and receipts.
    Consent,
    /// Purposes, forms and their records.
    Forms,
    /// Data-subject requests and their deadlines.
    Requests,
    /// The register of processing, the audit log, erasure receipts and batch plans.
    Accountability,
    /// Storage limitation: retention periods and the plan of the daily expiry.
    Retention,
}

/// The context of a read.
pub(crate) fn reader(key: &TenantKey) -> Ctx {
    Ctx::new(key.0.tenant, Actor::ApiKey(key.0.key))
}

/// The context of a write: refused for read-only keys.
pub(crate) fn writer(key: &TenantKey) -> Result<Ctx, ApiError> {
    if key.0.read_only {
        Err(ApiError::read_only())
    } else {
        Ok(reader(key))
    }
}

/// The default and largest page sizes.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

pub(crate) fn page(offset: Option<u64>, limit: Option<u32>) -> Page {
    Page {
        offset: offset.unwrap_or(0),
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    }
}
