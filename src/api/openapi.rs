//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types, so that it cannot drift
//! from the code unnoticed (`tests/api/openapi.rs` checks real answers
//! against it). Served at `/services/v2/openapi.json` without a key: it is
//! public documentation and names nothing but the API's shape.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::wire::{self, ErrorList};
use super::{
    account, blocked_keys, campaigns, certificates, eab, metrics, orders, publication, requests,
    users,
};
use crate::model::{
    CampaignCertificateStatus, CampaignStatus, CertificateStatus, KeyStatus, OrderStatus, Product,
    RequestStatus, RequestType, RevocationReason, Role, UserStatus,
};

/// Where the document is served.
pub(super) const DOCUMENT_PATH: &str = "/services/v2/openapi.json";
/// The security scheme's name in the document.
const API_KEY_SCHEME: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "certd",
        description = "A certificate revocation service speaking DigiCert CertCentral's REST API. \
            Every `/services/v2` call but this document's needs an `X-DC-DEVKEY` key. Every \
            error is a JSON error list, `{\"errors\":[{\"code\":\"family|detail\",\"message\"}]}`, \
            also for an unknown path (404 `not_found|route`) and for a method a path does not \
            support (405, with an `Allow` header)."
    ),
    paths(
        account::user_me,
        account::audit_log,
        orders::list_orders,
        orders::order_details,
        orders::place_order,
        orders::reissue,
        orders::set_order_status,
        orders::revoke_order,
        certificates::certificate_details,
        certificates::revoke_certificate,
        certificates::download_format,
        certificates::download_platform,
        requests::list_requests,
        requests::request_details,
        requests::set_request_status,
        users::list_users,
        users::add_user,
        users::user_details,
        users::set_user_status,
        users::list_keys,
        users::create_key,
        users::set_key_status,
        blocked_keys::list_blocked_keys,
        eab::create_eab_credential,
        campaigns::create_campaign,
        campaigns::list_campaigns,
        campaigns::campaign_details,
        campaigns::set_campaign_status,
        campaigns::hold_certificate,
        campaigns::campaign_certificates,
        document,
        account::health,
        publication::crl_index,
        publication::crl_shard,
        publication::ocsp_post,
        publication::ocsp_get,
        publication::chain_pem,
        publication::issuer_der,
        metrics::render,
    ),
    components(schemas(ErrorList)),
    modifiers(&CommonAnswers, &ReasonHelp),
    tags(
        (name = "account", description = "The caller's user and the audit log"),
        (name = "orders", description = "Ordering, reissuing, canceling and revoking orders"),
        (name = "certificates", description = "Certificate details, downloads and the revoke endpoint"),
        (name = "requests", description = "The approval workflow"),
        (name = "users", description = "Administering users and API keys; administrators only"),
        (name = "campaigns", description = "Revocation campaigns: select many certificates, approve (two people), schedule, hold, revoke in batches and follow; administrators only"),
        (name = "acme", description = "Credentials for ACME clients (External Account Binding); the ACME server itself is at `/acme/directory`"),
        (name = "publication", description = "Health, CRLs, OCSP and the CA chain; no key needed"),
    )
)]
pub(super) struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    // Serializing maps with string keys and plain values cannot fail.
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes")
});

/// `GET /services/v2/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/services/v2/openapi.json",
    tag = "account",
    operation_id = "openapi_document",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
pub(super) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

// The 403s that several operations share, written once.
/// An operation only administrators may call, reading.
pub(super) const ADMIN_ONLY_READ: &str =
    "`access_denied`: a bad key, or the caller is not an administrator";
/// An operation only administrators may call, changing something.
pub(super) const ADMIN_ONLY_WRITE: &str =
    "`access_denied`: a bad key, a view-only key, or the caller is not an administrator";
/// Orders and reissues: anyone may ask, only administrators may skip approval.
pub(super) const SKIP_APPROVAL_REFUSED: &str = "`access_denied`: a bad key, a view-only key, or \
    `skip_approval` from a non-administrator";
/// ACME credentials: for oneself, or an administrator for anyone.
pub(super) const EAB_REFUSED: &str = "`access_denied`: a bad key, a view-only key, or \
    `user_id` naming another user from a non-administrator; nothing recorded";
/// Revocations: also the reason only administrators may give.
pub(super) const REVOCATION_REFUSED: &str = "`access_denied`: a bad key, a view-only key, or \
    `skip_approval` or `privilegeWithdrawn` from a non-administrator; nothing recorded";

