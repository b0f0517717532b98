//! Newsletters ([`NewsletterStore`]): a template sent to a segment's members subscribed to the
//! template's topic, now or at a time, optionally as an A/B test on a sample; each recipient is
//! a row (variant, when recorded in the outbox, first open and click, bounce, complaint) so a
//! send's figures are counts, and a lead's marketing mail in the last days can be capped. The
//! suppression list (hard bounces, soft bounces past a limit, complaints, addresses entered by
//! hand) is never mailed. The SQL is instantiated by each backend with
//! [`impl_newsletter_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// A newsletter as it is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewsletterDraft {
    pub name: String,
    pub template_id: i64,
    /// The segment it goes to (`None`: everyone subscribed to the topic).
    pub segment_id: Option<i64>,
    /// The subscription topic (from the template's product).
    pub topic: String,
    /// An A/B test: the other template, or the same template with another subject.
    pub variant_template_id: Option<i64>,
    pub variant_subject: Option<String>,
    /// The sample's share in percent (0: no test).
    pub sample_percent: i64,
    /// `opens` or `clicks`.
    pub ab_metric: String,
    pub ab_wait_hours: i64,
    /// At most this many mails an hour (`None`: as fast as the sender goes).
    pub per_hour: Option<i64>,
}

/// A stored newsletter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct NewsletterRow {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    pub template_name: Option<String>,
    pub segment_id: Option<i64>,
    pub segment_name: Option<String>,
    pub topic: String,
    pub variant_template_id: Option<i64>,
    pub variant_subject: Option<String>,
    pub sample_percent: i64,
    pub ab_metric: String,
    pub ab_wait_hours: i64,
    pub per_hour: Option<i64>,
    /// `draft`, `scheduled`, `preparing` (choosing recipients), `sending`, `testing` (the A/B
    /// sample is out, waiting), `sent`, `cancelled`.
    pub status: String,
    pub scheduled_at: Option<Millis>,
    pub started_at: Option<Millis>,
    pub decide_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub winner: Option<String>,
    /// The base of the mail's links, from the page that scheduled it.
    pub base_url: String,
    pub recipients: i64,
    /// How far the choice of recipients got (a lead id).
    pub cursor: i64,
    /// Recipients whose mail is in the outbox.
    pub queued: i64,
    /// Why it stopped, when it did on its own.
    pub note: Option<String>,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl NewsletterRow {
    pub fn is_ab(&self) -> bool {
        self.sample_percent > 0 && (self.variant_template_id.is_some() || self.variant_subject.is_some())
    }
}

/// One variant's figures (`a`, `b`, `rest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VariantStats {
    pub variant: String,
    pub recipients: i64,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub hard_bounces: i64,
    pub soft_bounces: i64,
    pub opened: i64,
    pub clicked: i64,
    pub complained: i64,
    pub unsubscribed: i64,
}

impl VariantStats {
    pub fn add(&mut self, other: &VariantStats) {
        self.recipients += other.recipients;
        self.queued += other.queued;
        self.sent += other.sent;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.hard_bounces += other.hard_bounces;
        self.soft_bounces += other.soft_bounces;
        self.opened += other.opened;
        self.clicked += other.clicked;
        self.complained += other.complained;
        self.unsubscribed += other.unsubscribed;
    }

    /// Accepted by the receiving servers (sent, less what bounced).
    pub fn delivered(&self) -> i64 {
        (self.sent - self.hard_bounces - self.soft_bounces).max(0)
    }
}

/// A newsletter a lead was sent, with what they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadNewsletterRow {
    pub newsletter_id: i64,
    pub name: String,
    pub variant: String,
    pub queued_at: Option<Millis>,
    pub opened_at: Option<Millis>,
    pub clicked_at: Option<Millis>,
    pub bounce: Option<String>,
    pub complained_at: Option<Millis>,
    /// The outbox status of the mail (`sent`, `pending`, `cancelled`, …).
    pub status: Option<String>,
}

/// A suppressed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SuppressionRow {
    pub email: String,
    /// `hard_bounce`, `soft_bounce`, `complaint`, `manual`.
    pub reason: String,
    pub detail: Option<String>,
    pub soft_bounces: i64,
    /// Suppressed now (a soft bounce counts until the limit).
    pub active: bool,
    pub at: Millis,
}

