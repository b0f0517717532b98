//! Scoring's bulk paths on SQLite: a full recomputation reads the whole event log and writes
//! every score, and a decay pass may update millions of rows. Through the pool, each row costs a
//! round trip to sqlx's worker thread and a value per column (and the multi-row statements bind
//! hundreds of `$n`, which SQLite looks up by a linear scan). Here they run on rusqlite
//! connections with prepared statements, on a blocking thread: events are read on a connection
//! of their own (so a recomputation does not hold the bulk connection while it reads), scores
//! are written on the bulk connection (`bulk.rs`).
//!
//! A row's folded state is in `score_states` (migration 14), so the rows of `lead_scores` that a
//! decay pass or a fit change rewrites are small; the states are written only when events are
//! folded. A full recomputation drops the secondary indexes of `lead_scores` inside its
//! transaction and builds them again before it commits: building an index from sorted rows costs
//! a fraction of updating it row by row at random places. Readers see the old table and indexes
//! until the commit.
//!
//! Since migration 15 the only secondary index of `lead_scores` is that of due times within the
//! horizon (`due_at`), so a score write rarely moves an index entry; a decay pass whose horizon
//! ran out walks the table (`walk_pass`).

use crate::bulk::error;
use crate::SqliteStore;
use hatake_store::{
    due_at, DueScores, DueWindow, FitRow, LeadScoreRow, Millis, ScoreAtTime, ScoringCursor, ScoringEventChunk,
    ScoringEventRow, StoreError, DUE_HORIZON_SQL,
};
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// Rows at or above which a full recomputation rebuilds the table's secondary indexes instead of
/// updating them row by row. Other writes (the scorer's steps, up to a few hundred thousand rows
/// when it is behind) update them: the whole table and its indexes fit in the bulk connection's
/// page cache, and rebuilding would sort every row of the table.
const REBUILD_INDEXES_AT: usize = 100_000;

/// A [`LeadScoreRow`]'s columns, from `lead_scores s` and `score_states t`.
const SCORE_COLUMNS: &str =
    "s.lead_id, s.product_id, s.model_version, s.engagement, s.fit, s.next_change_at, t.state, s.updated_at";
/// The columns of `lead_scores` (no state).
const ROW_COLUMNS: &str = "lead_id, product_id, model_version, engagement, fit, next_change_at, updated_at, due_at";

impl SqliteStore {
    pub(crate) async fn bulk_event_chunk(
        &self,
        after_id: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<ScoringEventChunk, StoreError> {
        self.scoring_reader.run(move |conn| event_chunk(conn, after_id, up_to, limit)).await
    }

    pub(crate) async fn bulk_events_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ScoringEventRow>, StoreError> {
        self.scoring_reader.run(move |conn| events_after(conn, after_id, limit)).await
    }

    pub(crate) async fn bulk_scores_due(
        &self,
        now: Millis,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<LeadScoreRow>, StoreError> {
        self.scoring_reader.run(move |conn| scores_due(conn, now, after, limit)).await
    }

    pub(crate) async fn bulk_lead_scores(&self, lead_ids: &[i64]) -> Result<Vec<LeadScoreRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = sorted(lead_ids);
        self.scoring_reader.run(move |conn| lead_scores(conn, &ids)).await
    }

    pub(crate) async fn bulk_fit_rows(&self, lead_ids: &[i64]) -> Result<Vec<FitRow>, StoreError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = sorted(lead_ids);
        self.scoring_reader.run(move |conn| fit_rows(conn, &ids)).await
    }

    pub(crate) async fn bulk_put_scores(&self, rows: &[LeadScoreRow]) -> Result<(), StoreError> {
        let rows = rows.to_vec();
        self.bulk.run(move |conn| put_scores(conn, &[], &rows)).await
    }

    pub(crate) async fn bulk_replace_scores(
        &self,
        product_ids: &[i64],
        rows: &[LeadScoreRow],
    ) -> Result<(), StoreError> {
        let (products, rows) = (product_ids.to_vec(), rows.to_vec());
        self.bulk.run(move |conn| put_scores(conn, &products, &rows)).await
    }

