//! Meeting booking ([`BookingStore`]): the reps of each product, their weekly working hours, and
//! the meetings booked with them. [`BookingStore::book_meeting`] never lets two booked meetings
//! of one rep overlap, however many bookings race. The SQL is instantiated by each backend with
//! [`impl_booking_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// A meeting to book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeeting {
    pub user_id: i64,
    pub lead_id: Option<i64>,
    pub product_id: Option<i64>,
    pub form_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub starts_at: Millis,
    pub ends_at: Millis,
}

/// A meeting, with the names a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MeetingRow {
    pub id: i64,
    pub user_id: i64,
    pub lead_id: Option<i64>,
    pub product_id: Option<i64>,
    pub form_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// `booked` or `cancelled`.
    pub status: String,
    pub created_at: Millis,
    pub cancelled_at: Option<Millis>,
    pub rep_name: String,
    pub lead_name: Option<String>,
    pub company_name: Option<String>,
    pub product_name: Option<String>,
}

/// A user's booking settings: the products they take meetings for and their hours (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepSettings {
    pub user_id: i64,
    pub product_ids: Vec<i64>,
    pub working_hours: Option<String>,
}

#[async_trait]
pub trait BookingStore: Send + Sync + 'static {
    /// Replaces the products a user takes meetings for.
    async fn set_rep_products(&self, user_id: i64, product_ids: &[i64]) -> StoreResult<()>;
    async fn set_working_hours(&self, user_id: i64, working_hours: &str, now: Millis) -> StoreResult<()>;
    /// Every user's booking settings (users without any are left out).
    async fn rep_settings(&self) -> StoreResult<Vec<RepSettings>>;
    /// The active users who take meetings for a product, with their hours (JSON), by id.
    async fn product_reps(&self, product_id: i64) -> StoreResult<Vec<(i64, String)>>;
    /// Booked meetings of these users that overlap `[from, to)`.
    async fn busy_meetings(
        &self,
        user_ids: &[i64],
        from: Millis,
        to: Millis,
    ) -> StoreResult<Vec<(i64, Millis, Millis)>>;
    /// Books a meeting unless the rep has a booked meeting overlapping it:
    /// [`crate::StoreError::Conflict`] (`slot`) then, and nothing is written.
    async fn book_meeting(&self, meeting: &NewMeeting, now: Millis) -> StoreResult<MeetingRow>;
    async fn get_meeting(&self, id: i64) -> StoreResult<MeetingRow>;
    /// Meetings ending after `from`, soonest first, of one rep or all.
    async fn list_meetings(&self, user_id: Option<i64>, from: Millis, limit: i64) -> StoreResult<Vec<MeetingRow>>;
    /// A lead's meetings, newest first.
    async fn lead_meetings(&self, lead_id: i64) -> StoreResult<Vec<MeetingRow>>;
    /// The meetings booked for a form submission (its lead may not be known yet).
    async fn submission_meetings(&self, submission_id: i64) -> StoreResult<Vec<MeetingRow>>;
    /// Gives the meetings of a submission its lead, once the submission became one.
    async fn link_submission_meetings(&self, submission_id: i64, lead_id: i64) -> StoreResult<()>;
    /// [`crate::StoreError::NotFound`] unless the meeting is booked.
    async fn cancel_meeting(&self, id: i64, now: Millis) -> StoreResult<()>;
    /// How many booked meetings each of these users has from `from` on.
    async fn upcoming_meeting_counts(&self, user_ids: &[i64], from: Millis) -> StoreResult<Vec<(i64, i64)>>;
}

/// The `SELECT … FROM meetings m` of a [`MeetingRow`], with its names.
pub const MEETING_SELECT: &str = "SELECT m.id, m.user_id, m.lead_id, m.product_id, m.form_id, m.submission_id, \
     m.starts_at, m.ends_at, m.status, m.created_at, m.cancelled_at, u.display_name AS rep_name, \
     CASE WHEN l.id IS NULL THEN NULL ELSE TRIM(COALESCE(l.family_name, '') || ' ' || COALESCE(l.given_name, '')) END \
     AS lead_name, COALESCE(a.name, l.company_name) AS company_name, p.name AS product_name \
     FROM meetings m JOIN users u ON u.id = m.user_id LEFT JOIN leads l ON l.id = m.lead_id \
     LEFT JOIN accounts a ON a.id = l.account_id LEFT JOIN products p ON p.id = m.product_id";

