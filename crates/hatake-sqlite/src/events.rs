//! The event log on SQLite: appends on a connection of their own, and timelines read from a
//! lead index split into partitions of consecutive ids.
//!
//! **Why partitions.** A B-tree ordered by lead takes each new event at a random place: with
//! events spread over a million leads, every commit dirties about one index page per event
//! (8 KiB written to the log for a row of a hundred bytes), and at ten million events that
//! held appends to about 50,000 rows/s however large the transactions. The lead index is
//! therefore ordered by `bucket` first: the events of 2^[`BUCKET_SHIFT`] consecutive ids share a
//! bucket, so appends only ever touch the newest bucket's part of the index, which stays small
//! and in the cache. A lead's timeline reads each bucket's newest rows for the lead
//! ([`lead_timeline_sql`]: one ordered index range per bucket, merged), and lookups by lead
//! alone (the cascade when a lead is deleted, a merge moving events) skip through the buckets:
//! the planner is told that each bucket holds many rows (`sqlite_stat1`, migration 10, kept by
//! [`keep_planner_statistics`]).
//!
//! **Why a connection of its own.** Appends are many small rows: prepared statements on a
//! rusqlite connection cost a fraction of a round trip through the pool's worker thread per
//! statement. It checks the rows its events refer to itself, inside the write (no lead or
//! product can go meanwhile), instead of SQLite's foreign keys: it looks each lead up anyway,
//! and the check would look it up again (a tenth of an append).

use crate::bulk::error;
use hatake_store::{Appended, EventLead, Millis, PendingEvent, Resolved, StoreError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sqlx::SqliteConnection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Ids per bucket of the lead index, as a shift: 2^18 = 262,144 events. Smaller buckets make
/// each commit dirty fewer index pages; more of them make a timeline read more ranges (39 at
/// ten million events). Migration 10 uses the same number.
pub(crate) const BUCKET_SHIFT: u32 = 18;

/// What the planner is told about the lead index (`sqlite_stat1`): ten million rows, a whole
/// bucket per bucket value, a handful per lead in a bucket. With it, a lookup by lead alone
/// skips through the buckets instead of scanning the table.
const LEAD_INDEX_STAT: &str = "10000000 262144 4 1";

/// Log pages after which a commit of this connection copies the log back into the database
/// itself (512 MB with 8 KiB pages). The checkpointing thread (`checkpoint.rs`) copies it
/// while it grows, but while events keep arriving its passes never catch up with the last
/// commit, so the log is never started again from its beginning: this bounds it. The commit
/// that does it waits for the copy and the disk (100–200 ms at 10,000 tracking hits per second
/// on the benchmark machine, every few seconds); hits do not wait that long
/// (`hatake-web`'s `tracking::HIT_WAIT`), API requests do.
const CHECKPOINT_PAGES: i64 = 65_536;

/// The event-append connection, opened on first use and shared by clones of the store.
#[derive(Clone)]
pub(crate) struct EventWriter {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
    /// Turns at writing shared with the bulk writer (`turns.rs`).
    turns: crate::turns::WriteTurns,
}

impl EventWriter {
    pub(crate) fn new(path: &Path, turns: crate::turns::WriteTurns) -> Self {
        Self { path: path.to_owned(), conn: Arc::new(Mutex::new(None)), turns }
    }

    /// Finds the events' leads and appends them in one transaction on a blocking thread; see
    /// [`hatake_store::EventStore::append_resolving`].
    pub(crate) async fn append(&self, events: Vec<PendingEvent>, now: Millis) -> Result<Vec<Resolved>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while writing leaves the transaction rolled back: the connection is fine.
            let mut guard = this.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(open(&this.path)?);
            }
            let _turn = this.turns.take();
            append(guard.as_mut().expect("opened above"), &events, now)
        })
        .await
        .map_err(|e| StoreError::Database(format!("event writer stopped: {e}")))?
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -262144; PRAGMA mmap_size = 4294967296; PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
    ))
    .map_err(error)?;
    Ok(conn)
}

/// The bucket of the events a transaction appends: that of the next id.
fn next_bucket(conn: &Connection) -> Result<i64, StoreError> {
    let max: i64 = conn.query_row("SELECT ifnull(max(id), 0) FROM events", [], |row| row.get(0)).map_err(error)?;
    Ok((max + 1) >> BUCKET_SHIFT)
}

