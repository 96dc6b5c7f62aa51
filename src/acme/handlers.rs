//! One handler per ACME resource (RFC 8555 §7, RFC 9773 §4).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::jws::{self, Jwk};
use super::problems::{Problem, ProblemType};
use super::wire::{
    AccountObject, AccountUpdate, AuthorizationObject, ChallengeObject, Directory, FinalizePayload,
    KeyChangePayload, NewAccountPayload, NewOrderPayload, OrderList, OrderObject, RenewalInfo,
    RevokePayload,
};
use super::{AccountOrKeyPost, AccountPost, AcmeState, KeyPost, Signed, Signer};
use crate::codes::ErrorCode;
use crate::model::RevocationReason;
use crate::model::acme::{Account, AcmeOrderStatus, AuthorizationStatus, ChallengeStatus};
use crate::service::{AcmeOrderView, AcmeRevoker, NewAccountInput, ServiceError};

type AcmeResult = Result<Response, Problem>;

/// How long a client should wait before asking again about an order that
/// waits for an administrator, in seconds.
const PROCESSING_RETRY_AFTER: &str = "3";
/// How long a client should wait before asking again whether a challenge
/// validated, in seconds (validation takes a round trip or two).
const VALIDATION_RETRY_AFTER: &str = "1";
/// How often ARI clients should ask again (RFC 9773 §4.2), in seconds.
const RENEWAL_INFO_RETRY_AFTER: &str = "21600";
/// Most contact addresses one account may list.
const MAX_CONTACTS: usize = 10;

fn json_answer(status: StatusCode, body: &impl Serialize, location: Option<String>) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

pub(super) async fn directory(State(state): State<AcmeState>) -> Json<Directory> {
    Json(Directory::new(
        state.urls(),
        state.service.acme_eab_required(),
    ))
}

/// RFC 8555 §7.2: HEAD answers 200, GET 204; the nonce is in the header
/// every ACME answer carries.
pub(super) async fn new_nonce(method: Method) -> StatusCode {
    if method == Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
}

pub(super) async fn not_found() -> Problem {
    Problem::not_found()
}

pub(super) async fn new_account(
    State(state): State<AcmeState>,
    KeyPost(signed): KeyPost,
) -> AcmeResult {
    let payload: NewAccountPayload = signed.payload()?;
    let thumbprint = signed.key.thumbprint();
    if let Some(account) = state.service.acme_account_by_key(&thumbprint).await? {
        // RFC 8555 §7.3.1: the existing account, whatever else was asked.
        return Ok(account_answer(&state, &account, false));
    }
    if payload.only_return_existing {
        return Err(Problem::new(
            ProblemType::AccountDoesNotExist,
            "No account has this key.",
        ));
    }
    let contact = checked_contact(payload.contact)?;
    let eab_kid = match &payload.external_account_binding {
        Some(binding) => {
            let binding = jws::Eab::parse(binding).map_err(super::jws_problem)?;
            let hmac_key = state.service.acme_eab_key(&binding.kid).await?;
            binding
                .verify(&hmac_key, &signed.key, &signed.url)
                .map_err(super::jws_problem)?;
            Some(binding.kid)
        }
        None => None,
    };
    let registered = state
        .service
        .acme_register(NewAccountInput {
            key_thumbprint: thumbprint,
            jwk: signed.key.to_json().to_string(),
            contact,
            eab_kid,
        })
        .await;
    let (account, created) = match registered {
        Ok(registered) => registered,
        // On PostgreSQL a concurrent newAccount with the same key that
        // committed first breaks the unique index: that account is the
        // answer (RFC 8555 §7.3.1).
        Err(ServiceError::Refused {
            code: ErrorCode::AcmeKeyInUse,
            ..
        }) => match state
            .service
            .acme_account_by_key(&signed.key.thumbprint())
            .await?
        {
            Some(account) => (account, false),
            None => {
                return Err(Problem::malformed(
                    "Another account registered this key at the same moment; try again.",
                ));
            }
        },
        Err(other) => return Err(other.into()),
    };
    Ok(account_answer(&state, &account, created))
}

