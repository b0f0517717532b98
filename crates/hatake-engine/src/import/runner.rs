//! Running a lead import to its end: batches read on their own thread, matched while the
//! batch before is written, and settled (offline events, company links) once written.
//!
//! **One row never fails the import.** A batch the store refuses (a value another writer took
//! meanwhile, a link to a record deleted meanwhile: what the plan could not foresee) is taken
//! again on its own, halved until the row that the store refuses stands alone; that row is
//! rejected with its line and the reason, the others are written. Only an error of the store
//! itself (disk full, connection lost) stops the import, which is then `failed` and can be
//! resumed: [`resume`] takes the same file up after the last written batch (each batch is one
//! transaction) and first settles the rows whose events and links the stop cut off.

use super::producer::{self, Span};
use super::{batch_size_for, BatchSizes, ImportError, Prepared, RowContext};
use crate::companies::{LinkCounts, LinkTarget};
use crate::resolve::Resolver;
use hatake_csv::RowReader;
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::{FieldError, RequiredFieldSet};
use hatake_store::{
    Appended, ImportBatch, ImportCounts, ImportKind, ImportRow, LeadRef, NewEvent, NewImport, RejectRow, Store,
    StoreError,
};
use std::time::Duration;

/// Progress of a running import, reported after every batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub rows_done: usize,
    pub counts: ImportCounts,
    /// New leads linked to the company master so far, and those with a company question.
    pub links: LinkCounts,
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
    /// Mail topics (`general`, `product:{id}`) everyone the file names is subscribed to (a list
    /// whose people gave their consent); an opt-out is never overridden.
    pub subscribe: Vec<String>,
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
                subscribe: (!options.subscribe.is_empty())
                    .then(|| serde_json::to_string(&options.subscribe).unwrap_or_default()),
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
    let result = run_rows(store, import_id, prepared, context, options, &now, &mut counts, 0, &mut progress).await;
    conclude(store, import_id, &counts, result, now()).await
}

/// What a failed import is resumed with: the file (checked to be the same) as the import read
/// it, and the import's own source, product and event.
#[derive(Debug, Clone)]
pub struct Resumption {
    pub prepared: Prepared,
    pub context: RowContext,
    pub options: ImportOptions,
    pub import: ImportRow,
}

/// Checks that `bytes` are the file of failed import `import_id` and prepares it with the
/// import's encoding and mapping; `context` and `options` give what the organisation has now
/// (products, users, required fields, departments), the import gives the rest.
///
/// # Errors
/// [`ImportError::File`] when the import is not a failed lead import or the file differs.
pub async fn prepare_resume<S: Store + ?Sized>(
    store: &S,
    import_id: i64,
    bytes: &[u8],
    context: &RowContext,
    options: &ImportOptions,
) -> Result<Resumption, ImportError> {
    let import = store.get_import(import_id).await?;
    if import.kind != ImportKind::Leads.as_str() || !matches!(import.status.as_str(), "failed" | "running") {
        return Err(ImportError::file(
            "not_resumable",
            format!("取り込み{}は途中で止まった取り込みではないため、再開できません", import.id),
            format!("Import {} did not stop half-way and cannot be resumed", import.id),
        ));
    }
    if super::sha256_hex(bytes) != import.file_sha256 {
        return Err(ImportError::file(
            "different_file",
            format!(
                "このファイルは取り込み{}のファイル（{}）と内容が違います。同じファイルを選んでください",
                import.id, import.file_name
            ),
            format!("This is not the file of import {} ({}): choose the same file", import.id, import.file_name),
        ));
    }
    let encoding = hatake_csv::TextEncoding::parse(&import.encoding).ok();
    let mapping = serde_json::from_str(&import.mapping).ok();
    let prepared = super::prepare(bytes, encoding, mapping)?;
    let context = RowContext { source: import.source.clone(), product_id: import.product_id, ..context.clone() };
    let options = ImportOptions {
        file_name: import.file_name.clone(),
        event: import.event.as_deref().and_then(|e| serde_json::from_str(e).ok()),
        subscribe: import.subscribe.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
        ..options.clone()
    };
    Ok(Resumption { prepared, context, options, import })
}

