//! Lead list (search, filters, sort, cursor pages), detail, and the create/edit form.

use super::{blank_to_none, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::service::{self, SaveError};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::text::SearchQuery;
use hatake_domain::{FieldErrors, LeadInput};
use hatake_store::{page_size, Cursor, LeadKind, LeadQuery, LeadRow, LeadSort};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/leads", Access::SignedIn, get(list)),
        route("GET", "/leads/new", Access::SignedIn, get(new_form)),
        route("POST", "/leads", Access::SignedIn, post(create)),
        route("GET", "/leads/{id}", Access::SignedIn, get(detail)),
        route("GET", "/leads/{id}/edit", Access::SignedIn, get(edit_form)),
        route("POST", "/leads/{id}", Access::SignedIn, post(update)),
        route("POST", "/leads/{id}/delete", Access::SignedIn, post(delete)),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct ListParams {
    q: Option<String>,
    product: Option<String>,
    owner: Option<String>,
    kind: Option<String>,
    prefecture: Option<String>,
    department_class: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    account: Option<String>,
    /// Only the leads an import created, changed or confirmed (linked from the import page).
    import: Option<String>,
}

impl ListParams {
    /// The list query these filters ask for (the export walks every page of it).
    pub(crate) fn query(&self, limit: u32, count: bool) -> LeadQuery {
        LeadQuery {
            search: self.q.as_deref().and_then(SearchQuery::parse),
            product_id: id_param(self.product.as_ref()),
            owner_id: id_param(self.owner.as_ref()),
            account_id: id_param(self.account.as_ref()),
            kind: self.kind.as_deref().and_then(LeadKind::parse).unwrap_or_default(),
            prefecture: blank_to_none(self.prefecture.clone()),
            department_class: blank_to_none(self.department_class.clone()),
            import_id: id_param(self.import.as_ref()),
            sort: self.sort.as_deref().and_then(LeadSort::parse).unwrap_or_default(),
            cursor: self.cursor.as_deref().and_then(Cursor::decode),
            limit,
            count,
        }
    }
}

/// The dictionary's classes for a select: (key, label in the user's language).
pub(crate) fn department_classes(
    dictionary: &hatake_domain::department::DepartmentDictionary,
    locale: &str,
) -> Vec<(String, String)> {
    dictionary.classes().iter().map(|c| (c.key.clone(), super::departments::class_label(c, locale))).collect()
}

/// An id from a query-string field; blank or garbage is "no filter".
fn id_param(value: Option<&String>) -> Option<i64> {
    value.and_then(|v| v.trim().parse().ok())
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let owner_param = params.owner.clone().unwrap_or_default();
    let query = params.query(page_size(50), true);
    let sort = query.sort;
    let page = store.list_leads(&query).await.map_err(|e| PageError::from_store(e, locale))?;
    let dictionary = hatake_engine::settings::departments(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let classes = department_classes(&dictionary, locale);
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let users = store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let required = service::required_fields(store).await.map_err(|e| PageError::from_store(e, locale))?;
    // Each lead's engagement per product with a scoring model, shown as one column.
    let models: Vec<i64> = store
        .current_scoring_models()
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .iter()
        .map(|m| m.product_id)
        .collect();
    let ids: Vec<i64> = page.items.iter().map(|l| l.id).collect();
    let scores = if models.is_empty() || ids.is_empty() {
        Vec::new()
    } else {
        store.lead_scores(&ids).await.map_err(|e| PageError::from_store(e, locale))?
    };
    let product_name = |id: i64| products.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or_default();
    let rows: Vec<minijinja::Value> = page
        .items
        .iter()
        .map(|lead| {
            let lead_scores: Vec<minijinja::Value> = models
                .iter()
                .filter_map(|product| {
                    let score = scores.iter().find(|s| s.lead_id == lead.id && s.product_id == *product)?;
                    Some(context! { product => product_name(*product), engagement => score.engagement })
                })
                .collect();
            context! { lead => lead_view(lead, &required, locale), scores => lead_scores }
        })
        .collect();
    let score_sorts: Vec<minijinja::Value> = models
        .iter()
        .map(|product| context! { key => format!("score:{product}"), product => product_name(*product) })
        .collect();
    // The filters without the cursor, for links that keep them.
    let mut filters: Vec<(&str, String)> = Vec::new();
    for (key, value) in [
        ("q", &params.q),
        ("product", &params.product),
        ("owner", &params.owner),
        ("kind", &params.kind),
        ("prefecture", &params.prefecture),
        ("department_class", &params.department_class),
        ("sort", &params.sort),
        ("account", &params.account),
        ("import", &params.import),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            filters.push((key, v.clone()));
        }
    }
    let base_query = serde_urlencoded::to_string(&filters).unwrap_or_default();
    render(
        &state,
        &user,
        "leads/list.html",
        "leads",
        context! {
            leads => rows,
            total => page.total,
            next => page.next,
            prev => page.prev,
            base_query => base_query,
            q => params.q.unwrap_or_default(),
            product => params.product.unwrap_or_default(),
            owner => owner_param,
            kind => params.kind.unwrap_or_default(),
            prefecture => params.prefecture.unwrap_or_default(),
            sort => sort.param(),
            score_sorts => score_sorts,
            products => products,
            users => users,
            prefectures => prefectures(locale),
            department_class => params.department_class.unwrap_or_default(),
            classes => classes.iter().map(|(k, l)| (k.as_str(), l.as_str())).collect::<Vec<_>>(),
            class_labels => classes.iter().cloned().collect::<std::collections::BTreeMap<String, String>>(),
            deleted => flash.deleted.is_some(),
            import_filter => id_param(params.import.as_ref()),
        },
    )
    .await
}

/// What a row shows: the stored fields plus the company, the kind and the missing fields.
pub(crate) fn lead_view(lead: &LeadRow, required: &hatake_domain::RequiredFieldSet, locale: &str) -> minijinja::Value {
    let missing: Vec<&str> = lead.missing(required).into_iter().map(|f| f.label(locale)).collect();
    context! {
        row => lead,
        name => lead.full_name(),
        company => lead.company(),
        missing => missing,
    }
}

pub(crate) fn prefectures(locale: &str) -> Vec<(&'static str, &'static str)> {
    hatake_domain::prefecture::PREFECTURES
        .iter()
        .map(|(ja, en)| (*ja, if locale == "ja" { *ja } else { *en }))
        .collect()
}

#[derive(Deserialize, Default)]
pub(crate) struct Flash {
    saved: Option<String>,
    deleted: Option<String>,
    /// A merge into this lead was undone.
    unmerged: Option<String>,
    /// Why a merge could not be undone (`changed`, `undone`).
    merge_error: Option<String>,
    /// A stage move was made, or why not (a code of `move.error.*`).
    moved: Option<String>,
    move_error: Option<String>,
    /// A subscription was changed (`1`) or the change was not understood (`invalid`).
    subs: Option<String>,
    /// The task a call is made for (from the call queue).
    task: Option<String>,
    /// A call was logged (its id).
    called: Option<String>,
    /// A task was made.
    task_saved: Option<String>,
    /// What was done to a task (`done`, `cancelled`, `taken`, `gone`).
    done: Option<String>,
    /// Hearing values were saved: how many changed.
    heard: Option<String>,
    /// A toss-up was made (its id).
    tossed: Option<String>,
    /// A toss-up was decided (`accept`, `reject`, `take`).
    decided: Option<String>,
    /// Which.
    t: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(flash): Query<Flash>,
    Query(events): Query<super::timeline::TimelineParams>,
) -> Result<Html<String>, PageError> {
    detail_page(&state, &user, id, &flash, &events, DetailExtra::default()).await
}

/// What a lead's page shows besides the lead: a call or task form sent back with its mistakes.
#[derive(Default)]
pub(crate) struct DetailExtra<'a> {
    pub call: Option<(&'a super::calls::CallForm, &'a hatake_domain::FieldErrors)>,
    pub task_error: Option<String>,
    /// The new task's form as typed (sent back with its mistakes).
    pub task_form: Option<&'a super::calls::TaskForm>,
    /// Hearing values as typed (in the call form or the hearing form), sent back with mistakes.
    pub hearing: Option<(&'a std::collections::BTreeMap<String, String>, &'a hatake_domain::FieldErrors)>,
    /// The toss-up form as typed, sent back with its mistakes.
    pub tossup: Option<(&'a super::tossups::TossupForm, &'a hatake_domain::FieldErrors)>,
}

