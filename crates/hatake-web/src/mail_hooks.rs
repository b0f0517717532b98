//! `POST /hooks/mail/{token}`: where a sending relay reports bounces and complaints (the JSON of
//! SendGrid, Mailgun, Amazon SES through SNS, Postmark, or a plain list of events). The token is
//! the organisation's secret, shown on the mail settings page; a wrong one gets 404 and reveals
//! nothing. What the engine did is answered as JSON.

use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{post, MethodRouter};
use hatake_engine::mail::feedback;

/// The setting that holds the webhook's secret (made on first use).
pub const SETTING_HOOK_TOKEN: &str = "secret.mail_webhook";

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![route("POST", "/hooks/mail/{token}", Access::Public, post(hook))]
}

/// The webhook's secret, made and stored on first use.
///
/// # Errors
/// When the store fails.
pub async fn hook_token(state: &AppState) -> Result<String, hatake_store::StoreError> {
    if let Some(token) = state.store.get_setting(SETTING_HOOK_TOKEN).await?.filter(|t| !t.is_empty()) {
        return Ok(token);
    }
    let fresh = crate::tracking::new_visitor_id();
    state.store.put_setting(SETTING_HOOK_TOKEN, &fresh, now_millis()).await?;
    Ok(state.store.get_setting(SETTING_HOOK_TOKEN).await?.unwrap_or(fresh))
}

async fn hook(State(state): State<AppState>, Path(token): Path<String>, body: Bytes) -> Response {
    let stored = match state.store.get_setting(SETTING_HOOK_TOKEN).await {
        Ok(stored) => stored.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "the mail webhook's token could not be read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if stored.is_empty() || !crate::auth::same_secret(&stored, &token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("the body is not JSON: {error}") })),
            )
                .into_response();
        }
    };
    let found = match feedback::parse_webhook(&json) {
        Ok(found) => found,
        Err(error) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": error.to_string() })))
                .into_response();
        }
    };
    match feedback::apply(state.store.as_ref(), &found, now_millis()).await {
        Ok(applied) => {
            tracing::info!(
                hard = applied.hard_bounces,
                soft = applied.soft_bounces,
                complaints = applied.complaints,
                "mail feedback from a relay"
            );
            Json(applied).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "mail feedback was not applied");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
