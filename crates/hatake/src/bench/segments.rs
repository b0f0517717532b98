//! `hatake bench segments`: how long a fresh evaluation of a segment takes (the count shown while
//! editing, a rebuild after a save) on the data set of `bench scoring` — by default a million
//! leads and twenty million events — for segments of each kind of condition, next to the floor
//! of a segment that every lead matches (one pass over the leads) measured in the same run.
//! Figures: median and p95 over the repetitions (issue 16 asks p95 < 1 s).

use super::events::World;
use super::load::percentile;
use super::report::count;
use super::scoring::{self, ScoringBenchArgs};
use super::TempDir;
use anyhow::{bail, Context};
use hatake_domain::segment::{Condition, Definition, Group};
use hatake_engine::runtime::{Clock, Context as WorkContext};
use hatake_engine::segments::SegmentWorker;
use hatake_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `hatake bench segments`.
#[derive(Debug, Clone, clap::Args)]
pub struct SegmentsBenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: usize,
    #[arg(long, default_value_t = 20_000_000)]
    pub events: usize,
    /// Data directory to use and keep (the same as `bench scoring`'s: reused when it holds the
    /// same leads). Without it, a temporary directory is used and deleted at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluations of each segment; the figures are their median and p95.
    #[arg(long, default_value_t = 10)]
    pub repeat: usize,
    /// Seconds of events arriving while the segment worker keeps the members (0: skip).
    #[arg(long, default_value_t = 30)]
    pub ingest_seconds: u64,
    /// Events per second arriving then.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
}

fn one(conditions: Vec<Condition>) -> Definition {
    Definition { any: false, groups: vec![Group { any: false, conditions }] }
}

