//! Importing leads from a CSV file: decode (UTF-8, UTF-8 with BOM, Shift_JIS/CP932, guessed
//! or chosen), map the columns (guessed from the headers, or chosen), turn each row into a lead
//! or a rejection with its line and reasons, match each lead against the stored people, and
//! write batch by batch. Every row ends up created, merged, unchanged, queued for review or
//! rejected, and the counts add up to the rows read.

mod producer;
mod rows;

pub use rows::{fields_json, lead_of_row, RowContext};

use crate::resolve::Resolver;
use hatake_csv::{decode, Mapping, RowReader, TextEncoding};
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::{FieldError, LeadData, RequiredFieldSet};
use hatake_store::{ImportBatch, ImportCounts, ImportKind, ImportRow, NewImport, Store, StoreError};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Most records resolved and written per transaction. Larger batches dirty each index page for
/// more rows (BENCHMARKS.md has the figures of 25,000 and 100,000). Smaller files are cut into
/// about ten batches (at least [`MIN_BATCH_SIZE`] rows each), so their progress shows.
pub const BATCH_SIZE: usize = 100_000;
pub const MIN_BATCH_SIZE: usize = 5_000;

/// The batch size for a file of this many data lines (see [`BATCH_SIZE`]).
pub fn batch_size_for(lines: usize) -> usize {
    (lines / 10).clamp(MIN_BATCH_SIZE, BATCH_SIZE)
}

/// The sizes of an import's batches: the first ones smaller, doubling up to `size`, so the
/// first write starts soon (nothing is written while the first batch is matched; a whole
/// batch of 100,000 takes seconds to match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSizes {
    pub first: usize,
    pub size: usize,
}

impl BatchSizes {
    /// Batches of `size` records from the first.
    pub fn fixed(size: usize) -> Self {
        let size = size.max(1);
        Self { first: size, size }
    }

    /// Starting at an eighth of `size` (at least [`MIN_BATCH_SIZE`] or `size`).
    pub fn ramped(size: usize) -> Self {
        let size = size.max(1);
        Self { first: (size / 8).max(MIN_BATCH_SIZE).min(size), size }
    }

    /// The size of the batch after one of `previous` records.
    pub fn next(self, previous: usize) -> usize {
        previous.saturating_mul(2).clamp(self.first, self.size)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as CSV at all (no header, a broken quote …).
    #[error("{}", .0.message_en)]
    File(FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<hatake_csv::ReadError> for ImportError {
    fn from(error: hatake_csv::ReadError) -> Self {
        Self::file(error.code(), error.message_ja(), error.message_en())
    }
}

impl ImportError {
    fn file(code: &'static str, ja: String, en: String) -> Self {
        Self::File(FieldError::new("file", code, ja, en))
    }
}

/// The whole file decoded, with the mapping to use.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Shared with the thread that reads the rows during an import.
    pub text: std::sync::Arc<str>,
    pub encoding: TextEncoding,
    /// Characters that could not be decoded (a wrong encoding shows here).
    pub malformed: usize,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    pub sha256: String,
}

/// Decodes the file and settles the mapping (guessed from the headers unless given).
///
/// # Errors
/// [`ImportError::File`] when the file has no header row or the given mapping does not fit.
pub fn prepare(
    bytes: &[u8],
    encoding: Option<TextEncoding>,
    mapping: Option<Mapping>,
) -> Result<Prepared, ImportError> {
    let decoded = decode(bytes, encoding);
    let reader = RowReader::new(&decoded.text)?;
    let headers = reader.headers().unique_names("ja");
    let mapping = mapping.unwrap_or_else(|| Mapping::guess(&headers));
    if mapping.0.len() != headers.len() {
        return Err(ImportError::file(
            "mapping_mismatch",
            format!("列の対応付けは{}列分ですが、ファイルは{}列です", mapping.0.len(), headers.len()),
            format!("The mapping covers {} columns but the file has {}", mapping.0.len(), headers.len()),
        ));
    }
    if let Err(errors) = mapping.validate() {
        let first = errors.0.into_iter().next().expect("validate fails with an error");
        return Err(ImportError::File(first));
    }
    let sha256 = sha256_hex(bytes);
    Ok(Prepared {
        text: decoded.text.into(),
        encoding: decoded.encoding,
        malformed: decoded.malformed,
        headers,
        mapping,
        sha256,
    })
}

/// The hex SHA-256 of a file: how an import recognises a file it has seen.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One row as the preview shows it.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    pub line: usize,
    pub fields: Vec<String>,
    pub result: Result<LeadData, Vec<FieldError>>,
}

/// The first rows of a prepared file, each with its problems, without writing anything.
///
/// # Errors
/// [`ImportError::File`] for a CSV syntax error.
pub fn preview(
    prepared: &Prepared,
    context: &RowContext,
    limit: usize,
) -> Result<(Vec<PreviewRow>, usize), ImportError> {
    let mut reader = RowReader::new(&prepared.text)?;
    let mut rows = Vec::new();
    let mut total = 0;
    while let Some(row) = reader.next_row() {
        let row = row?;
        total += 1;
        if rows.len() < limit {
            rows.push(PreviewRow {
                line: row.line,
                fields: row.iter().map(str::to_owned).collect(),
                result: lead_of_row(&row, &prepared.mapping, context).map_err(|e| e.0),
            });
        }
    }
    Ok((rows, total))
}

/// Progress of a running import, reported after every batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub rows_done: usize,
    pub counts: ImportCounts,
    /// New leads linked to the company master so far, and those with a company question.
    pub links: crate::companies::LinkCounts,
}

