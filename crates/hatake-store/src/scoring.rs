//! Scoring, in three traits: versioned scoring models per product ([`ScoringModelStore`]), what
//! the scorer reads and writes — events in id order, a lead's events, leads' attributes for fit,
//! the scores with their states, where it has got to ([`ScorerStore`]) — and the scores as pages
//! read them ([`ScoreViewStore`]). The SQL is written once and instantiated by each
//! backend with [`impl_scoring_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// One version of a product's scoring model.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ScoringModelRow {
    pub product_id: i64,
    pub version: i64,
    /// JSON of `hatake_domain::scoring::ScoringModel`.
    pub definition: String,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: Millis,
}

/// A lead's scores for one product.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LeadScoreRow {
    pub lead_id: i64,
    pub product_id: i64,
    pub model_version: i64,
    pub engagement: i64,
    pub fit: i64,
    pub next_change_at: Option<Millis>,
    pub state: Vec<u8>,
    pub updated_at: Millis,
}

/// An event as the scorer reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScoringEventRow {
    pub id: i64,
    pub lead_id: Option<i64>,
    pub visitor_id: Option<String>,
    pub kind: String,
    pub product_id: Option<i64>,
    pub occurred_at: Millis,
    pub name: Option<String>,
    pub properties: String,
}

/// Events as a full recomputation reads them, many at a time: in id order, each with the lead
/// it counts for, and the text of all of them in one buffer (no allocation per event).
#[derive(Debug, Clone, Default)]
pub struct ScoringEventChunk {
    pub events: Vec<ChunkEvent>,
    text: String,
}

/// One event of a [`ScoringEventChunk`]; its text is read through the chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkEvent {
    pub id: i64,
    /// Its own lead, else the lead its visitor is linked to (none: it counts for nobody).
    pub lead_id: Option<i64>,
    pub product_id: Option<i64>,
    pub occurred_at: Millis,
    kind: (u32, u32),
    name: Option<(u32, u32)>,
    properties: (u32, u32),
}

impl ScoringEventChunk {
    pub fn with_capacity(events: usize) -> Self {
        Self { events: Vec::with_capacity(events), text: String::with_capacity(events * 128) }
    }

    fn put(&mut self, text: &str) -> (u32, u32) {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(text);
        (start, u32::try_from(self.text.len()).unwrap_or(u32::MAX))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        id: i64,
        lead_id: Option<i64>,
        product_id: Option<i64>,
        occurred_at: Millis,
        kind: &str,
        name: Option<&str>,
        properties: &str,
    ) {
        let kind = self.put(kind);
        let name = name.map(|n| self.put(n));
        let properties = self.put(properties);
        self.events.push(ChunkEvent { id, lead_id, product_id, occurred_at, kind, name, properties });
    }

    fn text(&self, (start, end): (u32, u32)) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or_default()
    }

    pub fn kind(&self, event: &ChunkEvent) -> &str {
        self.text(event.kind)
    }

    pub fn name(&self, event: &ChunkEvent) -> Option<&str> {
        event.name.map(|n| self.text(n))
    }

    pub fn properties(&self, event: &ChunkEvent) -> &str {
        self.text(event.properties)
    }
}

/// The new engagement score and next change time of a stored row at some time, or `None` when
/// the row must be folded again from the log (its model changed): given to
/// [`ScorerStore::update_due_scores`] by the scorer.
pub type ScoreAtTime = std::sync::Arc<dyn Fn(&LeadScoreRow) -> Option<(i64, Option<Millis>)> + Send + Sync>;

/// What [`ScorerStore::update_due_scores`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueScores {
    /// Rows that were due.
    pub rows: usize,
    /// Leads of rows to fold again (unsorted, may repeat).
    pub refold: Vec<i64>,
}

/// What fit rules look at, for one lead.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FitRow {
    pub lead_id: i64,
    pub account_id: Option<i64>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub annual_revenue: Option<i64>,
    pub department_class: Option<String>,
    pub title: Option<String>,
    pub prefecture: Option<String>,
    pub abm_tier: Option<String>,
    /// JSON object of the lead's custom fields.
    pub custom: String,
    pub updated_at: Millis,
}

/// Where the scorer has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ScoringCursor {
    /// Events up to this id have been scored.
    pub event_id: i64,
    /// The lowest id of an event deleted after it was scored (SQLite may give its id again).
    pub rewind_to: Option<i64>,
    /// Visitor links made up to this time have been scored.
    pub links_at: Millis,
    /// Lead and account changes up to these times have been given their fit.
    pub leads_at: Millis,
    pub accounts_at: Millis,
    /// The stored states (`score_states`) hold every event up to this id; the scorer holds newer
    /// states in memory and writes them back from time to time. A scorer that starts folds the
    /// events after it again (an event a state holds already makes it fold the lead again from
    /// the log, so nothing is counted twice).
    pub states_at: i64,
}

/// A lead ranked by its score for a product, for lists.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RankedLead {
    pub lead_id: i64,
    pub name: String,
    pub company_name: Option<String>,
    pub account_id: Option<i64>,
    pub engagement: i64,
    pub fit: i64,
    pub updated_at: Millis,
}

/// An account's people's scores for a product.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AccountPersonScore {
    pub lead_id: i64,
    pub product_id: i64,
    pub engagement: i64,
    pub fit: i64,
}

