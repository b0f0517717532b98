//! `hatake bench import`: a large synthetic lead file with duplicates, imported with
//! name-matching into a fresh SQLite data directory.
//!
//! The file holds `--people` distinct people (from [`crate::demo_data`]) plus `--duplicates`
//! (a share) of extra rows that are the same people written differently: legal form spelt
//! another way or moved, 全角 digits, other phone formats, the reading in hiragana or 半角
//! kana, the e-mail in capitals, a typo in the given name. Rows are shuffled.
//!
//! Three figures are measured in the same run: the CSV stage alone (decode, split, map,
//! validate: no database), the whole import with resolution, and as baseline the raw bulk
//! insert of the same validated leads into another fresh directory (no matching). Peak memory
//! is the process's high-water mark.

use crate::demo_data::leads_batch;
use anyhow::Context;
use hatake_csv::{CsvWriter, ExportEncoding, RowReader};
use hatake_domain::{LeadData, RequiredFieldSet};
use hatake_engine::import::{lead_of_row, prepare, run, ImportOptions, RowContext};
use hatake_store::{LeadStore, SystemStore};
use std::path::PathBuf;
use std::time::Instant;

/// `hatake bench import`: CSV import with name-matching at scale.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportBenchArgs {
    /// Distinct people in the file.
    #[arg(long, default_value_t = 900_000)]
    pub people: usize,
    /// Extra rows that repeat a person in another spelling, as a share of `people`.
    #[arg(long, default_value_t = 0.111)]
    pub duplicates: f64,
    /// Where to write the file and the two data directories (removed afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("hatake-bench-import"))]
    pub dir: PathBuf,
    /// Skip the raw-insert baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Keep the file and the data directories (to inspect the result).
    #[arg(long)]
    pub keep: bool,
}

const HEADERS: [&str; 10] =
    ["会社名", "部署", "役職", "氏名", "フリガナ", "メールアドレス", "電話番号", "都道府県", "住所", "流入元"];

fn field(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn row_of(lead: &LeadData) -> Vec<String> {
    vec![
        field(&lead.company_name),
        field(&lead.department),
        field(&lead.title),
        lead.full_name(),
        hatake_domain::lead::join_name(lead.family_name_kana.as_deref(), lead.given_name_kana.as_deref()),
        lead.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
        lead.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        field(&lead.prefecture),
        field(&lead.address),
        field(&lead.source),
    ]
}

fn to_fullwidth_digits(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap_or(c) } else { c })
        .collect()
}

fn to_hiragana(text: &str) -> String {
    text.chars()
        .map(|c| if ('ァ'..='ヶ').contains(&c) { char::from_u32(c as u32 - 0x60).unwrap_or(c) } else { c })
        .collect()
}

