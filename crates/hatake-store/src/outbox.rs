//! The outbox ([`OutboxStore`]): every side effect — a mail now, later alerts and webhooks — is a
//! row with an idempotency key from its cause, recorded before anything is sent. Workers of any
//! process claim due rows for a while (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's writes
//! are one at a time), hand a row's content over, and record how it ended.
//!
//! A row's life: `pending` (due at `due_at`) → `claimed` (by `claimed_by` until
//! `claimed_until`; a claim that runs out before the hand-over goes to the next worker) →
//! `handed` (its content is on its way to the server: from here on it is never sent again) →
//! `sent` when the server accepted it, back to `pending` with a later `due_at` after a
//! transient refusal, or `failed` after a permanent one. A process killed between the
//! hand-over and the server's answer leaves the row `handed`: shown as sent without a
//! confirmation, never sent twice. Every attempt is kept in `outbox_attempts`.

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// A side effect to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    /// From the cause (newsletter + lead, scenario run + step, test send + time): the same cause
    /// never makes a second row.
    pub idempotency_key: String,
    /// `mail` (later `webhook`, `alert`).
    pub kind: String,
    pub lead_id: Option<i64>,
    /// The address (or URL) it goes to.
    pub recipient: String,
    /// What to send, as JSON (for a mail: `hatake_engine::mail::OutgoingMail`).
    pub payload: String,
    /// Not before this time.
    pub due_at: Millis,
    /// A marketing mail's subscription topic (`general`, `product:{id}`): it is not handed over
    /// once the lead unsubscribed from it. `None` for mail a person asked for (a test send).
    pub topic: Option<String>,
}

/// A recorded side effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub idempotency_key: String,
    pub kind: String,
    pub lead_id: Option<i64>,
    pub recipient: String,
    pub payload: String,
    /// `pending`, `claimed`, `handed`, `sent` or `failed`.
    pub status: String,
    /// Attempts finished so far (sent, refused, unconfirmed).
    pub attempts: i64,
    pub due_at: Millis,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Millis>,
    pub handed_at: Option<Millis>,
    pub sent_at: Option<Millis>,
    /// The server's last reply code (e.g. 250, 451, 550).
    pub last_code: Option<i64>,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub topic: Option<String>,
}

/// One attempt at a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxAttempt {
    pub outbox_id: i64,
    pub at: Millis,
    /// `sent`, `retry`, `failed` or `unconfirmed`.
    pub outcome: String,
    pub code: Option<i64>,
    pub detail: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxOutcome {
    /// Accepted by the server.
    Sent { code: Option<i64>, detail: Option<String> },
    /// Refused for now (a 4xx reply, a timeout, a broken connection): again at `at`.
    Retry { at: Millis, code: Option<i64>, detail: String },
    /// Refused for good (a 5xx reply, a message that cannot be built): never again.
    Failed { code: Option<i64>, detail: String },
    /// The content went out but no answer came (the connection broke): the server may have it.
    /// The row stays `handed` (never sent twice) with the reason.
    Unconfirmed { detail: String },
}

/// Rows per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub claimed: i64,
    pub handed: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// The statuses a list can be filtered by.
pub const OUTBOX_STATUSES: [&str; 6] = ["pending", "claimed", "handed", "sent", "failed", "cancelled"];

/// What [`OutboxStore::write_outbox`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxWritten {
    /// Rows handed over: their content may go out now.
    pub handed: Vec<i64>,
    /// Rows not handed over because the lead unsubscribed from their topic (now `cancelled`).
    pub cancelled: Vec<i64>,
    /// Outcomes that changed a row.
    pub finished: u64,
}

/// What runs right after an outbox commit, on the thread that committed and before the caller
/// learns of the commit: the mail sender writes the ends of the messages just handed over here,
/// so that a process killed after the commit has as little time as possible left to lose them.
pub type AfterCommit = Box<dyn FnOnce(&OutboxWritten) + Send>;

