//! Segments ([`SegmentStore`]): saved definitions ([`hatake_domain::segment::Definition`]) and
//! their members. A definition becomes one condition on `leads l` ([`condition_sql`]), the same
//! for a fresh evaluation (a count while editing, an export) and for keeping the membership
//! current: a rebuild of the whole segment after its definition changed, then refreshes of the
//! leads whose events, scores, records, stages or subscriptions changed, and of those whose
//! events aged out of a window. The SQL is instantiated by each backend with
//! [`impl_segment_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use hatake_domain::segment::{Condition, Definition, RECENT_KEPT, TIME_DIGITS};
use serde::Serialize;

/// A value bound to a segment's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
    Bool(bool),
}

const DAY: Millis = 86_400_000;

struct Builder {
    binds: Vec<Bind>,
    /// Counting for every lead at once (a fresh evaluation, a rebuild) rather than for a few.
    all: bool,
    /// The activity summary (`lead_activity`) is built: behaviour reads it, not the log.
    activity: bool,
}

impl Builder {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn list(&mut self, values: &[String]) -> String {
        let values: Vec<&String> = values.iter().filter(|v| !v.trim().is_empty()).collect();
        if values.is_empty() {
            return "(NULL)".into();
        }
        let marks: Vec<String> = values.into_iter().map(|v| self.bind(Bind::Text(v.trim().to_owned()))).collect();
        format!("({})", marks.join(", "))
    }

    fn range(&mut self, column: &str, min: Option<i64>, max: Option<i64>) -> String {
        let mut parts = Vec::new();
        if let Some(min) = min {
            parts.push(format!("{column} >= {}", self.bind(Bind::Int(min))));
        }
        if let Some(max) = max {
            parts.push(format!("{column} <= {}", self.bind(Bind::Int(max))));
        }
        if parts.is_empty() {
            "TRUE".into()
        } else {
            parts.join(" AND ")
        }
    }

