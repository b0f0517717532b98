//! The JSON API under `/api/v1`: bearer-token auth, cursor pagination, and errors with stable
//! codes (see [`crate::error::ApiError`]). The OpenAPI document is built in `openapi.rs` and
//! a test checks it against the route table.

mod accounts;
mod events;
mod leads;
pub mod openapi;
mod process;
mod products;
mod resolve;
mod subscriptions;

use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::{AppState, RouteSpec};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::MethodRouter;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    let mut all = vec![
        crate::pages::route(
            "GET",
            "/api/v1/openapi.json",
            crate::Access::Public,
            axum::routing::get(openapi::document),
        ),
        crate::pages::route("GET", "/api/v1/me", crate::Access::Api, axum::routing::get(me)),
    ];
    all.extend(accounts::routes());
    all.extend(leads::routes());
    all.extend(resolve::routes());
    all.extend(events::routes());
    all.extend(products::routes());
    all.extend(process::routes());
    all.extend(subscriptions::routes());
    all
}

async fn me(ApiUser(user): ApiUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role().as_str(),
    }))
}

/// A JSON body whose rejections become API errors: 400 `malformed_json`, 415
/// `unsupported_media_type`, 413 `payload_too_large`, 422 `invalid_field` (wrong type or
/// unknown field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
            "本文は Content-Type: application/json のJSONで送ってください。",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {}", e.body_text()),
            format!("本文が正しいJSONではありません: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("The body has a field of the wrong type or an unknown field: {}", e.body_text()),
            format!("型の違う項目か、存在しない項目があります: {}", e.body_text()),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        other => ApiError::bad_request(
            "malformed_body",
            format!("The body could not be read: {}", other.body_text()),
            "本文を読み取れませんでした。",
        ),
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The body is larger than {} bytes.", crate::MAX_BODY_BYTES),
        format!("本文が大きすぎます（上限 {} バイト）。", crate::MAX_BODY_BYTES),
    )
}

/// A numeric id from the path; anything else is 404 (no record can have it).
pub struct ApiId(pub i64);

impl FromRequestParts<AppState> for ApiId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(ApiId(id)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found("record")),
            Err(_) => Err(ApiError::internal()),
        }
    }
}

/// A page of results: `{"data": [...], "next_cursor": …, "prev_cursor": …}`.
#[derive(Serialize)]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

/// A cursor from the query string; present but not ours is a 400 `invalid_cursor`.
///
/// # Errors
/// `invalid_cursor` when the text does not decode.
pub fn parse_cursor(text: Option<&str>) -> Result<Option<hatake_store::Cursor>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => hatake_store::Cursor::decode(t).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "The cursor is not one this server returned.",
                "cursor の値が正しくありません。",
            )
        }),
    }
}

/// An RFC 3339 UTC time from stored milliseconds.
pub fn rfc3339(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis).map(|t| t.to_string()).unwrap_or_default()
}

/// The error for a write the caller's role may not make.
pub fn require(allowed: bool) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Applies a JSON merge patch to the stored input and reads it back as the input type.
///
/// # Errors
/// 422 `invalid_field` when the patched document does not fit the input type, 400 when the
/// patch is not an object.
pub fn patch_input<T: Serialize + DeserializeOwned>(current: &T, patch: &serde_json::Value) -> Result<T, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "malformed_json",
            "A PATCH body must be a JSON object.",
            "PATCH の本文はJSONオブジェクトにしてください。",
        ));
    }
    let mut document = serde_json::to_value(current).map_err(|_| ApiError::internal())?;
    hatake_domain::fields::merge_patch(&mut document, patch);
    serde_json::from_value(document).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("The body has a field of the wrong type or an unknown field: {e}"),
            format!("型の違う項目か、存在しない項目があります: {e}"),
        )
    })
}

/// Maps a service error to an API error.
pub fn save_error(error: crate::service::SaveError, what: &str) -> ApiError {
    match error {
        crate::service::SaveError::Invalid(fields) => {
            let conflict = fields.0.iter().any(|f| f.code == "duplicate");
            let mut api = ApiError::validation(fields);
            if conflict {
                api.status = StatusCode::CONFLICT;
                api.code = "conflict";
            }
            api
        }
        crate::service::SaveError::NotFound => ApiError::not_found(what),
        crate::service::SaveError::Store(error) => ApiError::from_store(error, what),
    }
}
