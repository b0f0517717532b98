//! `hatake import`: lead files from the command line, with a progress bar and a summary, and
//! the list and undo of past imports.

use crate::config::{self, ServeArgs, StoreArgs, DEFAULT_DATA_DIR};
use anyhow::{anyhow, bail, Context};
use hatake_csv::TextEncoding;
use hatake_engine::import::{prepare, run, ImportError};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import leads from a CSV file (UTF-8, UTF-8 with BOM or Shift_JIS/CP932, detected).
    Leads {
        #[command(flatten)]
        store: StoreArgs,
        /// The CSV file; its first row names the columns.
        file: PathBuf,
        /// Where these leads came from (an exhibition, a seminar …), kept with every record.
        #[arg(long)]
        source: Option<String>,
        /// Product code (or name) every imported lead is interested in.
        #[arg(long)]
        product: Option<String>,
        /// Override the detected encoding: utf-8, utf-8-bom, shift_jis (cp932), utf-16le.
        #[arg(long)]
        encoding: Option<String>,
        /// Column keys in file order, comma-separated ("" or "-" skips a column); guessed from
        /// the headers when not given.
        #[arg(long)]
        mapping: Option<String>,
        /// Show the detected encoding, the mapping and the first rows' problems; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the rejected rows, with their reasons, to this CSV file.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Record an event for each person of the file (a seminar's attendance list):
        /// seminar_registration, seminar_attendance, exhibition_visit, call, meeting, download or
        /// custom. Needs --event-name and --event-date.
        #[arg(long)]
        event: Option<String>,
        /// The event's name (the seminar, the exhibition …).
        #[arg(long)]
        event_name: Option<String>,
        /// The day it happened, 2026-11-20 (optionally "2026-11-20 14:00"), in the time zone.
        #[arg(long)]
        event_date: Option<String>,
        /// Start a new import even when an import of this file stopped half-way (by default
        /// that import is resumed: it takes the rows it had not).
        #[arg(long)]
        new: bool,
    },
    /// Resume an import that stopped half-way (its process was killed, or the database
    /// failed): it takes the rows after the last written batch. Give the same file.
    Resume {
        #[command(flatten)]
        store: StoreArgs,
        /// The import's id (see `hatake import list`).
        id: i64,
        /// The file of that import.
        file: PathBuf,
        /// Resume an import still marked running although its process is known to be gone
        /// (without this, it must have made no progress for five minutes).
        #[arg(long)]
        force: bool,
        /// Write the rejected rows, with their reasons, to this CSV file.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Import companies: the corporate-number bulk file (法人番号公表サイト 全件データ, UTF-8
    /// or Shift_JIS) or any CSV of companies with a header; then link leads to them.
    Companies {
        #[command(flatten)]
        store: StoreArgs,
        /// The file.
        file: PathBuf,
        /// Override the detected encoding: utf-8, utf-8-bom, shift_jis (cp932), utf-16le.
        #[arg(long)]
        encoding: Option<String>,
    },
    /// List past imports, newest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Undo an import: remove the leads it created and restore those it changed (leads
    /// changed again since are kept and listed).
    Undo {
        #[command(flatten)]
        store: StoreArgs,
        /// The import's id (see `hatake import list`).
        id: i64,
    },
}

