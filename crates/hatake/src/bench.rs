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

use anyhow::{anyhow, bail, Context};
use hatake_domain::{NewUser, ProductInput, RequiredFieldSet};
use hatake_store::Store;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    let (dir, temp) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = TempDir::new()?;
            (temp.0.clone(), Some(temp))
        }
    };
    println!(
        "hatake bench ui: SQLite, {} leads, {} companies, {cores} cores, {} connections, {} s × {} rounds per scenario",
        thousands(args.leads as u64),
        thousands(args.companies as u64),
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
    let state = hatake_web::AppState::new(
        store.clone(),
        hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into() },
    )
    .map_err(|e| anyhow!("templates: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hatake_web::serve(listener, state, async move {
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
    let user = |email: &'static str, name: &'static str, role: &'static str| {
        let hash = hash.clone();
        async move {
            if let Some(row) = store.find_user_by_email(email).await? {
                return anyhow::Ok(row.id);
            }
            let new = NewUser::parse(email, name, role, PASSWORD).map_err(|e| anyhow!("bench user {email}: {e}"))?;
            Ok(store.create_user(&new, &hash, now).await?.id)
        }
    };
    let admin = user(ADMIN_EMAIL, "管理 太郎", "admin").await?;
    let mut owners = Vec::new();
    for (email, name) in OWNERS {
        owners.push(user(email, name, "field_sales").await?);
    }
    let existing = store.list_products().await?;
    let mut products = Vec::new();
    for (code, name) in PRODUCTS {
        let id = match existing.iter().find(|p| p.code == *code) {
            Some(p) => p.id,
            None => {
                let input = ProductInput {
                    code: Some((*code).into()),
                    name: Some((*name).into()),
                    description: None,
                    active: Some(true),
                };
                let data = input.validate().map_err(|e| anyhow!("bench product: {e}"))?;
                store.create_product(&data, now).await?.id
            }
        };
        products.push(id);
    }

    if reuse {
        println!(
            "reusing the loaded data ({} leads, {} companies)",
            thousands(args.leads as u64),
            thousands(u64::try_from(overview.accounts).unwrap_or(0))
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
        thousands(args.companies as u64),
        accounts_time.as_secs_f64(),
        thousands(per_second(args.companies, accounts_time))
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
                    .map(|lead| {
                        let mut data = lead.data;
                        data.account_id = lead.account_index.map(|i| account_ids[i]);
                        let is_lead = required.is_lead(&data);
                        (data, is_lead)
                    })
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
                thousands(done as u64),
                thousands(args.leads as u64),
                elapsed.as_secs_f64(),
                thousands(per_second(done, elapsed)),
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
        thousands(args.leads as u64),
        leads_time.as_secs_f64(),
        thousands(per_second(args.leads, leads_time)),
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

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// What one scenario requests: a fixed set of paths rotated per request, or random lead pages.
#[derive(Debug, Clone)]
enum Paths {
    /// (variant, path)
    Rotate(Vec<(usize, String)>),
    /// `/leads/{id}` with `id` uniform in `1..=max`.
    LeadDetail { max: i64 },
}

#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    /// Names of the variants the paths fall into (for a per-variant breakdown).
    variants: Vec<&'static str>,
    paths: Paths,
    /// Whether this is the baseline rather than a page with a target.
    baseline: bool,
}

impl Paths {
    fn pick(&self, rng: &mut SmallRng, counter: usize) -> (usize, String) {
        match self {
            Paths::Rotate(paths) => paths[counter % paths.len()].clone(),
            Paths::LeadDetail { max } => (0, format!("/leads/{}", rng.gen_range(1..=*max))),
        }
    }

    fn first(&self) -> (usize, String) {
        match self {
            Paths::Rotate(paths) => paths[0].clone(),
            Paths::LeadDetail { max } => (0, format!("/leads/{}", (max + 1) / 2)),
        }
    }
}

fn scenarios(ids: &Ids, leads: usize) -> Vec<Scenario> {
    let tokyo = encode("東京都");
    let osaka = encode("大阪府");
    let mut filtered = Vec::new();
    for owner in &ids.owners {
        filtered.push((0, format!("/leads?kind=lead&owner={owner}&prefecture={tokyo}")));
    }
    for product in &ids.products {
        filtered.push((1, format!("/leads?product={product}")));
        filtered.push((2, format!("/leads?kind=lead&product={product}&prefecture={osaka}")));
    }
    let mut search = Vec::new();
    for surname in SURNAMES {
        let variant = if surname.chars().count() == 1 { 1 } else { 0 };
        search.push((variant, format!("/leads?q={}", encode(surname))));
    }
    for fragment in COMPANY_FRAGMENTS {
        search.push((2, format!("/leads?q={}", encode(fragment))));
    }
    vec![
        Scenario {
            name: "/healthz (baseline)",
            variants: vec!["healthz"],
            paths: Paths::Rotate(vec![(0, "/healthz".into())]),
            baseline: true,
        },
        Scenario {
            name: "lead list, first page",
            variants: vec!["/leads"],
            paths: Paths::Rotate(vec![(0, "/leads".into())]),
            baseline: false,
        },
        Scenario {
            name: "lead list, filtered",
            variants: vec!["kind=lead&owner&prefecture=東京都", "product", "kind=lead&product&prefecture=大阪府"],
            paths: Paths::Rotate(interleave(filtered)),
            baseline: false,
        },
        Scenario {
            name: "lead list, search",
            variants: vec!["surname (2+ chars)", "surname (1 char)", "company name"],
            paths: Paths::Rotate(search),
            baseline: false,
        },
        Scenario {
            name: "lead detail",
            variants: vec!["/leads/{id}"],
            paths: Paths::LeadDetail { max: leads as i64 },
            baseline: false,
        },
    ]
}

/// Reorders paths so consecutive requests alternate between variants.
fn interleave(mut paths: Vec<(usize, String)>) -> Vec<(usize, String)> {
    let mut position = std::collections::HashMap::<usize, usize>::new();
    let mut keyed: Vec<(usize, usize, (usize, String))> = paths
        .drain(..)
        .map(|p| {
            let n = position.entry(p.0).or_default();
            *n += 1;
            (*n, p.0, p)
        })
        .collect();
    keyed.sort_by_key(|(n, variant, _)| (*n, *variant));
    keyed.into_iter().map(|(_, _, p)| p).collect()
}

/// Percent-encodes a query-string value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// One scenario's figures in one round.
#[derive(Debug, Clone)]
struct Figures {
    requests: u64,
    per_second: f64,
    median: f64,
    p95: f64,
    p99: f64,
    /// Per variant: (requests, median, p95).
    variants: Vec<(u64, f64, f64)>,
}

/// All rounds: `rounds[round][scenario]`.
type Rounds = Vec<Vec<Figures>>;

async fn measure(client: &Client, scenarios: &[Scenario], args: &UiBenchArgs) -> anyhow::Result<Rounds> {
    // One request per scenario first: fail early, and show what is being served.
    println!();
    println!("pages served (first path of each scenario):");
    for scenario in scenarios {
        let (_, path) = scenario.paths.first();
        let started = Instant::now();
        let body = client.fetch_once(&path).await.with_context(|| format!("GET {path}"))?;
        let text = String::from_utf8_lossy(&body);
        let list = path.starts_with("/leads?") || path == "/leads";
        let rows = if list { text.matches("<td><a href=\"/leads/").count() } else { 0 };
        println!(
            "  {:<24} {:<58} {:>7} bytes  {:>8.2} ms{}",
            scenario.name,
            path,
            body.len(),
            started.elapsed().as_secs_f64() * 1000.0,
            if list { format!("  {rows} rows") } else { String::new() }
        );
        if list && rows == 0 {
            bail!("GET {path} returned a page without lead rows; the benchmark would measure an empty result");
        }
    }
    println!();
    println!("warming up ({} s per scenario, not recorded) …", WARM_UP.as_secs());
    for scenario in scenarios {
        run_load(client, scenario, args.concurrency, WARM_UP, u64::MAX).await?;
    }

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        println!();
        println!("round {}/{}", round + 1, args.rounds);
        println!(
            "  {:<24} {:>9} {:>9} {:>10} {:>10} {:>10}",
            "scenario", "requests", "req/s", "median ms", "p95 ms", "p99 ms"
        );
        let mut figures = Vec::new();
        for (index, scenario) in scenarios.iter().enumerate() {
            let seed = (round * scenarios.len() + index) as u64;
            let sample = run_load(client, scenario, args.concurrency, Duration::from_secs(args.seconds), seed).await?;
            let f = sample.figures(scenario.variants.len());
            println!(
                "  {:<24} {:>9} {:>9.1} {:>10.2} {:>10.2} {:>10.2}",
                scenario.name, f.requests, f.per_second, f.median, f.p95, f.p99
            );
            if scenario.variants.len() > 1 {
                for (name, (n, median, p95)) in scenario.variants.iter().zip(&f.variants) {
                    println!("    {:<42} {:>9} {:>20.2} {:>10.2}", name, n, median, p95);
                }
            }
            figures.push(f);
        }
        rounds.push(figures);
    }
    Ok(rounds)
}

/// Latencies of one scenario run.
struct Sample {
    /// (nanoseconds, variant)
    latencies: Vec<(u64, usize)>,
    elapsed: Duration,
}

impl Sample {
    fn figures(&self, variants: usize) -> Figures {
        let mut all: Vec<u64> = self.latencies.iter().map(|(ns, _)| *ns).collect();
        all.sort_unstable();
        let variants = (0..variants)
            .map(|v| {
                let mut some: Vec<u64> = self.latencies.iter().filter(|(_, x)| *x == v).map(|(ns, _)| *ns).collect();
                some.sort_unstable();
                (some.len() as u64, percentile(&some, 0.50), percentile(&some, 0.95))
            })
            .collect();
        Figures {
            requests: all.len() as u64,
            per_second: all.len() as f64 / self.elapsed.as_secs_f64(),
            median: percentile(&all, 0.50),
            p95: percentile(&all, 0.95),
            p99: percentile(&all, 0.99),
            variants,
        }
    }
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

/// Runs `concurrency` connections against one scenario for `duration`, on a single-threaded
/// runtime of its own (on a blocking-pool thread), and fails on any error or non-200 status.
async fn run_load(
    client: &Client,
    scenario: &Scenario,
    concurrency: usize,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Sample> {
    let client = client.clone();
    let paths = Arc::new(scenario.paths.clone());
    let name = scenario.name;
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let started = Instant::now();
            let deadline = started + duration;
            let mut tasks = tokio::task::JoinSet::new();
            for worker in 0..concurrency {
                let client = client.clone();
                let paths = paths.clone();
                let rng = SmallRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(worker as u64));
                tasks.spawn(async move { client.worker(&paths, worker, rng, deadline).await });
            }
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            while let Some(joined) = tasks.join_next().await {
                let outcome = joined.map_err(|e| anyhow!("load task failed: {e}"))?;
                latencies.extend(outcome.latencies);
                errors += outcome.errors;
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
            }
            let elapsed = started.elapsed();
            if errors > 0 {
                bail!(
                    "{name}: {errors} failed request(s) out of {}; first: {}",
                    latencies.len() + errors,
                    first_error.unwrap_or_default()
                );
            }
            if latencies.is_empty() {
                bail!("{name}: no request completed");
            }
            Ok(Sample { latencies, elapsed })
        })
    })
    .await
    .map_err(|e| anyhow!("load generator thread failed: {e}"))?
}

