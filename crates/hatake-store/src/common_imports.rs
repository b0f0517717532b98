//! The SQL of imports, the company master and department classes, written once and
//! instantiated by each backend with [`impl_import_store!`] next to
//! [`crate::impl_resolution_store!`] and [`crate::impl_account_and_lead_stores!`], whose
//! private helpers (`rewrite_lead`, `delete_lead_in`, `fetch_lead`, `bind_values` …) it uses.

/// Records a running import's counts so far and that it is alive (bind: the six counts in
/// [`crate::ImportCounts::as_row`] order, progress_at, id).
///
/// The parameters appear in their numeric order: SQLite numbers `$n` parameters by first
/// appearance, so a `$8` before a `$7` binds positionally to the wrong one (rusqlite's bulk
/// connection binds by position).
pub const RECORD_PROGRESS_SQL: &str = "UPDATE imports SET total_rows = $1, created_rows = $2, merged_rows = $3, \
    unchanged_rows = $4, review_rows = $5, rejected_rows = $6, progress_at = $7 WHERE id = $8 AND status = 'running'";

/// Records how an import ended (bind: status, the six counts, error, finished_at, id).
pub const FINISH_IMPORT_SQL: &str = "UPDATE imports SET status = $1, total_rows = $2, created_rows = $3, \
    merged_rows = $4, unchanged_rows = $5, review_rows = $6, rejected_rows = $7, error = $8, finished_at = $9 \
    WHERE id = $10";

