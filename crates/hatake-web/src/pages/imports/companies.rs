//! `POST /imports/companies`: the company master from a file (the corporate-number bulk file or
//! a company CSV with a header), imported while the request waits, then every lead without a
//! company is linked where the master now knows its company. The import's page shows the
//! counts, the rejected rows and what linking did.

use super::upload::{upload_again, uploaded_file};
use crate::auth::CurrentUser;
use crate::uploads::base_name;
use crate::{now_millis, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
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
    let file = match uploaded_file(&user, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let Some(file) = file else {
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
