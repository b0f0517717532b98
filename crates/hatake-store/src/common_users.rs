//! The SQL implementation of users, sessions, tokens, products and custom fields, written
//! once and instantiated by each backend for its own pool type with
//! [`impl_user_and_catalog_stores!`]. The SQL here is accepted by SQLite and PostgreSQL alike.

/// Implements [`crate::UserStore`] and [`crate::CatalogStore`] for a backend struct with a
/// `pool` field, given the store type and its `sqlx` database type.
#[macro_export]
macro_rules! impl_user_and_catalog_stores {
    ($store:ty, $db:ty) => {
        const USER_COLUMNS: &str =
            "id, email, display_name, role, locale, password_hash, active, created_at, updated_at";

        #[async_trait::async_trait]
        impl $crate::UserStore for $store {
            async fn create_user(
                &self,
                user: &hatake_domain::NewUser,
                password_hash: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::UserRow> {
                let sql = format!(
                    "INSERT INTO users (email, display_name, role, locale, password_hash, active, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) RETURNING {USER_COLUMNS}"
                );
                sqlx::query_as::<$db, $crate::UserRow>(&sql)
                    .bind(user.email.as_str())
                    .bind(&user.display_name)
                    .bind(user.role.as_str())
                    .bind(user.locale.as_str())
                    .bind(password_hash)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn get_user(&self, id: i64) -> $crate::StoreResult<$crate::UserRow> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                sqlx::query_as::<$db, $crate::UserRow>(&sql).bind(id).fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn find_user_by_email(&self, email: &str) -> $crate::StoreResult<Option<$crate::UserRow>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
                sqlx::query_as::<$db, $crate::UserRow>(&sql)
                    .bind(email.trim().to_lowercase())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn list_users(&self) -> $crate::StoreResult<Vec<$crate::UserRow>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
                sqlx::query_as::<$db, $crate::UserRow>(&sql).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn update_user(
                &self,
                id: i64,
                display_name: &str,
                role: hatake_domain::Role,
                active: bool,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::UserRow> {
                let sql = format!(
                    "UPDATE users SET display_name = $1, role = $2, active = $3, updated_at = $4 WHERE id = $5 \
                     RETURNING {USER_COLUMNS}"
                );
                sqlx::query_as::<$db, $crate::UserRow>(&sql)
                    .bind(display_name)
                    .bind(role.as_str())
                    .bind(active)
                    .bind(now)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn set_user_locale(
                &self,
                id: i64,
                locale: hatake_domain::Locale,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>("UPDATE users SET locale = $1, updated_at = $2 WHERE id = $3")
                    .bind(locale.as_str())
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn set_user_password(&self, id: i64, hash: &str, now: $crate::Millis) -> $crate::StoreResult<()> {
                let result =
                    sqlx::query::<$db>("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                        .bind(hash)
                        .bind(now)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn create_session(
                &self,
                token_hash: &str,
                user_id: i64,
                csrf_token: &str,
                now: $crate::Millis,
                expires_at: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                // Expired sessions go when new ones come, so the table does not grow forever.
                sqlx::query::<$db>("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn get_session(
                &self,
                token_hash: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<Option<$crate::SessionRow>> {
                // Every signed-in page asks this: one query for the session and its active user.
                sqlx::query_as::<$db, $crate::SessionRow>(
                    "SELECT u.id, u.email, u.display_name, u.role, u.locale, u.password_hash, u.active, u.created_at, \
                     u.updated_at, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = TRUE",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn delete_session(&self, token_hash: &str) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn delete_user_sessions(&self, user_id: i64) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn create_api_token(
                &self,
                name: &str,
                token_hash: &str,
                prefix: &str,
                user_id: i64,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ApiTokenRow> {
                sqlx::query_as::<$db, $crate::ApiTokenRow>(
                    "INSERT INTO api_tokens (name, token_hash, prefix, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, name, prefix, user_id, created_at, last_used_at, revoked_at",
                )
                .bind(name)
                .bind(token_hash)
                .bind(prefix)
                .bind(user_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_api_tokens(&self) -> $crate::StoreResult<Vec<$crate::ApiTokenRow>> {
                sqlx::query_as::<$db, $crate::ApiTokenRow>(
                    "SELECT id, name, prefix, user_id, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn revoke_api_token(&self, id: i64, now: $crate::Millis) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn find_api_token_user(
                &self,
                token_hash: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<Option<$crate::UserRow>> {
                let found: Option<(i64, i64, Option<i64>)> = sqlx::query_as::<$db, (i64, i64, Option<i64>)>(
                    "SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
                let Some((token_id, user_id, last_used)) = found else { return Ok(None) };
                // Record use at most once a minute, so reads do not turn into writes.
                if last_used.is_none_or(|t| now - t > 60_000) {
                    sqlx::query::<$db>("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(token_id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                }
                let user = self.get_user(user_id).await?;
                Ok(user.active.then_some(user))
            }
        }

        const PRODUCT_COLUMNS: &str = "id, code, name, description, active, created_at, updated_at";
        const FIELD_COLUMNS: &str = "id, key, label_ja, label_en, kind, position";

        #[async_trait::async_trait]
        impl $crate::CatalogStore for $store {
            async fn create_product(
                &self,
                product: &hatake_domain::ProductData,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ProductRow> {
                let sql = format!(
                    "INSERT INTO products (code, name, description, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING {PRODUCT_COLUMNS}"
                );
                sqlx::query_as::<$db, $crate::ProductRow>(&sql)
                    .bind(&product.code)
                    .bind(&product.name)
                    .bind(&product.description)
                    .bind(product.active)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn get_product(&self, id: i64) -> $crate::StoreResult<$crate::ProductRow> {
                let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
                sqlx::query_as::<$db, $crate::ProductRow>(&sql).bind(id).fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn list_products(&self) -> $crate::StoreResult<Vec<$crate::ProductRow>> {
                let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY active DESC, code");
                sqlx::query_as::<$db, $crate::ProductRow>(&sql).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn update_product(
                &self,
                id: i64,
                product: &hatake_domain::ProductData,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ProductRow> {
                let sql = format!(
                    "UPDATE products SET code = $1, name = $2, description = $3, active = $4, updated_at = $5 \
                     WHERE id = $6 RETURNING {PRODUCT_COLUMNS}"
                );
                sqlx::query_as::<$db, $crate::ProductRow>(&sql)
                    .bind(&product.code)
                    .bind(&product.name)
                    .bind(&product.description)
                    .bind(product.active)
                    .bind(now)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn delete_product(&self, id: i64) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                sqlx::query::<$db>("DELETE FROM lead_products WHERE product_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let result = sqlx::query::<$db>("DELETE FROM products WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())?;
                tx.commit().await.map_err(db_error)
            }

            async fn list_custom_fields(&self) -> $crate::StoreResult<Vec<$crate::CustomFieldRow>> {
                let sql = format!("SELECT {FIELD_COLUMNS} FROM custom_fields ORDER BY position, id");
                sqlx::query_as::<$db, $crate::CustomFieldRow>(&sql).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn create_custom_field(
                &self,
                def: &hatake_domain::CustomFieldDef,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::CustomFieldRow> {
                let sql = format!(
                    "INSERT INTO custom_fields (key, label_ja, label_en, kind, position, created_at) \
                     VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(position), 0) + 1 FROM custom_fields), $5) \
                     RETURNING {FIELD_COLUMNS}"
                );
                sqlx::query_as::<$db, $crate::CustomFieldRow>(&sql)
                    .bind(&def.key)
                    .bind(&def.label_ja)
                    .bind(&def.label_en)
                    .bind(serde_json::to_string(&def.kind).unwrap_or_default())
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn delete_custom_field(&self, id: i64) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>("DELETE FROM custom_fields WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }
        }
    };
}