/// Answers every `/services/v2` operation can give, added here once rather
/// than repeated in each handler's attribute; a handler's own description of
/// the same status (such as a 403 that names a permission) wins.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-DC-DEVKEY",
                "An API key, as printed by `certd serve` or `certd user add`.",
            ))),
        );
        for (name, response) in COMMON_ANSWERS {
            let mut response = error_response(response.description);
            if name == RATE_LIMITED {
                response.headers.insert(
                    "Retry-After".to_string(),
                    HeaderBuilder::new()
                        .schema(i64::schema())
                        .description(Some("Seconds until the key may call again"))
                        .build(),
                );
            }
            components
                .responses
                .insert(name.to_string(), response.into());
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/services/v2/") {
                continue;
            }
            let keyed = path != DOCUMENT_PATH;
            for operation in operations(item) {
                add_common_answers(operation, keyed);
            }
        }
    }
}

/// The revocation reasons described from their one home,
/// `service::REASON_HELP` (utoipa takes a field's description only from its
/// doc comment).
struct ReasonHelp;

impl Modify for ReasonHelp {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let body = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("RevokeBody"));
        let Some(RefOr::T(Schema::Object(body))) = body else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(reason))) = body.properties.get_mut("revocation_reason")
        {
            reason.description = Some(crate::service::REASON_HELP.to_string());
        }
    }
}

struct CommonAnswer {
    status: &'static str,
    description: &'static str,
    /// Only for operations that read an API key.
    keyed: bool,
    /// Only for operations that read a request body.
    with_body: bool,
}

const RATE_LIMITED: &str = "RateLimited";

const COMMON_ANSWERS: [(&str, CommonAnswer); 6] = [
    (
        "AccessDenied",
        CommonAnswer {
            status: "403",
            description: "`access_denied`: the X-DC-DEVKEY key is missing or unknown, or a \
                view-only key made a call other than GET",
            keyed: true,
            with_body: false,
        },
    ),
    (
        "RequestTimeout",
        CommonAnswer {
            status: "408",
            description: "`request_timeout`: the request took longer than the server's timeout; \
                nothing was changed",
            keyed: false,
            with_body: false,
        },
    ),
    (
        "PayloadTooLarge",
        CommonAnswer {
            status: "413",
            description: "`request_too_large`: the body is over 64 KiB",
            keyed: false,
            with_body: true,
        },
    ),
    (
        RATE_LIMITED,
        CommonAnswer {
            status: "429",
            description: "`request_limit_exceeded`: too many calls a second with this key; \
                `Retry-After` says when to try again",
            keyed: false,
            with_body: false,
        },
    ),
    (
        "InternalError",
        CommonAnswer {
            status: "500",
            description: "`internal_error`: logged on the server; no internals are given",
            keyed: false,
            with_body: false,
        },
    ),
    (
        "Unavailable",
        CommonAnswer {
            status: "503",
            description: "`service_unavailable`: the database cannot be reached; try again shortly",
            keyed: true,
            with_body: false,
        },
    ),
];

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn add_common_answers(operation: &mut Operation, keyed: bool) {
    if keyed {
        operation.security = Some(vec![SecurityRequirement::new(
            API_KEY_SCHEME,
            Vec::<String>::new(),
        )]);
    }
    let with_body = operation.request_body.is_some();
    for (name, answer) in COMMON_ANSWERS {
        if (answer.keyed && !keyed) || (answer.with_body && !with_body) {
            continue;
        }
        operation
            .responses
            .responses
            .entry(answer.status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(ErrorList::schema()))
                .build(),
        )
        .build()
}

/// The schema of a binary body (a CRL, an OCSP message, a ZIP file); it
/// has no values, only a description.
pub(super) enum Binary {}

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

// ---- examples ------------------------------------------------------------

/// A real P-256 CSR for `shop.example.com`, so that the examples can be sent
/// as they are (and fuzzers that start from them reach real orders).
const EXAMPLE_CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBAzCBqwIBADAbMRkwFwYDVQQDDBBzaG9wLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE+aidHk+6GlFd1RziAjkWO8f4m7ZT9cBLH18aU1dV
0+18tb3j9pog4CHvn3FcHu2Vy5Zchri0LjJFlZdI6xJ4S6AuMCwGCSqGSIb3DQEJ
DjEfMB0wGwYDVR0RBBQwEoIQc2hvcC5leGFtcGxlLmNvbTAKBggqhkjOPQQDAgNH
ADBEAiBqCdyq+fzDwDbsB3kMmVV3hejzJXVnPX464OjqYIVxXwIgNvOB+UT5aPHG
GY6NP+h4f9szJQjSgqM85f23n4UHj4I=
-----END CERTIFICATE REQUEST-----
";

