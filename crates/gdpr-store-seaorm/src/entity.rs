//! The tables, as SeaORM entities. Times are Unix nanoseconds (`i64`), so they round-trip
//! exactly on SQLite and PostgreSQL alike; domain values with structure are JSON text;
//! personal fields are only ever ciphertext (`*_ct`, `sealed`). Rows serialise to JSON (bytes
//! as base64) for backups.

macro_rules! entity {
    ($module:ident, $table:literal, { $($body:tt)* }) => {
        #[doc = concat!("The `", $table, "` table.")]
        #[allow(unreachable_pub, missing_docs, reason = "SeaORM's derives generate public items")]
        pub(crate) mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(
                Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize,
            )]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($body)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(tenant, "tenants", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub privacy_contact: String,
    pub created_at: i64,
    /// A `PolicyOverride` as JSON (absent: none; and in backups of earlier schemas).
    #[serde(default)]
    pub retention: Option<String>,
    /// An `Offboarding` as JSON, while one is scheduled.
    #[serde(default)]
    pub offboarding: Option<String>,
});

entity!(api_key, "api_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[serde(with = "crate::entity::b64")]
    pub secret_hash: Vec<u8>,
    pub read_only: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
});

entity!(subject, "subjects", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[serde(with = "crate::entity::b64_option")]
    pub email_ct: Option<Vec<u8>>,
    #[serde(with = "crate::entity::b64_option")]
    pub email_bidx: Option<Vec<u8>>,
    #[serde(with = "crate::entity::b64_option")]
    pub full_name_ct: Option<Vec<u8>>,
    #[serde(with = "crate::entity::b64_option")]
    pub ip_ct: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub records_deleted_at: Option<i64>,
});

entity!(subject_key, "subject_keys", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject_id: Uuid,
    pub tenant_id: Uuid,
    #[serde(with = "crate::entity::b64")]
    pub wrapped: Vec<u8>,
});

entity!(purpose, "purposes", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub description: String,
    pub basis: String,
});

entity!(consent_form, "consent_forms", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub purpose: String,
    pub title: String,
    #[serde(default)]
    pub retired_at: Option<i64>,
});

entity!(consent_form_version, "consent_form_versions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub form_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    pub hash: String,
    pub body: String,
    pub published_at: i64,
    pub requires_reconsent: bool,
});

entity!(consent_event, "consent_events", {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub body: String,
});

entity!(form, "forms", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub body: String,
    pub created_at: i64,
});

entity!(record, "records", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub form_id: Uuid,
    pub subject_id: Uuid,
    pub plain: String,
    pub sealed: String,
    pub created_at: i64,
});

entity!(request, "requests", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub received_at: i64,
    pub body: String,
    /// Whether the request is open, as its body says: written with it, filled in by
    /// `migrate` for rows of earlier schemas and by a restore for every row (absent in
    /// backups of earlier schemas). Empty: not known yet, read as possibly open.
    #[serde(default)]
    pub is_open: Option<bool>,
});

entity!(legal_hold, "legal_holds", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub body: String,
});

entity!(processing_limit, "processing_limits", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub body: String,
});

entity!(document, "documents", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub created_at: i64,
    pub body: String,
});

entity!(webhook_delivery, "webhook_deliveries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub subject_id: Option<Uuid>,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_at: i64,
    pub created_at: i64,
    pub first_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
});

entity!(webhook_cursor, "webhook_cursors", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub endpoint_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub seq: i64,
});

entity!(tombstone, "tombstones", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub receipt_id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub erased_at: i64,
});

entity!(erasure_receipt, "erasure_receipts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub subject_id: Uuid,
    pub unfinished: bool,
    pub body: String,
});

entity!(audit_entry, "audit_log", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chain: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub body: String,
});

entity!(job, "jobs", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub run_at: i64,
    pub attempts: i32,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<i64>,
    pub last_error: Option<String>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub created_at: i64,
    pub result: Option<String>,
});

/// Bytes as base64 in JSON rows.
pub(crate) mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Optional bytes as base64 (or `null`) in JSON rows.
pub(crate) mod b64_option {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        reason = "serde's `with` passes a reference to the field"
    )]
    pub(crate) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapper(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<Wrapper>::deserialize(d)?.map(|Wrapper(bytes)| bytes))
    }
}
