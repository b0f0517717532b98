//! The command line: one binary with subcommands.

use crate::config::{self, ServeArgs, StoreArgs, DEFAULT_DATA_DIR};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hatake",
    version,
    about = "hatake (畑): a self-hosted B2B demand center — leads, companies, products and the hand-off to sales.",
    long_about = "hatake keeps leads, the companies they work for and your products in one place, on an embedded \
                  SQLite database by default (a data directory) or on PostgreSQL (--database-url).\n\n\
                  Settings come from flags, then HATAKE_* environment variables, then an optional TOML file \
                  (--config), then defaults.\n\nStart with `hatake demo` to try it with realistic sample data."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the API (migrations run first).
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Apply pending database migrations and list what is applied.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage users who sign in to the web UI.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Create (or reuse) a data directory with realistic synthetic Japanese B2B data and serve it.
    Demo {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        serve: ServeArgs,
        /// Number of companies to generate on first run.
        #[arg(long, default_value_t = 2_000)]
        companies: usize,
        /// Number of people to generate on first run.
        #[arg(long, default_value_t = 20_000)]
        people: usize,
        /// Create the data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Import leads from CSV files; list and undo imports.
    Import {
        #[command(subcommand)]
        command: crate::import_cli::ImportCommand,
    },
    /// Recompute lead scores from the event log (all products with a model, or --product).
    Rescore(crate::rescore_cli::RescoreArgs),
    /// Mail that comes back: bounces and complaints.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Benchmarks that print their figures next to a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Read one returned message on standard input — a delivery status notification (RFC 3464)
    /// or an abuse feedback report (ARF) — and apply it: hard bounces and complaints suppress
    /// the address, soft bounces count. For a mailbox piped to it (.forward, procmail).
    Inbound {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load many leads into SQLite and measure page latency under concurrent load (see BENCHMARKS.md).
    Ui(crate::bench::UiBenchArgs),
    /// Link FEBRL4 with hatake's matcher next to Python's recordlinkage (see BENCHMARKS.md).
    Match(crate::bench::febrl::MatchBenchArgs),
    /// Import a large synthetic lead file with duplicates, with name-matching (see BENCHMARKS.md).
    Import(crate::bench::import::ImportBenchArgs),
    /// Name-matching (名寄せ) on a generated Japanese business-card set: precision, recall and
    /// F1, the share sent to review and the company links, next to an exact-e-mail baseline.
    Names(crate::bench::names::NamesBenchArgs),
    /// Event ingestion, tracking hits and timelines with millions of events (see BENCHMARKS.md).
    Events(crate::bench::events::EventsBenchArgs),
    /// Full recomputation, decay pass and incremental scoring with 20M events (see BENCHMARKS.md).
    Scoring(crate::bench::scoring::ScoringBenchArgs),
    /// Mail from the outbox to a local SMTP server next to that server's own rate, and a kill -9
    /// in the middle of a send (see BENCHMARKS.md).
    Mail(crate::bench::mail::MailBenchArgs),
    /// Fresh evaluation of segments of each kind of condition on a million leads and twenty
    /// million events, next to a segment every lead matches (see BENCHMARKS.md).
    Segments(crate::bench::segments::SegmentsBenchArgs),
    /// The call queue page and alert latency at a million leads and 100,000 open tasks.
    InsideSales(crate::bench::inside_sales::InsideSalesBenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Without --password, a strong password is generated and printed once.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// E-mail address used to sign in.
        #[arg(long)]
        email: String,
        /// Name shown in the UI (defaults to the part of the e-mail before @).
        #[arg(long)]
        name: Option<String>,
        /// admin, marketer, inside_sales or field_sales.
        #[arg(long)]
        role: String,
        /// Initial password (at least 10 characters); prefer HATAKE_PASSWORD to keep it out of the shell history.
        #[arg(long, env = "HATAKE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a user's password (e.g. when they have forgotten it); signs them out everywhere.
    SetPassword {
        #[command(flatten)]
        store: StoreArgs,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// The new password (at least 10 characters); without it a strong one is generated and printed once.
        #[arg(long, env = "HATAKE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { store, serve } => {
            let settings = config::resolve(&store, &serve, DEFAULT_DATA_DIR)?;
            crate::serve::serve(&settings, None).await
        }
        Command::Migrate { store } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            crate::serve::migrate(&settings).await
        }
        Command::User { command } => crate::users::run(command).await,
        Command::Demo { store, serve, companies, people, no_serve } => {
            let settings = config::resolve(&store, &serve, crate::demo::DEFAULT_DEMO_DIR)?;
            crate::demo::run(&settings, companies, people, !no_serve).await
        }
        Command::Import { command } => crate::import_cli::run_command(command).await,
        Command::Rescore(args) => crate::rescore_cli::run(args, DEFAULT_DATA_DIR).await,
        Command::Mail { command: MailCommand::Inbound { store } } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            inbound(&settings).await
        }
        Command::Bench { command: BenchCommand::Ui(args) } => crate::bench::ui(args).await,
        Command::Bench { command: BenchCommand::Match(args) } => crate::bench::febrl::run(&args),
        Command::Bench { command: BenchCommand::Import(args) } => crate::bench::import::run_bench(&args).await,
        Command::Bench { command: BenchCommand::Names(args) } => crate::bench::names::run(&args).await,
        Command::Bench { command: BenchCommand::Events(args) } => crate::bench::events::run(args).await,
        Command::Bench { command: BenchCommand::Scoring(args) } => crate::bench::scoring::run(args).await,
        Command::Bench { command: BenchCommand::Mail(args) } => crate::bench::mail::run(&args).await,
        Command::Bench { command: BenchCommand::Segments(args) } => crate::bench::segments::run(args).await,
        Command::Bench { command: BenchCommand::InsideSales(args) } => crate::bench::inside_sales::run(args).await,
    }
}

/// `hatake mail inbound`: one returned message from standard input.
async fn inbound(settings: &config::Settings) -> anyhow::Result<()> {
    use hatake_engine::mail::feedback;
    use std::io::Read as _;
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw)?;
    let found = match feedback::parse_message(&raw) {
        Ok(found) => found,
        Err(error) => {
            // Not ours to read (an out-of-office reply, a person's answer): leave it, succeed.
            println!("nothing done: {error}");
            return Ok(());
        }
    };
    let store = crate::open_store(&settings.database).await?;
    let applied = feedback::apply(store.as_ref(), &found, hatake_web::now_millis()).await?;
    for item in &found {
        let kind = match item.kind {
            feedback::Kind::HardBounce => "hard bounce",
            feedback::Kind::SoftBounce => "soft bounce",
            feedback::Kind::Complaint => "complaint",
        };
        let suppressed = if applied.suppressed.contains(&item.email) { " → suppressed" } else { "" };
        println!(
            "{kind}: {}{}{suppressed}",
            item.email,
            item.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        );
    }
    if !applied.unsubscribed.is_empty() {
        println!("unsubscribed from all mail: {} lead(s)", applied.unsubscribed.len());
    }
    println!("matched to our mail: {} of {}", applied.matched, found.len());
    Ok(())
}
