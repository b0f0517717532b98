//! Lead imports: the list of past imports with the upload form, the steps of one upload
//! (`upload.rs`: mapping, preview, commit; `choices.rs` checks what the mapping step posts,
//! `scan.rs` reads the file for the preview), and one import's page with its counts, rejected
//! rows (also as CSV), undo and the way to its review questions. `companies.rs` imports the
//! company master from the same page.

mod choices;
mod companies;
mod resume;
mod scan;
mod upload;
pub(crate) use upload::uploaded_file;

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_csv::{ExportEncoding, LeadColumn, Mapping};
use hatake_domain::FieldErrors;
use hatake_store::{ImportRow, StoreError, UndoReport};
use minijinja::context;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/imports", Access::SignedIn, get(list)),
        route(
            "POST",
            "/imports",
            Access::Import,
            post(upload::upload).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_UPLOAD_BYTES)),
        ),
        route(
            "POST",
            "/imports/companies",
            Access::Import,
            post(companies::upload).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_UPLOAD_BYTES)),
        ),
        route("GET", "/imports/uploads/{token}", Access::Import, get(upload::mapping)),
        route("POST", "/imports/uploads/{token}/preview", Access::Import, post(upload::preview)),
        route("POST", "/imports/uploads/{token}/commit", Access::Import, post(upload::commit)),
        route("GET", "/imports/{id}", Access::SignedIn, get(detail)),
        route("GET", "/imports/{id}/rejects.csv", Access::SignedIn, get(rejects_csv)),
        route("POST", "/imports/{id}/undo", Access::Import, post(undo)),
        route(
            "POST",
            "/imports/{id}/resume",
            Access::Import,
            post(resume::resume).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_UPLOAD_BYTES)),
        ),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct ListParams {
    /// The upload asked for is gone (expired, or imported already).
    expired: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    list_page(&state, &user, &FieldErrors::default(), params.expired.is_some()).await
}

/// The list of imports with the upload form; `errors` are the upload's (field `file`).
pub(crate) async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    errors: &FieldErrors,
    expired: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let imports = store.list_imports(100).await.map_err(|e| PageError::from_store(e, locale))?;
    let names = Names::load(state, locale).await?;
    let rows: Vec<minijinja::Value> = imports.iter().map(|i| import_view(i, &names, locale)).collect();
    render(
        state,
        user,
        "imports/list.html",
        "imports",
        context! {
            imports => rows,
            errors => super::field_errors(errors, locale),
            has_errors => !errors.is_empty(),
            expired => expired,
            max_mib => crate::MAX_UPLOAD_BYTES / (1024 * 1024),
        },
    )
    .await
}

/// Users and products by id, for showing who imported what for which product.
pub(crate) struct Names {
    users: HashMap<i64, String>,
    products: HashMap<i64, String>,
}

impl Names {
    pub(crate) async fn load(state: &AppState, locale: &'static str) -> Result<Self, PageError> {
        let store = state.store.as_ref();
        let users = store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
        let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
        Ok(Self {
            users: users.into_iter().map(|u| (u.id, u.display_name)).collect(),
            products: products.into_iter().map(|p| (p.id, p.name)).collect(),
        })
    }

    pub(crate) fn user(&self, id: Option<i64>) -> Option<&str> {
        id.and_then(|id| self.users.get(&id)).map(String::as_str)
    }

    fn product(&self, id: Option<i64>) -> Option<&str> {
        id.and_then(|id| self.products.get(&id)).map(String::as_str)
    }
}

/// One import as the list and its page show it.
fn import_view(import: &ImportRow, names: &Names, locale: &str) -> minijinja::Value {
    let stopped = import.status == "running" && hatake_engine::import::is_stopped(import, now_millis());
    context! {
        row => import,
        encoding_label => hatake_csv::TextEncoding::parse(&import.encoding).map_or_else(|_| import.encoding.clone(), |e| e.label().to_owned()),
        status_label => t(locale, if stopped { "import.status.stopped" } else { status_key(&import.status) }),
        by => names.user(import.created_by),
        undone_by => names.user(import.undone_by),
        product => names.product(import.product_id),
        event => import
            .event
            .as_deref()
            .and_then(|e| serde_json::from_str::<hatake_domain::event::OfflineEvent>(e).ok())
            .map(|e| upload::event_view(&e, locale)),
    }
}

