//! Retention and lifecycle as data: a tenant's departures from the deployment's periods and
//! its scheduled offboarding, when a subject's last record was deleted (from when a subject
//! left with nothing counts as inactive), and when a consent form was retired. Every column
//! may be empty, so rows of earlier schemas (and their backups) fit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, text_null};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The columns added, one `ALTER TABLE` each (SQLite takes one change per statement).
fn columns() -> [(&'static str, ColumnDef); 4] {
    [
        ("tenants", text_null("retention")),
        ("tenants", text_null("offboarding")),
        ("subjects", big_integer_null("records_deleted_at")),
        ("consent_forms", big_integer_null("retired_at")),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, mut column) in columns().into_iter() {
            manager
                .alter_table(Table::alter().table(table).add_column(&mut column).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(column.get_column_name())
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
