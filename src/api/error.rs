//! The one place where errors become HTTP answers: the contract's JSON error
//! list, `{"errors":[{"code":"family|detail","message":"..."}]}`.

use super::wire::{ErrorItem, ErrorList};
use crate::codes::ErrorCode;
use crate::service::ServiceError;
use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    /// An answer with `code`'s status.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::with_status(status, code, message)
    }

    /// An answer with `code`'s own sentence.
    pub(crate) fn of(code: ErrorCode) -> ApiError {
        ApiError::new(code, code.default_message())
    }

    /// For the one code that goes with whatever status the HTTP layer chose.
    fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The contract's `family|detail` code.
    pub(crate) fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The human sentence.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// `code` is a `not_found|...` one.
    pub(crate) fn not_found(code: ErrorCode) -> ApiError {
        ApiError::not_found_by(code, "id")
    }

    /// Not found when looked up by something other than the id (an email).
    pub(crate) fn not_found_by(code: ErrorCode, by: &str) -> ApiError {
        let what = code.detail();
        ApiError::new(
            code,
            format!("No {what} with that {by} exists, or it is not visible to this API key."),
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidKey => ApiError::of(ErrorCode::InvalidKey),
            ServiceError::MissingPermission(message) => {
                ApiError::new(ErrorCode::MissingPermission, message)
            }
            ServiceError::NotFound { code, by } => ApiError::not_found_by(code, by),
            ServiceError::Refused { code, message } => ApiError::new(code, message),
            ServiceError::Unavailable => ApiError::of(ErrorCode::DatabaseUnavailable),
            ServiceError::SignerUnavailable => ApiError::of(ErrorCode::SignerUnavailable),
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::of(ErrorCode::Internal)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = ErrorList {
            errors: vec![ErrorItem {
                code: self.code.as_str().to_string(),
                message: self.message,
            }],
        };
        (self.status, Json(body)).into_response()
    }
}

/// Middleware: error answers produced outside the handlers (unknown route,
/// method not allowed, body limit, timeout, panic) get the JSON error list
/// too, keeping their headers (such as `Allow`).
pub(super) async fn json_error_bodies(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json")
                || v.as_bytes().starts_with(b"application/problem+json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::of(ErrorCode::NoSuchRoute),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::of(ErrorCode::MethodNotAllowed),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::of(ErrorCode::RequestTooLarge),
        StatusCode::REQUEST_TIMEOUT => ApiError::of(ErrorCode::RequestTimeout),
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::of(ErrorCode::Internal),
        other => ApiError::with_status(
            other,
            ErrorCode::BadRequest,
            other
                .canonical_reason()
                .unwrap_or(ErrorCode::BadRequest.default_message()),
        ),
    };
    let (mut parts, _) = response.into_parts();
    let replacement = error.into_response();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, replacement.into_body())
}
