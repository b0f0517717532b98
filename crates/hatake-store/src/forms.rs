//! Web forms and their submissions ([`FormStore`]): definitions versioned on every save, and
//! every accepted submission kept raw before it is processed, so none is lost when processing
//! fails. The SQL is written once and instantiated by each backend with [`impl_form_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// A form as stored: its current definition (JSON) and version.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FormRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub active: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A form with how many of its submissions are in each state.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FormSummary {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub version: i64,
    pub active: bool,
    pub updated_at: Millis,
    pub done: i64,
    pub failed: i64,
    pub pending: i64,
    pub spam: i64,
}

/// A submission to keep, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubmission {
    pub form_id: i64,
    pub form_version: i64,
    /// `pending` (to process) or `spam` (kept for the record, never processed).
    pub status: &'static str,
    /// A JSON object of the answers ([`hatake_domain::form::CheckedSubmission::payload`]).
    pub payload: String,
    pub visitor_id: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The secret that lets the sender book a meeting for this submission (forms with booking).
    pub booking_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SubmissionRow {
    pub id: i64,
    pub form_id: i64,
    pub form_version: i64,
    /// `pending`, `done`, `failed` or `spam`.
    pub status: String,
    pub payload: String,
    pub visitor_id: Option<String>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Millis>,
    pub lead_id: Option<i64>,
    /// What name-matching made of it: `created`, `merged`, `unchanged` or `review`.
    pub outcome: Option<String>,
    pub event_id: Option<i64>,
    pub received_at: Millis,
    pub processed_at: Option<Millis>,
    #[serde(skip)]
    pub booking_token: Option<String>,
}

/// How a processed submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionDone {
    pub lead_id: i64,
    pub outcome: &'static str,
    pub event_id: i64,
}

