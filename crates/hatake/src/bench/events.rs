//! `hatake bench events`: how fast the event log takes and shows behaviour on SQLite, with a
//! million leads and ten million events stored (issue 4).
//!
//! Measures, each round, with a baseline of the same run next to each figure:
//! 1. **raw append** — the rows of the API scenario (leads resolved, keys of their own) appended
//!    straight through `EventStore::append_events`, one call per request's worth of events:
//!    the baseline of
//! 2. **API ingestion** — `POST /api/v1/events` over loopback from keep-alive connections, each
//!    request a batch of events naming their lead by id or by e-mail (looked up by the server),
//!    answered after the commit; as NDJSON and as a JSON array with time-ordered idempotency keys,
//!    and as NDJSON with random keys;
//! 3. **tracking hits** — `GET /t/p.gif` from `wrk` (or, without it, this module's own load
//!    generator) with browser user agents and returning visitors, next to `GET /healthz`;
//! 4. **timeline** — a random lead's newest 50 events, as the store call (next to `get_lead`)
//!    and as the lead page `GET /leads/{id}` (next to `/healthz`).
//!
//! The data set is built once per `--data-dir` (reused by later runs): users, products, the
//! demo generator's companies and people, then the events, appended in large batches through
//! the store (bypassing the API), some of them anonymous page views of web visitors, some of
//! those visitors linked to their lead.

