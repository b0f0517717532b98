//! Mail templates ([`MailTemplateStore`]): named templates of four kinds — marketing and
//! transactional mail, layouts a mail extends and partials it includes — whose content (subject,
//! HTML and text) is kept in numbered versions: a save that changes the content makes the next
//! version, and every earlier one can be read and restored. The SQL is instantiated by each
//! backend with [`impl_mail_template_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// The kinds of template.
pub const TEMPLATE_KINDS: [&str; 4] = ["marketing", "transactional", "layout", "partial"];

/// What a template says (one version of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TemplateContent {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A template's name and settings with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDraft {
    pub name: String,
    /// One of [`TEMPLATE_KINDS`].
    pub kind: String,
    /// The product the mail is about (its subscription topic); `None` for the general newsletter.
    pub product_id: Option<i64>,
    /// `utf-8` or `iso-2022-jp`.
    pub charset: String,
    pub content: TemplateContent,
}

/// A template with its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MailTemplateRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub product_id: Option<i64>,
    pub charset: String,
    pub version: i64,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub updated_by: Option<i64>,
    pub updated_by_name: Option<String>,
    pub archived_at: Option<Millis>,
}

impl MailTemplateRow {
    pub fn content(&self) -> TemplateContent {
        TemplateContent { subject: self.subject.clone(), html: self.html.clone(), text: self.text.clone() }
    }
}

/// One version of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TemplateVersionRow {
    pub template_id: i64,
    pub version: i64,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: Millis,
}

/// Which templates a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Archived ones instead of the others.
    pub archived: bool,
    pub offset: i64,
    pub limit: i64,
}

#[async_trait]
pub trait MailTemplateStore: Send + Sync + 'static {
    /// Creates a template at version 1. [`crate::StoreError::Conflict`] (`name`) when the name
    /// is taken.
    async fn create_mail_template(&self, draft: &TemplateDraft, by_user: Option<i64>, now: Millis) -> StoreResult<i64>;
    /// Saves the template's settings, and its content as the next version when that differs
    /// from the current one. Returns the version now current.
    async fn save_mail_template(
        &self,
        id: i64,
        draft: &TemplateDraft,
        by_user: Option<i64>,
        now: Millis,
    ) -> StoreResult<i64>;
    async fn mail_template(&self, id: i64) -> StoreResult<Option<MailTemplateRow>>;
    async fn mail_template_by_name(&self, name: &str) -> StoreResult<Option<MailTemplateRow>>;
    /// Templates by name, with how many the query matches in all.
    async fn mail_templates(&self, query: &TemplateQuery) -> StoreResult<(Vec<MailTemplateRow>, i64)>;
    /// A template's versions, newest first.
    async fn mail_template_versions(&self, id: i64) -> StoreResult<Vec<TemplateVersionRow>>;
    async fn mail_template_version(&self, id: i64, version: i64) -> StoreResult<Option<TemplateVersionRow>>;
    /// Archives (or brings back) a template; an archived one is not offered for sending.
    async fn archive_mail_template(&self, id: i64, archived: bool, now: Millis) -> StoreResult<()>;
}

/// The columns of [`MailTemplateRow`] from `mail_templates t` and the version `v`.
pub const TEMPLATE_COLUMNS: &str = "t.id, t.name, t.kind, t.product_id, t.charset, t.version, v.subject, v.html, \
     v.text, t.created_at, t.updated_at, t.updated_by, u.display_name AS updated_by_name, t.archived_at";

/// `mail_templates t` with its current version and the person who saved it.
pub const TEMPLATE_FROM: &str = "mail_templates t JOIN mail_template_versions v ON v.template_id = t.id \
     AND v.version = t.version LEFT JOIN users u ON u.id = t.updated_by";

