//! Request extractors: the API key, tolerant JSON bodies, ids and list queries.

use crate::codes::ErrorCode;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use super::observe::CallerSlot;
use crate::model::Page;
use crate::service::{Caller, Context};

pub(super) const API_KEY_HEADER: &str = "x-dc-devkey";
pub(super) const REQUEST_ID_HEADER: &str = "x-request-id";
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;
pub(super) const DEFAULT_LIST_LIMIT: i64 = 1000;
pub(super) const MAX_LIST_LIMIT: i64 = 1000;

/// The caller of a request made in-process by the command line's local
/// mode (`api::in_process`): set as a request extension, which only code in
/// this process can do, so the network can never claim it.
#[derive(Clone)]
pub(crate) struct LocalCaller(pub(crate) Caller);

/// The authenticated caller and the request id the audit log records.
pub(super) struct Auth {
    pub caller: Caller,
    pub request_id: Option<String>,
}

impl Auth {
    pub(super) fn ctx(&self) -> Context<'_> {
        Context {
            caller: &self.caller,
            request_id: self.request_id.as_deref(),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(LocalCaller(caller)) = parts.extensions.get::<LocalCaller>() {
            return Ok(Auth {
                caller: caller.clone(),
                request_id: None,
            });
        }
        let key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let caller = state.service.authenticate(key).await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.record(caller.user.id);
        }
        // CertCentral restriction 102: a view-only key may only read.
        if caller.view_only && !matches!(parts.method, Method::GET | Method::HEAD) {
            return Err(ApiError::new(
                ErrorCode::ViewOnlyKey,
                "This API key is view-only; it may only make GET calls.",
            ));
        }
        let request_id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Auth { caller, request_id })
    }
}

/// A JSON body, whatever the `Content-Type` says (clients send
/// `application/json`, `text/plain` or nothing). An empty body is `{}`;
/// unknown fields are ignored.
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::RequestTooLarge,
                    "The request body is larger than 64 KiB.",
                )
            } else {
                ApiError::new(
                    ErrorCode::UnreadableBody,
                    "The request body could not be read.",
                )
            }
        })?;
        parse_json_body(&bytes).map(JsonBody)
    }
}

pub(super) fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::MalformedJson,
            "The request body is not UTF-8 text.",
        )
    })?;
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("The request body is not valid JSON: {e}."),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::NotAnObject,
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidField,
            format!("The request body has an invalid field: {e}."),
        )
    })
}

/// A positive integer id from a path; anything else is "not found"
/// (`missing`, a `not_found|...` code).
pub(super) fn path_id(text: &str, missing: ErrorCode) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(missing))
}

/// `offset`, `limit`, `sort` and `filters[...]` of a list call. Query keys may
/// arrive percent-encoded (`filters%5Bstatus%5D`); decoding handles both.
pub(super) struct ListQuery {
    pub page: Page,
    pub sort: Option<String>,
    pub filters: HashMap<String, String>,
}

impl ListQuery {
    /// An unknown filter is refused rather than ignored: a script that bulk-revokes
    /// a search result must never get every object because of a typo.
    pub(super) fn parse(
        query: Option<&str>,
        allowed_filters: &[&str],
    ) -> Result<ListQuery, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| {
                ApiError::new(ErrorCode::BadQuery, "The query string cannot be decoded.")
            })?;
        let mut list = ListQuery {
            page: Page {
                offset: 0,
                limit: DEFAULT_LIST_LIMIT,
            },
            sort: None,
            filters: HashMap::new(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "offset" => list.page.offset = paging_number("offset", &value, 0)?,
                "limit" => list.page.limit = paging_number("limit", &value, 1)?.min(MAX_LIST_LIMIT),
                "sort" => list.sort = Some(value),
                _ => {
                    let Some(name) = key
                        .strip_prefix("filters[")
                        .and_then(|k| k.strip_suffix(']'))
                    else {
                        continue; // other parameters (cache busters and the like) are ignored
                    };
                    if !allowed_filters.contains(&name) {
                        return Err(ApiError::new(
                            ErrorCode::UnknownFilter,
                            format!(
                                "Unknown filter {name:?}; this list accepts: {}.",
                                allowed_filters.join(", ")
                            ),
                        ));
                    }
                    list.filters.insert(name.to_string(), value);
                }
            }
        }
        Ok(list)
    }
}

fn paging_number(name: &str, value: &str, minimum: i64) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= minimum)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadPaging,
                format!("{name} must be an integer of at least {minimum}, not {value:?}."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_decodes_encoded_filter_keys_and_caps_limit() {
        let q = ListQuery::parse(
            Some("filters%5Bstatus%5D=pending&limit=5000&offset=2"),
            &["status"],
        )
        .unwrap();
        assert_eq!(q.filters.get("status").map(String::as_str), Some("pending"));
        assert_eq!(q.page.limit, MAX_LIST_LIMIT);
        assert_eq!(q.page.offset, 2);
        assert!(ListQuery::parse(Some("filters[stauts]=pending"), &["status"]).is_err());
        assert!(ListQuery::parse(Some("limit=-1"), &["status"]).is_err());
    }

    #[test]
    fn json_bodies() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            flag: Option<bool>,
        }
        assert_eq!(parse_json_body::<Body>(b"").unwrap().flag, None);
        assert_eq!(
            parse_json_body::<Body>(b"{\"flag\":true,\"x\":1}")
                .unwrap()
                .flag,
            Some(true)
        );
        assert!(parse_json_body::<Body>(b"{\"flag\":\"yes\"}").is_err());
        assert!(parse_json_body::<Body>(b"[]").is_err());
        assert!(parse_json_body::<Body>(b"{").is_err());
    }
}
