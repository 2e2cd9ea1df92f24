//! Indexes on a subject's records and consent events lead with the subject id.
//!
//! Deleting a subject makes the database check that no record or consent event still refers to
//! it (the foreign keys). That check looks rows up by `subject_id` alone, which an index
//! leading with `tenant_id` cannot serve: each deleted subject then cost a scan of the whole
//! table, which dominated batch erasure. Led by the subject id, the same index serves both that
//! check and the tenant-scoped look-ups (subject ids are unique across tenants). Rows are not
//! touched, so backups of earlier schemas restore as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// (index, table) pairs whose columns swap order.
const INDEXES: [(&str, &str); 2] = [
    ("records_subject", "records"),
    ("consent_events_subject", "consent_events"),
];

async fn rebuild(manager: &SchemaManager<'_>, columns: &str) -> Result<(), DbErr> {
    for (name, table) in INDEXES {
        // Plain SQL, one call: dropped and created on the same connection (on SQLite the
        // migrator runs outside a transaction, and another pooled connection could still see
        // the old index); both backends name indexes schema-wide.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "DROP INDEX IF EXISTS {name}; CREATE INDEX {name} ON {table} ({columns})"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, "subject_id, tenant_id").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, "tenant_id, subject_id").await
    }
}
