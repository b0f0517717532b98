//! The `hatake` command: CLI, configuration, telemetry and the commands themselves. The work
//! is done by the library crates; this crate wires them together.

pub mod bench;
mod cli;
pub mod config;
pub mod demo;
pub mod demo_data;
mod demo_mail;
pub mod demo_pipeline;
mod import_cli;
pub mod rescore_cli;
pub mod serve;
mod users;

use clap::Parser;
use std::sync::Arc;

pub use cli::Cli;

/// Runs the command line and returns the process's exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HATAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Logs go to standard error: what a command prints (an import's summary, a bench's table,
    // the address it serves at) stays alone on standard output for whoever reads it.
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Opens the configured database (running migrations).
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_store(database: &config::Database) -> anyhow::Result<Arc<dyn hatake_store::Store>> {
    use anyhow::Context;
    let store = open_database(database).await?;
    // Derived data an older version did not write (matching keys, search documents, department
    // classes).
    let upgraded = hatake_engine::maintenance::bring_up_to_date(&*store, hatake_web::now_millis())
        .await
        .context("bringing stored leads up to date")?;
    if upgraded.rekeyed || upgraded.reindexed || upgraded.reclassified.is_some_and(|n| n > 0) {
        tracing::info!(
            rekeyed = upgraded.rekeyed,
            reindexed = upgraded.reindexed,
            reclassified = upgraded.reclassified.unwrap_or(0),
            "stored leads brought up to date"
        );
    }
    if upgraded.stalled_imports > 0 {
        tracing::warn!(
            imports = upgraded.stalled_imports,
            "imports stopped half-way marked failed; they can be undone"
        );
    }
    Ok(store)
}

async fn open_database(database: &config::Database) -> anyhow::Result<Arc<dyn hatake_store::Store>> {
    use anyhow::Context;
    Ok(match database {
        config::Database::Sqlite { data_dir } => Arc::new(
            hatake_sqlite::SqliteStore::open(data_dir)
                .await
                .with_context(|| format!("cannot open the SQLite database in {}", data_dir.display()))?,
        ),
        config::Database::Postgres { url } => Arc::new(
            hatake_postgres::PostgresStore::connect(url)
                .await
                .with_context(|| format!("cannot open PostgreSQL at {}", config::redact_url(url)))?,
        ),
    })
}
