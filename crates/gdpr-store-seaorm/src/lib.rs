//! The storage ports on SeaORM: SQLite (the embedded default) and PostgreSQL (production).
//!
//! This crate owns the database schema's use (the migrations live in `gdpr-migrations`), the
//! encryption at rest of every personal field, the blind index for look-ups by e-mail, the one
//! transaction of an erasure, the hash-chained audit log's storage, the API keys and the
//! durable jobs queue (claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL), and the
//! invalidations of the replicas' caches (`NOTIFY` on PostgreSQL, a counter on SQLite).
//!
//! It must not hold business rules: those are the domain's and `gdpr-app`'s. It never logs,
//! returns or puts in an error message a decrypted value.

mod audit;
mod bulk;
mod consent;
mod crypto;
mod documents;
mod dump;
mod entity;
mod erasure;
mod forms;
mod group;
mod invalidations;
mod jobs;
mod keys;
mod rights;
mod subjects;
mod tables;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use gdpr_migrations::{Migrator, MigratorTrait};
use gdpr_ports::StoreError;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use time::OffsetDateTime;

pub use crypto::{CryptoError, MasterKey};
pub use invalidations::{CHANNEL as INVALIDATION_CHANNEL, POLL as INVALIDATION_POLL, Watcher};
pub use tables::{LEFT_OUT_OF_BACKUPS, backed_up_tables};

/// Every storage port, on one SeaORM connection pool. Cheap to clone.
#[derive(Clone)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    master: Arc<MasterKey>,
    /// Writes run again after losing a race for a chain's next position (see `retrying`).
    lost_races: Arc<std::sync::atomic::AtomicU64>,
    /// Each audit chain's last known head, a hint that saves a read per append.
    audit_heads: Arc<audit::AuditHeads>,
    /// Where single creates (a subject, a record) queue for group commit (see `group`); `None`
    /// in the writing tasks' own copies.
    group: Option<group::Queues>,
    /// Creates committed in a group of more than one.
    grouped: Arc<std::sync::atomic::AtomicU64>,
    /// Whether changes on SQLite bump the counter the server watches (see `invalidations`).
    announces: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SeaOrmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmStore")
            .field("backend", &self.db.get_database_backend())
            .finish_non_exhaustive()
    }
}

impl SeaOrmStore {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) with at most
    /// `max_connections` pooled connections.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        master: MasterKey,
    ) -> Result<Self, StoreError> {
        Self::connect_waiting(url, max_connections, Duration::from_secs(10), master).await
    }

    /// As [`Self::connect`], with how long a query may wait for a connection: while the
    /// database is down, each query fails after this long (the server answers 503).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn connect_waiting(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
        master: MasterKey,
    ) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(max_connections.max(1))
            .min_connections(1)
            .connect_timeout(acquire_timeout)
            .acquire_timeout(acquire_timeout)
            .sqlx_logging(false);
        if url.starts_with("sqlite:") {
            // WAL lets readers go on while one writer writes. A bulk import's transaction
            // (5,000 subjects) dirties a few thousand pages of randomly-keyed e-mail index: the
            // page cache (32 MiB, allocated as used, per connection; SQLite's default is 2 MiB)
            // holds them instead of spilling them into the WAL mid-transaction, and the WAL is
            // checkpointed every 16,384 pages (64 MiB) rather than after every such commit.
            // Durability: `synchronous` is FULL, each commit is on disk when it returns.
            // A SQLite connection is an open file, not a socket that a server restart breaks:
            // checking it before each use (a round trip to its worker thread) finds nothing.
            options.test_before_acquire(false);
            options.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("wal_autocheckpoint", "16384")
                    .pragma("cache_size", "-32768")
            });
        }
        let db = Database::connect(options).await.map_err(unavailable)?;
        let mut store = Self {
            db,
            master: Arc::new(master),
            lost_races: Arc::default(),
            audit_heads: Arc::default(),
            group: None,
            grouped: Arc::default(),
            announces: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        store.group = Some(group::Queues::spawn(&store));
        Ok(store)
    }

    /// Applies every pending migration, then fills in what one added empty and only the rows
    /// themselves can tell (whether each request is open).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await.map_err(unavailable)?;
        self.fill_open_flags().await.map(drop)
    }

    /// A read-only transaction that sees one snapshot of the database: REPEATABLE READ on
    /// PostgreSQL; on SQLite (WAL) a read transaction sees one snapshot from its first read on.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub(crate) async fn snapshot(&self) -> Result<sea_orm::DatabaseTransaction, StoreError> {
        use sea_orm::{AccessMode, IsolationLevel, TransactionTrait as _};
        match self.backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
            _ => self.db.begin().await,
        }
        .map_err(unavailable)
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(unavailable)
    }

    /// The backend in use.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The pool's use: connections open, idle, and the most it may open.
    #[must_use]
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let (size, idle, max) = match self.backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        (size, u32::try_from(idle).unwrap_or(u32::MAX), max)
    }

    /// The connection pool, for the adapter's own tests and benchmarks.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(unavailable)
    }
}