use super::report::count;
use super::{per_second, TempDir};
use crate::demo::{ensure_product, ensure_user};
use anyhow::{anyhow, bail, Context};
use hatake_domain::RequiredFieldSet;
use hatake_engine::runtime::{Clock, Standard};
use hatake_store::{EventQuery, NewEvent, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The seed of the synthetic data.
const SEED: u64 = 20_261_122;
/// Settings recording what a data directory holds, so a re-run reuses it.
const LEADS_MARKER: &str = "bench.events.leads";
const EVENTS_DONE: &str = "bench.events.preloaded";
/// Leads per store call while loading, and events per store call while preloading.
const LEAD_BATCH: usize = 20_000;
const PRELOAD_BATCH: usize = 100_000;
/// Web visitors of the preloaded page views and of the tracking hits ("bv{n}").
const VISITORS: u64 = 500_000;
/// Leads whose e-mail addresses the API scenario uses: chunks of this many at random places.
const SAMPLE_CHUNKS: usize = 200;
const SAMPLE_CHUNK: usize = 500;
const PASSWORD: &str = "hatake-bench-2026";
const ADMIN_EMAIL: &str = "admin@hatake-bench.jp";
const PRODUCTS: &[(&str, &str)] =
    &[("erp", "クラウドERP"), ("kintai", "勤怠管理SaaS"), ("security", "セキュリティ診断")];
const BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
/// Most events the API takes in one request.
const MAX_BATCH: usize = 10_000;
/// API events happened within this long before they are sent.
const API_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;
/// Targets of issue 4.
const TARGET_EVENTS_PER_SECOND: f64 = 100_000.0;
const TARGET_HITS_PER_SECOND: f64 = 10_000.0;
const TARGET_HIT_P99_MS: f64 = 20.0;
const TARGET_TIMELINE_P95_MS: f64 = 10.0;

/// `hatake bench events`: ingestion, tracking and timelines with millions of events.
#[derive(Debug, Clone, clap::Args)]
pub struct EventsBenchArgs {
    /// Leads to load (the events are spread over them).
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: usize,
    /// Events stored before measuring.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: usize,
    /// Data directory to use and keep (reused when it holds the same leads; events are added
    /// up to --events). Without it, a temporary directory is used and deleted at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds per scenario and round.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rounds; the summary quotes medians over rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Concurrent connections sending event batches.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Events per API request (and per raw append call).
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Concurrent connections sending tracking hits as fast as they are answered (`wrk`).
    #[arg(long, default_value_t = 64)]
    pub hit_connections: usize,
    /// Connections sending tracking hits at 10,000 per second (open loop): visitors' browsers,
    /// each sending now and then.
    #[arg(long, default_value_t = 256)]
    pub rate_connections: usize,
    /// Drive tracking hits with this module's load generator even when `wrk` is installed.
    #[arg(long)]
    pub no_wrk: bool,
    /// Only these scenarios (comma-separated: raw, api, tracking, timeline), for development.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl EventsBenchArgs {
    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// Runs the events benchmark and prints the results.
///
/// # Errors
/// When loading or serving fails, or a request gets an unexpected answer.
pub async fn run(args: EventsBenchArgs) -> anyhow::Result<()> {
    if [args.leads, args.events, args.rounds, args.concurrency, args.batch, args.hit_connections, args.rate_connections]
        .contains(&0)
        || args.seconds == 0
    {
        bail!(
            "--leads, --events, --seconds, --rounds, --concurrency, --batch and --hit-connections must be at least 1"
        );
    }
    if args.batch > MAX_BATCH {
        bail!("--batch may be at most {MAX_BATCH} (the API's limit per request)");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (dir, _temp) = TempDir::or_given(args.data_dir.as_ref())?;
    println!(
        "hatake bench events: SQLite, {} leads, {} events stored first, {cores} cores; {} s × {} rounds per scenario",
        count(args.leads),
        count(args.events),
        args.seconds,
        args.rounds
    );
    println!("data directory: {}{}", dir.display(), if _temp.is_some() { " (temporary)" } else { "" });
    let store: Arc<dyn Store> = Arc::new(
        hatake_sqlite::SqliteStore::open(&dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", dir.display()))?,
    );
    let world = prepare(store.as_ref(), &args).await?;
    println!("database file: {} MB", database_megabytes(&dir));

    let served = crate::serve::Server::start(
        store.clone(),
        hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into(), ..Default::default() },
        Clock::system(),
        Standard::default(),
    )?;
    let runtime = served.runtime.handle();
    let writer = runtime.events();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(served.serve(listener, async move {
        let _ = stopped.await;
    }));
    let now = hatake_web::now_millis();
    let api_token = format!("{}{}", hatake_web::auth::API_TOKEN_PREFIX, hatake_web::auth::random_token());
    store
        .create_api_token("bench", &hatake_web::auth::token_hash(&api_token), &api_token[..10], world.admin, now)
        .await
        .context("creating the bench API token")?;
    let session = hatake_web::auth::random_token();
    store
        .create_session(
            &hatake_web::auth::token_hash(&session),
            world.admin,
            &hatake_web::auth::random_token(),
            now,
            now + 24 * 3600 * 1000,
        )
        .await
        .context("creating the bench session")?;
    let cookie = format!("{}={session}", hatake_web::auth::SESSION_COOKIE);
    let wrk = if args.no_wrk { None } else { find_wrk() };

    let world = Arc::new(world);
    let mut rounds = Vec::new();
    let result: anyhow::Result<()> = async {
        for round in 0..args.rounds {
            println!();
            println!("round {}/{}", round + 1, args.rounds);
            rounds.push(
                measure_round(round, &args, &world, store.as_ref(), writer, addr, &api_token, &cookie, wrk.as_deref())
                    .await?,
            );
        }
        Ok(())
    }
    .await;

    let _ = stop.send(());
    let _ = store.delete_session(&hatake_web::auth::token_hash(&session)).await;
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("warning: the server stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("warning: the server task failed: {e}"),
        Err(_) => eprintln!("warning: the server did not stop within 10 s"),
    }
    result?;
    summary(&rounds, &args, cores, &world, wrk.is_some(), &dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Data.

/// What the scenarios need to know about the data set.
pub(crate) struct World {
    pub(crate) admin: i64,
    pub(crate) products: Vec<i64>,
    pub(crate) leads: i64,
    /// (lead id, e-mail) of leads with an address, in chunks spread over the leads.
    pub(crate) sample: Vec<(i64, String)>,
    /// Events stored before the first round.
    pub(crate) events: usize,
    /// How long before the request an API event happened: uniform over this many ms (0: now).
    pub(crate) window_ms: i64,
}

async fn prepare(store: &dyn Store, args: &EventsBenchArgs) -> anyhow::Result<World> {
    let companies = (args.leads / 20).max(1);
    let marker = format!("seed={SEED} leads={} companies={companies}", args.leads);
    let overview = store.overview().await?;
    let loaded = store.get_setting(LEADS_MARKER).await?;
    let reuse = loaded.as_deref() == Some(marker.as_str()) && overview.leads == args.leads as i64;
    if !reuse && (overview.leads > 0 || overview.accounts > 0) {
        bail!(
            "the data directory holds other data ({} leads; bench marker: {}); use an empty or new --data-dir",
            overview.leads,
            loaded.as_deref().unwrap_or("none")
        );
    }
    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let admin = ensure_user(store, ADMIN_EMAIL, "管理 太郎", "admin", PASSWORD, &hash, now).await?;
    let existing = store.list_products().await?;
    let mut products = Vec::new();
    for (code, name) in PRODUCTS {
        products.push(ensure_product(store, &existing, code, name, None, now).await?);
    }
    if reuse {
        println!("reusing the loaded leads ({})", count(args.leads));
    } else {
        load_leads(store, args.leads, companies, &products).await?;
        store.put_setting(LEADS_MARKER, &marker, hatake_web::now_millis()).await?;
    }
    let leads = args.leads as i64;
    // Lead ids are 1..=leads in a directory the bench filled: check both ends.
    let ends = store.existing_lead_ids(&[1, leads]).await?;
    if ends.len() != 2 {
        bail!("the leads of the data directory are not numbered 1..={leads}; use a new --data-dir");
    }
    let sample = sample_leads(store, args.leads, companies, &products).await?;
    let done: usize = store.get_setting(EVENTS_DONE).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    if done < args.events {
        preload_events(store, done, args.events, leads, &products).await?;
    } else {
        println!("reusing the stored events ({}; --events {})", count(done), count(args.events));
    }
    Ok(World { admin, products, leads, sample, events: done.max(args.events), window_ms: API_WINDOW_MS })
}

pub(crate) async fn load_leads(
    store: &dyn Store,
    leads: usize,
    companies: usize,
    products: &[i64],
) -> anyhow::Result<()> {
    let now = hatake_web::now_millis();
    let started = Instant::now();
    let accounts: Vec<hatake_domain::AccountData> =
        crate::demo_data::generate(SEED, companies, 0, products, &[]).accounts.into_iter().map(|a| a.data).collect();
    let account_ids = Arc::new(store.bulk_insert_accounts(&accounts, now).await.context("storing the companies")?);
    drop(accounts);
    println!("loaded {} companies in {:.1} s", count(companies), started.elapsed().as_secs_f64());
    let generate = |start: usize, n: usize| {
        let (products, account_ids) = (products.to_vec(), account_ids.clone());
        tokio::task::spawn_blocking(move || {
            let required = RequiredFieldSet::default();
            crate::demo_data::leads_batch(SEED, start, n, companies, &products, &[])
                .into_iter()
                .map(|lead| lead.into_stored(&account_ids, &required))
                .collect::<Vec<_>>()
        })
    };
    let started = Instant::now();
    let mut done = 0;
    let mut pending = Some(generate(0, LEAD_BATCH.min(leads)));
    while let Some(handle) = pending.take() {
        let batch = handle.await.context("generating leads")?;
        let from = done;
        done += batch.len();
        if done < leads {
            pending = Some(generate(done, LEAD_BATCH.min(leads - done)));
        }
        store.bulk_insert_leads(&batch, now).await.with_context(|| format!("storing leads {from}..{done}"))?;
        if done % 200_000 == 0 || done == leads {
            println!("  {:>11} / {} leads  {:6.1} s", count(done), count(leads), started.elapsed().as_secs_f64());
        }
    }
    let analyze = Instant::now();
    store.analyze().await.context("ANALYZE")?;
    println!(
        "loaded {} leads in {:.1} s ({} rows/s), ANALYZE {:.1} s",
        count(leads),
        started.elapsed().as_secs_f64(),
        count(per_second(leads, started.elapsed())),
        analyze.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The e-mail addresses of leads in [`SAMPLE_CHUNKS`] chunks at random places, with the ids
/// the store gives them (so the mapping is the database's own).
pub(crate) async fn sample_leads(
    store: &dyn Store,
    leads: usize,
    companies: usize,
    products: &[i64],
) -> anyhow::Result<Vec<(i64, String)>> {
    let started = Instant::now();
    let products = products.to_vec();
    let emails = tokio::task::spawn_blocking(move || {
        let mut rng = SmallRng::seed_from_u64(SEED ^ 0x5a5a);
        let chunk = SAMPLE_CHUNK.min(leads);
        let mut emails = Vec::new();
        for _ in 0..SAMPLE_CHUNKS.min(leads / chunk) {
            let start = rng.gen_range(0..=leads - chunk);
            for lead in crate::demo_data::leads_batch(SEED, start, chunk, companies, &products, &[]) {
                if let Some(email) = lead.data.email {
                    emails.push(email.as_str().to_owned());
                }
            }
        }
        emails.sort_unstable();
        emails.dedup();
        emails
    })
    .await?;
    let sample = store.lead_ids_by_email(&emails).await?;
    if sample.is_empty() {
        bail!("none of the sampled e-mail addresses is stored");
    }
    let sample = sample.into_iter().map(|(email, id)| (id, email)).collect::<Vec<_>>();
    println!(
        "sampled {} leads' e-mail addresses for the API scenario in {:.1} s",
        count(sample.len()),
        started.elapsed().as_secs_f64()
    );
    Ok(sample)
}

/// Appends events `from..to` of the synthetic history (deterministic: a resumed load goes on
/// where the last one stopped; the setting [`EVENTS_DONE`] counts them).
async fn preload_events(store: &dyn Store, from: usize, to: usize, leads: i64, products: &[i64]) -> anyhow::Result<()> {
    preload_events_with(store, from, to, leads, products, EVENTS_DONE, history_event).await
}

/// Appends events `from..to` made by `make(index, leads, products, now)` in batches, counting
/// them in the setting `done_setting` (so an interrupted load resumes).
pub(crate) async fn preload_events_with(
    store: &dyn Store,
    from: usize,
    to: usize,
    leads: i64,
    products: &[i64],
    done_setting: &str,
    make: fn(usize, i64, &[i64], i64) -> NewEvent,
) -> anyhow::Result<()> {
    println!("storing events {}..{} (in batches of {}) …", count(from), count(to), count(PRELOAD_BATCH));
    let now = hatake_web::now_millis();
    let products = products.to_vec();
    let generate = move |start: usize, n: usize| {
        let products = products.clone();
        tokio::task::spawn_blocking(move || {
            (start..start + n).map(|index| make(index, leads, &products, now)).collect::<Vec<_>>()
        })
    };
    let started = Instant::now();
    let mut done = from;
    let mut pending = Some(generate(done, PRELOAD_BATCH.min(to - done)));
    let mut storing = Duration::ZERO;
    while let Some(handle) = pending.take() {
        let batch = handle.await.context("generating events")?;
        let end = done + batch.len();
        if end < to {
            pending = Some(generate(end, PRELOAD_BATCH.min(to - end)));
        }
        let write = Instant::now();
        store.append_events(&batch, now).await.with_context(|| format!("storing events {done}..{end}"))?;
        storing += write.elapsed();
        done = end;
        store.put_setting(done_setting, &done.to_string(), hatake_web::now_millis()).await?;
        if (done - from) % 1_000_000 < PRELOAD_BATCH || done == to {
            let elapsed = started.elapsed();
            println!(
                "  {:>11} / {} events  {:6.1} s  {} events/s  (store {:.1} s)",
                count(done),
                count(to),
                elapsed.as_secs_f64(),
                count(per_second(done - from, elapsed)),
                storing.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Event `index` of the stored history: over the last two years; 15% anonymous page views of a
/// web visitor, 1% form submissions that link their visitor to the lead, the rest a lead's
/// behaviour with a time-ordered idempotency key.
fn history_event(index: usize, leads: i64, products: &[i64], now: i64) -> NewEvent {
    let mut rng = SmallRng::seed_from_u64(SEED.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64);
    let occurred_at = now - rng.gen_range(0..2 * 365 * 24 * 3600 * 1000_i64);
    let visitor = format!("bv{}", rng.gen_range(0..VISITORS));
    match rng.gen_range(0..100) {
        0..15 => NewEvent {
            kind: "page_view",
            lead_id: None,
            visitor_id: Some(visitor),
            product_id: None,
            occurred_at,
            source: Some("web".into()),
            name: None,
            properties: page_properties(rng.gen_range(0..50), rng.gen_range(0..20)),
            idempotency_key: None,
        },
        draw => {
            let lead = rng.gen_range(1..=leads);
            let (kind, properties) = behaviour(&mut rng);
            NewEvent {
                kind: if draw == 15 { "form_submit" } else { kind },
                lead_id: Some(lead),
                visitor_id: (draw == 15).then_some(visitor),
                product_id: rng.gen_bool(0.3).then(|| products[rng.gen_range(0..products.len())]),
                occurred_at,
                source: Some("bench".into()),
                name: None,
                properties,
                idempotency_key: Some(format!("pre-{index:012}")),
            }
        }
    }
}

fn page_properties(page: u32, campaign: u32) -> String {
    format!(
        "{{\"url\":\"https://www.example.co.jp/products/p{page}?utm_source=mail&utm_campaign=c{campaign}\",\
         \"utm_campaign\":\"c{campaign}\",\"utm_source\":\"mail\"}}"
    )
}

/// A kind of behaviour and its properties, as marketing sees them (page views and mail most).
fn behaviour(rng: &mut SmallRng) -> (&'static str, String) {
    const KINDS: [(&str, u32); 8] = [
        ("page_view", 40),
        ("mail_open", 25),
        ("mail_click", 15),
        ("download", 8),
        ("form_submit", 4),
        ("seminar_attendance", 3),
        ("call", 3),
        ("meeting", 2),
    ];
    let mut draw = rng.gen_range(0..100);
    let kind = KINDS
        .iter()
        .find(|(_, weight)| {
            if draw < *weight {
                true
            } else {
                draw -= weight;
                false
            }
        })
        .map_or("page_view", |(kind, _)| kind);
    let properties = match kind {
        "page_view" | "mail_click" => page_properties(rng.gen_range(0..50), rng.gen_range(0..20)),
        _ => format!("{{\"campaign\":\"c{}\"}}", rng.gen_range(0..20)),
    };
    (kind, properties)
}

pub(crate) fn database_megabytes(dir: &Path) -> u64 {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    (size(hatake_sqlite::DATABASE_FILE) + size(&format!("{}-wal", hatake_sqlite::DATABASE_FILE))) / 1_000_000
}

// ---------------------------------------------------------------------------------------------
// The events the API scenario sends, and the same rows for the raw append.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Time-ordered per connection (`api-…-{sequence}`), as a client's sequence or UUIDv7.
    Ordered,
    /// 128 random bits, as UUIDv4.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Ndjson,
    Json,
}

/// One event to send: its lead (by id, or by e-mail with the id the server will find).
struct Draw {
    lead: i64,
    email: Option<usize>,
    kind: &'static str,
    product: Option<i64>,
    occurred_at: i64,
    properties: String,
}

/// Draws API events: half name their lead by id (any lead), half by e-mail (a sampled lead),
/// within the last 30 days.
fn draw(rng: &mut SmallRng, world: &World, now: i64) -> Draw {
    let email = rng.gen_bool(0.5).then(|| rng.gen_range(0..world.sample.len()));
    let lead = match email {
        Some(i) => world.sample[i].0,
        None => rng.gen_range(1..=world.leads),
    };
    let (kind, properties) = behaviour(rng);
    Draw {
        lead,
        email,
        kind,
        product: rng.gen_bool(0.3).then(|| world.products[rng.gen_range(0..world.products.len())]),
        // Whole seconds: the API reads RFC 3339.
        occurred_at: (now - if world.window_ms > 0 { rng.gen_range(0..world.window_ms) } else { 0 }) / 1000 * 1000,
        properties,
    }
}

fn key(keys: Keys, rng: &mut SmallRng, prefix: &str, sequence: u64) -> String {
    match keys {
        Keys::Ordered => format!("{prefix}-{sequence:012}"),
        Keys::Random => format!("{:032x}", rng.gen::<u128>()),
    }
}

/// `2026-11-22T01:02:03Z` for milliseconds since the epoch (whole seconds).
fn rfc3339(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A request body of `n` events.
fn api_body(
    rng: &mut SmallRng,
    world: &World,
    n: usize,
    format: Format,
    keys: Keys,
    prefix: &str,
    next: &mut u64,
) -> Vec<u8> {
    let now = hatake_web::now_millis();
    let mut body = String::with_capacity(n * 260);
    if format == Format::Json {
        body.push('[');
    }
    for i in 0..n {
        let d = draw(rng, world, now);
        let key = key(keys, rng, prefix, *next);
        *next += 1;
        if format == Format::Json && i > 0 {
            body.push(',');
        }
        body.push_str("{\"kind\":\"");
        body.push_str(d.kind);
        match d.email {
            Some(e) => {
                let _ = write!(body, "\",\"email\":\"{}\"", world.sample[e].1);
            }
            None => {
                let _ = write!(body, "\",\"lead_id\":{}", d.lead);
            }
        }
        if let Some(product) = d.product {
            let _ = write!(body, ",\"product_id\":{product}");
        }
        let _ = write!(
            body,
            ",\"occurred_at\":\"{}\",\"source\":\"bench\",\"properties\":{},\"idempotency_key\":\"{key}\"}}",
            rfc3339(d.occurred_at),
            d.properties
        );
        if format == Format::Ndjson {
            body.push('\n');
        }
    }
    if format == Format::Json {
        body.push(']');
    }
    body.into_bytes()
}

/// The raw append's rows: the same draws as the API's, as the store takes them.
fn raw_rows(rng: &mut SmallRng, world: &World, n: usize, prefix: &str, next: &mut u64) -> Vec<NewEvent> {
    let now = hatake_web::now_millis();
    (0..n)
        .map(|_| {
            let d = draw(rng, world, now);
            let key = key(Keys::Ordered, rng, prefix, *next);
            *next += 1;
            NewEvent {
                kind: d.kind,
                lead_id: Some(d.lead),
                visitor_id: None,
                product_id: d.product,
                occurred_at: d.occurred_at,
                source: Some("bench".into()),
                name: None,
                properties: d.properties,
                idempotency_key: Some(key),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rounds.

/// Throughput of one scenario in one round.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rate {
    pub(crate) per_second: f64,
    /// Requests (or hits) per second, and latency percentiles in ms.
    pub(crate) requests_per_second: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

/// Latency of one scenario in one round (ms).
#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    n: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    per_second: f64,
}

#[derive(Debug, Clone, Default)]
struct RoundFigures {
    raw: Rate,
    api_ndjson: Rate,
    api_json: Rate,
    api_random: Rate,
    /// Requests per group commit during the API scenarios.
    requests_per_group: f64,
    healthz: Latency,
    hits: Latency,
    /// At the target rate, open loop.
    hits_at_target: Latency,
    healthz_at_target: Latency,
    /// The share of hits answered before their page view committed.
    hits_unawaited: f64,
    timeline_store: Latency,
    get_lead_store: Latency,
    timeline_page: Latency,
    healthz_pages: Latency,
    timeline_rows: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure_round(
    round: usize,
    args: &EventsBenchArgs,
    world: &Arc<World>,
    store: &dyn Store,
    writer: &hatake_engine::runtime::event_writer::EventWriter,
    addr: SocketAddr,
    token: &str,
    cookie: &str,
    wrk: Option<&Path>,
) -> anyhow::Result<RoundFigures> {
    let mut figures = RoundFigures::default();
    let run_id = hatake_web::now_millis();

    // 1. Raw append: the same rows, straight into the store, one call per request's worth.
    if args.runs("raw") {
        raw_round(round, args, world, store, &mut figures, run_id).await?;
    }
    if args.runs("api") {
        api_round(round, args, world, writer, addr, token, &mut figures, run_id).await?;
    }
    if args.runs("tracking") {
        tracking_round(round, args, writer, addr, wrk, &mut figures).await?;
    }
    if args.runs("timeline") {
        timeline_round(round, args, world, store, addr, cookie, &mut figures).await?;
    }
    Ok(figures)
}

async fn raw_round(
    round: usize,
    args: &EventsBenchArgs,
    world: &Arc<World>,
    store: &dyn Store,
    figures: &mut RoundFigures,
    run_id: i64,
) -> anyhow::Result<()> {
    let seconds = Duration::from_secs(args.seconds);
    let mut rng = SmallRng::seed_from_u64(SEED ^ round as u64);
    let mut next = 0;
    let started = Instant::now();
    let mut appended = 0usize;
    while started.elapsed() < seconds {
        let rows = raw_rows(&mut rng, world, args.batch, &format!("raw-{run_id}"), &mut next);
        let fates = store.append_events(&rows, hatake_web::now_millis()).await?;
        if fates.iter().any(|f| !matches!(f, hatake_store::Appended::Created(_))) {
            bail!("raw append: an event was not created");
        }
        appended += rows.len();
    }
    figures.raw.per_second = appended as f64 / started.elapsed().as_secs_f64();
    println!(
        "  raw append (store, {} per call)          {:>10} events/s",
        count(args.batch),
        count(figures.raw.per_second as u64)
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn api_round(
    round: usize,
    args: &EventsBenchArgs,
    world: &Arc<World>,
    writer: &hatake_engine::runtime::event_writer::EventWriter,
    addr: SocketAddr,
    token: &str,
    figures: &mut RoundFigures,
    run_id: i64,
) -> anyhow::Result<()> {
    let before = writer.stats();
    for (format, keys) in
        [(Format::Ndjson, Keys::Ordered), (Format::Json, Keys::Ordered), (Format::Ndjson, Keys::Random)]
    {
        let rate = api_load(addr, token, world.clone(), args, format, keys, round, run_id).await?;
        let label = match (format, keys) {
            (Format::Ndjson, Keys::Ordered) => "API, NDJSON, ordered keys",
            (Format::Json, _) => "API, JSON array, ordered keys",
            _ => "API, NDJSON, random keys",
        };
        println!(
            "  {label:<40} {:>10} events/s  ({:.1} requests/s, p50 {:.0} ms, p99 {:.0} ms)",
            count(rate.per_second as u64),
            rate.requests_per_second,
            rate.p50,
            rate.p99
        );
        match (format, keys) {
            (Format::Ndjson, Keys::Ordered) => figures.api_ndjson = rate,
            (Format::Json, _) => figures.api_json = rate,
            _ => figures.api_random = rate,
        }
    }
    let after = writer.stats();
    figures.requests_per_group =
        (after.requests - before.requests) as f64 / (after.groups - before.groups).max(1) as f64;
    println!("  requests per group commit                {:>10.2}", figures.requests_per_group);
    Ok(())
}

async fn tracking_round(
    round: usize,
    args: &EventsBenchArgs,
    writer: &hatake_engine::runtime::event_writer::EventWriter,
    addr: SocketAddr,
    wrk: Option<&Path>,
    figures: &mut RoundFigures,
) -> anyhow::Result<()> {
    let seconds = Duration::from_secs(args.seconds);
    let healthz = vec!["/healthz".to_owned()];
    let (hits_before, unawaited_before) = (writer.stats().events, writer.stats().unawaited);
    let (healthz_figures, hit_figures) = match wrk {
        Some(wrk) => (wrk_run(wrk, addr, args, None, round)?, wrk_run(wrk, addr, args, Some(VISITORS), round)?),
        None => {
            let pixel: Vec<String> = (0..10_000).map(|i| pixel_path(&mut SmallRng::seed_from_u64(i))).collect();
            (
                get_load(addr, "", &healthz, args.hit_connections, seconds).await?,
                get_load(addr, "", &pixel, args.hit_connections, seconds).await?,
            )
        }
    };
    let pixel: Vec<String> =
        (0..20_000).map(|i| pixel_path(&mut SmallRng::seed_from_u64(i ^ (round as u64) << 32))).collect();
    let healthz_at_target =
        rate_load(addr, &healthz, args.rate_connections, TARGET_HITS_PER_SECOND, seconds / 2).await?;
    let at_target = rate_load(addr, &pixel, args.rate_connections, TARGET_HITS_PER_SECOND, seconds).await?;
    let recorded = writer.stats().events - hits_before;
    let unawaited = writer.stats().unawaited - unawaited_before;
    figures.healthz = healthz_figures;
    figures.hits = hit_figures;
    figures.hits_at_target = at_target;
    figures.healthz_at_target = healthz_at_target;
    println!(
        "  /healthz ({})                         {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
        if wrk.is_some() { "wrk" } else { "own" },
        healthz_figures.per_second,
        healthz_figures.p50,
        healthz_figures.p99
    );
    println!(
        "  tracking hits /t/p.gif ({})           {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  ({} recorded)",
        if wrk.is_some() { "wrk" } else { "own" },
        hit_figures.per_second,
        hit_figures.p50,
        hit_figures.p99,
        count(recorded)
    );
    println!(
        "  tracking hits at {} req/s (open loop, own) {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  (/healthz p50 {:.2} p99 {:.2} ms)",
        count(TARGET_HITS_PER_SECOND as u64),
        at_target.per_second,
        at_target.p50,
        at_target.p99,
        healthz_at_target.p50,
        healthz_at_target.p99
    );
    figures.hits_unawaited = unawaited as f64 / recorded.max(1) as f64;
    println!(
        "  hits answered before their commit ({} ms at most)  {:>6} of {} ({:.2}%)",
        hatake_web::tracking::HIT_WAIT.as_millis(),
        count(unawaited),
        count(recorded),
        100.0 * figures.hits_unawaited
    );
    if (recorded as usize) < hit_figures.n + at_target.n {
        bail!("tracking: {} hits answered but only {recorded} page views recorded", hit_figures.n + at_target.n);
    }
    Ok(())
}

async fn timeline_round(
    round: usize,
    args: &EventsBenchArgs,
    world: &Arc<World>,
    store: &dyn Store,
    addr: SocketAddr,
    cookie: &str,
    figures: &mut RoundFigures,
) -> anyhow::Result<()> {
    let seconds = Duration::from_secs(args.seconds);
    let healthz = vec!["/healthz".to_owned()];
    let mut rng = SmallRng::seed_from_u64(SEED ^ 0x7177 ^ round as u64);
    let mut timeline = Vec::new();
    let mut lookup = Vec::new();
    let mut rows = 0usize;
    let started = Instant::now();
    let query = EventQuery { limit: 50, ..EventQuery::default() };
    while started.elapsed() < seconds / 2 {
        let lead = rng.gen_range(1..=world.leads);
        let t = Instant::now();
        rows += store.lead_events(lead, &query).await?.len();
        timeline.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        store.get_lead(lead).await?;
        lookup.push(t.elapsed().as_nanos() as u64);
    }
    figures.timeline_rows = rows as f64 / timeline.len() as f64;
    figures.timeline_store = latency(timeline, started.elapsed());
    figures.get_lead_store = latency(lookup, started.elapsed());
    println!(
        "  timeline, store call                     p50 {:.2} ms  p95 {:.2} ms  ({:.1} events per lead; get_lead p50 {:.2} p95 {:.2} ms)",
        figures.timeline_store.p50,
        figures.timeline_store.p95,
        figures.timeline_rows,
        figures.get_lead_store.p50,
        figures.get_lead_store.p95
    );
    let pages: Vec<String> = (0..10_000).map(|_| format!("/leads/{}", rng.gen_range(1..=world.leads))).collect();
    // One connection: the page's own time, not the queue of several on two cores.
    figures.healthz_pages = get_load(addr, cookie, &healthz, 1, seconds / 2).await?;
    figures.timeline_page = get_load(addr, cookie, &pages, 1, seconds).await?;
    println!(
        "  lead page GET /leads/{{id}} (1 conn)        p50 {:.2} ms  p95 {:.2} ms  {:.0} req/s  (/healthz p50 {:.2} p95 {:.2} ms)",
        figures.timeline_page.p50,
        figures.timeline_page.p95,
        figures.timeline_page.per_second,
        figures.healthz_pages.p50,
        figures.healthz_pages.p95
    );
    Ok(())
}

fn latency(mut nanos: Vec<u64>, elapsed: Duration) -> Latency {
    nanos.sort_unstable();
    let at = |q: f64| super::load::percentile(&nanos, q);
    Latency {
        n: nanos.len(),
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        per_second: nanos.len() as f64 / elapsed.as_secs_f64(),
    }
}

// ---------------------------------------------------------------------------------------------
// Load: a small HTTP/1.1 client on plain tokio sockets, on a runtime of its own (on a blocking
// thread), so that the server's runtime workers are not shared with it (the cores are).

/// A keep-alive connection that sends one request at a time.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buffer: Vec::with_capacity(64 * 1024) })
    }

    /// Sends `request` and reads the whole response: (status, body).
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.read_more().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).context("response head")?.to_owned();
        let status: u16 =
            head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("no status: {head}"))?;
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
            })
        };
        let mut body = self.buffer.split_off(head_end);
        if let Some(length) = header("content-length") {
            let length: usize = length.parse().context("content-length")?;
            while body.len() < length {
                let mut chunk = [0u8; 65_536];
                let n = self.stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("connection closed mid-body");
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
            return Ok((status, body));
        }
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            self.buffer = body;
            let mut decoded = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(end) = find(&self.buffer, b"\r\n") {
                        break end;
                    }
                    self.read_more().await?;
                };
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buffer[..line_end])?.split(';').next().unwrap_or("").trim(),
                    16,
                )?;
                while self.buffer.len() < line_end + 2 + size + 2 {
                    self.read_more().await?;
                }
                decoded.extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
                self.buffer.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    return Ok((status, decoded));
                }
            }
        }
        bail!("a response without length: {head}")
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 65_536];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs `work` on a single-threaded runtime on a blocking thread.
async fn on_own_runtime<T: Send + 'static>(
    work: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<T>>>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(work())
    })
    .await
    .map_err(|e| anyhow!("load generator thread failed: {e}"))?
}

/// `--concurrency` connections posting batches for `--seconds`; every event must be created.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn api_load(
    addr: SocketAddr,
    token: &str,
    world: Arc<World>,
    args: &EventsBenchArgs,
    format: Format,
    keys: Keys,
    round: usize,
    run_id: i64,
) -> anyhow::Result<Rate> {
    let (token, batch, concurrency) = (token.to_owned(), args.batch, args.concurrency);
    let duration = Duration::from_secs(args.seconds);
    on_own_runtime(move || {
        Box::pin(async move {
            let started = Instant::now();
            let deadline = started + duration;
            let mut tasks = tokio::task::JoinSet::new();
            for connection in 0..concurrency {
                let (world, token) = (world.clone(), token.clone());
                tasks.spawn(async move {
                    // Random keys differ from those of earlier runs on the same data (run_id).
                    let mut rng =
                        SmallRng::seed_from_u64(SEED ^ run_id as u64 ^ ((round * 1000 + connection) as u64) << 8);
                    let prefix =
                        format!("api-{run_id}-{}-{connection}", if format == Format::Json { "j" } else { "n" });
                    let mut next = 0u64;
                    let mut conn = Connection::open(addr).await?;
                    let content_type = if format == Format::Json { "application/json" } else { "application/x-ndjson" };
                    let (mut events, mut latencies) = (0usize, Vec::new());
                    while Instant::now() < deadline {
                        let body = api_body(&mut rng, &world, batch, format, keys, &prefix, &mut next);
                        let mut request = format!(
                            "POST /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        request.extend_from_slice(&body);
                        let sent = Instant::now();
                        let (status, answer) = conn.exchange(&request).await?;
                        latencies.push(sent.elapsed().as_nanos() as u64);
                        let head = String::from_utf8_lossy(&answer[..answer.len().min(100)]).into_owned();
                        if status != 200
                            || !head.starts_with(&format!("{{\"created\":{batch},\"duplicates\":0,\"rejected\":0"))
                        {
                            bail!("status {status}: {head}");
                        }
                        events += batch;
                    }
                    Ok::<_, anyhow::Error>((events, latencies))
                });
            }
            let (mut events, mut latencies) = (0, Vec::new());
            while let Some(joined) = tasks.join_next().await {
                let (n, l) = joined.map_err(|e| anyhow!("load task failed: {e}"))??;
                events += n;
                latencies.extend(l);
            }
            let elapsed = started.elapsed();
            let l = latency(latencies, elapsed);
            Ok(Rate {
                per_second: events as f64 / elapsed.as_secs_f64(),
                requests_per_second: l.per_second,
                p50: l.p50,
                p99: l.p99,
            })
        })
    })
    .await
}

/// `connections` connections sending GETs of `paths` (rotated) for `duration`; every answer
/// must be 200.
async fn get_load(
    addr: SocketAddr,
    cookie: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let cookie = cookie.to_owned();
    let paths: Arc<Vec<String>> = Arc::new(paths.to_vec());
    on_own_runtime(move || {
        Box::pin(async move {
            let started = Instant::now();
            let deadline = started + duration;
            let mut tasks = tokio::task::JoinSet::new();
            for connection in 0..connections {
                let (paths, cookie) = (paths.clone(), cookie.clone());
                tasks.spawn(async move {
                    let mut conn = Connection::open(addr).await?;
                    let mut latencies = Vec::new();
                    let mut i = connection * 7919;
                    while Instant::now() < deadline {
                        let path = &paths[i % paths.len()];
                        i += 1;
                        let request = format!(
                            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {BROWSER}\r\nCookie: {cookie}\r\n\r\n"
                        );
                        let sent = Instant::now();
                        let (status, body) = conn.exchange(request.as_bytes()).await?;
                        latencies.push(sent.elapsed().as_nanos() as u64);
                        if status != 200 {
                            bail!(
                                "GET {path}: status {status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(200)])
                            );
                        }
                    }
                    Ok::<_, anyhow::Error>(latencies)
                });
            }
            let mut latencies = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                latencies.extend(joined.map_err(|e| anyhow!("load task failed: {e}"))??);
            }
            Ok(latency(latencies, started.elapsed()))
        })
    })
    .await
}

/// Open loop: `connections` connections sending GETs of `paths` at `rate` requests per second
/// in all, each on its own schedule; a request's latency counts from when it was due, so a
/// stalled server shows up in the figures instead of slowing the load down.
async fn rate_load(
    addr: SocketAddr,
    paths: &[String],
    connections: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let paths: Arc<Vec<String>> = Arc::new(paths.to_vec());
    on_own_runtime(move || {
        Box::pin(async move {
            // Every connection first, then the schedule.
            let mut opened = Vec::with_capacity(connections);
            for _ in 0..connections {
                opened.push(Connection::open(addr).await?);
            }
            let started = tokio::time::Instant::now() + Duration::from_millis(20);
            let interval = Duration::from_secs_f64(connections as f64 / rate);
            let mut tasks = tokio::task::JoinSet::new();
            for (connection, mut conn) in opened.into_iter().enumerate() {
                let paths = paths.clone();
                tasks.spawn(async move {
                    let mut latencies = Vec::new();
                    // Staggered: the connections' schedules interleave.
                    let offset = interval.mul_f64(connection as f64 / connections as f64);
                    for k in 0_usize.. {
                        let due = started + offset + interval.mul_f64(k as f64);
                        if due >= started + duration {
                            break;
                        }
                        tokio::time::sleep_until(due).await;
                        let path = &paths[(connection * 7919 + k) % paths.len()];
                        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {BROWSER}\r\n\r\n");
                        let (status, _) = conn.exchange(request.as_bytes()).await?;
                        latencies.push(due.elapsed().as_nanos() as u64);
                        if status != 200 {
                            bail!("GET {path}: status {status}");
                        }
                    }
                    Ok::<_, anyhow::Error>(latencies)
                });
            }
            let mut latencies = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                latencies.extend(joined.map_err(|e| anyhow!("load task failed: {e}"))??);
            }
            Ok(latency(latencies, started.elapsed()))
        })
    })
    .await
}

