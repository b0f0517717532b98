//! Account list (search by name or corporate number, prefecture filter, cursor pages), detail
//! with the account's people, and the create/edit form.

use super::leads::{lead_view, prefectures};
use super::{blank_to_none, field_errors, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::service::{self, SaveError};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{AbmTier, AccountInput, FieldErrors};
use hatake_store::{page_size, AccountQuery, Cursor, LeadQuery, LeadSort, UserRow};
use minijinja::context;
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/accounts", Access::SignedIn, get(list)),
        route("GET", "/accounts/new", Access::SignedIn, get(new_form)),
        route("GET", "/accounts/lookup", Access::SignedIn, get(lookup)),
        route("POST", "/accounts", Access::SignedIn, post(create)),
        route("GET", "/accounts/{id}", Access::SignedIn, get(detail)),
        route("GET", "/accounts/{id}/edit", Access::SignedIn, get(edit_form)),
        route("POST", "/accounts/{id}", Access::SignedIn, post(update)),
        route("POST", "/accounts/{id}/delete", Access::SignedIn, post(delete)),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct ListParams {
    q: Option<String>,
    prefecture: Option<String>,
    cursor: Option<String>,
    deleted: Option<String>,
    saved: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
pub struct LookupParams {
    q: Option<String>,
}

/// A company of the master as a picker shows it: 「株式会社ひまわり商事（東京都）」.
pub(crate) fn account_label(account: &hatake_store::AccountRow) -> String {
    match &account.prefecture {
        Some(prefecture) => format!("{}（{prefecture}）", account.name),
        None => account.name.clone(),
    }
}

/// Companies of the master whose name (or corporate number) contains the text, for a picker.
pub(crate) async fn search_accounts(
    store: &dyn hatake_store::Store,
    text: &str,
    limit: u32,
) -> Result<Vec<hatake_store::AccountRow>, hatake_store::StoreError> {
    let query = AccountQuery { search: Some(text.to_owned()), limit, ..AccountQuery::default() };
    Ok(store.list_accounts(&query).await?.items)
}

/// `GET /accounts/lookup?q=`: up to 20 companies whose name contains the text, as JSON
/// `[{id, label}]`, for the company picker of the lead form.
async fn lookup(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<LookupParams>,
) -> Result<axum::Json<Vec<serde_json::Value>>, PageError> {
    let text = params.q.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Ok(axum::Json(Vec::new()));
    }
    let found =
        search_accounts(state.store.as_ref(), text, 20).await.map_err(|e| PageError::from_store(e, user.locale()))?;
    Ok(axum::Json(found.iter().map(|a| serde_json::json!({ "id": a.id, "label": account_label(a) })).collect()))
}

/// The ABM tiers for a select: (value, label).
fn tiers(locale: &str) -> Vec<(&'static str, &'static str)> {
    AbmTier::ALL.iter().map(|tier| (tier.as_str(), crate::i18n::t(locale, tier_key(tier.as_str())))).collect()
}

fn tier_key(tier: &str) -> &'static str {
    match tier {
        "tier1" => "account.tier.tier1",
        "tier2" => "account.tier.tier2",
        "tier3" => "account.tier.tier3",
        _ => "common.none",
    }
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let query = AccountQuery {
        search: blank_to_none(params.q.clone()),
        prefecture: blank_to_none(params.prefecture.clone()),
        cursor: params.cursor.as_deref().and_then(Cursor::decode),
        limit: page_size(50),
        count: true,
    };
    let page = state.store.list_accounts(&query).await.map_err(|e| PageError::from_store(e, locale))?;
    let mut filters: Vec<(&str, String)> = Vec::new();
    for (key, value) in [("q", &params.q), ("prefecture", &params.prefecture)] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            filters.push((key, v.clone()));
        }
    }
    let rows: Vec<minijinja::Value> = page
        .items
        .iter()
        .map(|a| context! { row => a, tier => a.abm_tier.as_deref().map(|t| crate::i18n::t(locale, tier_key(t))) })
        .collect();
    render(
        &state,
        &user,
        "accounts/list.html",
        "accounts",
        context! {
            accounts => rows,
            total => page.total,
            next => page.next,
            prev => page.prev,
            base_query => serde_urlencoded::to_string(&filters).unwrap_or_default(),
            q => params.q.unwrap_or_default(),
            prefecture => params.prefecture.unwrap_or_default(),
            prefectures => prefectures(locale),
            deleted => params.deleted.is_some(),
        },
    )
    .await
}

