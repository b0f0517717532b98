//! `hatake bench ui`: how fast the lead pages are on SQLite with a large data set.
//!
//! Loads synthetic leads (see [`crate::demo_data`]) into a SQLite data directory, serves it on
//! loopback and drives it with a small load generator written here on plain tokio sockets: a
//! number of keep-alive HTTP/1.1 connections, each sending one request at a time. Every scenario
//! is measured against a baseline (`/healthz`) in the same run, for several rounds; the summary
//! quotes the median over rounds.
//!
//! The load generator runs on its own single-threaded runtime on its own OS thread, so the
//! server's runtime workers are not shared with it (the CPU cores are).

pub mod events;
pub mod febrl;
pub mod import;
pub mod inside_sales;
mod load;
pub mod mail;
pub mod names;
mod report;
mod scenarios;
pub mod scoring;
pub mod segments;

use crate::demo::{ensure_product, ensure_user};
use anyhow::{anyhow, bail, Context};
use hatake_domain::RequiredFieldSet;
use hatake_engine::runtime::{Clock, Standard};
use hatake_store::Store;
use load::{measure, Client};
use report::{count, report, reproduce};
use scenarios::scenarios;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seed of the synthetic data: the same data on every run and machine.
const SEED: u64 = 20_260_415;
/// Where a loaded bench data set is recorded, so a re-run can reuse it.
const LOADED_SETTING: &str = "bench.ui.loaded";
/// Leads per store call while loading.
const LOAD_BATCH: usize = 20_000;
/// The target from the issue: p95 below this for each page.
const TARGET_P95_MS: f64 = 50.0;
/// Unrecorded warm-up before the first round of each scenario.
const WARM_UP: Duration = Duration::from_secs(1);
const PASSWORD: &str = "hatake-bench-2026";
const ADMIN_EMAIL: &str = "admin@hatake-bench.jp";
const OWNERS: &[(&str, &str)] = &[
    ("sales1@hatake-bench.jp", "営業 一郎"),
    ("sales2@hatake-bench.jp", "営業 二郎"),
    ("sales3@hatake-bench.jp", "営業 三郎"),
    ("sales4@hatake-bench.jp", "営業 四郎"),
];
const PRODUCTS: &[(&str, &str)] =
    &[("erp", "クラウドERP"), ("kintai", "勤怠管理SaaS"), ("security", "セキュリティ診断")];
/// Common family names of the generated people (the most frequent ones in the generator's table).
const SURNAMES: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
];
/// Fragments of generated company names.
const COMPANY_FRAGMENTS: &[&str] = &["富士", "北斗"];