/// newAccount's answer: 201 for a new account, 200 for one the key already
/// had (RFC 8555 §7.3.1), with the account's URL.
fn account_answer(state: &AcmeState, account: &Account, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = state.urls().acme(&format!("/acct/{}", account.id));
    json_answer(
        status,
        &AccountObject::new(state.urls(), account),
        Some(location),
    )
}

/// Contacts are `mailto:` addresses (RFC 8555 §7.3); certd keeps them only
/// to show them back.
fn checked_contact(contact: Option<Vec<String>>) -> Result<Vec<String>, Problem> {
    let contact = contact.unwrap_or_default();
    if contact.len() > MAX_CONTACTS {
        return Err(Problem::malformed(format!(
            "At most {MAX_CONTACTS} contacts are accepted."
        )));
    }
    for address in &contact {
        let shown: String = address.chars().take(100).collect();
        let Some(email) = address.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                format!("{shown:?} is not a mailto: address; certd takes email contacts only."),
            ));
        };
        if email.len() > 254 || !email_address::EmailAddress::is_valid(email) {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                format!("{shown:?} is not a valid email address."),
            ));
        }
    }
    Ok(contact)
}

/// The account a path names must be the one that signed.
fn own_account<'a>(signed: &'a Signed, id: &str) -> Result<&'a Account, Problem> {
    let account = signed.account()?;
    if id.parse::<i64>().ok() != Some(account.id) {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "An account may only read and change itself.",
        ));
    }
    Ok(account)
}

pub(super) async fn account(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = own_account(&signed, &id)?;
    let account = if signed.is_post_as_get() {
        account.clone()
    } else {
        let update: AccountUpdate = signed.payload()?;
        let deactivate = match update.status.as_deref() {
            None => false,
            Some("deactivated") => true,
            Some(other) => {
                return Err(Problem::malformed(format!(
                    "An account's status can only be set to deactivated, not {other:?}."
                )));
            }
        };
        let contact = update
            .contact
            .map(|c| checked_contact(Some(c)))
            .transpose()?;
        state
            .service
            .acme_update_account(account, contact, deactivate)
            .await?
    };
    Ok(json_answer(
        StatusCode::OK,
        &AccountObject::new(state.urls(), &account),
        None,
    ))
}

pub(super) async fn account_orders(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = own_account(&signed, &id)?;
    let ids = state.service.acme_order_ids(account).await?;
    let orders = ids
        .into_iter()
        .map(|id| state.urls().acme(&format!("/order/{id}")))
        .collect();
    Ok(json_answer(StatusCode::OK, &OrderList { orders }, None))
}

/// keyChange (RFC 8555 §7.3.5): the outer JWS signed by the account's key,
/// the inner one by the new key, naming the account and its old key.
pub(super) async fn key_change(
    State(state): State<AcmeState>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = signed.account()?;
    let inner = jws::parse(&signed.payload).map_err(super::jws_problem)?;
    let jws::KeyRef::Jwk(new_key) = &inner.header.key else {
        return Err(Problem::malformed(
            "The inner JWS of keyChange must carry the new key as jwk.",
        ));
    };
    inner.verify(new_key).map_err(super::jws_problem)?;
    if inner.header.url != signed.url {
        return Err(Problem::malformed(
            "The inner JWS of keyChange must be signed for the keyChange URL too.",
        ));
    }
    let change: KeyChangePayload = serde_json::from_slice(&inner.payload).map_err(|e| {
        Problem::malformed(format!(
            "The keyChange payload is not {{account, oldKey}}: {e}."
        ))
    })?;
    let old_key = Jwk::from_json(&change.old_key).map_err(super::jws_problem)?;
    if change.account != state.urls().acme(&format!("/acct/{}", account.id))
        || old_key.thumbprint() != account.key_thumbprint
    {
        return Err(Problem::malformed(
            "keyChange must name this account and its current key.",
        ));
    }
    let new_thumbprint = new_key.thumbprint();
    if let Some(other) = state.service.acme_account_by_key(&new_thumbprint).await? {
        let mut response = Problem::malformed("Another account has this key already.")
            .with_status(StatusCode::CONFLICT)
            .into_response();
        if let Ok(location) =
            HeaderValue::from_str(&state.urls().acme(&format!("/acct/{}", other.id)))
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(response);
    }
    state
        .service
        .acme_change_key(account, &new_thumbprint, &new_key.to_json().to_string())
        .await?;
    let account = state.service.acme_account(account.id).await?;
    Ok(json_answer(
        StatusCode::OK,
        &AccountObject::new(state.urls(), &account),
        None,
    ))
}

