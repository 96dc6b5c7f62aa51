//! The one place where errors become HTTP answers: the contract's JSON error
//! list, `{"errors":[{"code":"family|detail","message":"..."}]}`.

use super::wire::{ErrorItem, ErrorList};
use crate::service::ServiceError;
use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The contract's `family|detail` code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human sentence.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::not_found_by(what, "id")
    }

    /// Not found when looked up by something other than the id (an email).
    pub fn not_found_by(what: &str, by: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("not_found|{what}"),
            format!("No {what} with that {by} exists, or it is not visible to this API key."),
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidKey => ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied|access_denied_invalid_key",
                "The X-DC-DEVKEY header is missing or does not name an active API key.",
            ),
            ServiceError::MissingPermission(message) => ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied|missing_permission",
                message,
            ),
            ServiceError::NotFound { what, by } => ApiError::not_found_by(what, by),
            ServiceError::Invalid { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            ServiceError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            ServiceError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable|database",
                "The database is unavailable; try again shortly.",
            ),
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                internal_error()
            }
        }
    }
}

fn internal_error() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error|internal",
        "An internal error occurred; it has been logged.",
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = ErrorList {
            errors: vec![ErrorItem {
                code: self.code,
                message: self.message,
            }],
        };
        (self.status, Json(body)).into_response()
    }
}

/// Middleware: error answers produced outside the handlers (unknown route,
/// method not allowed, body limit, timeout, panic) get the JSON error list
/// too, keeping their headers (such as `Allow`).
pub async fn json_error_bodies(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::new(status, "not_found|route", "No such endpoint."),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed|method",
            "This endpoint does not support that HTTP method; the Allow header lists those it does.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "request_too_large|body_over_64_kib",
            "The request body is larger than 64 KiB.",
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            status,
            "request_timeout|timeout",
            "The request took too long and was abandoned; nothing was changed.",
        ),
        StatusCode::INTERNAL_SERVER_ERROR => internal_error(),
        other => ApiError::new(
            other,
            "bad_request_format|http",
            other
                .canonical_reason()
                .unwrap_or("The request could not be handled."),
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
