//! Hearing sheets ([`HearingStore`]): what inside sales learned about a lead (情報資産). The
//! value in force is kept in the lead's custom fields (so qualification, fit rules and exports
//! read it as before); every change is also written to `hearing_log` — the value before and
//! after, by whom, when, and how (a call, the lead's page, a CSV file) — in one transaction.
//! The SQL is instantiated by each backend with [`impl_hearing_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// One change to record: the item's key and its new value as JSON (`None`: cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HearingChange {
    pub key: String,
    pub value: Option<serde_json::Value>,
}

/// Who recorded changes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HearingSource {
    pub user_id: Option<i64>,
    pub call_id: Option<i64>,
    /// `call`, `ui` or `import`.
    pub channel: String,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HearingLogRow {
    pub id: i64,
    pub lead_id: i64,
    pub field_key: String,
    /// JSON of the value learned; `None` when cleared.
    pub value: Option<String>,
    /// JSON of the value before.
    pub previous: Option<String>,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub call_id: Option<i64>,
    pub channel: String,
    pub at: Millis,
}

#[async_trait]
pub trait HearingStore: Send + Sync + 'static {
    /// Applies the changes to the lead's custom fields and logs each one that changes a value;
    /// returns the keys whose value changed (a value written again is not logged).
    async fn record_hearing(
        &self,
        lead_id: i64,
        changes: &[HearingChange],
        source: &HearingSource,
    ) -> StoreResult<Vec<String>>;
    /// Logs changes made elsewhere (the lead's form): (key, value, value before).
    async fn log_hearing(
        &self,
        lead_id: i64,
        changes: &[(String, Option<serde_json::Value>, Option<serde_json::Value>)],
        source: &HearingSource,
    ) -> StoreResult<()>;
    /// A lead's hearing log, newest first, at most `limit`.
    async fn hearing_log(&self, lead_id: i64, limit: i64) -> StoreResult<Vec<HearingLogRow>>;
}

#[macro_export]
macro_rules! impl_hearing_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_hearing_log(
                conn: &mut <$db as sqlx::Database>::Connection,
                lead_id: i64,
                key: &str,
                value: Option<&serde_json::Value>,
                previous: Option<&serde_json::Value>,
                source: &$crate::HearingSource,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO hearing_log (lead_id, field_key, value, previous, user_id, call_id, channel, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(lead_id)
                .bind(key)
                .bind(value.map(|v| v.to_string()))
                .bind(previous.map(|v| v.to_string()))
                .bind(source.user_id)
                .bind(source.call_id)
                .bind(&source.channel)
                .bind(source.at)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::HearingStore for $store {
            async fn record_hearing(
                &self,
                lead_id: i64,
                changes: &[$crate::HearingChange],
                source: &$crate::HearingSource,
            ) -> $crate::StoreResult<Vec<String>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let sql = format!("SELECT custom FROM leads WHERE id = $1{}", Self::DIALECT.for_update());
                let (custom,): (String,) = sqlx::query_as::<$db, (String,)>(&sql)
                    .bind(lead_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .ok_or($crate::StoreError::NotFound)?;
                let mut values: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&custom).unwrap_or_default();
                let mut changed = Vec::new();
                for change in changes {
                    let before = values.get(&change.key).cloned();
                    if before == change.value {
                        continue;
                    }
                    match &change.value {
                        Some(value) => values.insert(change.key.clone(), value.clone()),
                        None => values.remove(&change.key),
                    };
                    <$store>::insert_hearing_log(&mut *tx, lead_id, &change.key, change.value.as_ref(), before.as_ref(), source)
                        .await?;
                    changed.push(change.key.clone());
                }
                if !changed.is_empty() {
                    sqlx::query::<$db>("UPDATE leads SET custom = $1, updated_at = $2 WHERE id = $3")
                        .bind(serde_json::Value::Object(values).to_string())
                        .bind(source.at)
                        .bind(lead_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(changed)
            }

            async fn log_hearing(
                &self,
                lead_id: i64,
                changes: &[(String, Option<serde_json::Value>, Option<serde_json::Value>)],
                source: &$crate::HearingSource,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for (key, value, previous) in changes {
                    <$store>::insert_hearing_log(&mut *tx, lead_id, key, value.as_ref(), previous.as_ref(), source).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(())
            }

            async fn hearing_log(&self, lead_id: i64, limit: i64) -> $crate::StoreResult<Vec<$crate::HearingLogRow>> {
                sqlx::query_as::<$db, $crate::HearingLogRow>(
                    "SELECT h.id, h.lead_id, h.field_key, h.value, h.previous, h.user_id, u.display_name AS user_name, \
                     h.call_id, h.channel, h.at FROM hearing_log h LEFT JOIN users u ON u.id = h.user_id \
                     WHERE h.lead_id = $1 ORDER BY h.at DESC, h.id DESC LIMIT $2",
                )
                .bind(lead_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }
        }
    };
}
