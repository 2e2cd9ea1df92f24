//! Restrictions (Art. 18) and objections (Art. 21): one row per limit, its JSON in `body`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, uuid};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("processing_limits")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid("subject_id"))
                    .col(text("body"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("processing_limits_subject")
                    .table("processing_limits")
                    .col("tenant_id")
                    .col("subject_id")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("processing_limits").take())
            .await
    }
}