/// The condition on an `outbox` row of marketing mail (one with a topic) that must not go out:
/// its lead unsubscribed from the topic, or its address is suppressed (a hard bounce, a
/// complaint, an address entered by hand).
pub const OUTBOX_UNSUBSCRIBED: &str =
    "topic IS NOT NULL AND ((lead_id IS NOT NULL AND EXISTS (SELECT 1 FROM subscriptions s \
     WHERE s.lead_id = outbox.lead_id AND s.topic = outbox.topic AND s.status = 'unsubscribed')) \
     OR EXISTS (SELECT 1 FROM suppressions x WHERE x.email = LOWER(outbox.recipient) AND x.active))";

/// One outcome's row change, for each kind but sent (parameters in order of their numbers).
pub const OUTBOX_RETRY_SQL: &str =
    "UPDATE outbox SET status = 'pending', due_at = $1, handed_at = NULL, last_code = $2, \
     last_error = $3, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL, updated_at = $4 WHERE id = $5";
pub const OUTBOX_FAILED_SQL: &str = "UPDATE outbox SET status = 'failed', last_code = $1, last_error = $2, \
     attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL, updated_at = $3 WHERE id = $4";
pub const OUTBOX_UNCONFIRMED_SQL: &str =
    "UPDATE outbox SET last_error = $1, attempts = attempts + 1, claimed_by = NULL, \
     claimed_until = NULL, updated_at = $2 WHERE id = $3 AND status = 'handed'";
/// A sent row's change: `$1` now, `$2` the server's code, `$3` the row.
pub const OUTBOX_SENT_SQL: &str =
    "UPDATE outbox SET status = 'sent', sent_at = $1, last_code = $2, last_error = NULL, \
     attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL, updated_at = $1 WHERE id = $3";
/// The record of an attempt: row, when, outcome, code, detail.
pub const OUTBOX_ATTEMPT_SQL: &str =
    "INSERT INTO outbox_attempts (outbox_id, at, outcome, code, detail) VALUES ($1, $2, $3, $4, $5)";
/// Cancels the rows (ids `$3`… of `count` of them) claimed by `$2` whose lead left their topic
/// or whose address is suppressed, at `$1`; returns their ids.
pub fn outbox_cancel_sql(count: usize) -> String {
    let list = (0..count).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ");
    format!(
        "UPDATE outbox SET status = 'cancelled', last_error = 'unsubscribed', claimed_by = NULL, \
         claimed_until = NULL, updated_at = $1 WHERE id IN ({list}) AND status = 'claimed' \
         AND claimed_by = $2 AND {OUTBOX_UNSUBSCRIBED} RETURNING id"
    )
}

/// One row's hand-over: `$1` now, `$2` Message-ID, `$3` the row, `$4` its holder. A row whose
/// lead left its topic (or whose address is suppressed) is cancelled instead, in the same step:
/// returns the row's new status.
pub fn outbox_hand_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE outbox SET status = CASE WHEN {u} THEN 'cancelled' ELSE 'handed' END, \
         handed_at = CASE WHEN {u} THEN NULL ELSE $1 END, message_id = CASE WHEN {u} THEN NULL ELSE $2 END, \
         last_error = CASE WHEN {u} THEN 'unsubscribed' ELSE last_error END, \
         claimed_by = CASE WHEN {u} THEN NULL ELSE claimed_by END, \
         claimed_until = CASE WHEN {u} THEN NULL ELSE claimed_until END, updated_at = $1 \
         WHERE id = $3 AND status = 'claimed' AND claimed_by = $4 RETURNING status",
            u = OUTBOX_UNSUBSCRIBED
        )
    });
    &SQL
}

