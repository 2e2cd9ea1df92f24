//! A counter that processes sharing an embedded SQLite database bump when they change what
//! the server's in-process cache rests on (an operator command such as `gdpr restore`): the
//! server watches it. PostgreSQL deployments send `NOTIFY` instead and leave it at 0.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("cache_epoch")
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(big_integer("epoch"))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("cache_epoch")
                    .columns(["id", "epoch"])
                    .values_panic([1.into(), 0i64.into()])
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("cache_epoch").take())
            .await
    }
}
