//! One error type for the JSON API: every error has a stable machine-readable code, an HTTP
//! status and a message in Japanese and English. Internal detail is logged, never returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message_en: String,
    pub message_ja: String,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, en: impl Into<String>, ja: impl Into<String>) -> Self {
        Self { status, code, message_en: en.into(), message_ja: ja.into(), fields: Vec::new() }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid API token is required (Authorization: Bearer …).",
            "有効なAPIトークンが必要です（Authorization: Bearer …）。",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Your role may not do this.", "この操作を行う権限がありません。")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
            format!("指定された{}は存在しません。", japanese_noun(what)),
        )
    }

    pub fn validation(errors: FieldErrors) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("The input is not valid: {errors}"),
            "入力内容に誤りがあります。",
        );
        error.fields = errors.0;
        error
    }

    pub fn bad_request(code: &'static str, en: impl Into<String>, ja: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, en, ja)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on the server; it has been logged.",
            "サーバーでエラーが発生しました（記録済みです）。",
        )
    }

    /// Maps a store error, naming the kind of record for "not found".
    pub fn from_store(error: StoreError, what: &str) -> Self {
        match error {
            StoreError::NotFound => Self::not_found(what),
            StoreError::Conflict { field } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{field} is already used by another record."),
                    format!("{field} は既に別のレコードで使われています。"),
                );
                e.fields.push(FieldError::new(
                    field,
                    "duplicate",
                    "既に登録されています。",
                    "Already used by another record.",
                ));
                e
            }
            StoreError::MissingReference { field } => {
                let mut e = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_reference",
                    format!("{field} refers to a record that does not exist."),
                    format!("{field} が指すレコードが存在しません。"),
                );
                e.fields.push(FieldError::new(
                    field,
                    "missing_reference",
                    "存在しないIDです。",
                    "No record has this id.",
                ));
                e
            }
            StoreError::Database(detail) => {
                tracing::error!(%detail, "store error");
                Self::internal()
            }
        }
    }
}

fn japanese_noun(what: &str) -> &str {
    match what {
        "account" => "企業",
        "lead" => "リード",
        "product" => "商材",
        "user" => "ユーザー",
        "token" => "トークン",
        _ => "レコード",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "status": self.status.as_u16(),
                "message": self.message_en,
                "message_ja": self.message_ja,
                "fields": self.fields,
            }
        });
        (self.status, Json(body)).into_response()
    }
}
