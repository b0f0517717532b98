//! Segments (admins and marketers): the list, paged; the editor — conditions in groups, each
//! group matching all or any of its conditions and the groups joined by all or any, with the
//! number of people it matches counted as it is edited — its members (kept current by the
//! runtime), paged and exported as CSV, and archiving with undo.

use super::lead_export::LeadCsv;
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::segment::{Condition, Definition, Group};
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::StoreError;
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/mail/segments", Access::Configure, get(list)),
        route("GET", "/mail/segments/new", Access::Configure, get(new)),
        route("POST", "/mail/segments", Access::Configure, post(create)),
        route("POST", "/mail/segments/count", Access::Configure, post(count)),
        route("GET", "/mail/segments/{id}", Access::Configure, get(edit)),
        route("POST", "/mail/segments/{id}", Access::Configure, post(save)),
        route("POST", "/mail/segments/{id}/archive", Access::Configure, post(archive)),
        route("GET", "/mail/segments/{id}/members", Access::Configure, get(members)),
        route("GET", "/mail/segments/{id}/members.csv", Access::Configure, get(members_csv)),
    ]
}

const PAGE: i64 = 50;

/// The kinds of condition, in the order the editor offers them.
const TYPES: [&str; 11] = [
    "behaviour",
    "subscription",
    "score",
    "product",
    "stage",
    "department_class",
    "prefecture",
    "industry",
    "employees",
    "owner",
    "kind",
];

/// One condition as the editor's form holds it.
#[derive(Debug, Clone, Default, Serialize)]
struct Row {
    r#type: String,
    values: Vec<String>,
    product: String,
    min: String,
    max: String,
    event: String,
    days: String,
    count: String,
    negate: bool,
    topic: String,
    status: String,
    users: Vec<String>,
    unassigned: bool,
    lead: String,
}

#[derive(Debug, Clone, Default, Serialize)]
struct GroupForm {
    any: bool,
    rows: Vec<Row>,
}

/// The editor's form.
#[derive(Debug, Clone, Default, Serialize)]
struct EditorForm {
    name: String,
    description: String,
    any: bool,
    groups: Vec<GroupForm>,
    action: String,
}

