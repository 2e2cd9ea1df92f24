//! The entities that hold personal data: tenants' subjects and their form records.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Email, FormId, FullName, IpAddress, RecordId, RecordValues, SubjectId, TenantId};

/// A tenant: a customer of the SaaS, the controller of its subjects' data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant.
    pub id: TenantId,
    /// Its legal name, shown in receipts and the register.
    pub name: String,
    /// Its privacy contact (a DPO role address), shown in receipts and the register.
    pub privacy_contact: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A data subject's profile. Every field but the ids and times is personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject.
    pub id: SubjectId,
    /// The tenant that keeps data about them.
    pub tenant: TenantId,
    /// Their e-mail address (unique within the tenant).
    pub email: Option<Email>,
    /// Their full name.
    pub full_name: Option<FullName>,
    /// The IP address they were last seen from.
    pub ip_address: Option<IpAddress>,
    /// When the profile was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A record submitted through a form, about one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record.
    pub id: RecordId,
    /// The tenant.
    pub tenant: TenantId,
    /// The form it was submitted through.
    pub form: FormId,
    /// The subject it is about.
    pub subject: SubjectId,
    /// The validated values.
    pub values: RecordValues,
    /// When it was submitted.
    pub created_at: OffsetDateTime,
}