impl SeaOrmStore {
    /// A transaction that will write. On SQLite it takes the write lock at `BEGIN IMMEDIATE`,
    /// so that a transaction that reads before it writes waits for other writers instead of
    /// failing when one commits in between.
    pub(crate) async fn write_txn(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }
}

/// How many times a write is retried when a concurrent writer took the audit chain's next
/// position (a unique violation that rolled the whole transaction back). On PostgreSQL the
/// chain locks ([`audit::lock_chains`]) make such a race impossible between well-behaved
/// writers; on SQLite write transactions are serialised. This is the safety net.
pub(crate) const RACE_RETRIES: usize = 20;

impl SeaOrmStore {
    /// Runs `attempt` again while it fails with `is_race`, at most [`RACE_RETRIES`] more
    /// times, counting each lost race.
    pub(crate) async fn retrying<T, E, F, Fut>(
        &self,
        mut attempt: F,
        is_race: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        for _ in 0..RACE_RETRIES {
            match attempt().await {
                Err(e) if is_race(&e) => {
                    self.lost_races
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                other => return other,
            }
        }
        attempt().await
    }

    /// How many writes ran again since the pool opened after a unique violation that a
    /// concurrent writer caused (the audit chain's next position taken first): zero when the
    /// chain locks work, which the adapter's concurrency tests check.
    #[must_use]
    pub fn lost_races(&self) -> u64 {
        self.lost_races.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many single-subject creates were committed in a group of more than one since the
    /// pool opened (see the `group` module): what group commit saved.
    #[must_use]
    pub fn grouped_creates(&self) -> u64 {
        self.grouped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Maps a database error: uniqueness to [`StoreError::Conflict`] with the rule named, the rest
/// to [`StoreError::Unavailable`]. Database messages can quote values, so they are kept as the
/// error's source (for operators' logs) and never in the message.
pub(crate) fn db_err(rule: &'static str) -> impl Fn(DbErr) -> StoreError {
    move |e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(rule),
        _ => unavailable(e),
    }
}

pub(crate) fn unavailable(e: DbErr) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A write that refers to a row that is gone (a subject erased a moment ago) is "not found".
pub(crate) fn missing_parent(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::NotFound,
        _ => unavailable(e),
    }
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// Unix nanoseconds: exact on both backends, sortable.
pub(crate) fn nanos(t: OffsetDateTime) -> i64 {
    // Outside 1677..2262, clamped toward the side it is on: a bound of "year 1" stays a
    // bound before every stored time.
    let n = t.unix_timestamp_nanos();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_nanos(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Replaces the JSON body of the tenant's row `id` in entity `E`; `NotFound` when the tenant
/// has no such row (another tenant's id included).
pub(crate) async fn replace_body<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    [body, id_column, tenant_column]: [E::Column; 3],
    id: uuid::Uuid,
    tenant: uuid::Uuid,
    json: String,
) -> Result<(), StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let update = E::update_many()
        .col_expr(body, sea_orm::sea_query::Expr::value(json))
        .filter(id_column.eq(id))
        .filter(tenant_column.eq(tenant));
    update_found(db, update).await
}

/// Runs `update`; `NotFound` when it matched no row.
pub(crate) async fn update_found<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    update: sea_orm::UpdateMany<E>,
) -> Result<(), StoreError> {
    let result = update.exec(db).await.map_err(unavailable)?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| unreachable!("domain types serialise"))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

pub(crate) fn limit(page: gdpr_ports::Page) -> (u64, u64) {
    (page.offset, u64::from(page.limit))
}

/// Rows past `page`'s cursor in the order (`at`, `id`): a range on the index that orders the
/// list, so a deep page is one seek. No cursor: every row.
pub(crate) fn after_cursor(
    page: gdpr_ports::Page,
    at: impl sea_orm::ColumnTrait,
    id: impl sea_orm::ColumnTrait,
) -> sea_orm::Condition {
    use sea_orm::Condition;
    // `at >= x AND (at > x OR id > y)`: the same rows as `at > x OR (at = x AND id > y)`,
    // with a range the planners take to the index (the OR alone read every row before the
    // page: 90 ms on SQLite, 180 ms on PostgreSQL, a million subjects deep).
    page.after.map_or_else(Condition::all, |c| {
        Condition::all()
            .add(at.gte(nanos(c.at)))
            .add(Condition::any().add(at.gt(nanos(c.at))).add(id.gt(c.id)))
    })
}