pub async fn run_command(command: ImportCommand) -> anyhow::Result<()> {
    match command {
        ImportCommand::Leads {
            store,
            file,
            source,
            product,
            encoding,
            mapping,
            dry_run,
            rejects,
            event,
            event_name,
            event_date,
            new,
        } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let zone = jiff::tz::TimeZone::get(&settings.time_zone)?;
            let event = hatake_domain::event::parse_offline_event(
                event.as_deref().unwrap_or_default(),
                event_name.as_deref().unwrap_or_default(),
                event_date.as_deref().unwrap_or_default(),
                &zone,
            )
            .map_err(|errors| {
                let lines: Vec<String> = errors
                    .0
                    .iter()
                    .map(|e| {
                        let flag = if e.field == "event_kind" { "event".to_owned() } else { e.field.replace('_', "-") };
                        format!("  --{flag}: {} / {}", e.message_en, e.message_ja)
                    })
                    .collect();
                anyhow!("the event to record:\n{}", lines.join("\n"))
            })?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let encoding = encoding_flag(encoding)?;
            let mapping = mapping
                .map(|text| {
                    let keys: Vec<&str> =
                        text.split(',').map(|k| if k.trim() == "-" { "" } else { k.trim() }).collect();
                    hatake_csv::Mapping::parse_keys(&keys).map_err(|errors| {
                        let lines: Vec<String> =
                            errors.0.iter().map(|e| format!("  {}: {}", e.field, e.message_en)).collect();
                        anyhow!("--mapping:\n{}", lines.join("\n"))
                    })
                })
                .transpose()?;
            let mapping_given = mapping.is_some();
            let prepared = prepare(&bytes, encoding, mapping).map_err(|e| match e {
                ImportError::File(error) if mapping_given && error.code == "mapping_mismatch" => {
                    anyhow!("--mapping: {} / {}", error.message_en, error.message_ja)
                }
                other => describe(other),
            })?;
            eprintln!("encoding: {} ({} undecodable characters)", prepared.encoding.label(), prepared.malformed);
            for (header, column) in prepared.headers.iter().zip(&prepared.mapping.0) {
                eprintln!("  {header} → {}", column.map_or("(not imported)", |c| c.as_str()));
            }
            // A dry run on a data directory that holds no database yet creates none.
            if let (true, crate::config::Database::Sqlite { data_dir }) = (dry_run, &settings.database) {
                if !data_dir.join(hatake_sqlite::DATABASE_FILE).exists() {
                    eprintln!(
                        "note: {} holds no database yet; products and owners are not checked",
                        data_dir.display()
                    );
                    return dry_run_rows(&prepared, &hatake_engine::import::RowContext::default());
                }
            }
            let store = crate::open_store(&settings.database).await?;
            let product_id = match product {
                Some(code) => {
                    let key = hatake_domain::text::search_key(&code);
                    let products = store.list_products().await?;
                    let found = products
                        .iter()
                        .find(|p| {
                            hatake_domain::text::search_key(&p.code) == key
                                || hatake_domain::text::search_key(&p.name) == key
                        })
                        .ok_or_else(|| anyhow!("--product: no product has the code or name {code}"))?;
                    Some(found.id)
                }
                None => None,
            };
            let file_name =
                file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let (context, mut options) =
                hatake_engine::settings::import_context(&*store, source, product_id, &file_name, None).await?;
            options.event = event;
            let earlier = store.imports_of_file(&prepared.sha256).await?;
            let now = hatake_web::now_millis();
            let stopped = earlier.iter().find(|i| hatake_engine::import::is_stopped(i, now));
            if let (Some(stopped), false, false) = (stopped, new, dry_run) {
                eprintln!(
                    "import {} of this file stopped after {} rows; resuming it (--new starts a new import instead)",
                    stopped.id, stopped.total_rows
                );
                return resume_import(&*store, stopped.id, &bytes, false, rejects).await;
            }
            for earlier in &earlier {
                eprintln!(
                    "note: this file was imported before as import {} ({}, {} rows); importing it again changes nothing",
                    earlier.id, earlier.status, earlier.total_rows
                );
            }
            if dry_run {
                return dry_run_rows(&prepared, &context);
            }
            let bar = progress_bar(&prepared);
            let started = std::time::Instant::now();
            let mut links = hatake_engine::companies::LinkCounts::default();
            let import = run(&*store, &prepared, &context, &options, hatake_web::now_millis, |p| {
                links = p.links;
                show_progress(&bar, &p);
            })
            .await
            .map_err(describe)?;
            bar.finish_and_clear();
            report(&*store, &import, &prepared, links, started, rejects).await
        }
        ImportCommand::Resume { store, id, file, force, rejects } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let store = crate::open_store(&settings.database).await?;
            resume_import(&*store, id, &bytes, force, rejects).await
        }
        ImportCommand::Companies { store, file, encoding } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let encoding = encoding_flag(encoding)?;
            let store = crate::open_store(&settings.database).await?;
            let file_name =
                file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let sha256 = hatake_engine::import::sha256_hex(&bytes);
            for earlier in store.imports_of_file(&sha256).await? {
                eprintln!(
                    "note: this file was imported before as import {} ({}, {} rows); companies already \
                     stored are only updated where the file differs",
                    earlier.id, earlier.status, earlier.total_rows
                );
            }
            let started = std::time::Instant::now();
            let import = hatake_engine::companies::import_companies(
                &*store,
                &bytes,
                encoding,
                &file_name,
                None,
                hatake_web::now_millis,
            )
            .await?;
            println!(
                "import {} ({}): {} rows in {:.1} s — {} companies created, {} updated, {} unchanged or skipped \
                 (history rows, closed companies), {} rejected",
                import.id,
                import.source.as_deref().unwrap_or(""),
                import.total_rows,
                started.elapsed().as_secs_f64(),
                import.created_rows,
                import.merged_rows,
                import.unchanged_rows,
                import.rejected_rows
            );
            for reject in store.import_rejects(import.id).await?.iter().take(10) {
                let reasons: Vec<String> =
                    reject.problem_list().iter().map(|p| format!("{}: {}", p.field, p.message_en)).collect();
                println!("  line {}: {}", reject.line, reasons.join("; "));
            }
            let links = hatake_engine::companies::link_all(&*store, hatake_web::now_millis()).await?;
            println!(
                "leads linked to companies: {} linked, {} to review, {} without a company of that name",
                links.linked, links.review, links.unmatched
            );
            Ok(())
        }
        ImportCommand::List { store } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let store = crate::open_store(&settings.database).await?;
            for import in store.list_imports(100).await? {
                println!(
                    "{:>5}  {:<8} {:<30} {:>8} rows  {} created, {} merged, {} unchanged, {} review, {} rejected",
                    import.id,
                    import.status,
                    import.file_name,
                    import.total_rows,
                    import.created_rows,
                    import.merged_rows,
                    import.unchanged_rows,
                    import.review_rows,
                    import.rejected_rows
                );
            }
            Ok(())
        }
        ImportCommand::Undo { store, id } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let store = crate::open_store(&settings.database).await?;
            let report = match store.undo_import(id, None, hatake_web::now_millis()).await {
                Err(hatake_store::StoreError::Conflict { .. }) => {
                    bail!("import {id} is not finished or was already undone")
                }
                Err(hatake_store::StoreError::NotFound) => bail!("there is no import {id}"),
                other => other?,
            };
            println!("import {id} undone: {} removed, {} restored (leads)", report.deleted, report.restored);
            if !report.kept.is_empty() {
                println!("kept because they changed after the import: {:?}", report.kept);
            }
            Ok(())
        }
    }
}

