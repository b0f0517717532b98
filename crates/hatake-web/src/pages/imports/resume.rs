//! Resuming a lead import that stopped half-way (its process was killed, or the database
//! failed): the import's page asks for the same file again, checks it is the same (by its
//! SHA-256), and the import takes the rows after its last written batch in the background
//! while its page shows the progress.

use super::upload::uploaded_file;
use super::{detail_page, Notice};
use crate::auth::CurrentUser;
use crate::{now_millis, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hatake_domain::FieldError;
use hatake_engine::import::{claim, prepare_resume, resume_claimed, ImportError};

/// `POST /imports/{id}/resume` (multipart: `_csrf` and `file`).
pub(super) async fn resume(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = user.locale();
    let file = match uploaded_file(&user, &headers, body).await {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let Some(file) = file else {
        let error = FieldError::new("file", "no_file", "CSVファイルを選んでください。", "Choose a CSV file.");
        return again(&state, &user, id, error).await;
    };
    let store = std::sync::Arc::clone(&state.store);
    let (context, options) =
        match hatake_engine::settings::import_context(&*store, None, None, "", Some(user.user.id)).await {
            Ok(found) => found,
            Err(error) => return super::PageError::from_store(error, locale).into_response(),
        };
    let refused = |error: ImportError| match error {
        ImportError::File(error) => Err(error.under("file")),
        ImportError::Store(error) => Ok(super::PageError::from_store(error, locale).into_response()),
    };
    let resumption = match prepare_resume(&*store, id, &file.data, &context, &options).await {
        Ok(resumption) => resumption,
        Err(error) => {
            return match refused(error) {
                Err(error) => again(&state, &user, id, error).await,
                Ok(page) => page,
            }
        }
    };
    let claimed = match claim(&*store, &resumption, false, now_millis()).await {
        Ok(claimed) => claimed,
        Err(error) => {
            return match refused(error) {
                Err(error) => again(&state, &user, id, error).await,
                Ok(page) => page,
            }
        }
    };
    let by = user.user.id;
    tokio::spawn(async move {
        match resume_claimed(&*store, &resumption, &claimed, now_millis, |_| {}).await {
            Ok(done) => tracing::info!(import = id, rows = done.total_rows, user = by, "resumed import finished"),
            Err(error) => tracing::error!(import = id, %error, "resumed import failed"),
        }
    });
    Redirect::to(&format!("/imports/{id}?resumed=1")).into_response()
}

/// The import's page again, with why the file was not taken.
async fn again(state: &AppState, user: &CurrentUser, id: i64, error: FieldError) -> Response {
    let notice = Notice { resume_error: Some(error), ..Notice::default() };
    match detail_page(state, user, id, &notice).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}