/// Whether an import stopped half-way and can be resumed: it failed, or it is still marked
/// running without progress for [`crate::maintenance::STALLED_AFTER_MS`] (its process is gone).
pub fn is_stopped(import: &ImportRow, now: i64) -> bool {
    import.kind == ImportKind::Leads.as_str()
        && (import.status == "failed"
            || (import.status == "running"
                && import.progress_at.unwrap_or(import.created_at) < now - crate::maintenance::STALLED_AFTER_MS))
}

/// Marks the import of a [`Resumption`] running again (the first half of [`resume`], for
/// callers that continue it in the background). A `running` import is taken only once it
/// [`is_stopped`], unless `force` (its process is known to be gone).
///
/// # Errors
/// [`ImportError::File`] (`still_running`) when the import did not stop (it is done, undone,
/// or still making progress); a store error.
pub async fn claim<S: Store + ?Sized>(
    store: &S,
    resumption: &Resumption,
    force: bool,
    now: i64,
) -> Result<ImportRow, ImportError> {
    let id = resumption.import.id;
    let stalled_before = (!force).then(|| now - crate::maintenance::STALLED_AFTER_MS);
    match store.resume_import(id, stalled_before, now).await {
        Err(StoreError::Conflict { .. }) => {
            let minutes = crate::maintenance::STALLED_AFTER_MS / 60_000;
            Err(ImportError::file(
                "still_running",
                format!("取り込み{id}はまだ進んでいるか、すでに終わっています（止まった取り込みは、最後の進捗から{minutes}分たつと再開できます）"),
                format!("Import {id} is still making progress or has ended (a stopped import can be resumed {minutes} minutes after its last progress)"),
            ))
        }
        other => Ok(other?),
    }
}

/// Takes an import that stopped up where it stopped: the rows after its last written batch,
/// after settling the rows whose offline events and company links the stop cut off.
///
/// # Errors
/// As [`run`] and [`claim`].
pub async fn resume<S: Store + ?Sized>(
    store: &S,
    resumption: &Resumption,
    force: bool,
    now: impl Fn() -> i64,
    progress: impl FnMut(Progress),
) -> Result<ImportRow, ImportError> {
    let claimed = claim(store, resumption, force, now()).await?;
    resume_claimed(store, resumption, &claimed, now, progress).await
}

/// The second half of [`resume`]: runs a [`claim`]ed import to its end.
///
/// # Errors
/// As [`run`].
pub async fn resume_claimed<S: Store + ?Sized>(
    store: &S,
    resumption: &Resumption,
    claimed: &ImportRow,
    now: impl Fn() -> i64,
    mut progress: impl FnMut(Progress),
) -> Result<ImportRow, ImportError> {
    let Resumption { prepared, context, options, .. } = resumption;
    let mut counts = claimed.counts();
    tracing::info!(import_id = claimed.id, rows_done = counts.total, "resuming an import");
    let result = run_rows(
        store,
        claimed.id,
        prepared,
        context,
        options,
        &now,
        &mut counts,
        claimed.settled_rows.min(claimed.total_rows),
        &mut progress,
    )
    .await;
    conclude(store, claimed.id, &counts, result, now()).await
}

async fn conclude<S: Store + ?Sized>(
    store: &S,
    import_id: i64,
    counts: &ImportCounts,
    result: Result<(), ImportError>,
    now: i64,
) -> Result<ImportRow, ImportError> {
    let (status, error) = match &result {
        Ok(()) => ("done", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    store.finish_import(import_id, counts, status, error.as_deref(), now).await?;
    result?;
    Ok(store.get_import(import_id).await?)
}

/// Lines of a text (a quoted field may hold some: an estimate of the rows, for batch sizes).
fn bytecount_lines(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'\n').count()
}

/// Everything a run of batches needs besides the store.
struct Job<'a, N, P> {
    import_id: i64,
    prepared: &'a Prepared,
    context: &'a RowContext,
    options: &'a ImportOptions,
    now: &'a N,
    progress: &'a mut P,
    links: LinkCounts,
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
    settled: i64,
    progress: &mut impl FnMut(Progress),
) -> Result<(), ImportError> {
    // The header row must be readable before anything starts.
    RowReader::new(&prepared.text)?;
    let sizes = options
        .batch_size
        .map_or_else(|| BatchSizes::ramped(batch_size_for(bytecount_lines(&prepared.text))), BatchSizes::fixed);
    let mut job = Job { import_id, prepared, context, options, now, progress, links: LinkCounts::default() };
    if settled < counts.total {
        settle_rows(store, &mut job, settled, counts.total).await?;
    }
    let started = std::time::Instant::now();
    loop {
        let span = Span { skip: counts.total, limit: None };
        let Some(refused) = batches(store, &mut job, span, sizes, counts).await? else { break };
        // The batches before are written; take the refused one apart.
        take_apart(store, &mut job, counts.total, refused, counts).await?;
    }
    tracing::info!(
        import_id,
        rows = counts.total,
        seconds = started.elapsed().as_secs_f64(),
        linked = job.links.linked,
        company_reviews = job.links.review,
        "import finished"
    );
    Ok(())
}

