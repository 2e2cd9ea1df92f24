//! Invalidations of the replicas' in-process caches ([`gdpr_ports::CacheBus`]), and their
//! watcher.
//!
//! - PostgreSQL: `pg_notify('gdpr_cache', message)` after the change was committed; every
//!   replica (the sender too) holds a `LISTEN` connection taken from its pool. A lost
//!   connection is reported down at once and listened to again, then reported up: the cache
//!   answers from the database in between and starts again empty.
//! - SQLite: one process serves; an operator command run from another process bumps the
//!   `cache_epoch` counter, which the server polls ([`POLL`]) and answers by forgetting
//!   everything. The server's own changes do not bump it: its cache forgets them itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gdpr_ports::{CacheBus, CacheSignal, Invalidation, StoreError};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

use crate::{SeaOrmStore, unavailable};

/// The PostgreSQL channel.
pub const CHANNEL: &str = "gdpr_cache";

/// How often the SQLite counter is read: the bound on how late the server hears of an
/// operator command's change.
pub const POLL: Duration = Duration::from_millis(100);

/// How long the watcher waits before listening again after losing its connection (doubled
/// on each failure, up to [`MAX_RETRY`]).
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

#[async_trait]
impl CacheBus for SeaOrmStore {
    async fn publish(&self, what: Invalidation) -> Result<(), StoreError> {
        let statement = match self.backend() {
            DbBackend::Postgres => Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), what.to_string().into()],
            ),
            _ if self.announces.load(Ordering::Relaxed) => Statement::from_string(
                DbBackend::Sqlite,
                "UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1",
            ),
            _ => return Ok(()),
        };
        self.db
            .execute_raw(statement)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

/// The running watcher of a replica; stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
    /// The PostgreSQL backend of the `LISTEN` connection (0 while none).
    backend: Arc<AtomicI32>,
}

impl Watcher {
    /// The process id of the PostgreSQL backend listening now (none on SQLite or while
    /// reconnecting): for tests that cut it.
    #[must_use]
    pub fn backend_pid(&self) -> Option<i32> {
        Some(self.backend.load(Ordering::Relaxed)).filter(|pid| *pid != 0)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SeaOrmStore {
    /// Whether, on SQLite, changes bump the counter the server watches: on for every process
    /// but the server itself (an operator command must be heard; the server hears itself).
    /// PostgreSQL always notifies.
    pub fn announce_changes(&self, announce: bool) {
        self.announces.store(announce, Ordering::Relaxed);
    }

    /// Watches the other replicas' (and processes') invalidations, calling `on` with each,
    /// and with [`CacheSignal::Up`] / [`CacheSignal::Down`] as the watch starts and breaks.
    #[must_use]
    pub fn watch_invalidations(&self, on: impl Fn(CacheSignal) + Send + Sync + 'static) -> Watcher {
        self.watch_invalidations_retrying(FIRST_RETRY, on)
    }

    /// [`Self::watch_invalidations`], waiting `first_retry` (then doubling it) before
    /// listening again after a lost connection.
    #[must_use]
    pub fn watch_invalidations_retrying(
        &self,
        first_retry: Duration,
        on: impl Fn(CacheSignal) + Send + Sync + 'static,
    ) -> Watcher {
        let backend = Arc::new(AtomicI32::new(0));
        let task = match self.backend() {
            DbBackend::Postgres => tokio::spawn(listen(
                self.db.get_postgres_connection_pool().clone(),
                Arc::clone(&backend),
                first_retry,
                on,
            )),
            _ => tokio::spawn(poll(self.clone(), on)),
        };
        Watcher { task, backend }
    }
}

async fn listen(
    pool: sea_orm::sqlx::PgPool,
    backend: Arc<AtomicI32>,
    first_retry: Duration,
    on: impl Fn(CacheSignal) + Send + Sync,
) {
    let mut retry = first_retry;
    let up = AtomicBool::new(false);
    let down = || {
        backend.store(0, Ordering::Relaxed);
        if up.swap(false, Ordering::Relaxed) {
            on(CacheSignal::Down);
        }
    };
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await {
            // A lost connection returns at once, reported down, instead of being mended
            // silently with the messages sent meanwhile lost.
            listener.eager_reconnect(false);
            let pid: Result<i32, _> = sea_orm::sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut listener)
                .await;
            if let (Ok(pid), Ok(())) = (pid, listener.listen(CHANNEL).await) {
                backend.store(pid, Ordering::Relaxed);
                up.store(true, Ordering::Relaxed);
                on(CacheSignal::Up);
                retry = first_retry;
                while let Ok(Some(message)) = listener.try_recv().await {
                    on(CacheSignal::Invalidate(Invalidation::parse(
                        message.payload(),
                    )));
                }
            }
        }
        down();
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

async fn poll(store: SeaOrmStore, on: impl Fn(CacheSignal) + Send + Sync) {
    let read = Statement::from_string(
        DbBackend::Sqlite,
        "SELECT epoch FROM cache_epoch WHERE id = 1",
    );
    let mut last: Option<i64> = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let epoch = match store.db.query_one_raw(read.clone()).await {
            Ok(Some(row)) => row.try_get::<i64>("", "epoch").ok(),
            _ => None,
        };
        match (last, epoch) {
            (None, Some(_)) => on(CacheSignal::Up),
            (Some(_), None) => on(CacheSignal::Down),
            (Some(before), Some(now)) if before != now => {
                on(CacheSignal::Invalidate(Invalidation::Everything));
            }
            _ => {}
        }
        last = epoch;
    }
}