pub(super) async fn new_order(
    State(state): State<AcmeState>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = signed.account()?;
    let payload: NewOrderPayload = signed.payload()?;
    if payload.not_before.is_some() || payload.not_after.is_some() {
        return Err(Problem::malformed(
            "certd sets certificates' validity itself; leave out notBefore and notAfter.",
        ));
    }
    let mut names = Vec::with_capacity(payload.identifiers.len());
    for identifier in payload.identifiers {
        if identifier.kind != "dns" {
            return Err(Problem::new(
                ProblemType::UnsupportedIdentifier,
                format!(
                    "Identifiers of type {:?} are not supported; only dns.",
                    identifier.kind
                ),
            ));
        }
        names.push(identifier.value);
    }
    let view = state
        .service
        .acme_new_order(account, names, payload.replaces)
        .await?;
    let location = state.urls().acme(&format!("/order/{}", view.order.id));
    Ok(order_answer(
        &state,
        StatusCode::CREATED,
        &view,
        Some(location),
    ))
}

fn order_answer(
    state: &AcmeState,
    status: StatusCode,
    view: &AcmeOrderView,
    location: Option<String>,
) -> Response {
    let error = view.error.as_ref().map(|(code, detail)| {
        Problem::from(crate::service::ServiceError::Refused {
            code: *code,
            message: detail.clone(),
        })
        .document()
    });
    let mut response = json_answer(
        status,
        &OrderObject::new(state.urls(), view, error),
        location,
    );
    if view.status == AcmeOrderStatus::Processing {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(PROCESSING_RETRY_AFTER),
        );
    }
    response
}

fn path_id(id: &str) -> Result<i64, Problem> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(Problem::not_found)
}

pub(super) async fn order(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let view = state
        .service
        .acme_order(signed.account()?, path_id(&id)?)
        .await?;
    Ok(order_answer(&state, StatusCode::OK, &view, None))
}

pub(super) async fn finalize(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let id = path_id(&id)?;
    let payload: FinalizePayload = signed.payload()?;
    let csr = jws::b64url_decode(&payload.csr)
        .map_err(|e| Problem::new(ProblemType::BadCsr, format!("csr is not base64url: {e}.")))?;
    let view = state
        .service
        .acme_finalize(signed.account()?, id, &csr)
        .await?;
    let location = state.urls().acme(&format!("/order/{id}"));
    Ok(order_answer(&state, StatusCode::OK, &view, Some(location)))
}

pub(super) async fn authorization(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = signed.account()?;
    let id = path_id(&id)?;
    if !signed.is_post_as_get() {
        let update: AccountUpdate = signed.payload()?;
        if update.status.as_deref() != Some("deactivated") {
            return Err(Problem::malformed(
                "An authorization's status can only be set to deactivated.",
            ));
        }
        state
            .service
            .acme_deactivate_authorization(account, id)
            .await?;
    }
    let (authorization, challenges) = state.service.acme_authorization(account, id).await?;
    let mut response = json_answer(
        StatusCode::OK,
        &AuthorizationObject::new(state.urls(), &authorization, &challenges),
        None,
    );
    if authorization.status == AuthorizationStatus::Pending {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(VALIDATION_RETRY_AFTER),
        );
    }
    Ok(response)
}

