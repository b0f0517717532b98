//! Settings → department classes (部署分類): the dictionary that turns free-text departments
//! into classes, edited as text. Saving checks every line first (nothing is stored when one is
//! wrong) and then classifies every lead again; a small tester shows what a department becomes.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::FieldErrors;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/settings/departments", Access::Configure, get(show)),
        route("POST", "/settings/departments", Access::Configure, post(save)),
        route("POST", "/settings/departments/default", Access::Configure, post(restore_default)),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct ShowParams {
    /// Leads whose class changed with the saved dictionary.
    changed: Option<u64>,
    restored: Option<String>,
    /// A department name to classify with the stored dictionary.
    #[serde(rename = "try")]
    try_text: Option<String>,
}

/// A class's label in the user's language.
pub(crate) fn class_label(class: &hatake_domain::department::DepartmentClass, locale: &str) -> String {
    if locale == "en" {
        class.label_en.clone()
    } else {
        class.label_ja.clone()
    }
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let dictionary = hatake_engine::settings::departments(state.store.as_ref())
        .await
        .map_err(|e| PageError::from_store(e, locale))?;
    let tried = params.try_text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|text| {
        let class = dictionary.classify(text);
        context! { text => text, key => class.map(|c| c.key.clone()), label => class.map(|c| class_label(c, locale)) }
    });
    let notice = Notice { changed: params.changed, restored: params.restored.is_some(), tried };
    page(&state, &user, &dictionary.to_text(), &dictionary, &FieldErrors::default(), notice).await
}

#[derive(Default)]
struct Notice {
    changed: Option<u64>,
    restored: bool,
    tried: Option<minijinja::Value>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    text: &str,
    stored: &DepartmentDictionary,
    errors: &FieldErrors,
    notice: Notice,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let classes: Vec<minijinja::Value> = stored
        .classes()
        .iter()
        .map(|c| {
            let keywords = stored.rules().iter().filter(|r| r.class_key == c.key).count();
            context! { key => c.key, label_ja => c.label_ja, label_en => c.label_en, keywords => keywords }
        })
        .collect();
    let messages: Vec<&str> = errors.0.iter().map(|e| e.message(locale)).collect();
    render(
        state,
        user,
        "settings/departments.html",
        "settings",
        context! {
            text => text,
            classes => classes,
            line_errors => messages,
            has_errors => !errors.is_empty(),
            changed => notice.changed,
            restored => notice.restored,
            tried => notice.tried,
        },
    )
    .await
}

#[derive(Deserialize, Debug)]
pub struct DictionaryForm {
    #[serde(default)]
    text: String,
}

async fn save(State(state): State<AppState>, form: PageForm<DictionaryForm>) -> Response {
    let locale = form.user.locale();
    let store = state.store.as_ref();
    match DepartmentDictionary::parse(&form.data.text) {
        Ok(dictionary) => stored_and_reclassified(&state, &dictionary, Some(&form.data.text), false)
            .await
            .unwrap_or_else(|e| PageError::from_store(e, locale).into_response()),
        Err(lines) => {
            // Nothing is stored: the page shows every wrong line and keeps the text as typed.
            let errors = FieldErrors(lines.iter().map(|l| l.to_field_error("text")).collect());
            let stored = match hatake_engine::settings::departments(store).await {
                Ok(stored) => stored,
                Err(error) => return PageError::from_store(error, locale).into_response(),
            };
            match page(&state, &form.user, &form.data.text, &stored, &errors, Notice::default()).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    }
}

async fn restore_default(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    stored_and_reclassified(&state, &DepartmentDictionary::default(), None, true)
        .await
        .unwrap_or_else(|e| PageError::from_store(e, form.user.locale()).into_response())
}

/// Stores the dictionary, classifies every lead with it, and reports how many changed.
async fn stored_and_reclassified(
    state: &AppState,
    dictionary: &DepartmentDictionary,
    text: Option<&str>,
    restored: bool,
) -> Result<Response, hatake_store::StoreError> {
    let changed =
        hatake_engine::settings::save_departments(state.store.as_ref(), dictionary, text, now_millis()).await?;
    let restored = if restored { "&restored=1" } else { "" };
    Ok(Redirect::to(&format!("/settings/departments?changed={changed}{restored}")).into_response())
}