/// A batch the store refused as a whole: how many rows it held, and why.
struct Refused {
    rows: i64,
    error: StoreError,
}

/// Whether the store refused a batch for something in its rows (which a smaller batch can
/// avoid) rather than failing itself.
fn refused_for_a_row(error: &StoreError) -> bool {
    matches!(error, StoreError::Conflict { .. } | StoreError::MissingReference { .. })
}

/// A part of a refused batch still to do.
enum Part {
    /// Write these rows as one batch.
    Try { from: i64, rows: i64 },
    /// These rows were refused as one batch: halve them, or reject the single row.
    Split { from: i64, rows: i64, error: StoreError },
}

/// Takes a refused batch of rows from `first` apart: halves are written on their own, in
/// file order, down to the single row the store refuses, which is rejected with its reason.
async fn take_apart<S, N, P>(
    store: &S,
    job: &mut Job<'_, N, P>,
    first: i64,
    refused: Refused,
    counts: &mut ImportCounts,
) -> Result<(), ImportError>
where
    S: Store + ?Sized,
    N: Fn() -> i64,
    P: FnMut(Progress),
{
    tracing::warn!(
        import_id = job.import_id,
        first_row = first,
        rows = refused.rows,
        error = %refused.error,
        "a batch was refused; writing it in parts"
    );
    let mut stack = vec![Part::Split { from: first, rows: refused.rows, error: refused.error }];
    while let Some(part) = stack.pop() {
        match part {
            Part::Split { from, rows, error } if rows <= 1 => reject_refused(store, job, from, &error, counts).await?,
            Part::Split { from, rows, .. } => {
                let half = rows / 2;
                stack.push(Part::Try { from: from + half, rows: rows - half });
                stack.push(Part::Try { from, rows: half });
            }
            Part::Try { from, rows } => {
                let span = Span { skip: from, limit: Some(rows) };
                let sizes = BatchSizes::fixed(usize::try_from(rows).unwrap_or(usize::MAX));
                if let Some(again) = batches(store, job, span, sizes, counts).await? {
                    stack.push(Part::Split { from, rows: again.rows, error: again.error });
                }
            }
        }
    }
    Ok(())
}

/// A data row's line, raw fields and e-mail.
type RowAt = (i64, Vec<String>, Option<String>);

/// Data row `index` (0 is the first after the header): its line, raw fields and e-mail.
fn row_at(prepared: &Prepared, context: &RowContext, index: i64) -> Result<Option<RowAt>, ImportError> {
    let mut reader = RowReader::new(&prepared.text)?;
    for _ in 0..index {
        if reader.next_row().is_none() {
            return Ok(None);
        }
    }
    Ok(match reader.next_row() {
        Some(Ok(row)) => {
            let email = super::lead_of_row(&row, &prepared.mapping, context)
                .ok()
                .and_then(|lead| lead.email)
                .map(|e| e.as_str().to_owned());
            Some((i64::try_from(row.line).unwrap_or(i64::MAX), row.iter().map(str::to_owned).collect(), email))
        }
        _ => None,
    })
}