/// The columns of [`NewsletterRow`] from `newsletters n`.
pub const NEWSLETTER_COLUMNS: &str = "n.id, n.name, n.template_id, t.name AS template_name, n.segment_id, \
     g.name AS segment_name, n.topic, n.variant_template_id, n.variant_subject, n.sample_percent, n.ab_metric, \
     n.ab_wait_hours, n.per_hour, n.status, n.scheduled_at, n.started_at, n.decide_at, n.finished_at, n.winner, \
     n.base_url, n.recipients, n.cursor, n.queued, n.note, n.created_by, u.display_name AS created_by_name, n.created_at, n.updated_at";

pub const NEWSLETTER_FROM: &str = "newsletters n LEFT JOIN mail_templates t ON t.id = n.template_id \
     LEFT JOIN segments g ON g.id = n.segment_id LEFT JOIN users u ON u.id = n.created_by";

/// Which leads may get a newsletter now: in the segment (when it has one), with an address,
/// subscribed to the topic, not suppressed, not a recipient yet, and under the frequency cap.
/// Binds: $1 newsletter, $2 topic, $3 after (lead id), $4 cap since, $5 cap count, $6 limit;
/// `segment` is the segment's id written in.
pub fn audience_sql(segment: Option<i64>, capped: bool, select: &str, limit: bool) -> String {
    let join = segment
        .map_or_else(String::new, |id| format!(" JOIN segment_members m ON m.lead_id = l.id AND m.segment_id = {id}"));
    let cap = if capped {
        " AND (SELECT COUNT(*) FROM newsletter_recipients c WHERE c.lead_id = l.id AND c.queued_at >= $4) < $5"
    } else {
        " AND $4 = $4 AND $5 = $5"
    };
    let tail = if limit { " ORDER BY l.id LIMIT $6" } else { " AND $6 = $6" };
    format!(
        "SELECT {select} FROM leads l{join} WHERE l.email IS NOT NULL AND l.id > $3 \
         AND EXISTS (SELECT 1 FROM subscriptions u WHERE u.lead_id = l.id AND u.topic = $2 AND u.status = 'subscribed') \
         AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = LOWER(l.email) AND s.active) \
         AND NOT EXISTS (SELECT 1 FROM newsletter_recipients r WHERE r.newsletter_id = $1 AND r.lead_id = l.id){cap}{tail}"
    )
}

