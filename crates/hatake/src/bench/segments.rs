//! `hatake bench segments`: how long a fresh evaluation of a segment takes (the count shown while
//! editing, a rebuild after a save) on the data set of `bench scoring` — by default a million
//! leads and twenty million events — for segments of each kind of condition, next to the floor
//! of a segment that every lead matches (one pass over the leads) measured in the same run.
//! Figures: median and p95 over the repetitions (issue 16 asks p95 < 1 s).

use super::load::percentile;
use super::report::count;
use super::scoring::{self, ScoringBenchArgs};
use super::TempDir;
use anyhow::{bail, Context};
use hatake_domain::segment::{Condition, Definition, Group};
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
    let world = scoring::prepare(store.as_ref(), &load).await?;
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
    println!();
    println!("{:<58} {:>10} {:>10} {:>10} {:>8}", "segment", "members", "median s", "p95 s", "× floor");
    let mut floor = None;
    for (name, definition) in &cases {
        let mut times = Vec::with_capacity(args.repeat);
        let mut members = 0;
        for _ in 0..args.repeat {
            let started = Instant::now();
            members = store.count_matching(definition, now).await?;
            times.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        times.sort_unstable();
        // Nanoseconds in, milliseconds out: seconds shown.
        let (median, p95) = (percentile(&times, 0.5) / 1e3, percentile(&times, 0.95) / 1e3);
        let base = *floor.get_or_insert(median);
        println!("{name:<58} {:>10} {median:>10.3} {p95:>10.3} {:>8.1}", count(members as usize), median / base);
    }
    println!();
    println!("target: p95 < 1 s for every segment (issue 16)");
    Ok(())
}
