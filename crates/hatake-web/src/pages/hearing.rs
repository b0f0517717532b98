//! Hearing sheets (情報資産): the lead page's panel (each item's value, who learned it when,
//! how complete the sheet is, the history, an edit form), the settings page (which custom
//! fields are hearing items, in which order, and the BANT / position-first templates), and the
//! CSV import of hearing results.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::hearing::{completeness, HearingTemplate};
use hatake_domain::{CustomFieldDef, FieldError, FieldErrors, FieldKind, Role};
use hatake_engine::hearing::{self, ImportError, Sheet};
use hatake_store::{HearingLogRow, HearingSource, LeadRow, StoreError};
use minijinja::context;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Changes the lead page's history shows.
const LOG_SHOWN: i64 = 100;
/// Rows of a file's problems the result page lists.
const ERRORS_SHOWN: usize = 500;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("POST", "/leads/{id}/hearing", Access::SignedIn, post(save)),
        route("GET", "/settings/hearing", Access::Configure, get(settings)),
        route("POST", "/settings/hearing", Access::Configure, post(save_settings)),
        route("POST", "/settings/hearing/template", Access::Configure, post(apply_template)),
        route("GET", "/hearing/import", Access::SignedIn, get(import_form)),
        route("POST", "/hearing/import", Access::SignedIn, post(import)),
    ]
}

/// Who may import hearing results: everyone but field sales.
fn may_import(user: &CurrentUser) -> bool {
    user.user.role() != Role::FieldSales
}

/// A stored value as a person reads it: numbers from 10,000 up with separators (a year stays
/// 2019).
fn shown(value: &serde_json::Value, locale: &str) -> String {
    match value.as_f64() {
        Some(n) if n.abs() < 10_000.0 => hatake_domain::hearing::value_text(None, value),
        _ => super::labels::value_text(value, locale),
    }
}

fn channel_label(channel: &str) -> &'static str {
    match channel {
        "call" => "hearing.channel.call",
        "import" => "hearing.channel.import",
        "api" => "hearing.channel.api",
        _ => "hearing.channel.ui",
    }
}

/// One item's input: its kind, choices and the value to show in the form.
fn item_input(def: &CustomFieldDef, value: String, error: Option<String>, locale: &str) -> minijinja::Value {
    let choices = match &def.kind {
        FieldKind::Choice { choices } => choices.clone(),
        _ => Vec::new(),
    };
    context! { key => def.key, label => def.label(locale), kind => def.kind.as_str(), choices => choices,
    input => value, error => error }
}

/// The lead page's hearing panel, or `None` without a sheet. `typed`: a form sent back with
/// its mistakes (the call panel's or the hearing form's).
pub(crate) async fn panel(
    state: &AppState,
    user: &CurrentUser,
    lead: &LeadRow,
    sheet: &Sheet,
    typed: Option<(&BTreeMap<String, String>, &FieldErrors)>,
) -> Result<Option<minijinja::Value>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    if sheet.items.is_empty() {
        return Ok(None);
    }
    let values = lead.custom_map();
    let log = store.hearing_log(lead.id, LOG_SHOWN).await.map_err(error)?;
    let errors = typed.map(|(_, e)| super::field_errors(e, locale)).unwrap_or_default();
    let items: Vec<minijinja::Value> = sheet
        .items
        .iter()
        .map(|def| {
            let value = values.get(&def.key).filter(|v| hatake_domain::hearing::is_known(Some(v)));
            // Who learned the value in force (none when it was cleared last).
            let learned = log.iter().find(|r| r.field_key == def.key).filter(|r| r.value.is_some());
            let input = match typed {
                Some((typed, _)) => typed.get(&def.key).cloned().unwrap_or_default(),
                None => value.map(|v| hatake_domain::hearing::value_text(Some(def), v)).unwrap_or_default(),
            };
            let error = errors.get(&format!("hearing.{}", def.key)).cloned();
            context! {
                field => item_input(def, input, error, locale),
                value => value.map(|v| shown(v, locale)),
                by => learned.and_then(|r| r.user_name.clone()),
                at => learned.map(|r| r.at),
                how => learned.map(|r| channel_label(&r.channel)),
            }
        })
        .collect();
    let done = completeness(&sheet.keys(), &values);
    let missing: Vec<&str> =
        done.missing.iter().filter_map(|key| sheet.item(key)).map(|def| def.label(locale)).collect();
    let history: Vec<minijinja::Value> = log.iter().map(|row| log_view(row, sheet, locale)).collect();
    Ok(Some(context! {
        items => items,
        known => done.known,
        total => done.total,
        percent => done.percent(),
        missing => missing,
        history => history,
        more => log.len() as i64 >= LOG_SHOWN,
        errors => !errors.is_empty(),
    }))
}

