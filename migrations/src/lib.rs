//! Database schema migrations for `gdpr-store-seaorm`, on SQLite and PostgreSQL.
//!
//! Migrations only ever add columns and tables (an index may be rebuilt): a released migration
//! is never edited, so every deployment walks the same path, and rows of any earlier schema fit
//! the current one. `gdpr migrate` applies them, and so does the server on start unless told not
//! to. This crate knows tables and columns, nothing of the domain.

use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261127_000002_processing_limits;
mod m20261127_000003_job_results;
mod m20261127_000004_subject_first_indexes;
mod m20261206_000005_retention;
mod m20261206_000006_cache_epoch;
mod m20261207_000007_documents;
mod m20261207_000008_webhooks;
mod m20261207_000009_requests_by_subject;
mod m20261208_000010_open_requests;

pub use sea_orm_migration::MigratorTrait;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261127_000002_processing_limits::Migration),
            Box::new(m20261127_000003_job_results::Migration),
            Box::new(m20261127_000004_subject_first_indexes::Migration),
            Box::new(m20261206_000005_retention::Migration),
            Box::new(m20261206_000006_cache_epoch::Migration),
            Box::new(m20261207_000007_documents::Migration),
            Box::new(m20261207_000008_webhooks::Migration),
            Box::new(m20261207_000009_requests_by_subject::Migration),
            Box::new(m20261208_000010_open_requests::Migration),
        ]
    }
}
