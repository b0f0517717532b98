//! One upload's steps: the file arrives (multipart, up to [`crate::MAX_UPLOAD_BYTES`]) and is
//! kept in [`crate::uploads`]; the mapping step shows the detected encoding, each column with a
//! sample and the field it goes to; the preview shows the first rows with their problems and
//! counts the rest; commit imports and leads to the import's page.
//!
//! Every step reads the file again with the choices posted to it: nothing carried in a hidden
//! field is trusted, and a bad choice comes back on the mapping step next to its column.

use super::super::{render, PageError, PageForm};
use super::{field_label, Names};
use crate::auth::{same_secret, CurrentUser};
use crate::i18n::t;
use crate::multipart;
use crate::uploads::{base_name, PendingUpload};
use crate::{now_millis, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hatake_csv::{ColumnKey, LeadColumn, Mapping, RowReader, TextEncoding};
use hatake_domain::{FieldError, FieldErrors};
use hatake_engine::import::{lead_of_row, prepare, ImportError, ImportOptions, Prepared, PreviewRow, RowContext};
use hatake_store::ProductRow;
use minijinja::context;
use std::collections::BTreeMap;

/// Rows the preview shows.
const PREVIEW_ROWS: usize = 50;
/// Rows read to find each column's sample value.
const SAMPLE_ROWS: usize = 20;
/// The longest source label accepted.
const MAX_SOURCE_CHARS: usize = 200;

fn expired() -> Response {
    Redirect::to("/imports?expired=1").into_response()
}

/// Runs CPU-bound work (decoding, reading and checking a large file) off the async workers.
async fn blocking<T: Send + 'static>(
    locale: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "a blocking task failed");
        PageError::internal(locale)
    })
}

/// `POST /imports`: the upload form (multipart: `_csrf` and `file`).
pub(super) async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = user.locale();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_UPLOAD_BYTES).await else {
        return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "error.upload_too_large", locale).into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = match multipart::parse(content_type, &bytes) {
        Ok(parts) => parts,
        Err(error) => {
            tracing::warn!(%error, "malformed upload");
            return PageError::new(StatusCode::BAD_REQUEST, "import.bad_form", locale).into_response();
        }
    };
    let csrf = parts.iter().find(|p| p.name == "_csrf").map(multipart::Part::text).unwrap_or_default();
    if !same_secret(&csrf, &user.csrf_token) {
        return PageError::new(StatusCode::FORBIDDEN, "error.csrf", locale).into_response();
    }
    let file = parts.into_iter().find(|p| p.name == "file" && p.file_name.as_deref().is_some_and(|n| !n.is_empty()));
    let Some(file) = file.filter(|f| !f.data.is_empty()) else {
        let error = FieldError::new("file", "no_file", "CSVファイルを選んでください。", "Choose a CSV file.");
        return upload_again(&state, &user, error).await;
    };
    // A file without a header row (or with a broken one) is refused now, not after two steps.
    let data = file.data.clone();
    match blocking(locale, move || prepare(&data, None, None).map(|_| ())).await {
        Ok(Ok(())) => {}
        Ok(Err(ImportError::File(error))) => return upload_again(&state, &user, error.under("file")).await,
        Ok(Err(ImportError::Store(error))) => return PageError::from_store(error, locale).into_response(),
        Err(error) => return error.into_response(),
    }
    let token = state.uploads.insert(PendingUpload {
        user_id: user.user.id,
        file_name: base_name(file.file_name.as_deref().unwrap_or_default()),
        bytes: file.data,
        uploaded_at: now_millis(),
    });
    Redirect::to(&format!("/imports/uploads/{token}")).into_response()
}

