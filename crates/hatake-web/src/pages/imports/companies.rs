//! `POST /imports/companies`: the company master from a file (the corporate-number bulk file or
//! a company CSV with a header), imported while the request waits, then every lead without a
//! company is linked where the master now knows its company. The import's page shows the
//! counts, the rejected rows and what linking did.

use super::upload::upload_again;
use crate::auth::{same_secret, CurrentUser};
use crate::multipart;
use crate::uploads::base_name;
use crate::{now_millis, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hatake_domain::FieldError;

use super::super::PageError;

pub(super) async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = user.locale();
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_UPLOAD_BYTES).await else {
        return PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "error.upload_too_large", locale).into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = match multipart::parse(content_type, &bytes) {
        Ok(parts) => parts,
        Err(error) => {
            tracing::warn!(%error, "malformed company upload");
            return PageError::new(StatusCode::BAD_REQUEST, "import.bad_form", locale).into_response();
        }
    };
    let csrf = parts.iter().find(|p| p.name == "_csrf").map(multipart::Part::text).unwrap_or_default();
    if !same_secret(&csrf, &user.csrf_token) {
        return PageError::new(StatusCode::FORBIDDEN, "error.csrf", locale).into_response();
    }
    let file = parts.into_iter().find(|p| p.name == "file" && p.file_name.as_deref().is_some_and(|n| !n.is_empty()));
    let Some(file) = file.filter(|f| !f.data.is_empty()) else {
        let error = FieldError::new(
            "company_file",
            "no_file",
            "企業マスタのファイルを選んでください。",
            "Choose a company master file.",
        );
        return upload_again(&state, &user, error).await;
    };
    let file_name = base_name(file.file_name.as_deref().unwrap_or_default());
    let store = state.store.as_ref();
    let import = match hatake_engine::companies::import_companies(
        store,
        &file.data,
        None,
        &file_name,
        Some(user.user.id),
        now_millis,
    )
    .await
    {
        Ok(import) => import,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    tracing::info!(import = import.id, rows = import.total_rows, user = user.user.id, "company master imported");
    let links = match hatake_engine::companies::link_all(store, now_millis()).await {
        Ok(links) => links,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    Redirect::to(&format!("/imports/{}?done=1&linked={}&link_reviews={}", import.id, links.linked, links.review))
        .into_response()
}