/// An account ranked by its score for a product (its people rolled up).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RankedAccount {
    pub account_id: i64,
    pub name: String,
    /// People of the account with a score for the product.
    pub people: i64,
    pub score: i64,
    /// The best person's engagement.
    pub best: i64,
}

/// The columns of a [`FitRow`], from `leads l LEFT JOIN accounts a`.
pub const FIT_SELECT: &str = "SELECT l.id AS lead_id, l.account_id, a.industry, a.employee_count, a.annual_revenue, \
     l.department_class, l.title, l.prefecture, a.abm_tier, l.custom, l.updated_at \
     FROM leads l LEFT JOIN accounts a ON a.id = l.account_id";

/// The columns of a [`ScoringEventRow`].
pub const SCORING_EVENT_COLUMNS: &str = "id, lead_id, visitor_id, kind, product_id, occurred_at, name, properties";

/// The columns of `lead_scores` (the state is in `score_states`, under the same key).
pub const LEAD_SCORE_COLUMNS: [&str; 8] =
    ["lead_id", "product_id", "model_version", "engagement", "fit", "next_change_at", "updated_at", "due_at"];

/// The horizon of due times (migration 15): a row's `due_at` is its next change by time when
/// that comes before the horizon, else none, so that the index of due times holds only the rows
/// that change soon and most score writes leave it alone.
pub const DUE_HORIZON_SQL: &str = "SELECT due_horizon FROM scoring_cursor WHERE id = 1";

/// A row's `due_at` under the horizon `horizon`.
pub fn due_at(next_change_at: Option<Millis>, horizon: Millis) -> Option<Millis> {
    next_change_at.filter(|at| *at < horizon)
}

/// What a decay pass needs to know about time: now, and the horizon of due times to set when the
/// stored one is less than half of `horizon_ms` ahead (the table is then walked once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWindow {
    pub now: Millis,
    pub horizon_ms: Millis,
}

impl DueWindow {
    /// Whether the stored horizon `stored` has run out (less than half a horizon ahead), or is
    /// further ahead than a horizon (set by a pass at a later time: the clock went back).
    pub fn runs_out(&self, stored: Millis) -> bool {
        stored <= self.now.saturating_add(self.horizon_ms / 2) || stored > self.next_horizon()
    }

    /// The horizon set when the stored one has run out.
    pub fn next_horizon(&self) -> Millis {
        self.now.saturating_add(self.horizon_ms)
    }
}

/// A [`LeadScoreRow`] with its state: `lead_scores s` joined with `score_states t`.
pub const LEAD_SCORE_SELECT: &str =
    "SELECT s.lead_id, s.product_id, s.model_version, s.engagement, s.fit, s.next_change_at, t.state, s.updated_at \
     FROM lead_scores s JOIN score_states t ON t.lead_id = s.lead_id AND t.product_id = s.product_id";

/// Versioned scoring models per product.
#[async_trait]
pub trait ScoringModelStore: Send + Sync + 'static {
    /// The model in force (the highest version) of every product that has one.
    async fn current_scoring_models(&self) -> StoreResult<Vec<ScoringModelRow>>;
    /// A product's versions, newest first.
    async fn scoring_model_versions(&self, product_id: i64) -> StoreResult<Vec<ScoringModelRow>>;
    async fn scoring_model_version(&self, product_id: i64, version: i64) -> StoreResult<ScoringModelRow>;
    /// Saves the next version of a product's model.
    async fn save_scoring_model(
        &self,
        product_id: i64,
        definition: &str,
        by: Option<i64>,
        now: Millis,
    ) -> StoreResult<ScoringModelRow>;
}