/// A lead's page.
pub(crate) async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    flash: &Flash,
    events: &super::timeline::TimelineParams,
    extra: DetailExtra<'_>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let lead = store.get_lead(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let required = service::required_fields(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let defs = service::custom_defs(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let account = match lead.account_id {
        Some(account_id) => Some(store.get_account(account_id).await.map_err(|e| PageError::from_store(e, locale))?),
        None => None,
    };
    let sheet = hatake_engine::hearing::sheet(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let hearing = super::hearing::panel(state, user, &lead, &sheet, extra.hearing).await?;
    let tossup = super::tossups::panel(state, user, &lead, extra.tossup).await?;
    // What a decision just did, in words (its toss-up is named in the address).
    let decided = match flash.t.as_deref().and_then(|t| t.parse::<i64>().ok()).filter(|_| flash.decided.is_some()) {
        Some(id) => super::tossups::decided_flash(store, id, locale).await,
        None => None,
    };
    let sheet_keys = sheet.keys();
    let values = lead.custom_map();
    // The hearing items are in their own panel; the other custom fields here.
    let custom: Vec<minijinja::Value> = defs
        .iter()
        .filter(|def| !sheet_keys.contains(&def.key))
        .map(|def| {
            let value = values.get(&def.key).map(|v| super::labels::value_text(v, locale));
            context! { label => def.label(locale), value => value }
        })
        .collect();
    let interests: Vec<&hatake_store::ProductRow> =
        products.iter().filter(|p| lead.product_ids.contains(&p.id)).collect();
    let dictionary = hatake_engine::settings::departments(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let class = lead.department_class.as_deref().and_then(|k| dictionary.class(k));
    let history = super::lead_history::history(store, &lead, locale).await?;
    let labelled = super::labels::Names::load(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let source = lead.source.as_deref().map(|s| super::labels::source_label(s, &labelled, locale));
    let meetings = store.lead_meetings(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let subscriptions = super::mail::lead_subscriptions(state, id, locale).await?;
    let newsletters = store.lead_newsletters(id, 20).await.map_err(|e| PageError::from_store(e, locale))?;
    let segments = store.lead_segments(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let scores = super::scoring::lead_scores(state, id, &products, locale).await?;
    let process = super::process::lead_process(state, &lead, &products, locale).await?;
    let call_panel =
        super::calls::call_panel(state, user, id, flash.task.as_deref().and_then(|t| t.parse().ok()), extra.call)
            .await?;
    let timeline = super::timeline::timeline(store, super::timeline::Of::Lead(id), events, &products, locale)
        .await
        .map_err(|e| PageError::from_store(e, locale))?;
    render(
        state,
        user,
        "leads/detail.html",
        "leads",
        context! {
            lead => lead_view(&lead, &required, locale),
            source => source,
            account => account,
            custom => custom,
            interests => interests,
            subscriptions => subscriptions,
            subs_flash => flash.subs,
            newsletters => newsletters,
            segments => segments,
            scores => scores,
            process => process,
            moved => super::process::moved_message(state.store.as_ref(), flash.moved.as_deref(), locale).await,
            move_error => flash.move_error.as_ref().map(|c| format!("move.error.{c}")),
            meetings => meetings,
            department_class => class.map(|c| super::departments::class_label(c, locale)),
            history => history,
            timeline => timeline,
            saved => flash.saved.is_some(),
            unmerged => flash.unmerged.is_some(),
            merge_error => flash.merge_error.as_deref().map(|e| crate::i18n::t(locale, super::reviews::merge_error_key(e))),
            call_panel => call_panel,
            hearing => hearing,
            tossup => tossup,
            tossed => flash.tossed.is_some(),
            decided => decided,
            heard => flash.heard.as_deref().and_then(|h| h.parse::<usize>().ok()),
            called => flash.called.is_some(),
            task_saved => flash.task_saved.is_some(),
            task_error => extra.task_error,
            task_form => extra.task_form,
            task_done => flash.done.as_deref().and_then(|d| match d {
                "done" | "cancelled" | "taken" => Some(format!("task.flash.{d}")),
                "gone" => Some("task.flash.gone".to_owned()),
                _ => None,
            }),
        },
    ).await
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let input = LeadInput { account_id: id_param(params.account.as_ref()), ..LeadInput::default() };
    form_page(&state, &user, None, &input, &FieldErrors::default()).await
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, PageError> {
    let lead = state.store.get_lead(id).await.map_err(|e| PageError::from_store(e, user.locale()))?;
    form_page(&state, &user, Some(id), &lead.to_input(), &FieldErrors::default()).await
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    id: Option<i64>,
    input: &LeadInput,
    errors: &FieldErrors,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let users = store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let defs = service::custom_defs(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let values = input.custom.clone().unwrap_or_default();
    let custom: Vec<minijinja::Value> = defs
        .iter()
        .map(|def| {
            let value = values.get(&def.key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            let choices = match &def.kind {
                hatake_domain::FieldKind::Choice { choices } => choices.clone(),
                _ => Vec::new(),
            };
            let error = errors.get(&format!("custom.{}", def.key)).map(|e| e.message(locale).to_owned());
            context! { key => def.key, label => def.label(locale), kind => def.kind.as_str(), choices => choices, value => value, error => error }
        })
        .collect();
    // The form fields that the configured required-field set asks for, marked with *.
    let required: Vec<&str> = service::required_fields(store)
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .0
        .iter()
        .map(|field| match field {
            hatake_domain::RequiredField::Company => "company_name",
            hatake_domain::RequiredField::Department => "department",
            hatake_domain::RequiredField::Title => "title",
            hatake_domain::RequiredField::Name => "family_name",
            hatake_domain::RequiredField::Email => "email",
            hatake_domain::RequiredField::Phone => "phone",
            hatake_domain::RequiredField::Address => "address",
        })
        .collect();
    // The picked company by name, and the suggestions for the name typed.
    let account_name = match input.account_id {
        Some(account_id) => store.get_account(account_id).await.ok().map(|a| super::accounts::account_label(&a)),
        None => None,
    };
    render(
        state,
        user,
        "leads/form.html",
        "leads",
        context! {
            id => id,
            account_name => account_name,
            input => input,
            errors => super::field_errors(errors, locale),
            has_errors => !errors.is_empty(),
            products => products,
            users => users,
            custom => custom,
            prefectures => prefectures(locale),
            required => required,
        },
    )
    .await
}

/// A lead form's fields: repeated `product_ids`, `custom.KEY` inputs, blank means unset.
fn input_from_form(pairs: &[(String, String)]) -> (LeadInput, FieldErrors) {
    let mut errors = FieldErrors::default();
    let get = |key: &str| blank_to_none(pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
    let mut id = |key: &str| -> Option<i64> {
        let text = get(key)?;
        match hatake_domain::fields::parse_form_number(key, &text) {
            Ok(value) => value,
            Err(error) => {
                errors.push(error);
                None
            }
        }
    };
    let account_id = id("account_id");
    let owner_id = id("owner_id");
    let product_ids: Vec<i64> =
        pairs.iter().filter(|(k, _)| k == "product_ids").filter_map(|(_, v)| v.parse().ok()).collect();
    let custom: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("custom.").map(|key| (key.to_owned(), serde_json::Value::String(v.clone())))
        })
        .collect();
    let input = LeadInput {
        account_id,
        company_name: get("company_name"),
        family_name: get("family_name"),
        given_name: get("given_name"),
        family_name_kana: get("family_name_kana"),
        given_name_kana: get("given_name_kana"),
        email: get("email"),
        phone: get("phone"),
        department: get("department"),
        title: get("title"),
        prefecture: get("prefecture"),
        address: get("address"),
        source: get("source"),
        owner_id,
        product_ids: Some(product_ids),
        custom: Some(custom),
    };
    (input, errors)
}

/// The company a person picked by name (`account_name`, a picker label 「名前（都道府県）」 or a
/// part of a name) when no id came with it: the one company of the master it names, else the
/// field's error (none, or several to choose from).
async fn pick_account(
    store: &dyn hatake_store::Store,
    pairs: &[(String, String)],
    input: &mut LeadInput,
    errors: &mut FieldErrors,
) -> Result<(), hatake_store::StoreError> {
    let typed = pairs.iter().find(|(k, _)| k == "account_name").map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    if input.account_id.is_some() || typed.is_empty() {
        return Ok(());
    }
    let (name, prefecture) = match typed.strip_suffix('）').and_then(|t| t.rsplit_once('（')) {
        Some((name, prefecture)) => (name.to_owned(), Some(prefecture.to_owned())),
        None => (typed.clone(), None),
    };
    let found = super::accounts::search_accounts(store, &name, 6).await?;
    let key = hatake_domain::company::normalise_company_name(&name);
    let exact: Vec<&hatake_store::AccountRow> = found
        .iter()
        .filter(|a| a.name_normalized == key && prefecture.as_ref().is_none_or(|p| a.prefecture.as_ref() == Some(p)))
        .collect();
    let only = match (exact.as_slice(), found.as_slice()) {
        ([one], _) => Some(one.id),
        ([], [one]) => Some(one.id),
        _ => None,
    };
    match (only, found.as_slice()) {
        (Some(id), _) => input.account_id = Some(id),
        (None, []) => errors.push(hatake_domain::FieldError::new(
            "account_id",
            "no_such_account",
            format!("企業マスタに「{typed}」はありません。会社名の欄は自由に入力できます。"),
            format!("The company master has no “{typed}”. The company name field takes any name."),
        )),
        (None, _) => errors.push(hatake_domain::FieldError::new(
            "account_id",
            "several_accounts",
            format!("「{typed}」に当てはまる会社が複数あります。候補から選んでください。"),
            format!("Several companies match “{typed}”: choose one of the suggestions."),
        )),
    }
    Ok(())
}

async fn save(state: &AppState, form: PageForm<Vec<(String, String)>>, id: Option<i64>) -> Response {
    let (mut input, mut errors) = input_from_form(&form.data);
    if let Err(error) = pick_account(state.store.as_ref(), &form.data, &mut input, &mut errors).await {
        return axum::response::IntoResponse::into_response(PageError::from_store(error, form.user.locale()));
    }
    let result = if errors.is_empty() {
        service::save_lead(state.store.as_ref(), id, &input, Some(form.user.user.id), "ui", now_millis()).await
    } else {
        // Report every other problem at once, too.
        let defs = service::custom_defs(state.store.as_ref()).await.unwrap_or_default();
        Err(SaveError::Invalid(input.validate(&defs).err().unwrap_or_default()))
    };
    let locale = form.user.locale();
    let location = |lead: &LeadRow| format!("/leads/{}?saved=1", lead.id);
    super::saved_or_form_again(result, errors, locale, location, |errors| async move {
        form_page(state, &form.user, id, &input, &errors).await
    })
    .await
}

async fn create(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    save(&state, form, None).await
}

async fn update(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<Vec<(String, String)>>) -> Response {
    save(&state, form, Some(id)).await
}

async fn delete(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<Vec<(String, String)>>) -> Response {
    super::delete_and_redirect(&form.user, state.store.delete_lead(id), "/leads?deleted=1").await
}