#[macro_export]
macro_rules! impl_booking_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Meetings matching `clause` (binding `$1` to `id`), in the clause's order.
            async fn meetings_where(&self, clause: &str, id: i64) -> $crate::StoreResult<Vec<$crate::MeetingRow>> {
                sqlx::query_as::<$db, $crate::MeetingRow>(&format!("{} WHERE {clause}", $crate::MEETING_SELECT))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }
        }

        #[async_trait::async_trait]
        impl $crate::BookingStore for $store {
            async fn set_rep_products(&self, user_id: i64, product_ids: &[i64]) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                sqlx::query::<$db>("DELETE FROM rep_products WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for product in product_ids {
                    sqlx::query::<$db>(
                        "INSERT INTO rep_products (user_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(product)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn set_working_hours(
                &self,
                user_id: i64,
                working_hours: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO rep_calendars (user_id, working_hours, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id) DO UPDATE SET working_hours = excluded.working_hours, \
                     updated_at = excluded.updated_at",
                )
                .bind(user_id)
                .bind(working_hours)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(())
            }

            async fn rep_settings(&self) -> $crate::StoreResult<Vec<$crate::RepSettings>> {
                let products: Vec<(i64, i64)> = sqlx::query_as::<$db, (i64, i64)>(
                    "SELECT user_id, product_id FROM rep_products ORDER BY user_id, product_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let hours: Vec<(i64, String)> =
                    sqlx::query_as::<$db, (i64, String)>("SELECT user_id, working_hours FROM rep_calendars")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?;
                let mut users: Vec<i64> =
                    products.iter().map(|(u, _)| *u).chain(hours.iter().map(|(u, _)| *u)).collect();
                users.sort_unstable();
                users.dedup();
                Ok(users
                    .into_iter()
                    .map(|user_id| $crate::RepSettings {
                        user_id,
                        product_ids: products.iter().filter(|(u, _)| *u == user_id).map(|(_, p)| *p).collect(),
                        working_hours: hours.iter().find(|(u, _)| *u == user_id).map(|(_, h)| h.clone()),
                    })
                    .collect())
            }

            async fn product_reps(&self, product_id: i64) -> $crate::StoreResult<Vec<(i64, String)>> {
                sqlx::query_as::<$db, (i64, String)>(
                    "SELECT u.id, c.working_hours FROM rep_products r JOIN users u ON u.id = r.user_id \
                     JOIN rep_calendars c ON c.user_id = u.id WHERE r.product_id = $1 AND u.active = TRUE \
                     ORDER BY u.id",
                )
                .bind(product_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn busy_meetings(
                &self,
                user_ids: &[i64],
                from: $crate::Millis,
                to: $crate::Millis,
            ) -> $crate::StoreResult<Vec<(i64, $crate::Millis, $crate::Millis)>> {
                // The times are numbers written into the statement; the ids are bound.
                let sql = format!(
                    "SELECT user_id, starts_at, ends_at FROM meetings WHERE status = 'booked' \
                     AND starts_at < {to} AND ends_at > {from} AND user_id IN ({{}}) ORDER BY user_id, starts_at"
                );
                self.rows_in(&sql, user_ids).await
            }

            async fn book_meeting(
                &self,
                meeting: &$crate::NewMeeting,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::MeetingRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                // SQLite's write transaction is already exclusive; PostgreSQL locks the rep, so
                // two bookings of one rep check and insert one after the other.
                if Self::DIALECT == $crate::sql::Dialect::Postgres {
                    sqlx::query::<$db>("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                        .bind(meeting.user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                let overlapping: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                    "SELECT id FROM meetings WHERE user_id = $1 AND status = 'booked' \
                     AND starts_at < $3 AND ends_at > $2 LIMIT 1",
                )
                .bind(meeting.user_id)
                .bind(meeting.starts_at)
                .bind(meeting.ends_at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                if overlapping.is_some() {
                    return Err($crate::StoreError::Conflict { field: "slot" });
                }
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO meetings (user_id, lead_id, product_id, form_id, submission_id, starts_at, ends_at, \
                     status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'booked', $8) RETURNING id",
                )
                .bind(meeting.user_id)
                .bind(meeting.lead_id)
                .bind(meeting.product_id)
                .bind(meeting.form_id)
                .bind(meeting.submission_id)
                .bind(meeting.starts_at)
                .bind(meeting.ends_at)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match db_error(e) {
                    $crate::StoreError::Conflict { .. } => $crate::StoreError::Conflict { field: "slot" },
                    other => other,
                })?;
                tx.commit().await.map_err(db_error)?;
                self.get_meeting(id).await
            }

            async fn get_meeting(&self, id: i64) -> $crate::StoreResult<$crate::MeetingRow> {
                self.meetings_where("m.id = $1", id).await?.pop().ok_or($crate::StoreError::NotFound)
            }

            async fn list_meetings(
                &self,
                user_id: Option<i64>,
                from: $crate::Millis,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::MeetingRow>> {
                sqlx::query_as::<$db, $crate::MeetingRow>(&format!(
                    "{} WHERE m.ends_at > $1 AND ($2 IS NULL OR m.user_id = $2) ORDER BY m.starts_at, m.id LIMIT $3",
                    $crate::MEETING_SELECT
                ))
                .bind(from)
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn lead_meetings(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::MeetingRow>> {
                self.meetings_where("m.lead_id = $1 ORDER BY m.starts_at DESC, m.id DESC", lead_id).await
            }

            async fn submission_meetings(&self, submission_id: i64) -> $crate::StoreResult<Vec<$crate::MeetingRow>> {
                self.meetings_where("m.submission_id = $1 ORDER BY m.id", submission_id).await
            }

            async fn link_submission_meetings(&self, submission_id: i64, lead_id: i64) -> $crate::StoreResult<()> {
                sqlx::query::<$db>("UPDATE meetings SET lead_id = $2 WHERE submission_id = $1 AND lead_id IS NULL")
                    .bind(submission_id)
                    .bind(lead_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn cancel_meeting(&self, id: i64, now: $crate::Millis) -> $crate::StoreResult<()> {
                let done = sqlx::query::<$db>(
                    "UPDATE meetings SET status = 'cancelled', cancelled_at = $2 WHERE id = $1 AND status = 'booked'",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                $crate::one_row(done.rows_affected())
            }

            async fn upcoming_meeting_counts(
                &self,
                user_ids: &[i64],
                from: $crate::Millis,
            ) -> $crate::StoreResult<Vec<(i64, i64)>> {
                let sql = format!(
                    "SELECT user_id, COUNT(*) FROM meetings WHERE status = 'booked' AND starts_at >= {from} \
                     AND user_id IN ({{}}) GROUP BY user_id"
                );
                let found: Vec<(i64, i64)> = self.rows_in(&sql, user_ids).await?;
                // Users without meetings count 0.
                Ok(user_ids.iter().map(|u| (*u, found.iter().find(|(f, _)| f == u).map_or(0, |(_, c)| *c))).collect())
            }
        }
    };
}