fn status_key(status: &str) -> &'static str {
    match status {
        "running" => "import.status.running",
        "done" => "import.status.done",
        "failed" => "import.status.failed",
        "undone" => "import.status.undone",
        _ => "common.none",
    }
}

/// The name of a field a row problem is about, in the user's language and in the words the
/// rest of the app uses (`source` → 獲得経路, `product` → 関心商材); otherwise a lead column's
/// label (`full_name` → 氏名), `row` for the row as a whole.
pub(crate) fn field_label(field: &str, locale: &str) -> String {
    let key = match field {
        "row" => return t(locale, "import.field.row").to_owned(),
        "product" | "product_ids" => "lead.products".to_owned(),
        "owner_id" => "lead.owner".to_owned(),
        "company_name" => "lead.company".to_owned(),
        "account_id" => "lead.account".to_owned(),
        other => format!("lead.{other}"),
    };
    let label = t(locale, &key);
    if label != key {
        return label.to_owned();
    }
    LeadColumn::parse(field).map_or_else(|| field.to_owned(), |column| column.label(locale).to_owned())
}

#[derive(Deserialize, Default, Debug)]
pub struct DetailParams {
    /// Just committed.
    done: Option<String>,
    /// After a company master import: leads linked to a company, and links left to review.
    linked: Option<u64>,
    link_reviews: Option<u64>,
    /// A stopped import was just resumed.
    resumed: Option<String>,
    /// The rows' outcomes: those after this line, only this outcome.
    lines_after: Option<i64>,
    outcome: Option<String>,
}

/// Rows shown per page in the list of each row's outcome.
const LINES_PER_PAGE: i64 = 100;

/// Rejected rows shown on the page; the rest are in the CSV.
const REJECTS_SHOWN: usize = 200;

async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<DetailParams>,
) -> Result<Html<String>, PageError> {
    let links = params.linked.zip(params.link_reviews).map(|(linked, review)| Links { linked, review });
    let outcome = params.outcome.filter(|o| matches!(o.as_str(), "created" | "merged" | "unchanged" | "review"));
    let lines = Lines { after: params.lines_after.unwrap_or(0).max(0), outcome };
    let notice =
        Notice { done: params.done.is_some(), links, resumed: params.resumed.is_some(), lines, ..Notice::default() };
    detail_page(&state, &user, id, &notice).await
}

/// What one import's page says besides the import itself.
#[derive(Default)]
pub(super) struct Notice {
    done: bool,
    resumed: bool,
    /// Why the file given to resume the import was not taken.
    pub(super) resume_error: Option<hatake_domain::FieldError>,
    undo: Option<UndoReport>,
    undo_refused: bool,
    /// What linking leads to companies did after a company master import.
    links: Option<Links>,
    /// Which page of the rows' outcomes to show.
    lines: Lines,
}

#[derive(Default)]
pub(super) struct Lines {
    after: i64,
    outcome: Option<String>,
}

#[derive(serde::Serialize, Clone, Copy, Debug)]
struct Links {
    linked: u64,
    review: u64,
}

