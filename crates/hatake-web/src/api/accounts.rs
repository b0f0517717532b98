//! `/api/v1/accounts`.

use super::{parse_cursor, patch_input, require, rfc3339, save_error, ApiId, ApiJson, ListResponse};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::service::{account_input, save_account};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Json;
use hatake_domain::AccountInput;
use hatake_store::{page_size, AccountQuery, AccountRow};
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/api/v1/accounts", Access::Api, get(list)),
        route("POST", "/api/v1/accounts", Access::Api, post(create)),
        route("GET", "/api/v1/accounts/{id}", Access::Api, get(show)),
        route("PATCH", "/api/v1/accounts/{id}", Access::Api, patch(update)),
        route("DELETE", "/api/v1/accounts/{id}", Access::Api, delete(remove)),
    ]
}

#[derive(Serialize)]
pub struct AccountView {
    id: i64,
    name: String,
    name_normalized: String,
    corporate_number: Option<String>,
    domains: Vec<String>,
    industry: Option<String>,
    employee_count: Option<i64>,
    annual_revenue: Option<i64>,
    prefecture: Option<String>,
    address: Option<String>,
    abm_tier: Option<String>,
    owner_id: Option<i64>,
    lead_count: i64,
    created_at: String,
    updated_at: String,
}

fn view(row: AccountRow) -> AccountView {
    AccountView {
        domains: row.domain_list().into_iter().map(str::to_owned).collect(),
        id: row.id,
        name: row.name,
        name_normalized: row.name_normalized,
        corporate_number: row.corporate_number,
        industry: row.industry,
        employee_count: row.employee_count,
        annual_revenue: row.annual_revenue,
        prefecture: row.prefecture,
        address: row.address,
        abm_tier: row.abm_tier,
        owner_id: row.owner_id,
        lead_count: row.lead_count,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    q: Option<String>,
    prefecture: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<AccountView>>, ApiError> {
    let query = AccountQuery {
        search: params.q,
        prefecture: params.prefecture.filter(|p| !p.is_empty()),
        cursor: parse_cursor(params.cursor.as_deref())?,
        limit: page_size(params.limit.unwrap_or(0)),
        count: false,
    };
    let page = state.store.list_accounts(&query).await.map_err(|e| ApiError::from_store(e, "account"))?;
    Ok(Json(ListResponse {
        data: page.items.into_iter().map(view).collect(),
        next_cursor: page.next,
        prev_cursor: page.prev,
    }))
}

async fn show(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<AccountView>, ApiError> {
    let row = state.store.get_account(id).await.map_err(|e| ApiError::from_store(e, "account"))?;
    Ok(Json(view(row)))
}

async fn create(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiJson(input): ApiJson<AccountInput>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let row =
        save_account(state.store.as_ref(), None, &input, now_millis()).await.map_err(|e| save_error(e, "account"))?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

async fn update(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiId(id): ApiId,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Result<Json<AccountView>, ApiError> {
    let current = state.store.get_account(id).await.map_err(|e| ApiError::from_store(e, "account"))?;
    let input: AccountInput = patch_input(&account_input(&current), &patch)?;
    let row = save_account(state.store.as_ref(), Some(id), &input, now_millis())
        .await
        .map_err(|e| save_error(e, "account"))?;
    Ok(Json(view(row)))
}

async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
) -> Result<StatusCode, ApiError> {
    require(user.role().can_delete_records())?;
    state.store.delete_account(id).await.map_err(|e| ApiError::from_store(e, "account"))?;
    Ok(StatusCode::NO_CONTENT)
}
