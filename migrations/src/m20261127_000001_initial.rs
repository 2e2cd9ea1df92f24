//! The first schema: tenants and keys, subjects (personal fields as ciphertext only), forms and
//! records, consent, requests, holds, erasure, the audit chain and the jobs queue.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, blob, blob_null, boolean, integer, string, text,
    text_null, uuid,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// A foreign key from `table.column` to `subjects.id` (or another table's id): a write about a
/// subject that an erasure has just removed fails instead of leaving an orphan behind.
fn references(name: &str, table: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table.to_owned(), column.to_owned())
        .to(to.to_owned(), "id".to_owned())
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table.to_owned());
    for col in cols {
        index.col((*col).to_owned());
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("tenants")
                .col(uuid("id").primary_key())
                .col(text("name"))
                .col(text("privacy_contact"))
                .col(big_integer("created_at"))
                .take(),
            Table::create()
                .table("api_keys")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(blob("secret_hash"))
                .col(boolean("read_only"))
                .col(big_integer("created_at"))
                .col(big_integer_null("revoked_at"))
                .take(),
            Table::create()
                .table("subjects")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(blob_null("email_ct"))
                .col(blob_null("email_bidx"))
                .col(blob_null("full_name_ct"))
                .col(blob_null("ip_ct"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
            Table::create()
                .table("subject_keys")
                .col(uuid("subject_id").primary_key())
                .col(uuid("tenant_id"))
                .col(blob("wrapped"))
                .foreign_key(&mut references(
                    "subject_keys_subject",
                    "subject_keys",
                    "subject_id",
                    "subjects",
                ))
                .take(),
            Table::create()
                .table("purposes")
                .col(uuid("tenant_id"))
                .col(string("id"))
                .col(text("description"))
                .col(string("basis"))
                .primary_key(Index::create().col("tenant_id").col("id"))
                .take(),
            Table::create()
                .table("consent_forms")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(string("purpose"))
                .col(text("title"))
                .take(),
            Table::create()
                .table("consent_form_versions")
                .col(uuid("form_id"))
                .col(integer("number"))
                .col(string("hash"))
                .col(text("body"))
                .col(big_integer("published_at"))
                .col(boolean("requires_reconsent"))
                .primary_key(Index::create().col("form_id").col("number"))
                .take(),
            Table::create()
                .table("consent_events")
                .col(big_pk_auto("seq"))
                .col(uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("subject_id"))
                .col(text("body"))
                .foreign_key(&mut references(
                    "consent_events_subject",
                    "consent_events",
                    "subject_id",
                    "subjects",
                ))
                .take(),
            Table::create()
                .table("forms")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(text("name"))
                .col(text("body"))
                .col(big_integer("created_at"))
                .take(),
            Table::create()
                .table("records")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("form_id"))
                .col(uuid("subject_id"))
                .col(text("plain"))
                .col(text("sealed"))
                .col(big_integer("created_at"))
                .foreign_key(&mut references(
                    "records_subject",
                    "records",
                    "subject_id",
                    "subjects",
                ))
                .foreign_key(&mut references(
                    "records_form",
                    "records",
                    "form_id",
                    "forms",
                ))
                .take(),
            Table::create()
                .table("requests")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("subject_id"))
                .col(big_integer("received_at"))
                .col(text("body"))
                .take(),
            Table::create()
                .table("legal_holds")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("subject_id"))
                .col(text("body"))
                .take(),
            Table::create()
                .table("tombstones")
                .col(uuid("receipt_id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("subject_id"))
                .col(big_integer("erased_at"))
                .take(),
            Table::create()
                .table("erasure_receipts")
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("subject_id"))
                .col(boolean("unfinished"))
                .col(text("body"))
                .take(),
            Table::create()
                .table("audit_log")
                .col(string("chain"))
                .col(big_integer("seq"))
                .col(text("body"))
                .primary_key(Index::create().col("chain").col("seq"))
                .take(),
            Table::create()
                .table("jobs")
                .col(uuid("id").primary_key())
                .col(string("kind"))
                .col(text("payload"))
                .col(string("state"))
                .col(big_integer("run_at"))
                .col(integer("attempts"))
                .col(text_null("claimed_by"))
                .col(big_integer_null("claimed_at"))
                .col(text_null("last_error"))
                .col(big_integer("progress_done"))
                .col(big_integer("progress_total"))
                .col(big_integer("created_at"))
                .take(),
        ];
        for mut table in tables {
            manager.create_table(table.if_not_exists().take()).await?;
        }
        let indexes = [
            index("api_keys_tenant", "api_keys", &["tenant_id"]),
            index("subjects_tenant", "subjects", &["tenant_id", "created_at"]),
            index(
                "subjects_email_bidx",
                "subjects",
                &["tenant_id", "email_bidx"],
            )
            .unique()
            .take(),
            index("forms_name", "forms", &["tenant_id", "name"])
                .unique()
                .take(),
            index(
                "records_form",
                "records",
                &["tenant_id", "form_id", "created_at"],
            ),
            index("records_subject", "records", &["tenant_id", "subject_id"]),
            index(
                "consent_events_subject",
                "consent_events",
                &["tenant_id", "subject_id"],
            ),
            index("consent_forms_tenant", "consent_forms", &["tenant_id"]),
            index("requests_tenant", "requests", &["tenant_id", "received_at"]),
            index(
                "legal_holds_subject",
                "legal_holds",
                &["tenant_id", "subject_id"],
            ),
            index(
                "tombstones_tenant",
                "tombstones",
                &["tenant_id", "erased_at"],
            ),
            index(
                "erasure_receipts_unfinished",
                "erasure_receipts",
                &["unfinished"],
            ),
            index("jobs_due", "jobs", &["state", "run_at"]),
        ];
        for mut index in indexes {
            manager.create_index(index.if_not_exists().take()).await?;
        }
        Ok(())
    }
}
