//! One upload's steps: the file arrives (multipart, up to [`crate::MAX_UPLOAD_BYTES`]) and is
//! kept in [`crate::uploads`]; the mapping step shows the detected encoding, each column with a
//! sample and the field it goes to; the preview shows the first rows with their problems and
//! counts the rest; commit imports and leads to the import's page.
//!
//! Every step reads the file again with the choices posted to it: nothing carried in a hidden
//! field is trusted, and a bad choice comes back on the mapping step next to its column.

use super::super::{render, PageError, PageForm};
use super::choices::{column_errors, settle, Choices};
use super::scan::{kinds_view, row_view, scan};
use super::Names;
use crate::auth::{same_secret, CurrentUser};
use crate::i18n::t;
use crate::multipart;
use crate::uploads::{base_name, PendingUpload};
use crate::{now_millis, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hatake_csv::{ColumnKey, LeadColumn, RowReader, TextEncoding};
use hatake_domain::{FieldError, FieldErrors};
use hatake_engine::import::{prepare, ImportError, ImportOptions, Prepared, RowContext};
use minijinja::context;

/// Rows the preview shows.
const PREVIEW_ROWS: usize = 50;
/// Rows read to find each column's sample value.
const SAMPLE_ROWS: usize = 20;

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

/// The `file` part of a multipart form (multipart: `_csrf` and `file`), read up to
/// [`crate::MAX_UPLOAD_BYTES`] with its CSRF token checked; `None` when no file was chosen or
/// it is empty. A refused request (too large, not multipart, wrong token) is the response.
pub(crate) async fn uploaded_file(
    user: &CurrentUser,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<multipart::Part>, Response> {
    let locale = user.locale();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_UPLOAD_BYTES).await else {
        return Err(PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "error.upload_too_large", locale).into_response());
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = match multipart::parse(content_type, &bytes) {
        Ok(parts) => parts,
        Err(error) => {
            tracing::warn!(%error, "malformed upload");
            return Err(PageError::new(StatusCode::BAD_REQUEST, "import.bad_form", locale).into_response());
        }
    };
    let csrf = parts.iter().find(|p| p.name == "_csrf").map(multipart::Part::text).unwrap_or_default();
    if !same_secret(&csrf, &user.csrf_token) {
        return Err(PageError::new(StatusCode::FORBIDDEN, "error.csrf", locale).into_response());
    }
    let file = parts.into_iter().find(|p| p.name == "file" && p.file_name.as_deref().is_some_and(|n| !n.is_empty()));
    Ok(file.filter(|f| !f.data.is_empty()))
}

/// `POST /imports`: the upload form (multipart: `_csrf` and `file`).
pub(super) async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = user.locale();
    let file = match uploaded_file(&user, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let Some(file) = file else {
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

pub(super) async fn upload_again(state: &AppState, user: &CurrentUser, error: FieldError) -> Response {
    match super::list_page(state, user, &error.into(), false).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
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
            sample_rows => SAMPLE_ROWS.to_string(),
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
            event_kind => choices.event_kind,
            event_name => choices.event_name,
            event_date => choices.event_date,
            event_kinds => offline_kinds(locale),
            subscribe => choices.subscribe,
            topics => products.iter().map(|p| context! { key => hatake_store::product_topic(p.id), label => format!("{}のご案内", p.name) })
                .collect::<Vec<_>>(),
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
    let zone = jiff::tz::TimeZone::get(&state.config.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let settled = settle(choices, &products, &zone).map_err(NotReady::Again)?;
    let event = settled.event;
    let subscribe = settled.subscribe;
    let bytes = upload.bytes.clone();
    let (encoding, mapping) = (settled.encoding, settled.mapping);
    let prepared = match blocking(locale, move || prepare(&bytes, encoding, mapping)).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(ImportError::File(error))) => return Err(NotReady::Again(error.into())),
        Ok(Err(ImportError::Store(error))) => return Err(NotReady::Page(PageError::from_store(error, locale))),
        Err(error) => return Err(NotReady::Page(error)),
    };
    let (context, mut options) = hatake_engine::settings::import_context(
        store,
        settled.source,
        settled.product_id,
        &upload.file_name,
        Some(user.user.id),
    )
    .await
    .map_err(|e| NotReady::Page(PageError::from_store(e, locale)))?;
    options.event = event;
    options.subscribe = subscribe;
    Ok((prepared, context, options))
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
    // An undone import left nothing behind: importing the file again is a first import.
    let earlier: Vec<minijinja::Value> = earlier
        .iter()
        .filter(|i| i.status != "undone")
        .map(|i| {
            context! { id => i.id, created_at => i.created_at, status => t(locale, super::status_key(&i.status)),
            stopped => hatake_engine::import::is_stopped(i, now_millis()),
            by => names.user(i.created_by), created => i.created_rows, merged => i.merged_rows,
            rejected => i.rejected_rows }
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
            event => options.event.as_ref().map(|e| event_view(e, locale)),
            event_kind => choices.event_kind,
            event_name => choices.event_name,
            event_date => choices.event_date,
            subscribe => choices.subscribe,
            subscribe_labels => subscribe_labels(&options.subscribe, &names, locale),
            headers => headers,
            rows => scanned.rows.iter().map(|r| row_view(r, &prepared.mapping, locale)).collect::<Vec<_>>(),
            total => scanned.total,
            valid => scanned.valid,
            invalid => scanned.invalid,
            kinds => kinds_view(&scanned.kinds, locale),
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

/// The kinds a list can record, with their labels.
fn offline_kinds(locale: &str) -> Vec<(&'static str, &'static str)> {
    hatake_domain::event::OFFLINE_KINDS
        .iter()
        .map(|k| (k.as_str(), if locale == "en" { k.label_en() } else { k.label_ja() }))
        .collect()
}

/// An offline event as the pages show it: its kind's label, name and day.
pub(super) fn event_view(event: &hatake_domain::event::OfflineEvent, locale: &str) -> minijinja::Value {
    let kind = hatake_domain::EventKind::parse(&event.kind);
    context! {
        kind => kind.map(|k| if locale == "en" { k.label_en() } else { k.label_ja() }),
        name => event.name,
        at => event.occurred_at,
    }
}

/// Files with more lines than this are imported in the background.
pub(crate) const BACKGROUND_ROWS: usize = 5_000;

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
    // A large file is imported in the background: the import's page shows its progress and
    // refreshes itself until it is done. A small one is done before the answer.
    if prepared.text.lines().count() > BACKGROUND_ROWS {
        let import = match hatake_engine::import::start(store, &prepared, &context, &options, now_millis()).await {
            Ok(import) => import,
            Err(ImportError::Store(error)) => return PageError::from_store(error, locale).into_response(),
            Err(ImportError::File(_)) => {
                return PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "import.unreadable", locale).into_response()
            }
        };
        let store = std::sync::Arc::clone(&state.store);
        let (id, by) = (import.id, user.user.id);
        tokio::spawn(async move {
            match hatake_engine::import::finish(&*store, id, &prepared, &context, &options, now_millis, |_| {}).await {
                Ok(done) => tracing::info!(import = id, rows = done.total_rows, user = by, "import finished"),
                Err(error) => tracing::error!(import = id, %error, "import failed"),
            }
        });
        return Redirect::to(&format!("/imports/{id}")).into_response();
    }
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

/// The topics an import subscribes its people to, as the preview names them.
fn subscribe_labels(topics: &[String], names: &super::Names, locale: &str) -> Vec<String> {
    topics
        .iter()
        .map(|topic| {
            if topic == hatake_store::TOPIC_GENERAL {
                crate::i18n::t(locale, "import.subscribe_general").to_owned()
            } else {
                let id = topic.strip_prefix("product:").and_then(|id| id.parse::<i64>().ok());
                names.product(id).map_or_else(|| topic.clone(), str::to_owned)
            }
        })
        .collect()
}
