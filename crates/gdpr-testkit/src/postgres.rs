//! Throwaway PostgreSQL databases for the tests and benchmarks that need the real server: the
//! one at `GDPR_TEST_POSTGRES_URL` (the CI machines run one at 127.0.0.1:5432).
//!
//! Without that variable a test suite says loudly that its PostgreSQL half was skipped, except
//! under `CI=true`, where a missing PostgreSQL fails the test: CI must run both halves.

use std::sync::Once;

use sea_orm::{ConnectionTrait, Database};

static SKIP_NOTICE: Once = Once::new();

/// The test PostgreSQL server's URL, or `None` after saying loudly (once) that `suite`'s
/// PostgreSQL half is skipped.
///
/// # Panics
/// Under `CI=true` without `GDPR_TEST_POSTGRES_URL`.
#[must_use]
pub fn test_server(suite: &str) -> Option<String> {
    match std::env::var("GDPR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "GDPR_TEST_POSTGRES_URL is not set: CI must run the {suite} on PostgreSQL too"
            );
            SKIP_NOTICE.call_once(|| {
                eprintln!(
                    "\n*** SKIPPED: the {suite} on PostgreSQL (set GDPR_TEST_POSTGRES_URL, e.g. \
                     postgres://postgres@127.0.0.1:5432/postgres) ***\n"
                );
            });
            None
        }
    }
}

/// The URL of database `name` on the server of `server_url`.
#[must_use]
pub fn database_url(server_url: &str, name: &str) -> String {
    let base = server_url
        .rsplit_once('/')
        .map_or(server_url, |(base, _)| base);
    format!("{base}/{name}")
}

/// A new, empty database on a PostgreSQL server, dropped by [`Self::drop_database`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrowawayDatabase {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// The server's URL (a database to connect to for creating and dropping).
    pub server: String,
}

impl ThrowawayDatabase {
    /// Creates `<prefix>_<random>` on the server of `server_url`.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn create(server_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        run(server_url, &format!("CREATE DATABASE {name}")).await;
        Self {
            url: database_url(server_url, &name),
            name,
            server: server_url.to_owned(),
        }
    }

    /// A new database on the test server, or `None` (said loudly) without one.
    pub async fn on_test_server(suite: &str, prefix: &str) -> Option<Self> {
        Some(Self::create(&test_server(suite)?, prefix).await)
    }

    /// Drops the database and creates it again, empty: the database lost, for
    /// disaster-recovery drills.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn recreate_empty(&self) {
        run(
            &self.server,
            &format!("DROP DATABASE {} WITH (FORCE)", self.name),
        )
        .await;
        run(&self.server, &format!("CREATE DATABASE {}", self.name)).await;
    }

    /// Drops the database, whoever is still connected to it.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn drop_database(self) {
        run(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

async fn run(server_url: &str, sql: &str) {
    let admin = Database::connect(server_url)
        .await
        .expect("the test PostgreSQL server is reachable");
    admin.execute_unprepared(sql).await.expect(sql);
    admin.close().await.expect("the connection closes");
}