/// Rejects the row the store refused on its own, with the reason, in one transaction with
/// the import's counts.
async fn reject_refused<S, N, P>(
    store: &S,
    job: &mut Job<'_, N, P>,
    index: i64,
    error: &StoreError,
    counts: &mut ImportCounts,
) -> Result<(), ImportError>
where
    S: Store + ?Sized,
    N: Fn() -> i64,
    P: FnMut(Progress),
{
    let Some((line, fields, email)) = row_at(job.prepared, job.context, index)? else {
        return Err(StoreError::Database(format!("row {index} of the import is not in the file")).into());
    };
    let problem = refusal_problem(store, email, error).await?;
    tracing::warn!(import_id = job.import_id, line, problem = %problem.message_en, "row rejected by the store");
    let mut after = *counts;
    after.total += 1;
    after.rejected += 1;
    let reject = RejectRow {
        line,
        fields: serde_json::to_string(&fields).unwrap_or_default(),
        problems: serde_json::to_string(&[problem]).unwrap_or_default(),
    };
    let batch = ImportBatch {
        import_id: job.import_id,
        plan: hatake_store::ResolutionPlan::default(),
        rejects: vec![reject],
        counts: after,
        now: (job.now)(),
    };
    store.apply_import_batch(batch).await?;
    *counts = after;
    store.settle_import_rows(job.import_id, counts.total).await?;
    (job.progress)(Progress {
        rows_done: usize::try_from(counts.total).unwrap_or(0),
        counts: *counts,
        links: job.links,
    });
    Ok(())
}

/// Why the store refused a row, as the row's problem (field, code, Japanese and English).
async fn refusal_problem<S: Store + ?Sized>(
    store: &S,
    email: Option<String>,
    error: &StoreError,
) -> Result<FieldError, ImportError> {
    let label = |field: &str| match field {
        "email" => ("メールアドレス", "e-mail address"),
        "account_id" => ("会社", "company"),
        "owner_id" => ("担当者", "owner"),
        "product_ids" => ("製品", "product"),
        _ => ("値", "value"),
    };
    Ok(match error {
        StoreError::Conflict { field } => {
            let (ja, en) = label(field);
            let email = email.filter(|_| *field == "email");
            let holder = match &email {
                Some(email) => store.lead_ids_by_email(std::slice::from_ref(email)).await?.first().map(|(_, id)| *id),
                None => None,
            };
            let value = email.unwrap_or_default();
            match holder {
                Some(id) => FieldError::new(
                    *field,
                    "already_in_use",
                    format!("{ja}「{value}」は別のリード（ID {id}）が使っているため、この行を取り込めませんでした"),
                    format!("The {en} {value} belongs to another lead (id {id}); the row was not taken"),
                ),
                None => FieldError::new(
                    *field,
                    "already_in_use",
                    format!("{ja}が別のリードと重なるため、この行を取り込めませんでした"),
                    format!("The {en} is taken by another record; the row was not taken"),
                ),
            }
        }
        StoreError::MissingReference { field } => {
            let (ja, en) = label(field);
            FieldError::new(
                *field,
                "missing_reference",
                format!("{ja}が取り込み中に削除されたため、この行を取り込めませんでした"),
                format!("The {en} was deleted while the file was imported; the row was not taken"),
            )
        }
        other => return Err(StoreError::Database(other.to_string()).into()),
    })
}

/// A batch being written, with what to do once it is.
struct InFlight<'a> {
    write: BatchWrite<'a>,
    after: AfterWrite,
}

/// What a batch in flight leaves to do once written.
struct AfterWrite {
    /// Rows read for the batch (leads and rejects).
    rows: i64,
    /// The company-master link of each created lead (the id is filled in once written).
    links: Vec<Option<LinkTarget>>,
    counts: ImportCounts,
    /// Each record's lead, for the events the import records.
    people: Vec<LeadRef>,
}

/// The write of a batch: the created leads' ids, and how long it took.
type BatchWrite<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Result<Vec<i64>, StoreError>, Duration)> + Send + 'a>>;

