//! `hatake bench names`: name-matching (名寄せ) measured on a Japanese business-card set
//! whose truth is known ([`crate::demo_data::cards`]): people written several ways, homonyms at
//! other companies, siblings at one company, shared role addresses, free mail.
//!
//! The run imports the company master, then the card file, into a fresh database, exactly as
//! `hatake import` does, and compares what came out with the truth:
//! - **people**, over pairs of rows: a pair is predicted "the same person" when both rows went
//!   to one lead (merges and unchanged repeats; a row sent to review made a lead of its own and
//!   counts as not merged); precision, recall and F1 of those automatic decisions, and the
//!   share of rows sent to review;
//! - **company links**: each lead linked to a company of the master, against the company its
//!   person works for (leads of companies the master does not hold must stay unlinked).
//!
//! The baseline, measured on the same file in the same run, is what most tools do: rows with
//! the same e-mail address (ignoring case) are one person, every other row a person of its own.

use crate::demo_data::cards::{generate_cards, CardOptions, CardSet};
use anyhow::Context;
use std::collections::HashMap;
use std::time::Instant;

/// `hatake bench names`: name-matching quality on a generated card set.
#[derive(Debug, Clone, clap::Args)]
pub struct NamesBenchArgs {
    /// Distinct people on the cards.
    #[arg(long, default_value_t = 5_000)]
    pub people: usize,
    /// Extra cards per person on average (each written differently).
    #[arg(long, default_value_t = 0.6)]
    pub repeats: f64,
    /// The generator's seed (the same seed gives the same file).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// PostgreSQL to measure on (a database of its own, emptied first); a fresh SQLite data
    /// directory in a temporary folder when not given.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Where to keep the SQLite data directory while measuring (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("hatake-bench-names"))]
    pub dir: std::path::PathBuf,
    /// Write the card file and the company master here (to look at them).
    #[arg(long)]
    pub keep_files: Option<std::path::PathBuf>,
    /// Print this many wrong merges and missed pairs (rows side by side), to see why.
    #[arg(long, default_value_t = 0)]
    pub show_errors: usize,
}

/// Pairwise precision, recall and F1 of a clustering against the truth.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairScores {
    pub true_pairs: u64,
    pub predicted_pairs: u64,
    pub correct_pairs: u64,
}

impl PairScores {
    /// `cluster[i]` and `truth[i]` are the predicted and true group of row `i`.
    pub fn of(cluster: &[i64], truth: &[usize]) -> Self {
        let pairs = |n: u64| n * n.saturating_sub(1) / 2;
        let mut by_cluster: HashMap<i64, u64> = HashMap::new();
        let mut by_truth: HashMap<usize, u64> = HashMap::new();
        let mut by_both: HashMap<(i64, usize), u64> = HashMap::new();
        for (c, t) in cluster.iter().zip(truth) {
            *by_cluster.entry(*c).or_default() += 1;
            *by_truth.entry(*t).or_default() += 1;
            *by_both.entry((*c, *t)).or_default() += 1;
        }
        Self {
            true_pairs: by_truth.values().map(|n| pairs(*n)).sum(),
            predicted_pairs: by_cluster.values().map(|n| pairs(*n)).sum(),
            correct_pairs: by_both.values().map(|n| pairs(*n)).sum(),
        }
    }

    pub fn precision(&self) -> f64 {
        ratio(self.correct_pairs, self.predicted_pairs)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.correct_pairs, self.true_pairs)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// The baseline: rows of one e-mail address (any case) are one person.
pub fn exact_email_clusters(set: &CardSet) -> Vec<i64> {
    let mut ids: HashMap<String, i64> = HashMap::new();
    set.rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let email = hatake_domain::text::nfkc_trim(&row.fields[5]).to_lowercase();
            if email.is_empty() {
                -1 - i as i64
            } else {
                let next = ids.len() as i64;
                *ids.entry(email).or_insert(next)
            }
        })
        .collect()
}

/// What the company links came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkScores {
    /// Leads linked to a company.
    pub linked: u64,
    /// Of those, linked to the company their person works for.
    pub correct: u64,
    /// Leads whose company the master holds (those that should be linked).
    pub linkable: u64,
    /// Company questions left for a person.
    pub questions: u64,
}