/// Finds the events' leads and appends them in one transaction, committed when this returns.
/// The leads are looked up inside the write (no lead can go meanwhile), on this connection's
/// warm cache — connections that did not write start each read with a cold one while events
/// arrive. One prepared insert per event: an insert of one row needs no statement journal, and
/// its id comes back at once.
pub(crate) fn append(conn: &mut Connection, events: &[PendingEvent], now: Millis) -> Result<Vec<Resolved>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let bucket = next_bucket(&tx)?;
    let mut fates = Vec::with_capacity(events.len());
    // Products are few: all of them, for this write.
    let products: std::collections::HashSet<i64> = {
        let mut statement = tx.prepare_cached("SELECT id FROM products").map_err(error)?;
        let ids = statement.query_map([], |row| row.get::<_, i64>(0)).map_err(error)?;
        ids.collect::<Result<_, _>>().map_err(error)?
    };
    {
        let mut lead_by_id = tx.prepare_cached("SELECT id FROM leads WHERE id = ?1").map_err(error)?;
        let mut lead_by_email = tx.prepare_cached("SELECT id FROM leads WHERE email = ?1").map_err(error)?;
        // The key's unique index is partial: the conflict target names its predicate.
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (kind, lead_id, visitor_id, product_id, occurred_at, received_at, source, name, \
                 properties, idempotency_key, bucket) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
            )
            .map_err(error)?;
        let mut taken = tx.prepare_cached("SELECT id FROM events WHERE idempotency_key = ?1").map_err(error)?;
        let mut link = tx
            .prepare_cached(
                "INSERT INTO visitor_leads (visitor_id, lead_id, linked_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (visitor_id) DO NOTHING",
            )
            .map_err(error)?;
        for PendingEvent { lead, event } in events {
            let lead_id = match lead {
                // Looked up already by the caller: still there? (What the foreign key checked.)
                EventLead::None => match event.lead_id {
                    Some(id) => {
                        if lead_by_id.query_row([id], |row| row.get::<_, i64>(0)).optional().map_err(error)?.is_none() {
                            return Err(StoreError::MissingReference { field: "lead_id" });
                        }
                        Some(id)
                    }
                    None => None,
                },
                EventLead::Id(id) => {
                    match lead_by_id.query_row([id], |row| row.get::<_, i64>(0)).optional().map_err(error)? {
                        Some(id) => Some(id),
                        None => {
                            fates.push(Resolved::UnknownLead);
                            continue;
                        }
                    }
                }
                EventLead::Email(email) => {
                    match lead_by_email.query_row([email], |row| row.get::<_, i64>(0)).optional().map_err(error)? {
                        Some(id) => Some(id),
                        None => {
                            fates.push(Resolved::UnknownEmail);
                            continue;
                        }
                    }
                }
            };
            let inserted = insert
                .execute(params![
                    event.kind,
                    lead_id,
                    event.visitor_id,
                    // A product deleted since it was checked: as if deleted just after (the
                    // key's ON DELETE SET NULL).
                    event.product_id.filter(|p| products.contains(p)),
                    event.occurred_at,
                    now,
                    event.source,
                    event.name,
                    event.properties,
                    event.idempotency_key,
                    bucket,
                ])
                .map_err(error)?;
            let fate = if inserted == 1 {
                Appended::Created(tx.last_insert_rowid())
            } else {
                let id: i64 = taken.query_row([&event.idempotency_key], |row| row.get(0)).map_err(error)?;
                Appended::Duplicate(id)
            };
            if let (Some(lead), Some(visitor), Appended::Created(_)) = (lead_id, &event.visitor_id, fate) {
                link.execute(params![visitor, lead, now]).map_err(error)?;
            }
            fates.push(Resolved::Appended(fate));
        }
    }
    tx.commit().map_err(error)?;
    Ok(fates)
}

/// The newest bucket that holds events (0 for none), from the largest id.
pub(crate) fn last_bucket_sql() -> String {
    format!("SELECT ifnull(max(id), 0) >> {BUCKET_SHIFT} FROM events")
}

/// A lead's timeline with buckets `0..=last`: one range of the lead index per bucket — each in
/// the timeline's order already, so SQLite merges them and reads no further than the page
/// needs — then the lead's events in buckets begun after `last` was read, and the anonymous
/// events of the visitors linked to it (each of these two sorted on its own). Binds `$1` (the
/// lead) and `$2`…`$6` as [`hatake_store::EVENT_QUERY_FILTER`] and the limit.
pub(crate) fn lead_timeline_sql(last: i64) -> String {
    let columns = hatake_store::EVENT_COLUMNS;
    let filter = hatake_store::EVENT_QUERY_FILTER;
    let order = hatake_store::EVENT_ORDER;
    let last = last.max(0);
    let mut arms: Vec<String> = (0..=last)
        .map(|b| format!("SELECT {columns} FROM events WHERE bucket = {b} AND lead_id = $1 AND {filter}"))
        .collect();
    // Usually empty: one seek.
    arms.push(format!(
        "SELECT * FROM (SELECT {columns} FROM events WHERE bucket > {last} AND lead_id = $1 AND {filter} {order} LIMIT $6)"
    ));
    arms.push(format!(
        "SELECT * FROM (SELECT {columns} FROM events WHERE lead_id IS NULL AND visitor_id IN \
         (SELECT visitor_id FROM visitor_leads WHERE lead_id = $1) AND {filter} {order} LIMIT $6)"
    ));
    format!("{} {order} LIMIT $6", arms.join(" UNION ALL "))
}