/// The same person written differently; `variant` picks how.
fn vary(mut row: Vec<String>, variant: usize) -> Vec<String> {
    match variant % 6 {
        0 => row[0] = row[0].replace("株式会社", "(株)"),
        1 => {
            row[0] = match row[0].strip_prefix("株式会社") {
                Some(rest) => format!("{rest} 株式会社"),
                None => row[0].replace("株式会社", "㈱"),
            };
            row[4] = to_hiragana(&row[4]);
        }
        2 => {
            row[6] = to_fullwidth_digits(&row[6]);
            row[5] = row[5].to_uppercase();
        }
        3 => {
            row[6] = row[6].strip_prefix('0').map_or_else(|| row[6].clone(), |rest| format!("+81 {rest}"));
            row[1] = String::new();
        }
        4 => {
            // A typo in the given name, e-mail missing (a card scan without the address).
            let mut chars: Vec<char> = row[3].chars().collect();
            if let Some(last) = chars.last_mut() {
                *last = if *last == '郎' { '朗' } else { '子' };
            }
            row[3] = chars.into_iter().collect();
            row[5] = String::new();
        }
        _ => {
            row[2] = "部長".to_owned();
            row[9] = "セミナー".to_owned();
        }
    }
    row
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes the file; returns its bytes and the row count.
fn generate(args: &ImportBenchArgs) -> Vec<u8> {
    let duplicates = (args.people as f64 * args.duplicates) as usize;
    let companies = (args.people / 20).max(10);
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(args.people + duplicates);
    let batch = 50_000;
    let mut start = 0;
    while start < args.people {
        let count = batch.min(args.people - start);
        rows.extend(leads_batch(20_261_122, start, count, companies, &[], &[]).iter().map(|l| row_of(&l.data)));
        start += count;
    }
    // Every k-th person appears again, written differently.
    let step = (args.people / duplicates.max(1)).max(1);
    for (n, index) in (0..args.people).step_by(step).take(duplicates).enumerate() {
        rows.push(vary(rows[index].clone(), n));
    }
    // A fixed shuffle so the repeats are spread through the file.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..rows.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        rows.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut writer = CsvWriter::new(&HEADERS, ExportEncoding::Utf8Bom);
    for row in rows {
        writer.write_row(row);
    }
    writer.finish().bytes
}

/// # Errors
/// When the directory cannot be written or a store fails.
pub async fn run_bench(args: &ImportBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    eprintln!("generating {} people with {:.0}% repeated rows …", args.people, args.duplicates * 100.0);
    let bytes = generate(args);
    let file = args.dir.join("leads.csv");
    std::fs::write(&file, &bytes)?;

    // 1. The CSV stage alone.
    let started = Instant::now();
    let prepared = prepare(&bytes, None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let context = RowContext::default();
    let mut reader = RowReader::new(&prepared.text).map_err(|e| anyhow::anyhow!("{}", e.message_en()))?;
    let (mut valid, mut rows) = (0usize, 0usize);
    while let Some(row) = reader.next_row() {
        let row = row.map_err(|e| anyhow::anyhow!("{}", e.message_en()))?;
        rows += 1;
        if lead_of_row(&row, &prepared.mapping, &context).is_ok() {
            valid += 1;
        }
    }
    let csv_seconds = started.elapsed().as_secs_f64();

    // 2. The whole import with name-matching into a fresh data directory. The peak memory is
    // measured from here: writing 5 to clear_refs resets the high-water mark (Linux).
    let generation_peak = peak_memory_mib();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let data = args.dir.join("data-import");
    let _ = std::fs::remove_dir_all(&data);
    let store = hatake_sqlite::SqliteStore::open(&data).await?;
    let (context, options) =
        hatake_engine::settings::import_context(&store, Some("bench".into()), None, "leads.csv", None).await?;
    // From the file's bytes: decoding, hashing and guessing the columns count too.
    let started = Instant::now();
    let prepared = prepare(&bytes, None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let import = run(&store, &prepared, &context, &ImportOptions { ..options }, hatake_web::now_millis, |p| {
        eprint!("\r  {} rows …", p.rows_done);
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let import_seconds = started.elapsed().as_secs_f64();
    let import_peak = peak_memory_mib();
    eprintln!();
    let overview = store.overview().await?;
    drop(store);

    // 3. Baseline: the same validated leads appended without matching.
    let mut baseline = None;
    if !args.no_baseline {
        let data = args.dir.join("data-raw");
        let _ = std::fs::remove_dir_all(&data);
        let store = hatake_sqlite::SqliteStore::open(&data).await?;
        let mut reader = RowReader::new(&prepared.text).map_err(|e| anyhow::anyhow!("{}", e.message_en()))?;
        let required = RequiredFieldSet::default();
        let mut leads = Vec::new();
        while let Some(Ok(row)) = reader.next_row() {
            if let Ok(lead) = lead_of_row(&row, &prepared.mapping, &context) {
                let is_lead = required.is_lead(&lead);
                leads.push((lead, is_lead));
            }
        }
        let started = Instant::now();
        // Emails repeat in the file (the duplicates): keep the first of each for the raw insert.
        let mut seen = std::collections::HashSet::new();
        leads.retain(|(l, _)| l.email.as_ref().is_none_or(|e| seen.insert(e.as_str().to_owned())));
        for chunk in leads.chunks(20_000) {
            store.bulk_insert_leads(chunk, hatake_web::now_millis()).await?;
        }
        baseline = Some((leads.len(), started.elapsed().as_secs_f64()));
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&args.dir);
    }

    println!(
        "import bench: {} rows ({} people + {} repeats), {:.0} MB file, {cores} cores",
        rows,
        args.people,
        rows.saturating_sub(args.people),
        bytes.len() as f64 / 1e6
    );
    println!(
        "  CSV stage (decode, split, map, validate): {:.2} s = {:.0} rows/s ({valid} valid)",
        csv_seconds,
        rows as f64 / csv_seconds
    );
    println!(
        "  import + name-matching, end to end:      {:.2} s = {:.0} rows/s (target < 60 s)",
        import_seconds,
        rows as f64 / import_seconds
    );
    println!(
        "    outcome: {} created, {} merged, {} unchanged, {} to review, {} rejected; {} leads stored",
        import.created_rows,
        import.merged_rows,
        import.unchanged_rows,
        import.review_rows,
        import.rejected_rows,
        overview.lead_records + overview.list_records
    );
    if let Some((count, seconds)) = baseline {
        println!(
            "  baseline: raw bulk insert, no matching:  {:.2} s = {:.0} rows/s ({count} leads)",
            seconds,
            count as f64 / seconds
        );
    }
    if let (Some(generation), Some(import)) = (generation_peak, import_peak) {
        println!(
            "  peak memory (VmHWM): {import:.0} MiB during the import (the file and its text included); \
             {generation:.0} MiB while generating the file"
        );
    }
    Ok(())
}
