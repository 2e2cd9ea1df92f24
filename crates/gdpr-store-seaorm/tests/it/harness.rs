//! One fresh database per test on each backend: a SQLite file in a temporary folder, and a new
//! PostgreSQL database created on the server of `GDPR_TEST_POSTGRES_URL`, dropped afterwards.
//!
//! Without that variable the PostgreSQL half is skipped with a loud message, except under
//! `CI=true`, where a missing PostgreSQL fails the test.

use std::sync::Once;

use gdpr_store_seaorm::{MasterKey, SeaOrmStore};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

pub(crate) struct TestDb {
    pub(crate) store: SeaOrmStore,
    pub(crate) name: &'static str,
    /// The SQLite file, for raw scans.
    pub(crate) sqlite_dir: Option<tempfile::TempDir>,
    /// Where the database is, for a second replica's store.
    pub(crate) url: String,
    pg_drop: Option<(String, String)>,
}

static SKIP_NOTICE: Once = Once::new();

pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("GDPR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "GDPR_TEST_POSTGRES_URL is not set: CI must run the PostgreSQL half of the storage tests"
            );
            SKIP_NOTICE.call_once(|| {
                eprintln!(
                    "\n*** SKIPPED: PostgreSQL storage tests (set GDPR_TEST_POSTGRES_URL, e.g. \
                     postgres://postgres@127.0.0.1:5432/postgres) ***\n"
                );
            });
            None
        }
    }
}

pub(crate) async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gdpr.db").display());
    let store = SeaOrmStore::connect(&url, 4, MasterKey::generate().0)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestDb {
        store,
        name: "sqlite",
        sqlite_dir: Some(dir),
        url,
        pg_drop: None,
    }
}

pub(crate) async fn postgres(admin_url: &str) -> TestDb {
    let name = format!("gdpr_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    let url = format!("{base}/{name}");
    let store = SeaOrmStore::connect(&url, 8, MasterKey::generate().0)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestDb {
        store,
        name: "postgres",
        sqlite_dir: None,
        url,
        pg_drop: Some((admin_url.to_owned(), name)),
    }
}

/// The databases a test runs against: SQLite always, PostgreSQL when configured.
pub(crate) async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    if let Some(url) = postgres_url() {
        dbs.push(postgres(&url).await);
    }
    dbs
}

impl TestDb {
    /// Runs raw SQL (for tests that tamper or inspect behind the adapter's back).
    pub(crate) async fn raw(&self, sql: &str) {
        let db = self.store.connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap();
    }

    /// Runs raw SQL and says whether the database accepted it.
    pub(crate) async fn try_raw(&self, sql: &str) -> bool {
        let db = self.store.connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .is_ok()
    }

    /// A UUID literal for raw SQL on this backend.
    pub(crate) fn uuid_literal(&self, id: &uuid::Uuid) -> String {
        match self.backend() {
            DbBackend::Postgres => format!("'{id}'"),
            _ => format!("x'{}'", id.simple()),
        }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.store.backend()
    }

    /// Closes the pool and drops the PostgreSQL database.
    pub(crate) async fn finish(self) {
        self.store.close().await.unwrap();
        if let Some((admin_url, name)) = self.pg_drop {
            let admin = Database::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

/// One subject stored on its own, without an audit entry: the set-up many tests need (the
/// port stores subjects in batches, audited; a batch of one takes the group-commit path).
pub(crate) trait InsertOne {
    async fn insert_subject(
        &self,
        subject: &gdpr_pii::Subject,
    ) -> Result<(), gdpr_ports::StoreError>;
}

impl InsertOne for SeaOrmStore {
    async fn insert_subject(
        &self,
        subject: &gdpr_pii::Subject,
    ) -> Result<(), gdpr_ports::StoreError> {
        gdpr_ports::SubjectStore::insert_subjects(self, std::slice::from_ref(subject), Vec::new())
            .await
    }
}