#[macro_export]
macro_rules! impl_import_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn accounts_where(
                &self,
                column: &str,
                values: &[String],
            ) -> $crate::StoreResult<Vec<$crate::AccountRow>> {
                let mut rows = Vec::new();
                for part in values.chunks($crate::MAX_BINDS) {
                    let placeholders: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT {} FROM accounts a WHERE {column} IN ({}) ORDER BY a.id",
                        $crate::sql::ACCOUNT_COLUMNS,
                        placeholders.join(",")
                    );
                    let mut query = sqlx::query_as::<$db, $crate::AccountRow>(&sql);
                    for value in part {
                        query = query.bind(value.as_str());
                    }
                    rows.extend(query.fetch_all(&self.pool).await.map_err(db_error)?);
                }
                Ok(rows)
            }
        }

        #[async_trait::async_trait]
        impl $crate::ImportStore for $store {
            async fn create_import(
                &self,
                import: &$crate::NewImport,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ImportRow> {
                let sql = format!(
                    "INSERT INTO imports (kind, status, file_name, file_sha256, encoding, source, product_id, mapping, \
                     headers, created_by, created_at, progress_at, event, subscribe) \
                     VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING {}",
                    $crate::common_resolution::IMPORT_COLUMNS
                );
                sqlx::query_as::<$db, $crate::ImportRow>(&sql)
                    .bind(import.kind.as_str())
                    .bind(import.file_name.as_str())
                    .bind(import.file_sha256.as_str())
                    .bind(import.encoding.as_str())
                    .bind(import.source.as_deref())
                    .bind(import.product_id)
                    .bind(import.mapping.as_str())
                    .bind(import.headers.as_str())
                    .bind(import.created_by)
                    .bind(now)
                    .bind(import.event.as_deref())
                    .bind(import.subscribe.as_deref())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn add_import_events(&self, import_id: i64, count: i64) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("UPDATE imports SET event_rows = event_rows + $2 WHERE id = $1")
                    .bind(import_id)
                    .bind(count)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn settle_import_rows(&self, import_id: i64, rows: i64) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("UPDATE imports SET settled_rows = $2 WHERE id = $1")
                    .bind(import_id)
                    .bind(rows)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn get_import(&self, id: i64) -> $crate::StoreResult<$crate::ImportRow> {
                let sql = format!("SELECT {} FROM imports WHERE id = $1", $crate::common_resolution::IMPORT_COLUMNS);
                sqlx::query_as::<$db, $crate::ImportRow>(&sql).bind(id).fetch_one(&self.pool).await.map_err(db_error)
            }

            async fn list_imports(&self, limit: i64) -> $crate::StoreResult<Vec<$crate::ImportRow>> {
                let sql = format!(
                    "SELECT {} FROM imports ORDER BY id DESC LIMIT $1",
                    $crate::common_resolution::IMPORT_COLUMNS
                );
                sqlx::query_as::<$db, $crate::ImportRow>(&sql).bind(limit).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn imports_of_file(&self, sha256: &str) -> $crate::StoreResult<Vec<$crate::ImportRow>> {
                let sql = format!(
                    "SELECT {} FROM imports WHERE file_sha256 = $1 ORDER BY id DESC",
                    $crate::common_resolution::IMPORT_COLUMNS
                );
                sqlx::query_as::<$db, $crate::ImportRow>(&sql).bind(sha256).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn finish_import(
                &self,
                id: i64,
                counts: &$crate::ImportCounts,
                status: &str,
                error: Option<&str>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                self.write_finish_import(id, counts, status, error, now).await
            }

            async fn record_import_progress(
                &self,
                id: i64,
                counts: &$crate::ImportCounts,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>($crate::common_imports::RECORD_PROGRESS_SQL)
                .bind(counts.total)
                .bind(counts.created)
                .bind(counts.merged)
                .bind(counts.unchanged)
                .bind(counts.review)
                .bind(counts.rejected)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn fail_stalled_imports(
                &self,
                stalled_before: $crate::Millis,
                now: $crate::Millis,
            ) -> $crate::StoreResult<u64> {
                let result = sqlx::query::<$db>(
                    "UPDATE imports SET status = 'failed', finished_at = $1, \
                     error = 'stopped: no progress since the server stopped / サーバー停止のため中断' \
                     WHERE status = 'running' AND progress_at < $2",
                )
                .bind(now)
                .bind(stalled_before)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(result.rows_affected())
            }

            async fn add_rejects(&self, import_id: i64, rejects: &[$crate::RejectRow]) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for part in rejects.chunks($crate::rows_per_statement(4)) {
                    let sql = $crate::sql::insert_rows(
                        "import_rejects",
                        &["import_id", "line", "fields", "problems"],
                        part.len(),
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for reject in part {
                        query = query
                            .bind(import_id)
                            .bind(reject.line)
                            .bind(reject.fields.as_str())
                            .bind(reject.problems.as_str());
                    }
                    query.execute(&mut *tx).await.map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn apply_import_batch(&self, batch: $crate::ImportBatch) -> $crate::StoreResult<Vec<i64>> {
                self.write_import_batch(batch).await
            }

            async fn import_rejects(&self, import_id: i64) -> $crate::StoreResult<Vec<$crate::RejectRow>> {
                sqlx::query_as::<$db, $crate::RejectRow>(
                    "SELECT line, fields, problems FROM import_rejects WHERE import_id = $1 ORDER BY line",
                )
                .bind(import_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn resume_import(
                &self,
                id: i64,
                stalled_before: Option<$crate::Millis>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ImportRow> {
                let done = sqlx::query::<$db>(
                    "UPDATE imports SET status = 'running', error = NULL, finished_at = NULL, progress_at = $1 \
                     WHERE id = $2 AND kind = 'leads' AND (status = 'failed' OR (status = 'running' \
                     AND COALESCE(progress_at, created_at) < $3))",
                )
                .bind(now)
                .bind(id)
                .bind(stalled_before.unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    self.get_import(id).await?;
                    return Err($crate::StoreError::Conflict { field: "status" });
                }
                self.get_import(id).await
            }

            async fn import_lines(&self, import_id: i64) -> $crate::StoreResult<Vec<(i64, i64, String)>> {
                sqlx::query_as::<$db, (i64, i64, String)>(
                    "SELECT line, lead_id, outcome FROM lead_sources WHERE import_id = $1 AND line IS NOT NULL \
                     ORDER BY line",
                )
                .bind(import_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn import_line_page(
                &self,
                import_id: i64,
                outcome: Option<&str>,
                after_line: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ImportLineRow>> {
                sqlx::query_as::<$db, $crate::ImportLineRow>(
                    "SELECT s.line, s.lead_id, s.outcome, \
                     COALESCE(NULLIF(TRIM(COALESCE(l.family_name, '') || ' ' || COALESCE(l.given_name, '')), ''), l.email) \
                     AS lead_name, COALESCE(a.name, l.company_name) AS company, \
                     (s.outcome = 'review' AND NOT EXISTS (SELECT 1 FROM match_reviews r \
                       WHERE r.lead_id = s.lead_id AND r.status = 'open')) AS decided \
                     FROM lead_sources s LEFT JOIN leads l ON l.id = s.lead_id LEFT JOIN accounts a ON a.id = l.account_id \
                     WHERE s.import_id = $1 AND s.line > $2 AND ($3 IS NULL OR s.outcome = $3) ORDER BY s.line LIMIT $4",
                )
                .bind(import_id)
                .bind(after_line)
                .bind(outcome)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn undo_import(
                &self,
                id: i64,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::UndoReport> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let sql = format!("SELECT {} FROM imports WHERE id = $1", $crate::common_resolution::IMPORT_COLUMNS);
                let import = sqlx::query_as::<$db, $crate::ImportRow>(&sql)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                // A failed import may have written some batches: those can be undone too.
                if import.status != "done" && import.status != "failed" {
                    return Err($crate::StoreError::Conflict { field: "status" });
                }
                let finished = import.finished_at.unwrap_or(now);
                let sources: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as::<$db, (i64, i64, String, Option<String>)>(
                    "SELECT id, lead_id, outcome, before FROM lead_sources WHERE import_id = $1 ORDER BY lead_id, id",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
                let mut report = $crate::UndoReport::default();
                for group in sources.chunk_by(|a, b| a.1 == b.1) {
                    let lead_id = group[0].1;
                    let last_own = group.iter().map(|s| s.0).max().unwrap_or(0);
                    let current: Option<(i64,)> =
                        sqlx::query_as::<$db, (i64,)>("SELECT updated_at FROM leads WHERE id = $1")
                            .bind(lead_id)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    let Some((updated_at,)) = current else { continue };
                    let (later,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                        "SELECT count(*) FROM lead_sources WHERE lead_id = $1 AND id > $2 AND outcome <> 'unchanged'",
                    )
                    .bind(lead_id)
                    .bind(last_own)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if updated_at > finished || later > 0 {
                        report.kept.push(lead_id);
                        continue;
                    }
                    let created = group.iter().any(|s| s.2 == "created" || s.2 == "review");
                    if created {
                        delete_lead_in(&mut *tx, lead_id).await?;
                        report.deleted += 1;
                    } else if let Some(before) = group.iter().find_map(|s| s.3.as_deref()) {
                        let snapshot: $crate::LeadSnapshot = serde_json::from_str(before)
                            .map_err(|e| $crate::StoreError::Database(format!("snapshot: {e}")))?;
                        let data = snapshot
                            .data()
                            .map_err(|e| $crate::StoreError::Database(format!("snapshot: {e:?}")))?;
                        rewrite_lead(&mut *tx, lead_id, &data, snapshot.is_lead, now).await?;
                        report.restored += 1;
                    }
                }
                let kept: Vec<String> = report.kept.iter().map(i64::to_string).collect();
                let keep_clause =
                    if kept.is_empty() { String::new() } else { format!(" AND lead_id NOT IN ({})", kept.join(",")) };
                sqlx::query::<$db>(&format!("DELETE FROM lead_sources WHERE import_id = $1{keep_clause}"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                // The events the import recorded for its people ("import:{id}:{line}"); their
                // people's scores are folded again without them.
                sqlx::query::<$db>(
                    "INSERT INTO scoring_queue (lead_id) SELECT DISTINCT lead_id FROM events \
                     WHERE idempotency_key >= $1 AND idempotency_key < $2 AND lead_id IS NOT NULL \
                     ON CONFLICT DO NOTHING",
                )
                .bind(format!("import:{id}:"))
                .bind(format!("import:{id};"))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query::<$db>("DELETE FROM events WHERE idempotency_key >= $1 AND idempotency_key < $2")
                    .bind(format!("import:{id}:"))
                    .bind(format!("import:{id};"))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query::<$db>("DELETE FROM match_reviews WHERE import_id = $1 AND status = 'open'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query::<$db>("UPDATE imports SET status = 'undone', undone_at = $1, undone_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(by)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(report)
            }

            async fn accounts_by_name_keys(&self, keys: &[String]) -> $crate::StoreResult<Vec<$crate::AccountRow>> {
                self.accounts_where("a.name_normalized", keys).await
            }

            async fn accounts_by_corporate_numbers(
                &self,
                numbers: &[String],
            ) -> $crate::StoreResult<Vec<$crate::AccountRow>> {
                self.accounts_where("a.corporate_number", numbers).await
            }

            async fn unlinked_leads(&self, after_id: i64, limit: i64) -> $crate::StoreResult<Vec<$crate::LeadRow>> {
                let sql = format!(
                    "SELECT {} FROM {} WHERE l.account_id IS NULL AND l.company_name IS NOT NULL AND l.id > $1 \
                     ORDER BY l.id LIMIT $2",
                    $crate::sql::LEAD_COLUMNS,
                    $crate::sql::LEAD_FROM
                );
                sqlx::query_as::<$db, $crate::LeadRow>(&sql)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn link_leads(
                &self,
                links: &[(i64, i64)],
                reviews: &[(i64, i64, f64, String)],
                import_id: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for (lead, account) in links {
                    sqlx::query::<$db>("UPDATE leads SET account_id = $1, updated_at = $2 WHERE id = $3")
                        .bind(account)
                        .bind(now)
                        .bind(lead)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                // The company's name is part of each search document: re-index the lot at once.
                let ids: Vec<i64> = links.iter().map(|(lead, _)| *lead).collect();
                let docs: Vec<(i64, String)> = fetch_leads_by_ids(&mut *tx, &ids)
                    .await?
                    .iter()
                    .map(|row| (row.id, $crate::sql::lead_row_search_document(row)))
                    .collect();
                <$store>::unindex_leads(&mut *tx, &ids).await?;
                <$store>::index_leads(&mut *tx, &docs).await?;
                for (lead, account, score, evidence) in reviews {
                    sqlx::query::<$db>(
                        "INSERT INTO match_reviews (kind, lead_id, candidate_id, score, evidence, import_id, created_at) \
                         VALUES ('account', $1, $2, $3, $4, $5, $6) ON CONFLICT (kind, lead_id, candidate_id) DO NOTHING",
                    )
                    .bind(lead)
                    .bind(account)
                    .bind(score)
                    .bind(evidence.as_str())
                    .bind(import_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn distinct_departments(&self) -> $crate::StoreResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as::<$db, (String,)>(
                    "SELECT DISTINCT department FROM leads WHERE department IS NOT NULL",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(rows.into_iter().map(|(d,)| d).collect())
            }

            async fn set_department_classes(
                &self,
                classes: &[(String, Option<String>)],
            ) -> $crate::StoreResult<u64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut changed = 0;
                // One statement per 200 departments: each is one pass over the leads.
                for part in classes.chunks(200) {
                    let mut case = String::from("CASE department");
                    let mut binds: Vec<$crate::sql::Value> = Vec::new();
                    for (department, class) in part {
                        binds.push($crate::sql::Value::Text(department.clone()));
                        binds.push(class.clone().map_or($crate::sql::Value::NullText, $crate::sql::Value::Text));
                        case.push_str(&format!(" WHEN ${} THEN ${}", binds.len() - 1, binds.len()));
                    }
                    case.push_str(" END");
                    let list: Vec<String> = (0..part.len()).map(|i| format!("${}", i * 2 + 1)).collect();
                    let sql = format!(
                        "UPDATE leads SET department_class = {case} WHERE department IN ({}) \
                         AND (department_class IS NULL OR department_class <> {case} OR {case} IS NULL) \
                         AND NOT (department_class IS NULL AND {case} IS NULL)",
                        list.join(",")
                    );
                    let result = bind_values(sqlx::query::<$db>(&sql), binds).execute(&mut *tx).await.map_err(db_error)?;
                    changed += result.rows_affected();
                }
                sqlx::query::<$db>("UPDATE leads SET department_class = NULL WHERE department IS NULL AND department_class IS NOT NULL")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(changed)
            }
        }
    };
}