fn log_view(row: &HearingLogRow, sheet: &Sheet, locale: &str) -> minijinja::Value {
    let parse = |text: &Option<String>| {
        text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()).map(|v| shown(&v, locale))
    };
    context! {
        at => row.at,
        item => sheet.item(&row.field_key).map_or(row.field_key.as_str(), |d| d.label(locale)),
        value => parse(&row.value),
        previous => parse(&row.previous),
        by => row.user_name,
        how => channel_label(&row.channel),
        call => row.call_id,
    }
}

/// The hearing values of a posted form: its `hearing.KEY` fields.
pub(crate) fn typed_values(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().filter_map(|(k, v)| k.strip_prefix("hearing.").map(|key| (key.to_owned(), v.clone()))).collect()
}

/// `POST /leads/{id}/hearing`: what was learned, from the lead's page.
async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(lead_id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let store = state.store.as_ref();
    let typed = typed_values(&form.data);
    let sheet = match hearing::sheet(store).await {
        Ok(sheet) => sheet,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let pairs: Vec<(String, String)> = typed.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    match sheet.changes(&pairs, true) {
        Ok(changes) => {
            let source =
                HearingSource { user_id: Some(user.user.id), call_id: None, channel: "ui".into(), at: now_millis() };
            match hearing::record(store, lead_id, &changes, &source).await {
                Ok(changed) => {
                    Redirect::to(&format!("/leads/{lead_id}?heard={}#hearing", changed.len())).into_response()
                }
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        Err(errors) => {
            let extra = super::leads::DetailExtra { hearing: Some((&typed, &errors)), ..Default::default() };
            super::calls::lead_page_again(&state, &user, lead_id, extra).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SettingsParams {
    saved: Option<String>,
    created: Option<usize>,
    added: Option<usize>,
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<SettingsParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let notice = if params.saved.is_some() {
        Some(crate::i18n::t(locale, "common.saved").to_owned())
    } else {
        params.added.map(|added| {
            let created = params.created.unwrap_or(0);
            if locale == "ja" {
                format!("テンプレートを適用しました（項目を{added}件追加、うちカスタム項目を{created}件新規作成）。")
            } else {
                format!("Template applied: {added} items added, {created} of them new custom fields.")
            }
        })
    };
    settings_page(&state, &user, notice, None).await.map(Html)
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    notice: Option<String>,
    errors: Option<&FieldErrors>,
) -> Result<String, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let sheet = hearing::sheet(store).await.map_err(error)?;
    let defs = crate::service::custom_defs(store).await.map_err(error)?;
    let keys = sheet.keys();
    // The sheet's items first, in order; then the other custom fields.
    let mut rows: Vec<minijinja::Value> = Vec::new();
    for (index, def) in sheet.items.iter().enumerate() {
        rows.push(
            context! { key => def.key, label => def.label(locale), kind => super::settings::kind_label(def, locale),
            on => true, position => index + 1 },
        );
    }
    for def in defs.iter().filter(|d| !keys.contains(&d.key)) {
        rows.push(
            context! { key => def.key, label => def.label(locale), kind => super::settings::kind_label(def, locale),
            on => false, position => "" },
        );
    }
    let templates: Vec<minijinja::Value> =
        HearingTemplate::ALL.iter().map(|t| context! { code => t.code(), label => t.label(locale) }).collect();
    let messages: Vec<String> =
        errors.map(|e| e.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "settings/hearing.html",
        "settings",
        context! { rows => rows, templates => templates, notice => notice, messages => messages },
    )
    .await
    .map(|html| html.0)
}

/// `POST /settings/hearing`: the checked fields (`item`) in the order of their numbers
/// (`position.KEY`; blank ones last, in the table's order).
async fn save_settings(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let checked: Vec<&String> = form.data.iter().filter(|(k, _)| k == "item").map(|(_, v)| v).collect();
    let defs = crate::service::custom_defs(state.store.as_ref()).await.unwrap_or_default();
    let label = |key: &str, ja: bool| {
        defs.iter().find(|d| d.key == key).map_or(key.to_owned(), |d| {
            if ja {
                d.label_ja.clone()
            } else {
                d.label_en.clone()
            }
        })
    };
    let mut bad = FieldErrors::default();
    let mut ordered: Vec<(i64, usize, String)> = Vec::new();
    for (index, key) in checked.iter().enumerate() {
        let typed = form.data.iter().find(|(k, _)| k.strip_prefix("position.") == Some(key.as_str())).map(|(_, v)| v);
        let position = match typed.map(|t| t.trim()).filter(|t| !t.is_empty()) {
            None => i64::MAX,
            Some(text) => match hatake_domain::text::nfkc_trim(text).parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    bad.push(FieldError::new(
                        format!("position.{key}"),
                        "invalid_number",
                        format!("「{}」の順番「{text}」は数字ではありません。", label(key, true)),
                        format!("The position \"{text}\" of \"{}\" is not a number.", label(key, false)),
                    ));
                    i64::MAX
                }
            },
        };
        ordered.push((position, index, (*key).clone()));
    }
    if !bad.is_empty() {
        return match settings_page(&state, &user, None, Some(&bad)).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response(),
            Err(error) => error.into_response(),
        };
    }
    ordered.sort();
    let keys: Vec<String> = ordered.into_iter().map(|(_, _, key)| key).collect();
    match hearing::save_sheet(state.store.as_ref(), &keys, now_millis()).await {
        Ok(_) => Redirect::to("/settings/hearing?saved=1").into_response(),
        Err(hatake_engine::inside_sales::SaveError::Invalid(errors)) => {
            match settings_page(&state, &user, None, Some(&errors)).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(hatake_engine::inside_sales::SaveError::Store(error)) => {
            PageError::from_store(error, locale).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    template: String,
}

async fn apply_template(State(state): State<AppState>, form: PageForm<TemplateForm>) -> Response {
    let locale = form.user.locale();
    let Some(template) = HearingTemplate::from_code(&form.data.template) else {
        let errors = FieldErrors(vec![FieldError::new(
            "template",
            "invalid_choice",
            "テンプレートを選んでください。",
            "Choose a template.",
        )]);
        return match settings_page(&state, &form.user, None, Some(&errors)).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response(),
            Err(error) => error.into_response(),
        };
    };
    match hearing::apply_template(state.store.as_ref(), template, now_millis()).await {
        Ok(applied) => {
            Redirect::to(&format!("/settings/hearing?added={}&created={}", applied.items_added, applied.fields_created))
                .into_response()
        }
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn import_form(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    if !may_import(&user) {
        return Err(PageError::forbidden(user.locale()));
    }
    import_page(&state, &user, None, None).await.map(Html)
}

async fn import_page(
    state: &AppState,
    user: &CurrentUser,
    report: Option<&hearing::ImportReport>,
    refused: Option<&FieldErrors>,
) -> Result<String, PageError> {
    let locale = user.locale();
    let sheet = hearing::sheet(state.store.as_ref()).await.map_err(|e| PageError::from_store(e, locale))?;
    let items: Vec<minijinja::Value> = sheet
        .items
        .iter()
        .map(|d| {
            let example = match &d.kind {
                FieldKind::Choice { choices } => choices.join(" / "),
                FieldKind::Number => "2019".into(),
                FieldKind::Date => "2027-04-01".into(),
                FieldKind::Text => String::new(),
            };
            context! { key => d.key, label => d.label(locale), kind => super::settings::kind_label(d, locale), example => example }
        })
        .collect();
    let header: Vec<&str> =
        std::iter::once("メールアドレス").chain(sheet.items.iter().map(|d| d.label_ja.as_str())).collect();
    let report = report.map(|r| {
        let rows: Vec<minijinja::Value> = r
            .errors
            .iter()
            .take(ERRORS_SHOWN)
            .map(|e| {
                let field = e.error.field.strip_prefix("hearing.").and_then(|k| sheet.item(k)).map(|d| d.label(locale));
                context! { line => e.line, field => field, message => e.error.message(locale) }
            })
            .collect();
        context! { rows => r.rows, taken => r.taken, changed => r.changed, failed => r.errors.len(),
        errors => rows, hidden => r.errors.len().saturating_sub(ERRORS_SHOWN) }
    });
    let messages: Vec<String> =
        refused.map(|e| e.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "hearing/import.html",
        "calls",
        context! { items => items, header => header.join(","), report => report, messages => messages },
    )
    .await
    .map(|html| html.0)
}

/// `POST /hearing/import` (multipart: `_csrf` and `file`).
async fn import(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap, body: Body) -> Response {
    let locale = user.locale();
    if !may_import(&user) {
        return PageError::forbidden(locale).into_response();
    }
    let file = match super::imports::uploaded_file(&user, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let outcome = match file {
        None => Err(ImportError::File(FieldErrors(vec![FieldError::new(
            "file",
            "no_file",
            "CSVファイルを選んでください。",
            "Choose a CSV file.",
        )]))),
        Some(file) => hearing::import_csv(state.store.as_ref(), &file.data, Some(user.user.id), now_millis()).await,
    };
    let page = match outcome {
        Ok(report) => {
            tracing::info!(rows = report.rows, taken = report.taken, user = user.user.id, "hearing results imported");
            import_page(&state, &user, Some(&report), None).await.map(|html| (StatusCode::OK, html))
        }
        Err(ImportError::File(errors)) => {
            import_page(&state, &user, None, Some(&errors)).await.map(|html| (StatusCode::UNPROCESSABLE_ENTITY, html))
        }
        Err(ImportError::Store(error)) => return PageError::from_store(error, locale).into_response(),
    };
    match page {
        Ok((status, html)) => (status, Html(html)).into_response(),
        Err(error) => error.into_response(),
    }
}
