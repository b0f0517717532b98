//! Inside sales ([`TaskStore`]): tasks — a call, mail, fax, visit or other thing to do about a
//! lead, owned by a person or left to the pool, with a due time, a priority and its cause (a
//! person, a rule, a call) — and the calls made, with their outcome codes, KPI buckets and
//! results. A task made by a rule or a call carries a cause key: the same cause never makes a
//! second task. The SQL is instantiated by each backend with [`impl_task_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// The kinds of task.
pub const TASK_KINDS: [&str; 5] = ["call", "mail", "fax", "visit", "other"];

/// A task to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub kind: String,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    /// `None`: the pool (anyone of inside sales may take it).
    pub owner_id: Option<i64>,
    pub title: String,
    pub note: Option<String>,
    /// When it is to be done (from then on it is in the queue).
    pub due_at: Millis,
    /// The latest it may be done (a new MQL's SLA deadline).
    pub sla_due_at: Option<Millis>,
    /// 1 high, 2 normal, 3 low.
    pub priority: i64,
    /// `person`, `rule:mql`, `call`, later `scenario:…`.
    pub cause: String,
    /// One task per key (a rule's or a call's cause); `None` for a person's.
    pub cause_key: Option<String>,
    pub created_by: Option<i64>,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub kind: String,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub title: String,
    pub note: Option<String>,
    pub due_at: Millis,
    pub sla_due_at: Option<Millis>,
    pub priority: i64,
    pub cause: String,
    pub cause_key: Option<String>,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub closed_at: Option<Millis>,
    pub closed_by: Option<i64>,
    pub lead_family_name: Option<String>,
    pub lead_given_name: Option<String>,
    pub company_name: Option<String>,
    pub department: Option<String>,
    pub department_class: Option<String>,
    pub phone: Option<String>,
    pub lead_owner_id: Option<i64>,
}

impl TaskRow {
    pub fn lead_name(&self) -> String {
        crate::person_name(self.lead_family_name.as_deref(), self.lead_given_name.as_deref())
    }
}

/// Whose tasks a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOwner {
    Anyone,
    /// This person's.
    User(i64),
    /// The pool's (no owner).
    Pool,
    /// This person's and the pool's.
    UserAndPool(i64),
}

/// A list of tasks: by due time (then id), after `after` = (due_at, id) of the page before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    pub owner: TaskOwner,
    /// `open`, `done`, `cancelled`; `None`: all.
    pub status: Option<String>,
    pub kind: Option<String>,
    pub lead_id: Option<i64>,
    /// Due at or before.
    pub due_until: Option<Millis>,
    pub after: Option<(Millis, i64)>,
    pub limit: i64,
}

impl Default for TaskQuery {
    fn default() -> Self {
        Self {
            owner: TaskOwner::Anyone,
            status: Some("open".into()),
            kind: None,
            lead_id: None,
            due_until: None,
            after: None,
            limit: 50,
        }
    }
}

/// A call to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub user_id: Option<i64>,
    pub at: Millis,
    /// The outcome code (configurable: `no_answer`, `key_person`, …).
    pub outcome: String,
    /// The KPI bucket of the code: `call`, `connect` or `contact`.
    pub bucket: String,
    /// `nurture`, `opportunity`, `not_target`, `recall`.
    pub result: Option<String>,
    pub recall_at: Option<Millis>,
    pub note: Option<String>,
    /// The task the call was made for (closed as done with it).
    pub task_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CallRow {
    pub id: i64,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub at: Millis,
    pub outcome: String,
    pub bucket: String,
    pub result: Option<String>,
    pub recall_at: Option<Millis>,
    pub note: Option<String>,
    pub task_id: Option<i64>,
}

/// A lead's calls in short: how many, and the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub lead_id: i64,
    pub calls: i64,
    pub last: CallRow,
}

/// A move between stages, as a rule reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StageMoveRow {
    pub id: i64,
    pub lead_id: i64,
    pub product_id: i64,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub at: Millis,
    pub reason: Option<String>,
    pub sla_due_at: Option<Millis>,
}

