//! `hatake bench inside-sales`: the call queue page and alert latency at scale (issue 17).
//!
//! 1. **The call queue** (`GET /calls`, a rep's calls and the pool's due today) with the data set
//!    of `bench ui` (by default a million leads) and `--tasks` open tasks (by default 100,000)
//!    spread over ten inside-sales reps and the pool: median and p95 of sequential requests,
//!    next to `GET /me` (the floor of any signed-in page) measured in the same run.
//! 2. **Alert latency**: a rule on a page view; a probe event every 250 ms for a lead of the rep,
//!    timed from its hand-over to the event writer until the rep's live feed (`GET
//!    /alerts/stream`, server-sent events) delivers the alert — first with nothing else arriving
//!    (the baseline), then while `--rate` other events per second are ingested. Median and p99.

use super::load::{percentile, Client};
use super::report::count;
use super::{prepare, TempDir, UiBenchArgs, PASSWORD};
use crate::demo::ensure_user;
use anyhow::{anyhow, bail, Context};
use hatake_engine::runtime::{Clock, Standard};
use hatake_store::{EventLead, NewEvent, NewTask, PendingEvent, Store};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the tasks of a loaded data set are recorded.
const TASKS_SETTING: &str = "bench.inside_sales.tasks";
const REPS: usize = 10;
/// The targets of the issue.
const QUEUE_P95_MS: f64 = 50.0;
const ALERT_P99_MS: f64 = 2_000.0;

/// `hatake bench inside-sales`.
#[derive(Debug, Clone, clap::Args)]
pub struct InsideSalesBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: usize,
    #[arg(long, default_value_t = 50_000)]
    pub companies: usize,
    /// Open tasks over the reps and the pool.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: usize,
    /// Data directory to use and keep (the same as `bench ui`'s: reused when it holds the same
    /// data set). Without it, a temporary directory is used and deleted at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Requests of each page; the figures are their median and p95.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Seconds of probes, with and without the other events.
    #[arg(long, default_value_t = 20)]
    pub alert_seconds: u64,
    /// Other events per second ingested during the second half.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
}

