//! The SQL of name-matching and imports, written once and instantiated by each backend with
//! [`impl_resolution_store!`] next to [`crate::impl_account_and_lead_stores!`], whose private
//! helpers (`insert_leads`, `rewrite_lead`, `fetch_lead`, `bind_values` …) it uses.

/// Columns of `lead_sources` written by [`crate::ResolutionStore::apply_plan`].
pub const SOURCE_COLUMNS: [&str; 10] =
    ["lead_id", "import_id", "line", "channel", "source", "outcome", "fields", "fingerprint", "before", "created_at"];

/// The values of one source row for [`SOURCE_COLUMNS`].
pub fn source_values(
    lead_id: i64,
    import_id: Option<i64>,
    source: &crate::SourceRecord,
    now: crate::Millis,
) -> Vec<crate::sql::Value> {
    use crate::sql::Value;
    vec![
        Value::Int(lead_id),
        import_id.map_or(Value::NullInt, Value::Int),
        source.line.map_or(Value::NullInt, Value::Int),
        Value::Text(source.channel.to_owned()),
        source.source.clone().map_or(Value::NullText, Value::Text),
        Value::Text(source.outcome.as_str().to_owned()),
        Value::Text(source.fields.clone()),
        Value::Text(source.fingerprint.clone()),
        source.before.as_ref().map_or(Value::NullText, |b| Value::Text(b.to_json())),
        Value::Int(now),
    ]
}

pub const IMPORT_COLUMNS: &str = "id, kind, status, file_name, file_sha256, encoding, source, product_id, mapping, \
    headers, total_rows, created_rows, merged_rows, unchanged_rows, review_rows, rejected_rows, error, created_by, \
    created_at, finished_at, undone_at, undone_by, event, event_rows, settled_rows, progress_at, subscribe";
pub const REVIEW_COLUMNS: &str =
    "id, kind, lead_id, candidate_id, score, evidence, status, import_id, created_at, decided_by, decided_at";
/// [`REVIEW_COLUMNS`] of `match_reviews r`.
pub const REVIEW_COLUMNS_R: &str = "r.id, r.kind, r.lead_id, r.candidate_id, r.score, r.evidence, r.status, \
    r.import_id, r.created_at, r.decided_by, r.decided_at";
pub const MERGE_COLUMNS: &str =
    "id, survivor_id, merged_id, review_id, score, decided_by, created_at, undone_at, undone_by";

/// Queues a question whether two leads are one person (bind: lead, candidate, score,
/// evidence, import, created_at); a pair already asked is left as it is.
pub const INSERT_LEAD_REVIEW_SQL: &str = "INSERT INTO match_reviews \
    (kind, lead_id, candidate_id, score, evidence, import_id, created_at) \
    VALUES ('lead', $1, $2, $3, $4, $5, $6) ON CONFLICT (kind, lead_id, candidate_id) DO NOTHING";

