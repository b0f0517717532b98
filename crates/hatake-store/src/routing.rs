//! Toss-ups and routing ([`RoutingStore`]): a lead passed from inside sales to field sales with
//! its hand-over note and hearing sheet, the rep it was routed to, their decision; each
//! routing decision (the step that chose, who was passed over why); and the absence calendar.
//! The SQL is instantiated by each backend with [`impl_routing_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// A toss-up to make, with the decision that routed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTossup {
    pub lead_id: i64,
    pub product_id: i64,
    pub from_user: Option<i64>,
    pub to_user: Option<i64>,
    pub note: String,
    /// JSON: the hearing sheet as it was, `[{"label": …, "value": …}]`.
    pub hearing: String,
    pub sla_due_at: Option<Millis>,
    pub at: Millis,
}

/// A routing decision to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    /// `tossup`, `sla_breach`, `taken` (a rep took one nobody was free for).
    pub cause: String,
    /// JSON of the route (`hatake_domain::routing::Route`).
    pub route: String,
    pub chosen_id: Option<i64>,
    /// JSON: `[[user_id, "absent"], …]`.
    pub skipped: String,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TossupRow {
    pub id: i64,
    pub lead_id: i64,
    pub product_id: i64,
    pub from_user: Option<i64>,
    pub to_user: Option<i64>,
    pub note: String,
    pub hearing: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub sla_due_at: Option<Millis>,
    pub created_at: Millis,
    pub decided_at: Option<Millis>,
    pub decided_by: Option<i64>,
    pub reason: Option<String>,
    pub reason_note: Option<String>,
    /// After a rejection: `inside_sales` or `nurturing`.
    pub back_to: Option<String>,
    pub from_name: Option<String>,
    pub to_name: Option<String>,
    pub decided_name: Option<String>,
    pub product_name: Option<String>,
    pub lead_family_name: Option<String>,
    pub lead_given_name: Option<String>,
    pub company_name: Option<String>,
    pub prefecture: Option<String>,
}

impl TossupRow {
    pub fn lead_name(&self) -> String {
        crate::person_name(self.lead_family_name.as_deref(), self.lead_given_name.as_deref())
    }
}

/// Whose toss-ups a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TossupOwner {
    Anyone,
    /// Routed to this rep.
    To(i64),
    /// Routed to this rep, or to nobody (any field rep may take it).
    ToOrNobody(i64),
    /// Passed on by this person.
    From(i64),
}

/// A list of toss-ups, newest first, before id `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TossupQuery {
    pub owner: TossupOwner,
    pub status: Option<String>,
    pub lead_id: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl Default for TossupQuery {
    fn default() -> Self {
        Self { owner: TossupOwner::Anyone, status: None, lead_id: None, before: None, limit: 50 }
    }
}

/// A decision to record on a pending toss-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TossupDecision {
    /// `accepted` or `rejected`.
    pub status: String,
    pub by: Option<i64>,
    pub reason: Option<String>,
    pub reason_note: Option<String>,
    pub back_to: Option<String>,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DecisionRow {
    pub id: i64,
    pub tossup_id: i64,
    pub lead_id: i64,
    pub cause: String,
    pub route: String,
    pub chosen_id: Option<i64>,
    pub chosen_name: Option<String>,
    pub skipped: String,
    pub at: Millis,
    pub lead_family_name: Option<String>,
    pub lead_given_name: Option<String>,
    pub company_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AbsenceRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: Option<String>,
    /// `YYYY-MM-DD`, both days included.
    pub starts_on: String,
    pub ends_on: String,
    pub note: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: Millis,
}