#[async_trait]
pub trait FormStore: Send + Sync + 'static {
    /// Version 1 of a new form. [`crate::StoreError::Conflict`] (`slug`) when the slug is taken.
    async fn create_form(
        &self,
        slug: &str,
        name: &str,
        definition: &str,
        by: Option<i64>,
        now: Millis,
    ) -> StoreResult<FormRow>;
    /// Saves a new version (the old ones stay readable by [`FormStore::form_version`]).
    async fn update_form(
        &self,
        id: i64,
        slug: &str,
        name: &str,
        definition: &str,
        by: Option<i64>,
        now: Millis,
    ) -> StoreResult<FormRow>;
    async fn set_form_active(&self, id: i64, active: bool, now: Millis) -> StoreResult<()>;
    async fn get_form(&self, id: i64) -> StoreResult<FormRow>;
    async fn form_by_slug(&self, slug: &str) -> StoreResult<Option<FormRow>>;
    /// Every form, newest change first, with its submission counts.
    async fn list_forms(&self) -> StoreResult<Vec<FormSummary>>;
    /// The definition a form had at a version.
    async fn form_version(&self, form_id: i64, version: i64) -> StoreResult<String>;

    /// Stores a submission (committed when this returns); a `pending` one is due at once.
    async fn insert_submission(&self, submission: &NewSubmission, now: Millis) -> StoreResult<i64>;
    async fn get_submission(&self, id: i64) -> StoreResult<SubmissionRow>;
    async fn submission_by_booking_token(&self, token: &str) -> StoreResult<Option<SubmissionRow>>;
    /// A form's submissions, newest first, optionally of one status, older than `before`.
    async fn list_submissions(
        &self,
        form_id: i64,
        status: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<SubmissionRow>>;
    /// Pending or failed submissions whose next attempt is due, oldest first.
    async fn due_submissions(&self, now: Millis, limit: i64) -> StoreResult<Vec<SubmissionRow>>;
    async fn finish_submission(&self, id: i64, done: &SubmissionDone, now: Millis) -> StoreResult<()>;
    /// Records a failed attempt; `next_attempt_at` none stops the automatic retries (a person
    /// can still retry it).
    async fn fail_submission(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<()>;
    /// Makes a failed submission due now. [`crate::StoreError::NotFound`] unless it failed.
    async fn retry_submission(&self, id: i64, now: Millis) -> StoreResult<()>;
}

/// The columns of [`SubmissionRow`], in order.
pub const SUBMISSION_COLUMNS: &str = "id, form_id, form_version, status, payload, visitor_id, page_url, referrer, ip, \
     user_agent, attempts, last_error, next_attempt_at, lead_id, outcome, event_id, received_at, processed_at, \
     booking_token";
/// The columns of [`FormRow`], in order.
pub const FORM_COLUMNS: &str = "id, slug, name, version, definition, active, created_at, updated_at";

#[macro_export]
macro_rules! impl_form_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::FormStore for $store {
            async fn create_form(
                &self,
                slug: &str,
                name: &str,
                definition: &str,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::FormRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let row = sqlx::query_as::<$db, $crate::FormRow>(&format!(
                    "INSERT INTO forms (slug, name, version, definition, active, created_at, updated_at) \
                     VALUES ($1, $2, 1, $3, TRUE, $4, $4) RETURNING {}",
                    $crate::FORM_COLUMNS
                ))
                .bind(slug)
                .bind(name)
                .bind(definition)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO form_versions (form_id, version, definition, created_by, created_at) \
                     VALUES ($1, 1, $2, $3, $4)",
                )
                .bind(row.id)
                .bind(definition)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(row)
            }

            async fn update_form(
                &self,
                id: i64,
                slug: &str,
                name: &str,
                definition: &str,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::FormRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let row = sqlx::query_as::<$db, $crate::FormRow>(&format!(
                    "UPDATE forms SET slug = $2, name = $3, definition = $4, version = version + 1, updated_at = $5 \
                     WHERE id = $1 RETURNING {}",
                    $crate::FORM_COLUMNS
                ))
                .bind(id)
                .bind(slug)
                .bind(name)
                .bind(definition)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or($crate::StoreError::NotFound)?;
                sqlx::query::<$db>(
                    "INSERT INTO form_versions (form_id, version, definition, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(row.version)
                .bind(definition)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(row)
            }

            async fn set_form_active(&self, id: i64, active: bool, now: $crate::Millis) -> $crate::StoreResult<()> {
                let done = sqlx::query::<$db>("UPDATE forms SET active = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(active)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }

            async fn get_form(&self, id: i64) -> $crate::StoreResult<$crate::FormRow> {
                sqlx::query_as::<$db, $crate::FormRow>(&format!(
                    "SELECT {} FROM forms WHERE id = $1",
                    $crate::FORM_COLUMNS
                ))
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn form_by_slug(&self, slug: &str) -> $crate::StoreResult<Option<$crate::FormRow>> {
                sqlx::query_as::<$db, $crate::FormRow>(&format!(
                    "SELECT {} FROM forms WHERE slug = $1",
                    $crate::FORM_COLUMNS
                ))
                .bind(slug)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_forms(&self) -> $crate::StoreResult<Vec<$crate::FormSummary>> {
                sqlx::query_as::<$db, $crate::FormSummary>(
                    "SELECT f.id, f.slug, f.name, f.version, f.active, f.updated_at, \
                     COALESCE(SUM(CASE WHEN s.status = 'done' THEN 1 ELSE 0 END), 0) AS done, \
                     COALESCE(SUM(CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
                     COALESCE(SUM(CASE WHEN s.status = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
                     COALESCE(SUM(CASE WHEN s.status = 'spam' THEN 1 ELSE 0 END), 0) AS spam \
                     FROM forms f LEFT JOIN form_submissions s ON s.form_id = f.id \
                     GROUP BY f.id, f.slug, f.name, f.version, f.active, f.updated_at \
                     ORDER BY f.updated_at DESC, f.id DESC",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn form_version(&self, form_id: i64, version: i64) -> $crate::StoreResult<String> {
                let (definition,): (String,) = sqlx::query_as::<$db, (String,)>(
                    "SELECT definition FROM form_versions WHERE form_id = $1 AND version = $2",
                )
                .bind(form_id)
                .bind(version)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(definition)
            }

            async fn insert_submission(
                &self,
                s: &$crate::NewSubmission,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let due = (s.status == "pending").then_some(now);
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO form_submissions (form_id, form_version, status, payload, visitor_id, page_url, \
                     referrer, ip, user_agent, next_attempt_at, received_at, booking_token) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                )
                .bind(s.form_id)
                .bind(s.form_version)
                .bind(s.status)
                .bind(s.payload.as_str())
                .bind(s.visitor_id.as_deref())
                .bind(s.page_url.as_deref())
                .bind(s.referrer.as_deref())
                .bind(s.ip.as_deref())
                .bind(s.user_agent.as_deref())
                .bind(due)
                .bind(now)
                .bind(s.booking_token.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(id)
            }

            async fn get_submission(&self, id: i64) -> $crate::StoreResult<$crate::SubmissionRow> {
                sqlx::query_as::<$db, $crate::SubmissionRow>(&format!(
                    "SELECT {} FROM form_submissions WHERE id = $1",
                    $crate::SUBMISSION_COLUMNS
                ))
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn submission_by_booking_token(
                &self,
                token: &str,
            ) -> $crate::StoreResult<Option<$crate::SubmissionRow>> {
                sqlx::query_as::<$db, $crate::SubmissionRow>(&format!(
                    "SELECT {} FROM form_submissions WHERE booking_token = $1",
                    $crate::SUBMISSION_COLUMNS
                ))
                .bind(token)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_submissions(
                &self,
                form_id: i64,
                status: Option<&str>,
                before: Option<i64>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::SubmissionRow>> {
                sqlx::query_as::<$db, $crate::SubmissionRow>(&format!(
                    "SELECT {} FROM form_submissions WHERE form_id = $1 AND ($2 IS NULL OR status = $2) \
                     AND id < $3 ORDER BY id DESC LIMIT $4",
                    $crate::SUBMISSION_COLUMNS
                ))
                .bind(form_id)
                .bind(status)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn due_submissions(
                &self,
                now: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::SubmissionRow>> {
                sqlx::query_as::<$db, $crate::SubmissionRow>(&format!(
                    "SELECT {} FROM form_submissions WHERE status IN ('pending', 'failed') \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
                    $crate::SUBMISSION_COLUMNS
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn finish_submission(
                &self,
                id: i64,
                done: &$crate::SubmissionDone,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>(
                    "UPDATE form_submissions SET status = 'done', lead_id = $2, outcome = $3, event_id = $4, \
                     attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL, processed_at = $5 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(done.lead_id)
                .bind(done.outcome)
                .bind(done.event_id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn fail_submission(
                &self,
                id: i64,
                error: &str,
                next_attempt_at: Option<$crate::Millis>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>(
                    "UPDATE form_submissions SET status = 'failed', attempts = attempts + 1, last_error = $2, \
                     next_attempt_at = $3, processed_at = $4 WHERE id = $1 AND status IN ('pending', 'failed')",
                )
                .bind(id)
                .bind(error)
                .bind(next_attempt_at)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }

            async fn retry_submission(&self, id: i64, now: $crate::Millis) -> $crate::StoreResult<()> {
                let result = sqlx::query::<$db>(
                    "UPDATE form_submissions SET next_attempt_at = $2 WHERE id = $1 AND status = 'failed'",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(result.rows_affected())
            }
        }
    };
}