#[async_trait]
pub trait NewsletterStore: Send + Sync + 'static {
    async fn create_newsletter(&self, draft: &NewsletterDraft, by_user: Option<i64>, now: Millis) -> StoreResult<i64>;
    /// Changes a draft (or a scheduled one not yet started); `false` when it has started.
    async fn update_newsletter(&self, id: i64, draft: &NewsletterDraft, now: Millis) -> StoreResult<bool>;
    async fn newsletter(&self, id: i64) -> StoreResult<Option<NewsletterRow>>;
    /// Newest first, with the total.
    async fn newsletters(&self, offset: i64, limit: i64) -> StoreResult<(Vec<NewsletterRow>, i64)>;
    /// Schedules a draft for `at` with the links' base; `false` when it is not a draft.
    async fn schedule_newsletter(&self, id: i64, at: Millis, base_url: &str, now: Millis) -> StoreResult<bool>;
    /// Cancels one not finished (or recorded in full with mail still waiting): no more mail is
    /// recorded for it, and what waits in the outbox is cancelled. Returns the outbox rows
    /// cancelled, or `None` when it had finished.
    async fn cancel_newsletter(&self, id: i64, now: Millis) -> StoreResult<Option<u64>>;
    /// Newsletters with work due at `now`: scheduled and due, preparing, sending, or testing
    /// with the decision due.
    async fn due_newsletters(&self, now: Millis) -> StoreResult<Vec<NewsletterRow>>;
    /// Stops a newsletter that cannot go on, with the reason shown on its page.
    async fn stop_newsletter(&self, id: i64, note: &str, now: Millis) -> StoreResult<()>;
    /// Moves a newsletter on (status, and the times and winner given).
    async fn set_newsletter_state(
        &self,
        id: i64,
        status: &str,
        decide_at: Option<Millis>,
        winner: Option<&str>,
        now: Millis,
    ) -> StoreResult<()>;
    /// How many would get it now (see [`audience_sql`]); `cap` is (since, at most).
    async fn count_audience(&self, newsletter: &NewsletterRow, cap: Option<(Millis, i64)>) -> StoreResult<i64>;
    /// Chooses the next recipients after the newsletter's cursor: each gets a variant from
    /// `variant_of(lead_id)`; returns how many were added (0: everyone is chosen).
    async fn choose_recipients(
        &self,
        newsletter: &NewsletterRow,
        cap: Option<(Millis, i64)>,
        limit: i64,
        variant_of: &(dyn Fn(i64) -> &'static str + Sync),
        now: Millis,
    ) -> StoreResult<u64>;
    /// Recipients of these variants not yet in the outbox, by lead id.
    async fn pending_recipients(&self, id: i64, variants: &[&str], limit: i64) -> StoreResult<Vec<(i64, String)>>;
    /// Records the recipients' mails in the outbox (rows of `outbox`), in one transaction.
    async fn queue_recipients(
        &self,
        id: i64,
        leads: &[i64],
        outbox: &[crate::NewOutbox],
        now: Millis,
    ) -> StoreResult<()>;
    /// The figures of a send, per variant.
    async fn newsletter_stats(&self, id: i64) -> StoreResult<Vec<VariantStats>>;
    /// Unique clicks per link, most first.
    async fn newsletter_links(&self, id: i64) -> StoreResult<Vec<(String, i64)>>;
    /// A recipient opened (first time kept).
    async fn newsletter_opened(&self, id: i64, lead_id: i64, at: Millis) -> StoreResult<()>;
    /// A recipient clicked `url` (first time per link kept; counts as an open too).
    async fn newsletter_clicked(&self, id: i64, lead_id: i64, url: &str, at: Millis) -> StoreResult<()>;

    /// Suppresses an address (or counts a soft bounce: suppressed once `soft_limit` are
    /// reached). Returns whether the address is suppressed now.
    async fn suppress(
        &self,
        email: &str,
        reason: &str,
        detail: Option<&str>,
        soft_limit: i64,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn unsuppress(&self, email: &str) -> StoreResult<bool>;
    /// Suppressed addresses, newest first (soft bounces below the limit are counted, not listed).
    async fn suppressions(&self, offset: i64, limit: i64) -> StoreResult<(Vec<SuppressionRow>, i64)>;
    /// The newsletters a lead was sent (recorded in the outbox), newest first.
    async fn lead_newsletters(&self, lead_id: i64, limit: i64) -> StoreResult<Vec<LeadNewsletterRow>>;
    /// The segments a lead is a member of now: (id, name), by name.
    async fn lead_segments(&self, lead_id: i64) -> StoreResult<Vec<(i64, String)>>;
    /// A bounce or complaint of the newsletter mail with this outbox key.
    async fn mark_recipient(
        &self,
        outbox_key: &str,
        bounce: Option<&str>,
        complained: bool,
        at: Millis,
    ) -> StoreResult<()>;
}

#[macro_export]
macro_rules! impl_newsletter_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::NewsletterStore for $store {
            async fn create_newsletter(
                &self,
                d: &$crate::NewsletterDraft,
                by_user: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO newsletters (name, template_id, segment_id, topic, variant_template_id, variant_subject, \
                     sample_percent, ab_metric, ab_wait_hours, per_hour, status, base_url, recipients, cursor, \
                     created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', '', \
                     0, 0, $11, $12, $12) RETURNING id",
                )
                .bind(&d.name)
                .bind(d.template_id)
                .bind(d.segment_id)
                .bind(&d.topic)
                .bind(d.variant_template_id)
                .bind(&d.variant_subject)
                .bind(d.sample_percent)
                .bind(&d.ab_metric)
                .bind(d.ab_wait_hours)
                .bind(d.per_hour)
                .bind(by_user)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn update_newsletter(
                &self,
                id: i64,
                d: &$crate::NewsletterDraft,
                now: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE newsletters SET name = $2, template_id = $3, segment_id = $4, topic = $5, \
                     variant_template_id = $6, variant_subject = $7, sample_percent = $8, ab_metric = $9, \
                     ab_wait_hours = $10, per_hour = $11, updated_at = $12 WHERE id = $1 AND status IN ('draft', 'scheduled')",
                )
                .bind(id)
                .bind(&d.name)
                .bind(d.template_id)
                .bind(d.segment_id)
                .bind(&d.topic)
                .bind(d.variant_template_id)
                .bind(&d.variant_subject)
                .bind(d.sample_percent)
                .bind(&d.ab_metric)
                .bind(d.ab_wait_hours)
                .bind(d.per_hour)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn newsletter(&self, id: i64) -> $crate::StoreResult<Option<$crate::NewsletterRow>> {
                let sql = format!("SELECT {} FROM {} WHERE n.id = $1", $crate::NEWSLETTER_COLUMNS, $crate::NEWSLETTER_FROM);
                sqlx::query_as::<$db, $crate::NewsletterRow>(&sql).bind(id).fetch_optional(&self.pool).await.map_err(db_error)
            }

            async fn newsletters(
                &self,
                offset: i64,
                limit: i64,
            ) -> $crate::StoreResult<(Vec<$crate::NewsletterRow>, i64)> {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY COALESCE(n.started_at, n.scheduled_at, n.created_at) DESC, n.id DESC \
                     LIMIT $1 OFFSET $2",
                    $crate::NEWSLETTER_COLUMNS,
                    $crate::NEWSLETTER_FROM
                );
                let rows = sqlx::query_as::<$db, $crate::NewsletterRow>(&sql)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                let total = sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM newsletters")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok((rows, total))
            }

            async fn schedule_newsletter(
                &self,
                id: i64,
                at: $crate::Millis,
                base_url: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE newsletters SET status = 'scheduled', scheduled_at = $2, base_url = $3, updated_at = $4 \
                     WHERE id = $1 AND status IN ('draft', 'scheduled')",
                )
                .bind(id)
                .bind(at)
                .bind(base_url)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn cancel_newsletter(&self, id: i64, now: $crate::Millis) -> $crate::StoreResult<Option<u64>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                // A send recorded in full can still be stopped while its mail waits (a throttled one).
                let done = sqlx::query::<$db>(
                    "UPDATE newsletters SET status = 'cancelled', finished_at = $2, updated_at = $2 \
                     WHERE id = $1 AND status <> 'cancelled' AND (status <> 'sent' OR EXISTS (SELECT 1 FROM outbox o \
                     JOIN newsletter_recipients r ON r.outbox_key = o.idempotency_key \
                     WHERE r.newsletter_id = $1 AND o.status = 'pending'))",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                let cancelled = sqlx::query::<$db>(
                    "UPDATE outbox SET status = 'cancelled', updated_at = $2 WHERE status = 'pending' AND idempotency_key IN \
                     (SELECT outbox_key FROM newsletter_recipients WHERE newsletter_id = $1 AND queued_at IS NOT NULL)",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
                tx.commit().await.map_err(db_error)?;
                Ok(Some(cancelled))
            }

            async fn due_newsletters(&self, now: $crate::Millis) -> $crate::StoreResult<Vec<$crate::NewsletterRow>> {
                let sql = format!(
                    "SELECT {} FROM {} WHERE (n.status = 'scheduled' AND n.scheduled_at <= $1) \
                     OR n.status IN ('preparing', 'sending') OR (n.status = 'testing' AND n.decide_at <= $1) \
                     ORDER BY n.id",
                    $crate::NEWSLETTER_COLUMNS,
                    $crate::NEWSLETTER_FROM
                );
                sqlx::query_as::<$db, $crate::NewsletterRow>(&sql).bind(now).fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn stop_newsletter(&self, id: i64, note: &str, now: $crate::Millis) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE newsletters SET status = 'cancelled', note = $2, finished_at = $3, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(note)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn set_newsletter_state(
                &self,
                id: i64,
                status: &str,
                decide_at: Option<$crate::Millis>,
                winner: Option<&str>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE newsletters SET status = $2, decide_at = COALESCE($3, decide_at), \
                     winner = COALESCE($4, winner), \
                     started_at = CASE WHEN $2 = 'preparing' THEN $5 ELSE started_at END, \
                     finished_at = CASE WHEN $2 = 'sent' THEN $5 ELSE finished_at END, updated_at = $5 \
                     WHERE id = $1 AND status <> 'cancelled'",
                )
                .bind(id)
                .bind(status)
                .bind(decide_at)
                .bind(winner)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn count_audience(
                &self,
                newsletter: &$crate::NewsletterRow,
                cap: Option<($crate::Millis, i64)>,
            ) -> $crate::StoreResult<i64> {
                let sql = $crate::audience_sql(newsletter.segment_id, cap.is_some(), "COUNT(*)", false);
                let (since, most) = cap.unwrap_or((0, 0));
                sqlx::query_scalar::<$db, i64>(&sql)
                    .bind(newsletter.id)
                    .bind(&newsletter.topic)
                    .bind(0_i64)
                    .bind(since)
                    .bind(most)
                    .bind(0_i64)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn choose_recipients(
                &self,
                newsletter: &$crate::NewsletterRow,
                cap: Option<($crate::Millis, i64)>,
                limit: i64,
                variant_of: &(dyn Fn(i64) -> &'static str + Sync),
                now: $crate::Millis,
            ) -> $crate::StoreResult<u64> {
                let sql = $crate::audience_sql(newsletter.segment_id, cap.is_some(), "l.id", true);
                let (since, most) = cap.unwrap_or((0, 0));
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let ids: Vec<i64> = sqlx::query_scalar::<$db, i64>(&sql)
                    .bind(newsletter.id)
                    .bind(&newsletter.topic)
                    .bind(newsletter.cursor)
                    .bind(since)
                    .bind(most)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for part in ids.chunks($crate::rows_per_statement(4)) {
                    let mut values = Vec::with_capacity(part.len());
                    for (i, _) in part.iter().enumerate() {
                        let b = i * 4;
                        values.push(format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
                    }
                    let sql = format!(
                        "INSERT INTO newsletter_recipients (newsletter_id, lead_id, variant, outbox_key) VALUES {} \
                         ON CONFLICT (newsletter_id, lead_id) DO NOTHING",
                        values.join(", ")
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for lead in part {
                        query = query
                            .bind(newsletter.id)
                            .bind(*lead)
                            .bind(variant_of(*lead))
                            .bind(format!("newsletter:{}:lead:{lead}", newsletter.id));
                    }
                    query.execute(&mut *tx).await.map_err(db_error)?;
                }
                let added = ids.len() as u64;
                if let Some(last) = ids.last() {
                    sqlx::query::<$db>(
                        "UPDATE newsletters SET cursor = $2, recipients = recipients + $3, updated_at = $4 WHERE id = $1",
                    )
                    .bind(newsletter.id)
                    .bind(*last)
                    .bind(i64::try_from(added).unwrap_or(0))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(added)
            }

            async fn pending_recipients(
                &self,
                id: i64,
                variants: &[&str],
                limit: i64,
            ) -> $crate::StoreResult<Vec<(i64, String)>> {
                if variants.is_empty() {
                    return Ok(Vec::new());
                }
                let marks: Vec<String> = (0..variants.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = format!(
                    "SELECT lead_id, variant FROM newsletter_recipients WHERE newsletter_id = $1 AND queued_at IS NULL \
                     AND variant IN ({}) ORDER BY lead_id LIMIT $2",
                    marks.join(", ")
                );
                let mut query = sqlx::query_as::<$db, (i64, String)>(&sql).bind(id).bind(limit);
                for variant in variants {
                    query = query.bind(*variant);
                }
                query.fetch_all(&self.pool).await.map_err(db_error)
            }

            async fn queue_recipients(
                &self,
                id: i64,
                leads: &[i64],
                outbox: &[$crate::NewOutbox],
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                use $crate::OutboxStore as _;
                // The outbox keeps each key once: recording again after a crash changes nothing.
                self.enqueue_outbox(outbox, now).await?;
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for part in leads.chunks(500) {
                    let list: Vec<String> = part.iter().map(i64::to_string).collect();
                    let marked = sqlx::query::<$db>(&format!(
                        "UPDATE newsletter_recipients SET queued_at = $2 WHERE newsletter_id = $1 AND queued_at IS NULL \
                         AND lead_id IN ({})",
                        list.join(",")
                    ))
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    sqlx::query::<$db>("UPDATE newsletters SET queued = queued + $2 WHERE id = $1")
                        .bind(id)
                        .bind(i64::try_from(marked).unwrap_or(0))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(())
            }

            async fn newsletter_stats(&self, id: i64) -> $crate::StoreResult<Vec<$crate::VariantStats>> {
                #[derive(sqlx::FromRow)]
                struct Group {
                    variant: String,
                    status: Option<String>,
                    recipients: i64,
                    queued: i64,
                    opened: i64,
                    clicked: i64,
                    hard: i64,
                    soft: i64,
                    complained: i64,
                }
                let groups = sqlx::query_as::<$db, Group>(
                    "SELECT r.variant, o.status, COUNT(*) AS recipients, COUNT(r.queued_at) AS queued, \
                     COUNT(r.opened_at) AS opened, COUNT(r.clicked_at) AS clicked, \
                     COUNT(CASE WHEN r.bounce = 'hard' THEN 1 END) AS hard, \
                     COUNT(CASE WHEN r.bounce = 'soft' THEN 1 END) AS soft, COUNT(r.complained_at) AS complained \
                     FROM newsletter_recipients r LEFT JOIN outbox o ON o.idempotency_key = r.outbox_key \
                     WHERE r.newsletter_id = $1 GROUP BY r.variant, o.status",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let unsubscribed: Vec<(String, i64)> = sqlx::query_as::<$db, (String, i64)>(
                    "SELECT r.variant, COUNT(DISTINCT r.lead_id) FROM newsletter_recipients r \
                     JOIN newsletters n ON n.id = r.newsletter_id \
                     JOIN subscription_history h ON h.lead_id = r.lead_id AND (h.topic = n.topic OR h.topic = 'general') \
                     AND h.status = 'unsubscribed' AND h.at >= r.queued_at AND h.at < r.queued_at + 604800000 \
                     WHERE r.newsletter_id = $1 AND r.queued_at IS NOT NULL GROUP BY r.variant",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let mut stats: Vec<$crate::VariantStats> = Vec::new();
                for g in groups {
                    let at = match stats.iter().position(|s| s.variant == g.variant) {
                        Some(at) => at,
                        None => {
                            stats.push($crate::VariantStats { variant: g.variant.clone(), ..Default::default() });
                            stats.len() - 1
                        }
                    };
                    let s = &mut stats[at];
                    s.recipients += g.recipients;
                    s.queued += g.queued;
                    match g.status.as_deref() {
                        Some("sent" | "handed") => s.sent += g.recipients,
                        Some("failed") => s.failed += g.recipients,
                        Some("cancelled") => s.cancelled += g.recipients,
                        _ => {}
                    }
                    s.opened += g.opened;
                    s.clicked += g.clicked;
                    s.hard_bounces += g.hard;
                    s.soft_bounces += g.soft;
                    s.complained += g.complained;
                }
                for (variant, count) in unsubscribed {
                    if let Some(s) = stats.iter_mut().find(|s| s.variant == variant) {
                        s.unsubscribed = count;
                    }
                }
                stats.sort_by(|a, b| a.variant.cmp(&b.variant));
                Ok(stats)
            }

            async fn newsletter_links(&self, id: i64) -> $crate::StoreResult<Vec<(String, i64)>> {
                sqlx::query_as::<$db, (String, i64)>(
                    "SELECT url, COUNT(*) AS n FROM newsletter_clicks WHERE newsletter_id = $1 GROUP BY url \
                     ORDER BY n DESC, url LIMIT 100",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn newsletter_opened(&self, id: i64, lead_id: i64, at: $crate::Millis) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE newsletter_recipients SET opened_at = $3 WHERE newsletter_id = $1 AND lead_id = $2 \
                     AND opened_at IS NULL",
                )
                .bind(id)
                .bind(lead_id)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn newsletter_clicked(
                &self,
                id: i64,
                lead_id: i64,
                url: &str,
                at: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let done = sqlx::query::<$db>(
                    "UPDATE newsletter_recipients SET clicked_at = COALESCE(clicked_at, $3), \
                     opened_at = COALESCE(opened_at, $3) WHERE newsletter_id = $1 AND lead_id = $2",
                )
                .bind(id)
                .bind(lead_id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if done.rows_affected() > 0 {
                    sqlx::query::<$db>(
                        "INSERT INTO newsletter_clicks (newsletter_id, url, lead_id, at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (newsletter_id, url, lead_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(url)
                    .bind(lead_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(())
            }

            async fn suppress(
                &self,
                email: &str,
                reason: &str,
                detail: Option<&str>,
                soft_limit: i64,
                at: $crate::Millis,
            ) -> $crate::StoreResult<bool> {
                let email = email.trim().to_lowercase();
                let soft = reason == "soft_bounce";
                let active: bool = sqlx::query_scalar::<$db, bool>(
                    "INSERT INTO suppressions (email, reason, detail, soft_bounces, active, at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO UPDATE SET \
                     soft_bounces = suppressions.soft_bounces + excluded.soft_bounces, \
                     reason = CASE WHEN suppressions.active AND excluded.reason = 'soft_bounce' THEN suppressions.reason \
                     ELSE excluded.reason END, \
                     detail = COALESCE(excluded.detail, suppressions.detail), \
                     active = suppressions.active OR excluded.active \
                     OR suppressions.soft_bounces + excluded.soft_bounces >= $7, at = excluded.at RETURNING active",
                )
                .bind(&email)
                .bind(reason)
                .bind(detail)
                .bind(i64::from(soft))
                .bind(!soft || soft_limit <= 1)
                .bind(at)
                .bind(soft_limit)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(active)
            }

            async fn unsuppress(&self, email: &str) -> $crate::StoreResult<bool> {
                let done = sqlx::query::<$db>("DELETE FROM suppressions WHERE email = $1")
                    .bind(email.trim().to_lowercase())
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn suppressions(
                &self,
                offset: i64,
                limit: i64,
            ) -> $crate::StoreResult<(Vec<$crate::SuppressionRow>, i64)> {
                let rows = sqlx::query_as::<$db, $crate::SuppressionRow>(
                    "SELECT email, reason, detail, soft_bounces, active, at FROM suppressions WHERE active \
                     ORDER BY at DESC, email LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let total = sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM suppressions WHERE active")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok((rows, total))
            }

            async fn lead_newsletters(
                &self,
                lead_id: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::LeadNewsletterRow>> {
                sqlx::query_as::<$db, $crate::LeadNewsletterRow>(
                    "SELECT r.newsletter_id, n.name, r.variant, r.queued_at, r.opened_at, r.clicked_at, r.bounce, \
                     r.complained_at, o.status FROM newsletter_recipients r JOIN newsletters n ON n.id = r.newsletter_id \
                     LEFT JOIN outbox o ON o.idempotency_key = r.outbox_key \
                     WHERE r.lead_id = $1 AND r.queued_at IS NOT NULL ORDER BY r.queued_at DESC LIMIT $2",
                )
                .bind(lead_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn lead_segments(&self, lead_id: i64) -> $crate::StoreResult<Vec<(i64, String)>> {
                sqlx::query_as::<$db, (i64, String)>(
                    "SELECT g.id, g.name FROM segment_members m JOIN segments g ON g.id = m.segment_id \
                     WHERE m.lead_id = $1 AND g.archived_at IS NULL ORDER BY g.name",
                )
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn mark_recipient(
                &self,
                outbox_key: &str,
                bounce: Option<&str>,
                complained: bool,
                at: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "UPDATE newsletter_recipients SET bounce = CASE WHEN bounce = 'hard' THEN bounce ELSE COALESCE($2, bounce) END, \
                     complained_at = CASE WHEN $3 THEN COALESCE(complained_at, $4) ELSE complained_at END \
                     WHERE outbox_key = $1",
                )
                .bind(outbox_key)
                .bind(bounce)
                .bind(complained)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }
        }
    };
}
