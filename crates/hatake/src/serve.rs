//! `hatake serve` and `hatake migrate`.

use crate::config::{Database, Settings};
use anyhow::Context;
use hatake_engine::runtime::{Clock, Context as WorkContext, Runtime, Standard};
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
    let config = hatake_web::WebConfig {
        secure_cookies: settings.secure_cookies,
        time_zone: settings.time_zone.clone(),
        mail: None,
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    // The signal handlers are in place before anyone is told where to connect: a SIGTERM right
    // after the banner stops the server gracefully instead of killing it.
    let shutdown = shutdown_signal();
    let standard = Standard { mail_config: settings.mail.clone(), ..Standard::default() };
    let server = Server::start(store, config, Clock::system(), standard)?;
    tracing::info!(%address, database = %settings.database, "hatake is serving");
    println!("hatake is running at http://{address}/  ({})", settings.database);
    if let Some(banner) = banner {
        println!("{banner}");
    }
    println!("Press Ctrl-C to stop.");
    server.serve(listener, shutdown).await.context("the server failed")?;
    // Whoever started the server may have stopped reading its output: no panic over that.
    let _ = writeln!(std::io::stdout(), "hatake stopped.");
    Ok(())
}

/// A serving process: the engine's runtime with its standard workers (event writer, scorer,
/// form retries) and the web state over it. Tests and benchmarks start the same.
pub struct Server {
    pub runtime: std::sync::Arc<Runtime>,
    pub state: hatake_web::AppState,
}

/// How long the background work has to stop after the server did (the scorer writes its held
/// states back: seconds at most, after a busy minute at a million leads).
pub const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

impl Server {
    /// Starts the runtime (inside a Tokio runtime) and the web state over it.
    ///
    /// # Errors
    /// When a template does not parse.
    pub fn start(
        store: std::sync::Arc<dyn hatake_store::Store>,
        config: hatake_web::WebConfig,
        clock: Clock,
        standard: Standard,
    ) -> anyhow::Result<Self> {
        let zone = jiff::tz::TimeZone::get(&config.time_zone)
            .unwrap_or_else(|_| jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC));
        Self::start_in(WorkContext::new(store, clock, zone), config, standard)
    }

    /// The same in a context of the caller's (a benchmark that holds the scorer's lease under
    /// its own name).
    ///
    /// # Errors
    /// When a template does not parse.
    pub fn start_in(cx: WorkContext, config: hatake_web::WebConfig, standard: Standard) -> anyhow::Result<Self> {
        let store = cx.store.clone();
        // The pages show where the configuration sends mail, without its password.
        let config = hatake_web::WebConfig {
            mail: standard.mail_config.as_ref().map(hatake_engine::mail::config::MailConfig::redacted),
            ..config
        };
        let runtime = std::sync::Arc::new(Runtime::start(cx, standard));
        let state = hatake_web::AppState::new(store, runtime.handle(), config).context("templates failed to load")?;
        Ok(Self { runtime, state })
    }

    /// Serves on `listener` until `shutdown` resolves, then stops the background work.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = hatake_web::serve(listener, self.state, shutdown).await;
        self.runtime.shutdown(STOP_WITHIN).await;
        served
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
