//! Migrations: numbered SQL files compiled into the binary, applied in order, each in its
//! own transaction, and recorded in `schema_migrations`.

use crate::db_error;
use hatake_store::StoreError;
use sqlx::{Connection, SqlitePool};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "resolution", include_str!("../migrations/0002_resolution.sql")),
    (3, "key_hashes", include_str!("../migrations/0003_key_hashes.sql")),
    (4, "events", include_str!("../migrations/0004_events.sql")),
    (5, "visitor_leads", include_str!("../migrations/0005_visitor_leads.sql")),
    (6, "tracked_links", include_str!("../migrations/0006_tracked_links.sql")),
    (7, "merge_moves_events", include_str!("../migrations/0007_merge_moves_events.sql")),
    (8, "forms", include_str!("../migrations/0008_forms.sql")),
    (9, "booking", include_str!("../migrations/0009_booking.sql")),
    (10, "events_speed", include_str!("../migrations/0010_events_speed.sql")),
    (11, "import_events", include_str!("../migrations/0011_import_events.sql")),
    (12, "scoring", include_str!("../migrations/0012_scoring.sql")),
    (13, "lifecycle", include_str!("../migrations/0013_lifecycle.sql")),
    (14, "score_states", include_str!("../migrations/0014_score_states.sql")),
    (15, "score_due", include_str!("../migrations/0015_score_due.sql")),
    (16, "states_at", include_str!("../migrations/0016_states_at.sql")),
    (17, "import_settled", include_str!("../migrations/0017_import_settled.sql")),
    (18, "score_floor", include_str!("../migrations/0018_score_floor.sql")),
    (19, "queue_sla", include_str!("../migrations/0019_queue_sla.sql")),
    (20, "outbox", include_str!("../migrations/0020_outbox.sql")),
    (21, "subscriptions", include_str!("../migrations/0021_subscriptions.sql")),
    (22, "import_subscribe", include_str!("../migrations/0022_import_subscribe.sql")),
    (23, "mail_templates", include_str!("../migrations/0023_mail_templates.sql")),
    (24, "segments", include_str!("../migrations/0024_segments.sql")),
    (25, "newsletters", include_str!("../migrations/0025_newsletters.sql")),
    (26, "outbox_message_id", include_str!("../migrations/0026_outbox_message_id.sql")),
    (27, "events_kind_time", include_str!("../migrations/0027_events_kind_time.sql")),
    (28, "segment_changes", include_str!("../migrations/0028_segment_changes.sql")),
    (29, "drop_events_kind_time", include_str!("../migrations/0029_drop_events_kind_time.sql")),
    (30, "lead_activity", include_str!("../migrations/0030_lead_activity.sql")),
    (31, "outbox_payloads", include_str!("../migrations/0031_outbox_payloads.sql")),
    (32, "mail_domain_quota", include_str!("../migrations/0032_mail_domain_quota.sql")),
    (33, "tasks_and_calls", include_str!("../migrations/0033_tasks_and_calls.sql")),
    (34, "hearing_log", include_str!("../migrations/0034_hearing_log.sql")),
    (35, "routing", include_str!("../migrations/0035_routing.sql")),
    (36, "alerts", include_str!("../migrations/0036_alerts.sql")),
];

pub(crate) async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    for (version, name, sql) in MIGRATIONS {
        // BEGIN IMMEDIATE: the write lock is taken before the check (waiting out the busy
        // timeout), so two processes starting together apply each migration once. A deferred
        // transaction would read first and then fail with SQLITE_BUSY when upgrading to write.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let done: Option<(i64,)> = sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.is_some() {
            continue;
        }
        tracing::info!(version, name, "applying SQLite migration");
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
    }
    Ok(())
}

pub(crate) async fn applied(pool: &SqlitePool) -> Result<Vec<(i64, String)>, StoreError> {
    sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(db_error)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
