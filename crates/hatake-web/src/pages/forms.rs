//! Forms (フォーム): the builder, where marketing makes a form out of lead fields, custom fields
//! and its own questions, with per-product consent checkboxes; the form's public address and
//! embed snippet; and its submissions, where one whose processing failed shows its error and can
//! be retried. Every save is a new version of the form.

use super::{origin, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::form::{ConsentDraft, FieldDraft, FormDefinition, FormDraft, LEAD_TARGETS};
use hatake_domain::FieldErrors;
use hatake_store::{FormRow, StoreError};
use minijinja::context;
use serde::Deserialize;

/// Blank rows the builder offers for new fields.
const BLANK_ROWS: usize = 3;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/forms", Access::Configure, get(list)),
        route("GET", "/forms/new", Access::Configure, get(new)),
        route("POST", "/forms", Access::Configure, post(create)),
        route("GET", "/forms/{id}", Access::Configure, get(show)),
        route("POST", "/forms/{id}", Access::Configure, post(update)),
        route("POST", "/forms/{id}/active", Access::Configure, post(set_active)),
        route("POST", "/forms/submissions/{id}/retry", Access::Configure, post(retry)),
    ]
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    let forms = state.store.list_forms().await.map_err(|e| PageError::from_store(e, user.locale()))?;
    render(&state, &user, "forms/list.html", "forms", context! { forms => forms }).await
}

/// A new form's starting point: the usual inquiry form. It asks for what makes a record a
/// *lead* rather than a list entry (the organisation's required fields), the reading (フリガナ)
/// and consent to the handling of personal information, and treats a submission as a
/// hand-raise (straight to the MQL queue of the product chosen).
fn starter(required: &hatake_domain::RequiredFieldSet) -> FormDraft {
    use hatake_domain::RequiredField as R;
    let row = |target: &str, required: bool| FieldDraft { target: target.into(), required, ..FieldDraft::default() };
    let labelled = |target: &str, ja: &str, en: &str| FieldDraft {
        target: target.into(),
        label_ja: ja.into(),
        label_en: en.into(),
        required: true,
        ..FieldDraft::default()
    };
    FormDraft {
        fields: vec![
            row("company_name", required.0.contains(&R::Company)),
            row("department", required.0.contains(&R::Department)),
            row("title", required.0.contains(&R::Title)),
            row("family_name", true),
            row("given_name", true),
            labelled("family_name_kana", "フリガナ（セイ）", "Family name (kana)"),
            labelled("given_name_kana", "フリガナ（メイ）", "Given name (kana)"),
            row("email", true),
            row("phone", required.0.contains(&R::Phone)),
            row("prefecture", required.0.contains(&R::Address)),
            FieldDraft {
                target: "extra.message".into(),
                label_ja: "お問い合わせ内容".into(),
                label_en: "Your message".into(),
                ..FieldDraft::default()
            },
        ],
        fast_track: true,
        privacy: true,
        ..FormDraft::default()
    }
}

/// The builder's rows for a stored definition.
fn draft_of(slug: &str, definition: &FormDefinition) -> FormDraft {
    FormDraft {
        name: definition.name.clone(),
        slug: slug.to_owned(),
        product_id: definition.product_id,
        fields: definition
            .fields
            .iter()
            .map(|f| FieldDraft {
                target: f.target.clone(),
                label_ja: f.label_ja.clone(),
                label_en: f.label_en.clone(),
                required: f.required,
                choices: f.choices.join("\n"),
            })
            .collect(),
        consents: definition
            .consents
            .iter()
            .map(|c| ConsentDraft {
                product_id: c.product_id,
                label_ja: c.label_ja.clone(),
                label_en: c.label_en.clone(),
            })
            .collect(),
        thank_you_ja: definition.thank_you_ja.clone(),
        thank_you_en: definition.thank_you_en.clone(),
        redirect_url: definition.redirect_url.clone().unwrap_or_default(),
        allowed_origins: definition.allowed_origins.join("\n"),
        booking: definition.booking.is_some(),
        slot_minutes: definition.booking.as_ref().map(|b| b.slot_minutes.to_string()).unwrap_or_default(),
        business_days: definition.booking.as_ref().map(|b| b.business_days.to_string()).unwrap_or_default(),
        min_notice_minutes: definition.booking.as_ref().map(|b| b.min_notice_minutes.to_string()).unwrap_or_default(),
        fast_track: definition.is_fast_track(),
        privacy: definition.privacy.is_some(),
        privacy_url: definition.privacy.as_ref().and_then(|p| p.url.clone()).unwrap_or_default(),
    }
}

/// The target the builder offers for a question of the form's own not stored on the lead; the
/// form gets a key for it when saved ([`draft_from`]).
const NEW_QUESTION: &str = "extra.new";

