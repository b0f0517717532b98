//! The summary of `hatake bench ui`: medians over rounds, the results table against the p95
//! target, and the command line that reproduces the run.

use super::scenarios::Scenario;
use super::{per_second, Ids, UiBenchArgs, TARGET_P95_MS};
use std::path::Path;

/// One scenario's figures in one round.
#[derive(Debug, Clone)]
pub(super) struct Figures {
    pub(super) requests: u64,
    pub(super) per_second: f64,
    pub(super) median: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
    /// Per variant: (requests, median, p95).
    pub(super) variants: Vec<(u64, f64, f64)>,
}

/// All rounds: `rounds[round][scenario]`.
pub(super) type Rounds = Vec<Vec<Figures>>;

pub(super) fn median(values: &mut [f64]) -> f64 {
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

pub(super) fn report(rounds: &Rounds, scenarios: &[Scenario], args: &UiBenchArgs, cores: usize, ids: &Ids) {
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
        count(args.leads),
        count(args.companies),
        args.concurrency,
        args.seconds
    );
    if let Some(load) = ids.load {
        println!(
            "load: companies {:.1} s, leads {:.1} s ({} rows/s), ANALYZE {:.1} s",
            load.accounts.as_secs_f64(),
            load.leads.as_secs_f64(),
            count(per_second(args.leads, load.leads)),
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

pub(super) fn reproduce(args: &UiBenchArgs) -> String {
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

/// A count with thousands separators (1234567 → "1,234,567"); saturates above `i64::MAX`.
pub(super) fn count(value: impl TryInto<i64>) -> String {
    hatake_web::format_number(value.try_into().unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_formatting() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(count(1_000_000usize), "1,000,000");
        assert_eq!(count(999u64), "999");
        assert_eq!(count(0i64), "0");
    }
}