async fn upload_again(state: &AppState, user: &CurrentUser, error: FieldError) -> Response {
    match super::list_page(state, user, &error.into(), false).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The choices of the mapping step as posted (or carried back from the preview in a link).
#[derive(Debug, Default, Clone)]
struct Choices {
    /// An encoding key; blank means "as detected".
    encoding: String,
    /// One field key per column ("" for none); `None` means "as guessed".
    mapping: Option<Vec<String>>,
    source: String,
    product: String,
}

impl Choices {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
        let mapping: Vec<String> = pairs.iter().filter(|(k, _)| k == "mapping").map(|(_, v)| v.clone()).collect();
        Self {
            encoding: get("encoding"),
            mapping: (!mapping.is_empty()).then_some(mapping),
            source: get("source"),
            product: get("product"),
        }
    }

    /// The choices as a query string, for the link from the preview back to the mapping.
    fn query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> =
            vec![("encoding", &self.encoding), ("source", &self.source), ("product", &self.product)];
        for key in self.mapping.iter().flatten() {
            pairs.push(("mapping", key));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// The choices, checked.
#[derive(Debug)]
struct Settled {
    encoding: Option<TextEncoding>,
    mapping: Option<Mapping>,
    source: Option<String>,
    product_id: Option<i64>,
}

/// Checks the choices; every problem names its field (`mapping[i]` for a column).
fn settle(choices: &Choices, products: &[ProductRow]) -> Result<Settled, FieldErrors> {
    let mut errors = FieldErrors::default();
    let encoding = match choices.encoding.trim() {
        "" => None,
        key => TextEncoding::parse(key).map_err(|e| errors.push(e)).ok(),
    };
    let mapping = choices.mapping.as_ref().and_then(|keys| {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        Mapping::parse_keys(&keys).map_err(|e| errors.0.extend(e.0)).ok()
    });
    let source = hatake_domain::text::nfkc_trim(&choices.source);
    if source.chars().count() > MAX_SOURCE_CHARS {
        errors.push(FieldError::too_long("source", MAX_SOURCE_CHARS));
    }
    let product_id = match choices.product.trim() {
        "" => None,
        text => {
            let id = text.parse::<i64>().ok().filter(|id| products.iter().any(|p| p.id == *id));
            if id.is_none() {
                errors.push(FieldError::new(
                    "product",
                    "unknown_product",
                    "選ばれた商材がありません。",
                    "There is no such product.",
                ));
            }
            id
        }
    };
    errors.into_result(|| Settled { encoding, mapping, source: (!source.is_empty()).then_some(source), product_id })
}

/// `GET /imports/uploads/{token}`: the mapping step (the query may carry earlier choices).
pub(super) async fn mapping(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(token): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(upload) = state.uploads.get(&token, user.user.id, now_millis()) else { return expired() };
    let choices = Choices::from_pairs(&pairs);
    match mapping_page(&state, &user, &token, &upload, &choices, &FieldErrors::default()).await {
        Ok(html) => html.into_response(),
        Err(error) => error.into_response(),
    }
}

/// What the mapping step reads from the file.
struct FileView {
    headers: Vec<String>,
    guessed: Vec<&'static str>,
    encoding: TextEncoding,
    malformed: usize,
    samples: Vec<String>,
}

fn read_for_mapping(bytes: &[u8], encoding: Option<TextEncoding>) -> Result<FileView, FieldError> {
    let prepared = match prepare(bytes, encoding, None) {
        Ok(prepared) => prepared,
        Err(ImportError::File(error)) => return Err(error),
        Err(ImportError::Store(error)) => {
            return Err(FieldError::new("file", "store", error.to_string(), error.to_string()));
        }
    };
    let mut samples = vec![String::new(); prepared.headers.len()];
    if let Ok(mut reader) = RowReader::new(&prepared.text) {
        let mut read = 0;
        while let Some(Ok(row)) = reader.next_row() {
            for (sample, value) in samples.iter_mut().zip(row.iter()) {
                if sample.is_empty() && !value.trim().is_empty() {
                    value.trim().clone_into(sample);
                }
            }
            read += 1;
            if read == SAMPLE_ROWS || samples.iter().all(|s| !s.is_empty()) {
                break;
            }
        }
    }
    Ok(FileView {
        guessed: prepared.mapping.keys(),
        headers: prepared.headers,
        encoding: prepared.encoding,
        malformed: prepared.malformed,
        samples,
    })
}

/// The per-column errors (`mapping[i]`) by column index.
fn column_errors(errors: &FieldErrors, locale: &str) -> BTreeMap<usize, String> {
    let mut map = BTreeMap::new();
    for error in &errors.0 {
        let index = error.field.strip_prefix("mapping[").and_then(|rest| rest.strip_suffix(']'));
        if let Some(index) = index.and_then(|i| i.parse().ok()) {
            map.entry(index).or_insert_with(|| error.message(locale).to_owned());
        }
    }
    map
}

async fn mapping_page(
    state: &AppState,
    user: &CurrentUser,
    token: &str,
    upload: &PendingUpload,
    choices: &Choices,
    errors: &FieldErrors,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let encoding = TextEncoding::parse(&choices.encoding).ok();
    let bytes = upload.bytes.clone();
    let detected = hatake_csv::detect(&upload.bytes);
    let read = blocking(locale, move || read_for_mapping(&bytes, encoding)).await?;
    let products = state.store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let by_column = column_errors(errors, locale);
    let (columns, encoding, malformed, file_error) = match &read {
        Ok(file) => {
            let chosen = choices.mapping.as_ref().filter(|m| m.len() == file.headers.len());
            let columns: Vec<minijinja::Value> = file
                .headers
                .iter()
                .enumerate()
                .map(|(i, header)| {
                    let selected = chosen.map_or(file.guessed[i], |m| m[i].as_str());
                    context! { index => i, header => header, sample => file.samples[i], selected => selected,
                    error => by_column.get(&i) }
                })
                .collect();
            (columns, file.encoding, file.malformed, None)
        }
        Err(error) => (Vec::new(), encoding.unwrap_or(detected), 0, Some(error.message(locale).to_owned())),
    };
    let options: Vec<(&str, &str)> =
        <LeadColumn as ColumnKey>::ALL.iter().map(|c| (c.as_str(), c.label(locale))).collect();
    let encodings: Vec<(&str, &str)> = TextEncoding::ALL.iter().map(|e| (e.as_str(), e.label())).collect();
    let mut general = errors.clone();
    general.0.retain(|e| !e.field.starts_with("mapping["));
    render(
        state,
        user,
        "imports/mapping.html",
        "imports",
        context! {
            token => token,
            file_name => upload.file_name,
            size_kib => upload.bytes.len().div_ceil(1024),
            encodings => encodings,
            encoding => encoding.as_str(),
            detected => detected.label(),
            malformed => malformed,
            file_error => file_error,
            columns => columns,
            options => options,
            source => choices.source,
            product => choices.product,
            products => products,
            errors => super::super::field_errors(&general, locale),
            has_errors => !errors.is_empty(),
        },
    )
    .await
}

/// The mapping step again with what was wrong (422).
async fn mapping_again(
    state: &AppState,
    user: &CurrentUser,
    token: &str,
    upload: &PendingUpload,
    choices: &Choices,
    errors: &FieldErrors,
) -> Response {
    match mapping_page(state, user, token, upload, choices, errors).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Why the chosen settings cannot be used.
enum NotReady {
    Again(FieldErrors),
    Page(PageError),
}

/// The file read with the posted choices, and what the importer needs to know besides.
async fn ready(
    state: &AppState,
    user: &CurrentUser,
    upload: &PendingUpload,
    choices: &Choices,
) -> Result<(Prepared, RowContext, ImportOptions), NotReady> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let products = store.list_products().await.map_err(|e| NotReady::Page(PageError::from_store(e, locale)))?;
    let settled = settle(choices, &products).map_err(NotReady::Again)?;
    let bytes = upload.bytes.clone();
    let (encoding, mapping) = (settled.encoding, settled.mapping);
    let prepared = match blocking(locale, move || prepare(&bytes, encoding, mapping)).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(ImportError::File(error))) => return Err(NotReady::Again(error.into())),
        Ok(Err(ImportError::Store(error))) => return Err(NotReady::Page(PageError::from_store(error, locale))),
        Err(error) => return Err(NotReady::Page(error)),
    };
    let (context, options) = hatake_engine::settings::import_context(
        store,
        settled.source,
        settled.product_id,
        &upload.file_name,
        Some(user.user.id),
    )
    .await
    .map_err(|e| NotReady::Page(PageError::from_store(e, locale)))?;
    Ok((prepared, context, options))
}