    pub(crate) async fn bulk_update_due(&self, window: DueWindow, score: ScoreAtTime) -> Result<DueScores, StoreError> {
        // Most passes find nothing due: they learn it without waiting for a turn at writing.
        let idle = self
            .scoring_reader
            .run(move |conn| {
                if window.runs_out(due_horizon(conn)?) {
                    return Ok(false);
                }
                let due: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM lead_scores INDEXED BY lead_scores_due \
                         WHERE due_at IS NOT NULL AND due_at <= ?1)",
                    )
                    .map_err(error)?
                    .query_row([window.now], |row| row.get(0))
                    .map_err(error)?;
                Ok(!due)
            })
            .await?;
        if idle {
            return Ok(DueScores::default());
        }
        self.bulk.run(move |conn| update_due(conn, window, &score)).await
    }

    pub(crate) async fn bulk_update_folded(&self, rows: &[LeadScoreRow]) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut rows: Vec<FoldedValues> = rows
            .iter()
            .map(|r| (r.lead_id, r.product_id, r.model_version, r.engagement, r.next_change_at, r.updated_at))
            .collect();
        rows.sort_unstable_by_key(|r| (r.0, r.1));
        self.bulk.run(move |conn| update_folded(conn, &rows)).await
    }

    /// On the bulk connection: a commit of the pool's would copy the log back into the file
    /// first (its automatic checkpoint), after a step's writes hundreds of megabytes.
    pub(crate) async fn bulk_set_scoring_cursor(
        &self,
        cursor: &ScoringCursor,
        rewind_seen: Option<i64>,
    ) -> Result<(), StoreError> {
        let cursor = *cursor;
        self.bulk
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE scoring_cursor SET event_id = ?1, links_at = ?2, leads_at = ?3, accounts_at = ?4, \
                     rewind_to = CASE WHEN rewind_to = ?5 THEN NULL ELSE rewind_to END, states_at = ?6 WHERE id = 1",
                )
                .map_err(error)?
                .execute(params![
                    cursor.event_id,
                    cursor.links_at,
                    cursor.leads_at,
                    cursor.accounts_at,
                    rewind_seen,
                    cursor.states_at
                ])
                .map_err(error)?;
                Ok(())
            })
            .await
    }

    pub(crate) async fn bulk_scores_after(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<LeadScoreRow>, StoreError> {
        self.scoring_reader
            .run(move |conn| {
                let mut statement = conn
                    .prepare_cached(&format!(
                        "SELECT {SCORE_COLUMNS} FROM lead_scores s JOIN score_states t \
                         ON t.lead_id = s.lead_id AND t.product_id = s.product_id \
                         WHERE (s.lead_id, s.product_id) > (?1, ?2) ORDER BY s.lead_id, s.product_id LIMIT ?3"
                    ))
                    .map_err(error)?;
                let rows = statement.query_map(params![after.0, after.1, limit], score_row).map_err(error)?;
                rows.collect::<Result<_, _>>().map_err(error)
            })
            .await
    }

    pub(crate) async fn bulk_put_states(&self, states: &[(i64, i64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut states = states.to_vec();
        states.sort_unstable_by_key(|s| (s.0, s.1));
        self.bulk.run(move |conn| put_states(conn, &states)).await
    }

    pub(crate) async fn bulk_score_values(
        &self,
        rows: &[(i64, i64, i64, Option<Millis>)],
        now: Millis,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows = rows.to_vec();
        self.bulk.run(move |conn| score_values(conn, &rows, now)).await
    }
}

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The scores of these leads (sorted), by lead and product: one seek per lead, in key order.
fn lead_scores(conn: &mut Connection, lead_ids: &[i64]) -> Result<Vec<LeadScoreRow>, StoreError> {
    let tx = conn.transaction().map_err(error)?;
    let mut out = Vec::with_capacity(lead_ids.len() * 2);
    {
        let mut statement = tx
            .prepare_cached(&format!(
                "SELECT {SCORE_COLUMNS} FROM lead_scores s JOIN score_states t \
                 ON t.lead_id = s.lead_id AND t.product_id = s.product_id WHERE s.lead_id = ?1 ORDER BY s.product_id"
            ))
            .map_err(error)?;
        for id in lead_ids {
            let rows = statement.query_map([id], score_row).map_err(error)?;
            for row in rows {
                out.push(row.map_err(error)?);
            }
        }
    }
    tx.commit().map_err(error)?;
    Ok(out)
}

/// The fit attributes of these leads (sorted): one seek per lead.
fn fit_rows(conn: &mut Connection, lead_ids: &[i64]) -> Result<Vec<FitRow>, StoreError> {
    let tx = conn.transaction().map_err(error)?;
    let mut out = Vec::with_capacity(lead_ids.len());
    {
        let mut statement =
            tx.prepare_cached(&format!("{} WHERE l.id = ?1", hatake_store::FIT_SELECT)).map_err(error)?;
        for id in lead_ids {
            let row = statement
                .query_row([id], |row| {
                    Ok(FitRow {
                        lead_id: row.get(0)?,
                        account_id: row.get(1)?,
                        industry: row.get(2)?,
                        employee_count: row.get(3)?,
                        annual_revenue: row.get(4)?,
                        department_class: row.get(5)?,
                        title: row.get(6)?,
                        prefecture: row.get(7)?,
                        abm_tier: row.get(8)?,
                        custom: row.get::<_, Option<String>>(9)?.unwrap_or_else(|| "{}".to_owned()),
                        updated_at: row.get(10)?,
                    })
                })
                .optional()
                .map_err(error)?;
            out.extend(row);
        }
    }
    tx.commit().map_err(error)?;
    Ok(out)
}

/// Events `after_id < id <= up_to` in id order, with the lead each counts for.
fn event_chunk(conn: &mut Connection, after_id: i64, up_to: i64, limit: i64) -> Result<ScoringEventChunk, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT e.id, COALESCE(e.lead_id, (SELECT v.lead_id FROM visitor_leads v WHERE v.visitor_id = e.visitor_id)), \
             e.product_id, e.occurred_at, e.kind, e.name, e.properties FROM events e \
             WHERE e.id > ?1 AND e.id <= ?2 ORDER BY e.id LIMIT ?3",
        )
        .map_err(error)?;
    let mut chunk = ScoringEventChunk::with_capacity(usize::try_from(limit.clamp(0, 1 << 20)).unwrap_or(0));
    let mut rows = statement.query(params![after_id, up_to, limit]).map_err(error)?;
    while let Some(row) = rows.next().map_err(error)? {
        let text = |i: usize| -> Result<Option<&str>, StoreError> {
            row.get_ref(i).map_err(error)?.as_str_or_null().map_err(|e| error(e.into()))
        };
        chunk.push(
            row.get(0).map_err(error)?,
            row.get(1).map_err(error)?,
            row.get(2).map_err(error)?,
            row.get(3).map_err(error)?,
            text(4)?.unwrap_or_default(),
            text(5)?,
            text(6)?.unwrap_or("{}"),
        );
    }
    Ok(chunk)
}