/// What the import is for and who runs it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub file_name: String,
    pub created_by: Option<i64>,
    pub required: RequiredFieldSet,
    pub departments: DepartmentDictionary,
    /// Records per batch; when not given, [`batch_size_for`] the file's lines (tests use small
    /// batches to cross batch boundaries).
    pub batch_size: Option<usize>,
    /// An event to record for each person the file names (a seminar's attendance list), with
    /// the import's product.
    pub event: Option<hatake_domain::event::OfflineEvent>,
}

/// Runs an import of a prepared file to the end and returns the finished import.
///
/// # Errors
/// A store error (the import is then marked failed with the rows written so far) or a CSV
/// syntax error.
pub async fn run<S: Store + ?Sized>(
    store: &S,
    prepared: &Prepared,
    context: &RowContext,
    options: &ImportOptions,
    now: impl Fn() -> i64,
    progress: impl FnMut(Progress),
) -> Result<ImportRow, ImportError> {
    let import = start(store, prepared, context, options, now()).await?;
    finish(store, import.id, prepared, context, options, now, progress).await
}

/// Records a new import as running (the first half of [`run`], for callers that continue it
/// in the background and show its progress meanwhile).
///
/// # Errors
/// A store error.
pub async fn start<S: Store + ?Sized>(
    store: &S,
    prepared: &Prepared,
    context: &RowContext,
    options: &ImportOptions,
    now: i64,
) -> Result<ImportRow, ImportError> {
    Ok(store
        .create_import(
            &NewImport {
                kind: ImportKind::Leads,
                file_name: options.file_name.clone(),
                file_sha256: prepared.sha256.clone(),
                encoding: prepared.encoding.as_str().to_owned(),
                source: context.source.clone(),
                product_id: context.product_id,
                mapping: serde_json::to_string(&prepared.mapping).unwrap_or_default(),
                headers: serde_json::to_string(&prepared.headers).unwrap_or_default(),
                created_by: options.created_by,
                event: options.event.as_ref().and_then(|e| serde_json::to_string(e).ok()),
            },
            now,
        )
        .await?)
}

