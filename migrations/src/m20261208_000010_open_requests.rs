//! Whether each request is still open, as a column with its index, so that what reads only
//! the open requests (the console's overview, the deadline reminders, the daily attestation,
//! the overdue gauge) reads those, not every request ever received. The column may be empty:
//! rows of earlier schemas (and of their backups) fit, and the storage adapter fills it from
//! the request itself, which this crate does not read.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean_null;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("requests")
                    .add_column(boolean_null("is_open"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("requests_open")
                    .table("requests")
                    .col("is_open")
                    .col("tenant_id")
                    .col("received_at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Both backends name indexes schema-wide.
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS requests_open")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("requests")
                    .drop_column("is_open")
                    .take(),
            )
            .await
    }
}
