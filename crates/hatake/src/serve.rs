//! `hatake serve` and `hatake migrate`.

use crate::config::{Database, Settings};
use anyhow::Context;
use std::io::Write;

/// Serves until Ctrl-C or SIGTERM. `banner` is printed once the server listens.
///
/// # Errors
/// When the database cannot be opened or the address cannot be bound.
pub async fn serve(settings: &Settings, banner: Option<String>) -> anyhow::Result<()> {
    let store = crate::open_store(&settings.database).await?;
    serve_store(settings, store, banner).await
}

pub(crate) async fn serve_store(
    settings: &Settings,
    store: std::sync::Arc<dyn hatake_store::Store>,
    banner: Option<String>,
) -> anyhow::Result<()> {
    let config =
        hatake_web::WebConfig { secure_cookies: settings.secure_cookies, time_zone: settings.time_zone.clone() };
    let state = hatake_web::AppState::new(store.clone(), config).context("templates failed to load")?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    // The signal handlers are in place before anyone is told where to connect: a SIGTERM right
    // after the banner stops the server gracefully instead of killing it.
    let shutdown = shutdown_signal();
    tracing::info!(%address, database = %settings.database, "hatake is serving");
    println!("hatake is running at http://{address}/  ({})", settings.database);
    if let Some(banner) = banner {
        println!("{banner}");
    }
    println!("Press Ctrl-C to stop.");
    let zone = jiff::tz::TimeZone::get(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let retries = tokio::spawn(retry_form_submissions(store, zone));
    hatake_web::serve(listener, state, shutdown).await.context("the server failed")?;
    retries.abort();
    // Whoever started the server may have stopped reading its output: no panic over that.
    let _ = writeln!(std::io::stdout(), "hatake stopped.");
    Ok(())
}

/// How often stored form submissions that are due (failed earlier, or left pending by a stop)
/// are processed again.
const FORM_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Processes due form submissions every [`FORM_RETRY_INTERVAL`] while the server runs.
async fn retry_form_submissions(store: std::sync::Arc<dyn hatake_store::Store>, zone: jiff::tz::TimeZone) {
    let mut ticks = tokio::time::interval(FORM_RETRY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A submission stored a moment ago is being processed by its request: leave it a minute.
        let now = hatake_web::now_millis();
        match hatake_engine::forms::process_due(store.as_ref(), now - 60_000, now, 100, &zone).await {
            Ok(counts) if counts.done + counts.failed > 0 => {
                tracing::info!(done = counts.done, failed = counts.failed, "form submissions retried");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "form submissions could not be retried"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are installed when this is called, not when the
/// future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// # Errors
/// When the database cannot be opened or a migration fails.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let applied = match &settings.database {
        Database::Sqlite { data_dir } => {
            hatake_sqlite::SqliteStore::open(data_dir)
                .await
                .with_context(|| format!("cannot open the SQLite database in {}", data_dir.display()))?
                .applied_migrations()
                .await?
        }
        Database::Postgres { url } => {
            hatake_postgres::PostgresStore::connect(url)
                .await
                .with_context(|| format!("cannot open {}", crate::config::redact_url(url)))?
                .applied_migrations()
                .await?
        }
    };
    println!("{}: schema is up to date", settings.database);
    for (version, name) in applied {
        println!("  {version:04} {name}");
    }
    Ok(())
}
