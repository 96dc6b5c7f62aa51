//! Where the everyday commands run: against a running server's HTTP API
//! (remote mode, `--url` and `--key`), or on the database itself (local
//! mode, `--data` / `--database-url`). Local mode serves the very same API
//! in-process (`api::in_process`), so every command is one set of
//! `/services/v2` calls whichever the mode: output and errors cannot differ.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{DatabaseArgs, open_existing_ca, open_existing_store};
use crate::api::wire::VIEW_ONLY_ROLE_ID;
use crate::api::{ApiError, LocalCaller};
use crate::codes::ErrorCode;
use crate::model::{RequestStatus, RequestType, UserStatus};
use crate::publish::Publisher;
use crate::service::{
    AutoApprove, Caller, CertificateRef, Decision, NewUserInput, Service, ServiceError, UserRef,
};

/// The most items one list call returns (the API's cap).
const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub(super) enum CliError {
    /// The server or the service refused: the contract's code and sentence.
    #[error("{message} ({code})")]
    Refused { code: String, message: String },
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("the server answered {status} without an error list: {body}")]
    UnexpectedAnswer { status: StatusCode, body: String },
    #[error("{0}")]
    Setup(String),
    /// An argument (or a line of a file) that no call could take.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{failed} of the file's certificates could not be revoked")]
    PartlyFailed { failed: usize },
    /// A watched campaign ended without revoking (rejected or canceled).
    #[error("{0}")]
    NotCompleted(String),
}

