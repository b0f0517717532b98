//! `/api/v1/leads`.

use super::{parse_cursor, patch_input, require, rfc3339, save_error, ApiId, ApiJson, ListResponse};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::service::{required_fields, save_lead};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Json;
use hatake_domain::text::SearchQuery;
use hatake_domain::{LeadInput, RequiredFieldSet};
use hatake_store::{page_size, LeadKind, LeadQuery, LeadRow, LeadSort};
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/api/v1/leads", Access::Api, get(list)),
        route("POST", "/api/v1/leads", Access::Api, post(create)),
        route("GET", "/api/v1/leads/{id}", Access::Api, get(show)),
        route("PATCH", "/api/v1/leads/{id}", Access::Api, patch(update)),
        route("DELETE", "/api/v1/leads/{id}", Access::Api, delete(remove)),
    ]
}

#[derive(Serialize)]
pub struct LeadView {
    id: i64,
    account_id: Option<i64>,
    account_name: Option<String>,
    company_name: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    family_name_kana: Option<String>,
    given_name_kana: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    department: Option<String>,
    /// The department's class key (see the organisation's department dictionary).
    department_class: Option<String>,
    title: Option<String>,
    prefecture: Option<String>,
    address: Option<String>,
    source: Option<String>,
    owner_id: Option<i64>,
    product_ids: Vec<i64>,
    custom: serde_json::Map<String, serde_json::Value>,
    /// "lead" when every required field is present, else "list".
    kind: &'static str,
    missing_fields: Vec<&'static str>,
    created_at: String,
    updated_at: String,
}

pub(crate) fn view(row: LeadRow, required: &RequiredFieldSet) -> LeadView {
    let missing = row.missing(required);
    LeadView {
        custom: row.custom_map(),
        kind: if row.is_lead { "lead" } else { "list" },
        missing_fields: missing.into_iter().map(|f| f.as_str()).collect(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        id: row.id,
        account_id: row.account_id,
        account_name: row.account_name,
        company_name: row.company_name,
        family_name: row.family_name,
        given_name: row.given_name,
        family_name_kana: row.family_name_kana,
        given_name_kana: row.given_name_kana,
        email: row.email,
        phone: row.phone,
        department: row.department,
        department_class: row.department_class,
        title: row.title,
        prefecture: row.prefecture,
        address: row.address,
        source: row.source,
        owner_id: row.owner_id,
        product_ids: row.product_ids,
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    q: Option<String>,
    product_id: Option<i64>,
    owner_id: Option<i64>,
    account_id: Option<i64>,
    kind: Option<String>,
    prefecture: Option<String>,
    department_class: Option<String>,
    sort: Option<String>,
}

fn invalid_param(name: &str, allowed: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_parameter",
        format!("{name} must be one of {allowed}."),
        format!("{name} には {allowed} のいずれかを指定してください。"),
    )
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<LeadView>>, ApiError> {
    let kind = match params.kind.as_deref() {
        None => LeadKind::All,
        Some(text) => LeadKind::parse(text).ok_or_else(|| invalid_param("kind", "lead, list, all"))?,
    };
    let sort = match params.sort.as_deref() {
        None => LeadSort::Updated,
        Some(text) => {
            LeadSort::parse(text).ok_or_else(|| invalid_param("sort", "updated, created, name, score:{product id}"))?
        }
    };
    let query = LeadQuery {
        search: params.q.as_deref().and_then(SearchQuery::parse),
        product_id: params.product_id,
        owner_id: params.owner_id,
        account_id: params.account_id,
        kind,
        prefecture: params.prefecture.filter(|p| !p.is_empty()),
        sort,
        cursor: parse_cursor(params.cursor.as_deref())?,
        limit: page_size(params.limit.unwrap_or(0)),
        count: false,
        department_class: params.department_class.filter(|c| !c.is_empty()),
        import_id: None,
    };
    let store = state.store.as_ref();
    let required = required_fields(store).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let page = store.list_leads(&query).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    Ok(Json(ListResponse {
        data: page.items.into_iter().map(|row| view(row, &required)).collect(),
        next_cursor: page.next,
        prev_cursor: page.prev,
    }))
}

async fn show(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<LeadView>, ApiError> {
    let store = state.store.as_ref();
    let row = store.get_lead(id).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let required = required_fields(store).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    Ok(Json(view(row, &required)))
}

async fn create(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(input): ApiJson<LeadInput>,
) -> Result<(StatusCode, Json<LeadView>), ApiError> {
    let store = state.store.as_ref();
    let row = save_lead(store, None, &input, Some(user.0.id), "api", now_millis())
        .await
        .map_err(|e| save_error(e, "lead"))?;
    let required = required_fields(store).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    Ok((StatusCode::CREATED, Json(view(row, &required))))
}

async fn update(
    State(state): State<AppState>,
    user: ApiUser,
    ApiId(id): ApiId,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Result<Json<LeadView>, ApiError> {
    let store = state.store.as_ref();
    let current = store.get_lead(id).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let input: LeadInput = patch_input(&current.to_input(), &patch)?;
    let row = save_lead(store, Some(id), &input, Some(user.0.id), "api", now_millis())
        .await
        .map_err(|e| save_error(e, "lead"))?;
    let required = required_fields(store).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    Ok(Json(view(row, &required)))
}

async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
) -> Result<StatusCode, ApiError> {
    require(user.role().can_delete_records())?;
    state.store.delete_lead(id).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    Ok(StatusCode::NO_CONTENT)
}