pub async fn run(args: &NamesBenchArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let generated = Instant::now();
    let set = generate_cards(CardOptions { seed: args.seed, people: args.people, repeats: args.repeats });
    let (csv, master) = (set.csv(), set.master_csv());
    if let Some(dir) = &args.keep_files {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("cards.csv"), &csv)?;
        std::fs::write(dir.join("master.csv"), &master)?;
    }
    println!(
        "card set: {} rows, {} people, {} companies ({} in the master); seed {}; generated in {:.1} s; {cores} cores",
        set.rows.len(),
        set.people,
        set.companies.len(),
        set.companies.iter().filter(|c| c.in_master).count(),
        args.seed,
        generated.elapsed().as_secs_f64()
    );

    let store: std::sync::Arc<dyn hatake_store::Store> = match &args.database_url {
        Some(url) => std::sync::Arc::new(hatake_postgres::PostgresStore::connect(url).await.context("PostgreSQL")?),
        None => {
            if args.dir.exists() {
                std::fs::remove_dir_all(&args.dir).with_context(|| format!("emptying {}", args.dir.display()))?;
            }
            std::sync::Arc::new(hatake_sqlite::SqliteStore::open(&args.dir).await?)
        }
    };
    anyhow::ensure!(store.max_lead_id().await? == 0, "the database must hold no lead (use an empty one)");
    let now = hatake_web::now_millis;
    let clock = Instant::now();
    hatake_engine::companies::import_companies(&*store, master.as_bytes(), None, "master.csv", None, now).await?;
    let master_seconds = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let prepared = hatake_engine::import::prepare(csv.as_bytes(), None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (context, options) =
        hatake_engine::settings::import_context(&*store, Some("名刺".into()), None, "cards.csv", None).await?;
    let import = hatake_engine::import::run(&*store, &prepared, &context, &options, now, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let import_seconds = clock.elapsed().as_secs_f64();
    anyhow::ensure!(import.status == "done", "the import did not end: {:?}", import.error);

    let mut lead_of_row = vec![0i64; set.rows.len()];
    for (line, lead, _) in store.import_lines(import.id).await? {
        if let Some(slot) = usize::try_from(line - 2).ok().and_then(|i| lead_of_row.get_mut(i)) {
            *slot = lead;
        }
    }
    let rejected = store.import_rejects(import.id).await?;
    for reject in &rejected {
        if let Some(slot) = usize::try_from(reject.line - 2).ok().and_then(|i| lead_of_row.get_mut(i)) {
            *slot = -reject.line; // a person of its own
        }
    }
    let truth: Vec<usize> = set.rows.iter().map(|r| r.person).collect();
    let ours = PairScores::of(&lead_of_row, &truth);
    let clock = Instant::now();
    let baseline_clusters = exact_email_clusters(&set);
    let baseline_seconds = clock.elapsed().as_secs_f64();
    let baseline = PairScores::of(&baseline_clusters, &truth);
    let links = link_scores(&*store, &set, &lead_of_row).await?;
    let review_share = import.review_rows as f64 / set.rows.len() as f64;
    let open_reviews = store.count_reviews("open").await?;

    println!(
        "import: {} rows in {import_seconds:.1} s (company master {master_seconds:.1} s) — {} created, {} merged, {} unchanged, {} to review, {} rejected",
        import.total_rows, import.created_rows, import.merged_rows, import.unchanged_rows, import.review_rows, import.rejected_rows
    );
    println!();
    println!("| people (pairs of rows)      | precision | recall | F1     | true pairs | predicted |");
    println!("|------------------------------|----------:|-------:|-------:|-----------:|----------:|");
    for (name, scores) in [("hatake name-matching", ours), ("baseline: exact e-mail", baseline)] {
        println!(
            "| {name:<28} | {:>9.4} | {:>6.4} | {:>6.4} | {:>10} | {:>9} |",
            scores.precision(),
            scores.recall(),
            scores.f1(),
            scores.true_pairs,
            scores.predicted_pairs
        );
    }
    println!();
    println!(
        "sent to review: {} rows ({:.2} %); open questions: {open_reviews} (people and companies)",
        import.review_rows,
        review_share * 100.0
    );
    println!(
        "company links: precision {:.4} ({} of {} links right), recall {:.4} ({} of {} leads whose company the master holds); {} company questions",
        ratio(links.correct, links.linked),
        links.correct,
        links.linked,
        ratio(links.correct, links.linkable),
        links.correct,
        links.linkable,
        links.questions
    );
    println!(
        "F1 {:.4} against the baseline's {:.4} ({:.1}× fewer missed or wrong pairs); baseline computed in {:.3} s",
        ours.f1(),
        baseline.f1(),
        (1.0 - baseline.f1()) / (1.0 - ours.f1()).max(1e-9),
        baseline_seconds
    );
    if args.show_errors > 0 {
        show_errors(&set, &lead_of_row, args.show_errors);
    }
    drop(store);
    if args.database_url.is_none() {
        let _ = std::fs::remove_dir_all(&args.dir);
    }
    Ok(())
}

/// Prints rows of different people that went to one lead, and rows of one person that did not.
fn show_errors(set: &CardSet, lead_of_row: &[i64], limit: usize) {
    let mut first_of_lead: HashMap<i64, usize> = HashMap::new();
    let mut first_of_person: HashMap<usize, usize> = HashMap::new();
    let (mut wrong, mut missed) = (Vec::new(), Vec::new());
    for (i, (row, lead)) in set.rows.iter().zip(lead_of_row).enumerate() {
        match first_of_lead.get(lead) {
            Some(&j) if set.rows[j].person != row.person && wrong.len() < limit => wrong.push((j, i)),
            Some(_) => {}
            None => {
                first_of_lead.insert(*lead, i);
            }
        }
        match first_of_person.get(&row.person) {
            Some(&j) if lead_of_row[j] != *lead && missed.len() < limit => missed.push((j, i)),
            Some(_) => {}
            None => {
                first_of_person.insert(row.person, i);
            }
        }
    }
    for (title, pairs) in [("merged but different people", wrong), ("one person, not merged", missed)] {
        println!("\n{title}:");
        for (a, b) in pairs {
            println!("  line {}: {}", a + 2, set.rows[a].fields.join(","));
            println!("  line {}: {}\n", b + 2, set.rows[b].fields.join(","));
        }
    }
}

/// Scores each lead's company link against the company of the person most of its rows are.
async fn link_scores(
    store: &dyn hatake_store::Store,
    set: &CardSet,
    lead_of_row: &[i64],
) -> anyhow::Result<LinkScores> {
    let mut company_of_lead: HashMap<i64, usize> = HashMap::new();
    for (row, lead) in set.rows.iter().zip(lead_of_row) {
        if *lead > 0 {
            company_of_lead.entry(*lead).or_insert(row.company);
        }
    }
    let ids: Vec<i64> = company_of_lead.keys().copied().collect();
    let mut scores = LinkScores::default();
    let mut accounts: HashMap<i64, Option<String>> = HashMap::new();
    for chunk in ids.chunks(5_000) {
        for lead in store.leads_by_ids(chunk).await? {
            let company = &set.companies[company_of_lead[&lead.id]];
            if company.in_master {
                scores.linkable += 1;
            }
            let Some(account) = lead.account_id else { continue };
            scores.linked += 1;
            let number = match accounts.get(&account) {
                Some(number) => number.clone(),
                None => {
                    let number = store.get_account(account).await?.corporate_number;
                    accounts.insert(account, number.clone());
                    number
                }
            };
            if number.as_deref() == Some(company.corporate_number.as_str()) {
                scores.correct += 1;
            }
        }
    }
    scores.questions =
        store.list_reviews("open", 0, 1_000_000).await?.iter().filter(|r| r.kind == "account").count() as u64;
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_scores_count_pairs() {
        // Truth: rows 0,1,2 one person, 3 another. Predicted: {0,1} and {2,3}.
        let scores = PairScores::of(&[1, 1, 2, 2], &[0, 0, 0, 1]);
        assert_eq!((scores.true_pairs, scores.predicted_pairs, scores.correct_pairs), (3, 2, 1));
        assert!((scores.precision() - 0.5).abs() < 1e-9);
        assert!((scores.recall() - 1.0 / 3.0).abs() < 1e-9);
    }
}