/// Imports the rows of a started import and records the outcome; the counts so far are
/// stored after every batch, so a page can show the progress.
///
/// # Errors
/// As [`run`].
pub async fn finish<S: Store + ?Sized>(
    store: &S,
    import_id: i64,
    prepared: &Prepared,
    context: &RowContext,
    options: &ImportOptions,
    now: impl Fn() -> i64,
    mut progress: impl FnMut(Progress),
) -> Result<ImportRow, ImportError> {
    let mut counts = ImportCounts::default();
    let result = run_rows(store, import_id, prepared, context, options, &now, &mut counts, &mut progress).await;
    let (status, error) = match &result {
        Ok(()) => ("done", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    store.finish_import(import_id, &counts, status, error.as_deref(), now()).await?;
    result?;
    Ok(store.get_import(import_id).await?)
}

/// The write of a batch: the created leads' ids, and how long it took.
type BatchWrite<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Result<Vec<i64>, StoreError>, Duration)> + Send + 'a>>;

/// Lines of a text (a quoted field may hold some: an estimate of the rows, for batch sizes).
fn bytecount_lines(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'\n').count()
}

/// A batch being written, with what to do once it is.
struct InFlight<'a> {
    write: BatchWrite<'a>,
    /// The company-master link of each created lead (the id is filled in once written).
    links: Vec<Option<crate::companies::LinkTarget>>,
    counts: ImportCounts,
    /// Each record's lead and line, for the events the import records.
    people: Vec<(hatake_store::LeadRef, Option<i64>)>,
}

