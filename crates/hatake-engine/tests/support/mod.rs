//! What the engine's integration tests share: running one scenario on both backends, and a
//! clock that moves on every reading.

use std::sync::atomic::{AtomicI64, Ordering};

/// Turns `async fn scenario(store: &dyn Store)` into the tests `$sqlite` (a fresh data
/// directory) and `$postgres` (a fresh database on the shared throwaway cluster).
macro_rules! both {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open SQLite");
            $scenario(&store).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
            $scenario(&store).await;
        }
    };
}

static CLOCK: AtomicI64 = AtomicI64::new(1_790_000_000_000);

/// A clock that moves one millisecond per reading, so "changed after the import" is visible.
pub fn now() -> i64 {
    CLOCK.fetch_add(1, Ordering::SeqCst)
}