/// The progress bar of an import of this file.
fn progress_bar(prepared: &hatake_engine::import::Prepared) -> indicatif::ProgressBar {
    let total = prepared.text.lines().count().saturating_sub(1) as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn show_progress(bar: &indicatif::ProgressBar, p: &hatake_engine::import::Progress) {
    bar.set_position(p.rows_done as u64);
    bar.set_message(format!("{} new, {} merged, {} rejected", p.counts.created, p.counts.merged, p.counts.rejected));
}

/// Resumes import `id` with its file.
async fn resume_import(
    store: &dyn hatake_store::Store,
    id: i64,
    bytes: &[u8],
    force: bool,
    rejects: Option<PathBuf>,
) -> anyhow::Result<()> {
    let import = match store.get_import(id).await {
        Err(hatake_store::StoreError::NotFound) => bail!("there is no import {id}"),
        other => other?,
    };
    let (context, options) =
        hatake_engine::settings::import_context(store, None, None, &import.file_name, import.created_by).await?;
    let resumption =
        hatake_engine::import::prepare_resume(store, id, bytes, &context, &options).await.map_err(describe)?;
    eprintln!("resuming import {id} after row {}", import.total_rows);
    let bar = progress_bar(&resumption.prepared);
    let started = std::time::Instant::now();
    let mut links = hatake_engine::companies::LinkCounts::default();
    let import = hatake_engine::import::resume(store, &resumption, force, hatake_web::now_millis, |p| {
        links = p.links;
        show_progress(&bar, &p);
    })
    .await
    .map_err(describe)?;
    bar.finish_and_clear();
    report(store, &import, &resumption.prepared, links, started, rejects).await
}

/// The summary of a finished import, its first rejected rows, and the rejects file if asked.
async fn report(
    store: &dyn hatake_store::Store,
    import: &hatake_store::ImportRow,
    prepared: &hatake_engine::import::Prepared,
    links: hatake_engine::companies::LinkCounts,
    started: std::time::Instant,
    rejects: Option<PathBuf>,
) -> anyhow::Result<()> {
    println!(
        "import {}: {} rows in {:.1} s — {} created, {} merged, {} unchanged, {} to review, {} rejected",
        import.id,
        import.total_rows,
        started.elapsed().as_secs_f64(),
        import.created_rows,
        import.merged_rows,
        import.unchanged_rows,
        import.review_rows,
        import.rejected_rows
    );
    if let Some(event) =
        import.event.as_deref().and_then(|e| serde_json::from_str::<hatake_domain::event::OfflineEvent>(e).ok())
    {
        println!("  events recorded: {} × {} 「{}」", import.event_rows, event.kind, event.name);
    }
    if links.linked + links.review > 0 {
        println!(
            "  new leads linked to companies: {} linked, {} with a company question to review",
            links.linked, links.review
        );
    }
    let rejected = store.import_rejects(import.id).await?;
    if !rejected.is_empty() {
        for reject in rejected.iter().take(10) {
            let reasons: Vec<String> =
                reject.problem_list().iter().map(|p| format!("{}: {}", p.field, p.message_en)).collect();
            println!("  line {}: {}", reject.line, reasons.join("; "));
        }
        if rejected.len() > 10 {
            println!("  … and {} more", rejected.len() - 10);
        }
        if let Some(path) = rejects {
            let bytes =
                hatake_engine::export::rejects_csv(&prepared.headers, &rejected, hatake_csv::ExportEncoding::Utf8Bom);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            println!("rejected rows written to {}", path.display());
        }
    }
    Ok(())
}

/// `--encoding` as a text encoding.
fn encoding_flag(flag: Option<String>) -> anyhow::Result<Option<TextEncoding>> {
    flag.map(|e| TextEncoding::parse(&e).map_err(|err| anyhow!("--encoding: {}", err.message_en))).transpose()
}

/// The first rows' problems, and how many rows there are; nothing is written.
fn dry_run_rows(
    prepared: &hatake_engine::import::Prepared,
    context: &hatake_engine::import::RowContext,
) -> anyhow::Result<()> {
    let (rows, total) = hatake_engine::import::preview(prepared, context, 20).map_err(describe)?;
    for row in rows {
        match row.result {
            Ok(lead) => eprintln!("line {}: ok ({})", row.line, lead.full_name()),
            Err(problems) => {
                for p in problems {
                    eprintln!("line {}: {}: {}", row.line, p.field, p.message_en);
                }
            }
        }
    }
    eprintln!("{total} data rows; nothing was written (--dry-run)");
    Ok(())
}

fn describe(error: ImportError) -> anyhow::Error {
    match error {
        ImportError::File(e) => anyhow!("{}: {} / {}", e.field, e.message_en, e.message_ja),
        ImportError::Store(e) => anyhow!(e),
    }
}
