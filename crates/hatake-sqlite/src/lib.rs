//! hatake's embedded default: SQLite in WAL mode under a data directory, with its own
//! migrations in `migrations/`. The SQL shared with PostgreSQL lives in `hatake-store`;
//! this crate adds the connection set-up, migrations, and the FTS5 search index.

mod bulk;
mod checkpoint;
mod events;
mod migrate;
mod outbox;
mod scoring;
mod turns;

use hatake_store::sql::Dialect;
use hatake_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file name of the database inside a data directory.
pub const DATABASE_FILE: &str = "hatake.db";

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    bulk: bulk::BulkWriter,
    events: events::EventWriter,
    /// The outbox's writes (a sender's group commits), on a connection of their own.
    outbox: bulk::BulkWriter,
    /// Scoring's reads of many rows (`scoring.rs`).
    scoring_reader: bulk::BulkWriter,
    checkpoints: std::sync::Arc<checkpoint::Checkpointer>,
}

impl SqliteStore {
    const DIALECT: Dialect = Dialect::Sqlite;
    /// The lead index of the event log leads with the id's bucket (`events.rs`): a read by lead
    /// names the buckets (see `hatake_store::impl_segment_store!`).
    const LEAD_BUCKET_SHIFT: Option<u32> = Some(events::BUCKET_SHIFT);