/// A pixel hit of a returning visitor on a product page from an ad.
fn pixel_path(rng: &mut SmallRng) -> String {
    format!(
        "/t/p.gif?v=bv{}&u=https%3A%2F%2Fwww.example.co.jp%2Fproducts%2Fp{}%3Futm_source%3Dgoogle%26utm_medium%3Dcpc\
         &r=https%3A%2F%2Fwww.google.com%2F&t=p{}",
        rng.gen_range(0..VISITORS),
        rng.gen_range(0..50),
        rng.gen_range(0..50)
    )
}

fn find_wrk() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join("wrk")).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates.into_iter().find(|p| p.is_file())
}

/// `wrk` against `/healthz` (`visitors: None`) or the pixel with returning visitors.
fn wrk_run(
    wrk: &Path,
    addr: SocketAddr,
    args: &EventsBenchArgs,
    visitors: Option<u64>,
    round: usize,
) -> anyhow::Result<Latency> {
    let script = std::env::temp_dir().join(format!("hatake-bench-wrk-{}.lua", std::process::id()));
    let lua = match visitors {
        None => format!("wrk.headers[\"User-Agent\"] = \"{BROWSER}\"\n"),
        Some(visitors) => format!(
            "wrk.headers[\"User-Agent\"] = \"{BROWSER}\"\n\
             math.randomseed({seed})\n\
             request = function()\n\
             \x20 local path = string.format(\"/t/p.gif?v=bv%d&u=https%%3A%%2F%%2Fwww.example.co.jp%%2Fproducts%%2Fp%d\
             %%3Futm_source%%3Dgoogle%%26utm_medium%%3Dcpc&r=https%%3A%%2F%%2Fwww.google.com%%2F&t=p%d\", \
             math.random(0, {last}), math.random(0, 49), math.random(0, 49))\n\
             \x20 return wrk.format(nil, path)\n\
             end\n",
            seed = SEED as u32 as u64 + round as u64,
            last = visitors - 1
        ),
    };
    std::fs::write(&script, lua).context("writing the wrk script")?;
    let path = if visitors.is_some() { "/t/p.gif" } else { "/healthz" };
    let output = std::process::Command::new(wrk)
        .args(["-t1", &format!("-c{}", args.hit_connections), &format!("-d{}s", args.seconds), "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running wrk")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&output.stderr));
    }
    parse_wrk(&text)
}

