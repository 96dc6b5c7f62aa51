//! Wire types: serde structs mirroring CertCentral's JSON, and the explicit
//! conversions from domain types. Nothing here makes decisions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{
    AuditEntry, Certificate, Order, Request, RevocationReason, Role, Selector, User,
};
use crate::service::{CampaignCertificate, CampaignView, KeyView, RequestView};

// ---- times ---------------------------------------------------------------

pub(crate) use crate::model::date_time;

/// `YYYY-MM-DD`.
pub(crate) fn date(unix: i64) -> String {
    date_time(unix).chars().take(10).collect()
}

// ---- request bodies ------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RevokeBody {
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comments: Option<String>,
    /// Revoke at once instead of asking for approval; administrators only.
    #[serde(default)]
    pub skip_approval: Option<bool>,
    /// Described in the document from `service::REASON_HELP` (see `openapi`).
    #[serde(default)]
    pub revocation_reason: Option<String>,
}

/// Fields certd has no use for (`organization`, `payment_method`, ...) are
/// accepted and ignored. Validity: `order_validity.days`, then `validity_days`,
/// then `order_validity.years`, then `validity_years`; default one year.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = crate::api::openapi::order_example)]
pub(crate) struct OrderBody {
    pub certificate: OrderCertificate,
    #[serde(default)]
    pub validity_years: Option<i64>,
    #[serde(default)]
    pub validity_days: Option<i64>,
    #[serde(default)]
    pub order_validity: Option<OrderValidity>,
    /// Issue at once instead of asking for approval; administrators only.
    #[serde(default)]
    pub skip_approval: Option<bool>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comments: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OrderCertificate {
    pub common_name: String,
    #[serde(default)]
    pub dns_names: Option<Vec<String>>,
    /// PEM PKCS#10: RSA 2048+ or ECDSA P-256/P-384.
    pub csr: String,
    /// `sha256`, `sha384` or `sha512` (any letter case); certd's CA signs
    /// with SHA-256 whichever is named.
    #[serde(default)]
    pub signature_hash: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OrderValidity {
    #[serde(default)]
    pub years: Option<i64>,
    #[serde(default)]
    pub days: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = crate::api::openapi::reissue_example)]
pub(crate) struct ReissueBody {
    pub certificate: ReissueCertificate,
    /// Reissue at once instead of asking for approval; administrators only.
    #[serde(default)]
    pub skip_approval: Option<bool>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comments: Option<String>,
}

/// Names left out default to the order's.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ReissueCertificate {
    /// PEM PKCS#10: RSA 2048+ or ECDSA P-256/P-384.
    pub csr: String,
    #[serde(default)]
    pub common_name: Option<String>,
    #[serde(default)]
    pub dns_names: Option<Vec<String>>,
    /// As in an order.
    #[serde(default)]
    pub signature_hash: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OrderStatusBody {
    /// `canceled` (any letter case): the only status a client may set.
    pub status: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RequestStatusBody {
    /// `approved` or `rejected` (any letter case).
    pub status: String,
    #[serde(default)]
    pub processor_comment: Option<String>,
}

// ---- responses -----------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserSummary {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl From<&User> for UserSummary {
    fn from(user: &User) -> Self {
        UserSummary {
            id: user.id,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccessRole {
    /// CertCentral's role id: 1 administrator, 2 user.
    pub id: i64,
    #[schema(schema_with = crate::api::openapi::access_role_name)]
    pub name: &'static str,
}

/// CertCentral's display name of a role.
pub(crate) fn access_role_name(role: Role) -> &'static str {
    match role {
        Role::Administrator => "Administrator",
        Role::User => "User",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserDetails {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[schema(value_type = crate::model::UserStatus)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub date_created: String,
    pub access_roles: Vec<AccessRole>,
}

impl From<&User> for UserDetails {
    fn from(user: &User) -> Self {
        UserDetails {
            id: user.id,
            username: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            status: user.status.as_str(),
            date_created: date_time(user.created_at),
            access_roles: vec![AccessRole {
                id: user.role.certcentral_id(),
                name: access_role_name(user.role),
            }],
        }
    }
}

/// The seed's 201 answer to a revoke.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestObject {
    pub id: i64,
    #[schema(format = DateTime)]
    pub date: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::model::RequestType)]
    pub kind: &'static str,
    #[schema(value_type = crate::model::RequestStatus)]
    pub status: &'static str,
    pub requester: UserSummary,
    #[schema(required = true)]
    pub comments: Option<String>,
}

impl From<&RequestView> for RequestObject {
    fn from(view: &RequestView) -> Self {
        RequestObject {
            id: view.request.id,
            date: date_time(view.request.created_at),
            kind: view.request.kind.as_str(),
            status: view.request.status.as_str(),
            requester: (&view.requester).into(),
            comments: view.request.comments.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestCertificateRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<i64>,
    pub common_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub serial_number: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestOrderRef {
    pub id: i64,
    pub certificate: RequestCertificateRef,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestDetails {
    pub id: i64,
    #[schema(format = DateTime)]
    pub date: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::model::RequestType)]
    pub kind: &'static str,
    #[schema(value_type = crate::model::RequestStatus)]
    pub status: &'static str,
    pub requester: UserSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub processor: Option<UserSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub date_processed: Option<String>,
    #[schema(required = true)]
    pub comments: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub processor_comment: Option<String>,
    pub order: RequestOrderRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<crate::model::RevocationReason>)]
    pub revocation_reason: Option<&'static str>,
}

impl From<&RequestView> for RequestDetails {
    fn from(view: &RequestView) -> Self {
        let request = &view.request;
        let certificate = match &view.certificate {
            Some(c) => RequestCertificateRef {
                id: Some(c.id),
                common_name: c.common_name.clone(),
                serial_number: Some(c.serial_number.clone()),
            },
            None => RequestCertificateRef {
                id: None,
                common_name: view.order.common_name.clone(),
                serial_number: None,
            },
        };
        RequestDetails {
            id: request.id,
            date: date_time(request.created_at),
            kind: request.kind.as_str(),
            status: request.status.as_str(),
            requester: (&view.requester).into(),
            processor: view.processor.as_ref().map(UserSummary::from),
            date_processed: request.processed_at.map(date_time),
            comments: request.comments.clone(),
            processor_comment: request.processor_comment.clone(),
            order: RequestOrderRef {
                id: view.order.id,
                certificate,
            },
            revocation_reason: request.revocation_reason.map(RevocationReason::name),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestList {
    pub requests: Vec<RequestDetails>,
    pub page: ListPage,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestStatusRef {
    pub id: i64,
    #[schema(value_type = crate::model::RequestStatus)]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderCreated {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub certificate_id: Option<i64>,
    pub requests: Vec<RequestStatusRef>,
}

/// The `certificate` object of order and certificate details. Before issuance
/// it describes what was ordered (no id, serial or dates yet).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order_id: Option<i64>,
    pub common_name: String,
    pub dns_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub serial_number: Option<String>,
    #[schema(value_type = crate::model::CertificateStatus)]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = Date)]
    pub valid_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = Date)]
    pub valid_till: Option<String>,
    pub signature_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub date_revoked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<crate::model::RevocationReason>)]
    pub revocation_reason: Option<&'static str>,
    pub csr: String,
}

impl CertificateObject {
    pub(crate) fn issued(certificate: &Certificate, with_order_id: bool) -> Self {
        CertificateObject {
            id: Some(certificate.id),
            order_id: with_order_id.then_some(certificate.order_id),
            common_name: certificate.common_name.clone(),
            dns_names: certificate.dns_names.clone(),
            serial_number: Some(certificate.serial_number.clone()),
            status: certificate.status.as_str(),
            valid_from: Some(date(certificate.valid_from)),
            valid_till: Some(date(certificate.valid_till)),
            signature_hash: certificate.signature_hash.clone(),
            date_revoked: certificate.revoked_at.map(date_time),
            revocation_reason: certificate.revocation_reason.map(RevocationReason::name),
            csr: certificate.csr.clone(),
        }
    }

    pub(crate) fn ordered(order: &Order) -> Self {
        CertificateObject {
            id: None,
            order_id: None,
            common_name: order.common_name.clone(),
            dns_names: order.dns_names.clone(),
            serial_number: None,
            status: "pending",
            valid_from: None,
            valid_till: None,
            signature_hash: order.signature_hash.clone(),
            date_revoked: None,
            revocation_reason: None,
            csr: order.csr.clone(),
        }
    }

    pub(crate) fn of_order(order: &Order, certificate: Option<&Certificate>) -> Self {
        match certificate {
            Some(c) => CertificateObject::issued(c, false),
            None => CertificateObject::ordered(order),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductRef {
    #[schema(value_type = crate::model::Product)]
    pub name_id: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderRequestSummary {
    pub id: i64,
    #[schema(format = DateTime)]
    pub date: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::model::RequestType)]
    pub kind: &'static str,
    #[schema(value_type = crate::model::RequestStatus)]
    pub status: &'static str,
    #[schema(required = true)]
    pub comments: Option<String>,
}

impl From<&Request> for OrderRequestSummary {
    fn from(request: &Request) -> Self {
        OrderRequestSummary {
            id: request.id,
            date: date_time(request.created_at),
            kind: request.kind.as_str(),
            status: request.status.as_str(),
            comments: request.comments.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderDetails {
    pub id: i64,
    #[schema(value_type = crate::model::OrderStatus)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub date_created: String,
    pub product: ProductRef,
    pub validity_days: i64,
    pub certificate: CertificateObject,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub requests: Option<Vec<OrderRequestSummary>>,
}

impl OrderDetails {
    pub(crate) fn new(
        order: &Order,
        certificate: Option<&Certificate>,
        requests: Option<&[Request]>,
    ) -> Self {
        OrderDetails {
            id: order.id,
            status: order.status.as_str(),
            date_created: date_time(order.created_at),
            product: ProductRef {
                name_id: order.product.as_str(),
            },
            validity_days: order.validity_days,
            certificate: CertificateObject::of_order(order, certificate),
            requests: requests.map(|list| list.iter().map(OrderRequestSummary::from).collect()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    pub orders: Vec<OrderDetails>,
    pub page: ListPage,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditActor {
    pub id: i64,
    /// `null` once the user is gone.
    #[schema(required = true)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub(crate) struct AuditEntryWire {
    pub id: i64,
    #[schema(format = DateTime)]
    pub date: String,
    /// `null` for changes made outside the API (the command line).
    #[schema(required = true)]
    pub actor: Option<AuditActor>,
    pub action: String,
    pub object: AuditObject,
    /// The `X-Request-ID` of the call that made the change.
    #[schema(required = true)]
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryWire {
    fn from(entry: AuditEntry) -> Self {
        AuditEntryWire {
            id: entry.id,
            date: date_time(entry.created_at),
            actor: entry.actor_id.map(|id| AuditActor {
                id,
                email: entry.actor_email,
            }),
            action: entry.action,
            object: AuditObject {
                kind: entry.object_type,
                id: entry.object_id,
            },
            request_id: entry.request_id,
            details: entry.details,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditLog {
    pub entries: Vec<AuditEntryWire>,
    pub page: ListPage,
}

// ---- users and API keys -------------------------------------------------

/// CertCentral's API key restriction "view only".
pub(crate) const VIEW_ONLY_ROLE_ID: i64 = 102;

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct KeyBody {
    /// 0 or absent: no restriction; 102: view only.
    #[serde(default)]
    pub restricted_to_role_id: Option<i64>,
    /// A name to tell keys apart (at most 100 characters).
    #[serde(default)]
    pub name: Option<String>,
}

/// CertCentral's *Create user* body, with the new user's first API key.
/// CertCentral's other fields (`username`, `container`, `job_title`, ...)
/// are accepted and not kept: the email address is the username.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NewUserBody {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// One role: `[{"id": 1}]` administrator or `[{"id": 2}]` user.
    pub access_roles: Vec<AccessRoleRef>,
    /// The first key's restriction: 0 or absent none, 102 view only.
    #[serde(default)]
    pub restricted_to_role_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AccessRoleRef {
    pub id: i64,
}

/// 201 to *Create user*: CertCentral's `id`, and the user's first API key,
/// shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserCreated {
    pub id: i64,
    pub api_key: String,
}

/// The body of the status endpoints of keys and users.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StatusBody {
    /// Users: `active` or `disabled`; keys: `revoked`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserList {
    pub users: Vec<UserDetails>,
    pub page: ListPage,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyCreated {
    pub id: i64,
    pub api_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyDetails {
    pub id: i64,
    pub user: UserSummary,
    #[schema(value_type = crate::model::KeyStatus)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub date_created: String,
    /// `null` when never used; updated at most once a minute.
    #[schema(format = DateTime)]
    pub last_used_date: Option<String>,
    pub name: Option<String>,
    /// 0: no restriction; 102: view only.
    pub restricted_to_role_id: i64,
}

impl From<&KeyView> for KeyDetails {
    fn from(view: &KeyView) -> Self {
        KeyDetails {
            id: view.key.id,
            user: (&view.owner).into(),
            status: view.key.status.as_str(),
            date_created: date_time(view.key.created_at),
            last_used_date: view.key.last_used_at.map(date_time),
            name: view.key.name.clone(),
            restricted_to_role_id: if view.key.view_only {
                VIEW_ONLY_ROLE_ID
            } else {
                0
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyList {
    pub keys: Vec<KeyDetails>,
}

// ---- blocked keys and ACME credentials -----------------------------------

/// A key certd no longer certifies: a certificate with it was revoked for
/// keyCompromise.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlockedKeyWire {
    /// SHA-256 of the key's SubjectPublicKeyInfo (DER), lower-case hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub spki_sha256: String,
    /// When it was blocked.
    #[schema(format = DateTime)]
    pub date: String,
    /// The certificate whose keyCompromise revocation blocked it.
    pub certificate_id: i64,
}

impl From<&crate::store::blocked_keys::BlockedKey> for BlockedKeyWire {
    fn from(key: &crate::store::blocked_keys::BlockedKey) -> Self {
        BlockedKeyWire {
            spki_sha256: key.spki_sha256.clone(),
            date: date_time(key.created_at),
            certificate_id: key.certificate_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BlockedKeyList {
    pub blocked_keys: Vec<BlockedKeyWire>,
    pub page: ListPage,
}

/// Whom an ACME External Account Binding credential is for.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EabBody {
    /// The user the credential binds accounts to; administrators may name
    /// anyone, others only themselves [default: the caller].
    #[serde(default)]
    pub user_id: Option<i64>,
}

/// A new ACME External Account Binding credential: the key id and the HMAC
/// key an ACME client needs (certbot's `--eab-kid` and `--eab-hmac-key`).
/// The HMAC key is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EabCreated {
    pub kid: String,
    /// 32 random bytes, base64url without padding.
    pub hmac_key: String,
    /// The user whose orders the bound account places.
    pub user_id: i64,
}

impl From<crate::service::EabCredential> for EabCreated {
    fn from(credential: crate::service::EabCredential) -> Self {
        EabCreated {
            kid: credential.kid,
            hmac_key: credential.hmac_key,
            user_id: credential.user_id,
        }
    }
}

/// Every error answer: always a list, always JSON.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorList {
    #[schema(min_items = 1)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorItem {
    /// `family|detail`, such as `not_found|certificate`; scripts branch on it.
    #[schema(pattern = r"^[a-z_]+\|[a-z0-9_]+$")]
    pub code: String,
    /// A human sentence.
    pub message: String,
}

// ---- revocation campaigns -------------------------------------------------

/// `POST /campaign`. Unlike other bodies, an unknown field is refused: a
/// misspelt `revoke_at` or selector condition must fail, not revoke more
/// or sooner than meant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignBody {
    #[schema(max_length = 200)]
    pub name: String,
    /// A revocation reason (not keyCompromise: see the description).
    pub reason: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comments: Option<String>,
    pub selector: CampaignSelector,
    /// When to revoke (`YYYY-MM-DDTHH:MM:SS+00:00`, in the future); absent:
    /// at the final approval.
    #[serde(default)]
    pub revoke_at: Option<String>,
    /// Count and show a sample of what the selector matches; record nothing.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Conditions, all of which a certificate must meet; at least one. Only
/// issued, unexpired certificates are selected.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignSelector {
    /// Serial numbers in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serials: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ids: Option<Vec<i64>>,
    /// The certificates of this user's orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// The common name or a DNS name is this domain or ends in `.domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `valid_from` at or after this (a date or date and time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_after: Option<String>,
    /// `valid_from` before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<String>,
    /// SHA-256 (hex) of the SubjectPublicKeyInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_sha256: Option<String>,
}

impl From<&Selector> for CampaignSelector {
    fn from(selector: &Selector) -> Self {
        CampaignSelector {
            serials: selector.serials.clone(),
            certificate_ids: selector.certificate_ids.clone(),
            order_ids: selector.order_ids.clone(),
            user_email: selector.user_email.clone(),
            domain: selector.domain.clone(),
            issued_after: selector.issued_after.map(date_time),
            issued_before: selector.issued_before.map(date_time),
            public_key_sha256: selector.public_key_sha256.clone(),
        }
    }
}

/// A dry run's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignDryRun {
    /// Issued, unexpired certificates the selector matches now.
    pub matched: i64,
    /// Matching certificates revoked already (not counted in `matched`).
    pub already_revoked: i64,
    /// The first (by id) of the matched certificates, up to 100.
    pub sample: Vec<CertificateObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignApproval {
    pub user: UserSummary,
    pub date: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignObject {
    pub id: i64,
    pub name: String,
    #[schema(value_type = crate::model::CampaignStatus)]
    pub status: &'static str,
    pub reason: &'static str,
    pub comments: Option<String>,
    pub selector: CampaignSelector,
    pub revoke_at: Option<String>,
    /// Issued, unexpired certificates selected (at creation; frozen at the
    /// final approval), holds included; a certificate someone else revokes
    /// before the campaign reaches it leaves it for `already_revoked`. Once
    /// completed, `revoked + held + failed = matched`.
    pub matched: i64,
    pub revoked: i64,
    pub held: i64,
    /// Matching certificates revoked by others: before the selection, or
    /// before the campaign reached them.
    pub already_revoked: i64,
    /// Selected certificates that expired before the campaign reached them.
    pub failed: i64,
    pub requester: UserSummary,
    pub approvals: Vec<CampaignApproval>,
    pub approvals_required: i64,
    /// Who rejected or canceled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub processor: Option<UserSummary>,
    /// Why it was rejected or canceled.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub processor_comment: Option<String>,
    pub date_created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub date_started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub date_completed: Option<String>,
}

impl From<&CampaignView> for CampaignObject {
    fn from(view: &CampaignView) -> Self {
        let campaign = &view.campaign;
        CampaignObject {
            id: campaign.id,
            name: campaign.name.clone(),
            status: campaign.status.as_str(),
            reason: campaign.reason.name(),
            comments: campaign.comments.clone(),
            selector: CampaignSelector::from(&campaign.selector),
            revoke_at: campaign.revoke_at.map(date_time),
            matched: campaign.counts.matched,
            revoked: campaign.counts.revoked,
            held: campaign.counts.held,
            already_revoked: campaign.counts.already_revoked,
            failed: campaign.counts.failed,
            requester: UserSummary::from(&view.requester),
            approvals: view
                .approvals
                .iter()
                .map(|(user, at)| CampaignApproval {
                    user: UserSummary::from(user),
                    date: date_time(*at),
                })
                .collect(),
            approvals_required: campaign.approvals_required,
            processor: view.processor.as_ref().map(UserSummary::from),
            processor_comment: campaign.processor_comment.clone(),
            date_created: date_time(campaign.created_at),
            date_started: campaign.started_at.map(date_time),
            date_completed: campaign.completed_at.map(date_time),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignList {
    pub campaigns: Vec<CampaignObject>,
    pub page: ListPage,
}

/// `PUT /campaign/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CampaignStatusBody {
    /// `approved`, `rejected` or `canceled`.
    pub status: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// `POST /campaign/{id}/hold`: the certificate by id or by serial number.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    #[serde(default)]
    pub certificate_id: Option<i64>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comments: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignCertificateWire {
    pub id: i64,
    pub order_id: i64,
    pub serial_number: String,
    pub common_name: String,
    pub valid_till: String,
    /// What became of it in the campaign.
    #[schema(value_type = crate::model::CampaignCertificateStatus)]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub hold_comments: Option<String>,
}

impl From<CampaignCertificate> for CampaignCertificateWire {
    fn from(certificate: CampaignCertificate) -> Self {
        CampaignCertificateWire {
            id: certificate.id,
            order_id: certificate.order_id,
            serial_number: certificate.serial_number,
            common_name: certificate.common_name,
            valid_till: date_time(certificate.valid_till),
            status: certificate.campaign_status,
            hold_comments: certificate.hold_comments,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CampaignCertificateList {
    pub certificates: Vec<CampaignCertificateWire>,
    pub page: ListPage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_use_the_seed_format() {
        assert_eq!(date_time(1_455_123_975), "2016-02-10T17:06:15+00:00");
        assert_eq!(date(1_455_123_975), "2016-02-10");
    }
}
