//! `/api/v1/products`.

use super::{parse_cursor, patch_input, require, rfc3339, save_error, ApiId, ApiJson, ListResponse};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::service::{product_input, save_product};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, MethodRouter};
use axum::Json;
use hatake_domain::ProductInput;
use hatake_store::{page_size, paginate, Cursor, ProductRow};
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/api/v1/products", Access::Api, get(list)),
        route("POST", "/api/v1/products", Access::Api, axum::routing::post(create)),
        route("GET", "/api/v1/products/{id}", Access::Api, get(show)),
        route("PATCH", "/api/v1/products/{id}", Access::Api, axum::routing::patch(update)),
        route("DELETE", "/api/v1/products/{id}", Access::Api, axum::routing::delete(remove)),
    ]
}

#[derive(Serialize)]
pub struct ProductView {
    id: i64,
    code: String,
    name: String,
    description: Option<String>,
    active: bool,
    created_at: String,
    updated_at: String,
}

fn view(row: ProductRow) -> ProductView {
    ProductView {
        id: row.id,
        code: row.code,
        name: row.name,
        description: row.description,
        active: row.active,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<ProductView>>, ApiError> {
    let cursor = parse_cursor(params.cursor.as_deref())?;
    let limit = page_size(params.limit.unwrap_or(0));
    let mut rows = state.store.list_products().await.map_err(|e| ApiError::from_store(e, "product"))?;
    rows.sort_by_key(|p| p.id);
    // Products are few: page over the sorted list in memory.
    let backward = cursor.as_ref().is_some_and(|c| c.backward);
    let after = cursor.as_ref().map_or(0, |c| c.id);
    let mut selected: Vec<ProductRow> = if backward {
        rows.into_iter().rev().filter(|p| p.id < after).collect()
    } else {
        rows.into_iter().filter(|p| cursor.is_none() || p.id > after).collect()
    };
    selected.truncate(limit as usize + 1);
    let page =
        paginate(selected, limit, cursor.as_ref(), |p| Cursor { number: None, text: None, id: p.id, backward: false });
    Ok(Json(ListResponse {
        data: page.items.into_iter().map(view).collect(),
        next_cursor: page.next,
        prev_cursor: page.prev,
    }))
}

async fn show(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<ProductView>, ApiError> {
    let row = state.store.get_product(id).await.map_err(|e| ApiError::from_store(e, "product"))?;
    Ok(Json(view(row)))
}

async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(input): ApiJson<ProductInput>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    require(user.role().can_configure())?;
    let row =
        save_product(state.store.as_ref(), None, &input, now_millis()).await.map_err(|e| save_error(e, "product"))?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Result<Json<ProductView>, ApiError> {
    require(user.role().can_configure())?;
    let current = state.store.get_product(id).await.map_err(|e| ApiError::from_store(e, "product"))?;
    let input: ProductInput = patch_input(&product_input(&current), &patch)?;
    let row = save_product(state.store.as_ref(), Some(id), &input, now_millis())
        .await
        .map_err(|e| save_error(e, "product"))?;
    Ok(Json(view(row)))
}

async fn remove(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
) -> Result<StatusCode, ApiError> {
    require(user.role().can_configure())?;
    state.store.delete_product(id).await.map_err(|e| ApiError::from_store(e, "product"))?;
    Ok(StatusCode::NO_CONTENT)
}
