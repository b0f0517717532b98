//! Field settings for admins and marketers: the required-field set that decides lead vs list,
//! and the custom field definitions (情報資産).

use super::field_errors;
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::service::{self, SaveError};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{CustomFieldDef, FieldErrors, FieldKind, RequiredField, RequiredFieldSet};
use hatake_store::{CustomFieldRow, SETTING_REQUIRED_FIELDS};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/settings", Access::Configure, get(show)),
        route("POST", "/settings/required-fields", Access::Configure, post(save_required)),
        route("POST", "/settings/custom-fields", Access::Configure, post(create_field)),
        route("POST", "/settings/custom-fields/{id}/delete", Access::Configure, post(delete_field)),
    ]
}

const KINDS: [&str; 4] = ["text", "number", "date", "choice"];

#[derive(Deserialize, Default, Debug)]
pub struct ShowParams {
    /// Records reclassified after saving the required fields.
    changed: Option<u64>,
    created: Option<String>,
    deleted: Option<String>,
}

/// The custom field form, as typed.
#[derive(Deserialize, Serialize, Default, Debug, Clone)]
pub struct FieldForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    label_ja: String,
    #[serde(default)]
    label_en: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    choices: String,
}

/// What a page shows besides the stored settings.
#[derive(Default)]
struct Notice<'a> {
    changed: Option<u64>,
    created: bool,
    deleted: bool,
    form: Option<&'a FieldForm>,
    errors: Option<&'a FieldErrors>,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    if !user.user.role().can_configure() {
        return Err(PageError::forbidden(user.locale()));
    }
    let notice = Notice {
        changed: params.changed,
        created: params.created.is_some(),
        deleted: params.deleted.is_some(),
        ..Notice::default()
    };
    page(&state, &user, notice).await
}

/// One definition as the table shows it.
fn field_view(row: &CustomFieldRow, locale: &str) -> minijinja::Value {
    let def = row.def();
    let choices = match &def.kind {
        FieldKind::Choice { choices } => choices.join(" / "),
        _ => String::new(),
    };
    let kind = def.kind.as_str();
    context! { id => row.id, key => def.key, label_ja => def.label_ja, label_en => def.label_en,
    kind => kind, kind_label => crate::i18n::t(locale, kind_key(kind)), choices => choices }
}

/// A definition's kind in words.
pub(crate) fn kind_label(def: &CustomFieldDef, locale: &str) -> &'static str {
    crate::i18n::t(locale, kind_key(def.kind.as_str()))
}

fn kind_key(kind: &str) -> &'static str {
    match kind {
        "number" => "settings.kind.number",
        "date" => "settings.kind.date",
        "choice" => "settings.kind.choice",
        _ => "settings.kind.text",
    }
}

async fn page(state: &AppState, user: &CurrentUser, notice: Notice<'_>) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let required = service::required_fields(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let rows = store.list_custom_fields().await.map_err(|e| PageError::from_store(e, locale))?;
    let required_view: Vec<minijinja::Value> = RequiredField::ALL
        .iter()
        .map(|f| context! { value => f.as_str(), label => f.label(locale), checked => required.0.contains(f) })
        .collect();
    let kinds: Vec<(&str, &str)> = KINDS.iter().map(|k| (*k, crate::i18n::t(locale, kind_key(k)))).collect();
    let empty = FieldForm { kind: "text".into(), ..FieldForm::default() };
    render(
        state,
        user,
        "settings.html",
        "settings",
        context! {
            required => required_view,
            fields => rows.iter().map(|r| field_view(r, locale)).collect::<Vec<_>>(),
            kinds => kinds,
            form => notice.form.unwrap_or(&empty),
            errors => notice.errors.map(|e| field_errors(e, locale)).unwrap_or_default(),
            has_errors => notice.errors.is_some(),
            changed => notice.changed,
            created => notice.created,
            deleted => notice.deleted,
        },
    )
    .await
}

