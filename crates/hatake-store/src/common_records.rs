//! The SQL implementation of accounts and leads, written once and instantiated by each
//! backend with [`impl_account_and_lead_stores!`]. Each backend supplies its search index
//! through inherent functions `index_leads(conn, &[(id, doc)])` and `unindex_lead(conn, id)`
//! and its [`crate::sql::Dialect`] as `Self::DIALECT`.

/// Most bind parameters per statement in bulk loads. SQLite resolves each `$n` parameter by a
/// linear scan of the statement's parameter list, so binding costs grow with the square of the
/// count: measured on 20,000 leads, 9,500 parameters per statement spent 78% of the load time
/// there (3× slower overall than with a few hundred). Five hundred keeps multi-row inserts cheap
/// on both backends.
pub const MAX_BINDS: usize = 500;

/// Rows per statement in bulk writes that pass their rows as one JSON value.
pub const BULK_ROWS: usize = 5_000;

/// Rows per multi-row statement for rows of `width` bound values.
pub const fn rows_per_statement(width: usize) -> usize {
    let rows = MAX_BINDS / width;
    if rows == 0 {
        1
    } else {
        rows
    }
}

#[macro_export]
macro_rules! impl_account_and_lead_stores {
    ($store:ty, $db:ty) => {
        fn bind_values<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            values: Vec<$crate::sql::Value>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for value in values {
                query = match value {
                    $crate::sql::Value::NullInt => query.bind(Option::<i64>::None),
                    $crate::sql::Value::NullText => query.bind(Option::<String>::None),
                    $crate::sql::Value::Int(v) => query.bind(v),
                    $crate::sql::Value::Bool(v) => query.bind(v),
                    $crate::sql::Value::Text(v) => query.bind(v),
                };
            }
            query
        }

        fn bind_built<'q, O>(
            mut query: sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments<'q>>,
            binds: &'q [$crate::sql::Bind],
        ) -> sqlx::query::QueryAs<'q, $db, O, <$db as sqlx::Database>::Arguments<'q>> {
            for bind in binds {
                query = match bind {
                    $crate::sql::Bind::Int(v) => query.bind(*v),
                    $crate::sql::Bind::Text(v) => query.bind(v.as_str()),
                };
            }
            query
        }

        /// Fails with `MissingReference` naming the field when a linked id does not exist.
        async fn check_lead_links(
            conn: &mut <$db as sqlx::Database>::Connection,
            lead: &hatake_domain::LeadData,
        ) -> $crate::StoreResult<()> {
            let checks = [("account_id", "accounts", lead.account_id), ("owner_id", "users", lead.owner_id)];
            for (field, table, id) in checks {
                if let Some(id) = id {
                    exists(&mut *conn, table, id, field).await?;
                }
            }
            for id in &lead.product_ids {
                exists(&mut *conn, "products", *id, "product_ids").await?;
            }
            Ok(())
        }

        async fn exists(
            conn: &mut <$db as sqlx::Database>::Connection,
            table: &str,
            id: i64,
            field: &'static str,
        ) -> $crate::StoreResult<()> {
            let sql = format!("SELECT count(*) FROM {table} WHERE id = $1");
            let (count,): (i64,) =
                sqlx::query_as::<$db, (i64,)>(&sql).bind(id).fetch_one(&mut *conn).await.map_err(db_error)?;
            if count == 0 {
                Err($crate::StoreError::MissingReference { field })
            } else {
                Ok(())
            }
        }

        async fn fetch_lead(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: i64,
        ) -> $crate::StoreResult<$crate::LeadRow> {
            let sql = format!("SELECT {} FROM {} WHERE l.id = $1", $crate::sql::LEAD_COLUMNS, $crate::sql::LEAD_FROM);
            let mut row =
                sqlx::query_as::<$db, $crate::LeadRow>(&sql).bind(id).fetch_one(&mut *conn).await.map_err(db_error)?;
            let products: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                "SELECT product_id FROM lead_products WHERE lead_id = $1 ORDER BY product_id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
            row.product_ids = products.into_iter().map(|(p,)| p).collect();
            Ok(row)
        }

        async fn write_lead_products(
            conn: &mut <$db as sqlx::Database>::Connection,
            lead_id: i64,
            product_ids: &[i64],
            now: $crate::Millis,
        ) -> $crate::StoreResult<()> {
            sqlx::query::<$db>("DELETE FROM lead_products WHERE lead_id = $1")
                .bind(lead_id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            for product_id in product_ids {
                sqlx::query::<$db>("INSERT INTO lead_products (product_id, lead_id, created_at) VALUES ($1, $2, $3)")
                    .bind(product_id)
                    .bind(lead_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        }

        /// Inserts leads with their products, search documents and matching keys; returns the
        /// new ids in input order.
        async fn insert_leads(
            conn: &mut <$db as sqlx::Database>::Connection,
            leads: &[(&hatake_domain::LeadData, bool)],
            now: $crate::Millis,
        ) -> $crate::StoreResult<Vec<i64>> {
            let mut all_ids = Vec::with_capacity(leads.len());
            let insert = format!(
                "{} RETURNING id",
                $crate::sql::insert_json("leads", &$crate::sql::lead_json_columns(), <$store>::DIALECT)
            );
            for chunk in leads.chunks($crate::BULK_ROWS) {
                let rows: Vec<serde_json::Value> = chunk
                    .iter()
                    .map(|(lead, is_lead)| {
                        let mut values = $crate::sql::lead_write_values(lead, *is_lead, now);
                        values.push($crate::sql::Value::Int(now));
                        $crate::sql::json_row(values)
                    })
                    .collect();
                let mut ids: Vec<i64> = sqlx::query::<$db>(&insert)
                    .bind(serde_json::Value::Array(rows).to_string())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .map(|row| sqlx::Row::get::<i64, _>(row, 0))
                    .collect();
                ids.sort_unstable();
                let written: Vec<(i64, &hatake_domain::LeadData)> =
                    ids.iter().zip(chunk).map(|(id, (lead, _))| (*id, *lead)).collect();
                write_lead_extras(&mut *conn, &written, now).await?;
                all_ids.extend(ids);
            }
            Ok(all_ids)
        }

        /// Writes a lead's matching keys (see [`hatake_domain::matching::lead`]).
        async fn write_lead_keys(
            conn: &mut <$db as sqlx::Database>::Connection,
            keys: &[(i64, Vec<i64>)],
        ) -> $crate::StoreResult<()> {
            let rows: Vec<serde_json::Value> =
                keys.iter().flat_map(|(id, keys)| keys.iter().map(move |k| serde_json::json!([k, id]))).collect();
            if rows.is_empty() {
                return Ok(());
            }
            let sql = format!(
                // `WHERE true`: SQLite reads `ON CONFLICT` after a bare `FROM …` as a join clause.
                "{} WHERE true ON CONFLICT DO NOTHING",
                $crate::sql::insert_json(
                    "lead_keys",
                    &[("key", $crate::sql::JsonType::Int), ("lead_id", $crate::sql::JsonType::Int)],
                    <$store>::DIALECT,
                )
            );
            sqlx::query::<$db>(&sql)
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            Ok(())
        }

        /// What goes with a lead's row: its products, its search document (which holds its
        /// company's name, as after any later write) and its matching keys, for many leads in
        /// a few statements.
        async fn write_lead_extras(
            conn: &mut <$db as sqlx::Database>::Connection,
            leads: &[(i64, &hatake_domain::LeadData)],
            now: $crate::Millis,
        ) -> $crate::StoreResult<()> {
            let mut account_ids: Vec<i64> = leads.iter().filter_map(|(_, lead)| lead.account_id).collect();
            account_ids.sort_unstable();
            account_ids.dedup();
            let mut account_names = std::collections::HashMap::new();
            for part in account_ids.chunks($crate::MAX_BINDS) {
                let list: Vec<String> = part.iter().map(i64::to_string).collect();
                let sql = format!("SELECT id, name FROM accounts WHERE id IN ({})", list.join(","));
                let rows: Vec<(i64, String)> =
                    sqlx::query_as::<$db, (i64, String)>(&sql).fetch_all(&mut *conn).await.map_err(db_error)?;
                account_names.extend(rows);
            }
            let mut links = Vec::new();
            let mut docs = Vec::with_capacity(leads.len());
            let mut keys = Vec::with_capacity(leads.len());
            for (id, lead) in leads {
                links.extend(lead.product_ids.iter().map(|p| {
                    $crate::sql::json_row(vec![
                        $crate::sql::Value::Int(*p),
                        $crate::sql::Value::Int(*id),
                        $crate::sql::Value::Int(now),
                    ])
                }));
                let account_name = lead.account_id.and_then(|a| account_names.get(&a)).map(String::as_str);
                docs.push((*id, $crate::sql::lead_search_document_of(lead, account_name)));
                keys.push((*id, $crate::sql::lead_match_keys(lead)));
            }
            if !links.is_empty() {
                use $crate::sql::JsonType::Int;
                let sql = $crate::sql::insert_json(
                    "lead_products",
                    &[("product_id", Int), ("lead_id", Int), ("created_at", Int)],
                    <$store>::DIALECT,
                );
                sqlx::query::<$db>(&sql)
                    .bind(serde_json::Value::Array(links).to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            <$store>::index_leads(&mut *conn, &docs).await?;
            write_lead_keys(&mut *conn, &keys).await
        }

        /// Overwrites a lead's values, products, search document and matching keys.
        async fn rewrite_lead(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: i64,
            lead: &hatake_domain::LeadData,
            is_lead: bool,
            now: $crate::Millis,
        ) -> $crate::StoreResult<$crate::LeadRow> {
            let sql = $crate::sql::update_by_id("leads", &$crate::sql::LEAD_WRITE_COLUMNS);
            let mut values = $crate::sql::lead_write_values(lead, is_lead, now);
            values.push($crate::sql::Value::Int(id));
            let result = bind_values(sqlx::query::<$db>(&sql), values).execute(&mut *conn).await.map_err(db_error)?;
            $crate::one_row(result.rows_affected())?;
            write_lead_products(&mut *conn, id, &lead.product_ids, now).await?;
            let stored = fetch_lead(&mut *conn, id).await?;
            <$store>::unindex_lead(&mut *conn, id).await?;
            <$store>::index_leads(&mut *conn, &[(id, $crate::sql::lead_row_search_document(&stored))]).await?;
            sqlx::query::<$db>("DELETE FROM lead_keys WHERE lead_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            write_lead_keys(&mut *conn, &[(id, $crate::sql::lead_match_keys(lead))]).await?;
            Ok(stored)
        }

        /// Re-indexes every lead of an account (its name is part of their search documents).
        async fn reindex_account_leads(
            conn: &mut <$db as sqlx::Database>::Connection,
            account_id: i64,
        ) -> $crate::StoreResult<()> {
            let sql =
                format!("SELECT {} FROM {} WHERE l.account_id = $1", $crate::sql::LEAD_COLUMNS, $crate::sql::LEAD_FROM);
            let rows = sqlx::query_as::<$db, $crate::LeadRow>(&sql)
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
            let docs: Vec<(i64, String)> =
                rows.iter().map(|r| (r.id, $crate::sql::lead_row_search_document(r))).collect();
            for (id, _) in &docs {
                <$store>::unindex_lead(&mut *conn, *id).await?;
            }
            <$store>::index_leads(&mut *conn, &docs).await
        }

        #[async_trait::async_trait]
        impl $crate::AccountStore for $store {
            async fn create_account(
                &self,
                account: &hatake_domain::AccountData,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::AccountRow> {
                let ids = self.bulk_insert_accounts(std::slice::from_ref(account), now).await?;
                self.get_account(ids[0]).await
            }

            async fn get_account(&self, id: i64) -> $crate::StoreResult<$crate::AccountRow> {
                let sql = format!("SELECT {} FROM accounts a WHERE a.id = $1", $crate::sql::ACCOUNT_COLUMNS);
                sqlx::query_as::<$db, $crate::AccountRow>(&sql).bind(id).fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn update_account(
                &self,
                id: i64,
                account: &hatake_domain::AccountData,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::AccountRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                if let Some(owner) = account.owner_id {
                    exists(&mut *tx, "users", owner, "owner_id").await?;
                }
                let old_name: Option<(String,)> =
                    sqlx::query_as::<$db, (String,)>("SELECT name FROM accounts WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                let Some((old_name,)) = old_name else { return Err($crate::StoreError::NotFound) };
                let sql = $crate::sql::update_by_id("accounts", &$crate::sql::ACCOUNT_WRITE_COLUMNS);
                let mut values = $crate::sql::account_write_values(account, now);
                values.push($crate::sql::Value::Int(id));
                bind_values(sqlx::query::<$db>(&sql), values).execute(&mut *tx).await.map_err(db_error)?;
                // The account's name is part of its leads' search documents; nothing else is.
                if old_name != account.name {
                    reindex_account_leads(&mut *tx, id).await?;
                }
                tx.commit().await.map_err(db_error)?;
                self.get_account(id).await
            }

            async fn delete_account(&self, id: i64) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let leads: Vec<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM leads WHERE account_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query::<$db>("UPDATE leads SET account_id = NULL WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let result = sqlx::query::<$db>("DELETE FROM accounts WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())?;
                for (lead_id,) in leads {
                    let row = fetch_lead(&mut *tx, lead_id).await?;
                    <$store>::unindex_lead(&mut *tx, lead_id).await?;
                    <$store>::index_leads(&mut *tx, &[(lead_id, $crate::sql::lead_row_search_document(&row))]).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn list_accounts(
                &self,
                query: &$crate::AccountQuery,
            ) -> $crate::StoreResult<$crate::Page<$crate::AccountRow>> {
                let built = $crate::sql::account_page(query);
                let rows = bind_built(sqlx::query_as::<$db, $crate::AccountRow>(&built.sql), &built.binds)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                let mut page = $crate::paginate(rows, query.limit, query.cursor.as_ref(), $crate::sql::account_cursor);
                if query.count {
                    let built = $crate::sql::account_count(query);
                    let (value,): (i64,) = bind_built(sqlx::query_as::<$db, (i64,)>(&built.sql), &built.binds)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)?;
                    page.total =
                        Some($crate::Total { value: value.min($crate::COUNT_CAP), capped: value > $crate::COUNT_CAP });
                }
                Ok(page)
            }

            async fn bulk_insert_accounts(
                &self,
                accounts: &[hatake_domain::AccountData],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut ids = Vec::with_capacity(accounts.len());
                for chunk in accounts.chunks($crate::rows_per_statement($crate::sql::ACCOUNT_WRITE_COLUMNS.len() + 1)) {
                    if let Some(owner) = chunk.iter().find_map(|a| a.owner_id) {
                        exists(&mut *tx, "users", owner, "owner_id").await?;
                    }
                    let mut sql =
                        $crate::sql::multi_insert("accounts", &$crate::sql::ACCOUNT_WRITE_COLUMNS, chunk.len());
                    sql.push_str(" RETURNING id");
                    let mut values = Vec::new();
                    for account in chunk {
                        values.extend($crate::sql::account_write_values(account, now));
                        values.push($crate::sql::Value::Int(now));
                    }
                    let mut rows: Vec<i64> = bind_values(sqlx::query::<$db>(&sql), values)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .iter()
                        .map(|row| sqlx::Row::get::<i64, _>(row, 0))
                        .collect();
                    // Ids are allocated in row order within one statement.
                    rows.sort_unstable();
                    ids.extend(rows);
                }
                tx.commit().await.map_err(db_error)?;
                Ok(ids)
            }
        }

        #[async_trait::async_trait]
        impl $crate::LeadStore for $store {
            async fn create_lead(
                &self,
                lead: &hatake_domain::LeadData,
                is_lead: bool,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::LeadRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                check_lead_links(&mut *tx, lead).await?;
                let ids = insert_leads(&mut *tx, &[(lead, is_lead)], now).await?;
                let stored = fetch_lead(&mut *tx, ids[0]).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(stored)
            }

            async fn get_lead(&self, id: i64) -> $crate::StoreResult<$crate::LeadRow> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                fetch_lead(&mut *conn, id).await
            }

            async fn update_lead(
                &self,
                id: i64,
                lead: &hatake_domain::LeadData,
                is_lead: bool,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::LeadRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                check_lead_links(&mut *tx, lead).await?;
                let stored = rewrite_lead(&mut *tx, id, lead, is_lead, now).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(stored)
            }

            async fn assign_owner_if_unset(
                &self,
                lead_id: i64,
                owner_id: i64,
                now: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE leads SET owner_id = $1, updated_at = $2 WHERE id = $3 AND owner_id IS NULL",
                )
                .bind(owner_id)
                .bind(now)
                .bind(lead_id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_lead(&self, id: i64) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                sqlx::query::<$db>("DELETE FROM lead_products WHERE lead_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                <$store>::unindex_lead(&mut *tx, id).await?;
                let result = sqlx::query::<$db>("DELETE FROM leads WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())?;
                tx.commit().await.map_err(db_error)
            }

            async fn list_leads(
                &self,
                query: &$crate::LeadQuery,
            ) -> $crate::StoreResult<$crate::Page<$crate::LeadRow>> {
                // SQLite: how many leads the search matches decides the plan, and when search is the
                // only filter it is also the count.
                let mut search_total = None;
                let plan = match (&query.search, Self::DIALECT) {
                    (Some(search), $crate::sql::Dialect::Sqlite) => {
                        let built = $crate::sql::search_match_count(search, $crate::sql::SEARCH_DRIVE_THRESHOLD);
                        let (matches,): (i64,) = bind_built(sqlx::query_as::<$db, (i64,)>(&built.sql), &built.binds)
                            .fetch_one(&self.pool)
                            .await
                            .map_err(db_error)?;
                        if query.only_search() {
                            search_total = Some($crate::Total {
                                value: matches.min($crate::COUNT_CAP),
                                capped: matches > $crate::COUNT_CAP,
                            });
                        }
                        if matches < $crate::sql::SEARCH_DRIVE_THRESHOLD {
                            $crate::sql::SearchPlan::Drive
                        } else {
                            $crate::sql::SearchPlan::Filter
                        }
                    }
                    _ => $crate::sql::SearchPlan::Drive,
                };
                let built = $crate::sql::lead_page(query, Self::DIALECT, plan);
                let mut rows = bind_built(sqlx::query_as::<$db, $crate::LeadRow>(&built.sql), &built.binds)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                if !rows.is_empty() {
                    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
                    let sql = format!(
                        "SELECT lead_id, product_id FROM lead_products WHERE lead_id IN ({}) ORDER BY product_id",
                        ids.join(",")
                    );
                    let links: Vec<(i64, i64)> =
                        sqlx::query_as::<$db, (i64, i64)>(&sql).fetch_all(&self.pool).await.map_err(db_error)?;
                    for row in &mut rows {
                        row.product_ids = links.iter().filter(|(l, _)| *l == row.id).map(|(_, p)| *p).collect();
                    }
                }
                let sort = query.sort;
                let mut page = $crate::paginate(rows, query.limit, query.cursor.as_ref(), |row| {
                    $crate::sql::lead_cursor(row, sort)
                });
                if let Some(total) = search_total.filter(|_| query.count) {
                    page.total = Some(total);
                } else if query.count {
                    let built = $crate::sql::lead_count(query, Self::DIALECT);
                    let (value,): (i64,) = bind_built(sqlx::query_as::<$db, (i64,)>(&built.sql), &built.binds)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_error)?;
                    page.total =
                        Some($crate::Total { value: value.min($crate::COUNT_CAP), capped: value > $crate::COUNT_CAP });
                }
                Ok(page)
            }

            async fn reclassify_leads(&self, required: &hatake_domain::RequiredFieldSet) -> $crate::StoreResult<u64> {
                let condition = $crate::sql::required_condition(required);
                let sql = format!(
                    "UPDATE leads SET is_lead = (CASE WHEN {condition} THEN TRUE ELSE FALSE END) \
                     WHERE is_lead <> (CASE WHEN {condition} THEN TRUE ELSE FALSE END)"
                );
                let result = sqlx::query::<$db>(&sql).execute(&self.pool).await.map_err(db_error)?;
                Ok(result.rows_affected())
            }

            async fn bulk_insert_leads(
                &self,
                leads: &[(hatake_domain::LeadData, bool)],
                now: $crate::Millis,
            ) -> $crate::StoreResult<u64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let refs: Vec<(&hatake_domain::LeadData, bool)> = leads.iter().map(|(l, b)| (l, *b)).collect();
                insert_leads(&mut *tx, &refs, now).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(leads.len() as u64)
            }
        }
    };
}