/// What one connection did.
struct WorkerOutcome {
    latencies: Vec<(u64, usize)>,
    errors: usize,
    first_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Client {
    addr: std::net::SocketAddr,
    cookie: String,
}

impl Client {
    fn request(&self, path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: text/html\r\nUser-Agent: hatake-bench\r\n\r\n",
            self.addr, self.cookie
        )
        .into_bytes()
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// One request on a new connection; the body of a 200 response.
    async fn fetch_once(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let mut stream = self.connect().await?;
        let mut buffer = Vec::new();
        let response = read_exchange(&mut stream, &mut buffer, &self.request(path)).await?;
        if response.status != 200 {
            bail!("status {}: {}", response.status, snippet(&response.body));
        }
        Ok(response.body)
    }

    /// One keep-alive connection sending requests until `deadline`. Stops at the first error.
    async fn worker(&self, paths: &Paths, worker: usize, mut rng: SmallRng, deadline: Instant) -> WorkerOutcome {
        let mut outcome = WorkerOutcome { latencies: Vec::new(), errors: 0, first_error: None };
        let mut stream: Option<TcpStream> = None;
        let mut buffer = Vec::with_capacity(256 * 1024);
        // Each connection starts at a different place in the rotation.
        let mut counter = worker * 7;
        while Instant::now() < deadline {
            let (variant, path) = paths.pick(&mut rng, counter);
            counter += 1;
            let request = self.request(&path);
            let started = Instant::now();
            if stream.is_none() {
                match self.connect().await {
                    Ok(s) => stream = Some(s),
                    Err(e) => {
                        fail(&mut outcome, format!("connect: {e}"));
                        break;
                    }
                }
            }
            let Some(conn) = stream.as_mut() else { break };
            match read_exchange(conn, &mut buffer, &request).await {
                Ok(response) => {
                    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    if response.status != 200 {
                        fail(
                            &mut outcome,
                            format!("GET {path}: status {}: {}", response.status, snippet(&response.body)),
                        );
                        break;
                    }
                    outcome.latencies.push((nanos, variant));
                    if response.close {
                        stream = None;
                    }
                }
                Err(e) => {
                    fail(&mut outcome, format!("GET {path}: {e:#}"));
                    break;
                }
            }
        }
        outcome
    }
}

fn fail(outcome: &mut WorkerOutcome, message: String) {
    outcome.errors += 1;
    outcome.first_error.get_or_insert(message);
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

struct Response {
    status: u16,
    body: Vec<u8>,
    /// The server will close the connection after this response.
    close: bool,
}

/// Writes one request and reads its whole response (headers and a `Content-Length`, chunked
/// or close-delimited body).
async fn read_exchange(stream: &mut TcpStream, buffer: &mut Vec<u8>, request: &[u8]) -> anyhow::Result<Response> {
    stream.write_all(request).await.context("writing the request")?;
    buffer.clear();
    let header_end = loop {
        if let Some(at) = find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        if read_more(stream, buffer).await? == 0 {
            bail!("connection closed before the response headers ({} bytes read)", buffer.len());
        }
    };
    let head = std::str::from_utf8(&buffer[..header_end]).context("response headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 =
        parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().with_context(|| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body = if chunked {
        read_chunked(stream, buffer, header_end).await?
    } else if let Some(length) = content_length {
        while buffer.len() < header_end + length {
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed after {} of {length} body bytes", buffer.len() - header_end);
            }
        }
        buffer[header_end..header_end + length].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        // Delimited by the end of the connection.
        while read_more(stream, buffer).await? > 0 {}
        close = true;
        buffer[header_end..].to_vec()
    };
    Ok(Response { status, body, close })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<usize> {
    let mut chunk = [0u8; 64 * 1024];
    let n = stream.read(&mut chunk).await.context("reading the response")?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body that starts at `at` in `buffer`, reading more as needed.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>, mut at: usize) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = find(&buffer[at..], b"\r\n") {
                break at + end;
            }
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed inside a chunked body");
            }
        };
        let line = std::str::from_utf8(&buffer[at..line_end]).context("chunk size is not UTF-8")?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).with_context(|| format!("bad chunk size {line:?}"))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers (if any), then an empty line.
            loop {
                if let Some(end) = find(&buffer[at..], b"\r\n") {
                    if end == 0 {
                        return Ok(body);
                    }
                    at += end + 2;
                    continue;
                }
                if read_more(stream, buffer).await? == 0 {
                    bail!("connection closed inside chunked trailers");
                }
            }
        }
        while buffer.len() < at + size + 2 {
            if read_more(stream, buffer).await? == 0 {
                bail!("connection closed inside a chunk");
            }
        }
        body.extend_from_slice(&buffer[at..at + size]);
        at += size + 2;
    }
}