async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<ListParams>,
    Query(events): Query<super::timeline::TimelineParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let account = store.get_account(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let timeline = super::timeline::timeline(store, super::timeline::Of::Account(id), &events, &products, locale)
        .await
        .map_err(|e| PageError::from_store(e, locale))?;
    let users = store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let required = service::required_fields(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let query = LeadQuery {
        account_id: Some(id),
        sort: LeadSort::Created,
        limit: page_size(50),
        count: true,
        ..LeadQuery::default()
    };
    let people = store.list_leads(&query).await.map_err(|e| PageError::from_store(e, locale))?;
    let owner = account.owner_id.and_then(|owner| users.iter().find(|u| u.id == owner)).map(|u| u.display_name.clone());
    let people_rows: Vec<minijinja::Value> =
        people.items.iter().map(|lead| lead_view(lead, &required, locale)).collect();
    let account_scores = super::scoring::account_scores(store, id, &products, locale)
        .await
        .map_err(|e| PageError::from_store(e, locale))?;
    render(
        &state,
        &user,
        "accounts/detail.html",
        "accounts",
        context! {
            account => account,
            domains => account.domain_list(),
            tier => account.abm_tier.as_deref().map(|t| crate::i18n::t(locale, tier_key(t))),
            owner => owner,
            people => people_rows,
            account_scores => account_scores,
            people_total => people.total,
            timeline => timeline,
            saved => params.saved.is_some(),
        },
    )
    .await
}

/// The form's values as text, from a stored account.
fn values_of(input: &AccountInput) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            values.insert(key.to_owned(), v);
        }
    };
    put("name", input.name.clone());
    put("corporate_number", input.corporate_number.clone());
    put("domains", input.domains.as_ref().map(|d| d.join(" ")));
    put("industry", input.industry.clone());
    put("employee_count", input.employee_count.map(|n| n.to_string()));
    put("annual_revenue", input.annual_revenue.map(|n| n.to_string()));
    put("prefecture", input.prefecture.clone());
    put("address", input.address.clone());
    put("abm_tier", input.abm_tier.clone());
    put("owner_id", input.owner_id.map(|n| n.to_string()));
    values
}

