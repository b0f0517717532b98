//! hatake on PostgreSQL, for teams and scale: several `hatake serve` processes may share one
//! database. Own migrations in `migrations/`; the SQL shared with SQLite lives in
//! `hatake-store`; this crate adds connection set-up, migrations and the tsvector index.

mod migrate;

use hatake_store::sql::Dialect;
use hatake_store::StoreError;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres};

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    const DIALECT: Dialect = Dialect::Postgres;
    /// The lead index of the event log is on the lead alone.
    const LEAD_BUCKET_SHIFT: Option<u32> = None;

    /// Connects to `url` (`postgres://…`) and runs pending migrations.
    ///
    /// # Errors
    /// When the server cannot be reached or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await.map_err(db_error)?;
        migrate::run(&pool).await?;
        Ok(Self { pool })
    }

    /// Migrations applied so far, as (version, name).
    ///
    /// # Errors
    /// On a database error.
    pub async fn applied_migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        migrate::applied(&self.pool).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn index_leads(conn: &mut PgConnection, docs: &[(i64, String)]) -> Result<(), StoreError> {
        if docs.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = docs.iter().map(|(id, _)| *id).collect();
        let vectors: Vec<String> = docs.iter().map(|(_, doc)| hatake_domain::text::tsvector_literal(doc)).collect();
        sqlx::query::<Postgres>(
            "UPDATE leads SET search_tsv = v.doc::tsvector FROM UNNEST($1::bigint[], $2::text[]) AS v(id, doc) \
             WHERE leads.id = v.id",
        )
        .bind(ids)
        .bind(vectors)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn unindex_leads(conn: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query::<Postgres>("UPDATE leads SET search_tsv = NULL WHERE id = ANY($1)")
            .bind(ids.to_vec())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn unindex_lead(conn: &mut PgConnection, id: i64) -> Result<(), StoreError> {
        sqlx::query::<Postgres>("UPDATE leads SET search_tsv = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

/// See [`hatake_store::sql::store_error`].
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    hatake_store::sql::store_error(error, "postgres")
}

hatake_store::impl_user_and_catalog_stores!(PostgresStore, Postgres);
hatake_store::impl_account_and_lead_stores!(PostgresStore, Postgres);
hatake_store::impl_resolution_store!(PostgresStore, Postgres);
hatake_store::impl_import_store!(PostgresStore, Postgres);
hatake_store::impl_event_store!(PostgresStore, Postgres);
hatake_store::impl_plain_event_writes!(PostgresStore, Postgres);
hatake_store::impl_form_store!(PostgresStore, Postgres);
hatake_store::impl_booking_store!(PostgresStore, Postgres);
hatake_store::impl_scoring_store!(PostgresStore, Postgres);
hatake_store::impl_lifecycle_store!(PostgresStore, Postgres);
hatake_store::impl_outbox_store!(PostgresStore, Postgres);
hatake_store::impl_outbox_write!(PostgresStore, Postgres);
hatake_store::impl_subscription_store!(PostgresStore, Postgres);
hatake_store::impl_mail_template_store!(PostgresStore, Postgres);
hatake_store::impl_segment_store!(PostgresStore, Postgres);
hatake_store::impl_newsletter_store!(PostgresStore, Postgres);
hatake_store::impl_task_store!(PostgresStore, Postgres);
hatake_store::impl_hearing_store!(PostgresStore, Postgres);
hatake_store::impl_routing_store!(PostgresStore, Postgres);
hatake_store::impl_alert_store!(PostgresStore, Postgres);
hatake_store::impl_scoring_sqlx_paths!(PostgresStore, Postgres);
hatake_store::impl_sqlx_plan_writer!(PostgresStore, Postgres);
hatake_store::impl_system_store!(PostgresStore, Postgres, "postgres", ["ANALYZE"]);