/// The first rows with their problems, and counts over the whole file.
struct Scan {
    rows: Vec<PreviewRow>,
    total: usize,
    valid: usize,
    invalid: usize,
    /// A quote that never closes: the rows from its line on cannot be read.
    syntax: Option<FieldError>,
}

/// Reads every row once: checks each as the importer will (without matching against stored
/// leads, so merges and duplicates show only after the import) and keeps the first `limit`.
fn scan(prepared: &Prepared, context: &RowContext, limit: usize) -> Scan {
    let mut scan = Scan { rows: Vec::new(), total: 0, valid: 0, invalid: 0, syntax: None };
    let syntax = |e: hatake_csv::ReadError| FieldError::new("row", e.code(), e.message_ja(), e.message_en());
    let mut reader = match RowReader::new(&prepared.text) {
        Ok(reader) => reader,
        Err(error) => {
            scan.syntax = Some(syntax(error));
            return scan;
        }
    };
    while let Some(next) = reader.next_row() {
        match next {
            Ok(row) => {
                scan.total += 1;
                let result = lead_of_row(&row, &prepared.mapping, context).map_err(|e| e.0);
                if result.is_ok() {
                    scan.valid += 1;
                } else {
                    scan.invalid += 1;
                }
                if scan.rows.len() < limit {
                    scan.rows.push(PreviewRow {
                        line: row.line,
                        fields: row.iter().map(str::to_owned).collect(),
                        result,
                    });
                }
            }
            Err(error) => {
                scan.syntax = Some(syntax(error));
                break;
            }
        }
    }
    scan
}

