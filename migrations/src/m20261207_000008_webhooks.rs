//! Webhook deliveries, the queue the delivery worker claims from, and each endpoint's cursor
//! in its tenant's audit chain. Operational: left out of backups (a restored tenant must not
//! resend what it already sent), deleted with the tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, integer_null, string_len, text, text_null, uuid,
    uuid_null,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("tenant_id"))
                    .col(uuid("endpoint_id"))
                    .col(text("event_id"))
                    .col(string_len("event_type", 64))
                    .col(uuid_null("subject_id"))
                    .col(text("payload"))
                    .col(string_len("state", 16))
                    .col(integer("attempts"))
                    .col(big_integer("next_at"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("first_attempt_at"))
                    .col(big_integer_null("last_attempt_at"))
                    .col(integer_null("last_status"))
                    .col(text_null("last_error"))
                    .col(big_integer_null("delivered_at"))
                    .col(text_null("claimed_by"))
                    .col(big_integer_null("claimed_until"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_cursors")
                    .if_not_exists()
                    .col(uuid("endpoint_id"))
                    .col(uuid("tenant_id"))
                    .col(big_integer("seq"))
                    // One cursor per endpoint and tenant: a deployment-wide endpoint follows
                    // every tenant's chain.
                    .primary_key(Index::create().col("endpoint_id").col("tenant_id"))
                    .take(),
            )
            .await?;
        for (name, cols) in [
            ("webhook_deliveries_due", &["state", "next_at"][..]),
            (
                "webhook_deliveries_tenant",
                &["tenant_id", "created_at"][..],
            ),
            (
                "webhook_deliveries_subject",
                &["tenant_id", "subject_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table("webhook_deliveries").if_not_exists();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_cursors", "webhook_deliveries"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