#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Makes a task; with a cause key already used, the task of that key is returned instead
    /// (`false`: not made now).
    async fn create_task(&self, task: &NewTask) -> StoreResult<(i64, bool)>;
    async fn get_task(&self, id: i64) -> StoreResult<TaskRow>;
    async fn tasks(&self, query: &TaskQuery) -> StoreResult<Vec<TaskRow>>;
    /// How many open tasks of `owner` are due at or before `until`, and how many of them are late:
    /// past their SLA deadline at `now`, or (without one) due before `day_start`.
    async fn count_due_tasks(
        &self,
        owner: TaskOwner,
        until: Millis,
        now: Millis,
        day_start: Millis,
    ) -> StoreResult<(i64, i64)>;
    /// Closes an open task as `done` or `cancelled`; `false` when it was not open.
    async fn close_task(&self, id: i64, status: &str, by: Option<i64>, at: Millis) -> StoreResult<bool>;
    /// Gives an open task to a person (or the pool) and moves its due time; `false` when it was
    /// not open.
    async fn reassign_task(&self, id: i64, owner_id: Option<i64>, due_at: Millis, at: Millis) -> StoreResult<bool>;
    /// Cancels a lead's open tasks of a cause for a product; returns how many.
    async fn cancel_tasks_of(&self, lead_id: i64, product_id: i64, cause: &str, at: Millis) -> StoreResult<u64>;
    /// Records a call, and closes its task as done in the same transaction.
    async fn record_call(&self, call: &NewCall) -> StoreResult<i64>;
    /// These calls (those that exist).
    async fn calls_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<CallRow>>;
    /// A lead's calls, newest first.
    async fn lead_calls(&self, lead_id: i64, limit: i64) -> StoreResult<Vec<CallRow>>;
    /// For each of these leads with calls: how many, and the last.
    async fn call_summaries(&self, lead_ids: &[i64]) -> StoreResult<Vec<CallSummary>>;
    /// The calls made from `from` up to (not including) `to`, oldest first, at most `limit`.
    async fn calls_between(&self, from: Millis, to: Millis, limit: i64) -> StoreResult<Vec<CallRow>>;
    /// Lost deals whose re-approach date (`YYYY-MM-DD`) is `on_or_before` or earlier, with a lead,
    /// that have no re-approach task yet (cause key `reapproach:{id}`), at most `limit`.
    async fn due_reapproaches(&self, on_or_before: &str, limit: i64) -> StoreResult<Vec<crate::OpportunityRow>>;
    /// Moves between stages after history id `after`, in id order.
    async fn stage_moves_after(&self, after: i64, limit: i64) -> StoreResult<Vec<StageMoveRow>>;
}

/// The columns of a [`TaskRow`], with `t` the task, `u` its owner and `l` its lead.
pub const TASK_COLUMNS: &str = "t.id, t.kind, t.lead_id, t.product_id, t.owner_id, u.display_name AS owner_name, \
     t.title, t.note, t.due_at, t.sla_due_at, t.priority, t.cause, t.cause_key, t.status, t.created_by, t.created_at, \
     t.updated_at, t.closed_at, t.closed_by, l.family_name AS lead_family_name, l.given_name AS lead_given_name, \
     COALESCE(a.name, l.company_name) AS company_name, l.department, l.department_class, l.phone, \
     l.owner_id AS lead_owner_id";

/// The tables of [`TASK_COLUMNS`].
pub const TASK_FROM: &str = "tasks t JOIN leads l ON l.id = t.lead_id LEFT JOIN users u ON u.id = t.owner_id \
     LEFT JOIN accounts a ON a.id = l.account_id";

/// `SELECT` of a [`CallRow`] from `calls c` and its caller `u`; a condition follows.
pub const CALL_SELECT: &str = "SELECT c.id, c.lead_id, c.product_id, c.user_id, u.display_name AS user_name, c.at, \
     c.outcome, c.bucket, c.result, c.recall_at, c.note, c.task_id FROM calls c LEFT JOIN users u ON u.id = c.user_id";

/// Closes an open task as done (`$1` the task, `$2` when, `$3` by whom).
pub const TASK_DONE_SQL: &str = "UPDATE tasks SET status = 'done', closed_at = $2, closed_by = $3, updated_at = $2 \
     WHERE id = $1 AND status = 'open'";

/// The `WHERE` of a task list and its values in order (`$1`…), as text or numbers.
pub fn task_filter(query: &TaskQuery) -> (String, Vec<TaskBind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |bind: TaskBind, binds: &mut Vec<TaskBind>| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    match query.owner {
        TaskOwner::Anyone => {}
        TaskOwner::User(id) => {
            let p = next(TaskBind::Int(id), &mut binds);
            clauses.push(format!("t.owner_id = {p}"));
        }
        TaskOwner::Pool => clauses.push("t.owner_id IS NULL".to_owned()),
        TaskOwner::UserAndPool(id) => {
            let p = next(TaskBind::Int(id), &mut binds);
            clauses.push(format!("(t.owner_id = {p} OR t.owner_id IS NULL)"));
        }
    }
    if let Some(status) = &query.status {
        let p = next(TaskBind::Text(status.clone()), &mut binds);
        clauses.push(format!("t.status = {p}"));
    }
    if let Some(kind) = &query.kind {
        let p = next(TaskBind::Text(kind.clone()), &mut binds);
        clauses.push(format!("t.kind = {p}"));
    }
    if let Some(lead) = query.lead_id {
        let p = next(TaskBind::Int(lead), &mut binds);
        clauses.push(format!("t.lead_id = {p}"));
    }
    if let Some(until) = query.due_until {
        let p = next(TaskBind::Int(until), &mut binds);
        clauses.push(format!("t.due_at <= {p}"));
    }
    if let Some((due, id)) = query.after {
        let d = next(TaskBind::Int(due), &mut binds);
        let i = next(TaskBind::Int(id), &mut binds);
        clauses.push(format!("(t.due_at > {d} OR (t.due_at = {d} AND t.id > {i}))"));
    }
    let filter = if clauses.is_empty() { "1 = 1".to_owned() } else { clauses.join(" AND ") };
    (filter, binds)
}