// ---------------------------------------------------------------------------------------------
// Report.

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn report(rounds: &Rounds, scenarios: &[Scenario], args: &UiBenchArgs, cores: usize, ids: &Ids) {
    let over_rounds = |scenario: usize, pick: &dyn Fn(&Figures) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(|r| pick(&r[scenario])).collect();
        median(&mut values)
    };
    let baseline = scenarios.iter().position(|s| s.baseline).unwrap_or(0);
    let baseline_p95 = over_rounds(baseline, &|f| f.p95);
    println!();
    println!(
        "summary: median over {} rounds — SQLite, {} leads, {} companies, {cores} cores (available_parallelism), \
         {} connections, {} s per scenario and round",
        args.rounds,
        thousands(args.leads as u64),
        thousands(args.companies as u64),
        args.concurrency,
        args.seconds
    );
    if let Some(load) = ids.load {
        println!(
            "load: companies {:.1} s, leads {:.1} s ({} rows/s), ANALYZE {:.1} s",
            load.accounts.as_secs_f64(),
            load.leads.as_secs_f64(),
            thousands(per_second(args.leads, load.leads)),
            load.analyze.as_secs_f64()
        );
    } else {
        println!("load: reused the data loaded by an earlier run");
    }
    println!();
    println!(
        "| scenario | requests | req/s | median ms | p95 ms | p99 ms | p95 vs {TARGET_P95_MS:.0} ms | p95 / baseline |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|");
    let mut misses = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let p95 = over_rounds(index, &|f: &Figures| f.p95);
        let verdict = if scenario.baseline {
            "baseline".to_owned()
        } else if p95 < TARGET_P95_MS {
            "PASS".to_owned()
        } else {
            misses.push(scenario.name);
            "MISS".to_owned()
        };
        let ratio = if scenario.baseline { "1.0×".to_owned() } else { format!("{:.1}×", p95 / baseline_p95) };
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {verdict} | {ratio} |",
            scenario.name,
            over_rounds(index, &|f: &Figures| f.requests as f64),
            over_rounds(index, &|f: &Figures| f.per_second),
            over_rounds(index, &|f: &Figures| f.median),
            p95,
            over_rounds(index, &|f: &Figures| f.p99),
        );
        if scenario.variants.len() > 1 {
            for (v, name) in scenario.variants.iter().enumerate() {
                println!(
                    "| &nbsp;&nbsp;↳ {name} | {:.0} | | {:.2} | {:.2} | | | |",
                    over_rounds(index, &move |f: &Figures| f.variants[v].0 as f64),
                    over_rounds(index, &move |f: &Figures| f.variants[v].1),
                    over_rounds(index, &move |f: &Figures| f.variants[v].2),
                );
            }
        }
    }
    println!();
    if misses.is_empty() {
        println!("every page's p95 is under the {TARGET_P95_MS:.0} ms target");
    } else {
        println!("MISS: p95 at or over {TARGET_P95_MS:.0} ms for: {}", misses.join(", "));
    }
}

