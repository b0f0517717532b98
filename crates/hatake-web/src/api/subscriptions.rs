//! A lead's mail subscriptions over the API: `GET /api/v1/leads/{id}/subscriptions` (each
//! topic's state, with how and when, and the history of changes) and
//! `POST /api/v1/leads/{id}/subscriptions` (changes recorded as coming from the API, by the
//! token's user; a wrong topic or state is named by its place and nothing is stored).

use super::{rfc3339, ApiId, ApiJson};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::State;
use axum::routing::{get, post, MethodRouter};
use axum::Json;
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::SubscriptionChange;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/api/v1/leads/{id}/subscriptions", Access::Api, get(show)),
        route("POST", "/api/v1/leads/{id}/subscriptions", Access::Api, post(change)),
    ]
}

async fn show(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<Value>, ApiError> {
    let store = state.store.as_ref();
    let error = |e| ApiError::from_store(e, "lead");
    store.get_lead(id).await.map_err(error)?;
    let topics = hatake_engine::mail::subscriptions::topics(store).await.map_err(error)?;
    let current = store.lead_subscriptions(id).await.map_err(error)?;
    let history = store.subscription_history(id, 200).await.map_err(error)?;
    let data: Vec<Value> = topics
        .iter()
        .map(|topic| match current.iter().find(|s| s.topic == topic.key) {
            Some(s) => json!({
                "topic": topic.key, "label": topic.label_ja, "status": s.status, "source": s.source,
                "detail": s.detail, "by": s.by_name, "at": rfc3339(s.at),
            }),
            None => json!({ "topic": topic.key, "label": topic.label_ja, "status": "never_asked" }),
        })
        .collect();
    let history: Vec<Value> = history
        .iter()
        .map(|h| json!({ "topic": h.topic, "status": h.status, "source": h.source, "detail": h.detail, "by": h.by_name, "at": rfc3339(h.at) }))
        .collect();
    Ok(Json(json!({ "data": data, "history": history })))
}

#[derive(Deserialize)]
pub struct ChangeInput {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    status: String,
    detail: Option<String>,
}

#[derive(Deserialize)]
pub struct ChangesInput {
    changes: Vec<ChangeInput>,
}

async fn change(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
    ApiJson(input): ApiJson<ChangesInput>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store.as_ref();
    let error = |e| ApiError::from_store(e, "lead");
    store.get_lead(id).await.map_err(error)?;
    let topics = hatake_engine::mail::subscriptions::topics(store).await.map_err(error)?;
    let mut errors = Vec::new();
    for (i, change) in input.changes.iter().enumerate() {
        if !hatake_engine::mail::subscriptions::known(&topics, &change.topic) {
            let keys: Vec<&str> = topics.iter().map(|t| t.key.as_str()).collect();
            errors.push(FieldError::new(
                format!("changes[{i}].topic"),
                "unknown_topic",
                format!("配信の種類 {} はありません（{}）。", change.topic, keys.join(", ")),
                format!("No topic {} (one of {}).", change.topic, keys.join(", ")),
            ));
        }
        if !matches!(change.status.as_str(), "subscribed" | "unsubscribed") {
            errors.push(FieldError::new(
                format!("changes[{i}].status"),
                "invalid_status",
                format!("状態は subscribed か unsubscribed です（入力: {}）。", change.status),
                format!("The status is subscribed or unsubscribed (got {}).", change.status),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(FieldErrors(errors)));
    }
    let now = now_millis();
    let changes: Vec<SubscriptionChange> = input
        .changes
        .into_iter()
        .map(|c| SubscriptionChange {
            lead_id: id,
            topic: c.topic,
            status: c.status,
            source: "api".into(),
            detail: c.detail.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()),
            by_user: Some(user.id),
            at: now,
        })
        .collect();
    let changed = store.change_subscriptions(&changes).await.map_err(error)?;
    Ok(Json(json!({ "changed": changed })))
}

/// The OpenAPI operations of these routes.
pub fn operation(method: &str, path: &str) -> Option<Value> {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}});
    let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let (summary, body) = match (method, path) {
        ("GET", "/api/v1/leads/{id}/subscriptions") => {
            ("A lead's mail subscriptions per topic (general, product:{id}) with how and when, and their history", None)
        }
        ("POST", "/api/v1/leads/{id}/subscriptions") => (
            "Subscribe or unsubscribe a lead (recorded as coming from the API); a state it already has changes nothing",
            Some(json!({"required": true, "content": {"application/json": {"schema": {"type": "object",
                "required": ["changes"], "properties": {"changes": {"type": "array", "items": {"type": "object",
                    "required": ["topic", "status"], "properties": {"topic": {"type": "string"},
                    "status": {"type": "string", "enum": ["subscribed", "unsubscribed"]}, "detail": {"type": "string"}}}}}}}}})),
        ),
        _ => return None,
    };
    let mut responses =
        json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}});
    responses["401"] = error("No valid API token");
    responses["404"] = error("No such lead");
    if body.is_some() {
        responses["422"] = error("A topic or status is wrong");
    }
    let mut op = json!({
        "operationId": format!("{}{}", method.to_lowercase(), path.replace(['/', '{', '}'], "_")),
        "summary": summary, "tags": ["Lead"], "security": [{"bearer": []}],
        "parameters": [id], "responses": responses,
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    Some(op)
}
