//! Settings, overview counts and leases, shared by both backends (see [`impl_system_store!`]).

/// Implements [`crate::SystemStore`]: the backend's name and the statements that refresh
/// planner statistics are the only differences.
#[macro_export]
macro_rules! impl_system_store {
    ($store:ty, $db:ty, $name:literal, [$($analyze:literal),+]) => {
        #[async_trait::async_trait]
                impl $crate::SystemStore for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn get_setting(&self, key: &str) -> $crate::StoreResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as::<$db, _>("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(row.map(|(v,)| v))
            }

            async fn put_setting(&self, key: &str, value: &str, now: $crate::Millis) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn overview(&self) -> $crate::StoreResult<$crate::Overview> {
                let (accounts, leads, lead_records, products, users): (i64, i64, i64, i64, i64) = sqlx::query_as::<$db, _>(
                    "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM leads), \
                     (SELECT count(*) FROM leads WHERE is_lead = TRUE), (SELECT count(*) FROM products), \
                     (SELECT count(*) FROM users)",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok($crate::Overview { accounts, leads, lead_records, list_records: leads - lead_records, products, users })
            }

            async fn analyze(&self) -> $crate::StoreResult<()> {
                for statement in [$($analyze),+] {
                    sqlx::query::<$db>(statement).execute(&self.pool).await.map_err(db_error)?;
                }
                Ok(())
            }

            async fn try_lease(
                &self,
                name: &str,
                holder: &str,
                until: $crate::Millis,
                now: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                // Held by another and not expired: a read says so without a write.
                let current: Option<(String, $crate::Millis)> =
                    sqlx::query_as::<$db, (String, $crate::Millis)>("SELECT holder, expires_at FROM leases WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?;
                if current.is_some_and(|(other, expires_at)| other != holder && expires_at >= now) {
                    return Ok(false);
                }
                let result = sqlx::query::<$db>(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
                )
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(result.rows_affected() == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }
        }
    };
}