    fn condition(&mut self, condition: &Condition, now: Millis) -> String {
        let not = |negate: bool, sql: String| if negate { format!("NOT ({sql})") } else { sql };
        match condition {
            Condition::Kind { lead } => format!("l.is_lead = {}", self.bind(Bind::Bool(*lead))),
            Condition::DepartmentClass { values, negate } => {
                let list = self.list(values);
                not(*negate, format!("COALESCE(l.department_class IN {list}, FALSE)"))
            }
            Condition::Prefecture { values, negate } => {
                let list = self.list(values);
                not(
                    *negate,
                    format!(
                        "(COALESCE(l.prefecture IN {list}, FALSE) OR (l.prefecture IS NULL AND l.account_id IN \
                         (SELECT a.id FROM accounts a WHERE a.prefecture IN {list})))"
                    ),
                )
            }
            Condition::Industry { values, negate } => {
                let list = self.list(values);
                not(
                    *negate,
                    format!(
                        "COALESCE(l.account_id IN (SELECT a.id FROM accounts a WHERE a.industry IN {list}), FALSE)"
                    ),
                )
            }
            Condition::Employees { min, max } => {
                let range = self.range("a.employee_count", *min, *max);
                format!("COALESCE(l.account_id IN (SELECT a.id FROM accounts a WHERE {range}), FALSE)")
            }
            Condition::Product { product_id, negate } => {
                let product = self.bind(Bind::Int(*product_id));
                not(
                    *negate,
                    format!(
                        "EXISTS (SELECT 1 FROM lead_products p WHERE p.lead_id = l.id AND p.product_id = {product})"
                    ),
                )
            }
            Condition::Stage { product_id, stages } => {
                let product = self.bind(Bind::Int(*product_id));
                let list = self.list(stages);
                let mut sql = format!(
                    "EXISTS (SELECT 1 FROM lead_stages s WHERE s.lead_id = l.id AND s.product_id = {product} \
                     AND s.stage IN {list})"
                );
                // No stage recorded for the product: still a lead.
                if stages.iter().any(|s| s == "lead") {
                    sql = format!(
                        "({sql} OR NOT EXISTS (SELECT 1 FROM lead_stages s WHERE s.lead_id = l.id \
                         AND s.product_id = {product}))"
                    );
                }
                sql
            }
            Condition::Owner { user_ids, unassigned } => {
                let mut parts = Vec::new();
                if !user_ids.is_empty() {
                    let marks: Vec<String> = user_ids.iter().map(|id| self.bind(Bind::Int(*id))).collect();
                    parts.push(format!("COALESCE(l.owner_id IN ({}), FALSE)", marks.join(", ")));
                }
                if *unassigned {
                    parts.push("l.owner_id IS NULL".into());
                }
                format!("({})", parts.join(" OR "))
            }
            Condition::Score { product_id, min, max } => {
                let product = self.bind(Bind::Int(*product_id));
                let range = self.range("s.engagement", *min, *max);
                let mut sql = format!(
                    "EXISTS (SELECT 1 FROM lead_scores s WHERE s.lead_id = l.id AND s.product_id = {product} AND {range})"
                );
                // No score yet is a score of 0.
                if min.is_none_or(|m| m <= 0) && max.is_none_or(|m| m >= 0) {
                    sql = format!(
                        "({sql} OR NOT EXISTS (SELECT 1 FROM lead_scores s WHERE s.lead_id = l.id \
                         AND s.product_id = {product}))"
                    );
                }
                sql
            }
            Condition::Behaviour { kind, product_id, days, at_least, negate } => {
                let kind = self.bind(Bind::Text(kind.clone()));
                let since = self.bind(Bind::Int(now - days * DAY));
                let product = match product_id {
                    Some(id) => format!(" AND e.product_id = {}", self.bind(Bind::Int(*id))),
                    None => String::new(),
                };
                if self.activity && usize::try_from(*at_least).is_ok_and(|k| (1..=RECENT_KEPT).contains(&k)) {
                    // The summary: the k-th most recent time of the kind (for the product, or
                    // any: product 0) is in the window. One row per person, by the index on
                    // kind, product and newest time.
                    let k = usize::try_from(*at_least).unwrap_or(1);
                    let product = self.bind(Bind::Int(product_id.unwrap_or(0)));
                    let mut filter = format!("a.kind = {kind} AND a.product_id = {product} AND a.last_at >= {since}");
                    if k > 1 {
                        let (start, end) = ((k - 1) * TIME_DIGITS + 1, k * TIME_DIGITS);
                        filter.push_str(&format!(
                            " AND CASE WHEN length(a.recent) >= {end} THEN \
                             CAST(substr(a.recent, {start}, {TIME_DIGITS}) AS BIGINT) END >= {since}"
                        ));
                    }
                    let sql = if self.all {
                        format!("l.id IN (SELECT a.lead_id FROM lead_activity a WHERE {filter})")
                    } else {
                        format!("EXISTS (SELECT 1 FROM lead_activity a WHERE a.lead_id = l.id AND {filter})")
                    };
                    return not(*negate, sql);
                }
                let count = self.bind(Bind::Int(*at_least));
                // The lead's own events and those of the browsers linked to it: for every lead,
                // one pass over the log's events grouped by lead (no index on kind and time: it
                // halved ingestion); for a few leads, their events looked up by lead.
                if self.all {
                    let leads = format!(
                        "SELECT x.lid FROM (SELECT e.lead_id AS lid FROM events e WHERE e.kind = {kind} \
                         AND e.occurred_at >= {since} AND e.lead_id IS NOT NULL{product} \
                         UNION ALL SELECT v.lead_id AS lid FROM events e JOIN visitor_leads v ON v.visitor_id = e.visitor_id \
                         WHERE e.kind = {kind} AND e.occurred_at >= {since} AND e.lead_id IS NULL{product}) x \
                         GROUP BY x.lid HAVING COUNT(*) >= {count}"
                    );
                    return not(*negate, format!("l.id IN ({leads})"));
                }
                let counted = format!(
                    "(SELECT COUNT(*) FROM events e WHERE e.lead_id = l.id AND e.kind = {kind} \
                     AND e.occurred_at >= {since}{product}) + \
                     (SELECT COUNT(*) FROM visitor_leads v JOIN events e ON e.visitor_id = v.visitor_id \
                     WHERE v.lead_id = l.id AND e.lead_id IS NULL AND e.kind = {kind} AND e.occurred_at >= {since}{product})"
                );
                not(*negate, format!("({counted}) >= {count}"))
            }
            Condition::Subscription { topic, status } => {
                let topic = self.bind(Bind::Text(topic.clone()));
                if status == "never" {
                    format!("NOT EXISTS (SELECT 1 FROM subscriptions u WHERE u.lead_id = l.id AND u.topic = {topic})")
                } else {
                    let status = self.bind(Bind::Text(status.clone()));
                    format!(
                        "EXISTS (SELECT 1 FROM subscriptions u WHERE u.lead_id = l.id AND u.topic = {topic} \
                         AND u.status = {status})"
                    )
                }
            }
        }
    }
}

