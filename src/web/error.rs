//! The one place that knows both the domain's errors and HTTP: [`AppError`], every
//! `From` that maps a module's error to a status and a stable code, and [`AppJson`],
//! the JSON extractor whose rejections answer in the same shape. Internal causes are
//! logged with the request's id, never sent to the client.

use std::time::Duration;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::FromRequest;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::AuthError;
use crate::creators::CreatorError;
use crate::db::StoreError;
use crate::delivery::orders::OrderError;
use crate::derivatives::FullPlanError;

/// The error every handler returns. Each variant names its HTTP status; the body is
/// `{"error": "<stable code>", "message": "..."}`. Internal causes are logged with the
/// request's id and never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("authentication required")]
    Unauthorized,
    /// 403: credentials valid, but the CSRF token is missing or wrong.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed attempts; retry after the given time.
    #[error("too many attempts; try again in {} s", .0.as_secs().max(1))]
    TooManyRequests(Duration),
    /// 400, 408, 413, 415 or 422 (the status axum's extractor chose, or 408 from the
    /// body-read timeout): a JSON or form body that cannot be read in time, or that
    /// does not have the expected shape.
    #[error("{1}")]
    InvalidBody(StatusCode, String),
    /// 507: the box's disk is full (the database or a file could not grow); the same
    /// request succeeds once space is freed.
    #[error("{0}")]
    DiskFull(String),
    /// 500: a fault on the box (logged, not described to the client).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::InvalidBody(status, _) => (
                *status,
                match *status {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::REQUEST_TIMEOUT => "timeout",
                    _ => "bad_request",
                },
            ),
            AppError::DiskFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<crate::metrics::MetricsError> for AppError {
    fn from(e: crate::metrics::MetricsError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            tracing::warn!(error = %e, "request refused: the disk is full");
            return AppError::DiskFull(
                "the box's disk is full; nothing was changed. Retry once space is freed".into(),
            );
        }
        AppError::Internal(e.into())
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<CreatorError> for AppError {
    fn from(e: CreatorError) -> Self {
        match e {
            CreatorError::InvalidName => AppError::BadRequest(e.to_string()),
            CreatorError::Exists(_) => AppError::Conflict(e.to_string()),
            CreatorError::NotFound(_) => AppError::NotFound,
            CreatorError::Store(e) => e.into(),
        }
    }
}

impl From<crate::media::logo::LogoError> for AppError {
    fn from(e: crate::media::logo::LogoError) -> Self {
        use crate::media::logo::LogoError;
        let status = match e {
            LogoError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LogoError::NotPng => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            LogoError::TooManyPixels(..) => StatusCode::UNPROCESSABLE_ENTITY,
            LogoError::Empty | LogoError::Broken(_) => StatusCode::BAD_REQUEST,
        };
        AppError::InvalidBody(status, e.to_string())
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::ShortCode => AppError::BadRequest(e.to_string()),
            AuthError::Sql(e) => e.into(),
        }
    }
}

impl From<FullPlanError> for AppError {
    fn from(e: FullPlanError) -> Self {
        match e {
            FullPlanError::Privacy(e) => AppError::Conflict(e.to_string()),
            FullPlanError::Io(e) => AppError::Internal(e.into()),
            FullPlanError::Store(e) => AppError::Internal(e.into()),
        }
    }
}

impl From<OrderError> for AppError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Empty | OrderError::NotYours(_) | OrderError::TooMany => {
                AppError::BadRequest(e.to_string())
            }
            OrderError::NotFound => AppError::NotFound,
            OrderError::State(_) => AppError::Conflict(e.to_string()),
            OrderError::Sql(e) => e.into(),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        AppError::InvalidBody(r.status(), r.body_text())
    }
}

impl From<FormRejection> for AppError {
    fn from(r: FormRejection) -> Self {
        AppError::InvalidBody(r.status(), r.body_text())
    }
}

/// A JSON request body whose rejection is an [`AppError`], so a malformed or
/// mis-shaped body gets the same `{"error","message"}` answer as every other error
/// (axum's `examples/error-handling` pattern). Use it instead of `axum::Json` in
/// every handler that reads JSON.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": code, "message": self.to_string() })),
        )
            .into_response();
        match &self {
            AppError::TooManyRequests(wait) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            AppError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
