//! ACME's JSON objects (RFC 8555 §7.1, RFC 9773 §4.2), apart from the
//! domain types they are made from; every conversion is here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::problems::{Problem, ProblemType};
use crate::ca::PublicUrls;
use crate::model::acme::{Account, Authorization, Challenge};
use crate::service::{AcmeOrderView, RenewalWindow};

/// RFC 3339, as ACME writes times.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub revoke_cert: String,
    pub key_change: String,
    pub renewal_info: String,
    pub meta: DirectoryMeta,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryMeta {
    pub external_account_required: bool,
    pub website: String,
}

impl Directory {
    pub(crate) fn new(urls: &PublicUrls, external_account_required: bool) -> Directory {
        Directory {
            new_nonce: urls.acme("/new-nonce"),
            new_account: urls.acme("/new-account"),
            new_order: urls.acme("/new-order"),
            revoke_cert: urls.acme("/revoke-cert"),
            key_change: urls.acme("/key-change"),
            renewal_info: urls.acme("/renewal-info"),
            meta: DirectoryMeta {
                external_account_required,
                website: urls.acme("/directory"),
            },
        }
    }
}

/// newAccount's payload (RFC 8555 §7.3).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewAccountPayload {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub only_return_existing: bool,
    #[serde(default)]
    pub external_account_binding: Option<Value>,
}

/// An account update (RFC 8555 §7.3.2, §7.3.6).
#[derive(Deserialize, Default)]
pub(crate) struct AccountUpdate {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct AccountObject {
    pub status: &'static str,
    pub contact: Vec<String>,
    pub orders: String,
    #[serde(
        rename = "externalAccountBinding",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_account_binding: Option<Value>,
}

impl AccountObject {
    pub(crate) fn new(urls: &PublicUrls, account: &Account) -> AccountObject {
        AccountObject {
            status: account.status.as_str(),
            contact: account.contact.clone(),
            orders: urls.acme(&format!("/acct/{}/orders", account.id)),
            external_account_binding: None,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct OrderList {
    pub orders: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Serialize)]
struct IdentifierObject<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
}

/// newOrder's payload. `notBefore`/`notAfter` are refused: certd decides
/// validity (RFC 8555 lets a server do so).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewOrderPayload {
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderObject<'a> {
    status: &'static str,
    expires: String,
    identifiers: Vec<IdentifierObject<'a>>,
    authorizations: Vec<String>,
    finalize: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

impl<'a> OrderObject<'a> {
    pub(crate) fn new(urls: &PublicUrls, view: &'a AcmeOrderView, error: Option<Value>) -> Self {
        let order = &view.order;
        OrderObject {
            status: view.status.as_str(),
            expires: rfc3339(order.expires_at),
            identifiers: order
                .identifiers
                .iter()
                .map(|name| IdentifierObject {
                    kind: "dns",
                    value: name,
                })
                .collect(),
            authorizations: view
                .authorizations
                .iter()
                .map(|id| urls.acme(&format!("/authz/{id}")))
                .collect(),
            finalize: urls.acme(&format!("/order/{}/finalize", order.id)),
            certificate: view
                .certificate_id
                .map(|id| urls.acme(&format!("/cert/{id}"))),
            replaces: order.replaces.as_deref(),
            error,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct FinalizePayload {
    pub csr: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeObject {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    status: &'static str,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    validated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

impl ChallengeObject {
    pub(crate) fn new(urls: &PublicUrls, challenge: &Challenge) -> ChallengeObject {
        ChallengeObject {
            kind: challenge.kind.clone(),
            url: urls.acme(&format!("/chall/{}", challenge.id)),
            status: challenge.status.as_str(),
            token: challenge.token.clone(),
            validated: challenge.validated_at.map(rfc3339),
            error: challenge.error.as_deref().map(failure_document),
        }
    }
}

/// A failed validation, stored as `{"type": "<RFC 8555 type name>",
/// "detail"}`, as the problem document RFC 8555 §8 puts in the challenge.
fn failure_document(stored: &str) -> Value {
    let stored: Value = serde_json::from_str(stored).unwrap_or_default();
    let kind = stored["type"].as_str().unwrap_or_default();
    let detail = stored["detail"]
        .as_str()
        .unwrap_or("The validation failed.");
    Problem::new(ProblemType::from_name(kind), detail).document()
}

#[derive(Serialize)]
pub(crate) struct AuthorizationObject<'a> {
    identifier: IdentifierObject<'a>,
    status: &'static str,
    expires: String,
    challenges: Vec<ChallengeObject>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    wildcard: bool,
}

impl<'a> AuthorizationObject<'a> {
    pub(crate) fn new(
        urls: &PublicUrls,
        authorization: &'a Authorization,
        challenges: &[Challenge],
    ) -> Self {
        AuthorizationObject {
            identifier: IdentifierObject {
                kind: "dns",
                value: &authorization.name,
            },
            status: authorization.status.as_str(),
            expires: rfc3339(authorization.expires_at),
            challenges: challenges
                .iter()
                .map(|c| ChallengeObject::new(urls, c))
                .collect(),
            wildcard: authorization.wildcard,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RevokePayload {
    pub certificate: String,
    #[serde(default)]
    pub reason: Option<i64>,
}

/// keyChange's inner payload (RFC 8555 §7.3.5).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyChangePayload {
    pub account: String,
    pub old_key: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenewalInfo {
    suggested_window: Window,
}

#[derive(Serialize)]
struct Window {
    start: String,
    end: String,
}

impl From<RenewalWindow> for RenewalInfo {
    fn from(window: RenewalWindow) -> RenewalInfo {
        RenewalInfo {
            suggested_window: Window {
                start: rfc3339(window.start),
                end: rfc3339(window.end),
            },
        }
    }
}