pub(super) async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    notice: &Notice,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let import = store.get_import(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let rejects = store.import_rejects(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let names = Names::load(state, locale).await?;
    let mapping = mapping_view(&import, locale);
    let shown: Vec<minijinja::Value> = rejects
        .iter()
        .take(REJECTS_SHOWN)
        .map(|reject| {
            let problems: Vec<minijinja::Value> = reject
                .problem_list()
                .iter()
                .map(|p| context! { field => field_label(&p.field, locale), message => p.message(locale) })
                .collect();
            context! { line => reject.line, problems => problems, fields => reject.field_list() }
        })
        .collect();
    let companies = import.kind == "companies";
    let stopped = hatake_engine::import::is_stopped(&import, now_millis());
    // Each row's outcome, a page at a time (one more read says whether a next page exists).
    let outcome = notice.lines.outcome.as_deref();
    let mut lines = if companies {
        Vec::new()
    } else {
        store
            .import_line_page(id, outcome, notice.lines.after, LINES_PER_PAGE + 1)
            .await
            .map_err(|e| PageError::from_store(e, locale))?
    };
    let lines_next = (lines.len() > usize::try_from(LINES_PER_PAGE).unwrap_or(usize::MAX)).then(|| {
        lines.truncate(usize::try_from(LINES_PER_PAGE).unwrap_or(0));
        lines.last().map_or(0, |l| l.line)
    });
    let lines: Vec<minijinja::Value> = lines
        .iter()
        .map(|l| {
            context! {
                line => l.line,
                lead_id => l.lead_id,
                outcome => l.outcome,
                outcome_label => t(locale, outcome_key(&l.outcome)),
                decided => l.decided,
                name => l.lead_name,
                company => l.company,
            }
        })
        .collect();
    let counts: Vec<minijinja::Value> = if companies {
        vec![
            ("created", import.created_rows, "import.company.created"),
            ("merged", import.merged_rows, "import.company.merged"),
            ("unchanged", import.unchanged_rows, "import.company.unchanged"),
            ("rejected", import.rejected_rows, "import.outcome.rejected"),
        ]
    } else {
        ["created", "merged", "unchanged", "review", "rejected"]
            .into_iter()
            .zip([
                import.created_rows,
                import.merged_rows,
                import.unchanged_rows,
                import.review_rows,
                import.rejected_rows,
            ])
            .map(|(key, value)| (key, value, outcome_key(key)))
            .collect()
    }
    .into_iter()
    .map(|(key, value, label)| context! { key => key, value => value, label => t(locale, label) })
    .collect();
    render(
        state,
        user,
        "imports/detail.html",
        "imports",
        context! {
            import => import_view(&import, &names, locale),
            counts => counts,
            mapping => mapping,
            rejects => shown,
            lines => lines,
            lines_next => lines_next,
            lines_after => notice.lines.after,
            lines_outcome => outcome,
            rejects_more => rejects.len().saturating_sub(REJECTS_SHOWN),
            can_undo => !companies
                && matches!(import.status.as_str(), "done" | "failed")
                && crate::can_import(user.user.role()),
            stopped => stopped,
            can_resume => stopped && crate::can_import(user.user.role()),
            resumed => notice.resumed,
            resume_error => notice.resume_error.as_ref().map(|e| e.message(locale).to_owned()),
            companies => companies,
            links => notice.links,
            done => notice.done,
            undo => notice.undo,
            undo_refused => notice.undo_refused,
        },
    )
    .await
}

pub(crate) fn outcome_key(outcome: &str) -> &'static str {
    match outcome {
        "created" => "import.outcome.created",
        "merged" => "import.outcome.merged",
        "unchanged" => "import.outcome.unchanged",
        "review" => "import.outcome.review",
        "rejected" => "import.outcome.rejected",
        _ => "common.none",
    }
}

/// Names for the file's columns, from the stored mapping (the file's own header row is not
/// kept): the Japanese label of the field each column went to, 「列N」 for the others, and a
/// number after a label used twice (住所, 住所 (2)). A file imported again reads them back to
/// the same fields.
fn column_headers(mapping_json: &str) -> Vec<String> {
    let mapping: Mapping = serde_json::from_str(mapping_json).unwrap_or_default();
    let mut headers: Vec<String> = Vec::with_capacity(mapping.0.len());
    for (index, column) in mapping.0.iter().enumerate() {
        let base = match column {
            Some(column) if *column != LeadColumn::Ignore => column.label("ja").to_owned(),
            _ => format!("列{}", index + 1),
        };
        let seen = headers.iter().filter(|h| **h == base || h.starts_with(&format!("{base} ("))).count();
        headers.push(if seen == 0 { base } else { format!("{base} ({})", seen + 1) });
    }
    headers
}

/// Each column of the file as the import page lists it: the file's own header (when it was
/// recorded) and the field it went to, or none.
fn mapping_view(import: &ImportRow, locale: &str) -> Vec<minijinja::Value> {
    let mapping: Mapping = serde_json::from_str(&import.mapping).unwrap_or_default();
    let recorded = import.header_list();
    mapping
        .0
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let field = column.filter(|c| *c != LeadColumn::Ignore).map(|c| c.label(locale));
            let header =
                recorded.get(i).cloned().unwrap_or_else(|| format!("{} {}", t(locale, "import.column"), i + 1));
            context! { header => header, field => field }
        })
        .collect()
}

