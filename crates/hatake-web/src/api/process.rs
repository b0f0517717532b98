//! A lead's scores and its place in the sales process over the API:
//! `GET /api/v1/leads/{id}/scores` (per product: engagement, fit, model version and the awards
//! that make the score), `GET /api/v1/leads/{id}/stages` (stage per product and the history of
//! moves) and `POST /api/v1/leads/{id}/stage` (a move, checked as on the lead page).

use super::{rfc3339, ApiId, ApiJson};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, MethodRouter};
use axum::Json;
use hatake_domain::scoring::fold::{AwardStatus, RuleRef};
use hatake_engine::qualification::{self, MoveError, MoveRequest};
use hatake_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/api/v1/leads/{id}/scores", Access::Api, get(scores)),
        route("GET", "/api/v1/leads/{id}/stages", Access::Api, get(stages)),
        route("POST", "/api/v1/leads/{id}/stage", Access::Api, post(move_stage)),
    ]
}

async fn scores(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<Value>, ApiError> {
    let store = state.store.as_ref();
    store.get_lead(id).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let now = now_millis();
    let models = hatake_engine::scoring::Models::load(store).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let explained = hatake_engine::scoring::explain_lead(store, &models, id, now)
        .await
        .map_err(|e| ApiError::from_store(e, "lead"))?;
    let mut data = Vec::new();
    for part in explained {
        let Some((_, _, compiled)) = models.get(part.product_id) else { continue };
        if part.stored.is_none() && part.explanation.awards.is_empty() {
            continue;
        }
        let awards: Vec<Value> = part
            .explanation
            .awards
            .iter()
            .map(|a| {
                let (rule, label) = compiled.rule_label(a.rule);
                json!({
                    "rule": rule, "label": label,
                    "kind": if matches!(a.rule, RuleRef::Decay(_)) { "decay" } else { "engagement" },
                    "event_id": a.event_id, "at": rfc3339(a.at), "points": a.points,
                    "expires_at": a.expires_at.map(rfc3339),
                    "status": match a.status { AwardStatus::Counted => "counted", AwardStatus::Capped => "capped", AwardStatus::Expired => "expired" },
                })
            })
            .collect();
        data.push(json!({
            "product_id": part.product_id,
            "model_version": part.version,
            "engagement": part.explanation.engagement,
            "fit": part.fit.iter().map(|f| f.2).sum::<i64>(),
            "fit_rules": part.fit.iter().map(|(rule, label, points)| json!({"rule": rule, "label": label, "points": points})).collect::<Vec<_>>(),
            "next_change_at": part.explanation.next_change_at.map(rfc3339),
            "stored_at": part.stored.as_ref().map(|s| rfc3339(s.updated_at)),
            "awards": awards,
        }));
    }
    Ok(Json(json!({ "data": data })))
}

async fn stages(State(state): State<AppState>, _user: ApiUser, ApiId(id): ApiId) -> Result<Json<Value>, ApiError> {
    let store = state.store.as_ref();
    store.get_lead(id).await.map_err(|e| ApiError::from_store(e, "lead"))?;
    let error = |e| ApiError::from_store(e, "lead");
    let rows = store.lead_stages(&[id]).await.map_err(error)?;
    let history = store.stage_history(id).await.map_err(error)?;
    let opportunities = store.lead_opportunities(id).await.map_err(error)?;
    let now = now_millis();
    Ok(Json(json!({
        "data": rows.iter().map(|r| json!({
            "product_id": r.product_id, "stage": r.stage, "since": rfc3339(r.since),
            "policy_version": r.policy_version, "sla_due_at": r.sla_due_at.map(rfc3339),
            "sla_breached": r.stage == "mql" && r.sla_due_at.is_some_and(|d| d < now),
        })).collect::<Vec<_>>(),
        "history": history.iter().map(|h| json!({
            "id": h.id, "product_id": h.product_id, "from": h.from_stage, "to": h.to_stage, "at": rfc3339(h.at),
            "by": h.by_user, "reason": h.reason, "note": h.note, "policy_version": h.policy_version, "mode": h.mode,
            "opportunity_id": h.opportunity_id, "detail": h.detail,
        })).collect::<Vec<_>>(),
        "opportunities": opportunities.iter().map(|o| json!({
            "id": o.id, "product_id": o.product_id, "name": o.name, "stage_key": o.stage_key, "status": o.status,
            "amount": o.amount, "expected_close_on": o.expected_close_on, "reason": o.reason,
            "competitor": o.competitor, "competitor_installed_on": o.competitor_installed_on, "reapproach_on": o.reapproach_on,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveInput {
    product_id: i64,
    /// The stage the caller believes the lead is at (`lead` when it has none).
    from: String,
    to: String,
    reason: Option<String>,
    note: Option<String>,
    opportunity_name: Option<String>,
    stage_key: Option<String>,
    amount: Option<String>,
    expected_close_on: Option<String>,
}

async fn move_stage(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiId(id): ApiId,
    ApiJson(input): ApiJson<MoveInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = MoveRequest {
        lead_id: id,
        product_id: input.product_id,
        from: input.from,
        to: input.to,
        reason: input.reason,
        note: input.note,
        by: Some(user.id),
        opportunity_name: input.opportunity_name,
        stage_key: input.stage_key,
        amount: input.amount,
        expected_close_on: input.expected_close_on,
    };
    match qualification::move_lead(state.store.as_ref(), &request, now_millis(), &state.zone()).await {
        Ok(history_id) => Ok((StatusCode::CREATED, Json(json!({ "history_id": history_id })))),
        Err(MoveError::Invalid(errors)) => Err(ApiError::validation(errors)),
        Err(MoveError::Store(StoreError::Conflict { .. })) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "stage_changed",
            "The lead is no longer at the stage given in `from`; read its stages and try again.",
            "リードの状態が `from` と異なります。現在の状態を確認してやり直してください。",
        )),
        Err(MoveError::Store(e)) => Err(ApiError::from_store(e, "lead")),
    }
}

/// The OpenAPI operations of these routes.
pub fn operation(method: &str, path: &str) -> Option<Value> {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}});
    let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let (summary, ok, body) = match (method, path) {
        ("GET", "/api/v1/leads/{id}/scores") => (
            "A lead's scores per product with the awards that make them (rule, event, points, status)",
            json!({"200": {"description": "Scores", "content": {"application/json": {"schema": {"type": "object"}}}}}),
            None,
        ),
        ("GET", "/api/v1/leads/{id}/stages") => (
            "A lead's stage per product, its history of moves and its opportunities",
            json!({"200": {"description": "Stages", "content": {"application/json": {"schema": {"type": "object"}}}}}),
            None,
        ),
        ("POST", "/api/v1/leads/{id}/stage") => (
            "Move a lead for a product (mql, sal, opportunity, nurturing); recycling needs a reason",
            json!({"201": {"description": "Moved", "content": {"application/json": {"schema": {"type": "object",
                "properties": {"history_id": {"type": "integer"}}}}}}}),
            Some(json!({"required": true, "content": {"application/json": {"schema": {"type": "object",
                "required": ["product_id", "from", "to"],
                "properties": {"product_id": {"type": "integer"}, "from": {"type": "string"}, "to": {"type": "string"},
                    "reason": {"type": "string"}, "note": {"type": "string"}, "opportunity_name": {"type": "string"},
                    "stage_key": {"type": "string"}, "amount": {"type": "string"}, "expected_close_on": {"type": "string", "format": "date"}}}}}})),
        ),
        _ => return None,
    };
    let mut responses = ok.as_object().cloned().unwrap_or_default();
    responses.insert("401".into(), error("No valid API token"));
    responses.insert("404".into(), error("No such lead"));
    if body.is_some() {
        responses.insert("409".into(), error("The lead moved meanwhile"));
        responses.insert("422".into(), error("The move is not allowed, or a reason, amount or date is wrong"));
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