/// The builder's posted fields, as typed. Rows are `field.{i}.{part}`, ordered by their
/// `field.{i}.order` (then by `i`); a row marked `field.{i}.remove` is dropped. Consents are
/// `consent.{product}.on` with `consent.{product}.label_ja` / `label_en`.
fn draft_from(pairs: &[(String, String)]) -> FormDraft {
    let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.replace("\r\n", "\n"));
    let text = |name: &str| get(name).unwrap_or_default();
    let mut rows: Vec<(i64, usize, FieldDraft)> = Vec::new();
    let mut indexes: Vec<usize> = pairs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("field.")?.split('.').next()?.parse::<usize>().ok())
        .filter(|i| *i < 200)
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    for i in indexes {
        if get(&format!("field.{i}.remove")).is_some() {
            continue;
        }
        let order = text(&format!("field.{i}.order")).trim().parse::<i64>().unwrap_or(i64::MAX);
        rows.push((
            order,
            i,
            FieldDraft {
                target: text(&format!("field.{i}.target")),
                label_ja: text(&format!("field.{i}.label_ja")),
                label_en: text(&format!("field.{i}.label_en")),
                required: get(&format!("field.{i}.required")).is_some(),
                choices: text(&format!("field.{i}.choices")),
            },
        ));
    }
    rows.sort_by_key(|(order, i, _)| (*order, *i));
    // A new question gets a key of its own: extra.q1, extra.q2 … (none the form has).
    let mut taken: Vec<String> = rows.iter().map(|(_, _, r)| r.target.clone()).collect();
    for (_, _, row) in &mut rows {
        if row.target == NEW_QUESTION {
            let key = (1..).map(|n| format!("extra.q{n}")).find(|k| !taken.contains(k)).unwrap_or_default();
            taken.push(key.clone());
            row.target = key;
        }
    }
    let mut consents: Vec<ConsentDraft> = pairs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("consent.")?.strip_suffix(".on")?.parse::<i64>().ok())
        .map(|product_id| ConsentDraft {
            product_id,
            label_ja: text(&format!("consent.{product_id}.label_ja")),
            label_en: text(&format!("consent.{product_id}.label_en")),
        })
        .collect();
    consents.dedup_by_key(|c| c.product_id);
    FormDraft {
        name: text("name"),
        slug: text("slug"),
        product_id: text("product_id").trim().parse().ok(),
        fields: rows.into_iter().map(|(_, _, row)| row).collect(),
        consents,
        thank_you_ja: text("thank_you_ja"),
        thank_you_en: text("thank_you_en"),
        redirect_url: text("redirect_url"),
        allowed_origins: text("allowed_origins"),
        booking: get("booking").is_some(),
        slot_minutes: text("slot_minutes"),
        business_days: text("business_days"),
        min_notice_minutes: text("min_notice_minutes"),
        fast_track: get("fast_track").is_some(),
        privacy: get("privacy").is_some(),
        privacy_url: text("privacy_url"),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    saved: Option<String>,
    status: Option<String>,
}