pub(super) fn order_example() -> serde_json::Value {
    serde_json::json!({
        "certificate": {
            "common_name": "shop.example.com",
            "dns_names": ["www.shop.example.com"],
            "csr": EXAMPLE_CSR,
        },
        "validity_years": 1,
        "comments": "For the web shop.",
    })
}

pub(super) fn reissue_example() -> serde_json::Value {
    serde_json::json!({
        "certificate": {"csr": EXAMPLE_CSR},
        "comments": "New key after the server move.",
    })
}

// ---- enums ---------------------------------------------------------------
// Their values come from the model's own lists, so a status added there is
// documented at once.

fn string_enum(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

macro_rules! model_enum_schemas {
    ($($name:ident),+) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_enum($name::ALL.iter().map(|v| v.as_str()))
            }
        }
        impl ToSchema for $name {}
    )+};
}

model_enum_schemas!(
    CampaignCertificateStatus,
    CampaignStatus,
    CertificateStatus,
    KeyStatus,
    OrderStatus,
    Product,
    RequestStatus,
    RequestType,
    UserStatus
);

impl PartialSchema for RevocationReason {
    fn schema() -> RefOr<Schema> {
        string_enum(RevocationReason::ALL.map(RevocationReason::name))
    }
}

impl ToSchema for RevocationReason {}

/// The schema of `access_roles[].name`.
pub(super) fn access_role_name() -> RefOr<Schema> {
    string_enum(Role::ALL.iter().map(|role| wire::access_role_name(*role)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::api::extract::API_KEY_HEADER;
    use crate::service::MAX_COMMENT_CHARS;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn the_reasons_are_described_from_their_one_home() {
        let doc = document();
        let reason = &doc["components"]["schemas"]["RevokeBody"]["properties"]["revocation_reason"];
        assert_eq!(
            reason["description"],
            crate::service::REASON_HELP,
            "{reason}"
        );
    }

    /// `/a/{id}/b` and `/a/{order_id}/b` are one route.
    fn shape(path: &str) -> String {
        let mut shape = String::new();
        let mut in_parameter = false;
        for c in path.chars() {
            match c {
                '{' => in_parameter = true,
                '}' => {
                    in_parameter = false;
                    shape.push_str("{}");
                }
                _ if !in_parameter => shape.push(c),
                _ => {}
            }
        }
        shape
    }

    /// `(METHOD, path shape)` of every `/services/v2` route, read from the
    /// router's source, so that a route added there must be documented.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let start = source.find("fn v2_routes()").unwrap();
        let end = start + source[start..].find("\n}").unwrap();
        let mut routes = BTreeSet::new();
        for route in source[start..end].split(".route(").skip(1) {
            let path = route.split('"').nth(1).unwrap();
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = route
                    .match_indices(&format!("{method}("))
                    .any(|(i, _)| !route[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                if called {
                    routes.insert((method.to_uppercase(), shape(&format!("/services/v2{path}"))));
                }
            }
        }
        routes
    }

    #[test]
    fn every_services_v2_route_is_documented_and_nothing_else() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with("/services/v2/"))
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(|method| (method.to_uppercase(), shape(path)))
            })
            .collect();
        let routed = routed();
        assert!(
            routed.len() >= 15,
            "router source not understood: {routed:?}"
        );
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn security_scheme_names_the_header_the_extractor_reads() {
        let doc = document();
        let scheme = &doc["components"]["securitySchemes"][API_KEY_SCHEME];
        assert_eq!(scheme["in"], "header");
        assert!(
            scheme["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(API_KEY_HEADER)
        );
    }

    #[test]
    fn comment_limits_match_the_service() {
        let doc = document();
        for body in ["OrderBody", "ReissueBody", "RevokeBody"] {
            let limit = &doc["components"]["schemas"][body]["properties"]["comments"]["maxLength"];
            assert_eq!(limit.as_u64(), Some(MAX_COMMENT_CHARS as u64), "{body}");
        }
    }
}