/// The CSV columns a problem's field comes from.
fn columns_of_field(mapping: &Mapping, field: &str) -> Vec<usize> {
    let column = match field {
        "product_ids" => Some(LeadColumn::Product),
        "owner_id" => Some(LeadColumn::Owner),
        "family_name" => Some(LeadColumn::FamilyName),
        other => LeadColumn::parse(other),
    };
    let mut columns = column.map(|c| mapping.columns_of(c)).unwrap_or_default();
    // A name may come from the full-name column, a phone from the mobile column.
    let also = match field {
        "family_name" | "given_name" => Some(LeadColumn::FullName),
        "family_name_kana" | "given_name_kana" => Some(LeadColumn::FullNameKana),
        "phone" => Some(LeadColumn::Mobile),
        _ => None,
    };
    if let Some(also) = also {
        columns.extend(mapping.columns_of(also));
    }
    columns
}

fn row_view(row: &PreviewRow, mapping: &Mapping, locale: &str) -> minijinja::Value {
    let problems: &[FieldError] = row.result.as_ref().err().map_or(&[], Vec::as_slice);
    let whole_row = problems.iter().any(|p| p.field == "row");
    let bad: Vec<usize> = problems.iter().flat_map(|p| columns_of_field(mapping, &p.field)).collect();
    let cells: Vec<minijinja::Value> = row
        .fields
        .iter()
        .enumerate()
        .map(|(i, value)| context! { value => value, bad => whole_row || bad.contains(&i) })
        .collect();
    let problems: Vec<minijinja::Value> = problems
        .iter()
        .map(|p| context! { field => field_label(&p.field, locale), message => p.message(locale) })
        .collect();
    context! { line => row.line, ok => row.result.is_ok(), cells => cells, problems => problems }
}