    /// Opens (creating if needed) the database in `data_dir` and runs pending migrations.
    ///
    /// # Errors
    /// When the directory cannot be created or the database cannot be opened or migrated.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Each connection has its own page cache; the memory map is shared through the OS, so
            // map generously and keep the per-connection caches modest. 64 MiB holds the index
            // pages a bulk write of 25,000 leads dirties (a 16 MiB cache spilled them mid-write).
            // For a new database only (an existing one keeps its size): B-trees of half the
            // depth and pages, and a 1M-row import about a tenth faster than with 4 KiB pages.
            .page_size(8192)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            .pragma("mmap_size", "4294967296");
        // Switching a new database to WAL needs an exclusive lock, and SQLite answers "database
        // is locked" at once (without waiting out the busy timeout) when another process is
        // creating the same database: try again for a while.
        let mut attempt = 0u64;
        let pool = loop {
            let result =
                SqlitePoolOptions::new().max_connections(8).min_connections(1).connect_with(options.clone()).await;
            match result {
                Err(sqlx::Error::Database(e)) if attempt < 100 && e.message().contains("database is locked") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 + 10 * attempt.min(10))).await;
                }
                other => break other.map_err(db_error)?,
            }
        };
        migrate::run(&pool).await?;
        events::keep_planner_statistics(&mut *pool.acquire().await.map_err(db_error)?).await?;
        let turns = turns::WriteTurns::default();
        let bulk = bulk::BulkWriter::new(&path, Some(turns.clone()));
        // An import that stopped with its process left the search index's merging off.
        bulk.run(|conn| bulk::restore_search_automerge(conn)).await?;
        let checkpoints = std::sync::Arc::new(checkpoint::Checkpointer::start(&path));
        let outbox = bulk::BulkWriter::new(&path, Some(turns.clone()));
        let events = events::EventWriter::new(&path, turns);
        let scoring_reader = bulk::BulkWriter::new(&path, None);
        Ok(Self { pool, path, bulk, events, outbox, scoring_reader, checkpoints })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Migrations applied so far, as (version, name).
    ///
    /// # Errors
    /// On a database error.
    pub async fn applied_migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        migrate::applied(&self.pool).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_plan(
        &self,
        plan: &hatake_store::ResolutionPlan,
        import_id: Option<i64>,
        now: hatake_store::Millis,
    ) -> Result<Vec<i64>, StoreError> {
        let mut plan = plan.clone();
        self.bulk.run(move |conn| bulk::write(conn, &mut plan, import_id, now, None)).await
    }

    async fn write_finish_import(
        &self,
        id: i64,
        counts: &hatake_store::ImportCounts,
        status: &str,
        error: Option<&str>,
        now: hatake_store::Millis,
    ) -> Result<(), StoreError> {
        let (counts, status, error) = (*counts, status.to_owned(), error.map(str::to_owned));
        self.bulk.run(move |conn| bulk::finish_import(conn, id, &counts, &status, error.as_deref(), now)).await?;
        // The import's writes are committed; the log they left is copied into the database
        // behind the scenes instead of in the next committer's time.
        self.checkpoints.now();
        Ok(())
    }

    async fn write_import_batch(&self, batch: hatake_store::ImportBatch) -> Result<Vec<i64>, StoreError> {
        self.bulk
            .run(move |conn| {
                let mut batch = batch;
                let extras =
                    bulk::BatchExtras { import_id: batch.import_id, rejects: &batch.rejects, counts: &batch.counts };
                bulk::write(conn, &mut batch.plan, Some(batch.import_id), batch.now, Some(extras))
            })
            .await
    }

    /// Rows of `sql` whose `IN ({})` is given the values as one JSON array: SQLite looks each
    /// `$n` up by a linear scan, so a statement of hundreds of binds costs quadratic time.
    async fn rows_in<V, R>(&self, sql: &str, values: &[V]) -> Result<Vec<R>, StoreError>
    where
        V: Clone + Into<serde_json::Value>,
        R: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::Value::Array(values.iter().cloned().map(Into::into).collect()).to_string();
        let sql = sql.replace("{}", "SELECT value FROM json_each($1)");
        sqlx::query_as::<Sqlite, R>(&sql).bind(list).fetch_all(&self.pool).await.map_err(db_error)
    }

    async fn append_event_rows(
        &self,
        events: &[hatake_store::NewEvent],
        now: hatake_store::Millis,
    ) -> Result<Vec<hatake_store::Appended>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let pending = events
            .iter()
            .map(|event| hatake_store::PendingEvent { lead: hatake_store::EventLead::None, event: event.clone() })
            .collect();
        let fates = self.events.append(pending, now).await?;
        fates
            .into_iter()
            .map(|fate| match fate {
                hatake_store::Resolved::Appended(appended) => Ok(appended),
                other => Err(StoreError::Database(format!("an event's lead was not looked up: {other:?}"))),
            })
            .collect()
    }

    async fn append_resolving_rows(
        &self,
        events: &[hatake_store::PendingEvent],
        now: hatake_store::Millis,
    ) -> Result<Vec<hatake_store::Resolved>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.events.append(events.to_vec(), now).await
    }

    async fn lead_event_rows(
        &self,
        lead_id: i64,
        query: &hatake_store::EventQuery,
    ) -> Result<Vec<hatake_store::EventRow>, StoreError> {
        let last: i64 = sqlx::query_scalar(&events::last_bucket_sql()).fetch_one(&self.pool).await.map_err(db_error)?;
        self.event_rows(&events::lead_timeline_sql(last), lead_id, query).await
    }

    async fn account_event_rows(
        &self,
        account_id: i64,
        query: &hatake_store::EventQuery,
    ) -> Result<Vec<hatake_store::EventRow>, StoreError> {
        self.event_rows(&events::account_timeline_sql(), account_id, query).await
    }

    async fn index_leads(conn: &mut SqliteConnection, docs: &[(i64, String)]) -> Result<(), StoreError> {
        // One statement for the lot: FTS5 flushes its pending terms to disk at every statement,
        // so many small inserts leave many small segments to merge.
        if docs.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = docs.iter().map(|(id, doc)| serde_json::json!([id, doc])).collect();
        sqlx::query::<Sqlite>(
            "INSERT INTO lead_search (rowid, doc) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             FROM json_each($1)",
        )
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn unindex_leads(conn: &mut SqliteConnection, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query::<Sqlite>("DELETE FROM lead_search WHERE rowid IN (SELECT value FROM json_each($1))")
            .bind(serde_json::Value::from(ids.to_vec()).to_string())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn unindex_lead(conn: &mut SqliteConnection, id: i64) -> Result<(), StoreError> {
        sqlx::query::<Sqlite>("DELETE FROM lead_search WHERE rowid = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

/// See [`hatake_store::sql::store_error`].
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    hatake_store::sql::store_error(error, "sqlite")
}

hatake_store::impl_user_and_catalog_stores!(SqliteStore, Sqlite);
hatake_store::impl_account_and_lead_stores!(SqliteStore, Sqlite);
hatake_store::impl_resolution_store!(SqliteStore, Sqlite);
hatake_store::impl_import_store!(SqliteStore, Sqlite);
hatake_store::impl_event_store!(SqliteStore, Sqlite);
hatake_store::impl_form_store!(SqliteStore, Sqlite);
hatake_store::impl_booking_store!(SqliteStore, Sqlite);
hatake_store::impl_scoring_store!(SqliteStore, Sqlite);
hatake_store::impl_lifecycle_store!(SqliteStore, Sqlite);
hatake_store::impl_outbox_store!(SqliteStore, Sqlite);

impl SqliteStore {
    /// The outbox's group commit on its own connection (`outbox.rs`).
    async fn write_outbox_rows(
        &self,
        holder: &str,
        hand_overs: &[(i64, String)],
        outcomes: &[(i64, hatake_store::OutboxOutcome)],
        now: hatake_store::Millis,
        then: Option<hatake_store::AfterCommit>,
    ) -> Result<hatake_store::OutboxWritten, StoreError> {
        let (holder, hand_overs, outcomes) = (holder.to_owned(), hand_overs.to_vec(), outcomes.to_vec());
        self.outbox
            .run(move |conn| {
                let written = outbox::write(conn, &holder, &hand_overs, &outcomes, now)?;
                // On this thread, right after the commit: no hop to another task in between.
                if let Some(then) = then {
                    then(&written);
                }
                Ok(written)
            })
            .await
    }
}
hatake_store::impl_subscription_store!(SqliteStore, Sqlite);
hatake_store::impl_mail_template_store!(SqliteStore, Sqlite);
hatake_store::impl_segment_store!(SqliteStore, Sqlite);
hatake_store::impl_newsletter_store!(SqliteStore, Sqlite);
hatake_store::impl_task_store!(SqliteStore, Sqlite);
hatake_store::impl_hearing_store!(SqliteStore, Sqlite);
hatake_store::impl_routing_store!(SqliteStore, Sqlite);
hatake_store::impl_alert_store!(SqliteStore, Sqlite);
// After `ANALYZE`, the lead index of the event log must still look like many rows per bucket
// (see `events.rs`): statistics of a nearly empty log are replaced.
hatake_store::impl_system_store!(
    SqliteStore,
    Sqlite,
    "sqlite",
    [
        "ANALYZE",
        "PRAGMA optimize",
        "DELETE FROM sqlite_stat1 WHERE tbl = 'events' AND idx = 'events_lead' \
         AND CAST(substr(stat, instr(stat, ' ') + 1) AS INTEGER) < 1000",
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) SELECT 'events', 'events_lead', '10000000 262144 4 1' \
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 WHERE tbl = 'events' AND idx = 'events_lead')",
        "ANALYZE sqlite_schema"
    ]
);