/// `hatake bench ui`: load N leads into SQLite and measure the lead pages under concurrent load.
#[derive(Debug, Clone, clap::Args)]
pub struct UiBenchArgs {
    /// Number of leads to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: usize,
    /// Number of companies (accounts) the leads work for.
    #[arg(long, default_value_t = 50_000)]
    pub companies: usize,
    /// Data directory to use and keep (reused when it already holds the same data set).
    /// Without it, a temporary directory is used and deleted at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds of load per scenario and round.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rounds over all scenarios; the summary quotes the median over rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Runs the UI benchmark and prints the results.
///
/// # Errors
/// When loading or serving fails, or when any request gets a status other than 200.
pub async fn ui(args: UiBenchArgs) -> anyhow::Result<()> {
    if args.leads == 0 || args.companies == 0 || args.concurrency == 0 || args.seconds == 0 || args.rounds == 0 {
        bail!("--leads, --companies, --concurrency, --seconds and --rounds must all be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (dir, temp) = TempDir::or_given(args.data_dir.as_ref())?;
    println!(
        "hatake bench ui: SQLite, {} leads, {} companies, {cores} cores, {} connections, {} s × {} rounds per scenario",
        count(args.leads),
        count(args.companies),
        args.concurrency,
        args.seconds,
        args.rounds
    );
    println!("data directory: {}{}", dir.display(), if temp.is_some() { " (temporary)" } else { "" });

    let store: Arc<dyn Store> = Arc::new(
        hatake_sqlite::SqliteStore::open(&dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", dir.display()))?,
    );
    let ids = prepare(store.as_ref(), &args).await?;

    // Serve on loopback.
    let served = crate::serve::Server::start(
        store.clone(),
        hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into(), ..Default::default() },
        Clock::system(),
        Standard::default(),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(served.serve(listener, async move {
        let _ = stopped.await;
    }));

    // A real session, as after signing in.
    let now = hatake_web::now_millis();
    let token = hatake_web::auth::random_token();
    let csrf = hatake_web::auth::random_token();
    store
        .create_session(&hatake_web::auth::token_hash(&token), ids.admin, &csrf, now, now + 24 * 3600 * 1000)
        .await
        .context("creating the bench session")?;
    let client = Client { addr, cookie: format!("{}={token}", hatake_web::auth::SESSION_COOKIE) };

    let scenarios = scenarios(&ids, args.leads);
    let result = measure(&client, &scenarios, &args).await;

    let _ = stop.send(());
    if let Err(e) = store.delete_session(&hatake_web::auth::token_hash(&token)).await {
        eprintln!("warning: cannot delete the bench session: {e}");
    }
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("warning: the server stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("warning: the server task failed: {e}"),
        Err(_) => eprintln!("warning: the server did not stop within 10 s"),
    }
    let rounds = result?;
    report(&rounds, &scenarios, &args, cores, &ids);
    println!();
    println!("reproduce: {}", reproduce(&args));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Data.

/// Ids the scenarios need.
#[derive(Debug)]
struct Ids {
    admin: i64,
    owners: Vec<i64>,
    products: Vec<i64>,
    /// Load time, when this run loaded the data.
    load: Option<LoadTimes>,
}

#[derive(Debug, Clone, Copy)]
struct LoadTimes {
    accounts: Duration,
    leads: Duration,
    analyze: Duration,
}

/// Creates the users and products (or finds them), then loads the companies and leads unless
/// the directory already holds this data set.
async fn prepare(store: &dyn Store, args: &UiBenchArgs) -> anyhow::Result<Ids> {
    let marker = format!("seed={SEED} leads={} companies={}", args.leads, args.companies);
    let overview = store.overview().await?;
    let loaded = store.get_setting(LOADED_SETTING).await?;
    let reuse = loaded.as_deref() == Some(marker.as_str()) && overview.leads == args.leads as i64;
    if !reuse && (overview.leads > 0 || overview.accounts > 0) {
        bail!(
            "the data directory already holds other data ({} leads, {} companies; bench marker: {}); \
             use an empty or new --data-dir",
            overview.leads,
            overview.accounts,
            loaded.as_deref().unwrap_or("none")
        );
    }

    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let admin = ensure_user(store, ADMIN_EMAIL, "管理 太郎", "admin", PASSWORD, &hash, now).await?;
    let mut owners = Vec::new();
    for (email, name) in OWNERS {
        owners.push(ensure_user(store, email, name, "field_sales", PASSWORD, &hash, now).await?);
    }
    let existing = store.list_products().await?;
    let mut products = Vec::new();
    for (code, name) in PRODUCTS {
        products.push(ensure_product(store, &existing, code, name, None, now).await?);
    }

    if reuse {
        println!(
            "reusing the loaded data ({} leads, {} companies)",
            count(args.leads),
            count(overview.accounts.max(0))
        );
        return Ok(Ids { admin, owners, products, load: None });
    }
    let load = load(store, args, &products, &owners).await?;
    store.put_setting(LOADED_SETTING, &marker, hatake_web::now_millis()).await?;
    Ok(Ids { admin, owners, products, load: Some(load) })
}

async fn load(store: &dyn Store, args: &UiBenchArgs, products: &[i64], owners: &[i64]) -> anyhow::Result<LoadTimes> {
    let now = hatake_web::now_millis();
    let started = Instant::now();
    let accounts: Vec<hatake_domain::AccountData> =
        crate::demo_data::generate(SEED, args.companies, 0, products, owners)
            .accounts
            .into_iter()
            .map(|a| a.data)
            .collect();
    let account_ids = store.bulk_insert_accounts(&accounts, now).await.context("storing the companies")?;
    drop(accounts);
    let accounts_time = started.elapsed();
    println!(
        "loaded {} companies in {:.1} s ({} rows/s)",
        count(args.companies),
        accounts_time.as_secs_f64(),
        count(per_second(args.companies, accounts_time))
    );

    // The next batch is generated on the blocking pool while the store writes the current one,
    // so the load time is mostly the store's.
    let account_ids = Arc::new(account_ids);
    let generate = |start: usize, count: usize| {
        let (products, owners, account_ids) = (products.to_vec(), owners.to_vec(), account_ids.clone());
        let companies = args.companies;
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let required = RequiredFieldSet::default();
            let batch: Vec<(hatake_domain::LeadData, bool)> =
                crate::demo_data::leads_batch(SEED, start, count, companies, &products, &owners)
                    .into_iter()
                    .map(|lead| lead.into_stored(&account_ids, &required))
                    .collect();
            (batch, started.elapsed())
        })
    };
    let started = Instant::now();
    let (mut done, mut next_report) = (0usize, 100_000usize);
    let (mut generating, mut inserting) = (Duration::ZERO, Duration::ZERO);
    let mut pending = Some(generate(0, LOAD_BATCH.min(args.leads)));
    while let Some(handle) = pending.take() {
        let (batch, generated_in) = handle.await.context("generating leads")?;
        generating += generated_in;
        let from = done;
        done += batch.len();
        if done < args.leads {
            pending = Some(generate(done, LOAD_BATCH.min(args.leads - done)));
        }
        // Spread update times (one second per lead, the newest last) so "recently updated" is
        // a meaningful order, as in a real database.
        let updated = now - i64::try_from(args.leads - done).unwrap_or(0) * 1000;
        let insert_started = Instant::now();
        store.bulk_insert_leads(&batch, updated).await.with_context(|| format!("storing leads {from}..{done}"))?;
        inserting += insert_started.elapsed();
        if done >= next_report || done == args.leads {
            let elapsed = started.elapsed();
            println!(
                "  {:>11} / {} leads  {:6.1} s  {} rows/s  (store {:.1} s, generator {:.1} s overlapped)",
                count(done),
                count(args.leads),
                elapsed.as_secs_f64(),
                count(per_second(done, elapsed)),
                inserting.as_secs_f64(),
                generating.as_secs_f64()
            );
            while next_report <= done {
                next_report += 100_000;
            }
        }
    }
    let leads_time = started.elapsed();
    let started = Instant::now();
    store.analyze().await.context("ANALYZE")?;
    let analyze_time = started.elapsed();
    println!(
        "loaded {} leads in {:.1} s ({} rows/s), ANALYZE {:.1} s",
        count(args.leads),
        leads_time.as_secs_f64(),
        count(per_second(args.leads, leads_time)),
        analyze_time.as_secs_f64()
    );
    Ok(LoadTimes { accounts: accounts_time, leads: leads_time, analyze: analyze_time })
}

fn per_second(rows: usize, elapsed: Duration) -> u64 {
    (rows as f64 / elapsed.as_secs_f64().max(1e-9)).round() as u64
}

/// A temporary data directory, deleted on drop.
struct TempDir(PathBuf);

impl TempDir {
    /// The directory a bench works in: the one given (kept), or a new temporary one (deleted
    /// when the returned guard is dropped).
    fn or_given(given: Option<&PathBuf>) -> anyhow::Result<(PathBuf, Option<Self>)> {
        match given {
            Some(dir) => Ok((dir.clone(), None)),
            None => {
                let temp = Self::new()?;
                Ok((temp.0.clone(), Some(temp)))
            }
        }
    }

    fn new() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("hatake-bench-{}-{}", std::process::id(), hatake_web::now_millis()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("warning: cannot delete {}: {e}", self.0.display());
        }
    }
}