async fn new_form(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    form_page(&state, &user, None, &BTreeMap::new(), &FieldErrors::default()).await
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, PageError> {
    let account = state.store.get_account(id).await.map_err(|e| PageError::from_store(e, user.locale()))?;
    form_page(&state, &user, Some(id), &values_of(&service::account_input(&account)), &FieldErrors::default()).await
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    id: Option<i64>,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let users = state.store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let owner = values.get("owner_id").cloned().unwrap_or_default();
    // Inactive users stay selectable only when they already own the account.
    let owners: Vec<&UserRow> = users.iter().filter(|u| u.active || u.id.to_string() == owner).collect();
    render(
        state,
        user,
        "accounts/form.html",
        "accounts",
        context! {
            id => id,
            values => values,
            errors => field_errors(errors, locale),
            has_errors => !errors.is_empty(),
            users => owners,
            prefectures => prefectures(locale),
            tiers => tiers(locale),
        },
    )
    .await
}

/// Domains typed into one box, separated by commas, spaces or 、.
fn split_domains(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == '、' || c == '，' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An account form's fields; number fields that do not parse are reported at the field.
fn input_from_form(pairs: &[(String, String)]) -> (AccountInput, FieldErrors) {
    let mut errors = FieldErrors::default();
    let get = |key: &str| blank_to_none(pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
    let mut number = |key: &str| -> Option<i64> {
        let text = get(key)?;
        errors.take(hatake_domain::fields::parse_form_number(key, &text)).flatten()
    };
    let employee_count = number("employee_count");
    let annual_revenue = number("annual_revenue");
    let owner_id = number("owner_id");
    let input = AccountInput {
        name: get("name"),
        corporate_number: get("corporate_number"),
        domains: Some(get("domains").map(|d| split_domains(&d)).unwrap_or_default()),
        industry: get("industry"),
        employee_count,
        annual_revenue,
        prefecture: get("prefecture"),
        address: get("address"),
        abm_tier: get("abm_tier"),
        owner_id,
    };
    (input, errors)
}

async fn save(state: &AppState, form: PageForm<Vec<(String, String)>>, id: Option<i64>) -> Response {
    let (input, errors) = input_from_form(&form.data);
    let result = if errors.is_empty() {
        service::save_account(state.store.as_ref(), id, &input, now_millis()).await
    } else {
        // Report the other fields' problems too, without storing anything.
        Err(SaveError::Invalid(input.validate().err().unwrap_or_default()))
    };
    let locale = form.user.locale();
    let location = |account: &hatake_store::AccountRow| format!("/accounts/{}?saved=1", account.id);
    let values: BTreeMap<String, String> =
        form.data.iter().filter(|(k, _)| k != "_csrf").map(|(k, v)| (k.clone(), v.clone())).collect();
    super::saved_or_form_again(result, errors, locale, location, |errors| async move {
        form_page(state, &form.user, id, &values, &errors).await
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
    super::delete_and_redirect(&form.user, state.store.delete_account(id), "/accounts?deleted=1").await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hatake_store::AccountRow;
    use minijinja::Value;

    /// The layout's context, as `render` adds it, for rendering a page template in a test.
    pub(crate) fn page(locale: &str, extra: Value) -> Value {
        let me = context! { id => 1, name => "管理 太郎", email => "admin@example.jp", role => "admin",
        role_label => "管理者", can_configure => true, can_manage_users => true, can_delete => true };
        let base = context! { locale => locale, csrf => "CSRF-TOKEN", section => "x", me => me };
        context! { ..extra, ..base }
    }

    pub(crate) fn render_page(name: &str, locale: &str, extra: Value) -> String {
        let templates = crate::Templates::load("Asia/Tokyo").unwrap();
        templates.render(name, page(locale, extra)).unwrap()
    }

    fn account() -> AccountRow {
        AccountRow {
            id: 7,
            name: "株式会社ひまわり商事".into(),
            name_normalized: "ひまわり商事".into(),
            corporate_number: Some("7000012050002".into()),
            domains: "himawari.co.jp himawari.jp".into(),
            industry: Some("卸売".into()),
            employee_count: Some(120),
            annual_revenue: Some(1_234_567_890),
            prefecture: Some("東京都".into()),
            address: Some("東京都千代田区".into()),
            abm_tier: Some("tier1".into()),
            owner_id: Some(1),
            lead_count: 3,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn form_input_and_errors() {
        let pairs: Vec<(String, String)> = [
            ("name", "ひまわり"),
            ("domains", "a.jp, b.jp　c.jp"),
            ("employee_count", "1,200"),
            ("annual_revenue", "たくさん"),
            ("owner_id", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let (input, errors) = input_from_form(&pairs);
        assert_eq!(input.domains.as_deref(), Some(&["a.jp".to_owned(), "b.jp".into(), "c.jp".into()][..]));
        assert_eq!(input.employee_count, Some(1200));
        assert_eq!(input.owner_id, None);
        assert_eq!(errors.0.len(), 1);
        let bad = AccountInput { domains: Some(vec!["ok.jp".into(), "bad domain".into()]), ..input };
        let shown = field_errors(&bad.validate().unwrap_err(), "en");
        assert!(shown.contains_key("domains"), "{shown:?}");
    }

    #[test]
    fn account_templates_render() {
        let row = account();
        let html = render_page(
            "accounts/list.html",
            "ja",
            context! { accounts => vec![context! { row => &row, tier => "ティア1" }], total => context! { value => 1, capped => false },
            next => "abc", prev => None::<String>, base_query => "q=x", q => "x", prefecture => "",
            prefectures => prefectures("ja"), deleted => true },
        );
        assert!(html.contains("id=\"account-table\"") && html.contains("/accounts/7") && html.contains("cursor=abc"));
        let html = render_page(
            "accounts/detail.html",
            "en",
            context! { account => &row, domains => row.domain_list(), tier => "Tier 1", owner => "Admin",
            people => Vec::<Value>::new(), people_total => None::<i64>, saved => true },
        );
        assert!(
            html.contains("1,234,567,890") && html.contains("/leads/new?account=7") && html.contains("himawari.jp")
        );
        let mut errors = FieldErrors::default();
        errors.push(hatake_domain::CorporateNumber::parse("1234567890123").unwrap_err());
        let html = render_page(
            "accounts/form.html",
            "ja",
            context! { id => None::<i64>, values => values_of(&service::account_input(&row)),
            errors => field_errors(&errors, "ja"), has_errors => true, users => Vec::<UserRow>::new(),
            prefectures => prefectures("ja"), tiers => tiers("ja") },
        );
        assert!(html.contains("data-field=\"corporate_number\"") && html.contains("チェックディジット"));
        assert!(html.contains("value=\"tier1\" selected") && html.contains("name=\"_csrf\" value=\"CSRF-TOKEN\""));
    }
}