/// An account's timeline: the events of its people (every bucket: `bucket IN` the numbers up
/// to the newest), and the anonymous events of the visitors linked to them, newest first.
pub(crate) fn account_timeline_sql() -> String {
    format!(
        "WITH RECURSIVE buckets(n) AS (VALUES (0) UNION ALL SELECT n + 1 FROM buckets \
         WHERE n < (SELECT ifnull(max(id), 0) >> {BUCKET_SHIFT} FROM events)) \
         SELECT * FROM (SELECT {columns} FROM events WHERE bucket IN (SELECT n FROM buckets) \
         AND lead_id IN (SELECT id FROM leads WHERE account_id = $1) AND {filter} {order} LIMIT $6) \
         UNION ALL SELECT * FROM (SELECT {columns} FROM events WHERE lead_id IS NULL AND visitor_id IN \
         (SELECT v.visitor_id FROM visitor_leads v JOIN leads l ON l.id = v.lead_id WHERE l.account_id = $1) \
         AND {filter} {order} LIMIT $6) {order} LIMIT $6",
        columns = hatake_store::EVENT_COLUMNS,
        filter = hatake_store::EVENT_QUERY_FILTER,
        order = hatake_store::EVENT_ORDER
    )
}

/// Keeps the planner's picture of the lead index (see the module's notes): when the statistics
/// say a bucket holds few rows — none were written yet, or `ANALYZE` ran while the log was
/// nearly empty — a lookup by lead alone would scan the whole table once it has grown. Writes
/// them then (a read only, otherwise), and makes this connection read them again.
pub(crate) async fn keep_planner_statistics(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let has_table: bool =
        sqlx::query_scalar("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'")
            .fetch_one(&mut *conn)
            .await
            .map_err(crate::db_error)?;
    if has_table {
        let per_bucket: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(substr(stat, instr(stat, ' ') + 1) AS INTEGER) FROM sqlite_stat1 \
             WHERE tbl = 'events' AND idx = 'events_lead'",
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(crate::db_error)?;
        if per_bucket.is_some_and(|n| n >= 1_000) {
            return Ok(());
        }
    }
    sqlx::raw_sql(&format!(
        "BEGIN IMMEDIATE; ANALYZE sqlite_schema; \
         DELETE FROM sqlite_stat1 WHERE tbl = 'events' AND idx = 'events_lead'; \
         INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', 'events_lead', '{LEAD_INDEX_STAT}'); \
         COMMIT; ANALYZE sqlite_schema;"
    ))
    .execute(&mut *conn)
    .await
    .map_err(crate::db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_store::{EventQuery, EventStore, LeadStore, NewEvent};

    fn event(lead: Option<i64>, visitor: Option<&str>, at: i64, key: Option<&str>) -> NewEvent {
        NewEvent {
            kind: "page_view",
            lead_id: lead,
            visitor_id: visitor.map(str::to_owned),
            product_id: None,
            occurred_at: at,
            source: None,
            name: None,
            properties: "{}".into(),
            idempotency_key: key.map(str::to_owned),
        }
    }

    /// A lead's events in several buckets: appended to the bucket of their ids, read back
    /// newest first across buckets (and page by page), a key taken in an earlier bucket is
    /// still a duplicate, lookups by lead alone use the index, and a deleted lead takes its
    /// events in every bucket with it.
    #[test]
    fn a_leads_events_span_buckets() {
        let dir = std::env::temp_dir().join(format!("hatake-event-buckets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            let lead = |name: &str| hatake_domain::LeadInput { family_name: Some(name.into()), ..Default::default() };
            let taro = store.create_lead(&lead("山田").validate(&[]).unwrap(), false, 1).await.unwrap().id;
            let jiro = store.create_lead(&lead("佐藤").validate(&[]).unwrap(), false, 1).await.unwrap().id;
            let first = store
                .append_events(
                    &[
                        event(Some(taro), Some("browser-1"), 10, Some("k1")),
                        event(None, Some("browser-1"), 5, None),
                        event(Some(jiro), None, 30, None),
                    ],
                    100,
                )
                .await
                .unwrap();
            let hatake_store::Appended::Created(k1) = first[0] else { panic!("{first:?}") };
            // Jump to the third bucket's ids, as after half a million events.
            sqlx::query(
                "INSERT INTO events (id, kind, visitor_id, occurred_at, received_at) VALUES ($1, 'x', 'v', 1, 1)",
            )
            .bind((2 << BUCKET_SHIFT) + 7)
            .execute(&store.pool)
            .await
            .unwrap();
            let second = store
                .append_events(
                    &[
                        event(Some(taro), None, 20, None),
                        event(Some(taro), None, 1, None),
                        event(Some(taro), None, 40, Some("k1")),
                    ],
                    200,
                )
                .await
                .unwrap();
            assert_eq!(second[2], hatake_store::Appended::Duplicate(k1), "the key was taken in bucket 0");
            let buckets: Vec<(i64, i64)> =
                sqlx::query_as("SELECT bucket, count(*) FROM events WHERE lead_id = $1 GROUP BY bucket")
                    .bind(taro)
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            assert_eq!(buckets, [(0, 1), (2, 2)]);

            let all = EventQuery { limit: 10, ..EventQuery::default() };
            let times = |rows: Vec<hatake_store::EventRow>| rows.into_iter().map(|e| e.occurred_at).collect::<Vec<_>>();
            // The linked browser's anonymous view (at 5) is on the lead's timeline too.
            assert_eq!(times(store.lead_events(taro, &all).await.unwrap()), [20, 10, 5, 1]);
            let two = EventQuery { limit: 2, ..EventQuery::default() };
            let page = store.lead_events(taro, &two).await.unwrap();
            assert_eq!(times(page.clone()), [20, 10]);
            let next = EventQuery { before: Some((page[1].occurred_at, page[1].id)), ..two };
            assert_eq!(times(store.lead_events(taro, &next).await.unwrap()), [5, 1]);
            assert_eq!(times(store.lead_events(jiro, &all).await.unwrap()), [30]);

            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as("EXPLAIN QUERY PLAN DELETE FROM events WHERE lead_id = $1")
                    .bind(taro)
                    .fetch_all(&store.pool)
                    .await
                    .unwrap();
            let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
            assert!(plan.iter().any(|p| p.contains("events_lead") && p.contains("ANY(bucket)")), "{plan:?}");

            store.delete_lead(taro).await.unwrap();
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE lead_id = $1")
                .bind(taro)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(left, 0);
            assert_eq!(times(store.lead_events(jiro, &all).await.unwrap()), [30]);
            store.close().await;
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Statistics that would make a lookup by lead scan the table are replaced when the store
    /// opens; sound ones are kept.
    #[test]
    fn the_planner_keeps_seeing_many_rows_per_bucket() {
        let dir = std::env::temp_dir().join(format!("hatake-event-stats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let stat = |store: crate::SqliteStore| async move {
                let stat: String =
                    sqlx::query_scalar("SELECT stat FROM sqlite_stat1 WHERE tbl = 'events' AND idx = 'events_lead'")
                        .fetch_one(&store.pool)
                        .await
                        .unwrap();
                store.close().await;
                stat
            };
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            assert_eq!(stat(store.clone()).await, LEAD_INDEX_STAT);
            // ANALYZE of an empty log, then a restart.
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            sqlx::query("ANALYZE").execute(&store.pool).await.unwrap();
            sqlx::query("UPDATE sqlite_stat1 SET stat = '3 3 1 1' WHERE idx = 'events_lead'")
                .execute(&store.pool)
                .await
                .unwrap();
            store.close().await;
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            assert_eq!(stat(store).await, LEAD_INDEX_STAT);
            // The store's own ANALYZE keeps them too.
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            hatake_store::SystemStore::analyze(&store).await.unwrap();
            assert_eq!(stat(store).await, LEAD_INDEX_STAT);
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            sqlx::query("UPDATE sqlite_stat1 SET stat = '900000 300000 2 1' WHERE idx = 'events_lead'")
                .execute(&store.pool)
                .await
                .unwrap();
            store.close().await;
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            assert_eq!(stat(store).await, "900000 300000 2 1");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_timeline_reads_every_bucket_and_those_begun_since() {
        let sql = lead_timeline_sql(2);
        assert_eq!(sql.matches("bucket = ").count(), 3);
        assert!(sql.contains("bucket > 2"));
        // The migration that made the buckets, and the statistics, use the same size.
        let migration = include_str!("../migrations/0010_events_speed.sql");
        assert!(migration.contains(&format!("UPDATE events SET bucket = id >> {BUCKET_SHIFT};")));
        assert_eq!(LEAD_INDEX_STAT.split(' ').nth(1), Some((1_i64 << BUCKET_SHIFT).to_string().as_str()));
    }
}