#[derive(Deserialize, Default, Debug)]
pub struct CsvParams {
    encoding: Option<String>,
}

/// The export encoding a download link asks for (`utf8`, the default, or `cp932`).
pub(crate) fn export_encoding(value: Option<&str>, locale: &'static str) -> Result<ExportEncoding, PageError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(ExportEncoding::Utf8Bom),
        Some(value) => ExportEncoding::parse(value)
            .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "export.bad_encoding", locale)),
    }
}

/// A CSV download: the right charset and an attachment name (ASCII, and the UTF-8 name for
/// browsers that read `filename*`).
pub(crate) fn csv_response(bytes: Vec<u8>, encoding: ExportEncoding, ascii_name: &str, utf8_name: &str) -> Response {
    let charset = match encoding {
        ExportEncoding::Utf8Bom => "utf-8",
        ExportEncoding::Cp932 => "Shift_JIS",
    };
    let disposition = format!(
        "attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{}",
        super::url_encode(utf8_name).replace('/', "%2F")
    );
    (
        [
            (header::CONTENT_TYPE, format!("text/csv; charset={charset}")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

async fn rejects_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<CsvParams>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let encoding = export_encoding(params.encoding.as_deref(), locale)?;
    let store = state.store.as_ref();
    let import = store.get_import(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let rejects = store.import_rejects(id).await.map_err(|e| PageError::from_store(e, locale))?;
    // The file's own header row when it was recorded; else names from the mapping.
    let recorded = import.header_list();
    let headers = if recorded.is_empty() { column_headers(&import.mapping) } else { recorded };
    let bytes = hatake_engine::export::rejects_csv(&headers, &rejects, encoding);
    let stem = import.file_name.rsplit_once('.').map_or(import.file_name.as_str(), |(stem, _)| stem);
    let suffix = if encoding == ExportEncoding::Cp932 { "-sjis" } else { "" };
    Ok(csv_response(
        bytes,
        encoding,
        &format!("import-{id}-rejects{suffix}.csv"),
        &format!("{stem}_取り込めなかった行{suffix}.csv"),
    ))
}

async fn undo(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = &form.user;
    let locale = user.locale();
    // Undo is for lead imports: a company master import is refused as nothing to undo.
    let kind = match state.store.get_import(id).await {
        Ok(import) => import.kind,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let undone = if kind == "companies" {
        Err(StoreError::Conflict { field: "kind" })
    } else {
        state.store.undo_import(id, Some(user.user.id), now_millis()).await
    };
    let (notice, status) = match undone {
        Ok(report) => (Notice { undo: Some(report), ..Notice::default() }, StatusCode::OK),
        // Not finished, or undone already: nothing changed.
        Err(StoreError::Conflict { .. }) => (Notice { undo_refused: true, ..Notice::default() }, StatusCode::CONFLICT),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    // The page is shown right away (not after a redirect): the report exists only now.
    match detail_page(&state, user, id, &notice).await {
        Ok(html) => (status, html).into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_from_the_mapping() {
        let json = r#"["company_name", null, "address", "address", "ignore", "email"]"#;
        assert_eq!(column_headers(json), ["会社名", "列2", "住所", "住所 (2)", "列5", "メールアドレス"]);
        assert!(column_headers("not json").is_empty());
    }

    #[test]
    fn problem_fields_in_both_languages() {
        assert_eq!(field_label("email", "ja"), "メールアドレス");
        assert_eq!(field_label("email", "en"), "E-mail");
        assert_eq!(field_label("row", "en"), "Row");
        assert_eq!(field_label("family_name_kana", "ja"), "セイ");
        assert_eq!(field_label("full_name", "ja"), "氏名");
        // The app's own words, whatever the column list calls them.
        assert_eq!(field_label("source", "ja"), "獲得経路");
        assert_eq!(field_label("product", "ja"), "関心商材");
        assert_eq!(field_label("company_name", "en"), "Company");
        assert_eq!(field_label("custom.budget", "en"), "custom.budget");
    }
}