/// Events with ids above `after_id` in id order, up to `limit` (a scorer step's).
fn events_after(conn: &mut Connection, after_id: i64, limit: i64) -> Result<Vec<ScoringEventRow>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT id, lead_id, visitor_id, kind, product_id, occurred_at, name, properties FROM events \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .map_err(error)?;
    let rows = statement
        .query_map(params![after_id, limit], |row| {
            Ok(ScoringEventRow {
                id: row.get(0)?,
                lead_id: row.get(1)?,
                visitor_id: row.get(2)?,
                kind: row.get(3)?,
                product_id: row.get(4)?,
                occurred_at: row.get(5)?,
                name: row.get(6)?,
                properties: row.get(7)?,
            })
        })
        .map_err(error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(error)
}

fn score_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LeadScoreRow> {
    Ok(LeadScoreRow {
        lead_id: row.get(0)?,
        product_id: row.get(1)?,
        model_version: row.get(2)?,
        engagement: row.get(3)?,
        fit: row.get(4)?,
        next_change_at: row.get(5)?,
        state: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// Due rows at or above which [`scores_due`] walks the table in key order instead of sorting
/// the rows it finds through the index of due times.
const WALK_TABLE_AT: i64 = 20_000;

/// The horizon of due times (migration 15).
fn due_horizon(conn: &Connection) -> Result<Millis, StoreError> {
    conn.prepare_cached(DUE_HORIZON_SQL).map_err(error)?.query_row([], |row| row.get(0)).map_err(error)
}

/// Rows due at `now` after `after` in key order: through the index of due times while the
/// horizon is ahead of `now`, else (after a long pause) by walking the table in key order.
fn scores_due(
    conn: &mut Connection,
    now: Millis,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<LeadScoreRow>, StoreError> {
    // Through the index only while it holds every due row and they are few: it is in order of
    // due time, and each page in key order would sort them all.
    let few = now < due_horizon(conn)? && {
        let due: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM lead_scores INDEXED BY lead_scores_due \
                 WHERE due_at IS NOT NULL AND due_at <= ?1 LIMIT ?2)",
            )
            .map_err(error)?
            .query_row(params![now, WALK_TABLE_AT], |row| row.get(0))
            .map_err(error)?;
        due < WALK_TABLE_AT
    };
    let (source, column) = if few {
        ("lead_scores s INDEXED BY lead_scores_due", "due_at")
    } else {
        ("lead_scores s NOT INDEXED", "next_change_at")
    };
    let sql = format!(
        "SELECT {SCORE_COLUMNS} FROM {source} JOIN score_states t ON t.lead_id = s.lead_id AND t.product_id = s.product_id \
         WHERE s.{column} IS NOT NULL AND s.{column} <= ?1 \
         AND (s.lead_id > ?2 OR (s.lead_id = ?2 AND s.product_id > ?3)) ORDER BY s.lead_id, s.product_id LIMIT ?4"
    );
    let mut statement = conn.prepare_cached(&sql).map_err(error)?;
    let rows = statement.query_map(params![now, after.0, after.1, limit], score_row).map_err(error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(error)
}

/// The decay pass in one transaction. While the horizon of due times holds, the due rows are
/// found through their index (in its order: due time, then key; a row there is due exactly when
/// its `due_at` has come) and each is given its new engagement and next change time from its
/// state (read, never written: the states are in `score_states`). When the horizon runs out,
/// [`walk_pass`] walks the whole table.
fn update_due(conn: &mut Connection, window: DueWindow, score: &ScoreAtTime) -> Result<DueScores, StoreError> {
    const CHUNK: i64 = 10_000;
    let now = window.now;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let stored = due_horizon(&tx)?;
    if window.runs_out(stored) {
        let horizon = window.next_horizon();
        let done = walk_pass(&tx, now, horizon, score)?;
        tx.execute("UPDATE scoring_cursor SET due_horizon = ?1 WHERE id = 1", [horizon]).map_err(error)?;
        tx.commit().map_err(error)?;
        return Ok(done);
    }
    let mut done = DueScores::default();
    {
        let mut select = tx
            .prepare_cached(
                "SELECT s.lead_id, s.product_id, s.model_version, s.engagement, s.next_change_at, t.state \
                 FROM lead_scores s INDEXED BY lead_scores_due \
                 LEFT JOIN score_states t ON t.lead_id = s.lead_id AND t.product_id = s.product_id \
                 WHERE s.due_at IS NOT NULL AND s.due_at <= ?1 \
                 AND (s.due_at, s.lead_id, s.product_id) > (?2, ?3, ?4) ORDER BY s.due_at, s.lead_id, s.product_id LIMIT ?5",
            )
            .map_err(error)?;
        let mut update = tx
            .prepare_cached(
                "UPDATE lead_scores SET engagement = ?1, next_change_at = ?2, due_at = ?3, updated_at = ?4 \
                 WHERE lead_id = ?5 AND product_id = ?6",
            )
            .map_err(error)?;
        let mut after = (i64::MIN, i64::MIN, i64::MIN);
        loop {
            let chunk: Vec<LeadScoreRow> = select
                .query_map(params![now, after.0, after.1, after.2, CHUNK], |r| {
                    Ok(LeadScoreRow {
                        lead_id: r.get(0)?,
                        product_id: r.get(1)?,
                        model_version: r.get(2)?,
                        engagement: r.get(3)?,
                        next_change_at: r.get(4)?,
                        state: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                        ..LeadScoreRow::default()
                    })
                })
                .map_err(error)?
                .collect::<Result<_, _>>()
                .map_err(error)?;
            let Some(last) = chunk.last() else { break };
            after = (last.next_change_at.unwrap_or(i64::MIN), last.lead_id, last.product_id);
            for row in &chunk {
                done.rows += 1;
                // A row without a state (none should be) is folded again: `score` refuses it.
                match score(row) {
                    Some((engagement, next)) => {
                        update
                            .execute(params![engagement, next, due_at(next, stored), now, row.lead_id, row.product_id])
                            .map_err(error)?;
                    }
                    None => done.refold.push(row.lead_id),
                }
            }
            if (chunk.len() as i64) < CHUNK {
                break;
            }
        }
    }
    tx.commit().map_err(error)?;
    Ok(done)
}

/// The values a walking decay pass computed for a chunk, in key order, and how far the UPDATE
/// has taken them.
#[derive(Default)]
struct WalkedValues {
    rows: Vec<((i64, i64), i64, Option<Millis>)>,
    next: usize,
}

impl WalkedValues {
    /// The values of `key`, if it was due (keys are asked for in order, each maybe several times).
    fn take(&mut self, key: (i64, i64)) -> Option<(i64, Option<Millis>)> {
        while self.rows.get(self.next).is_some_and(|(k, _, _)| *k < key) {
            self.next += 1;
        }
        self.rows.get(self.next).filter(|(k, _, _)| *k == key).map(|(_, e, n)| (*e, *n))
    }
}

/// A chunk of a walking decay pass, read and scored on the reading thread.
struct WalkedChunk {
    first: (i64, i64),
    last: (i64, i64),
    values: Vec<((i64, i64), i64, Option<Millis>)>,
    due: usize,
    refold: Vec<i64>,
}

/// The decay pass when the horizon has run out, inside the writing transaction `tx`: a thread on
/// a connection of its own reads the table in key order (every row changing before the new
/// horizon, and every row with a due time), with the states of the due rows alongside, and
/// computes their new values, while this one writes the chunk before with one UPDATE walking
/// its key range. The reader's snapshot is the one this transaction started from (no other
/// writer can commit meanwhile).
fn walk_pass(
    tx: &rusqlite::Transaction<'_>,
    now: Millis,
    horizon: Millis,
    score: &ScoreAtTime,
) -> Result<DueScores, StoreError> {
    // `hatake_due(lead, product, which, fallback)`: of a due key the chunk's new engagement
    // (which 0), next change time (1) or due time under the horizon (2); of another key
    // `fallback`, the row's own value (for 2 its next change time, made a due time).
    let walked = std::sync::Arc::new(std::sync::Mutex::new(WalkedValues::default()));
    let values = walked.clone();
    tx.create_scalar_function("hatake_due", 4, FunctionFlags::SQLITE_UTF8, move |ctx| {
        let key: (i64, i64) = (ctx.get(0)?, ctx.get(1)?);
        let which: i64 = ctx.get(2)?;
        let fallback: Option<i64> = ctx.get(3)?;
        let mut values = values.lock().map_err(|_| rusqlite::Error::UserFunctionError("poisoned".into()))?;
        Ok(match (which, values.take(key)) {
            (0, Some((engagement, _))) => Some(engagement),
            (1, Some((_, next))) => next,
            (2, Some((_, next))) => due_at(next, horizon),
            (2, None) => due_at(fallback, horizon),
            _ => fallback,
        })
    })
    .map_err(error)?;
    let result = walk_chunks(tx, now, horizon, score, &walked);
    let _ = tx.remove_function("hatake_due", 4);
    result
}

fn walk_chunks(
    tx: &rusqlite::Transaction<'_>,
    now: Millis,
    horizon: Millis,
    score: &ScoreAtTime,
    walked: &std::sync::Arc<std::sync::Mutex<WalkedValues>>,
) -> Result<DueScores, StoreError> {
    let path =
        tx.path().map(str::to_owned).ok_or_else(|| StoreError::Database("decay pass: no database file".into()))?;
    let mut done = DueScores::default();
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Result<WalkedChunk, StoreError>>(2);
        let reader = scope.spawn(move || {
            if let Err(e) = read_walk(&path, now, horizon, score, &send) {
                let _ = send.send(Err(e));
            }
        });
        let result = (|| {
            let mut update = tx
                .prepare(
                    "UPDATE lead_scores SET engagement = hatake_due(lead_id, product_id, 0, engagement), \
                     next_change_at = hatake_due(lead_id, product_id, 1, next_change_at), \
                     due_at = hatake_due(lead_id, product_id, 2, next_change_at), \
                     updated_at = CASE WHEN next_change_at <= ?6 THEN ?6 ELSE updated_at END \
                     WHERE lead_id BETWEEN ?1 AND ?3 AND (lead_id, product_id) >= (?1, ?2) \
                     AND (lead_id, product_id) <= (?3, ?4) \
                     AND ((next_change_at IS NOT NULL AND next_change_at < ?5) OR due_at IS NOT NULL)",
                )
                .map_err(error)?;
            for chunk in receive.iter() {
                let chunk = chunk?;
                done.rows += chunk.due;
                done.refold.extend(chunk.refold);
                {
                    let mut values =
                        walked.lock().map_err(|_| StoreError::Database("decay pass: poisoned lock".into()))?;
                    values.rows = chunk.values;
                    values.next = 0;
                }
                let (first, last) = (chunk.first, chunk.last);
                update.execute(params![first.0, first.1, last.0, last.1, horizon, now]).map_err(error)?;
            }
            Ok(())
        })();
        // The reader stops when the channel closes (this side failed) or the table ends.
        drop(receive);
        let _ = reader.join();
        result
    })?;
    Ok(done)
}

/// The reading side of [`walk_pass`].
fn read_walk(
    path: &str,
    now: Millis,
    horizon: Millis,
    score: &ScoreAtTime,
    send: &std::sync::mpsc::SyncSender<Result<WalkedChunk, StoreError>>,
) -> Result<(), StoreError> {
    const CHUNK: i64 = 50_000;
    let mut conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(error)?;
    conn.execute_batch("PRAGMA cache_size = -262144; PRAGMA mmap_size = 4294967296;").map_err(error)?;
    let tx = conn.transaction().map_err(error)?;
    let mut select = tx
        .prepare(
            "SELECT lead_id, product_id, model_version, engagement, next_change_at FROM lead_scores NOT INDEXED \
             WHERE ((next_change_at IS NOT NULL AND next_change_at < ?1) OR due_at IS NOT NULL) \
             AND (lead_id, product_id) > (?2, ?3) ORDER BY lead_id, product_id LIMIT ?4",
        )
        .map_err(error)?;
    let mut range = tx
        .prepare(
            "SELECT lead_id, product_id, state FROM score_states \
             WHERE (lead_id, product_id) >= (?1, ?2) AND (lead_id, product_id) <= (?3, ?4) \
             ORDER BY lead_id, product_id",
        )
        .map_err(error)?;
    let mut row = LeadScoreRow::default();
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let rows: Vec<(i64, i64, i64, i64, Option<Millis>)> = select
            .query_map(params![horizon, after.0, after.1, CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(error)?
            .collect::<Result<_, _>>()
            .map_err(error)?;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(()) };
        let (first, last) = ((first.0, first.1), (last.0, last.1));
        after = last;
        let mut chunk = WalkedChunk { first, last, values: Vec::new(), due: 0, refold: Vec::new() };
        let mut states = range.query(params![first.0, first.1, last.0, last.1]).map_err(error)?;
        let mut i = 0;
        let mut state = states.next().map_err(error)?;
        while i < rows.len() {
            let r = rows[i];
            i += 1;
            if r.4.is_none_or(|at| at > now) {
                continue;
            }
            chunk.due += 1;
            // The state of this key, the states being in the same order (a row without one is
            // folded again: `score` refuses an empty state).
            row.state.clear();
            while let Some(s) = state {
                let key: (i64, i64) = (s.get(0).map_err(error)?, s.get(1).map_err(error)?);
                if key < (r.0, r.1) {
                    state = states.next().map_err(error)?;
                    continue;
                }
                if key == (r.0, r.1) {
                    row.state = s.get(2).map_err(error)?;
                }
                break;
            }
            (row.lead_id, row.product_id, row.model_version, row.engagement, row.next_change_at) = r;
            match score(&row) {
                Some((engagement, next)) => chunk.values.push(((r.0, r.1), engagement, next)),
                None => chunk.refold.push(r.0),
            }
        }
        drop(states);
        let full = rows.len() as i64 == CHUNK;
        if send.send(Ok(chunk)).is_err() || !full {
            return Ok(());
        }
    }
}

/// (lead, product, model version, engagement, next change, updated at) of a folded row.
type FoldedValues = (i64, i64, i64, i64, Option<Millis>, Millis);

/// Updates rows that exist (sorted by key) after new events were folded: their values, the fit
/// and the stored state unchanged. Only the index of due times can move, and only for rows whose
/// next change comes before the horizon. Returns the keys of rows that do not exist.
fn update_folded(conn: &mut Connection, rows: &[FoldedValues]) -> Result<Vec<(i64, i64)>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let horizon = due_horizon(&tx)?;
    let mut missing = Vec::new();
    {
        let mut update = tx
            .prepare_cached(
                "UPDATE lead_scores SET model_version = ?1, engagement = ?2, next_change_at = ?3, due_at = ?4, \
                 updated_at = ?5 WHERE lead_id = ?6 AND product_id = ?7",
            )
            .map_err(error)?;
        for &(lead_id, product_id, version, engagement, next, updated_at) in rows {
            let changed = update
                .execute(params![version, engagement, next, due_at(next, horizon), updated_at, lead_id, product_id])
                .map_err(error)?;
            if changed == 0 {
                missing.push((lead_id, product_id));
            }
        }
    }
    tx.commit().map_err(error)?;
    Ok(missing)
}

