//! What can go wrong: a request the client must fix (a 4xx that says what to change), storage
//! trouble the exporter retries (503), an internal failure (an opaque 500); and the errors that
//! stop the gateway from starting.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Seconds the exporter is asked to wait before resending a batch refused with 503.
const RETRY_AFTER_SECONDS: &str = "5";

/// One bad row of a refused batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Position of the row in `followUps`, from 0.
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: not JSON, not gzip, no or a bad idempotency key.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Another object with different content is stored under this key: nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// Too many bodies are being received at once; retry shortly.
    #[error("{0}")]
    Busy(String),
    /// Well-formed JSON that is not a valid batch. `rows` lists the first bad rows.
    #[error("{message}")]
    Invalid {
        message: String,
        rows: Vec<RowError>,
    },
    /// The lake did not take the batch; nothing was acknowledged, the sender should retry.
    #[error("the lake could not store the batch; it was not acknowledged, retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Busy(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `outcome` label of the request metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::RequestTimeout(_) => "timeout",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Invalid { .. } => "invalid",
            ApiError::Conflict(_) => "conflict",
            ApiError::Busy(_) => "busy",
            ApiError::Unavailable(_) => "storage_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Logs the error: the client's mistakes as warnings, server trouble with its whole chain.
    pub fn log(&self, idempotency_key: Option<&str>) {
        let key = idempotency_key.unwrap_or("-");
        match self {
            ApiError::Unavailable(source) | ApiError::Internal(source) => {
                tracing::error!(
                    status = self.status().as_u16(),
                    idempotency_key = key,
                    "batch {key} not stored: {self}: {source:#}"
                );
            }
            other => {
                let first_row = match other {
                    ApiError::Invalid { rows, .. } => rows
                        .first()
                        .map(|r| format!(" (row {}: {})", r.index, r.reason))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                tracing::warn!(
                    status = other.status().as_u16(),
                    idempotency_key = key,
                    "batch {key} refused with {}: {other}{first_row}",
                    other.status()
                );
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<&'a [RowError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            // The source of a 5xx stays in the log: it may name internal hosts or paths.
            error: self.to_string(),
            rows: match &self {
                ApiError::Invalid { rows, .. } if !rows.is_empty() => Some(rows),
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
