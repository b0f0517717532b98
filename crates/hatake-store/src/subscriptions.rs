//! Mail subscriptions ([`SubscriptionStore`]): per lead and topic (`general`, or
//! `product:{id}`) subscribed or unsubscribed, with when and how; no row is "never asked". Every
//! change is kept. The SQL is instantiated by each backend with [`impl_subscription_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// The general newsletter's topic (the others are `product:{id}`).
pub const TOPIC_GENERAL: &str = "general";

/// The topic of a product's mail.
pub fn product_topic(product_id: i64) -> String {
    format!("product:{product_id}")
}

/// A change of a lead's subscription to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    pub lead_id: i64,
    pub topic: String,
    /// `subscribed` or `unsubscribed`.
    pub status: String,
    /// How: `form`, `import`, `api`, `user`, `link` (one-click), `preferences`, `complaint`.
    pub source: String,
    /// The form's name, the import's file, a person's note.
    pub detail: Option<String>,
    pub by_user: Option<i64>,
    pub at: Millis,
}

/// A lead's subscription to a topic (now, or a change of it in the history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub lead_id: i64,
    pub topic: String,
    pub status: String,
    pub source: String,
    pub detail: Option<String>,
    pub by_user: Option<i64>,
    pub by_name: Option<String>,
    pub at: Millis,
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Applies changes in order, in one transaction; a change to the state a lead already has
    /// for the topic is left out (the first consent's time and way stay), and so is an import's
    /// subscription of someone who unsubscribed. Returns how many
    /// changed something. Leads that do not exist are left out.
    async fn change_subscriptions(&self, changes: &[SubscriptionChange]) -> StoreResult<u64>;
    /// A lead's subscriptions now, by topic.
    async fn lead_subscriptions(&self, lead_id: i64) -> StoreResult<Vec<SubscriptionRow>>;
    /// A lead's changes, newest first.
    async fn subscription_history(&self, lead_id: i64, limit: i64) -> StoreResult<Vec<SubscriptionRow>>;
    /// Every change of every lead (the consent records, for export), by id after `after`.
    async fn consent_records(&self, after: i64, limit: i64) -> StoreResult<Vec<(i64, SubscriptionRow)>>;
}

#[macro_export]
macro_rules! impl_subscription_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::SubscriptionStore for $store {
            async fn change_subscriptions(&self, changes: &[$crate::SubscriptionChange]) -> $crate::StoreResult<u64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut changed = 0;
                for change in changes {
                    let exists: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM leads WHERE id = $1")
                        .bind(change.lead_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if exists.is_none() {
                        continue;
                    }
                    let now: Option<(String,)> = sqlx::query_as::<$db, (String,)>(
                        "SELECT status FROM subscriptions WHERE lead_id = $1 AND topic = $2",
                    )
                    .bind(change.lead_id)
                    .bind(&change.topic)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if now.as_ref().is_some_and(|(status,)| *status == change.status) {
                        continue;
                    }
                    // A list never speaks for someone who opted out: only they (or a person who
                    // records their consent) can.
                    if change.source == "import" && now.is_some_and(|(status,)| status == "unsubscribed") {
                        continue;
                    }
                    // The state now, and the change kept in the history: the same values.
                    for sql in [
                        "INSERT INTO subscriptions (lead_id, topic, status, source, detail, by_user, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (lead_id, topic) DO UPDATE SET \
                         status = excluded.status, source = excluded.source, detail = excluded.detail, \
                         by_user = excluded.by_user, at = excluded.at",
                        "INSERT INTO subscription_history (lead_id, topic, status, source, detail, by_user, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    ] {
                        sqlx::query::<$db>(sql)
                            .bind(change.lead_id)
                            .bind(&change.topic)
                            .bind(&change.status)
                            .bind(&change.source)
                            .bind(&change.detail)
                            .bind(change.by_user)
                            .bind(change.at)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    changed += 1;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(changed)
            }

            async fn lead_subscriptions(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::SubscriptionRow>> {
                sqlx::query_as::<$db, $crate::SubscriptionRow>(
                    "SELECT s.lead_id, s.topic, s.status, s.source, s.detail, s.by_user, u.display_name AS by_name, s.at \
                     FROM subscriptions s LEFT JOIN users u ON u.id = s.by_user WHERE s.lead_id = $1 ORDER BY s.topic",
                )
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn subscription_history(
                &self,
                lead_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::SubscriptionRow>> {
                sqlx::query_as::<$db, $crate::SubscriptionRow>(
                    "SELECT h.lead_id, h.topic, h.status, h.source, h.detail, h.by_user, u.display_name AS by_name, h.at \
                     FROM subscription_history h LEFT JOIN users u ON u.id = h.by_user WHERE h.lead_id = $1 \
                     ORDER BY h.at DESC, h.id DESC LIMIT $2",
                )
                .bind(lead_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn consent_records(
                &self,
                after: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<(i64, $crate::SubscriptionRow)>> {
                #[derive(sqlx::FromRow)]
                struct Record {
                    id: i64,
                    #[sqlx(flatten)]
                    row: $crate::SubscriptionRow,
                }
                let rows = sqlx::query_as::<$db, Record>(
                    "SELECT h.id, h.lead_id, h.topic, h.status, h.source, h.detail, h.by_user, \
                     u.display_name AS by_name, h.at FROM subscription_history h \
                     LEFT JOIN users u ON u.id = h.by_user WHERE h.id > $1 ORDER BY h.id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|r| (r.id, r.row)).collect())
            }
        }
    };
}