pub const OUTBOX_COLUMNS: &str = "id, idempotency_key, kind, lead_id, recipient, \
     (SELECT p.payload FROM outbox_payloads p WHERE p.outbox_id = outbox.id) AS payload, status, attempts, due_at, \
     claimed_by, claimed_until, handed_at, sent_at, last_code, last_error, message_id, created_at, updated_at, topic";

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Records these side effects; a key recorded before is left as it was. Returns how many
    /// rows are new.
    async fn enqueue_outbox(&self, rows: &[NewOutbox], now: Millis) -> StoreResult<u64>;
    /// Claims for `holder` until `until` up to `limit` rows of `kind` that are due at `now`:
    /// pending ones, and claimed ones whose claim ran out before their hand-over. Oldest due
    /// first.
    async fn claim_outbox(
        &self,
        kind: &str,
        holder: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>>;
    /// The row's content is about to go to the server (after this it is never sent again);
    /// `false` when the row is no longer claimed by `holder` (its claim ran out and another
    /// worker took it), in which case nothing may be sent.
    async fn hand_over_outbox(&self, id: i64, holder: &str, message_id: &str, now: Millis) -> StoreResult<bool> {
        let written = self.write_outbox(holder, &[(id, message_id.to_owned())], &[], now).await?;
        Ok(written.handed == [id])
    }
    /// Hand-overs of several rows (id, Message-ID) in one transaction; returns the ids handed
    /// over (the others are no longer claimed by `holder`).
    async fn hand_over_outbox_many(&self, holder: &str, rows: &[(i64, String)], now: Millis) -> StoreResult<Vec<i64>> {
        Ok(self.write_outbox(holder, rows, &[], now).await?.handed)
    }
    /// Records how the attempt at a handed-over (or claimed) row ended.
    async fn finish_outbox(&self, id: i64, outcome: &OutboxOutcome, now: Millis) -> StoreResult<()> {
        match self.finish_outbox_many(&[(id, outcome.clone())], now).await? {
            0 => Err(crate::StoreError::NotFound),
            _ => Ok(()),
        }
    }
    /// How several attempts ended, in one transaction; returns how many rows changed.
    async fn finish_outbox_many(&self, outcomes: &[(i64, OutboxOutcome)], now: Millis) -> StoreResult<u64> {
        Ok(self.write_outbox("", &[], outcomes, now).await?.finished)
    }
    /// Outcomes and then hand-overs, in one transaction (a sender's group commit). A row whose
    /// lead unsubscribed from its topic is cancelled instead of handed over: the check and the
    /// hand-over are one step, so no mail goes out after an unsubscribe was recorded.
    async fn write_outbox(
        &self,
        holder: &str,
        hand_overs: &[(i64, String)],
        outcomes: &[(i64, OutboxOutcome)],
        now: Millis,
    ) -> StoreResult<OutboxWritten> {
        self.write_outbox_then(holder, hand_overs, outcomes, now, None).await
    }
    /// [`OutboxStore::write_outbox`], with `then` run right after the commit (not at all when
    /// nothing was committed).
    async fn write_outbox_then(
        &self,
        holder: &str,
        hand_overs: &[(i64, String)],
        outcomes: &[(i64, OutboxOutcome)],
        now: Millis,
        then: Option<AfterCommit>,
    ) -> StoreResult<OutboxWritten>;
    /// Cancels the rows among `ids` claimed by `holder` whose lead unsubscribed from their
    /// topic (checked for a whole claim at once; the hand-over checks again); returns their ids.
    async fn cancel_unsubscribed_outbox(&self, holder: &str, ids: &[i64], now: Millis) -> StoreResult<Vec<i64>>;
    /// Puts rows `holder` claimed back to wait until their given time (a domain's limit was
    /// reached), without counting an attempt.
    async fn defer_outbox(&self, holder: &str, rows: &[(i64, Millis)], now: Millis) -> StoreResult<()>;
    /// Gives back the rows `holder` claimed and did not hand over (a worker that stops).
    async fn release_outbox(&self, holder: &str, now: Millis) -> StoreResult<u64>;
    async fn get_outbox(&self, id: i64) -> StoreResult<OutboxRow>;
    async fn outbox_by_key(&self, idempotency_key: &str) -> StoreResult<Option<OutboxRow>>;
    /// The row whose mail went out with this Message-ID (without angle brackets).
    async fn outbox_by_message_id(&self, message_id: &str) -> StoreResult<Option<OutboxRow>>;
    /// Newest first, before id `before` (keyset), of one status or all.
    async fn list_outbox(&self, status: Option<&str>, before: Option<i64>, limit: i64) -> StoreResult<Vec<OutboxRow>>;
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;
    async fn outbox_attempts(&self, id: i64) -> StoreResult<Vec<OutboxAttempt>>;
    /// When the next pending row falls due (for a worker's rest).
    async fn next_outbox_due(&self, kind: &str) -> StoreResult<Option<Millis>>;
    /// Takes up to `wanted` sends to `domain` in the minute starting at `minute`, of at most
    /// `limit` a minute for all processes together; returns how many were granted.
    async fn take_domain_quota(&self, domain: &str, minute: Millis, limit: i64, wanted: i64) -> StoreResult<i64>;
}

