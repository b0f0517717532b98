//! The event log: rows appended, never changed ([`EventStore`]), and its SQL, written once and
//! instantiated by each backend with [`impl_event_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// An event an import recorded: (lead, kind, name, time, product).
pub type ImportedEvent = (i64, String, Option<String>, i64, Option<i64>);

/// An event to append, its lead found already.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub lead_id: Option<i64>,
    pub visitor_id: Option<String>,
    pub product_id: Option<i64>,
    pub occurred_at: Millis,
    pub source: Option<String>,
    pub name: Option<String>,
    /// A JSON object.
    pub properties: String,
    pub idempotency_key: Option<String>,
}

/// What became of one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Created(i64),
    /// An event with the same idempotency key was taken before (this id).
    Duplicate(i64),
}

/// Whose an event to append is, as sent: looked up by the store in the write itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventLead {
    /// A lead by id, which must exist.
    Id(i64),
    /// The lead with this e-mail address (as stored: lower-case domain), which must exist.
    Email(String),
    /// Nothing to find: the event's `lead_id` is used as it is (none for an anonymous
    /// visitor's event).
    None,
}

/// An event whose lead is still to be found ([`EventStore::append_resolving`]): the event's own
/// `lead_id` is set from `lead`, or kept as it is with [`EventLead::None`].
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub lead: EventLead,
    pub event: NewEvent,
}

/// What became of one [`PendingEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Appended(Appended),
    /// No lead has this id (nothing appended).
    UnknownLead,
    /// No lead has this e-mail address (nothing appended).
    UnknownEmail,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub lead_id: Option<i64>,
    pub visitor_id: Option<String>,
    pub product_id: Option<i64>,
    pub occurred_at: Millis,
    pub received_at: Millis,
    pub source: Option<String>,
    pub name: Option<String>,
    pub properties: String,
    pub idempotency_key: Option<String>,
}

/// Which of a lead's events to read, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    pub kind: Option<String>,
    pub product_id: Option<i64>,
    /// Only events older than this (occurred_at, id): the next page.
    pub before: Option<(Millis, i64)>,
    pub limit: i64,
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends the events in one transaction, which is committed (durable) when this returns;
    /// returns each event's fate in order. An event whose idempotency key is stored already,
    /// or came earlier in the same call, is not appended again. An event that names both a
    /// lead and a visitor links the visitor to the lead (the first link stays).
    async fn append_events(&self, events: &[NewEvent], now: Millis) -> StoreResult<Vec<Appended>>;
    /// Finds each event's lead (by id or e-mail) and appends those whose lead exists, as
    /// [`EventStore::append_events`] does, in one transaction; returns each event's fate in
    /// order. This implementation looks the leads up first; a backend may do it inside the write.
    async fn append_resolving(&self, events: &[PendingEvent], now: Millis) -> StoreResult<Vec<Resolved>> {
        resolve_then_append(self, events, now).await
    }
    /// A lead's events, and the anonymous ones of the web visitors linked to it, newest first.
    async fn lead_events(&self, lead_id: i64, query: &EventQuery) -> StoreResult<Vec<EventRow>>;
    /// The events of an account's people (and their linked visitors), newest first.
    async fn account_events(&self, account_id: i64, query: &EventQuery) -> StoreResult<Vec<EventRow>>;
    /// A web visitor's events (by the visitor id of web tracking), newest first.
    async fn visitor_events(&self, visitor_id: &str, query: &EventQuery) -> StoreResult<Vec<EventRow>>;
    /// The leads with these e-mail addresses (as stored: lower-case domain).
    async fn lead_ids_by_email(&self, emails: &[String]) -> StoreResult<Vec<(String, i64)>>;
    /// Which of these leads exist.
    async fn existing_lead_ids(&self, ids: &[i64]) -> StoreResult<Vec<i64>>;
    /// The events imports recorded for these leads (an exhibition visit, a seminar attendance):
    /// (lead, kind, name, time, product).
    async fn imported_events_of(&self, leads: &[i64]) -> StoreResult<Vec<ImportedEvent>>;
    /// The leads these web visitors were linked to.
    async fn visitor_leads(&self, visitor_ids: &[String]) -> StoreResult<Vec<(String, i64)>>;
    /// [`crate::StoreError::Conflict`] (`code`) when the code is taken.
    async fn create_tracked_link(
        &self,
        code: &str,
        name: &str,
        target_url: &str,
        product_id: Option<i64>,
        now: Millis,
    ) -> StoreResult<TrackedLinkRow>;
    async fn tracked_link(&self, code: &str) -> StoreResult<Option<TrackedLinkRow>>;
    /// Newest first.
    async fn list_tracked_links(&self) -> StoreResult<Vec<TrackedLinkRow>>;
}