/// The condition on `leads l` that a definition makes at `now`, with its values in bind order
/// (`$1`, `$2`, …, after `first` values the caller binds first). `all`: written for evaluating
/// every lead at once (else for a few leads named by the caller). `activity`: the activity
/// summary is built, and behaviour conditions read it (those counting more than
/// [`RECENT_KEPT`] times read the log).
pub fn condition_sql(
    definition: &Definition,
    now: Millis,
    first: usize,
    all: bool,
    activity: bool,
) -> (String, Vec<Bind>) {
    let mut builder = Builder { binds: vec![Bind::Int(0); first], all, activity };
    let mut groups = Vec::new();
    for group in &definition.groups {
        if group.conditions.is_empty() {
            continue;
        }
        let parts: Vec<String> = group.conditions.iter().map(|c| builder.condition(c, now)).collect();
        groups.push(format!("({})", parts.join(if group.any { " OR " } else { " AND " })));
    }
    let sql = if groups.is_empty() {
        "FALSE".to_owned()
    } else {
        format!("({})", groups.join(if definition.any { " OR " } else { " AND " }))
    };
    let binds = builder.binds.split_off(first);
    (sql, binds)
}

/// A saved segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// JSON of [`Definition`].
    pub definition: String,
    /// Bumped by every save of the definition.
    pub version: i64,
    /// The version the members were last rebuilt for (behind `version`: being rebuilt).
    pub built_version: i64,
    pub member_count: i64,
    pub refreshed_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub updated_by: Option<i64>,
    pub updated_by_name: Option<String>,
    pub archived_at: Option<Millis>,
}

impl SegmentRow {
    pub fn parsed(&self) -> Option<Definition> {
        serde_json::from_str(&self.definition).ok()
    }
}

/// Where the segment worker records how far the activity summary is built:
/// [`ActivityBuild`] as JSON.
pub const SETTING_ACTIVITY: &str = "segments.activity";

/// How far the activity summary is built: every lead up to `after` (by id); `built` once all
/// were, from when on segments read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ActivityBuild {
    pub built: bool,
    pub after: i64,
}

/// An event as the activity summary takes it: the lead it counts for (its own, or the one its
/// browser is linked to), kind, product and time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityEvent {
    pub id: i64,
    pub lead_id: i64,
    pub kind: String,
    pub product_id: Option<i64>,
    pub occurred_at: Millis,
}

/// One row of the activity summary (see [`hatake_domain::segment::Activity`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityRow {
    pub lead_id: i64,
    pub kind: String,
    /// 0: any product.
    pub product_id: i64,
    pub last_at: Millis,
    pub recent: String,
    pub upto: i64,
}

/// What a refresh changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub added: u64,
    pub removed: u64,
}

