//! Where the everyday commands run: against a running server's HTTP API
//! (remote mode, `--url` and `--key`), or through the service layer on the
//! database itself (local mode, `--data` / `--database-url`). Both answer in
//! the API's wire JSON and fail with the API's error codes and messages, so
//! output and errors do not depend on the mode.

use crate::codes::ErrorCode;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::{DatabaseArgs, open_existing_ca, open_existing_store};
use crate::api::ApiError;
use crate::api::wire::{KeyCreated, KeyDetails, RequestDetails, RequestObject, VIEW_ONLY_ROLE_ID};
use crate::model::{Page, RequestStatus, RequestType, UserStatus};
use crate::publish::Publisher;
use crate::service::{
    AutoApprove, Caller, CertificateRef, Context, Decision, NewUserInput, RequestFilter,
    RequestSort, RevokeInput, RevokeOutcome, RevokeTarget, Service, ServiceError, UserRef,
    parse_reason,
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
    /// Every request matching the filters, all pages.
    pub(super) async fn requests(
        &self,
        status: Option<RequestStatus>,
        kind: Option<RequestType>,
    ) -> CliResult<Vec<Value>> {
        match self {
            Backend::Remote(remote) => {
                let mut query = Vec::new();
                if let Some(status) = status {
                    query.push(("filters[status]", status.as_str().to_string()));
                }
                if let Some(kind) = kind {
                    query.push(("filters[type]", kind.as_str().to_string()));
                }
                remote.all_pages("/request", "requests", &query).await
            }
            Backend::Local(local) => local.requests(status, kind).await,
        }
    }

    pub(super) async fn decide(
        &self,
        request_id: i64,
        decision: Decision,
        comment: Option<&str>,
    ) -> CliResult<()> {
        match self {
            Backend::Remote(remote) => {
                let status = match decision {
                    Decision::Approve => "approved",
                    Decision::Reject => "rejected",
                };
                let body = json!({"status": status, "processor_comment": comment});
                remote
                    .call(
                        Method::PUT,
                        &format!("/request/{request_id}/status"),
                        Some(body),
                    )
                    .await?;
                Ok(())
            }
            Backend::Local(local) => Ok(local
                .service
                .decide(local.ctx(), request_id, decision, comment)
                .await?),
        }
    }

    /// Revokes a certificate named by id or serial number.
    pub(super) async fn revoke(
        &self,
        certificate: &str,
        reason: &str,
        comment: Option<&str>,
        skip_approval: bool,
    ) -> CliResult<Revoked> {
        // Checked before either mode: a line of a file may hold anything,
        // and only an id or a serial may go into an API path.
        let reference = CertificateRef::parse(certificate).ok_or_else(|| {
            CliError::InvalidArgument(format!(
                "{certificate:?} is not a certificate id or serial number (hex)"
            ))
        })?;
        match self {
            Backend::Remote(remote) => {
                let body = json!({
                    "revocation_reason": reason,
                    "comments": comment,
                    "skip_approval": skip_approval,
                });
                let path = match reference {
                    CertificateRef::Id(id) => format!("/certificate/{id}/revoke"),
                    CertificateRef::Serial(serial) => format!("/certificate/{serial}/revoke"),
                };
                Ok(match remote.call(Method::PUT, &path, Some(body)).await? {
                    Some(request) => Revoked::Requested(request),
                    None => Revoked::Now,
                })
            }
            Backend::Local(local) => {
                let input = RevokeInput {
                    reason: parse_reason(Some(reason))?,
                    comments: comment.map(str::to_owned),
                    skip_approval,
                };
                let target = RevokeTarget::Certificate(reference);
                Ok(
                    match local.service.revoke(local.ctx(), target, input).await? {
                        RevokeOutcome::Revoked => Revoked::Now,
                        RevokeOutcome::Requested(view) => {
                            Revoked::Requested(to_json(&RequestObject::from(view.as_ref())))
                        }
                    },
                )
            }
        }
    }

    /// A new key for a user; the answer holds the key in clear.
    pub(super) async fn create_key(
        &self,
        user: &str,
        view_only: bool,
        name: Option<&str>,
    ) -> CliResult<Value> {
        match self {
            Backend::Remote(remote) => {
                let user_id = remote.user_id(user).await?;
                let body = json!({
                    "restricted_to_role_id": if view_only { VIEW_ONLY_ROLE_ID } else { 0 },
                    "name": name,
                });
                remote
                    .call(Method::POST, &format!("/key/user/{user_id}"), Some(body))
                    .await?
                    .ok_or_else(|| empty_answer("key creation"))
            }
            Backend::Local(local) => {
                let (view, api_key) = local
                    .service
                    .create_api_key(local.ctx(), &UserRef::parse(user), view_only, name)
                    .await?;
                Ok(to_json(&KeyCreated {
                    id: view.key.id,
                    api_key,
                }))
            }
        }
    }

    pub(super) async fn revoke_key(&self, key_id: i64) -> CliResult<()> {
        match self {
            Backend::Remote(remote) => {
                let body = json!({"status": "revoked"});
                remote
                    .call(Method::PUT, &format!("/key/{key_id}/status"), Some(body))
                    .await?;
                Ok(())
            }
            Backend::Local(local) => Ok(local.service.revoke_api_key(local.ctx(), key_id).await?),
        }
    }

    /// Every key, or one user's: never a key or its hash.
    pub(super) async fn keys(&self, user: Option<&str>) -> CliResult<Vec<Value>> {
        match self {
            Backend::Remote(remote) => {
                let mut path = "/key".to_string();
                if let Some(user) = user {
                    path.push_str(&format!(
                        "?filters[user_id]={}",
                        remote.user_id(user).await?
                    ));
                }
                let answer = remote.call(Method::GET, &path, None).await?;
                Ok(list_field(answer, "keys"))
            }
            Backend::Local(local) => {
                let user = user.map(UserRef::parse);
                let keys = local.service.api_keys(local.ctx(), user.as_ref()).await?;
                Ok(keys
                    .iter()
                    .map(|view| to_json(&KeyDetails::from(view)))
                    .collect())
            }
        }
    }

    /// Disables or enables a user; returns their id and email.
    pub(super) async fn set_user_status(&self, user: &str, status: UserStatus) -> CliResult<Value> {
        match self {
            Backend::Remote(remote) => {
                let user_id = remote.user_id(user).await?;
                let body = json!({"status": status.as_str()});
                remote
                    .call(Method::PUT, &format!("/user/{user_id}/status"), Some(body))
                    .await?;
                let details = remote
                    .call(Method::GET, &format!("/user/{user_id}"), None)
                    .await?;
                Ok(details.unwrap_or_else(|| json!({"id": user_id})))
            }
            Backend::Local(local) => {
                let user = local
                    .service
                    .set_user_status(local.ctx(), &UserRef::parse(user), status)
                    .await?;
                Ok(to_json(&crate::api::wire::UserDetails::from(&user)))
            }
        }
    }
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn list_field(answer: Option<Value>, field: &str) -> Vec<Value> {
    match answer.and_then(|mut a| a.get_mut(field).map(Value::take)) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn empty_answer(what: &str) -> CliError {
    CliError::UnexpectedAnswer {
        status: StatusCode::NO_CONTENT,
        body: format!("no body in the answer to {what}"),
    }
}

/// A running server's HTTP API.
pub(super) struct Remote {
    client: reqwest::Client,
    /// The server's base URL, without the trailing slash.
    base: String,
    key: String,
}

impl Remote {
    pub(super) fn new(url: &str, key: &str) -> CliResult<Remote> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("certd-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Setup(format!("HTTP client: {e}")))?;
        Ok(Remote {
            client,
            base: url.trim_end_matches('/').to_string(),
            key: key.trim().to_string(),
        })
    }

    /// One `/services/v2` call: the JSON answer (`None` for 204), or the
    /// API's error list as [`CliError::Refused`].
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
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return match json {
                Some(value) => Ok(Some(value)),
                None if text.trim().is_empty() => Ok(None),
                None => Err(CliError::UnexpectedAnswer { status, body: text }),
            };
        }
        let refused =
            refusal(json.as_ref()).unwrap_or(CliError::UnexpectedAnswer { status, body: text });
        Err(match refused {
            CliError::Refused { code, message } if status == StatusCode::FORBIDDEN => {
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

    /// Every item of a paged list.
    async fn all_pages(
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

    /// A user's id, from an id or an email address.
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

/// The service layer on the database, acting as one administrator.
pub(super) struct Local {
    service: Service,
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
        Ok(Local { service, caller })
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            caller: &self.caller,
            request_id: None,
        }
    }

    async fn requests(
        &self,
        status: Option<RequestStatus>,
        kind: Option<RequestType>,
    ) -> CliResult<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            let filter = RequestFilter {
                requester_id: None,
                status,
                kind,
            };
            let page = Page {
                offset: items.len() as i64,
                limit: PAGE,
            };
            let (views, total) = self
                .service
                .list_requests(self.ctx(), filter, RequestSort::IdAscending, page)
                .await?;
            let done = views.is_empty();
            items.extend(views.iter().map(|v| to_json(&RequestDetails::from(v))));
            if done || items.len() as i64 >= total {
                return Ok(items);
            }
        }
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