/// A value of [`task_filter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskBind {
    Int(i64),
    Text(String),
}

/// Binds a task or toss-up filter's values ([`task_filter`], [`crate::tossup_filter`]) to a
/// query, in order.
#[macro_export]
macro_rules! bind_task {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                $crate::TaskBind::Int(v) => query.bind(v),
                $crate::TaskBind::Text(v) => query.bind(v),
            };
        }
        query
    }};
}

#[macro_export]
macro_rules! impl_task_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::TaskStore for $store {
            async fn create_task(&self, task: &$crate::NewTask) -> $crate::StoreResult<(i64, bool)> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                if let Some(key) = &task.cause_key {
                    let found: Option<(i64,)> =
                        sqlx::query_as::<$db, (i64,)>("SELECT id FROM tasks WHERE cause_key = $1")
                            .bind(key)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    if let Some((id,)) = found {
                        return Ok((id, false));
                    }
                }
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO tasks (kind, lead_id, product_id, owner_id, title, note, due_at, priority, cause, \
                     cause_key, status, created_by, created_at, updated_at, sla_due_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $12, $13) RETURNING id",
                )
                .bind(&task.kind)
                .bind(task.lead_id)
                .bind(task.product_id)
                .bind(task.owner_id)
                .bind(&task.title)
                .bind(&task.note)
                .bind(task.due_at)
                .bind(task.priority)
                .bind(&task.cause)
                .bind(&task.cause_key)
                .bind(task.created_by)
                .bind(task.at)
                .bind(task.sla_due_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok((id, true))
            }

            async fn get_task(&self, id: i64) -> $crate::StoreResult<$crate::TaskRow> {
                sqlx::query_as::<$db, $crate::TaskRow>(&format!(
                    "SELECT {} FROM {} WHERE t.id = $1",
                    $crate::TASK_COLUMNS,
                    $crate::TASK_FROM
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or($crate::StoreError::NotFound)
            }

            async fn tasks(&self, query: &$crate::TaskQuery) -> $crate::StoreResult<Vec<$crate::TaskRow>> {
                let (filter, binds) = $crate::task_filter(query);
                let sql = format!(
                    "SELECT {} FROM {} WHERE {filter} ORDER BY t.due_at, t.id LIMIT {}",
                    $crate::TASK_COLUMNS,
                    $crate::TASK_FROM,
                    query.limit.clamp(1, 10_000)
                );
                $crate::bind_task!(sqlx::query_as::<$db, $crate::TaskRow>(&sql), binds)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_due_tasks(
                &self,
                owner: $crate::TaskOwner,
                until: $crate::Millis,
                now: $crate::Millis,
                day_start: $crate::Millis,
            ) -> $crate::StoreResult<(i64, i64)> {
                let query = $crate::TaskQuery { owner, due_until: Some(until), ..Default::default() };
                let (filter, binds) = $crate::task_filter(&query);
                let (p, q) = (binds.len() + 1, binds.len() + 2);
                let sql = format!(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN (t.sla_due_at IS NOT NULL AND t.sla_due_at < ${p}) \
                     OR (t.sla_due_at IS NULL AND t.due_at < ${q}) THEN 1 ELSE 0 END), 0) FROM tasks t WHERE {filter}"
                );
                $crate::bind_task!(sqlx::query_as::<$db, (i64, i64)>(&sql), binds)
                    .bind(now)
                    .bind(day_start)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn close_task(
                &self,
                id: i64,
                status: &str,
                by: Option<i64>,
                at: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE tasks SET status = $2, closed_at = $3, closed_by = $4, updated_at = $3 \
                     WHERE id = $1 AND status = 'open'",
                )
                .bind(id)
                .bind(status)
                .bind(at)
                .bind(by)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn reassign_task(
                &self,
                id: i64,
                owner_id: Option<i64>,
                due_at: $crate::Millis,
                at: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE tasks SET owner_id = $2, due_at = $3, updated_at = $4 WHERE id = $1 AND status = 'open'",
                )
                .bind(id)
                .bind(owner_id)
                .bind(due_at)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn cancel_tasks_of(
                &self,
                lead_id: i64,
                product_id: i64,
                cause: &str,
                at: $crate::Millis,
            ) -> $crate::StoreResult<u64> {
                let done = sqlx::query::<$db>(
                    "UPDATE tasks SET status = 'cancelled', closed_at = $4, updated_at = $4 \
                     WHERE lead_id = $1 AND product_id = $2 AND cause = $3 AND status = 'open'",
                )
                .bind(lead_id)
                .bind(product_id)
                .bind(cause)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected())
            }

            async fn record_call(&self, call: &$crate::NewCall) -> $crate::StoreResult<i64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO calls (lead_id, product_id, user_id, at, outcome, bucket, result, recall_at, note, \
                     task_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $4) RETURNING id",
                )
                .bind(call.lead_id)
                .bind(call.product_id)
                .bind(call.user_id)
                .bind(call.at)
                .bind(&call.outcome)
                .bind(&call.bucket)
                .bind(&call.result)
                .bind(call.recall_at)
                .bind(&call.note)
                .bind(call.task_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                if let Some(task) = call.task_id {
                    sqlx::query::<$db>($crate::TASK_DONE_SQL)
                    .bind(task)
                    .bind(call.at)
                    .bind(call.user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(id)
            }

            async fn calls_by_ids(&self, ids: &[i64]) -> $crate::StoreResult<Vec<$crate::CallRow>> {
                let mut out = Vec::new();
                for part in ids.chunks(500) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    out.extend(
                        sqlx::query_as::<$db, $crate::CallRow>(&format!(
                            "{} WHERE c.id IN ({})",
                            $crate::CALL_SELECT,
                            list.join(",")
                        ))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?,
                    );
                }
                Ok(out)
            }

            async fn lead_calls(&self, lead_id: i64, limit: i64) -> $crate::StoreResult<Vec<$crate::CallRow>> {
                sqlx::query_as::<$db, $crate::CallRow>(&format!(
                    "{} WHERE c.lead_id = $1 ORDER BY c.at DESC, c.id DESC LIMIT $2",
                    $crate::CALL_SELECT
                ))
                .bind(lead_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn call_summaries(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::CallSummary>> {
                let mut out = Vec::new();
                for part in lead_ids.chunks(500) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    let list = list.join(",");
                    let counts: Vec<(i64, i64, i64)> = sqlx::query_as::<$db, (i64, i64, i64)>(&format!(
                        "SELECT lead_id, COUNT(*), MAX(id) FROM calls WHERE lead_id IN ({list}) GROUP BY lead_id"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                    if counts.is_empty() {
                        continue;
                    }
                    let last_ids: Vec<i64> = counts.iter().map(|(_, _, id)| *id).collect();
                    let last = self.calls_by_ids(&last_ids).await?;
                    for (lead_id, calls, last_id) in counts {
                        if let Some(row) = last.iter().find(|c| c.id == last_id) {
                            out.push($crate::CallSummary { lead_id, calls, last: row.clone() });
                        }
                    }
                }
                Ok(out)
            }

            async fn calls_between(
                &self,
                from: $crate::Millis,
                to: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::CallRow>> {
                sqlx::query_as::<$db, $crate::CallRow>(&format!(
                    "{} WHERE c.at >= $1 AND c.at < $2 ORDER BY c.at, c.id LIMIT $3",
                    $crate::CALL_SELECT
                ))
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn due_reapproaches(
                &self,
                on_or_before: &str,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::OpportunityRow>> {
                sqlx::query_as::<$db, $crate::OpportunityRow>(&format!(
                    "{} WHERE o.status = 'lost' AND o.reapproach_on IS NOT NULL AND o.reapproach_on <= $1 \
                     AND o.lead_id IS NOT NULL AND l.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t \
                     WHERE t.cause_key = 'reapproach:' || CAST(o.id AS TEXT)) ORDER BY o.reapproach_on, o.id LIMIT $2",
                    $crate::OPPORTUNITY_SELECT
                ))
                .bind(on_or_before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn stage_moves_after(
                &self,
                after: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::StageMoveRow>> {
                sqlx::query_as::<$db, $crate::StageMoveRow>(
                    "SELECT h.id, h.lead_id, h.product_id, h.from_stage, h.to_stage, h.at, h.reason, \
                     s.sla_due_at FROM stage_history h LEFT JOIN lead_stages s \
                     ON s.lead_id = h.lead_id AND s.product_id = h.product_id AND s.stage = h.to_stage \
                     WHERE h.id > $1 ORDER BY h.id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }
        }
    };
}