#[async_trait]
pub trait RoutingStore: Send + Sync + 'static {
    /// Stores a toss-up and the decision that routed it, in one transaction.
    async fn create_tossup(&self, tossup: &NewTossup, decision: &NewDecision) -> StoreResult<i64>;
    async fn get_tossup(&self, id: i64) -> StoreResult<TossupRow>;
    async fn tossups(&self, query: &TossupQuery) -> StoreResult<Vec<TossupRow>>;
    /// How many match (for a badge or a total).
    async fn count_tossups(&self, owner: TossupOwner, status: &str) -> StoreResult<i64>;
    /// Records a decision on a pending toss-up; `false` when it was not pending (decided meanwhile).
    async fn decide_tossup(&self, id: i64, decision: &TossupDecision) -> StoreResult<bool>;
    /// Routes a pending toss-up to someone else (or nobody), with a new deadline, and keeps the
    /// decision; `false` when it was not pending or no longer routed to `from`.
    async fn reroute_tossup(
        &self,
        id: i64,
        from: Option<i64>,
        to: Option<i64>,
        sla_due_at: Option<Millis>,
        decision: &NewDecision,
    ) -> StoreResult<bool>;
    /// Pending toss-ups past their deadline at `now`, oldest deadline first.
    async fn overdue_tossups(&self, now: Millis, limit: i64) -> StoreResult<Vec<TossupRow>>;
    /// Toss-ups made from `from` up to (not including) `to`, oldest first.
    async fn tossups_between(&self, from: Millis, to: Millis, limit: i64) -> StoreResult<Vec<TossupRow>>;
    /// The decisions of a toss-up, oldest first.
    async fn tossup_decisions(&self, tossup_id: i64) -> StoreResult<Vec<DecisionRow>>;
    /// Every decision, newest first, before id `before`.
    async fn routing_log(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<DecisionRow>>;
    /// Assignments (decisions that chose someone) per rep since `since`.
    async fn assignment_counts(&self, since: Millis) -> StoreResult<Vec<(i64, i64)>>;
    async fn add_absence(
        &self,
        user_id: i64,
        starts_on: &str,
        ends_on: &str,
        note: Option<&str>,
        by: Option<i64>,
        at: Millis,
    ) -> StoreResult<i64>;
    async fn get_absence(&self, id: i64) -> StoreResult<AbsenceRow>;
    async fn delete_absence(&self, id: i64) -> StoreResult<bool>;
    /// Absences that end on or after `from_day`, by start, after `(starts_on, id)`.
    async fn absences(
        &self,
        from_day: &str,
        user_id: Option<i64>,
        after: Option<(String, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<AbsenceRow>>;
    /// Who is absent on `day`.
    async fn absent_on(&self, day: &str) -> StoreResult<Vec<i64>>;
    /// Makes a rep the lead's owner (an accepted toss-up).
    async fn assign_lead_owner(&self, lead_id: i64, owner_id: i64, now: Millis) -> StoreResult<()>;
}

/// `SELECT` of a [`TossupRow`] from `tossups t`; a condition follows.
pub const TOSSUP_SELECT: &str = "SELECT t.id, t.lead_id, t.product_id, t.from_user, t.to_user, t.note, t.hearing, \
     t.status, t.sla_due_at, t.created_at, t.decided_at, t.decided_by, t.reason, t.reason_note, t.back_to, \
     f.display_name AS from_name, r.display_name AS to_name, k.display_name AS decided_name, p.name AS product_name, \
     l.family_name AS lead_family_name, l.given_name AS lead_given_name, \
     COALESCE(a.name, l.company_name) AS company_name, COALESCE(l.prefecture, a.prefecture) AS prefecture \
     FROM tossups t JOIN leads l ON l.id = t.lead_id LEFT JOIN accounts a ON a.id = l.account_id \
     LEFT JOIN users f ON f.id = t.from_user LEFT JOIN users r ON r.id = t.to_user LEFT JOIN users k ON k.id = t.decided_by \
     LEFT JOIN products p ON p.id = t.product_id";

/// `SELECT` of a [`DecisionRow`] from `routing_decisions d`; a condition follows.
pub const DECISION_SELECT: &str = "SELECT d.id, d.tossup_id, d.lead_id, d.cause, d.route, d.chosen_id, \
     u.display_name AS chosen_name, d.skipped, d.at, l.family_name AS lead_family_name, \
     l.given_name AS lead_given_name, COALESCE(a.name, l.company_name) AS company_name \
     FROM routing_decisions d LEFT JOIN users u ON u.id = d.chosen_id JOIN leads l ON l.id = d.lead_id \
     LEFT JOIN accounts a ON a.id = l.account_id";

/// The `WHERE` of a toss-up list and its integer and text values in order (`$1`…).
pub fn tossup_filter(owner: TossupOwner, status: Option<&str>, lead: Option<i64>) -> (String, Vec<crate::TaskBind>) {
    use crate::TaskBind;
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    match owner {
        TossupOwner::Anyone => {}
        TossupOwner::To(id) => {
            binds.push(TaskBind::Int(id));
            clauses.push(format!("t.to_user = ${}", binds.len()));
        }
        TossupOwner::ToOrNobody(id) => {
            binds.push(TaskBind::Int(id));
            clauses.push(format!("(t.to_user = ${} OR t.to_user IS NULL)", binds.len()));
        }
        TossupOwner::From(id) => {
            binds.push(TaskBind::Int(id));
            clauses.push(format!("t.from_user = ${}", binds.len()));
        }
    }
    if let Some(status) = status {
        binds.push(TaskBind::Text(status.to_owned()));
        clauses.push(format!("t.status = ${}", binds.len()));
    }
    if let Some(lead) = lead {
        binds.push(TaskBind::Int(lead));
        clauses.push(format!("t.lead_id = ${}", binds.len()));
    }
    let filter = if clauses.is_empty() { "1 = 1".to_owned() } else { clauses.join(" AND ") };
    (filter, binds)
}

#[macro_export]
macro_rules! impl_routing_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_decision(
                conn: &mut <$db as sqlx::Database>::Connection,
                tossup_id: i64,
                lead_id: i64,
                decision: &$crate::NewDecision,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO routing_decisions (tossup_id, lead_id, cause, route, chosen_id, skipped, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(tossup_id)
                .bind(lead_id)
                .bind(&decision.cause)
                .bind(&decision.route)
                .bind(decision.chosen_id)
                .bind(&decision.skipped)
                .bind(decision.at)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::RoutingStore for $store {
            async fn create_tossup(
                &self,
                tossup: &$crate::NewTossup,
                decision: &$crate::NewDecision,
            ) -> $crate::StoreResult<i64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO tossups (lead_id, product_id, from_user, to_user, note, hearing, status, sla_due_at, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) RETURNING id",
                )
                .bind(tossup.lead_id)
                .bind(tossup.product_id)
                .bind(tossup.from_user)
                .bind(tossup.to_user)
                .bind(&tossup.note)
                .bind(&tossup.hearing)
                .bind(tossup.sla_due_at)
                .bind(tossup.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                <$store>::insert_decision(&mut *tx, id, tossup.lead_id, decision).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(id)
            }

            async fn get_tossup(&self, id: i64) -> $crate::StoreResult<$crate::TossupRow> {
                let sql = format!("{} WHERE t.id = $1", $crate::TOSSUP_SELECT);
                sqlx::query_as::<$db, $crate::TossupRow>(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .ok_or($crate::StoreError::NotFound)
            }

            async fn tossups(&self, query: &$crate::TossupQuery) -> $crate::StoreResult<Vec<$crate::TossupRow>> {
                let (mut filter, mut binds) = $crate::tossup_filter(query.owner, query.status.as_deref(), query.lead_id);
                if let Some(before) = query.before {
                    binds.push($crate::TaskBind::Int(before));
                    filter.push_str(&format!(" AND t.id < ${}", binds.len()));
                }
                binds.push($crate::TaskBind::Int(query.limit));
                let sql = format!("{} WHERE {filter} ORDER BY t.id DESC LIMIT ${}", $crate::TOSSUP_SELECT, binds.len());
                $crate::bind_task!(sqlx::query_as::<$db, $crate::TossupRow>(&sql), binds)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_tossups(&self, owner: $crate::TossupOwner, status: &str) -> $crate::StoreResult<i64> {
                let (filter, binds) = $crate::tossup_filter(owner, Some(status), None);
                let sql = format!("SELECT COUNT(*) FROM tossups t WHERE {filter}");
                let (count,) = $crate::bind_task!(sqlx::query_as::<$db, (i64,)>(&sql), binds)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(count)
            }

            async fn decide_tossup(&self, id: i64, decision: &$crate::TossupDecision) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE tossups SET status = $1, decided_by = $2, decided_at = $3, reason = $4, reason_note = $5, \
                     back_to = $6, to_user = COALESCE(to_user, $2) WHERE id = $7 AND status = 'pending'",
                )
                .bind(&decision.status)
                .bind(decision.by)
                .bind(decision.at)
                .bind(&decision.reason)
                .bind(&decision.reason_note)
                .bind(&decision.back_to)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn reroute_tossup(
                &self,
                id: i64,
                from: Option<i64>,
                to: Option<i64>,
                sla_due_at: Option<$crate::Millis>,
                decision: &$crate::NewDecision,
            ) -> $crate::StoreResult<bool> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let done = sqlx::query::<$db>(
                    "UPDATE tossups SET to_user = $1, sla_due_at = $2 WHERE id = $3 AND status = 'pending' \
                     AND ((to_user IS NULL AND $4 IS NULL) OR to_user = $4)",
                )
                .bind(to)
                .bind(sla_due_at)
                .bind(id)
                .bind(from)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let (lead_id,): (i64,) = sqlx::query_as::<$db, (i64,)>("SELECT lead_id FROM tossups WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                <$store>::insert_decision(&mut *tx, id, lead_id, decision).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(true)
            }

            async fn overdue_tossups(
                &self,
                now: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::TossupRow>> {
                let sql = format!(
                    "{} WHERE t.status = 'pending' AND t.sla_due_at < $1 ORDER BY t.sla_due_at, t.id LIMIT $2",
                    $crate::TOSSUP_SELECT
                );
                sqlx::query_as::<$db, $crate::TossupRow>(&sql)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn tossups_between(
                &self,
                from: $crate::Millis,
                to: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::TossupRow>> {
                let sql = format!(
                    "{} WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.created_at, t.id LIMIT $3",
                    $crate::TOSSUP_SELECT
                );
                sqlx::query_as::<$db, $crate::TossupRow>(&sql)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn tossup_decisions(&self, tossup_id: i64) -> $crate::StoreResult<Vec<$crate::DecisionRow>> {
                let sql = format!("{} WHERE d.tossup_id = $1 ORDER BY d.id", $crate::DECISION_SELECT);
                sqlx::query_as::<$db, $crate::DecisionRow>(&sql)
                    .bind(tossup_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn routing_log(
                &self,
                before: Option<i64>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::DecisionRow>> {
                let sql = format!("{} WHERE d.id < $1 ORDER BY d.id DESC LIMIT $2", $crate::DECISION_SELECT);
                sqlx::query_as::<$db, $crate::DecisionRow>(&sql)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn assignment_counts(&self, since: $crate::Millis) -> $crate::StoreResult<Vec<(i64, i64)>> {
                sqlx::query_as::<$db, (i64, i64)>(
                    "SELECT chosen_id, COUNT(*) FROM routing_decisions WHERE at >= $1 AND chosen_id IS NOT NULL \
                     GROUP BY chosen_id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn add_absence(
                &self,
                user_id: i64,
                starts_on: &str,
                ends_on: &str,
                note: Option<&str>,
                by: Option<i64>,
                at: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO absences (user_id, starts_on, ends_on, note, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(user_id)
                .bind(starts_on)
                .bind(ends_on)
                .bind(note)
                .bind(by)
                .bind(at)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(id)
            }

            async fn get_absence(&self, id: i64) -> $crate::StoreResult<$crate::AbsenceRow> {
                sqlx::query_as::<$db, $crate::AbsenceRow>(
                    "SELECT b.id, b.user_id, u.display_name AS user_name, b.starts_on, b.ends_on, b.note, b.created_by, \
                     b.created_at FROM absences b LEFT JOIN users u ON u.id = b.user_id WHERE b.id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or($crate::StoreError::NotFound)
            }

            async fn delete_absence(&self, id: i64) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>("DELETE FROM absences WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn absences(
                &self,
                from_day: &str,
                user_id: Option<i64>,
                after: Option<(String, i64)>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::AbsenceRow>> {
                let (after_day, after_id) = after.unwrap_or_default();
                sqlx::query_as::<$db, $crate::AbsenceRow>(
                    "SELECT b.id, b.user_id, u.display_name AS user_name, b.starts_on, b.ends_on, b.note, b.created_by, \
                     b.created_at FROM absences b LEFT JOIN users u ON u.id = b.user_id \
                     WHERE b.ends_on >= $1 AND ($2 = 0 OR b.user_id = $2) \
                     AND (b.starts_on > $3 OR (b.starts_on = $3 AND b.id > $4)) \
                     ORDER BY b.starts_on, b.id LIMIT $5",
                )
                .bind(from_day)
                .bind(user_id.unwrap_or(0))
                .bind(after_day)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn assign_lead_owner(
                &self,
                lead_id: i64,
                owner_id: i64,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let done = sqlx::query::<$db>("UPDATE leads SET owner_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(owner_id)
                    .bind(now)
                    .bind(lead_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }

            async fn absent_on(&self, day: &str) -> $crate::StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                    "SELECT DISTINCT user_id FROM absences WHERE starts_on <= $1 AND ends_on >= $1",
                )
                .bind(day)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }
        }
    };
}