/// [`EventStore::append_resolving`] for a backend that looks the leads up before the write: a
/// lead deleted in between fails the write (a foreign key), not the event alone.
///
/// # Errors
/// As the lookups and [`EventStore::append_events`].
pub async fn resolve_then_append<S: EventStore + ?Sized>(
    store: &S,
    events: &[PendingEvent],
    now: Millis,
) -> StoreResult<Vec<Resolved>> {
    let mut ids: Vec<i64> = Vec::new();
    let mut emails: Vec<String> = Vec::new();
    for pending in events {
        match &pending.lead {
            EventLead::Id(id) => ids.push(*id),
            EventLead::Email(email) => emails.push(email.clone()),
            EventLead::None => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    emails.sort_unstable();
    emails.dedup();
    let ids: std::collections::HashSet<i64> = store.existing_lead_ids(&ids).await?.into_iter().collect();
    let emails: std::collections::HashMap<String, i64> = store.lead_ids_by_email(&emails).await?.into_iter().collect();
    let mut fates = Vec::with_capacity(events.len());
    let mut found = Vec::with_capacity(events.len());
    for pending in events {
        let lead = match &pending.lead {
            EventLead::Id(id) if ids.contains(id) => Some(*id),
            EventLead::Id(_) => {
                fates.push(Some(Resolved::UnknownLead));
                continue;
            }
            EventLead::Email(email) => match emails.get(email) {
                Some(id) => Some(*id),
                None => {
                    fates.push(Some(Resolved::UnknownEmail));
                    continue;
                }
            },
            // Found already (or none: a visitor's event).
            EventLead::None => pending.event.lead_id,
        };
        fates.push(None);
        found.push(NewEvent { lead_id: lead, ..pending.event.clone() });
    }
    let mut appended = store.append_events(&found, now).await?.into_iter();
    Ok(fates
        .into_iter()
        .map(|fate| fate.unwrap_or_else(|| Resolved::Appended(appended.next().expect("one per found event"))))
        .collect())
}

/// A tracked link: `/t/l/{code}` records a visit and redirects to `target_url`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TrackedLinkRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub target_url: String,
    pub product_id: Option<i64>,
    pub created_at: Millis,
}

/// The columns of [`TrackedLinkRow`], in order.
pub const TRACKED_LINK_COLUMNS: &str = "id, code, name, target_url, product_id, created_at";

/// The columns of [`EventRow`], in order.
pub const EVENT_COLUMNS: &str =
    "id, kind, lead_id, visitor_id, product_id, occurred_at, received_at, source, name, properties, idempotency_key";

/// The SQL filter of [`EventQuery`] (kind, product, page) after `$2`…`$5`, and its order.
pub const EVENT_QUERY_FILTER: &str = "($2 IS NULL OR kind = $2) AND ($3 IS NULL OR product_id = $3) \
     AND (occurred_at < $4 OR (occurred_at = $4 AND id < $5))";

/// Newest first, the order of every timeline.
pub const EVENT_ORDER: &str = "ORDER BY occurred_at DESC, id DESC";

/// Implements [`EventStore`] for a backend. The backend supplies, as inherent methods, how it
/// appends (`append_event_rows`, `append_resolving_rows`), how it reads a lead's and an account's timeline
/// (`lead_event_rows`, `account_event_rows`) and how it reads rows for a list of values
/// (`rows_in`, for `IN ({})`): SQLite partitions its lead index and binds lists as one JSON
/// array (see `hatake-sqlite`'s `events.rs`), others can use [`impl_plain_event_writes!`].
#[macro_export]
macro_rules! impl_event_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The rows of `sql`, whose `$1` is bound to `id` and `$2`…`$6` to `query` (see
            /// [`$crate::EVENT_QUERY_FILTER`]; `$6` is the limit).
            async fn event_rows<T>(
                &self,
                sql: &str,
                id: T,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>>
            where
                T: Send + for<'e> sqlx::Encode<'e, $db> + sqlx::Type<$db>,
            {
                let (before_at, before_id) = query.before.unwrap_or((i64::MAX, i64::MAX));
                sqlx::query_as::<$db, $crate::EventRow>(sql)
                    .bind(id)
                    .bind(query.kind.as_deref())
                    .bind(query.product_id)
                    .bind(before_at)
                    .bind(before_id)
                    .bind(query.limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            /// Events whose owner matches `owner` (binding `$1` to `id`), filtered and paged as
            /// `query` asks, newest first.
            async fn events_where<T>(
                &self,
                owner: &str,
                id: T,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>>
            where
                T: Send + for<'e> sqlx::Encode<'e, $db> + sqlx::Type<$db>,
            {
                let sql = format!(
                    "SELECT {} FROM events WHERE {owner} AND {} {} LIMIT $6",
                    $crate::EVENT_COLUMNS,
                    $crate::EVENT_QUERY_FILTER,
                    $crate::EVENT_ORDER
                );
                self.event_rows(&sql, id, query).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::EventStore for $store {
            async fn append_events(
                &self,
                events: &[$crate::NewEvent],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<$crate::Appended>> {
                self.append_event_rows(events, now).await
            }

            async fn append_resolving(
                &self,
                events: &[$crate::PendingEvent],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<$crate::Resolved>> {
                self.append_resolving_rows(events, now).await
            }

            async fn lead_events(
                &self,
                lead_id: i64,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>> {
                self.lead_event_rows(lead_id, query).await
            }

            async fn account_events(
                &self,
                account_id: i64,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>> {
                self.account_event_rows(account_id, query).await
            }

            async fn visitor_events(
                &self,
                visitor_id: &str,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>> {
                self.events_where("visitor_id = $1", visitor_id.to_owned(), query).await
            }

            async fn lead_ids_by_email(&self, emails: &[String]) -> $crate::StoreResult<Vec<(String, i64)>> {
                self.rows_in("SELECT email, id FROM leads WHERE email IN ({})", emails).await
            }

            async fn create_tracked_link(
                &self,
                code: &str,
                name: &str,
                target_url: &str,
                product_id: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::TrackedLinkRow> {
                sqlx::query_as::<$db, $crate::TrackedLinkRow>(&format!(
                    "INSERT INTO tracked_links (code, name, target_url, product_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {}",
                    $crate::TRACKED_LINK_COLUMNS
                ))
                .bind(code)
                .bind(name)
                .bind(target_url)
                .bind(product_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn tracked_link(&self, code: &str) -> $crate::StoreResult<Option<$crate::TrackedLinkRow>> {
                sqlx::query_as::<$db, $crate::TrackedLinkRow>(&format!(
                    "SELECT {} FROM tracked_links WHERE code = $1",
                    $crate::TRACKED_LINK_COLUMNS
                ))
                .bind(code)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn list_tracked_links(&self) -> $crate::StoreResult<Vec<$crate::TrackedLinkRow>> {
                sqlx::query_as::<$db, $crate::TrackedLinkRow>(&format!(
                    "SELECT {} FROM tracked_links ORDER BY id DESC",
                    $crate::TRACKED_LINK_COLUMNS
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn visitor_leads(&self, visitor_ids: &[String]) -> $crate::StoreResult<Vec<(String, i64)>> {
                self.rows_in("SELECT visitor_id, lead_id FROM visitor_leads WHERE visitor_id IN ({})", visitor_ids)
                    .await
            }

            async fn existing_lead_ids(&self, ids: &[i64]) -> $crate::StoreResult<Vec<i64>> {
                let found: Vec<(i64,)> = self.rows_in("SELECT id FROM leads WHERE id IN ({})", ids).await?;
                Ok(found.into_iter().map(|(id,)| id).collect())
            }

            async fn imported_events_of(&self, leads: &[i64]) -> $crate::StoreResult<Vec<$crate::ImportedEvent>> {
                self.rows_in(
                    "SELECT lead_id, kind, name, occurred_at, product_id FROM events \
                     WHERE lead_id IN ({}) AND source LIKE 'import:%'",
                    leads,
                )
                .await
            }
        }
    };
}

/// Appends and timelines on one plain index by lead (`events_lead (lead_id, occurred_at, id)`):
/// each event is inserted on its own, in one transaction. Used by PostgreSQL, whose pages are
/// written back by its checkpointer rather than at each commit.
#[macro_export]
macro_rules! impl_plain_event_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn append_resolving_rows(
                &self,
                events: &[$crate::PendingEvent],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<$crate::Resolved>> {
                $crate::resolve_then_append(self, events, now).await
            }

            /// Rows of `sql` (whose `IN ({})` is filled with one placeholder per value), for
            /// any number of values, a chunk of binds at a time.
            async fn rows_in<V, R>(&self, sql: &str, values: &[V]) -> $crate::StoreResult<Vec<R>>
            where
                V: Clone + Send + Sync + for<'e> sqlx::Encode<'e, $db> + sqlx::Type<$db>,
                R: Send + Unpin + for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
            {
                let mut found = Vec::new();
                for part in values.chunks($crate::MAX_BINDS) {
                    let placeholders: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = sql.replace("{}", &placeholders.join(","));
                    let mut query = sqlx::query_as::<$db, R>(&sql);
                    for value in part {
                        query = query.bind(value.clone());
                    }
                    found.extend(query.fetch_all(&self.pool).await.map_err(db_error)?);
                }
                Ok(found)
            }

            async fn append_event_rows(
                &self,
                events: &[$crate::NewEvent],
                now: $crate::Millis,
            ) -> $crate::StoreResult<Vec<$crate::Appended>> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let mut fates = Vec::with_capacity(events.len());
                for event in events {
                    // The key's unique index is partial: the conflict target names its predicate.
                    let inserted: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>(
                        "INSERT INTO events (kind, lead_id, visitor_id, product_id, occurred_at, received_at, \
                         source, name, properties, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
                    )
                    .bind(event.kind)
                    .bind(event.lead_id)
                    .bind(event.visitor_id.as_deref())
                    .bind(event.product_id)
                    .bind(event.occurred_at)
                    .bind(now)
                    .bind(event.source.as_deref())
                    .bind(event.name.as_deref())
                    .bind(event.properties.as_str())
                    .bind(event.idempotency_key.as_deref())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let fate = match inserted {
                        Some((id,)) => $crate::Appended::Created(id),
                        None => {
                            let (id,): (i64,) =
                                sqlx::query_as::<$db, (i64,)>("SELECT id FROM events WHERE idempotency_key = $1")
                                    .bind(event.idempotency_key.as_deref())
                                    .fetch_one(&mut *tx)
                                    .await
                                    .map_err(db_error)?;
                            $crate::Appended::Duplicate(id)
                        }
                    };
                    fates.push(fate);
                    if let (Some(lead), Some(visitor), $crate::Appended::Created(_)) =
                        (event.lead_id, event.visitor_id.as_deref(), fate)
                    {
                        sqlx::query::<$db>(
                            "INSERT INTO visitor_leads (visitor_id, lead_id, linked_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (visitor_id) DO NOTHING",
                        )
                        .bind(visitor)
                        .bind(lead)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(fates)
            }

            async fn lead_event_rows(
                &self,
                lead_id: i64,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>> {
                self.events_where(
                    "(lead_id = $1 OR (lead_id IS NULL AND visitor_id IN \
                     (SELECT visitor_id FROM visitor_leads WHERE lead_id = $1)))",
                    lead_id,
                    query,
                )
                .await
            }

            async fn account_event_rows(
                &self,
                account_id: i64,
                query: &$crate::EventQuery,
            ) -> $crate::StoreResult<Vec<$crate::EventRow>> {
                self.events_where(
                    "(lead_id IN (SELECT id FROM leads WHERE account_id = $1) OR (lead_id IS NULL AND visitor_id IN \
                     (SELECT v.visitor_id FROM visitor_leads v JOIN leads l ON l.id = v.lead_id WHERE l.account_id = $1)))",
                    account_id,
                    query,
                )
                .await
            }
        }
    };
}
