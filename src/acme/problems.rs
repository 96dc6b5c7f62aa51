//! Every ACME error certd answers with: RFC 7807 problem documents with
//! RFC 8555's `urn:ietf:params:acme:error:*` types (RFC 9773 adds none we
//! use). The service names an `ErrorCode`; this is the one place that says
//! which problem type and status each code is for an ACME client.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::codes::ErrorCode;
use crate::service::ServiceError;

/// RFC 8555 §6.7's error types that certd uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProblemType {
    AccountDoesNotExist,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Tls,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
}

impl ProblemType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProblemType::AccountDoesNotExist => "accountDoesNotExist",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadCsr => "badCSR",
            ProblemType::BadNonce => "badNonce",
            ProblemType::BadPublicKey => "badPublicKey",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm",
            ProblemType::Connection => "connection",
            ProblemType::Dns => "dns",
            ProblemType::ExternalAccountRequired => "externalAccountRequired",
            ProblemType::IncorrectResponse => "incorrectResponse",
            ProblemType::InvalidContact => "invalidContact",
            ProblemType::Malformed => "malformed",
            ProblemType::OrderNotReady => "orderNotReady",
            ProblemType::RateLimited => "rateLimited",
            ProblemType::RejectedIdentifier => "rejectedIdentifier",
            ProblemType::ServerInternal => "serverInternal",
            ProblemType::Tls => "tls",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::UnsupportedContact => "unsupportedContact",
            ProblemType::UnsupportedIdentifier => "unsupportedIdentifier",
        }
    }

    /// The type a validator or JWS check reports by name.
    pub(crate) fn from_name(name: &str) -> ProblemType {
        [
            ProblemType::BadPublicKey,
            ProblemType::BadSignatureAlgorithm,
            ProblemType::Connection,
            ProblemType::Dns,
            ProblemType::IncorrectResponse,
            ProblemType::RejectedIdentifier,
            ProblemType::ServerInternal,
            ProblemType::Tls,
            ProblemType::Unauthorized,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
        .unwrap_or(ProblemType::Malformed)
    }

    pub(crate) fn urn(self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.name())
    }

    /// The problem type of each service refusal.
    fn of_code(code: ErrorCode) -> ProblemType {
        use ErrorCode::*;
        match code {
            InvalidCsr | CsrNamesMismatch | BadSignatureHash | BadValidity => ProblemType::BadCsr,
            KeyBlocked => ProblemType::BadPublicKey,
            InvalidDnsName | TooManyDnsNames | WildcardNotOrdered => {
                ProblemType::RejectedIdentifier
            }
            CertificateAlreadyRevoked | OrderAlreadyRevoked => ProblemType::AlreadyRevoked,
            ForbiddenReason | UnknownReason => ProblemType::BadRevocationReason,
            ExternalAccountRequired => ProblemType::ExternalAccountRequired,
            AcmeAccountMissing => ProblemType::AccountDoesNotExist,
            AcmeOrderNotReady => ProblemType::OrderNotReady,
            InvalidKey
            | MissingPermission
            | ViewOnlyKey
            | EabUnknown
            | EabAlreadyBound
            | AcmeAccountNotValid
            | NotAuthorizedToRevoke
            | UserDisabled => ProblemType::Unauthorized,
            RateLimited => ProblemType::RateLimited,
            Internal | DatabaseUnavailable => ProblemType::ServerInternal,
            _ => ProblemType::Malformed,
        }
    }

    /// The status RFC 8555 gives each type where the code's own does not fit.
    fn status(self, code_status: u16) -> StatusCode {
        let status = match self {
            ProblemType::Unauthorized | ProblemType::OrderNotReady => 403,
            ProblemType::ServerInternal | ProblemType::RateLimited => code_status,
            ProblemType::Malformed => code_status,
            _ => 400,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
    }
}

/// A problem document with its HTTP status.
#[derive(Debug)]
pub(crate) struct Problem {
    pub kind: ProblemType,
    pub status: StatusCode,
    pub detail: String,
    /// badSignatureAlgorithm lists what is accepted (RFC 8555 §6.2).
    pub algorithms: Option<&'static [&'static str]>,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind: String,
    detail: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    algorithms: Option<&'static [&'static str]>,
}

impl Problem {
    pub(crate) fn new(kind: ProblemType, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            status: kind.status(400),
            detail: detail.into(),
            algorithms: None,
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Problem {
        self.status = status;
        self
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::Malformed, detail)
    }

    pub(crate) fn not_found() -> Problem {
        Problem::malformed("No such ACME resource.").with_status(StatusCode::NOT_FOUND)
    }

    /// The document as JSON text (an invalid challenge or order keeps it).
    pub(crate) fn document(&self) -> serde_json::Value {
        serde_json::to_value(Document {
            kind: self.kind.urn(),
            detail: &self.detail,
            status: self.status.as_u16(),
            algorithms: self.algorithms,
        })
        .unwrap_or_default()
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Problem {
        match error {
            ServiceError::Refused { code, message } => {
                let kind = ProblemType::of_code(code);
                Problem::new(kind, message).with_status(kind.status(code.status()))
            }
            ServiceError::NotFound { code, .. } => {
                Problem::malformed(code.default_message()).with_status(StatusCode::NOT_FOUND)
            }
            ServiceError::InvalidKey | ServiceError::MissingPermission(_) => {
                Problem::new(ProblemType::Unauthorized, error.to_string())
            }
            ServiceError::Unavailable => Problem::new(
                ProblemType::ServerInternal,
                ErrorCode::DatabaseUnavailable.default_message(),
            )
            .with_status(StatusCode::SERVICE_UNAVAILABLE),
            ServiceError::SignerUnavailable => Problem::new(
                ProblemType::ServerInternal,
                ErrorCode::SignerUnavailable.default_message(),
            )
            .with_status(StatusCode::SERVICE_UNAVAILABLE),
            ServiceError::Internal(details) => {
                tracing::error!(%details, "ACME request failed");
                Problem::new(
                    ProblemType::ServerInternal,
                    ErrorCode::Internal.default_message(),
                )
                .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> axum::response::Response {
        let body = self.document().to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// What the HTTP layer answers by itself under `/acme` (unknown path, wrong
/// method, body too large) becomes a problem document too.
pub(crate) async fn problem_bodies(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "No such ACME resource.",
        StatusCode::METHOD_NOT_ALLOWED => {
            "ACME resources take POST (with a JWS body); the directory, nonces and renewal \
             information also take GET."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than 64 KiB.",
        _ => status
            .canonical_reason()
            .unwrap_or("The request could not be handled."),
    };
    let kind = if status.is_server_error() {
        ProblemType::ServerInternal
    } else {
        ProblemType::Malformed
    };
    let (mut parts, _) = response.into_parts();
    let replacement = Problem::new(kind, detail)
        .with_status(status)
        .into_response();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, replacement.into_body())
}