impl CliError {
    /// The human sentence alone, without the code.
    pub(super) fn message(&self) -> String {
        match self {
            CliError::Refused { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The contract's code, or a `cli_error|...` one for failures that
    /// never reached the API or the service.
    pub(super) fn code(&self) -> &str {
        match self {
            CliError::Refused { code, .. } => code,
            CliError::Unreachable(_) => "cli_error|unreachable",
            CliError::UnexpectedAnswer { .. } => "cli_error|unexpected_answer",
            CliError::Setup(_) | CliError::PartlyFailed { .. } => "cli_error|local",
            CliError::InvalidArgument(_) => "cli_error|invalid_argument",
            CliError::NotCompleted(_) => "cli_error|not_completed",
        }
    }
}

impl From<ApiError> for CliError {
    fn from(error: ApiError) -> Self {
        CliError::Refused {
            code: error.code().to_string(),
            message: error.message().to_string(),
        }
    }
}

impl From<ServiceError> for CliError {
    fn from(error: ServiceError) -> Self {
        ApiError::from(error).into()
    }
}

pub(super) type CliResult<T> = Result<T, CliError>;

/// What a revoke did.
pub(super) enum Revoked {
    /// At once (the API's 204).
    Now,
    /// A request was recorded (201): the request object.
    Requested(Value),
}

pub(super) enum Backend {
    Remote(Remote),
    Local(Box<Local>),
}

impl Backend {
    /// One `/services/v2` call: the JSON answer (`None` for 204), or the
    /// API's error list as [`CliError::Refused`].
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> CliResult<Option<Value>> {
        match self {
            Backend::Remote(remote) => remote.call(method, path, body).await,
            Backend::Local(local) => local.call(method, path, body).await,
        }
    }

    /// Every item of a paged list.
    pub(super) async fn all_pages(
        &self,
        path: &str,
        field: &str,
        filters: &[(&str, String)],
    ) -> CliResult<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            let mut query: Vec<(&str, String)> = filters.to_vec();
            query.push(("limit", PAGE.to_string()));
            query.push(("offset", items.len().to_string()));
            let query = serde_urlencoded::to_string(&query)
                .map_err(|e| CliError::Setup(format!("query: {e}")))?;
            let answer = self
                .call(Method::GET, &format!("{path}?{query}"), None)
                .await?;
            let total = answer
                .as_ref()
                .and_then(|a| a.pointer("/page/total"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let page = list_field(answer, field);
            let done = page.is_empty();
            items.extend(page);
            if done || items.len() as u64 >= total {
                return Ok(items);
            }
        }
    }

    /// A user's id, from an id or an email address (compared without case).
    async fn user_id(&self, user: &str) -> CliResult<i64> {
        match UserRef::parse(user) {
            UserRef::Id(id) => Ok(id),
            UserRef::Email(email) => self
                .all_pages("/user", "users", &[])
                .await?
                .iter()
                .find(|u| {
                    u["email"]
                        .as_str()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                })
                .and_then(|u| u["id"].as_i64())
                .ok_or_else(|| ApiError::not_found_by(ErrorCode::NoSuchUser, "email").into()),
        }
    }

    /// Every request matching the filters, all pages.
    pub(super) async fn requests(
        &self,
        status: Option<RequestStatus>,
        kind: Option<RequestType>,
    ) -> CliResult<Vec<Value>> {
        let mut query = Vec::new();
        if let Some(status) = status {
            query.push(("filters[status]", status.as_str().to_string()));
        }
        if let Some(kind) = kind {
            query.push(("filters[type]", kind.as_str().to_string()));
        }
        self.all_pages("/request", "requests", &query).await
    }

    pub(super) async fn decide(
        &self,
        request_id: i64,
        decision: Decision,
        comment: Option<&str>,
    ) -> CliResult<()> {
        let status = match decision {
            Decision::Approve => RequestStatus::Approved,
            Decision::Reject => RequestStatus::Rejected,
        };
        let body = json!({"status": status.as_str(), "processor_comment": comment});
        self.call(
            Method::PUT,
            &format!("/request/{request_id}/status"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// Revokes a certificate named by id or serial number.
    pub(super) async fn revoke(
        &self,
        certificate: &str,
        reason: &str,
        comment: Option<&str>,
        skip_approval: bool,
    ) -> CliResult<Revoked> {
        // A line of a file may hold anything, and only an id or a serial may
        // go into an API path.
        let path = match CertificateRef::parse(certificate) {
            Some(CertificateRef::Id(id)) => format!("/certificate/{id}/revoke"),
            Some(CertificateRef::Serial(serial)) => format!("/certificate/{serial}/revoke"),
            None => {
                return Err(CliError::InvalidArgument(format!(
                    "{certificate:?} is not a certificate id or serial number (hex)"
                )));
            }
        };
        let body = json!({
            "revocation_reason": reason,
            "comments": comment,
            "skip_approval": skip_approval,
        });
        Ok(match self.call(Method::PUT, &path, Some(body)).await? {
            Some(request) => Revoked::Requested(request),
            None => Revoked::Now,
        })
    }

    /// A new key for a user; the answer holds the key in clear.
    pub(super) async fn create_key(
        &self,
        user: &str,
        view_only: bool,
        name: Option<&str>,
    ) -> CliResult<Value> {
        let user_id = self.user_id(user).await?;
        let body = json!({
            "restricted_to_role_id": if view_only { VIEW_ONLY_ROLE_ID } else { 0 },
            "name": name,
        });
        self.call(Method::POST, &format!("/key/user/{user_id}"), Some(body))
            .await?
            .ok_or_else(|| empty_answer("key creation"))
    }

    pub(super) async fn revoke_key(&self, key_id: i64) -> CliResult<()> {
        let body = json!({"status": "revoked"});
        self.call(Method::PUT, &format!("/key/{key_id}/status"), Some(body))
            .await?;
        Ok(())
    }

    /// Every key, or one user's: never a key or its hash.
    pub(super) async fn keys(&self, user: Option<&str>) -> CliResult<Vec<Value>> {
        let mut path = "/key".to_string();
        if let Some(user) = user {
            path.push_str(&format!("?filters[user_id]={}", self.user_id(user).await?));
        }
        let answer = self.call(Method::GET, &path, None).await?;
        Ok(list_field(answer, "keys"))
    }

    /// Disables or enables a user; returns their details.
    pub(super) async fn set_user_status(&self, user: &str, status: UserStatus) -> CliResult<Value> {
        let user_id = self.user_id(user).await?;
        let body = json!({"status": status.as_str()});
        self.call(Method::PUT, &format!("/user/{user_id}/status"), Some(body))
            .await?;
        let details = self
            .call(Method::GET, &format!("/user/{user_id}"), None)
            .await?;
        Ok(details.unwrap_or_else(|| json!({"id": user_id})))
    }

    /// A new ACME External Account Binding credential for a user (id or
    /// email): `{"kid","hmac_key","user_id"}`. For oneself the body names
    /// nobody, so that a user's own key works remotely too.
    pub(super) async fn create_eab_credential(&self, user: &str) -> CliResult<Value> {
        let me = self
            .call(Method::GET, "/user/me", None)
            .await?
            .unwrap_or_default();
        let is_me = match UserRef::parse(user) {
            UserRef::Id(id) => me["id"].as_i64() == Some(id),
            UserRef::Email(email) => me["email"]
                .as_str()
                .is_some_and(|mine| mine.eq_ignore_ascii_case(&email)),
        };
        let body = if is_me {
            json!({})
        } else {
            json!({"user_id": self.user_id(user).await?})
        };
        self.call(Method::POST, "/acme/eab", Some(body))
            .await?
            .ok_or_else(|| empty_answer("ACME credential creation"))
    }

    /// Adds a user (`POST /user`) and returns their first API key.
    pub(super) async fn add_user(&self, user: &NewUserInput) -> CliResult<String> {
        let body = json!({
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "access_roles": [{"id": user.role.certcentral_id()}],
            "restricted_to_role_id": if user.view_only { VIEW_ONLY_ROLE_ID } else { 0 },
        });
        let created = self
            .call(Method::POST, "/user", Some(body))
            .await?
            .ok_or_else(|| empty_answer("user creation"))?;
        created["api_key"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::UnexpectedAnswer {
                status: StatusCode::CREATED,
                body: "no api_key in the answer to user creation".into(),
            })
    }
}

fn list_field(answer: Option<Value>, field: &str) -> Vec<Value> {
    match answer.and_then(|mut a| a.get_mut(field).map(Value::take)) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

pub(super) fn empty_answer(what: &str) -> CliError {
    CliError::UnexpectedAnswer {
        status: StatusCode::NO_CONTENT,
        body: format!("no body in the answer to {what}"),
    }
}

/// An answer, either mode's: its JSON (`None` when empty), or the first
/// error of its error list.
fn read_answer(status: StatusCode, text: String) -> CliResult<Option<Value>> {
    let json: Option<Value> = serde_json::from_str(&text).ok();
    if status.is_success() {
        return match json {
            Some(value) => Ok(Some(value)),
            None if text.trim().is_empty() => Ok(None),
            None => Err(CliError::UnexpectedAnswer { status, body: text }),
        };
    }
    Err(refusal(json.as_ref()).unwrap_or(CliError::UnexpectedAnswer { status, body: text }))
}

/// A running server's HTTP API.
pub(super) struct Remote {
    client: reqwest::Client,
    /// The server's base URL, without the trailing slash.
    base: String,
    key: String,
}

impl Remote {
    /// `ca_cert`: a PEM file of roots to trust besides the system's.
    pub(super) fn new(url: &str, key: &str, ca_cert: Option<&Path>) -> CliResult<Remote> {
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("certd-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(file) = ca_cert {
            let pem = std::fs::read(file).map_err(|e| {
                CliError::Setup(format!("cannot read --ca-cert {}: {e}", file.display()))
            })?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CliError::Setup(format!(
                    "--ca-cert {} holds no PEM certificate: {e}",
                    file.display()
                ))
            })?;
            if roots.is_empty() {
                return Err(CliError::Setup(format!(
                    "--ca-cert {} holds no PEM certificate",
                    file.display()
                )));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let client = builder
            .build()
            .map_err(|e| CliError::Setup(format!("HTTP client: {e}")))?;
        Ok(Remote {
            client,
            base: url.trim_end_matches('/').to_string(),
            key: key.trim().to_string(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> CliResult<Option<Value>> {
        let url = format!("{}/services/v2{path}", self.base);
        let mut request = self
            .client
            .request(method, &url)
            .header("X-DC-DEVKEY", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| CliError::Unreachable(format!("{}: {e}", self.base)))?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| CliError::Unreachable(e.to_string()))?;
        read_answer(status, text).map_err(|refused| match refused {
            // Only a remote call has a key to get wrong; the two-person
            // rule's refusal is about who asked, not about the key.
            CliError::Refused { code, message }
                if status == StatusCode::FORBIDDEN && code != ErrorCode::OwnRequest.as_str() =>
            {
                CliError::Refused {
                    code,
                    message: format!(
                        "{message} Give an administrator's API key with --key or CERTD_API_KEY."
                    ),
                }
            }
            other => other,
        })
    }
}

/// The first error of an error list, with the others' messages appended.
fn refusal(answer: Option<&Value>) -> Option<CliError> {
    let errors = answer?.get("errors")?.as_array()?;
    let first = errors.first()?;
    let message = errors
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Some(CliError::Refused {
        code: first["code"].as_str().unwrap_or_default().to_string(),
        message,
    })
}

/// The API served in-process on the database, called as one administrator.
pub(super) struct Local {
    api: axum::Router,
    caller: Caller,
}

impl Local {
    /// Opens the database and the CA of a server's data directory; never
    /// makes either. Certificates an approval issues name the deployment's
    /// stored public URL.
    pub(super) async fn open(database: &DatabaseArgs, acting_as: Option<&str>) -> CliResult<Local> {
        let store = Arc::new(
            open_existing_store(database)
                .await
                .map_err(CliError::Setup)?,
        );
        let ca = Arc::new(
            open_existing_ca(database, &store)
                .await
                .map_err(CliError::Setup)?,
        );
        let publisher = Arc::new(Publisher::detached(Arc::clone(&store), Arc::clone(&ca)));
        let service = Service::new(store, ca, publisher, AutoApprove::default());
        let caller = service.local_administrator(acting_as).await?;
        Ok(Local {
            api: crate::api::in_process(Arc::new(service)),
            caller,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> CliResult<Option<Value>> {
        let body = match body {
            Some(body) => Body::from(body.to_string()),
            None => Body::empty(),
        };
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("/services/v2{path}"))
            .header("content-type", "application/json")
            .extension(LocalCaller(self.caller.clone()))
            .body(body)
            .map_err(|e| CliError::Setup(format!("request: {e}")))?;
        let answer = match self.api.clone().oneshot(request).await {
            Ok(answer) => answer,
            Err(never) => match never {},
        };
        let status = answer.status();
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .map_err(|e| CliError::Setup(format!("answer: {e}")))?;
        read_answer(status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_first_code_and_every_message() {
        let answer = json!({"errors": [
            {"code": "invalid_csr|csr", "message": "The CSR is unusable."},
            {"code": "invalid_name|dns", "message": "Bad name."},
        ]});
        match refusal(Some(&answer)) {
            Some(CliError::Refused { code, message }) => {
                assert_eq!(code, "invalid_csr|csr");
                assert_eq!(message, "The CSR is unusable. Bad name.");
            }
            other => panic!("not a refusal: {other:?}"),
        }
        assert!(refusal(Some(&json!({"status": "ok"}))).is_none());
        assert!(refusal(None).is_none());
    }
}