/// `POST /imports/uploads/{token}/preview`.
pub(super) async fn preview(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = &form.user;
    let locale = user.locale();
    let Some(upload) = state.uploads.get(&token, user.user.id, now_millis()) else { return expired() };
    let choices = Choices::from_pairs(&form.data);
    let (prepared, context, options) = match ready(&state, user, &upload, &choices).await {
        Ok(ready) => ready,
        Err(NotReady::Again(errors)) => return mapping_again(&state, user, &token, &upload, &choices, &errors).await,
        Err(NotReady::Page(error)) => return error.into_response(),
    };
    let earlier = match state.store.imports_of_file(&prepared.sha256).await {
        Ok(earlier) => earlier,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let names = match Names::load(&state, locale).await {
        Ok(names) => names,
        Err(error) => return error.into_response(),
    };
    let work_context = context.clone();
    let (prepared, scanned) = match blocking(locale, move || {
        let scanned = scan(&prepared, &work_context, PREVIEW_ROWS);
        (prepared, scanned)
    })
    .await
    {
        Ok(done) => done,
        Err(error) => return error.into_response(),
    };
    let headers: Vec<minijinja::Value> = prepared
        .headers
        .iter()
        .zip(&prepared.mapping.0)
        .map(|(name, column)| context! { name => name, field => column.map(|c| c.label(locale)) })
        .collect();
    let earlier: Vec<minijinja::Value> = earlier
        .iter()
        .map(|i| {
            context! { id => i.id, created_at => i.created_at, status => t(locale, super::status_key(&i.status)),
            by => names.user(i.created_by) }
        })
        .collect();
    let product = context.product_id.and_then(|id| names.product(Some(id)).map(str::to_owned));
    let page = render(
        &state,
        user,
        "imports/preview.html",
        "imports",
        context! {
            token => token,
            file_name => options.file_name,
            encoding => prepared.encoding.as_str(),
            encoding_label => prepared.encoding.label(),
            malformed => prepared.malformed,
            mapping => prepared.mapping.keys(),
            source => context.source,
            product_id => context.product_id,
            product => product,
            headers => headers,
            rows => scanned.rows.iter().map(|r| row_view(r, &prepared.mapping, locale)).collect::<Vec<_>>(),
            total => scanned.total,
            valid => scanned.valid,
            invalid => scanned.invalid,
            syntax => scanned.syntax.as_ref().map(|e| e.message(locale).to_owned()),
            earlier => earlier,
            back_query => choices.query(),
            shown => PREVIEW_ROWS,
        },
    )
    .await;
    match page {
        Ok(html) => html.into_response(),
        Err(error) => error.into_response(),
    }
}

/// `POST /imports/uploads/{token}/commit`: imports the file and shows the import.
pub(super) async fn commit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = &form.user;
    let locale = user.locale();
    let Some(upload) = state.uploads.get(&token, user.user.id, now_millis()) else { return expired() };
    let choices = Choices::from_pairs(&form.data);
    let (prepared, context, options) = match ready(&state, user, &upload, &choices).await {
        Ok(ready) => ready,
        Err(NotReady::Again(errors)) => return mapping_again(&state, user, &token, &upload, &choices, &errors).await,
        Err(NotReady::Page(error)) => return error.into_response(),
    };
    // Taken out before the import runs: a second press of the button finds nothing to import.
    if state.uploads.take(&token, user.user.id, now_millis()).is_none() {
        return expired();
    }
    let store = state.store.as_ref();
    match hatake_engine::import::run(store, &prepared, &context, &options, now_millis, |_| {}).await {
        Ok(import) => {
            tracing::info!(import = import.id, rows = import.total_rows, user = user.user.id, "import committed");
            Redirect::to(&format!("/imports/{}?done=1", import.id)).into_response()
        }
        Err(ImportError::File(error)) => {
            tracing::warn!(%error, "import refused the file");
            PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "import.unreadable", locale).into_response()
        }
        Err(ImportError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn product(id: i64) -> ProductRow {
        ProductRow {
            id,
            code: "erp".into(),
            name: "ERP".into(),
            description: None,
            active: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn choices_are_checked_field_by_field() {
        let good = Choices::from_pairs(&pairs(&[
            ("encoding", "shift_jis"),
            ("mapping", "company_name"),
            ("mapping", ""),
            ("mapping", "email"),
            ("source", " 展示会2026 "),
            ("product", "3"),
        ]));
        let settled = settle(&good, &[product(3)]).expect("valid");
        assert_eq!(settled.encoding, Some(TextEncoding::ShiftJis));
        assert_eq!(settled.mapping.expect("mapping").keys(), ["company_name", "", "email"]);
        assert_eq!((settled.source.as_deref(), settled.product_id), (Some("展示会2026"), Some(3)));

        // Each kind of bad choice is named: an unknown encoding, an unknown field, a field
        // mapped twice (on the later column), a product that does not exist.
        let bad = Choices::from_pairs(&pairs(&[
            ("encoding", "ebcdic"),
            ("mapping", "email"),
            ("mapping", "nonsense"),
            ("mapping", "email"),
            ("product", "9"),
        ]));
        let errors = settle(&bad, &[product(3)]).expect_err("invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["encoding", "mapping[1]", "mapping[2]", "product"]);
        let by_column = column_errors(&errors, "en");
        assert!(by_column[&2].contains("column 1 and column 3"), "{by_column:?}");

        // Blank means "as detected", "as guessed", no source, no product.
        let blank = settle(&Choices::default(), &[]).expect("valid");
        assert!(blank.encoding.is_none() && blank.mapping.is_none() && blank.source.is_none());
    }

    #[test]
    fn the_link_back_carries_the_choices() {
        let choices = Choices::from_pairs(&pairs(&[
            ("encoding", "utf-8"),
            ("mapping", "email"),
            ("mapping", ""),
            ("source", "展示会"),
        ]));
        assert_eq!(
            choices.query(),
            "encoding=utf-8&source=%E5%B1%95%E7%A4%BA%E4%BC%9A&product=&mapping=email&mapping="
        );
        assert_eq!(Choices::from_pairs(&pairs(&[])).mapping, None);
    }

    #[test]
    fn scanning_counts_every_row_and_finds_a_broken_quote() {
        let text = "会社名,氏名,メールアドレス\nA社,山田 太郎,taro@example.jp\nB社,佐藤 花子,not-an-address\nC社,\"田中,x@example.jp\n";
        let prepared = prepare(text.as_bytes(), None, None).expect("prepared");
        let scanned = scan(&prepared, &RowContext::default(), 1);
        assert_eq!((scanned.total, scanned.valid, scanned.invalid, scanned.rows.len()), (2, 1, 1, 1));
        let syntax = scanned.syntax.expect("the open quote is reported");
        assert!(syntax.message_en.contains('4'), "names its line: {}", syntax.message_en);
        let view = row_view(&scan(&prepared, &RowContext::default(), 2).rows[1], &prepared.mapping, "ja");
        assert!(!view.get_attr("ok").unwrap().is_true());
        let cells = view.get_attr("cells").unwrap();
        let bad: Vec<bool> =
            (0..3).map(|i| cells.get_item_by_index(i).unwrap().get_attr("bad").unwrap().is_true()).collect();
        assert_eq!(bad, [false, false, true], "the e-mail cell is marked");
    }
}