/// Writes the states of rows that exist (sorted by key).
fn put_states(conn: &mut Connection, states: &[(i64, i64, Vec<u8>)]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    {
        let mut update = tx
            .prepare_cached("UPDATE score_states SET state = ?1 WHERE lead_id = ?2 AND product_id = ?3")
            .map_err(error)?;
        for (lead_id, product_id, state) in states {
            update.execute(params![state, lead_id, product_id]).map_err(error)?;
        }
    }
    tx.commit().map_err(error)
}

/// The secondary indexes of `lead_scores`, dropped; their definitions to build them again.
fn drop_score_indexes(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let indexes: Vec<(String, String)> = {
        let mut statement = conn
            .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'lead_scores' AND sql IS NOT NULL")
            .map_err(error)?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(error)?;
        rows.collect::<Result<_, _>>().map_err(error)?
    };
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\""))).map_err(error)?;
    }
    Ok(indexes.into_iter().map(|(_, sql)| sql).collect())
}

/// Writes score rows in one transaction: inserted or replaced, after removing every row of
/// `replace` (a full recomputation of those products). Rows of leads that no longer exist, or of
/// products that no longer exist, are left out — this connection does not enforce foreign keys.
fn put_scores(conn: &mut Connection, replace: &[i64], rows: &[LeadScoreRow]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let products: std::collections::HashSet<i64> = {
        let mut statement = tx.prepare_cached("SELECT id FROM products").map_err(error)?;
        let ids = statement.query_map([], |row| row.get::<_, i64>(0)).map_err(error)?;
        ids.collect::<Result<_, _>>().map_err(error)?
    };
    if !replace.is_empty() {
        // A full recomputation leaves no due times: the next decay pass walks the table and
        // sets them under a horizon of its own time.
        tx.execute("UPDATE scoring_cursor SET due_horizon = 0 WHERE id = 1", []).map_err(error)?;
    }
    let horizon = due_horizon(&tx)?;
    let rebuild =
        if !replace.is_empty() && rows.len() >= REBUILD_INDEXES_AT { Some(drop_score_indexes(&tx)?) } else { None };
    if !replace.is_empty() {
        let list = serde_json::Value::from(replace.to_vec()).to_string();
        for table in ["lead_scores", "score_states"] {
            tx.execute(&format!("DELETE FROM {table} WHERE product_id IN (SELECT value FROM json_each(?1))"), [&list])
                .map_err(error)?;
        }
    }
    {
        let mut lead = tx.prepare_cached("SELECT 1 FROM leads WHERE id = ?1").map_err(error)?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO lead_scores ({ROW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (lead_id, product_id) DO UPDATE SET model_version = excluded.model_version, \
                 engagement = excluded.engagement, fit = excluded.fit, next_change_at = excluded.next_change_at, \
                 updated_at = excluded.updated_at, due_at = excluded.due_at"
            ))
            .map_err(error)?;
        let mut insert_state = tx
            .prepare_cached(
                "INSERT INTO score_states (lead_id, product_id, state) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (lead_id, product_id) DO UPDATE SET state = excluded.state",
            )
            .map_err(error)?;
        let mut last_lead = None;
        let mut lead_exists = false;
        for row in rows {
            if last_lead != Some(row.lead_id) {
                last_lead = Some(row.lead_id);
                lead_exists = lead.query_row([row.lead_id], |_| Ok(())).optional().map_err(error)?.is_some();
            }
            if !lead_exists || !products.contains(&row.product_id) {
                continue;
            }
            insert
                .execute(params![
                    row.lead_id,
                    row.product_id,
                    row.model_version,
                    row.engagement,
                    row.fit,
                    row.next_change_at,
                    row.updated_at,
                    due_at(row.next_change_at, horizon)
                ])
                .map_err(error)?;
            insert_state.execute(params![row.lead_id, row.product_id, row.state]).map_err(error)?;
        }
    }
    for sql in rebuild.unwrap_or_default() {
        tx.execute_batch(&sql).map_err(error)?;
    }
    tx.commit().map_err(error)
}

/// Sets the engagement score and next change time of rows, in one transaction.
fn score_values(
    conn: &mut Connection,
    rows: &[(i64, i64, i64, Option<Millis>)],
    now: Millis,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let horizon = due_horizon(&tx)?;
    {
        let mut update = tx
            .prepare_cached(
                "UPDATE lead_scores SET engagement = ?1, next_change_at = ?2, due_at = ?3, updated_at = ?4 \
                 WHERE lead_id = ?5 AND product_id = ?6",
            )
            .map_err(error)?;
        for (lead_id, product_id, engagement, next) in rows {
            update
                .execute(params![engagement, next, due_at(*next, horizon), now, lead_id, product_id])
                .map_err(error)?;
        }
    }
    tx.commit().map_err(error)
}