pub(super) async fn challenge(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let account = signed.account()?;
    let id = path_id(&id)?;
    let (challenge, authorization) = if signed.is_post_as_get() {
        state.service.acme_challenge(account, id).await?
    } else {
        // Any JSON object says "ready" (RFC 8555 §7.5.1 sends `{}`).
        let _: serde_json::Map<String, serde_json::Value> = signed.payload()?;
        state.service.acme_start_challenge(account, id).await?
    };
    if authorization.status == AuthorizationStatus::Deactivated {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "The authorization of this challenge is deactivated.",
        ));
    }
    let mut response = json_answer(
        StatusCode::OK,
        &ChallengeObject::new(state.urls(), &challenge),
        None,
    );
    if challenge.status == ChallengeStatus::Processing {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(VALIDATION_RETRY_AFTER),
        );
    }
    let up = format!(
        "<{}>;rel=\"up\"",
        state.urls().acme(&format!("/authz/{}", authorization.id))
    );
    if let Ok(up) = HeaderValue::from_str(&up) {
        response.headers_mut().append(header::LINK, up);
    }
    Ok(response)
}

/// The certificate and its issuing intermediate (RFC 8555 §7.4.2).
pub(super) async fn certificate(
    State(state): State<AcmeState>,
    Path(id): Path<String>,
    AccountPost(signed): AccountPost,
) -> AcmeResult {
    let certificate = state
        .service
        .acme_certificate(signed.account()?, path_id(&id)?)
        .await?;
    let chain = format!(
        "{}\n{}",
        certificate.pem.trim_end(),
        state.service.ca().intermediate_pem().trim_end()
    ) + "\n";
    let mut response = chain.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    Ok(response)
}

/// revokeCert (RFC 8555 §7.6), signed by an account or by the certificate's
/// own key; the service decides what each may do.
pub(super) async fn revoke_cert(
    State(state): State<AcmeState>,
    AccountOrKeyPost(signed): AccountOrKeyPost,
) -> AcmeResult {
    let payload: RevokePayload = signed.payload()?;
    let reason = match payload.reason {
        None => None,
        Some(code) => Some(RevocationReason::from_code(code).ok_or_else(|| {
            Problem::new(
                ProblemType::BadRevocationReason,
                format!("Reason code {code} is not one certd accepts (0, 1, 3, 4, 5, 9; certificateHold and removeFromCRL are not allowed)."),
            )
        })?),
    };
    let der = jws::b64url_decode(&payload.certificate)
        .map_err(|e| Problem::malformed(format!("certificate is not base64url: {e}.")))?;
    let certificate = state.service.acme_presented_certificate(&der).await?;
    let revoker = match signed.signer {
        Signer::Account(account) => AcmeRevoker::Account(account),
        Signer::Key(key) => {
            let own_key = crate::ca::read_presented_certificate(&der)
                .ok()
                .and_then(|presented| Jwk::from_spki_der(&presented.spki_der).ok());
            if own_key.map(|k| k.thumbprint()) != Some(key.thumbprint()) {
                return Err(Problem::new(
                    ProblemType::Unauthorized,
                    "The request is signed with a key that is not the certificate's.",
                ));
            }
            AcmeRevoker::KeyHolder
        }
    };
    state
        .service
        .acme_revoke(revoker, certificate.id, reason)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// renewalInfo (RFC 9773 §4.1): GET, no signature.
pub(super) async fn renewal_info(
    State(state): State<AcmeState>,
    Path(cert_id): Path<String>,
) -> AcmeResult {
    let certificate = state.service.acme_certificate_by_cert_id(&cert_id).await?;
    let window = state.service.acme_renewal_window(&certificate).await?;
    let mut response = json_answer(StatusCode::OK, &RenewalInfo::from(window), None);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RENEWAL_INFO_RETRY_AFTER),
    );
    Ok(response)
}