/// What the scorer reads and writes: the event log in id order, leads' fit attributes, the score
/// rows with their states, its cursor and queue.
#[async_trait]
pub trait ScorerStore: Send + Sync + 'static {
    /// The stored scores of these leads (every product).
    async fn lead_scores(&self, lead_ids: &[i64]) -> StoreResult<Vec<LeadScoreRow>>;
    /// Inserts or replaces these rows.
    async fn put_lead_scores(&self, rows: &[LeadScoreRow]) -> StoreResult<()>;
    /// Removes the scores of these leads for one product (their events no longer count).
    async fn delete_lead_scores(&self, lead_ids: &[i64], product_id: i64) -> StoreResult<()>;
    /// Replaces every score of a product (a full recomputation), in one transaction.
    async fn replace_product_scores(&self, product_id: i64, rows: &[LeadScoreRow]) -> StoreResult<()>;
    /// Rows whose score changes by time at or before `now`, up to `limit`.
    async fn scores_due(&self, now: Millis, limit: i64) -> StoreResult<Vec<LeadScoreRow>>;
    /// Replaces every score of these products (a full recomputation) with `rows`, sorted by
    /// lead and product, in one transaction. Rows of leads deleted meanwhile are left out.
    async fn replace_scores(&self, product_ids: &[i64], rows: &[LeadScoreRow]) -> StoreResult<()>;
    /// Rows whose score changes by time at or before `now`, by (lead, product) after `after`,
    /// up to `limit` (the decay pass walks them with this key).
    async fn scores_due_after(&self, now: Millis, after: (i64, i64), limit: i64) -> StoreResult<Vec<LeadScoreRow>>;
    /// Gives every row due at `window.now` the engagement and next change time `score` says (the
    /// decay pass), and returns the rows `score` refused. When the horizon of due times runs out
    /// (see [`DueWindow`]) the whole table is walked and the next horizon set.
    async fn update_due_scores(&self, window: DueWindow, score: ScoreAtTime) -> StoreResult<DueScores>;
    /// Updates rows that exist after their leads' new events were folded: model version,
    /// engagement and next change time (the fit stays, and so does the stored state: see
    /// [`ScorerStore::put_score_states`]). Returns the keys (lead, product) of rows that do not exist
    /// (deleted meanwhile), which are left out.
    async fn update_folded_scores(&self, rows: &[LeadScoreRow]) -> StoreResult<Vec<(i64, i64)>>;
    /// Writes folded states (lead, product, state) of rows that exist; others are left out.
    async fn put_score_states(&self, states: &[(i64, i64, Vec<u8>)]) -> StoreResult<()>;
    /// Score rows with their states in key order after `after` (lead, product), up to `limit`
    /// (the scorer reads them all when it starts).
    async fn scores_after(&self, after: (i64, i64), limit: i64) -> StoreResult<Vec<LeadScoreRow>>;
    /// Sets the engagement score and next change time of rows (state unchanged).
    async fn update_score_values(&self, rows: &[(i64, i64, i64, Option<Millis>)], now: Millis) -> StoreResult<()>;
    /// Sets the fit score of a lead for a product where it differs.
    async fn update_fit_scores(&self, rows: &[(i64, i64, i64)]) -> StoreResult<()>;
    /// Events with ids above `after_id` and at most `up_to`, in id order, up to `limit`, each with
    /// the lead it counts for (for a full recomputation).
    async fn scoring_event_chunk(&self, after_id: i64, up_to: i64, limit: i64) -> StoreResult<ScoringEventChunk>;
    /// Events with ids above `after_id`, in id order, up to `limit`.
    async fn scoring_events_after(&self, after_id: i64, limit: i64) -> StoreResult<Vec<ScoringEventRow>>;
    /// The highest event id (0 without events).
    async fn max_event_id(&self) -> StoreResult<i64>;
    /// Events by id (those that were missing when the scorer passed).
    async fn scoring_events_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<ScoringEventRow>>;
    /// All of a lead's events: its own and its linked visitors' anonymous ones.
    async fn lead_scoring_events(&self, lead_id: i64) -> StoreResult<Vec<ScoringEventRow>>;
    /// The leads these visitors are linked to.
    async fn visitor_lead_ids(&self, visitor_ids: &[String]) -> StoreResult<Vec<(String, i64)>>;
    /// Visitor links made at or after `since`: (lead, linked at).
    async fn visitor_links_since(&self, since: Millis) -> StoreResult<Vec<(i64, Millis)>>;
    /// The fit attributes of these leads.
    async fn fit_rows(&self, lead_ids: &[i64]) -> StoreResult<Vec<FitRow>>;
    /// Leads changed at or after `since` (by `updated_at`, then id after `after_id`).
    async fn leads_changed_since(&self, since: Millis, after_id: i64, limit: i64) -> StoreResult<Vec<FitRow>>;
    /// The ids and change times of leads of accounts changed at or after `since`.
    async fn accounts_changed_since(&self, since: Millis, limit: i64) -> StoreResult<Vec<(i64, Millis)>>;
    /// Leads of an account.
    async fn account_lead_ids(&self, account_id: i64) -> StoreResult<Vec<i64>>;
    async fn scoring_cursor(&self) -> StoreResult<ScoringCursor>;
    /// Moves the cursor; a rewind read by the caller (`rewind_seen`) is cleared unless another
    /// deletion lowered it meanwhile.
    async fn set_scoring_cursor(&self, cursor: &ScoringCursor, rewind_seen: Option<i64>) -> StoreResult<()>;
    /// Asks the scorer to fold these leads again from the log.
    async fn queue_scoring(&self, lead_ids: &[i64]) -> StoreResult<()>;
    /// Takes up to `limit` leads from that queue.
    async fn take_scoring_queue(&self, limit: i64) -> StoreResult<Vec<i64>>;
}

