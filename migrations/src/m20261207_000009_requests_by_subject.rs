//! Requests read by subject (a subject's access export, the console's subject page) use an
//! index led by the subject id, as records and consent events do: without it each look-up
//! read every request of the tenant. Rows are not touched, so backups of earlier schemas
//! restore as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("requests_subject")
                    .table("requests")
                    .col("subject_id")
                    .col("tenant_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Both backends name indexes schema-wide.
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS requests_subject")
            .await
            .map(drop)
    }
}
