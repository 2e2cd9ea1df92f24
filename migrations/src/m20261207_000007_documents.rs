//! Registers kept as documents (processors and recipients, breaches, webhook endpoints): a
//! JSON body filed under a kind and an id, owned by a tenant (or by the deployment: the nil
//! tenant id).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text, uuid};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("documents")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(text("kind"))
                    .col(big_integer("created_at"))
                    .col(text("body"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("documents_register")
                    .table("documents")
                    .col("tenant_id")
                    .col("kind")
                    .col("created_at")
                    .if_not_exists()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("documents").take())
            .await
    }
}