/// The figures of `wrk --latency`'s report; fails on errors or non-2xx answers.
fn parse_wrk(text: &str) -> anyhow::Result<Latency> {
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx or 3xx responses")) {
        bail!("wrk: {}", line.trim());
    }
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        // Connection errors mean lost hits; timeouts would hide latency.
        bail!("wrk: {}\n{text}", line.trim());
    }
    let millis = |value: &str| -> Option<f64> {
        let value = value.trim();
        let split = value.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = value.split_at(split);
        let number: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => number / 1000.0,
            "ms" => number,
            "s" => number * 1000.0,
            "m" => number * 60_000.0,
            _ => return None,
        })
    };
    let percentile = |label: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label).and_then(millis))
            .ok_or_else(|| anyhow!("wrk output without the {label} percentile:\n{text}"))
    };
    let per_second: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:").and_then(|v| v.trim().parse().ok()))
        .ok_or_else(|| anyhow!("wrk output without Requests/sec:\n{text}"))?;
    let requests: usize = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.trim().parse().ok()))
        .ok_or_else(|| anyhow!("wrk output without a request count:\n{text}"))?;
    let p50 = percentile("50%")?;
    let p99 = percentile("99%")?;
    Ok(Latency { n: requests, p50, p95: f64::NAN, p99, per_second })
}

