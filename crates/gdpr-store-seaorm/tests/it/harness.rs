//! One fresh database per test on each backend: a SQLite file in a temporary folder, and a new
//! PostgreSQL database created on the server of `GDPR_TEST_POSTGRES_URL`, dropped afterwards.
//!
//! Without that variable the PostgreSQL half is skipped with a loud message, except under
//! `CI=true`, where a missing PostgreSQL fails the test.

use gdpr_store_seaorm::{MasterKey, SeaOrmStore};
use gdpr_testkit::postgres::ThrowawayDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

pub(crate) struct TestDb {
    pub(crate) store: SeaOrmStore,
    pub(crate) name: &'static str,
    /// The SQLite file, for raw scans.
    pub(crate) sqlite_dir: Option<tempfile::TempDir>,
    /// Where the database is, for a second replica's store.
    pub(crate) url: String,
    pg_drop: Option<ThrowawayDatabase>,
}

/// The test PostgreSQL server, or `None` (said loudly; a failure under `CI=true`).
pub(crate) fn postgres_url() -> Option<String> {
    gdpr_testkit::postgres::test_server("storage tests")
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
    let db = ThrowawayDatabase::create(admin_url, "gdpr_test").await;
    let url = db.url.clone();
    let store = SeaOrmStore::connect(&url, 8, MasterKey::generate().0)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestDb {
        store,
        name: "postgres",
        sqlite_dir: None,
        url,
        pg_drop: Some(db),
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
        if let Some(db) = self.pg_drop {
            db.drop_database().await;
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

/// How SQLite plans `sql` (`EXPLAIN QUERY PLAN`), a step per line, on a connection opened
/// after the migrations: `EXPLAIN` takes no lock, so a pooled connection that predates them
/// would plan on the schema it read before.
pub(crate) async fn sqlite_plan(db: &TestDb, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let fresh = SeaOrmStore::connect(&db.url, 1, MasterKey::generate().0)
        .await
        .unwrap();
    fresh
        .connection()
        .query_all_raw(Statement::from_string(
            db.backend(),
            format!("EXPLAIN QUERY PLAN {sql}"),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by::<String, _>("detail").unwrap())
        .collect()
}