/// Scores as pages read them: rankings of leads and accounts, an account's people's scores.
#[async_trait]
pub trait ScoreViewStore: Send + Sync + 'static {
    /// The best-scored leads of a product (engagement, then id), from `after` (score, id) down.
    async fn ranked_leads(
        &self,
        product_id: i64,
        min_engagement: i64,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<RankedLead>>;
    /// Leads with a score of at least `min_engagement` for a product, by id after `after`.
    async fn scored_lead_ids(
        &self,
        product_id: i64,
        min_engagement: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>>;
    /// The scores of an account's people.
    async fn account_person_scores(&self, account_id: i64) -> StoreResult<Vec<AccountPersonScore>>;
    /// Accounts ranked by their score for a product: their people's engagement rolled up by
    /// `method` (`sum`, `max`, or `top` — the sum of the best `top`), best first.
    async fn ranked_accounts(
        &self,
        product_id: i64,
        method: &str,
        top: i64,
        limit: i64,
    ) -> StoreResult<Vec<RankedAccount>>;
}

#[macro_export]
macro_rules! impl_scoring_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn write_scores(
                conn: &mut <$db as sqlx::Database>::Connection,
                rows: &[$crate::LeadScoreRow],
            ) -> $crate::StoreResult<()> {
                let width = $crate::LEAD_SCORE_COLUMNS.len();
                let horizon = Self::due_horizon(&mut *conn).await?;
                for part in rows.chunks($crate::rows_per_statement(width)) {
                    let sql = format!(
                        "{} ON CONFLICT (lead_id, product_id) DO UPDATE SET model_version = excluded.model_version, \
                         engagement = excluded.engagement, fit = excluded.fit, \
                         next_change_at = excluded.next_change_at, updated_at = excluded.updated_at, \
                         due_at = excluded.due_at",
                        $crate::sql::insert_rows("lead_scores", &$crate::LEAD_SCORE_COLUMNS, part.len())
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for row in part {
                        query = query
                            .bind(row.lead_id)
                            .bind(row.product_id)
                            .bind(row.model_version)
                            .bind(row.engagement)
                            .bind(row.fit)
                            .bind(row.next_change_at)
                            .bind(row.updated_at)
                            .bind($crate::due_at(row.next_change_at, horizon));
                    }
                    query.execute(&mut *conn).await.map_err(db_error)?;
                }
                let state_columns = ["lead_id", "product_id", "state"];
                for part in rows.chunks($crate::rows_per_statement(state_columns.len())) {
                    let sql = format!(
                        "{} ON CONFLICT (lead_id, product_id) DO UPDATE SET state = excluded.state",
                        $crate::sql::insert_rows("score_states", &state_columns, part.len())
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for row in part {
                        query = query.bind(row.lead_id).bind(row.product_id).bind(row.state.clone());
                    }
                    query.execute(&mut *conn).await.map_err(db_error)?;
                }
                Ok(())
            }

            /// The horizon of due times ([`$crate::DUE_HORIZON_SQL`]).
            async fn due_horizon(conn: &mut <$db as sqlx::Database>::Connection) -> $crate::StoreResult<i64> {
                let (horizon,): (i64,) =
                    sqlx::query_as::<$db, (i64,)>($crate::DUE_HORIZON_SQL).fetch_one(conn).await.map_err(db_error)?;
                Ok(horizon)
            }

            const MODEL_SELECT: &'static str =
                "SELECT m.product_id, m.version, m.definition, m.created_by, u.display_name AS created_by_name, \
                 m.created_at FROM scoring_models m LEFT JOIN users u ON u.id = m.created_by";
        }

        #[async_trait::async_trait]
        impl $crate::ScoringModelStore for $store {
            async fn current_scoring_models(&self) -> $crate::StoreResult<Vec<$crate::ScoringModelRow>> {
                sqlx::query_as::<$db, $crate::ScoringModelRow>(&format!(
                    "{} WHERE m.version = (SELECT MAX(version) FROM scoring_models x WHERE x.product_id = m.product_id) \
                     ORDER BY m.product_id",
                    Self::MODEL_SELECT
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn scoring_model_versions(&self, product_id: i64) -> $crate::StoreResult<Vec<$crate::ScoringModelRow>> {
                sqlx::query_as::<$db, $crate::ScoringModelRow>(&format!(
                    "{} WHERE m.product_id = $1 ORDER BY m.version DESC",
                    Self::MODEL_SELECT
                ))
                .bind(product_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn scoring_model_version(
                &self,
                product_id: i64,
                version: i64,
            ) -> $crate::StoreResult<$crate::ScoringModelRow> {
                sqlx::query_as::<$db, $crate::ScoringModelRow>(&format!(
                    "{} WHERE m.product_id = $1 AND m.version = $2",
                    Self::MODEL_SELECT
                ))
                .bind(product_id)
                .bind(version)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or($crate::StoreError::NotFound)
            }

            async fn save_scoring_model(
                &self,
                product_id: i64,
                definition: &str,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ScoringModelRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let exists: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM products WHERE id = $1")
                    .bind(product_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if exists.is_none() {
                    return Err($crate::StoreError::MissingReference { field: "product_id" });
                }
                let (version,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM scoring_models WHERE product_id = $1",
                )
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO scoring_models (product_id, version, definition, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(product_id)
                .bind(version)
                .bind(definition)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                $crate::ScoringModelStore::scoring_model_version(self, product_id, version).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::ScorerStore for $store {
            async fn lead_scores(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                self.bulk_lead_scores(lead_ids).await
            }

            async fn fit_rows(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::FitRow>> {
                self.bulk_fit_rows(lead_ids).await
            }

            async fn put_lead_scores(&self, rows: &[$crate::LeadScoreRow]) -> $crate::StoreResult<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                self.bulk_put_scores(rows).await
            }

            async fn delete_lead_scores(&self, lead_ids: &[i64], product_id: i64) -> $crate::StoreResult<()> {
                if lead_ids.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for part in lead_ids.chunks($crate::MAX_BINDS - 1) {
                    let placeholders: Vec<String> = (2..=part.len() + 1).map(|i| format!("${i}")).collect();
                    for table in ["lead_scores", "score_states"] {
                        let sql = format!(
                            "DELETE FROM {table} WHERE product_id = $1 AND lead_id IN ({})",
                            placeholders.join(",")
                        );
                        let mut query = sqlx::query::<$db>(&sql).bind(product_id);
                        for id in part {
                            query = query.bind(*id);
                        }
                        query.execute(&mut *tx).await.map_err(db_error)?;
                    }
                }
                tx.commit().await.map_err(db_error)
            }

            async fn replace_product_scores(
                &self,
                product_id: i64,
                rows: &[$crate::LeadScoreRow],
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for sql in ["DELETE FROM lead_scores WHERE product_id = $1", "DELETE FROM score_states WHERE product_id = $1"] {
                    sqlx::query::<$db>(sql).bind(product_id).execute(&mut *tx).await.map_err(db_error)?;
                }
                Self::write_scores(&mut *tx, rows).await?;
                tx.commit().await.map_err(db_error)
            }

            async fn scores_due(
                &self,
                now: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                sqlx::query_as::<$db, $crate::LeadScoreRow>(&format!(
                    "{} WHERE s.next_change_at IS NOT NULL AND s.next_change_at <= $1 \
                     ORDER BY s.next_change_at LIMIT $2",
                    $crate::LEAD_SCORE_SELECT
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn replace_scores(&self, product_ids: &[i64], rows: &[$crate::LeadScoreRow]) -> $crate::StoreResult<()> {
                self.bulk_replace_scores(product_ids, rows).await
            }

            async fn scores_due_after(
                &self,
                now: $crate::Millis,
                after: (i64, i64),
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                self.bulk_scores_due(now, after, limit).await
            }

            async fn update_due_scores(
                &self,
                window: $crate::DueWindow,
                score: $crate::ScoreAtTime,
            ) -> $crate::StoreResult<$crate::DueScores> {
                self.bulk_update_due(window, score).await
            }

            async fn update_folded_scores(
                &self,
                rows: &[$crate::LeadScoreRow],
            ) -> $crate::StoreResult<Vec<(i64, i64)>> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                self.bulk_update_folded(rows).await
            }

            async fn put_score_states(&self, states: &[(i64, i64, Vec<u8>)]) -> $crate::StoreResult<()> {
                if states.is_empty() {
                    return Ok(());
                }
                self.bulk_put_states(states).await
            }

            async fn scores_after(
                &self,
                after: (i64, i64),
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                self.bulk_scores_after(after, limit).await
            }

            async fn scoring_event_chunk(
                &self,
                after_id: i64,
                up_to: i64,
                limit: i64,
            ) -> $crate::StoreResult<$crate::ScoringEventChunk> {
                self.bulk_event_chunk(after_id, up_to, limit).await
            }

            async fn update_score_values(
                &self,
                rows: &[(i64, i64, i64, Option<$crate::Millis>)],
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                self.bulk_score_values(rows, now).await
            }

            async fn update_fit_scores(&self, rows: &[(i64, i64, i64)]) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for (lead_id, product_id, fit) in rows {
                    sqlx::query::<$db>(
                        "UPDATE lead_scores SET fit = $1 WHERE lead_id = $2 AND product_id = $3 AND fit <> $1",
                    )
                    .bind(fit)
                    .bind(lead_id)
                    .bind(product_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn scoring_events_after(
                &self,
                after_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ScoringEventRow>> {
                self.bulk_events_after(after_id, limit).await
            }

            async fn max_event_id(&self) -> $crate::StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>("SELECT COALESCE(MAX(id), 0) FROM events")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(id)
            }

            async fn scoring_events_by_ids(&self, ids: &[i64]) -> $crate::StoreResult<Vec<$crate::ScoringEventRow>> {
                self.rows_in(
                    &format!("SELECT {} FROM events WHERE id IN ({{}}) ORDER BY id", $crate::SCORING_EVENT_COLUMNS),
                    ids,
                )
                .await
            }

            async fn lead_scoring_events(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::ScoringEventRow>> {
                sqlx::query_as::<$db, $crate::ScoringEventRow>(&format!(
                    "SELECT {cols} FROM events WHERE lead_id = $1 UNION ALL \
                     SELECT {cols} FROM events WHERE lead_id IS NULL AND visitor_id IN \
                     (SELECT visitor_id FROM visitor_leads WHERE lead_id = $1)",
                    cols = $crate::SCORING_EVENT_COLUMNS
                ))
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn visitor_lead_ids(&self, visitor_ids: &[String]) -> $crate::StoreResult<Vec<(String, i64)>> {
                self.rows_in("SELECT visitor_id, lead_id FROM visitor_leads WHERE visitor_id IN ({})", visitor_ids)
                    .await
            }

            async fn visitor_links_since(&self, since: $crate::Millis) -> $crate::StoreResult<Vec<(i64, $crate::Millis)>> {
                sqlx::query_as::<$db, (i64, $crate::Millis)>(
                    "SELECT lead_id, linked_at FROM visitor_leads WHERE linked_at >= $1 ORDER BY linked_at LIMIT 10000",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn leads_changed_since(
                &self,
                since: $crate::Millis,
                after_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::FitRow>> {
                sqlx::query_as::<$db, $crate::FitRow>(&format!(
                    "{} WHERE (l.updated_at > $1 OR (l.updated_at = $1 AND l.id > $2)) \
                     ORDER BY l.updated_at, l.id LIMIT $3",
                    $crate::FIT_SELECT
                ))
                .bind(since)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn accounts_changed_since(
                &self,
                since: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<(i64, $crate::Millis)>> {
                sqlx::query_as::<$db, (i64, $crate::Millis)>(
                    "SELECT id, updated_at FROM accounts WHERE updated_at >= $1 ORDER BY updated_at, id LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn account_lead_ids(&self, account_id: i64) -> $crate::StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM leads WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn scoring_cursor(&self) -> $crate::StoreResult<$crate::ScoringCursor> {
                sqlx::query_as::<$db, $crate::ScoringCursor>(
                    "SELECT event_id, rewind_to, links_at, leads_at, accounts_at, states_at FROM scoring_cursor WHERE id = 1",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn set_scoring_cursor(
                &self,
                cursor: &$crate::ScoringCursor,
                rewind_seen: Option<i64>,
            ) -> $crate::StoreResult<()> {
                self.bulk_set_scoring_cursor(cursor, rewind_seen).await
            }

            async fn queue_scoring(&self, lead_ids: &[i64]) -> $crate::StoreResult<()> {
                for part in lead_ids.chunks($crate::MAX_BINDS) {
                    let values: Vec<String> = (1..=part.len()).map(|i| format!("(${i})")).collect();
                    let sql = format!(
                        "INSERT INTO scoring_queue (lead_id) VALUES {} ON CONFLICT DO NOTHING",
                        values.join(",")
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for id in part {
                        query = query.bind(*id);
                    }
                    query.execute(&self.pool).await.map_err(db_error)?;
                }
                Ok(())
            }

            async fn take_scoring_queue(&self, limit: i64) -> $crate::StoreResult<Vec<i64>> {
                // Mostly empty: a read says so without waiting for a turn at writing (on SQLite,
                // the event writer's transactions follow one another closely).
                let waiting: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT lead_id FROM scoring_queue LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                if waiting.is_none() {
                    return Ok(Vec::new());
                }
                let rows: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                    "DELETE FROM scoring_queue WHERE lead_id IN \
                     (SELECT lead_id FROM scoring_queue ORDER BY lead_id LIMIT $1) RETURNING lead_id",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ScoreViewStore for $store {

            async fn scored_lead_ids(
                &self,
                product_id: i64,
                min_engagement: i64,
                after: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                    "SELECT lead_id FROM lead_scores WHERE lead_id > $1 AND product_id = $2 AND engagement >= $3 \
                     ORDER BY lead_id LIMIT $4",
                )
                .bind(after)
                .bind(product_id)
                .bind(min_engagement)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn ranked_leads(
                &self,
                product_id: i64,
                min_engagement: i64,
                after: Option<(i64, i64)>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::RankedLead>> {
                let (score, id) = after.unwrap_or((i64::MAX, i64::MAX));
                sqlx::query_as::<$db, $crate::RankedLead>(
                    "SELECT s.lead_id, TRIM(COALESCE(l.family_name, '') || ' ' || COALESCE(l.given_name, '')) AS name, \
                     COALESCE(a.name, l.company_name) AS company_name, l.account_id, s.engagement, s.fit, s.updated_at \
                     FROM lead_scores s JOIN leads l ON l.id = s.lead_id LEFT JOIN accounts a ON a.id = l.account_id \
                     WHERE s.product_id = $1 AND s.engagement >= $2 \
                     AND (s.engagement < $3 OR (s.engagement = $3 AND s.lead_id < $4)) \
                     ORDER BY s.engagement DESC, s.lead_id DESC LIMIT $5",
                )
                .bind(product_id)
                .bind(min_engagement)
                .bind(score)
                .bind(id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn ranked_accounts(
                &self,
                product_id: i64,
                method: &str,
                top: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::RankedAccount>> {
                let score = match method {
                    "max" => "MAX(r.engagement)",
                    "top" => "SUM(CASE WHEN r.place <= $2 THEN r.engagement ELSE 0 END)",
                    _ => "SUM(r.engagement)",
                };
                sqlx::query_as::<$db, $crate::RankedAccount>(&format!(
                    "SELECT r.account_id, a.name, COUNT(*) AS people, CAST({score} AS BIGINT) AS score, MAX(r.engagement) AS best \
                     FROM (SELECT l.account_id, s.engagement, ROW_NUMBER() OVER \
                     (PARTITION BY l.account_id ORDER BY s.engagement DESC, s.lead_id) AS place \
                     FROM lead_scores s JOIN leads l ON l.id = s.lead_id \
                     WHERE s.product_id = $1 AND l.account_id IS NOT NULL) r \
                     JOIN accounts a ON a.id = r.account_id \
                     GROUP BY r.account_id, a.name ORDER BY score DESC, r.account_id LIMIT $3"
                ))
                .bind(product_id)
                .bind(top)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn account_person_scores(
                &self,
                account_id: i64,
            ) -> $crate::StoreResult<Vec<$crate::AccountPersonScore>> {
                sqlx::query_as::<$db, $crate::AccountPersonScore>(
                    "SELECT s.lead_id, s.product_id, s.engagement, s.fit FROM lead_scores s \
                     JOIN leads l ON l.id = s.lead_id WHERE l.account_id = $1 ORDER BY s.product_id, s.engagement DESC",
                )
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }
        }
    };
}

/// The scoring store's bulk paths in plain sqlx (`bulk_*`, which [`impl_scoring_store!`]'s
/// trait methods call): for a backend without faster ones of its own. SQLite has its own
/// (`hatake-sqlite/src/scoring.rs`); PostgreSQL uses these.
#[macro_export]
macro_rules! impl_scoring_sqlx_paths {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn bulk_replace_scores(
                &self,
                product_ids: &[i64],
                rows: &[$crate::LeadScoreRow],
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                // A full recomputation leaves no due times: the next decay pass walks the table.
                sqlx::query::<$db>("UPDATE scoring_cursor SET due_horizon = 0 WHERE id = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for product_id in product_ids {
                    for sql in [
                        "DELETE FROM lead_scores WHERE product_id = $1",
                        "DELETE FROM score_states WHERE product_id = $1",
                    ] {
                        sqlx::query::<$db>(sql).bind(product_id).execute(&mut *tx).await.map_err(db_error)?;
                    }
                }
                let lead_ids: Vec<i64> = {
                    let mut ids: Vec<i64> = rows.iter().map(|r| r.lead_id).collect();
                    ids.dedup();
                    ids
                };
                // Leads deleted meanwhile are left out (their rows would break the foreign key).
                let mut existing = std::collections::HashSet::new();
                for part in lead_ids.chunks($crate::MAX_BINDS) {
                    let placeholders: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = format!("SELECT id FROM leads WHERE id IN ({})", placeholders.join(","));
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql);
                    for id in part {
                        query = query.bind(*id);
                    }
                    existing.extend(query.fetch_all(&mut *tx).await.map_err(db_error)?.into_iter().map(|(id,)| id));
                }
                let kept: Vec<$crate::LeadScoreRow> =
                    rows.iter().filter(|r| existing.contains(&r.lead_id)).cloned().collect();
                Self::write_scores(&mut *tx, &kept).await?;
                tx.commit().await.map_err(db_error)
            }

            async fn bulk_set_scoring_cursor(
                &self,
                cursor: &$crate::ScoringCursor,
                rewind_seen: Option<i64>,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE scoring_cursor SET event_id = $1, links_at = $2, leads_at = $3, accounts_at = $4, \
                     rewind_to = CASE WHEN rewind_to = $5 THEN NULL ELSE rewind_to END, states_at = $6 WHERE id = 1",
                )
                .bind(cursor.event_id)
                .bind(cursor.links_at)
                .bind(cursor.leads_at)
                .bind(cursor.accounts_at)
                .bind(rewind_seen)
                .bind(cursor.states_at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn bulk_scores_after(
                &self,
                after: (i64, i64),
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                sqlx::query_as::<$db, $crate::LeadScoreRow>(&format!(
                    "{} WHERE (s.lead_id > $1 OR (s.lead_id = $1 AND s.product_id > $2)) \
                     ORDER BY s.lead_id, s.product_id LIMIT $3",
                    $crate::LEAD_SCORE_SELECT
                ))
                .bind(after.0)
                .bind(after.1)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn bulk_scores_due(
                &self,
                now: $crate::Millis,
                after: (i64, i64),
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                sqlx::query_as::<$db, $crate::LeadScoreRow>(&format!(
                    "{} WHERE s.next_change_at IS NOT NULL AND s.next_change_at <= $1 \
                     AND (s.lead_id > $2 OR (s.lead_id = $2 AND s.product_id > $3)) \
                     ORDER BY s.lead_id, s.product_id LIMIT $4",
                    $crate::LEAD_SCORE_SELECT
                ))
                .bind(now)
                .bind(after.0)
                .bind(after.1)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn bulk_events_after(
                &self,
                after_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ScoringEventRow>> {
                sqlx::query_as::<$db, $crate::ScoringEventRow>(&format!(
                    "SELECT {} FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                    $crate::SCORING_EVENT_COLUMNS
                ))
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn bulk_event_chunk(
                &self,
                after_id: i64,
                up_to: i64,
                limit: i64,
            ) -> $crate::StoreResult<$crate::ScoringEventChunk> {
                let rows = $crate::ScorerStore::scoring_events_after(self, after_id, limit).await?;
                let rows: Vec<&$crate::ScoringEventRow> = rows.iter().filter(|e| e.id <= up_to).collect();
                let mut visitors: Vec<String> =
                    rows.iter().filter(|e| e.lead_id.is_none()).filter_map(|e| e.visitor_id.clone()).collect();
                visitors.sort_unstable();
                visitors.dedup();
                let links: std::collections::HashMap<String, i64> = if visitors.is_empty() {
                    std::collections::HashMap::new()
                } else {
                    $crate::ScorerStore::visitor_lead_ids(self, &visitors).await?.into_iter().collect()
                };
                let mut chunk = $crate::ScoringEventChunk::with_capacity(rows.len());
                for e in rows {
                    let lead = e.lead_id.or_else(|| e.visitor_id.as_ref().and_then(|v| links.get(v).copied()));
                    chunk.push(e.id, lead, e.product_id, e.occurred_at, &e.kind, e.name.as_deref(), &e.properties);
                }
                Ok(chunk)
            }

            async fn bulk_lead_scores(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::LeadScoreRow>> {
                self.rows_in(
                    &format!(
                        "{} WHERE s.lead_id IN ({{}}) ORDER BY s.lead_id, s.product_id",
                        $crate::LEAD_SCORE_SELECT
                    ),
                    lead_ids,
                )
                .await
            }

            async fn bulk_fit_rows(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::FitRow>> {
                self.rows_in(&format!("{} WHERE l.id IN ({{}})", $crate::FIT_SELECT), lead_ids).await
            }

            async fn bulk_put_scores(&self, rows: &[$crate::LeadScoreRow]) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                Self::write_scores(&mut *tx, rows).await?;
                tx.commit().await.map_err(db_error)
            }

            async fn bulk_update_due(
                &self,
                window: $crate::DueWindow,
                score: $crate::ScoreAtTime,
            ) -> $crate::StoreResult<$crate::DueScores> {
                const CHUNK: i64 = 10_000;
                let now = window.now;
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let stored = Self::due_horizon(&mut *tx).await?;
                // While the horizon holds, the due rows are found by `due_at`; when it runs out,
                // every row changing before the next one is walked and given its `due_at`.
                let walk = window.runs_out(stored);
                let horizon = if walk { window.next_horizon() } else { stored };
                let filter = if walk {
                    "((s.next_change_at IS NOT NULL AND s.next_change_at < $1) OR s.due_at IS NOT NULL)"
                } else {
                    "s.due_at IS NOT NULL AND s.due_at <= $1"
                };
                let limit_at = if walk { horizon } else { now };
                let sql = format!(
                    "{} WHERE {filter} AND (s.lead_id > $2 OR (s.lead_id = $2 AND s.product_id > $3)) \
                     ORDER BY s.lead_id, s.product_id LIMIT $4",
                    $crate::LEAD_SCORE_SELECT
                );
                let mut done = $crate::DueScores::default();
                let mut after = (i64::MIN, i64::MIN);
                loop {
                    let due = sqlx::query_as::<$db, $crate::LeadScoreRow>(&sql)
                        .bind(limit_at)
                        .bind(after.0)
                        .bind(after.1)
                        .bind(CHUNK)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let Some(last) = due.last() else { break };
                    after = (last.lead_id, last.product_id);
                    for row in &due {
                        let (engagement, next) = if row.next_change_at.is_some_and(|at| at <= now) {
                            done.rows += 1;
                            match score(row) {
                                Some(values) => values,
                                None => {
                                    done.refold.push(row.lead_id);
                                    continue;
                                }
                            }
                        } else {
                            (row.engagement, row.next_change_at)
                        };
                        sqlx::query::<$db>(
                            "UPDATE lead_scores SET engagement = $1, next_change_at = $2, due_at = $3, updated_at = $4 \
                             WHERE lead_id = $5 AND product_id = $6",
                        )
                        .bind(engagement)
                        .bind(next)
                        .bind($crate::due_at(next, horizon))
                        .bind(if next == row.next_change_at && engagement == row.engagement { row.updated_at } else { now })
                        .bind(row.lead_id)
                        .bind(row.product_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    if (due.len() as i64) < CHUNK {
                        break;
                    }
                }
                if walk {
                    sqlx::query::<$db>("UPDATE scoring_cursor SET due_horizon = $1 WHERE id = 1")
                        .bind(horizon)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(done)
            }

            /// One UPDATE per row.
            async fn bulk_score_values(
                &self,
                rows: &[(i64, i64, i64, Option<$crate::Millis>)],
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let horizon = Self::due_horizon(&mut *tx).await?;
                for (lead_id, product_id, engagement, next) in rows {
                    sqlx::query::<$db>(
                        "UPDATE lead_scores SET engagement = $1, next_change_at = $2, due_at = $3, updated_at = $4 \
                         WHERE lead_id = $5 AND product_id = $6",
                    )
                    .bind(engagement)
                    .bind(next)
                    .bind($crate::due_at(*next, horizon))
                    .bind(now)
                    .bind(lead_id)
                    .bind(product_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            /// One UPDATE per row.
            async fn bulk_update_folded(
                &self,
                rows: &[$crate::LeadScoreRow],
            ) -> $crate::StoreResult<Vec<(i64, i64)>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let horizon = Self::due_horizon(&mut *tx).await?;
                let mut missing = Vec::new();
                for row in rows {
                    let updated = sqlx::query::<$db>(
                        "UPDATE lead_scores SET model_version = $1, engagement = $2, next_change_at = $3, due_at = $4, \
                         updated_at = $5 WHERE lead_id = $6 AND product_id = $7",
                    )
                    .bind(row.model_version)
                    .bind(row.engagement)
                    .bind(row.next_change_at)
                    .bind($crate::due_at(row.next_change_at, horizon))
                    .bind(row.updated_at)
                    .bind(row.lead_id)
                    .bind(row.product_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if updated.rows_affected() == 0 {
                        missing.push((row.lead_id, row.product_id));
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(missing)
            }

            /// One UPDATE per state.
            async fn bulk_put_states(&self, states: &[(i64, i64, Vec<u8>)]) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for (lead_id, product_id, state) in states {
                    sqlx::query::<$db>("UPDATE score_states SET state = $1 WHERE lead_id = $2 AND product_id = $3")
                        .bind(state)
                        .bind(lead_id)
                        .bind(product_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }
        }
    };
}