#[macro_export]
macro_rules! impl_outbox_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::OutboxStore for $store {
            async fn enqueue_outbox(&self, rows: &[$crate::NewOutbox], now: $crate::Millis) -> $crate::StoreResult<u64> {
                const COLUMNS: [&str; 10] = [
                    "idempotency_key",
                    "kind",
                    "lead_id",
                    "recipient",
                    "status",
                    "attempts",
                    "due_at",
                    "created_at",
                    "updated_at",
                    "topic",
                ];
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut created = 0;
                for part in rows.chunks($crate::rows_per_statement(COLUMNS.len())) {
                    let sql = format!(
                        "{} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
                        $crate::sql::insert_rows("outbox", &COLUMNS, part.len())
                    );
                    let mut query = sqlx::query_as::<$db, (i64, String)>(&sql);
                    for row in part {
                        query = query
                            .bind(&row.idempotency_key)
                            .bind(&row.kind)
                            .bind(row.lead_id)
                            .bind(&row.recipient)
                            .bind("pending")
                            .bind(0_i64)
                            .bind(row.due_at)
                            .bind(now)
                            .bind(now)
                            .bind(&row.topic);
                    }
                    let mut new: std::collections::HashMap<String, i64> =
                        query.fetch_all(&mut *tx).await.map_err(db_error)?.into_iter().map(|(id, key)| (key, id)).collect();
                    created += new.len() as u64;
                    let payloads: Vec<(i64, &str)> = part
                        .iter()
                        // A key twice in one call: the first row's content, once.
                        .filter_map(|row| new.remove(&row.idempotency_key).map(|id| (id, row.payload.as_str())))
                        .collect();
                    for payloads in payloads.chunks($crate::rows_per_statement(2)) {
                        let sql = $crate::sql::insert_rows("outbox_payloads", &["outbox_id", "payload"], payloads.len());
                        let mut query = sqlx::query::<$db>(&sql);
                        for (id, payload) in payloads {
                            query = query.bind(*id).bind(*payload);
                        }
                        query.execute(&mut *tx).await.map_err(db_error)?;
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(created)
            }

            async fn claim_outbox(
                &self,
                kind: &str,
                holder: &str,
                now: $crate::Millis,
                until: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::OutboxRow>> {
                // Due rows and run-out claims each read in the index's order (one condition
                // with OR sorted every pending row at each claim: a claim of 800 from 100,000
                // rows read them all).
                let sql = format!(
                    "UPDATE outbox SET status = 'claimed', claimed_by = $1, claimed_until = $2, updated_at = $3 \
                     WHERE id IN (SELECT id FROM ( \
                       SELECT id, due_at FROM (SELECT id, due_at FROM outbox WHERE kind = $4 AND status = 'pending' \
                         AND due_at <= $3 ORDER BY due_at, id LIMIT $5{skip}) due \
                       UNION ALL \
                       SELECT id, due_at FROM (SELECT id, due_at FROM outbox WHERE kind = $4 AND status = 'claimed' \
                         AND claimed_until < $3 ORDER BY due_at, id LIMIT $5{skip}) lapsed \
                     ) claimable ORDER BY due_at, id LIMIT $5) \
                     RETURNING {columns}",
                    skip = Self::DIALECT.skip_locked(),
                    columns = $crate::OUTBOX_COLUMNS
                );
                let mut rows = sqlx::query_as::<$db, $crate::OutboxRow>(&sql)
                    .bind(holder)
                    .bind(until)
                    .bind(now)
                    .bind(kind)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.sort_by_key(|r| (r.due_at, r.id));
                Ok(rows)
            }

            async fn write_outbox_then(
                &self,
                holder: &str,
                hand_overs: &[(i64, String)],
                outcomes: &[(i64, $crate::OutboxOutcome)],
                now: $crate::Millis,
                then: Option<$crate::AfterCommit>,
            ) -> $crate::StoreResult<$crate::OutboxWritten> {
                if hand_overs.is_empty() && outcomes.is_empty() {
                    let written = $crate::OutboxWritten::default();
                    if let Some(then) = then {
                        then(&written);
                    }
                    return Ok(written);
                }
                self.write_outbox_rows(holder, hand_overs, outcomes, now, then).await
            }

            async fn cancel_unsubscribed_outbox(
                &self,
                holder: &str,
                ids: &[i64],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<i64>> {
                let mut cancelled = Vec::new();
                for part in ids.chunks(500) {
                    let sql = $crate::outbox_cancel_sql(part.len());
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql).bind(now).bind(holder);
                    for id in part {
                        query = query.bind(*id);
                    }
                    cancelled.extend(query.fetch_all(&self.pool).await.map_err(db_error)?.into_iter().map(|(id,)| id));
                }
                Ok(cancelled)
            }

            async fn defer_outbox(
                &self,
                holder: &str,
                rows: &[(i64, $crate::Millis)],
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                for (id, due) in rows {
                    sqlx::query::<$db>(
                        "UPDATE outbox SET status = 'pending', due_at = $1, claimed_by = NULL, claimed_until = NULL, \
                         updated_at = $2 WHERE id = $3 AND status = 'claimed' AND claimed_by = $4",
                    )
                    .bind(*due)
                    .bind(now)
                    .bind(*id)
                    .bind(holder)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(())
            }

            async fn release_outbox(&self, holder: &str, now: $crate::Millis) -> $crate::StoreResult<u64> {
                let done = sqlx::query::<$db>(
                    "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, updated_at = $1 \
                     WHERE status = 'claimed' AND claimed_by = $2",
                )
                .bind(now)
                .bind(holder)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(done.rows_affected())
            }

            async fn get_outbox(&self, id: i64) -> $crate::StoreResult<$crate::OutboxRow> {
                sqlx::query_as::<$db, $crate::OutboxRow>(&format!(
                    "SELECT {} FROM outbox WHERE id = $1",
                    $crate::OUTBOX_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or($crate::StoreError::NotFound)
            }

            async fn outbox_by_key(&self, idempotency_key: &str) -> $crate::StoreResult<Option<$crate::OutboxRow>> {
                sqlx::query_as::<$db, $crate::OutboxRow>(&format!(
                    "SELECT {} FROM outbox WHERE idempotency_key = $1",
                    $crate::OUTBOX_COLUMNS
                ))
                .bind(idempotency_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn outbox_by_message_id(&self, message_id: &str) -> $crate::StoreResult<Option<$crate::OutboxRow>> {
                sqlx::query_as::<$db, $crate::OutboxRow>(&format!(
                    "SELECT {} FROM outbox WHERE message_id = $1 ORDER BY id LIMIT 1",
                    $crate::OUTBOX_COLUMNS
                ))
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_outbox(
                &self,
                status: Option<&str>,
                before: Option<i64>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::OutboxRow>> {
                sqlx::query_as::<$db, $crate::OutboxRow>(&format!(
                    "SELECT {} FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
                    $crate::OUTBOX_COLUMNS
                ))
                .bind(status)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn outbox_counts(&self) -> $crate::StoreResult<$crate::OutboxCounts> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as::<$db, (String, i64)>("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?;
                let mut counts = $crate::OutboxCounts::default();
                for (status, n) in rows {
                    match status.as_str() {
                        "pending" => counts.pending = n,
                        "claimed" => counts.claimed = n,
                        "handed" => counts.handed = n,
                        "sent" => counts.sent = n,
                        "failed" => counts.failed = n,
                        "cancelled" => counts.cancelled = n,
                        _ => {}
                    }
                }
                Ok(counts)
            }

            async fn outbox_attempts(&self, id: i64) -> $crate::StoreResult<Vec<$crate::OutboxAttempt>> {
                sqlx::query_as::<$db, $crate::OutboxAttempt>(
                    "SELECT outbox_id, at, outcome, code, detail FROM outbox_attempts WHERE outbox_id = $1 \
                     ORDER BY at, id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn take_domain_quota(
                &self,
                domain: &str,
                minute: $crate::Millis,
                limit: i64,
                wanted: i64,
            ) -> $crate::StoreResult<i64> {
                if wanted <= 0 || limit <= 0 {
                    return Ok(0);
                }
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                // Minutes long past are of no use to anyone.
                sqlx::query::<$db>("DELETE FROM mail_domain_quota WHERE domain = $1 AND minute < $2")
                    .bind(domain)
                    .bind(minute - 3_600_000)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO mail_domain_quota (domain, minute, sent) VALUES ($1, $2, 0) \
                     ON CONFLICT (domain, minute) DO NOTHING",
                )
                .bind(domain)
                .bind(minute)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                // Both right-hand sides read the count before this take.
                let granted: Option<i64> = sqlx::query_scalar::<$db, i64>(
                    "UPDATE mail_domain_quota SET \
                     last_grant = CASE WHEN sent + $3 > $4 THEN $4 - sent ELSE $3 END, \
                     sent = CASE WHEN sent + $3 > $4 THEN $4 ELSE sent + $3 END \
                     WHERE domain = $1 AND minute = $2 AND sent < $4 RETURNING last_grant",
                )
                .bind(domain)
                .bind(minute)
                .bind(wanted)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                Ok(granted.unwrap_or(0))
            }

            async fn next_outbox_due(&self, kind: &str) -> $crate::StoreResult<Option<$crate::Millis>> {
                let (due,): (Option<i64>,) = sqlx::query_as::<$db, (Option<i64>,)>(
                    "SELECT MIN(due_at) FROM outbox WHERE kind = $1 AND status = 'pending'",
                )
                .bind(kind)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(due)
            }
        }
    };
}

/// [`OutboxStore::write_outbox`] in SQL through the pool (a store whose writes have no faster
/// path): `write_outbox_rows` of the store, a few statements for the whole commit.
#[macro_export]
macro_rules! impl_outbox_write {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(crate) async fn write_outbox_rows(
                &self,
                holder: &str,
                hand_overs: &[(i64, String)],
                outcomes: &[(i64, $crate::OutboxOutcome)],
                now: $crate::Millis,
                then: Option<$crate::AfterCommit>,
            ) -> $crate::StoreResult<$crate::OutboxWritten> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut changed_rows = 0;
                // Sent mail (nearly every outcome) in a few statements for the whole commit.
                let sent: Vec<(i64, Option<i64>, Option<&str>)> = outcomes
                    .iter()
                    .filter_map(|(id, outcome)| match outcome {
                        $crate::OutboxOutcome::Sent { code, detail } => Some((*id, *code, detail.as_deref())),
                        _ => None,
                    })
                    .collect();
                for part in sent.chunks(400) {
                    let values = $crate::sql::values_rows(3, part.len(), 2);
                    let sql = format!(
                        "UPDATE outbox SET status = 'sent', sent_at = $1, last_code = v.column2, last_error = NULL, \
                         attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL, updated_at = $1 \
                         FROM (VALUES {values}) AS v WHERE outbox.id = v.column1 RETURNING outbox.id"
                    );
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql).bind(now);
                    for (id, code, detail) in part {
                        query = query.bind(*id).bind(*code).bind(*detail);
                    }
                    let changed: std::collections::HashSet<i64> =
                        query.fetch_all(&mut *tx).await.map_err(db_error)?.into_iter().map(|(id,)| id).collect();
                    let kept: Vec<_> = part.iter().filter(|(id, ..)| changed.contains(id)).collect();
                    changed_rows += kept.len() as u64;
                    if kept.is_empty() {
                        continue;
                    }
                    let sql = $crate::sql::insert_rows(
                        "outbox_attempts",
                        &["outbox_id", "at", "outcome", "code", "detail"],
                        kept.len(),
                    );
                    let mut query = sqlx::query::<$db>(&sql);
                    for (id, code, detail) in kept {
                        query = query.bind(*id).bind(now).bind("sent").bind(*code).bind(*detail);
                    }
                    query.execute(&mut *tx).await.map_err(db_error)?;
                }
                for (id, outcome) in outcomes {
                    let id = *id;
                    let (name, code, detail) = match outcome {
                        $crate::OutboxOutcome::Sent { .. } => continue,
                        $crate::OutboxOutcome::Retry { code, detail, .. } => ("retry", *code, Some(detail.clone())),
                        $crate::OutboxOutcome::Failed { code, detail } => ("failed", *code, Some(detail.clone())),
                        $crate::OutboxOutcome::Unconfirmed { detail } => ("unconfirmed", None, Some(detail.clone())),
                    };
                    let changed = match outcome {
                        $crate::OutboxOutcome::Sent { .. } => continue,
                        $crate::OutboxOutcome::Retry { at, .. } => sqlx::query::<$db>($crate::OUTBOX_RETRY_SQL)
                        .bind(*at)
                        .bind(code)
                        .bind(detail.clone())
                        .bind(now)
                        .bind(id),
                        $crate::OutboxOutcome::Failed { .. } => sqlx::query::<$db>($crate::OUTBOX_FAILED_SQL)
                        .bind(code)
                        .bind(detail.clone())
                        .bind(now)
                        .bind(id),
                        $crate::OutboxOutcome::Unconfirmed { detail } => sqlx::query::<$db>($crate::OUTBOX_UNCONFIRMED_SQL)
                        .bind(detail.clone())
                        .bind(now)
                        .bind(id),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    if changed.rows_affected() == 0 {
                        continue;
                    }
                    changed_rows += changed.rows_affected();
                    sqlx::query::<$db>($crate::OUTBOX_ATTEMPT_SQL)
                    .bind(id)
                    .bind(now)
                    .bind(name)
                    .bind(code)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                let mut handed = Vec::with_capacity(hand_overs.len());
                let mut cancelled = Vec::new();
                for part in hand_overs.chunks(400) {
                    // A row whose lead left the mail's topic is cancelled, not handed over.
                    let sql = $crate::outbox_cancel_sql(part.len());
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql).bind(now).bind(holder);
                    for (id, _) in part {
                        query = query.bind(*id);
                    }
                    let refused: Vec<i64> =
                        query.fetch_all(&mut *tx).await.map_err(db_error)?.into_iter().map(|(id,)| id).collect();
                    let rest: Vec<&(i64, String)> = part.iter().filter(|(id, _)| !refused.contains(id)).collect();
                    cancelled.extend(refused);
                    if rest.is_empty() {
                        continue;
                    }
                    let values = $crate::sql::values_rows(2, rest.len(), 3);
                    let sql = format!(
                        "UPDATE outbox SET status = 'handed', handed_at = $1, message_id = v.column2, updated_at = $1 \
                         FROM (VALUES {values}) AS v WHERE outbox.id = v.column1 AND outbox.status = 'claimed' \
                         AND outbox.claimed_by = $2 RETURNING outbox.id"
                    );
                    let mut query = sqlx::query_as::<$db, (i64,)>(&sql).bind(now).bind(holder);
                    for (id, message_id) in rest {
                        query = query.bind(*id).bind(message_id);
                    }
                    handed.extend(query.fetch_all(&mut *tx).await.map_err(db_error)?.into_iter().map(|(id,)| id));
                }
                tx.commit().await.map_err(db_error)?;
                let written = $crate::OutboxWritten { handed, cancelled, finished: changed_rows };
                if let Some(then) = then {
                    then(&written);
                }
                Ok(written)
            }

        }
    };
}