fn reproduce(args: &UiBenchArgs) -> String {
    let mut out = format!(
        "hatake bench ui --leads {} --companies {} --concurrency {} --seconds {} --rounds {}",
        args.leads, args.companies, args.concurrency, args.seconds, args.rounds
    );
    if let Some(dir) = &args.data_dir {
        out.push_str(&format!(" --data-dir {}", shell_quote(dir)));
    }
    out
}

fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:,=@".contains(&b)) {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// 1234567 → "1,234,567".
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let groups: Vec<&str> =
        digits.as_bytes().rchunks(3).rev().map(|group| std::str::from_utf8(group).unwrap_or_default()).collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        assert_eq!(percentile(&ns, 0.50), 50.0);
        assert_eq!(percentile(&ns, 0.95), 95.0);
        assert_eq!(percentile(&ns, 0.99), 99.0);
        assert_eq!(percentile(&ns[..1], 0.95), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn medians_and_formatting() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(encode("東京都"), "%E6%9D%B1%E4%BA%AC%E9%83%BD");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn paths_interleave_variants() {
        let paths = interleave(vec![(0, "a".into()), (0, "b".into()), (1, "c".into()), (1, "d".into())]);
        let variants: Vec<usize> = paths.iter().map(|p| p.0).collect();
        assert_eq!(variants, vec![0, 1, 0, 1]);
    }

    /// A server that answers each request with the next canned response, on one connection.
    async fn canned(responses: Vec<&'static str>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for response in responses {
                while find(&seen, b"\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 1024];
                    let n = socket.read(&mut chunk).await.unwrap();
                    seen.extend_from_slice(&chunk[..n]);
                }
                let end = find(&seen, b"\r\n\r\n").unwrap() + 4;
                seen.drain(..end);
                socket.write_all(response.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_sized_chunked_and_error_responses_on_one_connection() {
        let addr = canned(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-a: b\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops",
        ])
        .await;
        let client = Client { addr, cookie: "hatake_session=x".into() };
        let mut stream = client.connect().await.unwrap();
        let mut buffer = Vec::new();
        let first = read_exchange(&mut stream, &mut buffer, &client.request("/a")).await.unwrap();
        assert_eq!((first.status, first.body.as_slice(), first.close), (200, &b"hello"[..], false));
        let second = read_exchange(&mut stream, &mut buffer, &client.request("/b")).await.unwrap();
        assert_eq!((second.status, second.body.as_slice(), second.close), (200, &b"abcde"[..], false));
        let third = read_exchange(&mut stream, &mut buffer, &client.request("/c")).await.unwrap();
        assert_eq!((third.status, third.body.as_slice(), third.close), (500, &b"oops"[..], true));
    }

    #[tokio::test]
    async fn a_non_200_status_fails_the_scenario() {
        let addr = canned(vec!["HTTP/1.1 303 See Other\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"]).await;
        let client = Client { addr, cookie: "hatake_session=x".into() };
        let scenario = Scenario {
            name: "test",
            variants: vec!["only"],
            paths: Paths::Rotate(vec![(0, "/leads".into())]),
            baseline: false,
        };
        let error = run_load(&client, &scenario, 1, Duration::from_secs(5), 0).await.err().expect("must fail");
        let message = format!("{error:#}");
        assert!(message.contains("1 failed request") && message.contains("status 303"), "{message}");
    }
}