/// Reads, matches and writes the rows of `span` in batches, each written while the next is
/// matched. Stops at the first batch the store refuses for one of its rows and returns it
/// (the batches before are written, the ones after not read); `None` when all are written.
async fn batches<S, N, P>(
    store: &S,
    job: &mut Job<'_, N, P>,
    span: Span,
    sizes: BatchSizes,
    counts: &mut ImportCounts,
) -> Result<Option<Refused>, ImportError>
where
    S: Store + ?Sized,
    N: Fn() -> i64,
    P: FnMut(Progress),
{
    let mut parsed_batches =
        producer::spawn(job.prepared, job.context.clone(), job.options.departments.clone(), sizes, span);
    let mut resolver = Resolver::for_import(store, job.options.required.clone()).await?;
    let mut planned_counts = *counts;
    let mut in_flight: Option<InFlight<'_>> = None;
    loop {
        let next_batch = async {
            // Let the write of the batch before start first (it runs on its own thread).
            tokio::task::yield_now().await;
            let Some(mut parsed) = parsed_batches.recv().await else { return Ok::<_, ImportError>(None) };
            link_by_corporate_number(store, &mut parsed).await?;
            let planned = if parsed.leads.is_empty() {
                Default::default()
            } else {
                resolver.plan_ahead(store, parsed.leads).await?
            };
            Ok(Some((parsed.rows, parsed.rejects, planned)))
        };
        let (next, written) = match in_flight.take() {
            Some(batch) => {
                let (result, next) = tokio::join!(batch.write, next_batch);
                (next, Some((result.0, batch.after)))
            }
            None => (next_batch.await, None),
        };
        if let Some((result, batch)) = written {
            let created = match result {
                Ok(created) => created,
                Err(error) if refused_for_a_row(&error) => return Ok(Some(Refused { rows: batch.rows, error })),
                Err(error) => return Err(error.into()),
            };
            resolver.committed(&created);
            *counts = batch.counts;
            let people: Vec<i64> = batch
                .people
                .iter()
                .filter_map(|lead| match lead {
                    LeadRef::Existing(id) => Some(*id),
                    LeadRef::Planned(index) => created.get(*index).copied(),
                })
                .collect();
            let targets: Vec<LinkTarget> = created
                .iter()
                .zip(batch.links)
                .filter_map(|(id, target)| target.map(|t| LinkTarget { id: *id, ..t }))
                .collect();
            settle(store, job, &people, &targets).await?;
            store.settle_import_rows(job.import_id, counts.total).await?;
            (job.progress)(Progress {
                rows_done: usize::try_from(counts.total).unwrap_or(0),
                counts: *counts,
                links: job.links,
            });
        }
        let Some((rows, rejects, (mut plan, mut resolved))) = next? else { return Ok(None) };
        resolver.finalize(&mut plan, &mut resolved)?;
        let people = if job.options.event.is_some() || !job.options.subscribe.is_empty() {
            resolved.iter().map(|r| r.lead).collect()
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
                c.data.account_id.is_none().then(|| LinkTarget {
                    id: 0,
                    company_name: c.data.company_name.clone(),
                    prefecture: c.data.prefecture.clone(),
                    email: c.data.email.as_ref().map(|e| e.as_str().to_owned()),
                })
            })
            .collect();
        let batch = ImportBatch { import_id: job.import_id, plan, rejects, counts: planned_counts, now: (job.now)() };
        in_flight = Some(InFlight {
            write: Box::pin(async move {
                let clock = std::time::Instant::now();
                let result = store.apply_import_batch(batch).await;
                (result, clock.elapsed())
            }),
            after: AfterWrite { rows, links, counts: planned_counts, people },
        });
    }
}

/// Links the rows that give a corporate number (法人番号) to the company of the master with
/// that number (a number the master does not hold links nothing: the lead is linked by name).
async fn link_by_corporate_number<S: Store + ?Sized>(
    store: &S,
    parsed: &mut producer::Parsed,
) -> Result<(), ImportError> {
    if parsed.numbers.is_empty() {
        return Ok(());
    }
    let mut numbers: Vec<String> = parsed.numbers.iter().map(|(_, n)| n.clone()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let accounts: std::collections::HashMap<String, i64> = store
        .accounts_by_corporate_numbers(&numbers)
        .await?
        .into_iter()
        .filter_map(|a| a.corporate_number.map(|n| (n, a.id)))
        .collect();
    for (index, number) in &parsed.numbers {
        if let (Some(account), Some((incoming, _))) = (accounts.get(number), parsed.leads.get_mut(*index)) {
            incoming.data.account_id.get_or_insert(*account);
        }
    }
    Ok(())
}

/// What follows a written batch: the offline event for each person it names (once per
/// person, however many rows name them: the key is the import and the lead), and the company
/// links of its new leads.
async fn settle<S, N, P>(
    store: &S,
    job: &mut Job<'_, N, P>,
    people: &[i64],
    targets: &[LinkTarget],
) -> Result<(), ImportError>
where
    S: Store + ?Sized,
    N: Fn() -> i64,
    P: FnMut(Progress),
{
    if let Some(event) = &job.options.event {
        // One visit per person per event across imports too: the same event (kind, name, date
        // and product) another import already recorded for a person is not recorded again.
        let kind = hatake_domain::EventKind::parse(&event.kind).unwrap_or(hatake_domain::EventKind::Custom).as_str();
        let recorded: std::collections::HashSet<i64> = store
            .imported_events_of(people)
            .await?
            .into_iter()
            .filter(|(_, k, name, at, product)| {
                k == kind
                    && name.as_deref() == Some(event.name.as_str())
                    && *at == event.occurred_at
                    && *product == job.context.product_id
            })
            .map(|(lead, ..)| lead)
            .collect();
        let events: Vec<NewEvent> = offline_events(job.import_id, event, job.context.product_id, people)
            .into_iter()
            .filter(|e| e.lead_id.is_none_or(|lead| !recorded.contains(&lead)))
            .collect();
        if !events.is_empty() {
            let appended = store.append_events(&events, (job.now)()).await?;
            let new = appended.iter().filter(|a| matches!(a, Appended::Created(_))).count();
            if new > 0 {
                store.add_import_events(job.import_id, i64::try_from(new).unwrap_or(0)).await?;
            }
        }
    }
    if !job.options.subscribe.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let at = (job.now)();
        let options = job.options;
        let mut changes = Vec::new();
        for lead in people.iter().filter(|lead| seen.insert(**lead)) {
            for topic in &options.subscribe {
                changes.push(hatake_store::SubscriptionChange {
                    lead_id: *lead,
                    topic: topic.clone(),
                    status: "subscribed".into(),
                    source: "import".into(),
                    detail: Some(options.file_name.clone()),
                    by_user: options.created_by,
                    at,
                });
            }
        }
        store.change_subscriptions(&changes).await?;
    }
    if !targets.is_empty() {
        let links = crate::companies::link_leads(store, targets, Some(job.import_id), (job.now)()).await?;
        job.links.linked += links.linked;
        job.links.review += links.review;
    }
    Ok(())
}

