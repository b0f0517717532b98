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

use crate::bulk::error;
use crate::SqliteStore;
use hatake_store::{
    DueScores, FitRow, LeadScoreRow, Millis, ScoreAtTime, ScoringEventChunk, ScoringEventRow, StoreError,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// Rows at or above which a full recomputation rebuilds the table's secondary indexes instead of
/// updating them row by row. Other writes (the scorer's steps, up to a few hundred thousand rows
/// when it is behind) update them: the whole table and its indexes fit in the bulk connection's
/// page cache, and rebuilding would sort every row of the table.
const REBUILD_INDEXES_AT: usize = 100_000;

/// Due rows at or above which the decay pass walks the table in key order instead of seeking
/// each row from the index of due times.
const WALK_TABLE_AT: i64 = 20_000;

/// A [`LeadScoreRow`]'s columns, from `lead_scores s` and `score_states t`.
const SCORE_COLUMNS: &str =
    "s.lead_id, s.product_id, s.model_version, s.engagement, s.fit, s.next_change_at, t.state, s.updated_at";
/// The columns of `lead_scores` (no state).
const ROW_COLUMNS: &str = "lead_id, product_id, model_version, engagement, fit, next_change_at, updated_at";

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

    pub(crate) async fn bulk_update_due(&self, now: Millis, score: ScoreAtTime) -> Result<DueScores, StoreError> {
        self.bulk.run(move |conn| update_due(conn, now, &score)).await
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

/// Rows due at `now` after `after` in key order. A few are found through the index of due
/// times; many (after a long pause, or a model whose rules all expire at once) by walking the
/// table in key order, which reads each page once instead of seeking every row.
fn scores_due(
    conn: &mut Connection,
    now: Millis,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<LeadScoreRow>, StoreError> {
    let many: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM lead_scores INDEXED BY lead_scores_due \
             WHERE next_change_at IS NOT NULL AND next_change_at <= ?1 LIMIT ?2)",
        )
        .map_err(error)?
        .query_row(params![now, WALK_TABLE_AT], |row| row.get(0))
        .map_err(error)?;
    let source =
        if many >= WALK_TABLE_AT { "lead_scores s NOT INDEXED" } else { "lead_scores s INDEXED BY lead_scores_due" };
    let sql = format!(
        "SELECT {SCORE_COLUMNS} FROM {source} JOIN score_states t ON t.lead_id = s.lead_id AND t.product_id = s.product_id \
         WHERE s.next_change_at IS NOT NULL AND s.next_change_at <= ?1 \
         AND (s.lead_id > ?2 OR (s.lead_id = ?2 AND s.product_id > ?3)) ORDER BY s.lead_id, s.product_id LIMIT ?4"
    );
    let mut statement = conn.prepare_cached(&sql).map_err(error)?;
    let rows = statement.query_map(params![now, after.0, after.1, limit], score_row).map_err(error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(error)
}

/// The decay pass in one transaction: each due row's new engagement and next change time, from
/// its state (read, never written: the states are in `score_states`). Few due rows are found
/// through the index of due times and updated one by one. Many are read by walking the table in
/// key order (each page once), the states of the same key range alongside.
fn update_due(conn: &mut Connection, now: Millis, score: &ScoreAtTime) -> Result<DueScores, StoreError> {
    const CHUNK: i64 = 100_000;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let many: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM lead_scores INDEXED BY lead_scores_due \
             WHERE next_change_at IS NOT NULL AND next_change_at <= ?1 LIMIT ?2)",
        )
        .map_err(error)?
        .query_row(params![now, WALK_TABLE_AT], |row| row.get(0))
        .map_err(error)?;
    let many = many >= WALK_TABLE_AT;
    // Updating the two indexes row by row instead: 29 s for 2.9M rows (16.5 s rebuilding them).
    let rebuild = if many { Some(drop_score_indexes(&tx)?) } else { None };
    let source = if many { "lead_scores NOT INDEXED" } else { "lead_scores INDEXED BY lead_scores_due" };
    let mut done = DueScores::default();
    let mut after = (i64::MIN, i64::MIN);
    {
        let mut select = tx
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM {source} WHERE next_change_at IS NOT NULL AND next_change_at <= ?1 \
                 AND (lead_id, product_id) > (?2, ?3) ORDER BY lead_id, product_id LIMIT ?4"
            ))
            .map_err(error)?;
        let mut range = tx
            .prepare(
                "SELECT lead_id, product_id, state FROM score_states \
                 WHERE (lead_id, product_id) >= (?1, ?2) AND (lead_id, product_id) <= (?3, ?4) \
                 ORDER BY lead_id, product_id",
            )
            .map_err(error)?;
        let mut one = tx
            .prepare_cached("SELECT state FROM score_states WHERE lead_id = ?1 AND product_id = ?2")
            .map_err(error)?;
        let mut update = tx
            .prepare_cached(
                "UPDATE lead_scores SET engagement = ?1, next_change_at = ?2, updated_at = ?3 \
                 WHERE lead_id = ?4 AND product_id = ?5",
            )
            .map_err(error)?;
        loop {
            let mut due: Vec<LeadScoreRow> = select
                .query_map(params![now, after.0, after.1, CHUNK], |row| {
                    Ok(LeadScoreRow {
                        lead_id: row.get(0)?,
                        product_id: row.get(1)?,
                        model_version: row.get(2)?,
                        engagement: row.get(3)?,
                        fit: row.get(4)?,
                        next_change_at: row.get(5)?,
                        state: Vec::new(),
                        updated_at: row.get(6)?,
                    })
                })
                .map_err(error)?
                .collect::<Result<_, _>>()
                .map_err(error)?;
            let (Some(first), Some(last)) = (due.first(), due.last()) else { break };
            let (first, last) = ((first.lead_id, first.product_id), (last.lead_id, last.product_id));
            after = last;
            if many {
                // The states of the chunk's key range, merged in key order.
                let mut states = range.query(params![first.0, first.1, last.0, last.1]).map_err(error)?;
                let mut i = 0;
                while let Some(state) = states.next().map_err(error)? {
                    let key: (i64, i64) = (state.get(0).map_err(error)?, state.get(1).map_err(error)?);
                    while due.get(i).is_some_and(|r| (r.lead_id, r.product_id) < key) {
                        i += 1;
                    }
                    if let Some(row) = due.get_mut(i).filter(|r| (r.lead_id, r.product_id) == key) {
                        row.state = state.get(2).map_err(error)?;
                        i += 1;
                    }
                }
            } else {
                for row in &mut due {
                    row.state = one
                        .query_row(params![row.lead_id, row.product_id], |r| r.get(0))
                        .optional()
                        .map_err(error)?
                        .unwrap_or_default();
                }
            }
            // A row without a state (none should be) is folded again: `score` refuses it.
            for row in &due {
                match score(row) {
                    Some((engagement, next)) => {
                        update.execute(params![engagement, next, now, row.lead_id, row.product_id]).map_err(error)?;
                    }
                    None => done.refold.push(row.lead_id),
                }
            }
            done.rows += due.len();
            if (due.len() as i64) < CHUNK {
                break;
            }
        }
    }
    for sql in rebuild.unwrap_or_default() {
        tx.execute_batch(&sql).map_err(error)?;
    }
    tx.commit().map_err(error)?;
    Ok(done)
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
                "INSERT INTO lead_scores ({ROW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (lead_id, product_id) DO UPDATE SET model_version = excluded.model_version, \
                 engagement = excluded.engagement, fit = excluded.fit, next_change_at = excluded.next_change_at, \
                 updated_at = excluded.updated_at"
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
                    row.updated_at
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
    {
        let mut update = tx
            .prepare_cached(
                "UPDATE lead_scores SET engagement = ?1, next_change_at = ?2, updated_at = ?3 \
                 WHERE lead_id = ?4 AND product_id = ?5",
            )
            .map_err(error)?;
        for (lead_id, product_id, engagement, next) in rows {
            update.execute(params![engagement, next, now, lead_id, product_id]).map_err(error)?;
        }
    }
    tx.commit().map_err(error)
}