impl EditorForm {
    /// Reads the form's fields: `g0.any`, `g0.c1.type`, `g0.c1.values` (repeated), …
    fn parse(pairs: &[(String, String)]) -> Self {
        let mut form = EditorForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value.trim().to_owned(),
                "description" => form.description = value.trim().to_owned(),
                "any" => form.any = value == "1",
                "action" => form.action.clone_from(value),
                _ => {
                    let mut parts = key.splitn(3, '.');
                    let Some(g) = parts.next().and_then(|g| g.strip_prefix('g')).and_then(|g| g.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    if g > 20 {
                        continue;
                    }
                    while form.groups.len() <= g {
                        form.groups.push(GroupForm::default());
                    }
                    let group = &mut form.groups[g];
                    match (parts.next(), parts.next()) {
                        (Some("any"), None) => group.any = value == "1",
                        (Some(c), Some(field)) => {
                            let Some(c) = c.strip_prefix('c').and_then(|c| c.parse::<usize>().ok()) else { continue };
                            if c > 50 {
                                continue;
                            }
                            while group.rows.len() <= c {
                                group.rows.push(Row::default());
                            }
                            let row = &mut group.rows[c];
                            let value = value.trim().to_owned();
                            match field {
                                "type" => row.r#type = value,
                                "values" if !value.is_empty() => row.values.push(value),
                                "product" => row.product = value,
                                "min" => row.min = value,
                                "max" => row.max = value,
                                "event" => row.event = value,
                                "days" => row.days = value,
                                "count" => row.count = value,
                                "negate" => row.negate = value == "1",
                                "topic" => row.topic = value,
                                "status" => row.status = value,
                                "users" if !value.is_empty() => row.users.push(value),
                                "unassigned" => row.unassigned = value == "1",
                                "lead" => row.lead = value,
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // Rows left without a type (a removed row's gap) are dropped.
        for group in &mut form.groups {
            group.rows.retain(|r| !r.r#type.is_empty());
        }
        form
    }

    fn of(name: &str, description: &str, definition: &Definition) -> Self {
        let groups = definition
            .groups
            .iter()
            .map(|g| GroupForm { any: g.any, rows: g.conditions.iter().map(row_of).collect() })
            .collect();
        EditorForm {
            name: name.to_owned(),
            description: description.to_owned(),
            any: definition.any,
            groups,
            action: String::new(),
        }
    }

    /// The definition the form describes, or each row's problem.
    fn definition(&self) -> Result<Definition, FieldErrors> {
        let mut errors = Vec::new();
        let mut groups = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            let mut conditions = Vec::new();
            for (c, row) in group.rows.iter().enumerate() {
                match condition_of(row) {
                    Ok(condition) => conditions.push(condition),
                    Err((ja, en)) => errors.push(FieldError::new(
                        format!("groups[{g}].conditions[{c}]"),
                        "invalid",
                        format!("グループ{} の条件{}: {ja}", g + 1, c + 1),
                        format!("group {}, condition {}: {en}", g + 1, c + 1),
                    )),
                }
            }
            groups.push(Group { any: group.any, conditions });
        }
        if !errors.is_empty() {
            return Err(FieldErrors(errors));
        }
        let definition = Definition { any: self.any, groups };
        definition.validate()?;
        Ok(definition)
    }
}

fn number(text: &str, ja: &'static str, en: &'static str) -> Result<Option<i64>, (String, String)> {
    let text = text.trim().replace([',', '，'], "");
    if text.is_empty() {
        return Ok(None);
    }
    let normal: String = text
        .chars()
        .map(|c| if ('０'..='９').contains(&c) { char::from_u32(c as u32 - 0xFEE0).unwrap_or(c) } else { c })
        .collect();
    normal.parse::<i64>().map(Some).map_err(|_| {
        (format!("{ja}は数字で入れてください（入力: {text}）。"), format!("{en} is a number (got {text})."))
    })
}

fn required(value: Option<i64>, ja: &'static str, en: &'static str) -> Result<i64, (String, String)> {
    value.ok_or_else(|| (format!("{ja}を選んでください。"), format!("choose the {en}.")))
}

fn condition_of(row: &Row) -> Result<Condition, (String, String)> {
    let product = || number(&row.product, "商材", "product").and_then(|p| required(p, "商材", "product"));
    Ok(match row.r#type.as_str() {
        "kind" => Condition::Kind { lead: row.lead != "list" },
        "department_class" => Condition::DepartmentClass { values: row.values.clone(), negate: row.negate },
        "prefecture" => Condition::Prefecture { values: row.values.clone(), negate: row.negate },
        "industry" => Condition::Industry {
            values: row
                .values
                .iter()
                .flat_map(|v| v.split([',', '、', '，']))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect(),
            negate: row.negate,
        },
        "employees" => Condition::Employees {
            min: number(&row.min, "下限", "minimum")?,
            max: number(&row.max, "上限", "maximum")?,
        },
        "product" => Condition::Product { product_id: product()?, negate: row.negate },
        "stage" => Condition::Stage { product_id: product()?, stages: row.values.clone() },
        "owner" => Condition::Owner {
            user_ids: row.users.iter().filter_map(|u| u.parse().ok()).collect(),
            unassigned: row.unassigned,
        },
        "score" => Condition::Score {
            product_id: product()?,
            min: number(&row.min, "下限", "minimum")?,
            max: number(&row.max, "上限", "maximum")?,
        },
        "behaviour" => Condition::Behaviour {
            kind: row.event.clone(),
            product_id: number(&row.product, "商材", "product")?,
            days: number(&row.days, "期間", "window")?.unwrap_or(30),
            at_least: number(&row.count, "回数", "count")?.unwrap_or(1),
            negate: row.negate,
        },
        "subscription" => Condition::Subscription { topic: row.topic.clone(), status: row.status.clone() },
        _ => return Err(("条件の種類を選んでください。".into(), "choose a kind of condition.".into())),
    })
}

fn row_of(condition: &Condition) -> Row {
    let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    match condition {
        Condition::Kind { lead } => {
            Row { r#type: "kind".into(), lead: if *lead { "lead" } else { "list" }.into(), ..Row::default() }
        }
        Condition::DepartmentClass { values, negate } => {
            Row { r#type: "department_class".into(), values: values.clone(), negate: *negate, ..Row::default() }
        }
        Condition::Prefecture { values, negate } => {
            Row { r#type: "prefecture".into(), values: values.clone(), negate: *negate, ..Row::default() }
        }
        Condition::Industry { values, negate } => {
            Row { r#type: "industry".into(), values: vec![values.join("、")], negate: *negate, ..Row::default() }
        }
        Condition::Employees { min, max } => {
            Row { r#type: "employees".into(), min: text(*min), max: text(*max), ..Row::default() }
        }
        Condition::Product { product_id, negate } => {
            Row { r#type: "product".into(), product: product_id.to_string(), negate: *negate, ..Row::default() }
        }
        Condition::Stage { product_id, stages } => {
            Row { r#type: "stage".into(), product: product_id.to_string(), values: stages.clone(), ..Row::default() }
        }
        Condition::Owner { user_ids, unassigned } => Row {
            r#type: "owner".into(),
            users: user_ids.iter().map(i64::to_string).collect(),
            unassigned: *unassigned,
            ..Row::default()
        },
        Condition::Score { product_id, min, max } => Row {
            r#type: "score".into(),
            product: product_id.to_string(),
            min: text(*min),
            max: text(*max),
            ..Row::default()
        },
        Condition::Behaviour { kind, product_id, days, at_least, negate } => Row {
            r#type: "behaviour".into(),
            event: kind.clone(),
            product: text(*product_id),
            days: days.to_string(),
            count: at_least.to_string(),
            negate: *negate,
            ..Row::default()
        },
        Condition::Subscription { topic, status } => {
            Row { r#type: "subscription".into(), topic: topic.clone(), status: status.clone(), ..Row::default() }
        }
    }
}

/// A new row of a kind with sensible defaults.
fn default_row() -> Row {
    Row {
        r#type: "behaviour".into(),
        event: "page_view".into(),
        days: "30".into(),
        count: "1".into(),
        ..Row::default()
    }
}

/// Applies an editing action (add or remove a row or group); `true` when it was one.
fn apply_action(form: &mut EditorForm) -> bool {
    let action = form.action.clone();
    if action == "add_group" {
        form.groups.push(GroupForm { any: false, rows: vec![default_row()] });
        return true;
    }
    if let Some(g) = action.strip_prefix("add:").and_then(|g| g.parse::<usize>().ok()) {
        if let Some(group) = form.groups.get_mut(g) {
            group.rows.push(default_row());
        }
        return true;
    }
    if let Some((g, c)) = action.strip_prefix("remove:").and_then(|rest| rest.split_once(':')) {
        if let (Ok(g), Ok(c)) = (g.parse::<usize>(), c.parse::<usize>()) {
            if let Some(group) = form.groups.get_mut(g) {
                if c < group.rows.len() {
                    group.rows.remove(c);
                }
            }
            form.groups.retain(|g| !g.rows.is_empty());
        }
        return true;
    }
    action == "refresh"
}

async fn choices(state: &AppState, locale: &'static str) -> Result<minijinja::Value, StoreError> {
    let store = state.store.as_ref();
    let products = store.list_products().await?;
    let users = store.list_users().await?;
    let dictionary = hatake_engine::settings::departments(store).await?;
    let topics = hatake_engine::mail::subscriptions::topics(store).await?;
    let en = locale == "en";
    let kinds: Vec<minijinja::Value> = hatake_domain::EventKind::ALL
        .iter()
        .map(|k| context! { key => k.as_str(), label => if en { k.label_en() } else { k.label_ja() } })
        .collect();
    let stages: Vec<minijinja::Value> = hatake_domain::lifecycle::Stage::ALL
        .iter()
        .map(|s| context! { key => s.as_str(), label => s.label(locale) })
        .collect();
    let types: Vec<minijinja::Value> = TYPES
        .iter()
        .map(|t| context! { key => t, label => crate::i18n::t(locale, &format!("segment.type.{t}")) })
        .collect();
    Ok(context! {
        types => types,
        products => products.iter().map(|p| context! { id => p.id.to_string(), name => p.name }).collect::<Vec<_>>(),
        users => users.iter().filter(|u| u.active).map(|u| context! { id => u.id.to_string(), name => u.display_name }).collect::<Vec<_>>(),
        classes => dictionary.classes().iter().map(|c| context! { key => c.key, label => if en { c.label_en.clone() } else { c.label_ja.clone() } }).collect::<Vec<_>>(),
        prefectures => hatake_domain::prefecture::PREFECTURES.iter().map(|(ja, en_name)| context! { key => ja, label => if en { *en_name } else { *ja } }).collect::<Vec<_>>(),
        kinds => kinds,
        stages => stages,
        topics => topics.iter().map(|t| context! { key => t.key, label => t.label(locale) }).collect::<Vec<_>>(),
    })
}

async fn editor(
    state: &AppState,
    user: &CurrentUser,
    row: Option<&hatake_store::SegmentRow>,
    form: &EditorForm,
    errors: &[String],
    notice: Option<&str>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let choices = choices(state, locale).await.map_err(|e| PageError::from_store(e, locale))?;
    // The count of what the form says now (when it says something whole).
    let count = match form.definition() {
        Ok(definition) => state.store.count_matching(&definition, now_millis()).await.ok(),
        Err(_) => None,
    };
    render(
        state,
        user,
        "mail/segment.html",
        "mail",
        context! {
            row => row, form => form, choices => choices, errors => errors, count => count, notice => notice,
            building => row.is_some_and(|r| r.built_version < r.version),
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    archived: Option<String>,
    page: Option<String>,
    archived_id: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let page = params.page.as_deref().and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let (rows, total) = state
        .store
        .segments(params.archived.is_some(), (page - 1) * PAGE, PAGE)
        .await
        .map_err(|e| PageError::from_store(e, locale))?;
    let just_archived = match params.archived_id {
        Some(id) => state.store.segment(id).await.ok().flatten().map(|s| context! { id => id, name => s.name }),
        None => None,
    };
    render(
        &state,
        &user,
        "mail/segments.html",
        "mail",
        context! {
            rows => rows, total => total, page => page, pages => (total + PAGE - 1) / PAGE,
            archived => params.archived.is_some(), just_archived => just_archived,
        },
    )
    .await
}

async fn new(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    let form = EditorForm {
        groups: vec![GroupForm {
            any: false,
            rows: vec![
                default_row(),
                Row {
                    r#type: "subscription".into(),
                    topic: "general".into(),
                    status: "subscribed".into(),
                    ..Row::default()
                },
            ],
        }],
        ..EditorForm::default()
    };
    editor(&state, &user, None, &form, &[], None).await
}

#[derive(Deserialize)]
#[serde(transparent)]
pub struct Pairs(Vec<(String, String)>);

fn name_errors(form: &EditorForm, locale: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if form.name.is_empty() {
        errors.push(
            if locale == "en" {
                "Enter the segment's name."
            } else {
                "セグメント名を入力してください。"
            }
            .to_owned(),
        );
    } else if form.name.chars().count() > 100 {
        errors.push(
            if locale == "en" {
                "The name takes at most 100 characters."
            } else {
                "セグメント名は100文字以内で入力してください。"
            }
            .to_owned(),
        );
    }
    errors
}

/// Saves (creates when `id` is `None`) or, for an editing action, shows the form again.
async fn submit(state: &AppState, user: &CurrentUser, id: Option<i64>, pairs: &[(String, String)]) -> Response {
    let locale = user.locale();
    let row = match id {
        Some(id) => match state.store.segment(id).await {
            Ok(Some(row)) => Some(row),
            Ok(None) => return PageError::not_found(locale).into_response(),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        },
        None => None,
    };
    let mut form = EditorForm::parse(pairs);
    if apply_action(&mut form) || form.action == "count" {
        return match editor(state, user, row.as_ref(), &form, &[], None).await {
            Ok(html) => html.into_response(),
            Err(error) => error.into_response(),
        };
    }
    let mut errors = name_errors(&form, locale);
    let definition = match form.definition() {
        Ok(definition) => Some(definition),
        Err(found) => {
            errors.extend(found.0.iter().map(|e| e.message(locale).to_owned()));
            None
        }
    };
    let (shown_row, shown_form) = (row.as_ref(), &form);
    let failed = |errors: Vec<String>| async move {
        match editor(state, user, shown_row, shown_form, &errors, None).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        }
    };
    let Some(definition) = definition.filter(|_| errors.is_empty()) else {
        return failed(errors).await;
    };
    let now = now_millis();
    let saved = match id {
        Some(id) => state
            .store
            .save_segment(id, &form.name, &form.description, &definition, Some(user.user.id), now)
            .await
            .map(|()| id),
        None => state.store.create_segment(&form.name, &form.description, &definition, Some(user.user.id), now).await,
    };
    match saved {
        Ok(id) => {
            state.runtime.wake(hatake_engine::segments::SEGMENTS_DUE);
            Redirect::to(&format!("/mail/segments/{id}?saved=1")).into_response()
        }
        Err(StoreError::Conflict { .. }) => {
            let taken = if locale == "en" {
                "A segment of this name exists."
            } else {
                "この名前のセグメントはすでにあります。"
            };
            failed(vec![taken.to_owned()]).await
        }
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn create(State(state): State<AppState>, PageForm { user, data }: PageForm<Pairs>) -> Response {
    submit(&state, &user, None, &data.0).await
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<Pairs>,
) -> Response {
    submit(&state, &user, Some(id), &data.0).await
}

/// The live count while editing: how many people the form's conditions match now, or why the
/// form does not say something whole yet.
async fn count(State(state): State<AppState>, PageForm { user, data }: PageForm<Pairs>) -> Response {
    let locale = user.locale();
    let form = EditorForm::parse(&data.0);
    match form.definition() {
        Ok(definition) => match state.store.count_matching(&definition, now_millis()).await {
            Ok(count) => Json(serde_json::json!({ "count": count })).into_response(),
            Err(error) => PageError::from_store(error, locale).into_response(),
        },
        Err(errors) => Json(serde_json::json!({
            "errors": errors.0.iter().map(|e| e.message(locale)).collect::<Vec<_>>()
        }))
        .into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct EditParams {
    saved: Option<String>,
    restored: Option<String>,
}

async fn edit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<EditParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let row = state
        .store
        .segment(id)
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .ok_or_else(|| PageError::not_found(locale))?;
    let definition = row.parsed().unwrap_or_default();
    let form = EditorForm::of(&row.name, &row.description, &definition);
    let notice = if params.saved.is_some() {
        Some("saved")
    } else if params.restored.is_some() {
        Some("restored")
    } else {
        None
    };
    editor(&state, &user, Some(&row), &form, &[], notice).await
}

#[derive(Deserialize, Default)]
pub struct ArchiveForm {
    #[serde(default)]
    undo: Option<String>,
}

async fn archive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<ArchiveForm>,
) -> Response {
    let archived = data.undo.is_none();
    match state.store.archive_segment(id, archived, now_millis()).await {
        Ok(()) if archived => Redirect::to(&format!("/mail/segments?archived_id={id}")).into_response(),
        Ok(()) => Redirect::to(&format!("/mail/segments/{id}?restored=1")).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct MembersParams {
    after: Option<String>,
    encoding: Option<String>,
}

async fn members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<MembersParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let row = store
        .segment(id)
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .ok_or_else(|| PageError::not_found(locale))?;
    let after = params.after.as_deref().and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
    let mut ids = store.segment_member_ids(id, after, PAGE + 1).await.map_err(|e| PageError::from_store(e, locale))?;
    let more = ids.len() > usize::try_from(PAGE).unwrap_or(50);
    ids.truncate(usize::try_from(PAGE).unwrap_or(50));
    let leads = store.leads_by_ids(&ids).await.map_err(|e| PageError::from_store(e, locale))?;
    let dictionary = hatake_engine::settings::departments(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = leads
        .iter()
        .map(|l| {
            let class = l
                .department_class
                .as_deref()
                .and_then(|k| dictionary.class(k))
                .map(|c| super::departments::class_label(c, locale));
            context! { lead => l, name => l.full_name(), company => l.company(), class => class }
        })
        .collect();
    render(
        &state,
        &user,
        "mail/segment_members.html",
        "mail",
        context! {
            row => row, rows => rows, next => if more { ids.last().copied() } else { None }, first_page => after > 0,
            building => row.built_version < row.version,
        },
    )
    .await
}

async fn members_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<MembersParams>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let encoding = super::imports::export_encoding(params.encoding.as_deref(), locale)?;
    let store = state.store.as_ref();
    let page_error = |e| PageError::from_store(e, locale);
    let row = store.segment(id).await.map_err(page_error)?.ok_or_else(|| PageError::not_found(locale))?;
    let mut csv = LeadCsv::new(&state, encoding).await.map_err(page_error)?;
    let mut after = 0;
    loop {
        let ids = store.segment_member_ids(id, after, 1_000).await.map_err(page_error)?;
        let Some(&last) = ids.last() else { break };
        csv.write(&store.leads_by_ids(&ids).await.map_err(page_error)?);
        after = last;
    }
    let (ascii, japanese) = csv.names(&format!("segment-{id}"), &row.name, encoding);
    let export = csv.finish();
    tracing::info!(user = user.user.id, segment = id, rows = export.rows, "segment exported");
    Ok(super::imports::csv_response(export.bytes, encoding, &ascii, &japanese))
}