/// The events an import records for the people of one written batch: one per row, keyed
/// `import:{id}:{line}` (so an undo finds them, and a retried batch adds none twice).
fn offline_events(
    import_id: i64,
    event: &hatake_domain::event::OfflineEvent,
    product_id: Option<i64>,
    people: &[(hatake_store::LeadRef, Option<i64>)],
    created: &[i64],
) -> Vec<hatake_store::NewEvent> {
    let kind = hatake_domain::EventKind::parse(&event.kind).unwrap_or(hatake_domain::EventKind::Custom).as_str();
    people
        .iter()
        .filter_map(|(lead, line)| {
            let lead_id = match lead {
                hatake_store::LeadRef::Existing(id) => *id,
                hatake_store::LeadRef::Planned(index) => *created.get(*index)?,
            };
            Some(hatake_store::NewEvent {
                kind,
                lead_id: Some(lead_id),
                visitor_id: None,
                product_id,
                occurred_at: event.occurred_at,
                source: Some(format!("import:{import_id}")),
                name: Some(event.name.clone()),
                properties: serde_json::json!({ "import_id": import_id, "line": line }).to_string(),
                idempotency_key: Some(format!("import:{import_id}:{}", line.unwrap_or_default())),
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn run_rows<S: Store + ?Sized>(
    store: &S,
    import_id: i64,
    prepared: &Prepared,
    context: &RowContext,
    options: &ImportOptions,
    now: &impl Fn() -> i64,
    counts: &mut ImportCounts,
    progress: &mut impl FnMut(Progress),
) -> Result<(), ImportError> {
    // The header row must be readable before anything starts.
    RowReader::new(&prepared.text)?;
    let mut batches = producer::spawn(
        prepared,
        context.clone(),
        options.departments.clone(),
        options
            .batch_size
            .map_or_else(|| BatchSizes::ramped(batch_size_for(bytecount_lines(&prepared.text))), BatchSizes::fixed),
    );
    let (mut matching, mut writing) = (Duration::ZERO, Duration::ZERO);
    let mut counts_links = crate::companies::LinkCounts::default();
    let mut resolver = Resolver::for_import(store, options.required.clone()).await?;
    let started = std::time::Instant::now();
    // Batch n is written (on the store's own thread for SQLite) while batch n+1 is read and
    // matched; the counts of a batch become the import's once it is written.
    let mut planned_counts = *counts;
    let mut in_flight: Option<InFlight<'_>> = None;
    loop {
        let next_batch = async {
            // Let the write of the batch before start first (it runs on its own thread).
            tokio::task::yield_now().await;
            let Some(parsed) = batches.recv().await else { return Ok::<_, ImportError>(None) };
            let clock = std::time::Instant::now();
            let lines: Vec<Option<i64>> = parsed.leads.iter().map(|(incoming, _)| incoming.line).collect();
            let planned = if parsed.leads.is_empty() {
                Default::default()
            } else {
                resolver.plan_ahead(store, parsed.leads).await?
            };
            Ok(Some((parsed.rows, parsed.rejects, planned, lines, clock.elapsed())))
        };
        let (next, written) = match in_flight.take() {
            Some(batch) => {
                let (result, next) = tokio::join!(batch.write, next_batch);
                (next, Some((result, batch.links, batch.counts, batch.people)))
            }
            None => (next_batch.await, None),
        };
        if let Some(((result, took), links, batch_counts, people)) = written {
            let created = result?;
            writing += took;
            resolver.committed(&created);
            if let Some(event) = &options.event {
                let events = offline_events(import_id, event, context.product_id, &people, &created);
                if !events.is_empty() {
                    store.append_events(&events, now()).await?;
                    store.add_import_events(import_id, i64::try_from(events.len()).unwrap_or(0)).await?;
                }
            }
            *counts = batch_counts;
            // New people are linked to the company master where it knows their company.
            let targets: Vec<crate::companies::LinkTarget> = created
                .iter()
                .zip(links)
                .filter_map(|(id, target)| target.map(|t| crate::companies::LinkTarget { id: *id, ..t }))
                .collect();
            let links = crate::companies::link_leads(store, &targets, Some(import_id), now()).await?;
            counts_links.linked += links.linked;
            counts_links.review += links.review;
            progress(Progress {
                rows_done: usize::try_from(counts.total).unwrap_or(0),
                counts: *counts,
                links: counts_links,
            });
        }
        let Some((rows, rejects, (mut plan, mut resolved), lines, took)) = next? else { break };
        matching += took;
        resolver.finalize(&mut plan, &mut resolved)?;
        let people: Vec<(hatake_store::LeadRef, Option<i64>)> = if options.event.is_some() {
            resolved.iter().zip(&lines).map(|(r, line)| (r.lead, *line)).collect()
        } else {
            Vec::new()
        };
        planned_counts.total += rows;
        planned_counts.rejected += i64::try_from(rejects.len()).unwrap_or(0);
        for r in &resolved {
            planned_counts.add(r.outcome);
        }
        let links = plan
            .creates
            .iter()
            .map(|c| {
                c.data.account_id.is_none().then(|| crate::companies::LinkTarget {
                    id: 0,
                    company_name: c.data.company_name.clone(),
                    prefecture: c.data.prefecture.clone(),
                    email: c.data.email.as_ref().map(|e| e.as_str().to_owned()),
                })
            })
            .collect();
        let batch = ImportBatch { import_id, plan, rejects, counts: planned_counts, now: now() };
        in_flight = Some(InFlight {
            write: Box::pin(async move {
                let clock = std::time::Instant::now();
                let result = store.apply_import_batch(batch).await;
                (result, clock.elapsed())
            }),
            links,
            counts: planned_counts,
            people,
        });
    }
    tracing::info!(
        import_id,
        rows = counts.total,
        seconds = started.elapsed().as_secs_f64(),
        matching_seconds = matching.as_secs_f64(),
        writing_seconds = writing.as_secs_f64(),
        linked = counts_links.linked,
        company_reviews = counts_links.review,
        "import finished"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_ramp_up_to_their_size() {
        let sizes = BatchSizes::ramped(BATCH_SIZE);
        let mut size = sizes.first;
        let mut seen = vec![size];
        for _ in 0..4 {
            size = sizes.next(size);
            seen.push(size);
        }
        assert_eq!(seen, [12_500, 25_000, 50_000, 100_000, 100_000]);
        // A small file's batches are all of one size; so are the ones asked for.
        assert_eq!(BatchSizes::ramped(batch_size_for(20_000)), BatchSizes { first: 5_000, size: 5_000 });
        assert_eq!(BatchSizes::fixed(2).next(2), 2);
        assert_eq!(BatchSizes::fixed(0), BatchSizes { first: 1, size: 1 });
    }
}