/// The checked boxes of the required-field form, in the set's canonical order.
fn required_from_form(pairs: &[(String, String)]) -> RequiredFieldSet {
    let chosen: Vec<RequiredField> =
        pairs.iter().filter(|(k, _)| k == "fields").filter_map(|(_, v)| RequiredField::parse(v)).collect();
    RequiredFieldSet(RequiredField::ALL.into_iter().filter(|f| chosen.contains(f)).collect())
}

async fn save_required(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_configure() {
        return PageError::forbidden(locale).into_response();
    }
    let set = required_from_form(&form.data);
    let store = state.store.as_ref();
    if let Err(error) = store.put_setting(SETTING_REQUIRED_FIELDS, &set.to_text(), now_millis()).await {
        return PageError::from_store(error, locale).into_response();
    }
    match store.reclassify_leads(&set).await {
        Ok(changed) => Redirect::to(&format!("/settings?changed={changed}")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn create_field(State(state): State<AppState>, form: PageForm<FieldForm>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_configure() {
        return PageError::forbidden(locale).into_response();
    }
    let f = &form.data;
    let result = match CustomFieldDef::parse(&f.key, &f.label_ja, &f.label_en, &f.kind, &f.choices) {
        Ok(def) => state.store.create_custom_field(&def, now_millis()).await.map_err(SaveError::from),
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(_) => Redirect::to("/settings?created=1").into_response(),
        Err(SaveError::Invalid(errors)) => {
            let notice = Notice { form: Some(f), errors: Some(&errors), ..Notice::default() };
            match page(&state, &form.user, notice).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(SaveError::NotFound) => PageError::not_found(locale).into_response(),
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

async fn delete_field(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_configure() {
        return PageError::forbidden(locale).into_response();
    }
    match state.store.delete_custom_field(id).await {
        Ok(()) => Redirect::to("/settings?deleted=1").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::accounts::tests::render_page;
    use super::*;

    #[test]
    fn required_fields_from_checkboxes() {
        let pairs: Vec<(String, String)> =
            [("_csrf", "x"), ("fields", "phone"), ("fields", "company"), ("fields", "nope")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        assert_eq!(required_from_form(&pairs).to_text(), "company,phone");
        assert_eq!(required_from_form(&[]).to_text(), "");
    }

    #[test]
    fn settings_template_renders() {
        let row = CustomFieldRow {
            id: 4,
            key: "timing".into(),
            label_ja: "導入時期".into(),
            label_en: "Timing".into(),
            kind: r#"{"type":"choice","choices":["3ヶ月以内","半年以内"]}"#.into(),
            position: 1,
        };
        let required: Vec<minijinja::Value> = RequiredField::ALL
            .iter()
            .map(|f| context! { value => f.as_str(), label => f.label("en"), checked => *f != RequiredField::Phone })
            .collect();
        let form = FieldForm { key: "Bad Key".into(), kind: "choice".into(), ..FieldForm::default() };
        let errors = CustomFieldDef::parse(&form.key, "", "", &form.kind, "").unwrap_err();
        let kinds: Vec<(&str, &str)> = KINDS.iter().map(|k| (*k, crate::i18n::t("en", kind_key(k)))).collect();
        let html = render_page(
            "settings.html",
            "en",
            context! { required => required, fields => vec![field_view(&row, "en")], kinds => kinds, form => &form,
            errors => field_errors(&errors, "en"), has_errors => true, changed => Some(12), created => false,
            deleted => false },
        );
        assert!(html.contains("value=\"company\" checked") && !html.contains("value=\"phone\" checked"));
        assert!(html.contains("3ヶ月以内 &#x2f; 半年以内") && html.contains("/settings/custom-fields/4/delete"));
        assert!(html.contains("data-field=\"key\"") && html.contains("data-field=\"choices\""));
        assert!(html.contains("id=\"reclassified\"") && html.contains("12"));
    }
}