/// The builder page: a new form (`form` none) or a stored one with its links and submissions.
async fn page(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    form: Option<&FormRow>,
    draft: &FormDraft,
    errors: Option<&FieldErrors>,
    params: &ShowParams,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let products = store.list_products().await.map_err(error)?;
    let custom = store.list_custom_fields().await.map_err(error)?;
    // What a field fills, offered by its label in groups: the lead's fields, the custom fields
    // (hearing items), and the questions kept with the submission only (the form's own, and a
    // new one, whose key is made when the form is saved).
    let lead_targets: Vec<minijinja::Value> = LEAD_TARGETS
        .iter()
        .map(|(key, ja, en)| context! { key => key, label => if locale == "en" { en } else { ja } })
        .collect();
    let custom_targets: Vec<minijinja::Value> = custom
        .iter()
        .map(|field| {
            let label = if locale == "en" { &field.label_en } else { &field.label_ja };
            context! { key => format!("custom.{}", field.key), label => label }
        })
        .collect();
    let extra_targets: Vec<minijinja::Value> = draft
        .fields
        .iter()
        .filter(|f| f.target.starts_with("extra.") && f.target != NEW_QUESTION)
        .map(|f| {
            let label = if locale == "en" { &f.label_en } else { &f.label_ja };
            let label =
                if label.trim().is_empty() { f.target.trim_start_matches("extra.").to_owned() } else { label.clone() };
            context! { key => f.target, label => label }
        })
        .collect();
    let mut rows: Vec<minijinja::Value> = draft
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| context! { index => i, order => (i + 1) * 10, row => context! {
            target => f.target, label_ja => f.label_ja, label_en => f.label_en, required => f.required, choices => f.choices,
        } })
        .collect();
    for i in draft.fields.len()..draft.fields.len() + BLANK_ROWS {
        rows.push(context! { index => i, order => (i + 1) * 10, row => context! { target => "" } });
    }
    let consents: Vec<minijinja::Value> = products
        .iter()
        .map(|p| {
            let asked = draft.consents.iter().find(|c| c.product_id == p.id);
            context! {
                id => p.id, name => p.name, on => asked.is_some(),
                label_ja => asked.map(|c| c.label_ja.clone()).unwrap_or_default(),
                label_en => asked.map(|c| c.label_en.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let here = origin(headers);
    let (links, submissions) = match form {
        Some(form) => {
            let status = params.status.as_deref().filter(|s| ["pending", "done", "failed", "spam"].contains(s));
            let rows = store.list_submissions(form.id, status, None, 100).await.map_err(error)?;
            let definition: Option<FormDefinition> = serde_json::from_str(&form.definition).ok();
            let submissions: Vec<minijinja::Value> = rows
                .into_iter()
                .map(|s| {
                    let payload: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(&s.payload).unwrap_or_default();
                    let who = ["company_name", "family_name", "given_name", "email"]
                        .iter()
                        .filter_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                        .collect::<Vec<_>>()
                        .join(" ");
                    // The answers as sent, labelled as the form labels them now (a field the
                    // form no longer has shows its key).
                    let answers: Vec<(String, String)> = payload
                        .iter()
                        .filter(|(key, _)| key.as_str() != "consents")
                        .map(|(key, value)| {
                            let label =
                                definition.iter().flat_map(|d| &d.fields).find(|f| &f.target == key).map_or_else(
                                    || key.clone(),
                                    |f| if locale == "en" { f.label_en.clone() } else { f.label_ja.clone() },
                                );
                            (label, value.as_str().map_or_else(|| value.to_string(), str::to_owned))
                        })
                        .collect();
                    let consents: Vec<String> = FormDefinition::consents_of(&payload)
                        .iter()
                        .map(|id| {
                            products.iter().find(|p| p.id == *id).map_or_else(|| format!("#{id}"), |p| p.name.clone())
                        })
                        .collect();
                    context! { row => s, who => who, answers => answers, consents => consents }
                })
                .collect();
            let links = context! {
                hosted => format!("{here}/f/{}", form.slug),
                embed => format!(
                    "<div data-hatake-form=\"{}\"></div>\n<script src=\"{here}/f/embed.js\" async></script>",
                    form.slug
                ),
            };
            (Some(links), submissions)
        }
        None => (None, Vec::new()),
    };
    render(
        state,
        user,
        "forms/builder.html",
        "forms",
        context! {
            form => form, draft => context! {
                name => draft.name, slug => draft.slug, product_id => draft.product_id,
                thank_you_ja => draft.thank_you_ja, thank_you_en => draft.thank_you_en,
                redirect_url => draft.redirect_url, allowed_origins => draft.allowed_origins,
                booking => draft.booking, slot_minutes => draft.slot_minutes,
                business_days => draft.business_days, min_notice_minutes => draft.min_notice_minutes,
                fast_track => draft.fast_track, privacy => draft.privacy, privacy_url => draft.privacy_url,
            },
            rows => rows, lead_targets => lead_targets, custom_targets => custom_targets,
            extra_targets => extra_targets, new_question => NEW_QUESTION, consents => consents,
            products => products.iter().map(|p| context! { id => p.id, name => p.name }).collect::<Vec<_>>(),
            errors => errors.map(|e| super::field_errors(e, locale)).unwrap_or_default(),
            error_list => errors.map(|e| e.0.iter().map(|f| f.message(locale).to_owned()).collect::<Vec<_>>()),
            links => links, submissions => submissions, status => params.status, saved => params.saved.is_some(),
        },
    )
    .await
}

async fn new(State(state): State<AppState>, user: CurrentUser, headers: HeaderMap) -> Result<Html<String>, PageError> {
    let required = crate::service::required_fields(state.store.as_ref())
        .await
        .map_err(|e| PageError::from_store(e, user.locale()))?;
    page(&state, &user, &headers, None, &starter(&required), None, &ShowParams::default()).await
}

fn form_id(text: &str, locale: &'static str) -> Result<i64, PageError> {
    text.parse().map_err(|_| PageError::not_found(locale))
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let form = state.store.get_form(form_id(&id, locale)?).await.map_err(|e| PageError::from_store(e, locale))?;
    let definition: FormDefinition = serde_json::from_str(&form.definition).map_err(|error| {
        tracing::error!(%error, form = form.id, "a stored form definition cannot be read");
        PageError::internal(locale)
    })?;
    page(&state, &user, &headers, Some(&form), &draft_of(&form.slug, &definition), None, &params).await
}

/// Checks the posted builder against what exists; the errors if it is wrong.
async fn checked(
    state: &AppState,
    draft: &FormDraft,
) -> Result<Result<(String, FormDefinition), FieldErrors>, StoreError> {
    let store = state.store.as_ref();
    let defs = crate::service::custom_defs(store).await?;
    let products: Vec<i64> = store.list_products().await?.iter().map(|p| p.id).collect();
    Ok(draft.validate(&defs, &products))
}

fn slug_taken() -> FieldErrors {
    FieldErrors(vec![hatake_domain::FieldError::new(
        "slug",
        "slug_taken",
        "このURL名は他のフォームで使われています。",
        "Another form uses this URL name.",
    )])
}

/// Saves the builder (a new form, or a new version of `form`); on a problem the builder comes
/// back (422) as typed, with every error by its field, and nothing is stored.
async fn save(
    state: &AppState,
    headers: &HeaderMap,
    form: Option<FormRow>,
    posted: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = posted.user;
    let locale = user.locale();
    let draft = draft_from(&posted.data);
    let again = |errors: FieldErrors| {
        let state = state.clone();
        let user = user.clone();
        let draft = draft.clone();
        let form = form.clone();
        async move {
            match page(&state, &user, headers, form.as_ref(), &draft, Some(&errors), &ShowParams::default()).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    };
    let (slug, definition) = match checked(state, &draft).await {
        Ok(Ok(valid)) => valid,
        Ok(Err(errors)) => return again(errors).await,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let json = serde_json::to_string(&definition).unwrap_or_default();
    let store = state.store.as_ref();
    let by = Some(user.user.id);
    let saved = match &form {
        Some(form) => store.update_form(form.id, &slug, &definition.name, &json, by, now_millis()).await,
        None => store.create_form(&slug, &definition.name, &json, by, now_millis()).await,
    };
    match saved {
        Ok(row) => Redirect::to(&format!("/forms/{}?saved=1", row.id)).into_response(),
        Err(StoreError::Conflict { .. }) => again(slug_taken()).await,
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: PageForm<Vec<(String, String)>>,
) -> Response {
    save(&state, &headers, None, posted).await
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = posted.user.locale();
    let id = match form_id(&id, locale) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    match state.store.get_form(id).await {
        Ok(form) => save(&state, &headers, Some(form), posted).await,
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn set_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = posted.user.locale();
    let id = match form_id(&id, locale) {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    let active = posted.data.iter().any(|(k, v)| k == "active" && v == "1");
    match state.store.set_form_active(id, active, now_millis()).await {
        Ok(()) => Redirect::to(&format!("/forms/{id}?saved=1")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// Processes a failed submission again now (after the cause was fixed, e.g. a custom field
/// defined again) and goes back to its form.
async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = posted.user.locale();
    let store = state.store.as_ref();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let submission = match store.get_submission(id).await {
        Ok(s) if s.status == "failed" || s.status == "pending" => s,
        Ok(s) => return Redirect::to(&format!("/forms/{}", s.form_id)).into_response(),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    match hatake_engine::forms::process_and_record(store, &submission, now_millis(), &state.zone()).await {
        Ok(Ok(_)) => Redirect::to(&format!("/forms/{}?saved=1#submissions", submission.form_id)).into_response(),
        Ok(Err(_)) => Redirect::to(&format!("/forms/{}?status=failed#submissions", submission.form_id)).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_rows_are_read_in_their_order() {
        let pairs: Vec<(String, String)> = [
            ("name", "資料請求"),
            ("field.0.target", "email"),
            ("field.0.order", "30"),
            ("field.0.required", "on"),
            ("field.1.target", "company_name"),
            ("field.1.order", "10"),
            ("field.2.target", "phone"),
            ("field.2.remove", "on"),
            ("field.3.target", "extra.topic"),
            ("field.3.choices", "a\r\nb"),
            ("consent.4.on", "1"),
            ("consent.4.label_ja", "ERPの案内を受け取る"),
            ("consent.5.label_ja", "not asked"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let draft = draft_from(&pairs);
        let targets: Vec<&str> = draft.fields.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(targets, ["company_name", "email", "extra.topic"], "by order; removed rows dropped; no order last");
        assert!(draft.fields[1].required && !draft.fields[0].required);
        assert_eq!(draft.fields[2].choices, "a\nb");
        assert_eq!(draft.consents.len(), 1);
        assert_eq!(draft.consents[0].label_ja, "ERPの案内を受け取る");
    }
}