#[async_trait]
pub trait SegmentStore: Send + Sync + 'static {
    /// [`crate::StoreError::Conflict`] (`name`) when the name is taken.
    async fn create_segment(
        &self,
        name: &str,
        description: &str,
        definition: &Definition,
        by_user: Option<i64>,
        now: Millis,
    ) -> StoreResult<i64>;
    /// Saves name, description and definition; a changed definition bumps the version (the
    /// members are rebuilt for it).
    async fn save_segment(
        &self,
        id: i64,
        name: &str,
        description: &str,
        definition: &Definition,
        by_user: Option<i64>,
        now: Millis,
    ) -> StoreResult<()>;
    async fn segment(&self, id: i64) -> StoreResult<Option<SegmentRow>>;
    /// Segments by name (archived ones instead, when asked), with the total.
    async fn segments(&self, archived: bool, offset: i64, limit: i64) -> StoreResult<(Vec<SegmentRow>, i64)>;
    async fn archive_segment(&self, id: i64, archived: bool, now: Millis) -> StoreResult<()>;
    /// A fresh evaluation: how many leads match now.
    async fn count_matching(&self, definition: &Definition, now: Millis) -> StoreResult<i64>;
    /// A fresh evaluation: the matching leads' ids after `after`, by id.
    async fn matching_ids(&self, definition: &Definition, now: Millis, after: i64, limit: i64)
        -> StoreResult<Vec<i64>>;
    /// Makes the members exactly the matching leads among `leads` (all leads when `None`), in one
    /// transaction; with `None`, records `version` as built. Updates the member count.
    async fn refresh_segment(
        &self,
        id: i64,
        definition: &Definition,
        version: i64,
        leads: Option<&[i64]>,
        now: Millis,
    ) -> StoreResult<Refreshed>;
    /// The members' ids after `after`, by id.
    async fn segment_member_ids(&self, id: i64, after: i64, limit: i64) -> StoreResult<Vec<i64>>;
    /// The id of the last of the next `limit` events after `after` (`after` when none).
    async fn events_window_end(&self, after: i64, limit: i64) -> StoreResult<i64>;
    /// Leads something a segment reads changed for: events after `after_event` up to
    /// `upto_event`, and records, scores, stages, interests and subscriptions changed at or
    /// after `since`.
    async fn segment_changes(
        &self,
        after_event: i64,
        upto_event: i64,
        since: Millis,
        reads: hatake_domain::segment::Reads,
    ) -> StoreResult<Vec<i64>>;
    /// Where SQLite's log was rewound (a deleted event at or below an id read gives that id
    /// again), taken once; `None` when it was not.
    async fn take_segment_rewind(&self) -> StoreResult<Option<i64>>;
    /// Whether the activity summary is built ([`SETTING_ACTIVITY`]).
    async fn activity_ready(&self) -> StoreResult<bool>;
    /// The events after `after` up to `upto` with the lead each counts for, by id.
    async fn activity_events(&self, after: i64, upto: i64) -> StoreResult<Vec<ActivityEvent>>;
    /// Every event of these leads (theirs and their browsers') up to the newest id when asked,
    /// by id, and that id: every event of theirs at or below it is read.
    async fn lead_activity_events(&self, leads: &[i64]) -> StoreResult<(Vec<ActivityEvent>, i64)>;
    /// The activity summary's rows of these leads.
    async fn activity_rows(&self, leads: &[i64]) -> StoreResult<Vec<ActivityRow>>;
    /// The activity summary's rows of these (lead, kind, product) keys, those that exist.
    async fn activity_rows_of(&self, keys: &[(i64, String, i64)]) -> StoreResult<Vec<ActivityRow>>;
    /// In one transaction: removes the rows of the `replace` leads, then writes `rows` (a row
    /// of the same lead, kind and product is replaced).
    async fn write_activity(&self, replace: &[i64], rows: &[ActivityRow]) -> StoreResult<()>;
    /// Leads queued to have their rows built again from the log (up to `limit`), taken.
    async fn take_activity_queue(&self, limit: i64) -> StoreResult<Vec<i64>>;
    /// Lead ids after `after`, by id (building the summary a slice at a time).
    async fn lead_ids_after(&self, after: i64, limit: i64) -> StoreResult<Vec<i64>>;
    /// Leads whose `k`-th most recent time of a kind (product 0: any) is in `[from, to)` by the
    /// summary: those for whom "at least k in the window" stopped holding when the window's
    /// start moved from `from` to `to` (`k` ≤ [`RECENT_KEPT`]).
    async fn activity_exits(
        &self,
        kind: &str,
        product_id: i64,
        k: usize,
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<i64>>;
    /// Leads with an event of `kind` (for the product) that left a `days`-day window between
    /// `from` and `to`.
    async fn window_exits(
        &self,
        kind: &str,
        product_id: Option<i64>,
        days: i64,
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<i64>>;
}

pub const SEGMENT_COLUMNS: &str =
    "g.id, g.name, g.description, g.definition, g.version, g.built_version, g.member_count, \
     g.refreshed_at, g.created_at, g.updated_at, g.updated_by, u.display_name AS updated_by_name, g.archived_at";

/// Binds a segment condition's values to a query, in order.
#[macro_export]
macro_rules! bind_segment {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                $crate::Bind::Int(v) => query.bind(v),
                $crate::Bind::Text(v) => query.bind(v),
                $crate::Bind::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}

#[macro_export]
macro_rules! impl_segment_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::SegmentStore for $store {
            async fn create_segment(
                &self,
                name: &str,
                description: &str,
                definition: &hatake_domain::segment::Definition,
                by_user: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let json = serde_json::to_string(definition).unwrap_or_default();
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO segments (name, description, definition, version, built_version, member_count, \
                     created_at, updated_at, updated_by) VALUES ($1, $2, $3, 1, 0, 0, $4, $4, $5) RETURNING id",
                )
                .bind(name)
                .bind(description)
                .bind(json)
                .bind(now)
                .bind(by_user)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(id)
            }

            async fn save_segment(
                &self,
                id: i64,
                name: &str,
                description: &str,
                definition: &hatake_domain::segment::Definition,
                by_user: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let json = serde_json::to_string(definition).unwrap_or_default();
                let done = sqlx::query::<$db>(
                    "UPDATE segments SET name = $2, description = $3, \
                     version = CASE WHEN definition = $4 THEN version ELSE version + 1 END, definition = $4, \
                     updated_at = $5, updated_by = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(name)
                .bind(description)
                .bind(json)
                .bind(now)
                .bind(by_user)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }

            async fn segment(&self, id: i64) -> $crate::StoreResult<Option<$crate::SegmentRow>> {
                let sql = format!(
                    "SELECT {} FROM segments g LEFT JOIN users u ON u.id = g.updated_by WHERE g.id = $1",
                    $crate::SEGMENT_COLUMNS
                );
                sqlx::query_as::<$db, $crate::SegmentRow>(&sql).bind(id).fetch_optional(&self.pool).await.map_err(db_error)
            }

            async fn segments(
                &self,
                archived: bool,
                offset: i64,
                limit: i64,
            ) -> $crate::StoreResult<(Vec<$crate::SegmentRow>, i64)> {
                let filter = if archived { "g.archived_at IS NOT NULL" } else { "g.archived_at IS NULL" };
                let sql = format!(
                    "SELECT {} FROM segments g LEFT JOIN users u ON u.id = g.updated_by WHERE {filter} \
                     ORDER BY g.name, g.id LIMIT $1 OFFSET $2",
                    $crate::SEGMENT_COLUMNS
                );
                let rows = sqlx::query_as::<$db, $crate::SegmentRow>(&sql)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                let (total,): (i64,) =
                    sqlx::query_as::<$db, (i64,)>(&format!("SELECT COUNT(*) FROM segments g WHERE {filter}"))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)?;
                Ok((rows, total))
            }

            async fn archive_segment(&self, id: i64, archived: bool, now: $crate::Millis) -> $crate::StoreResult<()> {
                let done = sqlx::query::<$db>("UPDATE segments SET archived_at = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(archived.then_some(now))
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }

            async fn count_matching(
                &self,
                definition: &hatake_domain::segment::Definition,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let activity = self.activity_ready().await?;
                let (condition, binds) = $crate::condition_sql(definition, now, 0, true, activity);
                let sql = format!("SELECT COUNT(*) FROM leads l WHERE {condition}");
                let query = sqlx::query_scalar::<$db, i64>(&sql);
                let query = $crate::bind_segment!(query, binds);
                query.fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn matching_ids(
                &self,
                definition: &hatake_domain::segment::Definition,
                now: $crate::Millis,
                after: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<i64>> {
                let activity = self.activity_ready().await?;
                let (condition, binds) = $crate::condition_sql(definition, now, 2, true, activity);
                let sql = format!("SELECT l.id FROM leads l WHERE l.id > $1 AND {condition} ORDER BY l.id LIMIT $2");
                let query = sqlx::query_scalar::<$db, i64>(&sql).bind(after).bind(limit);
                let query = $crate::bind_segment!(query, binds);
                query.fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn refresh_segment(
                &self,
                id: i64,
                definition: &hatake_domain::segment::Definition,
                version: i64,
                leads: Option<&[i64]>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::Refreshed> {
                if leads.is_some_and(<[i64]>::is_empty) {
                    return Ok($crate::Refreshed::default());
                }
                // Ids are numbers: written into the statement, not bound (a list of any length).
                let scope = leads.map(|ids| {
                    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                    format!(" AND l.id IN ({})", list.join(","))
                });
                let scope = scope.as_deref().unwrap_or("");
                let member_scope = scope.replace("l.id", "m.lead_id");
                let activity = self.activity_ready().await?;
                let (condition, binds) = $crate::condition_sql(definition, now, 2, leads.is_none(), activity);
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                // Members that no longer match (or whose lead is gone).
                let delete = format!(
                    "DELETE FROM segment_members WHERE segment_id = $1 AND $2 = $2 AND lead_id IN \
                     (SELECT m.lead_id FROM segment_members m WHERE m.segment_id = $1{member_scope} \
                     AND NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = m.lead_id AND {condition}))"
                );
                let query = sqlx::query::<$db>(&delete).bind(id).bind(now);
                let removed = $crate::bind_segment!(query, binds.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                let insert = format!(
                    "INSERT INTO segment_members (segment_id, lead_id, since) SELECT $1, l.id, $2 FROM leads l \
                     WHERE {condition}{scope} ON CONFLICT (segment_id, lead_id) DO NOTHING"
                );
                let query = sqlx::query::<$db>(&insert).bind(id).bind(now);
                let added = $crate::bind_segment!(query, binds)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                let built = if leads.is_none() { ", built_version = $3" } else { "" };
                sqlx::query::<$db>(&format!(
                    "UPDATE segments SET member_count = (SELECT COUNT(*) FROM segment_members WHERE segment_id = $1), \
                     refreshed_at = $2{built} WHERE id = $1"
                ))
                .bind(id)
                .bind(now)
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok($crate::Refreshed { added, removed })
            }

            async fn segment_member_ids(&self, id: i64, after: i64, limit: i64) -> $crate::StoreResult<Vec<i64>> {
                sqlx::query_scalar::<$db, i64>(
                    "SELECT lead_id FROM segment_members WHERE segment_id = $1 AND lead_id > $2 ORDER BY lead_id LIMIT $3",
                )
                .bind(id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn events_window_end(&self, after: i64, limit: i64) -> $crate::StoreResult<i64> {
                let last: Option<i64> = sqlx::query_scalar::<$db, Option<i64>>(
                    "SELECT MAX(id) FROM (SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2) x",
                )
                .bind(after)
                .bind(limit)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(last.unwrap_or(after))
            }

            async fn segment_changes(
                &self,
                after_event: i64,
                upto_event: i64,
                since: $crate::Millis,
                reads: hatake_domain::segment::Reads,
            ) -> $crate::StoreResult<Vec<i64>> {
                // Only the tables some segment reads (a scan of scores, say, only when one asks
                // for scores).
                let mut sql = String::new();
                if reads.events {
                    // The window's anonymous events by id (see `activity_events`).
                    sql.push_str(
                        "WITH n AS MATERIALIZED (SELECT visitor_id FROM events WHERE id > $1 AND id <= $2 \
                         AND lead_id IS NULL) ",
                    );
                }
                sql.push_str("SELECT id FROM leads WHERE updated_at >= $3 AND $1 = $1 AND $2 = $2");
                if reads.events {
                    sql.push_str(
                        " UNION SELECT lead_id FROM events WHERE id > $1 AND id <= $2 AND lead_id IS NOT NULL \
                         UNION SELECT v.lead_id FROM n JOIN visitor_leads v ON v.visitor_id = n.visitor_id \
                         UNION SELECT lead_id FROM visitor_leads WHERE linked_at >= $3",
                    );
                }
                if reads.scores {
                    sql.push_str(" UNION SELECT lead_id FROM lead_scores WHERE updated_at >= $3");
                }
                if reads.stages {
                    sql.push_str(" UNION SELECT lead_id FROM lead_stages WHERE updated_at >= $3");
                }
                if reads.interests {
                    sql.push_str(" UNION SELECT lead_id FROM lead_products WHERE created_at >= $3");
                }
                if reads.subscriptions {
                    sql.push_str(" UNION SELECT lead_id FROM subscriptions WHERE at >= $3");
                }
                let mut leads: Vec<i64> = sqlx::query_scalar::<$db, i64>(&sql)
                    .bind(after_event)
                    .bind(upto_event)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                leads.sort_unstable();
                leads.dedup();
                Ok(leads)
            }

            async fn take_segment_rewind(&self) -> $crate::StoreResult<Option<i64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let rewind: Option<i64> =
                    sqlx::query_scalar::<$db, Option<i64>>("SELECT rewind_to FROM segment_rewind WHERE id = 1")
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .flatten();
                if rewind.is_some() {
                    sqlx::query::<$db>("UPDATE segment_rewind SET rewind_to = NULL WHERE id = 1")
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(rewind)
            }

            async fn activity_ready(&self) -> $crate::StoreResult<bool> {
                let value: Option<String> =
                    sqlx::query_scalar::<$db, String>("SELECT value FROM settings WHERE key = $1")
                        .bind($crate::SETTING_ACTIVITY)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?;
                Ok(value
                    .and_then(|v| serde_json::from_str::<$crate::ActivityBuild>(&v).ok())
                    .is_some_and(|b| b.built))
            }

            async fn activity_events(&self, after: i64, upto: i64) -> $crate::StoreResult<Vec<$crate::ActivityEvent>> {
                // The window's anonymous events first, by id (`MATERIALIZED`: SQLite would
                // otherwise walk every anonymous event by browser).
                let mut events = sqlx::query_as::<$db, $crate::ActivityEvent>(
                    "WITH n AS MATERIALIZED (SELECT id, visitor_id, kind, product_id, occurred_at FROM events \
                     WHERE id > $1 AND id <= $2 AND lead_id IS NULL) \
                     SELECT e.id, e.lead_id, e.kind, e.product_id, e.occurred_at FROM events e \
                     WHERE e.id > $1 AND e.id <= $2 AND e.lead_id IS NOT NULL \
                     UNION ALL SELECT n.id, v.lead_id, n.kind, n.product_id, n.occurred_at FROM n \
                     JOIN visitor_leads v ON v.visitor_id = n.visitor_id",
                )
                .bind(after)
                .bind(upto)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                events.sort_unstable_by_key(|e| e.id);
                Ok(events)
            }

            async fn lead_activity_events(&self, leads: &[i64]) -> $crate::StoreResult<(Vec<$crate::ActivityEvent>, i64)> {
                // A slice of neighbouring ids (the first build) is read as a range of the lead
                // index, scattered ones (the queue) one lead at a time: SQLite's lead index
                // leads with the id's bucket, so a list of leads would scan the whole log.
                const OWN: &str = "SELECT e.id, e.lead_id, e.kind, e.product_id, e.occurred_at FROM events e";
                // (Browsers first, then their events: `CROSS JOIN` keeps SQLite to that order.)
                const LINKED: &str = "SELECT e.id, v.lead_id, e.kind, e.product_id, e.occurred_at FROM visitor_leads v \
                                      CROSS JOIN events e WHERE e.visitor_id = v.visitor_id AND e.visitor_id IS NOT NULL";
                let mut sorted = leads.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                // Everything up to the newest event now, and nothing after it (in both arms: an
                // event after it is the fold's, never counted twice).
                let upto: i64 = sqlx::query_scalar::<$db, i64>("SELECT COALESCE(MAX(id), 0) FROM events")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                let (Some(first), Some(last)) = (sorted.first().copied(), sorted.last().copied()) else {
                    return Ok((Vec::new(), upto));
                };
                // SQLite's lead index leads with the bucket: name them all, so each is a seek.
                let buckets = match <$store>::LEAD_BUCKET_SHIFT {
                    Some(shift) => {
                        let all: Vec<String> = (0..=(upto >> shift)).map(|b| b.to_string()).collect();
                        format!("e.bucket IN ({}) AND ", all.join(","))
                    }
                    None => String::new(),
                };
                // (`+`: the bound must not lead SQLite to walk the table by id.)
                let buckets = format!("{buckets}+e.id <= {upto} AND ");
                let mut events = Vec::new();
                if sorted.len() > 16 && last - first < 4 * sorted.len() as i64 {
                    let sql = format!(
                        "{OWN} WHERE {buckets}e.lead_id >= $1 AND e.lead_id <= $2 \
                         UNION ALL {LINKED} AND +e.id <= {upto} AND v.lead_id >= $1 AND v.lead_id <= $2 AND e.lead_id IS NULL"
                    );
                    let found = sqlx::query_as::<$db, $crate::ActivityEvent>(&sql)
                        .bind(first)
                        .bind(last)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?;
                    events.extend(found.into_iter().filter(|e| sorted.binary_search(&e.lead_id).is_ok()));
                } else {
                    let sql = format!(
                        "{OWN} WHERE {buckets}e.lead_id = $1 UNION ALL {LINKED} AND +e.id <= {upto} AND v.lead_id = $1 AND e.lead_id IS NULL"
                    );
                    for lead in &sorted {
                        events.extend(
                            sqlx::query_as::<$db, $crate::ActivityEvent>(&sql)
                                .bind(*lead)
                                .fetch_all(&self.pool)
                                .await
                                .map_err(db_error)?,
                        );
                    }
                }
                events.sort_unstable_by_key(|e| e.id);
                Ok((events, upto))
            }

            async fn activity_rows(&self, leads: &[i64]) -> $crate::StoreResult<Vec<$crate::ActivityRow>> {
                let mut rows = Vec::new();
                for part in leads.chunks(1_000) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    rows.extend(
                        sqlx::query_as::<$db, $crate::ActivityRow>(&format!(
                            "SELECT lead_id, kind, product_id, last_at, recent, upto FROM lead_activity \
                             WHERE lead_id IN ({})",
                            list.join(",")
                        ))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?,
                    );
                }
                Ok(rows)
            }

            async fn activity_rows_of(&self, keys: &[(i64, String, i64)]) -> $crate::StoreResult<Vec<$crate::ActivityRow>> {
                let mut rows = Vec::new();
                // Three values a key: one seek of the primary key each.
                for part in keys.chunks(($crate::MAX_BINDS / 3).max(1)) {
                    let values: Vec<String> = (0..part.len())
                        .map(|i| format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3))
                        .collect();
                    let sql = format!(
                        "SELECT lead_id, kind, product_id, last_at, recent, upto FROM lead_activity \
                         WHERE (lead_id, kind, product_id) IN (VALUES {})",
                        values.join(", ")
                    );
                    let mut query = sqlx::query_as::<$db, $crate::ActivityRow>(&sql);
                    for (lead, kind, product) in part {
                        query = query.bind(*lead).bind(kind.as_str()).bind(*product);
                    }
                    rows.extend(query.fetch_all(&self.pool).await.map_err(db_error)?);
                }
                Ok(rows)
            }

            async fn write_activity(&self, replace: &[i64], rows: &[$crate::ActivityRow]) -> $crate::StoreResult<()> {
                if replace.is_empty() && rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for part in replace.chunks(1_000) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    sqlx::query::<$db>(&format!("DELETE FROM lead_activity WHERE lead_id IN ({})", list.join(",")))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                // Six values a row, well under every backend's limit of binds per statement.
                for part in rows.chunks(($crate::MAX_BINDS / 6).max(1)) {
                    let values: Vec<String> = (0..part.len())
                        .map(|i| {
                            let b = i * 6;
                            format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO lead_activity (lead_id, kind, product_id, last_at, recent, upto) VALUES {} \
                         ON CONFLICT (lead_id, kind, product_id) DO UPDATE SET last_at = excluded.last_at, \
                         recent = excluded.recent, upto = excluded.upto",
                        values.join(", ")
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for row in part {
                        query = query
                            .bind(row.lead_id)
                            .bind(row.kind.as_str())
                            .bind(row.product_id)
                            .bind(row.last_at)
                            .bind(row.recent.as_str())
                            .bind(row.upto);
                    }
                    query.execute(&mut *tx).await.map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(())
            }

            async fn take_activity_queue(&self, limit: i64) -> $crate::StoreResult<Vec<i64>> {
                let mut taken: Vec<i64> = sqlx::query_scalar::<$db, i64>(
                    "DELETE FROM activity_queue WHERE lead_id IN \
                     (SELECT lead_id FROM activity_queue ORDER BY lead_id LIMIT $1) RETURNING lead_id",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                taken.sort_unstable();
                Ok(taken)
            }

            async fn lead_ids_after(&self, after: i64, limit: i64) -> $crate::StoreResult<Vec<i64>> {
                sqlx::query_scalar::<$db, i64>("SELECT id FROM leads WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn activity_exits(
                &self,
                kind: &str,
                product_id: i64,
                k: usize,
                from: $crate::Millis,
                to: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                // The newest time first: for k = 1 it is the one (a range of the index); for a
                // larger k it bounds the rows whose k-th time is read.
                let kth = if k <= 1 {
                    "a.last_at < $4".to_owned()
                } else {
                    let (start, end) = ((k - 1) * hatake_domain::segment::TIME_DIGITS + 1, k * hatake_domain::segment::TIME_DIGITS);
                    format!(
                        "CASE WHEN length(a.recent) >= {end} THEN CAST(substr(a.recent, {start}, {}) AS BIGINT) END \
                         BETWEEN $3 AND $4 - 1",
                        hatake_domain::segment::TIME_DIGITS
                    )
                };
                sqlx::query_scalar::<$db, i64>(&format!(
                    "SELECT a.lead_id FROM lead_activity a WHERE a.kind = $1 AND a.product_id = $2 AND a.last_at >= $3 \
                     AND {kth}"
                ))
                .bind(kind)
                .bind(product_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn window_exits(
                &self,
                kind: &str,
                product_id: Option<i64>,
                days: i64,
                from: $crate::Millis,
                to: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                let window = days * 86_400_000;
                let product = if product_id.is_some() { " AND e.product_id = $4" } else { " AND $4 IS NULL" };
                let mut leads: Vec<i64> = sqlx::query_scalar::<$db, i64>(&format!(
                    "SELECT e.lead_id FROM events e WHERE e.lead_id IS NOT NULL AND e.kind = $1 \
                     AND e.occurred_at >= $2 AND e.occurred_at < $3{product} \
                     UNION SELECT v.lead_id FROM events e JOIN visitor_leads v ON v.visitor_id = e.visitor_id \
                     WHERE e.lead_id IS NULL AND e.kind = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3{product}"
                ))
                .bind(kind)
                .bind(from - window)
                .bind(to - window)
                .bind(product_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                leads.sort_unstable();
                leads.dedup();
                Ok(leads)
            }
        }
    };
}
