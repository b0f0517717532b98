//! Alerts ([`AlertStore`]): what a rule said inside sales should hear of at once, for a person
//! or the pool, read or not. The SQL is instantiated by each backend with [`impl_alert_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// An alert to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub rule_id: String,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    /// `None`: the pool's.
    pub user_id: Option<i64>,
    pub title: String,
    pub detail: Option<String>,
    pub event_id: Option<i64>,
    pub event_at: Option<Millis>,
    pub at: Millis,
    /// One alert per key: the rule, the lead and the window.
    pub dedupe_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub rule_id: String,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub user_id: Option<i64>,
    pub title: String,
    pub detail: Option<String>,
    pub event_id: Option<i64>,
    pub event_at: Option<Millis>,
    pub at: Millis,
    pub read_at: Option<Millis>,
    pub lead_family_name: Option<String>,
    pub lead_given_name: Option<String>,
    pub company_name: Option<String>,
    pub product_name: Option<String>,
}

impl AlertRow {
    pub fn lead_name(&self) -> String {
        crate::person_name(self.lead_family_name.as_deref(), self.lead_given_name.as_deref())
    }
}

/// Whose alerts a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertFor {
    Anyone,
    User(i64),
    /// This person's and the pool's.
    UserAndPool(i64),
}

/// A list of alerts: newest first before `before`, or (for a live feed) oldest first after
/// `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertQuery {
    pub owner: AlertFor,
    pub unread_only: bool,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Makes an alert; `None` when one of its key exists already.
    async fn create_alert(&self, alert: &NewAlert) -> StoreResult<Option<i64>>;
    /// When the rule last alerted about the lead.
    async fn last_alert_at(&self, rule_id: &str, lead_id: i64) -> StoreResult<Option<Millis>>;
    async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<AlertRow>>;
    async fn count_unread_alerts(&self, owner: AlertFor) -> StoreResult<i64>;
    /// Marks alerts read (those given, or all up to id `up_to`); returns how many changed.
    async fn mark_alerts_read(&self, owner: AlertFor, ids: &[i64], up_to: Option<i64>, at: Millis) -> StoreResult<u64>;
    /// The newest alert's id (0 without any).
    async fn max_alert_id(&self) -> StoreResult<i64>;
}

/// The `SELECT` of an [`AlertRow`] from `alerts x`; a condition follows.
pub const ALERT_SELECT: &str = "SELECT x.id, x.rule_id, x.lead_id, x.product_id, x.user_id, x.title, x.detail, \
     x.event_id, x.event_at, x.at, x.read_at, l.family_name AS lead_family_name, l.given_name AS lead_given_name, \
     COALESCE(a.name, l.company_name) AS company_name, p.name AS product_name FROM alerts x \
     JOIN leads l ON l.id = x.lead_id LEFT JOIN accounts a ON a.id = l.account_id \
     LEFT JOIN products p ON p.id = x.product_id";

/// The owner condition on `alerts x` with its user id bound as `$1` (0 for anyone).
pub fn alert_owner_sql(owner: AlertFor) -> (&'static str, i64) {
    match owner {
        AlertFor::Anyone => ("$1 = $1", 0),
        AlertFor::User(id) => ("x.user_id = $1", id),
        AlertFor::UserAndPool(id) => ("(x.user_id = $1 OR x.user_id IS NULL)", id),
    }
}

#[macro_export]
macro_rules! impl_alert_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::AlertStore for $store {
            async fn create_alert(&self, alert: &$crate::NewAlert) -> $crate::StoreResult<Option<i64>> {
                let row: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO alerts (rule_id, lead_id, product_id, user_id, title, detail, event_id, event_at, at, \
                     dedupe_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                )
                .bind(&alert.rule_id)
                .bind(alert.lead_id)
                .bind(alert.product_id)
                .bind(alert.user_id)
                .bind(&alert.title)
                .bind(&alert.detail)
                .bind(alert.event_id)
                .bind(alert.event_at)
                .bind(alert.at)
                .bind(&alert.dedupe_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(row.map(|(id,)| id))
            }

            async fn last_alert_at(&self, rule_id: &str, lead_id: i64) -> $crate::StoreResult<Option<$crate::Millis>> {
                let row: (Option<i64>,) =
                    sqlx::query_as::<$db, (Option<i64>,)>("SELECT MAX(at) FROM alerts WHERE rule_id = $1 AND lead_id = $2")
                        .bind(rule_id)
                        .bind(lead_id)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)?;
                Ok(row.0)
            }

            async fn alerts(&self, query: &$crate::AlertQuery) -> $crate::StoreResult<Vec<$crate::AlertRow>> {
                let (owner, user) = $crate::alert_owner_sql(query.owner);
                let unread = if query.unread_only { " AND x.read_at IS NULL" } else { "" };
                let (range, order) = match query.after {
                    Some(_) => ("x.id > $2", "x.id"),
                    None => ("x.id < $2", "x.id DESC"),
                };
                let bound = match query.after {
                    Some(after) => after,
                    None => query.before.unwrap_or(i64::MAX),
                };
                let sql =
                    format!("{} WHERE {owner} AND {range}{unread} ORDER BY {order} LIMIT $3", $crate::ALERT_SELECT);
                sqlx::query_as::<$db, $crate::AlertRow>(&sql)
                    .bind(user)
                    .bind(bound)
                    .bind(query.limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_unread_alerts(&self, owner: $crate::AlertFor) -> $crate::StoreResult<i64> {
                let (condition, user) = $crate::alert_owner_sql(owner);
                let sql = format!("SELECT COUNT(*) FROM alerts x WHERE {condition} AND x.read_at IS NULL");
                let (count,): (i64,) =
                    sqlx::query_as::<$db, (i64,)>(&sql).bind(user).fetch_one(&self.pool).await.map_err(db_error)?;
                Ok(count)
            }

            async fn mark_alerts_read(
                &self,
                owner: $crate::AlertFor,
                ids: &[i64],
                up_to: Option<i64>,
                at: $crate::Millis,
            ) -> $crate::StoreResult<u64> {
                let (condition, user) = $crate::alert_owner_sql(owner);
                let condition = condition.replace("x.", "alerts.");
                let mut changed = 0;
                if let Some(up_to) = up_to {
                    let sql = format!(
                        "UPDATE alerts SET read_at = $2 WHERE {condition} AND read_at IS NULL AND id <= $3"
                    );
                    changed += sqlx::query::<$db>(&sql)
                        .bind(user)
                        .bind(at)
                        .bind(up_to)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                }
                for id in ids {
                    let sql = format!("UPDATE alerts SET read_at = $2 WHERE {condition} AND read_at IS NULL AND id = $3");
                    changed += sqlx::query::<$db>(&sql)
                        .bind(user)
                        .bind(at)
                        .bind(*id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?
                        .rows_affected();
                }
                Ok(changed)
            }

            async fn max_alert_id(&self) -> $crate::StoreResult<i64> {
                let (id,): (Option<i64>,) = sqlx::query_as::<$db, (Option<i64>,)>("SELECT MAX(id) FROM alerts")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(id.unwrap_or(0))
            }
        }
    };
}