/// Runs the benchmark.
///
/// # Errors
/// When loading, serving or a request fails.
pub async fn run(args: InsideSalesBenchArgs) -> anyhow::Result<()> {
    if args.leads < 1_000 || args.tasks == 0 || args.requests == 0 || args.alert_seconds == 0 {
        bail!("--leads must be at least 1,000; --tasks, --requests and --alert-seconds at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (dir, temp) = TempDir::or_given(args.data_dir.as_ref())?;
    println!(
        "hatake bench inside-sales: SQLite, {} leads, {} companies, {} open tasks, {REPS} inside-sales reps, {cores} cores",
        count(args.leads),
        count(args.companies),
        count(args.tasks)
    );
    println!("data directory: {}{}", dir.display(), if temp.is_some() { " (temporary)" } else { "" });
    let store: Arc<dyn Store> = Arc::new(
        hatake_sqlite::SqliteStore::open(&dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", dir.display()))?,
    );
    let ui = UiBenchArgs {
        leads: args.leads,
        companies: args.companies,
        data_dir: None,
        concurrency: 1,
        seconds: 1,
        rounds: 1,
    };
    prepare(store.as_ref(), &ui).await?;
    let reps = tasks(store.as_ref(), &args).await?;

    let served = crate::serve::Server::start(
        store.clone(),
        hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into(), ..Default::default() },
        Clock::system(),
        Standard::default(),
    )?;
    let runtime = served.runtime.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(served.serve(listener, async move {
        let _ = stopped.await;
    }));
    let now = hatake_web::now_millis();
    let token = hatake_web::auth::random_token();
    store
        .create_session(&hatake_web::auth::token_hash(&token), reps[0], "bench", now, now + 24 * 3_600_000)
        .await
        .context("creating the bench session")?;
    let client = Client { addr, cookie: format!("{}={token}", hatake_web::auth::SESSION_COOKIE) };

    let result = async {
        let queue = timed(&client, "/calls", args.requests).await?;
        let floor = timed(&client, "/me", args.requests).await?;
        let body = String::from_utf8_lossy(&client.fetch_once("/calls").await?).into_owned();
        let due =
            body.split("id=\"due-today\">").nth(1).and_then(|rest| rest.split('<').next()).unwrap_or("?").to_owned();
        println!();
        println!("call queue (GET /calls, rep 1, {due} calls due today), {} sequential requests:", args.requests);
        println!("  {:<28} {:>9} {:>9}", "", "median", "p95");
        println!("  {:<28} {:>7.1} ms {:>6.1} ms", "GET /calls", queue.0, queue.1);
        println!("  {:<28} {:>7.1} ms {:>6.1} ms", "GET /me (floor)", floor.0, floor.1);
        println!(
            "  p95 {} the target of {QUEUE_P95_MS} ms; /calls costs {:.1}× the floor at the median",
            if queue.1 < QUEUE_P95_MS { "meets" } else { "misses" },
            queue.0 / floor.0.max(0.001)
        );
        alerts(store.as_ref(), &runtime, &client, reps[0], &args).await
    }
    .await;

    let _ = stop.send(());
    let _ = store.delete_session(&hatake_web::auth::token_hash(&token)).await;
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
    result?;
    println!();
    println!(
        "reproduce: hatake bench inside-sales --leads {} --companies {} --tasks {} --requests {} --alert-seconds {} --rate {}",
        args.leads, args.companies, args.tasks, args.requests, args.alert_seconds, args.rate
    );
    Ok(())
}

/// The reps, and the open tasks (made once per data set): 60 % due today (the hours before now,
/// some overdue), the rest over the next two weeks; a tenth in the pool.
async fn tasks(store: &dyn Store, args: &InsideSalesBenchArgs) -> anyhow::Result<Vec<i64>> {
    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let mut reps = Vec::new();
    for i in 1..=REPS {
        let email = format!("is{i}@hatake-bench.jp");
        reps.push(ensure_user(store, &email, &format!("架電 {i}号"), "inside_sales", PASSWORD, &hash, now).await?);
    }
    let marker = format!("tasks={} leads={}", args.tasks, args.leads);
    if store.get_setting(TASKS_SETTING).await?.as_deref() == Some(marker.as_str()) {
        println!("reusing the {} tasks", count(args.tasks));
        return Ok(reps);
    }
    let last = store.max_lead_id().await?;
    let started = Instant::now();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..args.tasks {
        let lead = 1 + (next() % u64::try_from(last).unwrap_or(1)) as i64;
        let owner = match i % (REPS + 1) {
            REPS => None,
            r => Some(reps[r]),
        };
        let due_at = if next() % 10 < 6 {
            now - (next() % (10 * 3_600_000)) as i64
        } else {
            now + (next() % (14 * 24 * 3_600_000)) as i64
        };
        let task = NewTask {
            kind: "call".into(),
            lead_id: lead,
            product_id: None,
            owner_id: owner,
            title: "初回架電".into(),
            note: None,
            due_at,
            sla_due_at: None,
            priority: 1 + i64::try_from(next() % 3).unwrap_or(0),
            cause: "person".into(),
            cause_key: None,
            created_by: None,
            at: now,
        };
        store.create_task(&task).await.with_context(|| format!("task {i}"))?;
        if (i + 1) % 20_000 == 0 {
            println!("  {:>9} tasks  {:.1} s", count(i + 1), started.elapsed().as_secs_f64());
        }
    }
    store.put_setting(TASKS_SETTING, &marker, now).await?;
    println!("made {} tasks in {:.1} s", count(args.tasks), started.elapsed().as_secs_f64());
    Ok(reps)
}

/// Median and p95 of `n` sequential requests, in ms (after a few unrecorded ones).
async fn timed(client: &Client, path: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    for _ in 0..5 {
        client.fetch_once(path).await?;
    }
    let mut nanos = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        client.fetch_once(path).await?;
        nanos.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    nanos.sort_unstable();
    Ok((percentile(&nanos, 0.5), percentile(&nanos, 0.95)))
}

fn page_view(lead: i64, url: &str, at: i64) -> PendingEvent {
    PendingEvent {
        lead: EventLead::None,
        event: NewEvent {
            kind: "page_view",
            lead_id: Some(lead),
            visitor_id: None,
            product_id: None,
            occurred_at: at,
            source: None,
            name: None,
            properties: serde_json::json!({ "url": url }).to_string(),
            idempotency_key: None,
        },
    }
}

async fn alerts(
    store: &dyn Store,
    runtime: &hatake_engine::runtime::Runtime,
    client: &Client,
    rep: i64,
    args: &InsideSalesBenchArgs,
) -> anyhow::Result<()> {
    let now = hatake_web::now_millis();
    let rule = hatake_domain::alerts::AlertRule {
        id: "bench".into(),
        name: "ベンチの料金ページ".into(),
        product_id: None,
        trigger: hatake_domain::alerts::Trigger::Event {
            kind: "page_view".into(),
            url_contains: vec!["/bench-pricing".into()],
            name_contains: None,
            tracked_link: false,
            count: 1,
            within_hours: 168,
        },
        window_hours: 24 * 365,
        mail: false,
        webhook_url: None,
        active: true,
    };
    let config = hatake_domain::alerts::AlertConfig { rules: vec![rule], ..Default::default() };
    hatake_engine::alerts::save_config(store, &config, now).await.map_err(|e| anyhow!("alert rule: {e}"))?;
    // Probe leads owned by the rep (each alerts once: a new lead per probe).
    let probes = usize::try_from(args.alert_seconds * 8 + 8).unwrap_or(100);
    let last = store.max_lead_id().await?;
    let base = hatake_web::now_millis() % (last / 2).max(1);
    let leads: Vec<i64> = (0..probes as i64).map(|i| 1 + (base + i * 97) % last).collect();
    for lead in &leads {
        store.assign_lead_owner(*lead, rep, now).await?;
    }
    let after = store.max_alert_id().await?;

    // The rep's live feed.
    let mut feed = tokio::net::TcpStream::connect(client.addr).await?;
    let request = format!(
        "GET /alerts/stream?after={after} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: text/event-stream\r\n\r\n",
        client.addr, client.cookie
    );
    feed.write_all(request.as_bytes()).await?;
    let received: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let seen = received.clone();
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut text = String::new();
        while let Ok(n) = feed.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data: ") {
                        if let Ok(json) = serde_json::from_str::<serde_json::Value>(data) {
                            if let Some(lead) = json["lead"].as_i64() {
                                seen.lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .insert(lead, Instant::now());
                            }
                        }
                    }
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let events = runtime.handle();
    let mut next_probe = leads.iter();
    let mut sent: Vec<(i64, Instant, bool)> = Vec::new();
    let half = Duration::from_secs(args.alert_seconds);
    // The other events, from the second half on: batches every 100 ms.
    let ingested = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load = {
        let events = runtime.handle();
        let ingested = ingested.clone();
        let per_tick = (args.rate / 10).max(1);
        tokio::spawn(async move {
            tokio::time::sleep(half).await;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            loop {
                tick.tick().await;
                let at = hatake_web::now_millis();
                let batch: Vec<PendingEvent> = (0..per_tick)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        page_view(
                            1 + (x % u64::try_from(last).unwrap_or(1)) as i64,
                            "https://www.hatake-bench.jp/products/",
                            at,
                        )
                    })
                    .collect();
                let events = events.clone();
                let ingested = ingested.clone();
                tokio::spawn(async move {
                    if events.events().append(batch, at).await.is_ok() {
                        ingested.fetch_add(per_tick, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        })
    };
    let started = Instant::now();
    let mut loaded_since = None;
    while started.elapsed() < half * 2 {
        let under_load = started.elapsed() >= half;
        if under_load && loaded_since.is_none() {
            loaded_since = Some((Instant::now(), ingested.load(std::sync::atomic::Ordering::Relaxed)));
        }
        let Some(lead) = next_probe.next() else { break };
        let at = hatake_web::now_millis();
        let probe = events.clone();
        let lead = *lead;
        sent.push((lead, Instant::now(), under_load));
        tokio::spawn(async move {
            let _ = probe
                .events()
                .append(vec![page_view(lead, "https://www.hatake-bench.jp/bench-pricing/", at)], at)
                .await;
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let achieved = loaded_since.map(|(since, from)| {
        let n = ingested.load(std::sync::atomic::Ordering::Relaxed) - from;
        n as f64 / since.elapsed().as_secs_f64().max(0.001)
    });
    load.abort();
    tokio::time::sleep(Duration::from_secs(3)).await;
    reader.abort();
    let received = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let figures = |loaded: bool| {
        let mut nanos: Vec<u64> = sent
            .iter()
            .filter(|(_, _, l)| *l == loaded)
            .filter_map(|(lead, at, _)| {
                received.get(lead).map(|r| u64::try_from(r.duration_since(*at).as_nanos()).unwrap_or(u64::MAX))
            })
            .collect();
        let total = sent.iter().filter(|(_, _, l)| *l == loaded).count();
        nanos.sort_unstable();
        (percentile(&nanos, 0.5), percentile(&nanos, 0.99), nanos.len(), total)
    };
    let (idle_median, idle_p99, idle_got, idle_sent) = figures(false);
    let (busy_median, busy_p99, busy_got, busy_sent) = figures(true);
    println!();
    println!("alert latency (event handed to the event writer → alert on the rep's live feed), a probe every 250 ms:");
    println!("  {:<44} {:>9} {:>9} {:>10}", "", "median", "p99", "delivered");
    println!(
        "  {:<44} {:>6.0} ms {:>6.0} ms {:>5}/{}",
        "nothing else arriving (baseline)", idle_median, idle_p99, idle_got, idle_sent
    );
    let label = format!(
        "while {} events/s asked ({} achieved)",
        count(args.rate as usize),
        count(achieved.unwrap_or(0.0) as usize)
    );
    println!("  {label:<44} {busy_median:>6.0} ms {busy_p99:>6.0} ms {busy_got:>5}/{busy_sent}");
    println!(
        "  p99 under load {} the target of {ALERT_P99_MS} ms",
        if busy_p99 < ALERT_P99_MS && busy_got == busy_sent { "meets" } else { "misses" }
    );
    Ok(())
}