#[macro_export]
macro_rules! impl_mail_template_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::MailTemplateStore for $store {
            async fn create_mail_template(
                &self,
                draft: &$crate::TemplateDraft,
                by_user: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO mail_templates (name, kind, product_id, charset, version, created_at, updated_at, \
                     updated_by) VALUES ($1, $2, $3, $4, 1, $5, $5, $6) RETURNING id",
                )
                .bind(&draft.name)
                .bind(&draft.kind)
                .bind(draft.product_id)
                .bind(&draft.charset)
                .bind(now)
                .bind(by_user)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO mail_template_versions (template_id, version, subject, html, text, created_by, \
                     created_at) VALUES ($1, 1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(&draft.content.subject)
                .bind(&draft.content.html)
                .bind(&draft.content.text)
                .bind(by_user)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(id)
            }

            async fn save_mail_template(
                &self,
                id: i64,
                draft: &$crate::TemplateDraft,
                by_user: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let current: Option<(i64, String, String, String)> =
                    sqlx::query_as::<$db, (i64, String, String, String)>(
                        "SELECT t.version, v.subject, v.html, v.text FROM mail_templates t \
                         JOIN mail_template_versions v ON v.template_id = t.id AND v.version = t.version \
                         WHERE t.id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let Some((mut version, subject, html, text)) = current else {
                    return Err($crate::StoreError::NotFound);
                };
                let content = &draft.content;
                let changed = content.subject != subject || content.html != html || content.text != text;
                if changed {
                    version += 1;
                    sqlx::query::<$db>(
                        "INSERT INTO mail_template_versions (template_id, version, subject, html, text, created_by, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(id)
                    .bind(version)
                    .bind(&content.subject)
                    .bind(&content.html)
                    .bind(&content.text)
                    .bind(by_user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                sqlx::query::<$db>(
                    "UPDATE mail_templates SET name = $2, kind = $3, product_id = $4, charset = $5, version = $6, \
                     updated_at = $7, updated_by = $8 WHERE id = $1",
                )
                .bind(id)
                .bind(&draft.name)
                .bind(&draft.kind)
                .bind(draft.product_id)
                .bind(&draft.charset)
                .bind(version)
                .bind(now)
                .bind(by_user)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(version)
            }

            async fn mail_template(&self, id: i64) -> $crate::StoreResult<Option<$crate::MailTemplateRow>> {
                let sql = format!("SELECT {} FROM {} WHERE t.id = $1", $crate::TEMPLATE_COLUMNS, $crate::TEMPLATE_FROM);
                sqlx::query_as::<$db, $crate::MailTemplateRow>(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn mail_template_by_name(&self, name: &str) -> $crate::StoreResult<Option<$crate::MailTemplateRow>> {
                let sql =
                    format!("SELECT {} FROM {} WHERE t.name = $1", $crate::TEMPLATE_COLUMNS, $crate::TEMPLATE_FROM);
                sqlx::query_as::<$db, $crate::MailTemplateRow>(&sql)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn mail_templates(
                &self,
                query: &$crate::TemplateQuery,
            ) -> $crate::StoreResult<(Vec<$crate::MailTemplateRow>, i64)> {
                let filter = if query.archived { "t.archived_at IS NOT NULL" } else { "t.archived_at IS NULL" };
                let kind = "($1 IS NULL OR t.kind = $1)";
                let sql = format!(
                    "SELECT {} FROM {} WHERE {filter} AND {kind} ORDER BY t.name, t.id LIMIT $2 OFFSET $3",
                    $crate::TEMPLATE_COLUMNS,
                    $crate::TEMPLATE_FROM
                );
                let rows = sqlx::query_as::<$db, $crate::MailTemplateRow>(&sql)
                    .bind(query.kind.as_deref())
                    .bind(query.limit)
                    .bind(query.offset)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                let (total,): (i64,) = sqlx::query_as::<$db, (i64,)>(&format!(
                    "SELECT COUNT(*) FROM mail_templates t WHERE {filter} AND {kind}"
                ))
                .bind(query.kind.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok((rows, total))
            }

            async fn mail_template_versions(&self, id: i64) -> $crate::StoreResult<Vec<$crate::TemplateVersionRow>> {
                sqlx::query_as::<$db, $crate::TemplateVersionRow>(
                    "SELECT v.template_id, v.version, v.subject, v.html, v.text, v.created_by, \
                     u.display_name AS created_by_name, v.created_at FROM mail_template_versions v \
                     LEFT JOIN users u ON u.id = v.created_by WHERE v.template_id = $1 ORDER BY v.version DESC",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn mail_template_version(
                &self,
                id: i64,
                version: i64,
            ) -> $crate::StoreResult<Option<$crate::TemplateVersionRow>> {
                sqlx::query_as::<$db, $crate::TemplateVersionRow>(
                    "SELECT v.template_id, v.version, v.subject, v.html, v.text, v.created_by, \
                     u.display_name AS created_by_name, v.created_at FROM mail_template_versions v \
                     LEFT JOIN users u ON u.id = v.created_by WHERE v.template_id = $1 AND v.version = $2",
                )
                .bind(id)
                .bind(version)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn archive_mail_template(
                &self,
                id: i64,
                archived: bool,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let done =
                    sqlx::query::<$db>("UPDATE mail_templates SET archived_at = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(archived.then_some(now))
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }
        }
    };
}