/// Runs the benchmark.
///
/// # Errors
/// When loading or querying fails.
pub async fn run(args: SegmentsBenchArgs) -> anyhow::Result<()> {
    if args.leads == 0 || args.events == 0 || args.repeat == 0 {
        bail!("--leads, --events and --repeat must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (dir, temp) = TempDir::or_given(args.data_dir.as_ref())?;
    println!(
        "hatake bench segments: SQLite, {} leads, {} events, {cores} cores, {} evaluations each",
        count(args.leads),
        count(args.events),
        args.repeat
    );
    println!("data directory: {}{}", dir.display(), if temp.is_some() { " (temporary)" } else { "" });
    let store: Arc<dyn Store> = Arc::new(
        hatake_sqlite::SqliteStore::open(&dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", dir.display()))?,
    );
    let load = ScoringBenchArgs {
        leads: args.leads,
        events: args.events,
        data_dir: None,
        rounds: 1,
        seconds: 1,
        concurrency: 1,
        batch: 1,
        only: vec!["load".into()],
    };
    let world = Arc::new(scoring::prepare(store.as_ref(), &load).await?);
    let erp = world.products[0];
    let now = hatake_web::now_millis();
    let behaviour = |kind: &str, days, at_least, negate| Condition::Behaviour {
        kind: kind.into(),
        product_id: None,
        days,
        at_least,
        negate,
    };
    let cases: Vec<(&str, Definition)> = vec![
        ("every lead (floor: one pass over the leads)", one(vec![Condition::Kind { lead: true }])),
        (
            "attributes: IT/DX department in Tokyo",
            one(vec![
                Condition::DepartmentClass { values: vec!["it".into(), "dx".into()], negate: false },
                Condition::Prefecture { values: vec!["東京都".into()], negate: false },
            ]),
        ),
        (
            "interest and score: ERP, score ≥ 30",
            one(vec![
                Condition::Product { product_id: erp, negate: false },
                Condition::Score { product_id: erp, min: Some(30), max: None },
            ]),
        ),
        ("behaviour: ≥ 2 downloads in 30 days", one(vec![behaviour("download", 30, 2, false)])),
        ("behaviour: no page view in 90 days", one(vec![behaviour("page_view", 90, 1, true)])),
        (
            "mixed: IT dept AND (download in 30 d OR seminar in 90 d)",
            Definition {
                any: false,
                groups: vec![
                    Group {
                        any: false,
                        conditions: vec![Condition::DepartmentClass { values: vec!["it".into()], negate: false }],
                    },
                    Group {
                        any: true,
                        conditions: vec![
                            behaviour("download", 30, 1, false),
                            behaviour("seminar_attendance", 90, 1, false),
                        ],
                    },
                ],
            },
        ),
    ];
    // The activity summary, built by the segment worker as `hatake serve` does on its first
    // steps (once per data set).
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    let cx = WorkContext::new(store.clone(), Clock::system(), zone);
    let mut worker = SegmentWorker::default();
    if !store.activity_ready().await? {
        let started = Instant::now();
        while !store.activity_ready().await? {
            worker.run(&cx).await.map_err(|e| anyhow::anyhow!("segment worker: {e:?}"))?;
        }
        println!("activity summary built by the segment worker in {:.1} s", started.elapsed().as_secs_f64());
    }
    // Up to the log's end (events stored since the worker last ran), as a running server is.
    let started = Instant::now();
    let behind = lag(store.as_ref()).await?;
    while worker.run(&cx).await.map_err(|e| anyhow::anyhow!("segment worker: {e:?}"))? {}
    if behind > 0 {
        println!(
            "segment worker caught up with {} events in {:.1} s",
            count(usize::try_from(behind).unwrap_or(0)),
            started.elapsed().as_secs_f64()
        );
    }
    println!();
    println!(
        "{:<58} {:>10} {:>10} {:>10} {:>8} {:>14}",
        "segment", "members", "median s", "p95 s", "× floor", "p95 s, log ¹"
    );
    let mut floor = None;
    for (name, definition) in &cases {
        let (members, median, p95) = evaluate(store.as_ref(), definition, now, args.repeat).await?;
        let base = *floor.get_or_insert(median);
        // The baseline: the same evaluation reading the event log, as before the summary.
        let reads_events = definition.reads().events;
        let log = if reads_events {
            set_activity(store.as_ref(), false).await?;
            let on_log = evaluate(store.as_ref(), definition, now, args.repeat.min(3)).await;
            set_activity(store.as_ref(), true).await?;
            let (log_members, _, log_p95) = on_log?;
            if log_members != members {
                bail!("{name}: the summary finds {members}, the log {log_members}");
            }
            format!("{log_p95:.3}")
        } else {
            "—".to_owned()
        };
        println!(
            "{name:<58} {:>10} {median:>10.3} {p95:>10.3} {:>8.1} {log:>14}",
            count(members as usize),
            median / base
        );
    }
    println!();
    println!("¹ the same count read from the event log (at most 3 evaluations): the baseline before the");
    println!("  activity summary; both give the same members.");
    println!("target: p95 < 1 s for every segment (issue 16)");
    if args.ingest_seconds > 0 {
        keep_current(&args, &store, &world, &cases, &cx, worker).await?;
    }
    Ok(())
}

async fn set_activity(store: &dyn Store, built: bool) -> anyhow::Result<()> {
    let build = hatake_store::ActivityBuild { built, after: i64::MAX };
    store
        .put_setting(hatake_store::SETTING_ACTIVITY, &serde_json::to_string(&build)?, hatake_web::now_millis())
        .await?;
    Ok(())
}

/// Counts `repeat` times: (members, median s, p95 s).
async fn evaluate(
    store: &dyn Store,
    definition: &Definition,
    now: i64,
    repeat: usize,
) -> anyhow::Result<(i64, f64, f64)> {
    let mut times = Vec::with_capacity(repeat);
    let mut members = 0;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        members = store.count_matching(definition, now).await?;
        times.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    times.sort_unstable();
    // Nanoseconds in, milliseconds out: seconds shown.
    Ok((members, percentile(&times, 0.5) / 1e3, percentile(&times, 0.95) / 1e3))
}

/// How far the segment worker is behind the log: events not yet read.
async fn lag(store: &dyn Store) -> anyhow::Result<i64> {
    let cursor: i64 = store
        .get_setting(hatake_engine::segments::SETTING_CURSOR)
        .await?
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["event"].as_i64())
        .unwrap_or(0);
    Ok((store.max_event_id().await? - cursor).max(0))
}

/// Events arrive at `--rate` for `--ingest-seconds` while the segment worker keeps the bench's
/// segments (saved for it) current; its lag behind the log is sampled every second. Baseline:
/// the same arrival with the worker held off.
async fn keep_current(
    args: &SegmentsBenchArgs,
    store: &Arc<dyn Store>,
    world: &Arc<World>,
    cases: &[(&str, Definition)],
    cx: &WorkContext,
    mut worker: SegmentWorker,
) -> anyhow::Result<()> {
    let now = hatake_web::now_millis();
    let (existing, _) = store.segments(false, 0, 1_000).await?;
    for (n, (name, definition)) in cases.iter().enumerate().skip(1) {
        let title = format!("bench {n}: {name}");
        match existing.iter().find(|s| s.name == title) {
            Some(row) => store.save_segment(row.id, &title, "", definition, None, now).await?,
            None => store.create_segment(&title, "", definition, None, now).await.map(|_| ())?,
        }
    }
    // Members built first.
    let started = Instant::now();
    while worker.run(cx).await.map_err(|e| anyhow::anyhow!("segment worker: {e:?}"))? {}
    println!();
    println!("{} segments' members built in {:.1} s", cases.len() - 1, started.elapsed().as_secs_f64());
    let offset = store.max_event_id().await?.unsigned_abs() as usize + 1_000_000_000;
    println!(
        "events arriving at {}/s for {} s (store appends of 5,000, times within the last hour):",
        count(args.rate as usize),
        args.ingest_seconds
    );
    // Baseline: the arrival alone.
    let alone = ingest(store, world, args.rate, 5, offset).await?;
    println!("  baseline, worker held off (5 s)          {:>10} events/s", count(alone as usize));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (store, world, stop) = (store.clone(), world.clone(), stop.clone());
        let (rate, seconds) = (args.rate, args.ingest_seconds);
        tokio::spawn(async move {
            let result = ingest(&store, &world, rate, seconds, offset + 10_000_000).await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        })
    };
    let mut samples = Vec::new();
    let mut steps = 0_u64;
    let mut next_sample = Instant::now() + std::time::Duration::from_secs(1);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if !worker.run(cx).await.map_err(|e| anyhow::anyhow!("segment worker: {e:?}"))? {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        steps += 1;
        if Instant::now() >= next_sample {
            samples.push(u64::try_from(lag(store.as_ref()).await?).unwrap_or(0));
            next_sample += std::time::Duration::from_secs(1);
        }
    }
    let achieved = feeder.await.context("feeder")??;
    let drain = Instant::now();
    while worker.run(cx).await.map_err(|e| anyhow::anyhow!("segment worker: {e:?}"))? {}
    let drained = drain.elapsed().as_secs_f64();
    let mut sorted = samples.clone();
    sorted.sort_unstable();
    // Nearest rank, on plain counts.
    let rank = |q: f64| {
        let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(at).copied().unwrap_or(0)
    };
    let p95 = rank(0.95);
    let at = |lag: u64| lag as f64 / (achieved.max(1) as f64);
    println!(
        "  with the worker keeping {} segments       {:>10} events/s arrived",
        cases.len() - 1,
        count(achieved as usize)
    );
    println!(
        "  worker lag, sampled each second: median {} events, p95 {} ({:.1} s of arrivals), max {}; {} steps",
        count(rank(0.5) as usize),
        count(p95 as usize),
        at(p95),
        count(sorted.last().copied().unwrap_or(0) as usize),
        steps
    );
    println!("  caught up {drained:.1} s after the arrivals stopped; lags by second: {samples:?}");
    Ok(())
}

/// Appends events at `rate` per second for `seconds` (batches of 5,000 as the event writer
/// writes them); returns the rate achieved.
async fn ingest(store: &Arc<dyn Store>, world: &World, rate: u64, seconds: u64, offset: usize) -> anyhow::Result<u64> {
    const BATCH: usize = 5_000;
    let started = Instant::now();
    let total = usize::try_from(rate * seconds).unwrap_or(usize::MAX);
    let mut sent = 0;
    while sent < total {
        let now = hatake_web::now_millis();
        let batch: Vec<hatake_store::NewEvent> =
            (sent..(sent + BATCH).min(total)).map(|i| scoring::live_event(offset + i, world, now)).collect();
        store.append_events(&batch, now).await?;
        sent += batch.len();
        // Keep to the rate: wait for the time this many events should take.
        let due = std::time::Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }
    Ok((sent as f64 / started.elapsed().as_secs_f64()) as u64)
}
