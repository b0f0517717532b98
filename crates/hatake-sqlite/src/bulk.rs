//! The write side of name-matching on SQLite: resolution plans and import batches, written on
//! one connection kept for them, with prepared statements (no per-statement round trip through
//! the pool's worker thread, no JSON to build and parse).
//!
//! The connection checkpoints the write-ahead log only when it has grown to
//! [`CHECKPOINT_PAGES`]: a large import dirties index pages all over the file, and the default
//! (a checkpoint at every commit past 1,000 pages) copied the same hot pages back into the
//! database after every batch. The checkpointing thread (`checkpoint.rs`) copies the log
//! behind it meanwhile, so its own checkpoints find little left to copy. Its page cache (1 GiB
//! at most, taken as used) holds the pages a batch of 100,000 rows dirties until it commits.

use hatake_store::sql::{lead_match_keys, lead_search_document_of, lead_write_values, Value, LEAD_WRITE_COLUMNS};
use hatake_store::{ImportCounts, LeadRef, Millis, RejectRow, ResolutionPlan, SourceRecord, StoreError};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Pages the write-ahead log may hold before this connection checkpoints it (8 KiB pages, so
/// about 2 GB; 1 GB in a database created with 4 KiB pages before version 3 of the schema): a
/// 1M-row import checkpoints once or twice instead of at every batch (on 1M rows with 4 KiB
/// pages: 1 GB of log 76 s, 2 GB 72 s, 4 GB 70 s). A longer log makes page lookups slower and
/// takes disk space until the checkpoint after the import.
const CHECKPOINT_PAGES: i64 = 250_000;

/// FTS5's own default for `automerge`: once four segments of one level exist, each write
/// merges a little of them.
const SEARCH_AUTOMERGE: i64 = 4;

/// Sets how eagerly the search index merges its segments. An import turns merging off while
/// it runs: each batch then adds one segment (of up to 100,000 documents) and no batch merges
/// the ones before (merging took about 7 of 70 s of a 1M-row import, most of it merging the
/// same documents again at each level). Writes after the import merge them a little at a time,
/// and FTS5 merges at once wherever 16 segments of one level pile up, automerge or not.
pub(crate) fn set_search_automerge(conn: &Connection, segments: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO lead_search (lead_search, rank) VALUES ('automerge', ?1)")
        .map_err(error)?
        .execute([segments])
        .map_err(error)?;
    Ok(())
}

/// Restores merging of the search index when no import is running: at the end of each import,
/// and when the store is opened (an import that stopped with its process left it off; it is
/// restored on the first start after that import was marked failed, and FTS5 merges piles of
/// 16 segments meanwhile).
pub(crate) fn restore_search_automerge(conn: &Connection) -> Result<(), StoreError> {
    let running: i64 =
        conn.query_row("SELECT count(*) FROM imports WHERE status = 'running'", [], |row| row.get(0)).map_err(error)?;
    // Only a write when it is off: every start (a CLI command too) passes here.
    let current: Option<i64> = conn
        .query_row("SELECT v FROM lead_search_config WHERE k = 'automerge'", [], |row| row.get(0))
        .optional()
        .map_err(error)?;
    if running == 0 && current != Some(SEARCH_AUTOMERGE) {
        set_search_automerge(conn, SEARCH_AUTOMERGE)?;
    }
    Ok(())
}

/// The bulk-write connection, opened on first use and shared by clones of the store.
#[derive(Clone)]
pub(crate) struct BulkWriter {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
    /// Turns at writing shared with the event writer (none for a connection that only reads).
    turns: Option<crate::turns::WriteTurns>,
}

/// What an import batch adds to its plan.
pub(crate) struct BatchExtras<'a> {
    pub import_id: i64,
    pub rejects: &'a [RejectRow],
    pub counts: &'a ImportCounts,
}

impl BulkWriter {
    pub(crate) fn new(path: &Path, turns: Option<crate::turns::WriteTurns>) -> Self {
        Self { path: path.to_owned(), conn: Arc::new(Mutex::new(None)), turns }
    }

    /// Runs `work` on the connection (opening it if needed) on a blocking thread, in its turn.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while writing leaves the transaction rolled back: the connection is fine.
            let mut guard = this.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.is_none() {
                *guard = Some(open(&this.path)?);
            }
            let conn = guard.as_mut().expect("opened above");
            let _turn = this.turns.as_ref().map(crate::turns::WriteTurns::take);
            work(conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("bulk writer stopped: {e}")))?
    }
}

pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
    // Foreign keys are not enforced on this connection (checking them cost a tenth of an
    // import): every reference it writes is to a row of the same transaction, a lead the
    // update found, the running import, or a product it checks for (`LeadExtras::write`).
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -1048576; PRAGMA mmap_size = 4294967296; PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
    ))
    .map_err(error)?;
    Ok(conn)
}

/// A SQLite error as the store reports it (see `hatake_store::sql::store_error`).
pub(crate) fn error(error: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        let text = message.as_deref().unwrap_or_default();
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::Conflict { field: hatake_store::sql::unique_field(text) };
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::MissingReference { field: "id" },
            _ => {}
        }
    }
    tracing::error!(%error, backend = "sqlite", "database error");
    StoreError::Database(error.to_string())
}

fn sql_value(value: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::NullInt | Value::NullText => V::Null,
        Value::Int(i) => V::Integer(i),
        Value::Bool(b) => V::Integer(i64::from(b)),
        Value::Text(s) => V::Text(s),
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Writes a plan (and an import batch's rejected rows and counts) in one transaction; returns
/// the ids of the created leads in plan order. The planner's keys and documents are taken out
/// of the plan.
pub(crate) fn write(
    conn: &mut Connection,
    plan: &mut ResolutionPlan,
    import_id: Option<i64>,
    now: Millis,
    extras: Option<BatchExtras<'_>>,
) -> Result<Vec<i64>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    if extras.is_some() {
        // Every batch (another process may have restored it meanwhile); `finish_import` restores it.
        set_search_automerge(&tx, 0)?;
    }
    let account_names = account_names(&tx, plan)?;
    let mut extras_of_leads = LeadExtras::default();

    let mut columns: Vec<&str> = LEAD_WRITE_COLUMNS.to_vec();
    columns.push("created_at");
    let insert = format!("INSERT INTO leads ({}) VALUES ({})", columns.join(", "), placeholders(columns.len()));
    let mut created = Vec::with_capacity(plan.creates.len());
    {
        let mut statement = tx.prepare_cached(&insert).map_err(error)?;
        for create in &mut plan.creates {
            let mut values = lead_write_values(&create.data, create.is_lead, now);
            values.push(Value::Int(now));
            let id = statement.insert(params_from_iter(values.into_iter().map(sql_value))).map_err(error)?;
            created.push(id);
            extras_of_leads.add(id, &create.data, (create.keys.take(), create.document.take()), &account_names);
        }
    }
    if !plan.updates.is_empty() {
        let update = hatake_store::sql::update_planned_lead_sql();
        let mut statement = tx.prepare_cached(&update).map_err(error)?;
        for planned in &mut plan.updates {
            let mut values = lead_write_values(&planned.data, planned.is_lead, now);
            values.push(Value::Int(planned.id));
            if statement.execute(params_from_iter(values.into_iter().map(sql_value))).map_err(error)? != 1 {
                return Err(StoreError::NotFound);
            }
            // The old search document goes with the new one (`LeadExtras::write`).
            for sql in ["DELETE FROM lead_products WHERE lead_id = ?1", "DELETE FROM lead_keys WHERE lead_id = ?1"] {
                tx.prepare_cached(sql).map_err(error)?.execute([planned.id]).map_err(error)?;
            }
            extras_of_leads.replaced.push(planned.id);
            extras_of_leads.add(
                planned.id,
                &planned.data,
                (planned.keys.take(), planned.document.take()),
                &account_names,
            );
        }
    }
    extras_of_leads.write(&tx, now)?;

    let resolve = |lead: LeadRef| match lead {
        LeadRef::Existing(id) => id,
        LeadRef::Planned(index) => created[index],
    };
    let mut sources: Vec<(i64, &SourceRecord)> = Vec::new();
    for (id, create) in created.iter().zip(&plan.creates) {
        sources.extend(create.sources.iter().map(|s| (*id, s)));
    }
    for update in &plan.updates {
        sources.extend(update.sources.iter().map(|s| (update.id, s)));
    }
    sources.extend(plan.unchanged.iter().map(|(id, s)| (*id, s)));
    if !sources.is_empty() {
        let columns = hatake_store::common_resolution::SOURCE_COLUMNS;
        let sql = format!("INSERT INTO lead_sources ({}) VALUES ({})", columns.join(", "), placeholders(columns.len()));
        let mut statement = tx.prepare_cached(&sql).map_err(error)?;
        for (lead, source) in sources {
            let values = hatake_store::common_resolution::source_values(lead, import_id, source, now);
            statement.execute(params_from_iter(values.into_iter().map(sql_value))).map_err(error)?;
        }
    }
    if !plan.reviews.is_empty() {
        let mut statement =
            tx.prepare_cached(hatake_store::common_resolution::INSERT_LEAD_REVIEW_SQL).map_err(error)?;
        for review in &plan.reviews {
            let (lead, candidate) = (resolve(review.lead), resolve(review.candidate));
            statement
                .execute(params![lead, candidate, review.score, review.evidence, import_id, now])
                .map_err(error)?;
        }
    }
    if let Some(extras) = extras {
        write_batch_extras(&tx, &extras, now)?;
    }
    tx.commit().map_err(error)?;
    Ok(created)
}

/// The names of the companies the plan's leads are linked to (their search documents hold
/// the company's name, as after any other write).
fn account_names(tx: &Transaction<'_>, plan: &ResolutionPlan) -> Result<HashMap<i64, String>, StoreError> {
    let mut names = HashMap::new();
    let ids =
        plan.creates.iter().map(|c| &c.data).chain(plan.updates.iter().map(|u| &u.data)).filter_map(|d| d.account_id);
    let mut statement = tx.prepare_cached("SELECT name FROM accounts WHERE id = ?1").map_err(error)?;
    for id in ids {
        if names.contains_key(&id) {
            continue;
        }
        let mut rows = statement.query([id]).map_err(error)?;
        if let Some(row) = rows.next().map_err(error)? {
            names.insert(id, row.get::<_, String>(0).map_err(error)?);
        }
    }
    Ok(names)
}

/// What goes with the lead rows of a batch: products, search documents and matching keys,
/// written after the rows, the keys sorted (neighbouring inserts touch the same pages) and the
/// documents by id: FTS5 writes its pending terms out whenever a row id is lower than the one
/// before, so out of order every changed lead made a small segment to merge later.
#[derive(Default)]
struct LeadExtras {
    products: Vec<(i64, i64)>,
    documents: Vec<(i64, String)>,
    keys: Vec<(i64, i64)>,
    /// Leads whose old search document is to be removed first.
    replaced: Vec<i64>,
}

impl LeadExtras {
    fn add(
        &mut self,
        id: i64,
        lead: &hatake_domain::LeadData,
        (keys, document): (Option<Vec<i64>>, Option<String>),
        account_names: &HashMap<i64, String>,
    ) {
        self.products.extend(lead.product_ids.iter().map(|p| (*p, id)));
        // The planner's document is of a lead without a company link (see `PlannedCreate`).
        let document = match (document, lead.account_id) {
            (Some(document), None) => document,
            _ => {
                let account_name = lead.account_id.and_then(|a| account_names.get(&a)).map(String::as_str);
                lead_search_document_of(lead, account_name)
            }
        };
        self.documents.push((id, document));
        match keys {
            Some(keys) => self.keys.extend(keys.into_iter().map(|k| (k, id))),
            None => self.keys.extend(lead_match_keys(lead).into_iter().map(|k| (k, id))),
        }
    }

    fn write(mut self, tx: &Transaction<'_>, now: Millis) -> Result<(), StoreError> {
        if !self.products.is_empty() {
            let mut statement = tx
                .prepare_cached(
                    "INSERT INTO lead_products (product_id, lead_id, created_at) \
                     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM products WHERE id = ?1)",
                )
                .map_err(error)?;
            for (product, lead) in &self.products {
                statement.execute(params![product, lead, now]).map_err(error)?;
            }
        }
        if !self.documents.is_empty() {
            self.documents.sort_unstable_by_key(|(id, _)| *id);
            self.replaced.sort_unstable();
            let mut insert =
                tx.prepare_cached("INSERT INTO lead_search (rowid, doc) VALUES (?1, ?2)").map_err(error)?;
            let mut delete = tx.prepare_cached("DELETE FROM lead_search WHERE rowid = ?1").map_err(error)?;
            for (id, document) in &self.documents {
                if self.replaced.binary_search(id).is_ok() {
                    delete.execute([id]).map_err(error)?;
                }
                insert.execute(params![id, document]).map_err(error)?;
            }
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        if !self.keys.is_empty() {
            let mut statement = tx
                .prepare_cached("INSERT INTO lead_keys (key, lead_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
                .map_err(error)?;
            for (key, id) in &self.keys {
                statement.execute(params![key, id]).map_err(error)?;
            }
        }
        Ok(())
    }
}

/// Records how an import ended (see `hatake_store::common_imports::FINISH_IMPORT_SQL`).
pub(crate) fn finish_import(
    conn: &mut Connection,
    id: i64,
    counts: &ImportCounts,
    status: &str,
    error_text: Option<&str>,
    now: Millis,
) -> Result<(), StoreError> {
    use rusqlite::types::Value as V;
    let mut values = vec![V::Text(status.to_owned())];
    values.extend(counts.as_row().map(V::Integer));
    values.extend([error_text.map_or(V::Null, |e| V::Text(e.to_owned())), V::Integer(now), V::Integer(id)]);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(error)?;
    let changed = tx
        .prepare_cached(hatake_store::common_imports::FINISH_IMPORT_SQL)
        .map_err(error)?
        .execute(params_from_iter(values))
        .map_err(error)?;
    hatake_store::one_row(u64::try_from(changed).unwrap_or(0))?;
    restore_search_automerge(&tx)?;
    tx.commit().map_err(error)
}

fn write_batch_extras(tx: &Transaction<'_>, extras: &BatchExtras<'_>, now: Millis) -> Result<(), StoreError> {
    if !extras.rejects.is_empty() {
        let mut statement = tx
            .prepare_cached("INSERT INTO import_rejects (import_id, line, fields, problems) VALUES (?1, ?2, ?3, ?4)")
            .map_err(error)?;
        for reject in extras.rejects {
            statement.execute(params![extras.import_id, reject.line, reject.fields, reject.problems]).map_err(error)?;
        }
    }
    let mut values = extras.counts.as_row().to_vec();
    values.extend([now, extras.import_id]);
    tx.prepare_cached(hatake_store::common_imports::RECORD_PROGRESS_SQL)
        .map_err(error)?
        .execute(params_from_iter(values))
        .map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_store::{ImportBatch, ImportKind, ImportStore, NewImport};

    fn automerge(path: &Path) -> i64 {
        let conn = Connection::open(path).expect("open");
        conn.query_row("SELECT v FROM lead_search_config WHERE k = 'automerge'", [], |row| row.get(0))
            .expect("automerge is set")
    }

    /// An import's batches leave the search index's segments unmerged; its end (done or
    /// failed) and the next start of a store restore merging.
    #[test]
    fn an_import_leaves_merging_the_search_index_until_it_ends() {
        let dir = std::env::temp_dir().join(format!("hatake-automerge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = crate::SqliteStore::open(&dir).await.expect("open");
            let path = dir.join(crate::DATABASE_FILE);
            assert_eq!(automerge(&path), SEARCH_AUTOMERGE);
            let new_import = NewImport {
                kind: ImportKind::Leads,
                file_name: "leads.csv".into(),
                file_sha256: "0".repeat(64),
                encoding: "utf-8".into(),
                source: None,
                product_id: None,
                mapping: "[]".into(),
                headers: "[]".into(),
                created_by: None,
                event: None,
                subscribe: None,
            };
            for status in ["done", "failed"] {
                let import = store.create_import(&new_import, 1).await.expect("import");
                let batch = |now| ImportBatch {
                    import_id: import.id,
                    plan: ResolutionPlan::default(),
                    rejects: Vec::new(),
                    counts: ImportCounts::default(),
                    now,
                };
                store.apply_import_batch(batch(2)).await.expect("batch");
                assert_eq!(automerge(&path), 0, "off while the import runs");
                // Another process opening the store meanwhile (a CLI command) leaves it off, and
                // so would the next batch if it did not.
                drop(crate::SqliteStore::open(&dir).await.expect("open again"));
                assert_eq!(automerge(&path), 0, "still off: an import is running");
                store.apply_import_batch(batch(3)).await.expect("batch");
                store.finish_import(import.id, &ImportCounts::default(), status, None, 4).await.expect("finish");
                assert_eq!(automerge(&path), SEARCH_AUTOMERGE, "restored when the import was {status}");
            }
            // An import whose process stopped: restored on the first start after it is marked
            // failed.
            let import = store.create_import(&new_import, 5).await.expect("import");
            let batch = ImportBatch {
                import_id: import.id,
                plan: ResolutionPlan::default(),
                rejects: Vec::new(),
                counts: ImportCounts::default(),
                now: 6,
            };
            store.apply_import_batch(batch).await.expect("batch");
            assert_eq!(store.fail_stalled_imports(7, 8).await.expect("stalled"), 1);
            drop(crate::SqliteStore::open(&dir).await.expect("open again"));
            assert_eq!(automerge(&path), SEARCH_AUTOMERGE, "restored on the next start");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