#[macro_export]
macro_rules! impl_resolution_store {
    ($store:ty, $db:ty) => {
        async fn delete_lead_in(conn: &mut <$db as sqlx::Database>::Connection, id: i64) -> $crate::StoreResult<()> {
            sqlx::query::<$db>("DELETE FROM lead_products WHERE lead_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            <$store>::unindex_lead(&mut *conn, id).await?;
            sqlx::query::<$db>("DELETE FROM leads WHERE id = $1").bind(id).execute(&mut *conn).await.map_err(db_error)?;
            Ok(())
        }

        /// Inserts a lead under a given id (to bring back a merged lead).
        async fn insert_lead_with_id(
            conn: &mut <$db as sqlx::Database>::Connection,
            snapshot: &$crate::LeadSnapshot,
            now: $crate::Millis,
        ) -> $crate::StoreResult<()> {
            let data = snapshot.data().map_err(|e| $crate::StoreError::Database(format!("snapshot: {e:?}")))?;
            let mut columns = vec!["id"];
            columns.extend($crate::sql::LEAD_WRITE_COLUMNS);
            columns.push("created_at");
            let sql = $crate::sql::insert_rows("leads", &columns, 1);
            let mut values = vec![$crate::sql::Value::Int(snapshot.id)];
            // The lead comes back as it was, down to its time of last change.
            values.extend($crate::sql::lead_write_values(&data, snapshot.is_lead, snapshot.updated_at));
            values.push($crate::sql::Value::Int(snapshot.created_at));
            bind_values(sqlx::query::<$db>(&sql), values).execute(&mut *conn).await.map_err(db_error)?;
            write_lead_products(&mut *conn, snapshot.id, &data.product_ids, now).await?;
            let stored = fetch_lead(&mut *conn, snapshot.id).await?;
            <$store>::index_leads(&mut *conn, &[(snapshot.id, $crate::sql::lead_row_search_document(&stored))])
                .await?;
            write_lead_keys(&mut *conn, &[(snapshot.id, $crate::sql::lead_match_keys(&data))]).await
        }

        /// The next `limit` leads after `after_id`, by id (walking every lead a page at a time).
        async fn fetch_leads_after(
            conn: &mut <$db as sqlx::Database>::Connection,
            after_id: i64,
            limit: i64,
        ) -> $crate::StoreResult<Vec<$crate::LeadRow>> {
            let sql = format!(
                "SELECT {} FROM {} WHERE l.id > $1 ORDER BY l.id LIMIT $2",
                $crate::sql::LEAD_COLUMNS,
                $crate::sql::LEAD_FROM
            );
            sqlx::query_as::<$db, $crate::LeadRow>(&sql)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)
        }

        async fn fetch_leads_by_ids(
            conn: &mut <$db as sqlx::Database>::Connection,
            ids: &[i64],
        ) -> $crate::StoreResult<Vec<$crate::LeadRow>> {
            let mut rows = Vec::new();
            for part in ids.chunks($crate::MAX_BINDS) {
                let list: Vec<String> = part.iter().map(i64::to_string).collect();
                let sql = format!(
                    "SELECT {} FROM {} WHERE l.id IN ({})",
                    $crate::sql::LEAD_COLUMNS,
                    $crate::sql::LEAD_FROM,
                    list.join(",")
                );
                let mut found =
                    sqlx::query_as::<$db, $crate::LeadRow>(&sql).fetch_all(&mut *conn).await.map_err(db_error)?;
                let sql = format!(
                    "SELECT lead_id, product_id FROM lead_products WHERE lead_id IN ({}) ORDER BY product_id",
                    list.join(",")
                );
                let links: Vec<(i64, i64)> =
                    sqlx::query_as::<$db, (i64, i64)>(&sql).fetch_all(&mut *conn).await.map_err(db_error)?;
                let mut by_lead: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
                for (lead, product) in links {
                    by_lead.entry(lead).or_default().push(product);
                }
                for row in &mut found {
                    row.product_ids = by_lead.remove(&row.id).unwrap_or_default();
                }
                rows.extend(found);
            }
            Ok(rows)
        }

        #[async_trait::async_trait]
        impl $crate::ResolutionStore for $store {
            async fn match_candidate_ids(
                &self,
                keys: &[i64],
                emails: &[String],
                limit: usize,
            ) -> $crate::StoreResult<Vec<i64>> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let mut ids = Vec::new();
                for part in keys.chunks($crate::MAX_BINDS) {
                    let placeholders: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT key, lead_id FROM lead_keys WHERE key IN ({}) ORDER BY key, lead_id",
                        placeholders.join(",")
                    );
                    let mut query = sqlx::query_as::<$db, (i64, i64)>(&sql);
                    for key in part {
                        query = query.bind(*key);
                    }
                    let found = query.fetch_all(&mut *conn).await.map_err(db_error)?;
                    // A key shared by very many leads (a common name) says little: skip it.
                    for block in found.chunk_by(|a, b| a.0 == b.0) {
                        if block.len() <= limit {
                            ids.extend(block.iter().map(|(_, id)| *id));
                        }
                    }
                }
                for part in emails.chunks($crate::MAX_BINDS) {
                    let placeholders: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = format!("SELECT id FROM leads WHERE email IN ({})", placeholders.join(","));
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql);
                    for email in part {
                        query = query.bind(email.as_str());
                    }
                    ids.extend(query.fetch_all(&mut *conn).await.map_err(db_error)?.into_iter().map(|(id,)| id));
                }
                ids.sort_unstable();
                ids.dedup();
                Ok(ids)
            }

            async fn rekey_leads(&self, after_id: i64, limit: i64) -> $crate::StoreResult<Option<i64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let rows = fetch_leads_after(&mut *tx, after_id, limit).await?;
                let Some(last) = rows.last().map(|r| r.id) else { return Ok(None) };
                let list: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
                sqlx::query::<$db>(&format!("DELETE FROM lead_keys WHERE lead_id IN ({})", list.join(",")))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let keys: Vec<(i64, Vec<i64>)> = rows
                    .iter()
                    .filter_map(|row| {
                        let data = $crate::LeadSnapshot::of(row).data().ok()?;
                        Some((row.id, $crate::sql::lead_match_keys(&data)))
                    })
                    .collect();
                write_lead_keys(&mut *tx, &keys).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(Some(last))
            }

            async fn reindex_leads(&self, after_id: i64, limit: i64) -> $crate::StoreResult<Option<i64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let rows = fetch_leads_after(&mut *tx, after_id, limit).await?;
                let Some(last) = rows.last().map(|r| r.id) else { return Ok(None) };
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                <$store>::unindex_leads(&mut *tx, &ids).await?;
                let docs: Vec<(i64, String)> =
                    rows.iter().map(|r| (r.id, $crate::sql::lead_row_search_document(r))).collect();
                <$store>::index_leads(&mut *tx, &docs).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(Some(last))
            }

            async fn max_lead_id(&self) -> $crate::StoreResult<i64> {
                let (max,): (Option<i64>,) = sqlx::query_as::<$db, (Option<i64>,)>("SELECT max(id) FROM leads")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(max.unwrap_or(0))
            }

            async fn leads_by_ids(&self, ids: &[i64]) -> $crate::StoreResult<Vec<$crate::LeadRow>> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                fetch_leads_by_ids(&mut *conn, ids).await
            }

            async fn apply_plan(
                &self,
                plan: &$crate::ResolutionPlan,
                import_id: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                self.write_plan(plan, import_id, now).await
            }

            async fn source_fingerprints(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<(i64, String)>> {
                let mut found = Vec::new();
                for part in lead_ids.chunks($crate::MAX_BINDS) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    let sql = format!(
                        "SELECT lead_id, fingerprint FROM lead_sources WHERE lead_id IN ({})",
                        list.join(",")
                    );
                    found.extend(
                        sqlx::query_as::<$db, (i64, String)>(&sql).fetch_all(&self.pool).await.map_err(db_error)?,
                    );
                }
                Ok(found)
            }

            async fn lead_sources(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::SourceRow>> {
                sqlx::query_as::<$db, $crate::SourceRow>(
                    "SELECT id, lead_id, import_id, line, channel, source, outcome, fields, created_at \
                     FROM lead_sources WHERE lead_id = $1 ORDER BY id DESC",
                )
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_reviews(
                &self,
                status: &str,
                after_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ReviewRow>> {
                // A lead removed since (deleted, or merged by another decision) leaves its open
                // questions moot: only pairs whose two leads exist are listed.
                let sql = format!(
                    "SELECT {} FROM match_reviews r WHERE r.status = $1 AND r.id > $2 \
                     AND EXISTS (SELECT 1 FROM leads l WHERE l.id = r.lead_id) \
                     AND (r.kind <> 'lead' OR EXISTS (SELECT 1 FROM leads c WHERE c.id = r.candidate_id)) \
                     ORDER BY r.id LIMIT $3",
                    $crate::common_resolution::REVIEW_COLUMNS_R
                );
                sqlx::query_as::<$db, $crate::ReviewRow>(&sql)
                    .bind(status)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_reviews(&self, status: &str) -> $crate::StoreResult<i64> {
                let (count,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "SELECT count(*) FROM match_reviews r WHERE r.status = $1 \
                     AND EXISTS (SELECT 1 FROM leads l WHERE l.id = r.lead_id) \
                     AND (r.kind <> 'lead' OR EXISTS (SELECT 1 FROM leads c WHERE c.id = r.candidate_id))",
                )
                .bind(status)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(count)
            }

            async fn get_review(&self, id: i64) -> $crate::StoreResult<$crate::ReviewRow> {
                let sql =
                    format!("SELECT {} FROM match_reviews WHERE id = $1", $crate::common_resolution::REVIEW_COLUMNS);
                sqlx::query_as::<$db, $crate::ReviewRow>(&sql).bind(id).fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn reviews_of_lead(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::ReviewRow>> {
                let sql = format!(
                    "SELECT {} FROM match_reviews WHERE status = 'open' AND (lead_id = $1 OR \
                     (kind = 'lead' AND candidate_id = $1)) ORDER BY id",
                    $crate::common_resolution::REVIEW_COLUMNS
                );
                sqlx::query_as::<$db, $crate::ReviewRow>(&sql).bind(lead_id).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn decide_review(
                &self,
                id: i64,
                status: &str,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                // Only an open question is decided: two people deciding at once cannot both win.
                let result = sqlx::query::<$db>(
                    "UPDATE match_reviews SET status = $1, decided_by = $2, decided_at = $3 \
                     WHERE id = $4 AND status = 'open'",
                )
                .bind(status)
                .bind(by)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                if result.rows_affected() == 1 {
                    return Ok(());
                }
                self.get_review(id).await?;
                Err($crate::StoreError::Conflict { field: "status" })
            }

            async fn merge_leads(
                &self,
                merge: &$crate::MergeRequest<'_>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::MergeRow> {
                let $crate::MergeRequest { survivor, merged, data, is_lead, review_id, by } = *merge;
                if survivor == merged {
                    return Err($crate::StoreError::Conflict { field: "merged_id" });
                }
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                if let Some(review) = review_id {
                    let status: Option<(String,)> =
                        sqlx::query_as::<$db, (String,)>("SELECT status FROM match_reviews WHERE id = $1")
                            .bind(review)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    match status {
                        None => return Err($crate::StoreError::NotFound),
                        Some((status,)) if status != "open" => {
                            return Err($crate::StoreError::Conflict { field: "status" })
                        }
                        Some(_) => {}
                    }
                }
                let survivor_row = fetch_lead(&mut *tx, survivor).await?;
                let merged_row = fetch_lead(&mut *tx, merged).await?;
                let moved: Vec<(i64,)> =
                    sqlx::query_as::<$db, (i64,)>("SELECT id FROM lead_sources WHERE lead_id = $1 ORDER BY id")
                        .bind(merged)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                let moved: Vec<i64> = moved.into_iter().map(|(id,)| id).collect();
                sqlx::query::<$db>("UPDATE lead_sources SET lead_id = $1 WHERE lead_id = $2")
                    .bind(survivor)
                    .bind(merged)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                // Its behaviour moves too (deleting the lead would take its events with it); the
                // statements that move them say which they moved.
                let moved_events: Vec<(i64,)> =
                    sqlx::query_as::<$db, (i64,)>("UPDATE events SET lead_id = $1 WHERE lead_id = $2 RETURNING id")
                        .bind(survivor)
                        .bind(merged)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
                // Its path through the sales process goes with it: history and opportunities
                // move; a stage for a product the survivor has none for moves too (the rest go
                // with the merged lead).
                for sql in [
                    // Mail subscriptions: an unsubscribe of either is never lost; topics only the
                    // merged lead had move; every change's record moves.
                    "UPDATE subscriptions SET status = 'unsubscribed', \
                     source = (SELECT m.source FROM subscriptions m WHERE m.lead_id = $2 AND m.topic = subscriptions.topic), \
                     detail = (SELECT m.detail FROM subscriptions m WHERE m.lead_id = $2 AND m.topic = subscriptions.topic), \
                     at = (SELECT m.at FROM subscriptions m WHERE m.lead_id = $2 AND m.topic = subscriptions.topic) \
                     WHERE lead_id = $1 AND status = 'subscribed' AND topic IN \
                     (SELECT topic FROM subscriptions WHERE lead_id = $2 AND status = 'unsubscribed')",
                    "UPDATE subscriptions SET lead_id = $1 WHERE lead_id = $2 AND topic NOT IN \
                     (SELECT topic FROM subscriptions WHERE lead_id = $1)",
                    "UPDATE subscription_history SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE stage_history SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE opportunities SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE tasks SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE calls SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE hearing_log SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE tossups SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE routing_decisions SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE alerts SET lead_id = $1 WHERE lead_id = $2",
                    "UPDATE lead_stages SET lead_id = $1 WHERE lead_id = $2 AND product_id NOT IN \
                     (SELECT product_id FROM lead_stages WHERE lead_id = $1)",
                ] {
                    sqlx::query::<$db>(sql).bind(survivor).bind(merged).execute(&mut *tx).await.map_err(db_error)?;
                }
                // The survivor's scores are folded again with the events it got.
                sqlx::query::<$db>("INSERT INTO scoring_queue (lead_id) VALUES ($1) ON CONFLICT DO NOTHING")
                    .bind(survivor)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let moved_visitors: Vec<(String,)> = sqlx::query_as::<$db, (String,)>(
                    "UPDATE visitor_leads SET lead_id = $1 WHERE lead_id = $2 RETURNING visitor_id",
                )
                .bind(survivor)
                .bind(merged)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
                let moved_events = serde_json::json!({
                    "events": moved_events.into_iter().map(|(id,)| id).collect::<Vec<_>>(),
                    "visitors": moved_visitors.into_iter().map(|(id,)| id).collect::<Vec<_>>(),
                });
                // The merged lead goes first: its e-mail address may move to the survivor.
                delete_lead_in(&mut *tx, merged).await?;
                rewrite_lead(&mut *tx, survivor, data, is_lead, now).await?;
                let score: Option<f64> = match review_id {
                    Some(review) => sqlx::query_as::<$db, (f64,)>("SELECT score FROM match_reviews WHERE id = $1")
                        .bind(review)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?
                        .map(|(s,)| s),
                    None => None,
                };
                let sql = format!(
                    "INSERT INTO lead_merges (survivor_id, merged_id, survivor_before, merged_lead, moved_sources, \
                     review_id, score, decided_by, created_at, survivor_updated_at, moved_events) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING {}",
                    $crate::common_resolution::MERGE_COLUMNS
                );
                let row = sqlx::query_as::<$db, $crate::MergeRow>(&sql)
                    .bind(survivor)
                    .bind(merged)
                    .bind($crate::LeadSnapshot::of(&survivor_row).to_json())
                    .bind($crate::LeadSnapshot::of(&merged_row).to_json())
                    .bind(serde_json::to_string(&moved).unwrap_or_default())
                    .bind(review_id)
                    .bind(score)
                    .bind(by)
                    .bind(now)
                    .bind(moved_events.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if let Some(review) = review_id {
                    sqlx::query::<$db>(
                        "UPDATE match_reviews SET status = 'merged', decided_by = $1, decided_at = $2 WHERE id = $3",
                    )
                    .bind(by)
                    .bind(now)
                    .bind(review)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(row)
            }

            async fn undo_merge(&self, id: i64, by: Option<i64>, now: $crate::Millis) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                #[allow(clippy::type_complexity)]
                let (survivor, survivor_before, merged_lead, moved, review_id, survivor_updated_at, undone_at, moved_events): (
                    i64,
                    String,
                    String,
                    String,
                    Option<i64>,
                    i64,
                    Option<i64>,
                    String,
                ) = sqlx::query_as(
                    "SELECT survivor_id, survivor_before, merged_lead, moved_sources, review_id, \
                     survivor_updated_at, undone_at, moved_events FROM lead_merges WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                if undone_at.is_some() {
                    return Err($crate::StoreError::Conflict { field: "merge" });
                }
                let current = fetch_lead(&mut *tx, survivor).await?;
                if current.updated_at != survivor_updated_at {
                    return Err($crate::StoreError::Conflict { field: "survivor" });
                }
                let parse = |text: &str| {
                    serde_json::from_str::<$crate::LeadSnapshot>(text)
                        .map_err(|e| $crate::StoreError::Database(format!("snapshot: {e}")))
                };
                let before = parse(&survivor_before)?;
                let merged = parse(&merged_lead)?;
                // The survivor first: it may hold the merged lead's e-mail address.
                let data = before.data().map_err(|e| $crate::StoreError::Database(format!("snapshot: {e:?}")))?;
                rewrite_lead(&mut *tx, survivor, &data, before.is_lead, before.updated_at).await?;
                insert_lead_with_id(&mut *tx, &merged, now).await?;
                // The sources, events and web visitors the merge moved go back.
                let moved: Vec<i64> = serde_json::from_str(&moved).unwrap_or_default();
                let moved_events: serde_json::Value = serde_json::from_str(&moved_events)
                    .map_err(|e| $crate::StoreError::Database(format!("moved events: {e}")))?;
                let events: Vec<i64> = moved_events["events"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
                    .unwrap_or_default();
                for (table, ids) in [("lead_sources", &moved), ("events", &events)] {
                    for part in ids.chunks($crate::MAX_BINDS) {
                        let list: Vec<String> = part.iter().map(i64::to_string).collect();
                        sqlx::query::<$db>(&format!("UPDATE {table} SET lead_id = $1 WHERE id IN ({})", list.join(",")))
                            .bind(merged.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                }
                for visitor in moved_events["visitors"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str) {
                    sqlx::query::<$db>("UPDATE visitor_leads SET lead_id = $1 WHERE visitor_id = $2")
                        .bind(merged.id)
                        .bind(visitor)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                for lead in [survivor, merged.id] {
                    sqlx::query::<$db>("INSERT INTO scoring_queue (lead_id) VALUES ($1) ON CONFLICT DO NOTHING")
                        .bind(lead)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                sqlx::query::<$db>("UPDATE lead_merges SET undone_at = $1, undone_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(by)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if let Some(review) = review_id {
                    sqlx::query::<$db>(
                        "UPDATE match_reviews SET status = 'open', decided_by = NULL, decided_at = NULL WHERE id = $1",
                    )
                    .bind(review)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn merges_of_lead(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::MergeRow>> {
                let sql = format!(
                    "SELECT {} FROM lead_merges WHERE survivor_id = $1 ORDER BY id DESC",
                    $crate::common_resolution::MERGE_COLUMNS
                );
                sqlx::query_as::<$db, $crate::MergeRow>(&sql).bind(lead_id).fetch_all(&self.pool).await.map_err(db_error)
            }
        }
    };
}

/// The write side of name-matching and imports in plain SQL through sqlx (PostgreSQL): a
/// resolution plan, an import batch and the end of an import. SQLite writes them through its
/// own bulk connection instead.
#[macro_export]
macro_rules! impl_sqlx_plan_writer {
    ($store:ty, $db:ty) => {
        /// [`rewrite_lead`] for many leads, with the search documents, products and keys written
        /// in a few statements for the lot.
        async fn rewrite_leads(
            conn: &mut <$db as sqlx::Database>::Connection,
            updates: &[(i64, &hatake_domain::LeadData, bool)],
            now: $crate::Millis,
        ) -> $crate::StoreResult<()> {
            if updates.is_empty() {
                return Ok(());
            }
            let sql = $crate::sql::update_planned_lead_sql();
            for (id, lead, is_lead) in updates {
                let mut values = $crate::sql::lead_write_values(lead, *is_lead, now);
                values.push($crate::sql::Value::Int(*id));
                let result =
                    bind_values(sqlx::query::<$db>(&sql), values).execute(&mut *conn).await.map_err(db_error)?;
                $crate::one_row(result.rows_affected())?;
            }
            let ids: Vec<i64> = updates.iter().map(|(id, _, _)| *id).collect();
            for part in ids.chunks($crate::BULK_ROWS) {
                let list: Vec<String> = part.iter().map(i64::to_string).collect();
                for table in ["lead_products", "lead_keys"] {
                    sqlx::query::<$db>(&format!("DELETE FROM {table} WHERE lead_id IN ({})", list.join(",")))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_error)?;
                }
            }
            <$store>::unindex_leads(&mut *conn, &ids).await?;
            let written: Vec<(i64, &hatake_domain::LeadData)> =
                updates.iter().map(|(id, lead, _)| (*id, *lead)).collect();
            write_lead_extras(&mut *conn, &written, now).await
        }

        async fn insert_sources(
            conn: &mut <$db as sqlx::Database>::Connection,
            rows: &[(i64, &$crate::SourceRecord)],
            import_id: Option<i64>,
            now: $crate::Millis,
        ) -> $crate::StoreResult<()> {
            use $crate::sql::JsonType::{Int, Text};
            let columns: Vec<(&str, $crate::sql::JsonType)> = $crate::common_resolution::SOURCE_COLUMNS
                .iter()
                .map(|c| (*c, if matches!(*c, "lead_id" | "import_id" | "line" | "created_at") { Int } else { Text }))
                .collect();
            let sql = $crate::sql::insert_json("lead_sources", &columns, <$store>::DIALECT);
            for part in rows.chunks($crate::BULK_ROWS) {
                let values: Vec<serde_json::Value> = part
                    .iter()
                    .map(|(lead, source)| {
                        $crate::sql::json_row($crate::common_resolution::source_values(*lead, import_id, source, now))
                    })
                    .collect();
                sqlx::query::<$db>(&sql)
                    .bind(serde_json::Value::Array(values).to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        }

        impl $store {
            async fn write_plan(
                &self,
                plan: &$crate::ResolutionPlan,
                import_id: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let creates: Vec<(&hatake_domain::LeadData, bool)> =
                    plan.creates.iter().map(|c| (&c.data, c.is_lead)).collect();
                let created = insert_leads(&mut *tx, &creates, now).await?;
                let resolve = |lead: $crate::LeadRef| match lead {
                    $crate::LeadRef::Existing(id) => id,
                    $crate::LeadRef::Planned(index) => created[index],
                };
                let updates: Vec<(i64, &hatake_domain::LeadData, bool)> =
                    plan.updates.iter().map(|u| (u.id, &u.data, u.is_lead)).collect();
                rewrite_leads(&mut *tx, &updates, now).await?;
                let mut sources: Vec<(i64, &$crate::SourceRecord)> = Vec::new();
                for (id, create) in created.iter().zip(&plan.creates) {
                    sources.extend(create.sources.iter().map(|s| (*id, s)));
                }
                for update in &plan.updates {
                    sources.extend(update.sources.iter().map(|s| (update.id, s)));
                }
                sources.extend(plan.unchanged.iter().map(|(id, s)| (*id, s)));
                insert_sources(&mut *tx, &sources, import_id, now).await?;
                for review in &plan.reviews {
                    let (lead, candidate) = (resolve(review.lead), resolve(review.candidate));
                    sqlx::query::<$db>($crate::common_resolution::INSERT_LEAD_REVIEW_SQL)
                        .bind(lead)
                        .bind(candidate)
                        .bind(review.score)
                        .bind(review.evidence.as_str())
                        .bind(import_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(created)
            }

            async fn write_finish_import(
                &self,
                id: i64,
                counts: &$crate::ImportCounts,
                status: &str,
                error: Option<&str>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>($crate::common_imports::FINISH_IMPORT_SQL)
                    .bind(status)
                    .bind(counts.total)
                    .bind(counts.created)
                    .bind(counts.merged)
                    .bind(counts.unchanged)
                    .bind(counts.review)
                    .bind(counts.rejected)
                    .bind(error)
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn write_import_batch(&self, batch: $crate::ImportBatch) -> $crate::StoreResult<Vec<i64>> {
                let created = self.write_plan(&batch.plan, Some(batch.import_id), batch.now).await?;
                if !batch.rejects.is_empty() {
                    $crate::ImportStore::add_rejects(self, batch.import_id, &batch.rejects).await?;
                }
                $crate::ImportStore::record_import_progress(self, batch.import_id, &batch.counts, batch.now).await?;
                Ok(created)
            }
        }
    };
}