// ---------------------------------------------------------------------------------------------
// Summary.

fn median(mut values: Vec<f64>) -> f64 {
    super::report::median(&mut values)
}

fn summary(rounds: &[RoundFigures], args: &EventsBenchArgs, cores: usize, world: &World, wrk: bool, dir: &Path) {
    let m = |pick: &dyn Fn(&RoundFigures) -> f64| median(rounds.iter().map(pick).collect());
    let verdict = |ok: bool| if ok { "**met**" } else { "missed" };
    println!();
    println!(
        "summary: median of {} rounds; SQLite, {} leads, {} events stored before the first round ({} MB now), {cores} cores",
        rounds.len(),
        count(args.leads),
        count(world.events),
        database_megabytes(dir)
    );
    println!();
    println!("| measure | figure | baseline (same run) | target |");
    println!("|---|---:|---:|---|");
    let raw = m(&|r| r.raw.per_second);
    for (label, pick) in [
        ("API ingestion, NDJSON, time-ordered keys", (|r: &RoundFigures| r.api_ndjson) as fn(&RoundFigures) -> Rate),
        ("API ingestion, JSON array, time-ordered keys", |r| r.api_json),
        ("API ingestion, NDJSON, random keys", |r| r.api_random),
    ] {
        let value = m(&|r| pick(r).per_second);
        println!(
            "| {label} ({} events/request, {} connections; request p50 {:.0} ms, p99 {:.0} ms) | {} events/s | raw append {} events/s ({:.0}%) | ≥ 100,000 events/s: {} |",
            count(args.batch),
            args.concurrency,
            m(&|r| pick(r).p50),
            m(&|r| pick(r).p99),
            count(value as u64),
            count(raw as u64),
            100.0 * value / raw,
            verdict(value >= TARGET_EVENTS_PER_SECOND)
        );
    }
    let (hits, p99) = (m(&|r| r.hits.per_second), m(&|r| r.hits.p99));
    println!(
        "| tracking hits /t/p.gif ({}, {} connections) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | /healthz {:.0} req/s, p99 {:.2} ms | ≥ 10,000 req/s, p99 < 20 ms: {} |",
        if wrk { "wrk" } else { "hatake's load generator" },
        args.hit_connections,
        hits,
        m(&|r| r.hits.p50),
        p99,
        m(&|r| r.healthz.per_second),
        m(&|r| r.healthz.p99),
        verdict(hits >= TARGET_HITS_PER_SECOND && p99 < TARGET_HIT_P99_MS)
    );
    let (rate, p99) = (m(&|r| r.hits_at_target.per_second), m(&|r| r.hits_at_target.p99));
    println!(
        "| tracking hits /t/p.gif at 10,000 req/s (open loop, hatake's load generator, {} connections) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms | /healthz at 10,000 req/s: p50 {:.2} ms, p99 {:.2} ms | p99 < 20 ms at ≥ 10,000 req/s: {} |",
        args.rate_connections,
        rate,
        m(&|r| r.hits_at_target.p50),
        p99,
        m(&|r| r.healthz_at_target.p50),
        m(&|r| r.healthz_at_target.p99),
        verdict(rate >= 0.98 * TARGET_HITS_PER_SECOND && p99 < TARGET_HIT_P99_MS)
    );
    let p95 = m(&|r| r.timeline_store.p95);
    println!(
        "| timeline, newest 50 (store call; {:.1} events per lead) | p50 {:.2} ms, p95 {:.2} ms | get_lead p50 {:.2} ms, p95 {:.2} ms | p95 < 10 ms: {} |",
        m(&|r| r.timeline_rows),
        m(&|r| r.timeline_store.p50),
        p95,
        m(&|r| r.get_lead_store.p50),
        m(&|r| r.get_lead_store.p95),
        verdict(p95 < TARGET_TIMELINE_P95_MS)
    );
    let page = m(&|r| r.timeline_page.p95);
    println!(
        "| the whole lead page with its timeline GET /leads/{{id}} (1 connection) | p50 {:.2} ms, p95 {:.2} ms | /healthz p50 {:.2} ms, p95 {:.2} ms | p95 < 10 ms: {} |",
        m(&|r| r.timeline_page.p50),
        page,
        m(&|r| r.healthz_pages.p50),
        m(&|r| r.healthz_pages.p95),
        verdict(page < TARGET_TIMELINE_P95_MS)
    );
    println!();
    println!("requests per group commit (API scenarios): {:.2}", m(&|r| r.requests_per_group));
    println!(
        "tracking hits answered before their commit (after {} ms): {:.2}%",
        hatake_web::tracking::HIT_WAIT.as_millis(),
        100.0 * m(&|r| r.hits_unawaited)
    );
    println!(
        "reproduce: hatake bench events --leads {} --events {} --seconds {} --rounds {} --concurrency {} --batch {} --hit-connections {} --rate-connections {}{}{}",
        args.leads,
        args.events,
        args.seconds,
        args.rounds,
        args.concurrency,
        args.batch,
        args.hit_connections,
        args.rate_connections,
        if args.no_wrk { " --no-wrk" } else { "" },
        args.data_dir.as_ref().map(|d| format!(" --data-dir {}", d.display())).unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_the_calendar() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn wrk_reports_are_read_and_failures_refused() {
        let report = "Running 10s test @ http://127.0.0.1:1/t/p.gif\n  1 threads and 64 connections\n\
            \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     3.10ms    1.00ms  30.00ms   90.00%\n\
            \x20 Latency Distribution\n     50%    2.90ms\n     75%    3.50ms\n     90%    4.10ms\n     99%  850.00us\n\
            \x20 123456 requests in 10.00s, 20.00MB read\nRequests/sec:  12345.60\nTransfer/sec:      2.00MB\n";
        let figures = parse_wrk(report).unwrap();
        assert_eq!((figures.n, figures.p50, figures.p99, figures.per_second), (123_456, 2.9, 0.85, 12_345.6));
        assert!(parse_wrk(&format!("{report}  Non-2xx or 3xx responses: 5\n")).is_err());
        assert!(parse_wrk(&format!("{report}  Socket errors: connect 0, read 1, write 0, timeout 0\n")).is_err());
    }

    #[test]
    fn api_bodies_are_what_the_api_reads() {
        let world = World {
            admin: 1,
            products: vec![7],
            leads: 100,
            sample: vec![(3, "a@example.jp".into())],
            events: 0,
            window_ms: API_WINDOW_MS,
        };
        let mut rng = SmallRng::seed_from_u64(1);
        let mut next = 0;
        let now = hatake_web::now_millis();
        for format in [Format::Ndjson, Format::Json] {
            let body = api_body(&mut rng, &world, 20, format, Keys::Ordered, "p", &mut next);
            let items: Vec<hatake_domain::EventInput> = match format {
                Format::Json => serde_json::from_slice(&body).unwrap(),
                Format::Ndjson => body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice(l).unwrap())
                    .collect(),
            };
            assert_eq!(items.len(), 20);
            for item in items {
                item.validate(now).expect("valid");
            }
        }
        assert_eq!(next, 40, "a key each");
    }
}
