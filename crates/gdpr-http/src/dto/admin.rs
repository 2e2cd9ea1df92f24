//! Wire types of the operator's routes: tenants, API keys, console users, backup deletion.

use poem_openapi::{Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;

/// A tenant.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct TenantOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Legal name.
    pub(crate) name: String,
    /// Privacy contact.
    pub(crate) privacy_contact: String,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
}

/// A tenant to create.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct TenantIn {
    /// Legal name, 1 to 200 characters.
    pub(crate) name: Text,
    /// Privacy contact (a DPO role address), 1 to 320 characters.
    pub(crate) privacy_contact: Text,
}

/// An API key to issue.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct KeyIn {
    /// Whether the key may only read.
    #[oai(default)]
    pub(crate) read_only: bool,
}

/// An API key just issued: the token is shown once.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IssuedKeyOut {
    /// Key id.
    pub(crate) id: Uuid,
    /// Its tenant.
    pub(crate) tenant: Uuid,
    /// Read-only or not.
    pub(crate) read_only: bool,
    /// The token to send as `Authorization: Bearer <token>`. Never shown again.
    pub(crate) token: String,
}

/// An API key as listed (never its secret).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct KeyOut {
    /// Key id.
    pub(crate) id: Uuid,
    /// Read-only or not.
    pub(crate) read_only: bool,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
    /// Revoked, if it was.
    pub(crate) revoked_at: Option<OffsetDateTime>,
}

/// The receipt for deleting all of a tenant's backups.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BackupDeletionOut {
    /// The tenant.
    pub(crate) tenant: Uuid,
    /// When the deletion finished.
    pub(crate) at: OffsetDateTime,
    /// Every object removed.
    pub(crate) deleted_objects: Vec<String>,
}

/// Scheduling a tenant's offboarding.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct OffboardingIn {
    /// Days before its data goes (0 to 365; default 30). Its API keys are refused from now.
    #[oai(validator(minimum(value = "0"), maximum(value = "365")))]
    pub(crate) grace_days: Option<u32>,
}

/// A tenant's scheduled offboarding.
#[derive(Object)]
pub(crate) struct OffboardingOut {
    /// The tenant.
    pub(crate) tenant: Uuid,
    /// When it was scheduled.
    pub(crate) scheduled_at: OffsetDateTime,
    /// When every row, key, backup, journal entry, export and log line of the tenant goes.
    pub(crate) delete_at: OffsetDateTime,
}

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ConsoleRoleDto {
    /// Works requests, breaches, erasures and exports.
    Dpo,
    /// Reads; changes nothing.
    Viewer,
}

impl From<ConsoleRoleDto> for gdpr_app::ConsoleRole {
    fn from(role: ConsoleRoleDto) -> Self {
        match role {
            ConsoleRoleDto::Dpo => Self::Dpo,
            ConsoleRoleDto::Viewer => Self::Viewer,
        }
    }
}

impl From<gdpr_app::ConsoleRole> for ConsoleRoleDto {
    fn from(role: gdpr_app::ConsoleRole) -> Self {
        match role {
            gdpr_app::ConsoleRole::Dpo => Self::Dpo,
            gdpr_app::ConsoleRole::Viewer => Self::Viewer,
        }
    }
}

/// A console user to create.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ConsoleUserIn {
    /// The address they sign in with (one user per address in the deployment).
    pub(crate) email: super::EmailText,
    /// What they may do.
    pub(crate) role: ConsoleRoleDto,
}

/// A console user (never their password).
#[derive(Object)]
pub(crate) struct ConsoleUserOut {
    /// Their id.
    pub(crate) id: Uuid,
    /// Their tenant.
    pub(crate) tenant: Uuid,
    /// The address they sign in with.
    pub(crate) email: String,
    /// What they may do.
    pub(crate) role: ConsoleRoleDto,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
}

impl From<gdpr_app::ConsoleUser> for ConsoleUserOut {
    fn from(u: gdpr_app::ConsoleUser) -> Self {
        Self {
            id: *u.id.as_uuid(),
            tenant: *u.tenant.as_uuid(),
            email: u.email,
            role: u.role.into(),
            created_at: u.created_at,
        }
    }
}

/// A console user just created or whose password was just reset: the password is shown
/// once, to be handed to them.
#[derive(Object)]
pub(crate) struct IssuedConsoleUserOut {
    /// The user.
    pub(crate) user: ConsoleUserOut,
    /// Their password (20 letters and digits, generated). Never shown again.
    pub(crate) password: String,
}