/// Settles rows `from..to` again after a stop: their events (the keys make a repeat a no-op)
/// and the links of the new leads among them that have none yet.
async fn settle_rows<S, N, P>(store: &S, job: &mut Job<'_, N, P>, from: i64, to: i64) -> Result<(), ImportError>
where
    S: Store + ?Sized,
    N: Fn() -> i64,
    P: FnMut(Progress),
{
    let mut reader = RowReader::new(&job.prepared.text)?;
    let mut lines = std::collections::HashSet::new();
    for index in 0..to {
        let Some(row) = reader.next_row() else { break };
        if index >= from {
            if let Ok(row) = row {
                lines.insert(i64::try_from(row.line).unwrap_or(i64::MAX));
            }
        }
    }
    let taken: Vec<(i64, i64, String)> =
        store.import_lines(job.import_id).await?.into_iter().filter(|(line, _, _)| lines.contains(line)).collect();
    let mut people: Vec<i64> = taken.iter().map(|(_, lead, _)| *lead).collect();
    people.sort_unstable();
    people.dedup();
    let created: Vec<i64> =
        taken.iter().filter(|(_, _, outcome)| outcome == "created").map(|(_, lead, _)| *lead).collect();
    let targets: Vec<LinkTarget> = store.leads_by_ids(&created).await?.iter().filter_map(LinkTarget::of).collect();
    settle(store, job, &people, &targets).await?;
    store.settle_import_rows(job.import_id, to).await?;
    tracing::info!(import_id = job.import_id, rows = to - from, "rows written before the stop settled");
    Ok(())
}

/// The event an import records for each person of a written batch, keyed
/// `import:{id}:lead:{lead}`: one per person however many rows name them, none twice when a
/// batch is settled again, and an undo finds them by the prefix.
fn offline_events(
    import_id: i64,
    event: &hatake_domain::event::OfflineEvent,
    product_id: Option<i64>,
    people: &[i64],
) -> Vec<NewEvent> {
    let kind = hatake_domain::EventKind::parse(&event.kind).unwrap_or(hatake_domain::EventKind::Custom).as_str();
    let mut seen = std::collections::HashSet::new();
    people
        .iter()
        .filter(|lead| seen.insert(**lead))
        .map(|lead_id| NewEvent {
            kind,
            lead_id: Some(*lead_id),
            visitor_id: None,
            product_id,
            occurred_at: event.occurred_at,
            source: Some(format!("import:{import_id}")),
            name: Some(event.name.clone()),
            properties: serde_json::json!({ "import_id": import_id }).to_string(),
            idempotency_key: Some(format!("import:{import_id}:lead:{lead_id}")),
        })
        .collect()
}
