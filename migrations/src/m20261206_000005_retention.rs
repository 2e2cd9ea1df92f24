//! Retention and lifecycle as data: a tenant's departures from the deployment's periods, when a
//! subject's last record was deleted (from when a subject left with nothing counts as
//! inactive), and when a consent form was retired. Every column may be empty, so rows of
//! earlier schemas (and their backups) fit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, text_null};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .add_column(text_null("retention"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("subjects")
                    .add_column(big_integer_null("records_deleted_at"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("consent_forms")
                    .add_column(big_integer_null("retired_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("consent_forms")
                    .drop_column("retired_at")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("subjects")
                    .drop_column("records_deleted_at")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("tenants")
                    .drop_column("retention")
                    .take(),
            )
            .await
    }
}
