//! ACME (RFC 8555, RFC 9773 renewal information): a second front door
//! beside the REST API, over the same service. This layer proves who signed
//! each request (JWS, nonces, the URL it was meant for) and speaks ACME's
//! JSON and problem documents; every decision is the service's.

mod handlers;
pub(crate) mod jws;
pub(crate) mod nonce;
mod problems;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Response, header};
use axum::middleware::{map_response, map_response_with_state};
use axum::routing::{any, get, post};
use serde::de::DeserializeOwned;

use self::jws::{Jwk, KeyRef};
use self::nonce::Nonces;
use self::problems::{Problem, ProblemType};
use crate::ca::PublicUrls;
use crate::model::acme::Account;
use crate::service::Service;

/// What every ACME handler needs.
#[derive(Clone)]
pub(crate) struct AcmeState {
    service: Arc<Service>,
    nonces: Arc<Nonces>,
}

impl AcmeState {
    fn urls(&self) -> &PublicUrls {
        self.service.ca().urls()
    }
}

/// The ACME routes, under `/acme` (every path there, unknown ones included,
/// answers with a problem document).
pub(crate) fn routes<S>(service: Arc<Service>) -> Router<S> {
    let state = AcmeState {
        service,
        nonces: Arc::new(Nonces::new()),
    };
    Router::new()
        .route("/acme", any(handlers::not_found))
        .route("/acme/", any(handlers::not_found))
        .route("/acme/{*unknown}", any(handlers::not_found))
        .route("/acme/directory", get(handlers::directory))
        .route("/acme/new-nonce", get(handlers::new_nonce))
        .route("/acme/new-account", post(handlers::new_account))
        .route("/acme/acct/{id}", post(handlers::account))
        .route("/acme/acct/{id}/orders", post(handlers::account_orders))
        .route("/acme/key-change", post(handlers::key_change))
        .route("/acme/new-order", post(handlers::new_order))
        .route("/acme/order/{id}", post(handlers::order))
        .route("/acme/order/{id}/finalize", post(handlers::finalize))
        .route("/acme/authz/{id}", post(handlers::authorization))
        .route("/acme/chall/{id}", post(handlers::challenge))
        .route("/acme/cert/{id}", post(handlers::certificate))
        .route("/acme/revoke-cert", post(handlers::revoke_cert))
        .route("/acme/renewal-info/{cert_id}", get(handlers::renewal_info))
        .route_layer(map_response(problems::problem_bodies))
        .route_layer(map_response_with_state(
            state.clone(),
            replay_nonce_and_index,
        ))
        .with_state(state)
}

/// Every answer carries a fresh nonce (RFC 8555 §6.5: error answers too,
/// so a client refused for a stale nonce retries at once) and the
/// directory's address (§7.1).
async fn replay_nonce_and_index(
    State(state): State<AcmeState>,
    mut response: Response<Body>,
) -> Response<Body> {
    let headers = response.headers_mut();
    if let Ok(nonce) = HeaderValue::from_str(&state.nonces.issue()) {
        headers.insert("replay-nonce", nonce);
    }
    let index = format!("<{}>;rel=\"index\"", state.urls().acme("/directory"));
    if let Ok(link) = HeaderValue::from_str(&index) {
        headers.append(header::LINK, link);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Who signed a request.
pub(crate) enum Signer {
    /// An account, named by its URL (`kid`).
    Account(Account),
    /// A key given in the request itself (`jwk`): newAccount, and revokeCert
    /// signed with the certificate's key.
    Key(Jwk),
}

/// Which ways of naming the signer's key a resource accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRule {
    AccountOnly,
    KeyOnly,
    Either,
}

/// A request whose signature, nonce and URL checked out.
pub(crate) struct Signed {
    signer: Signer,
    /// The key that signed (the account's own for `kid` requests).
    key: Jwk,
    /// The URL the request was signed for.
    url: String,
    payload: Vec<u8>,
}

impl Signed {
    fn account(&self) -> Result<&Account, Problem> {
        match &self.signer {
            Signer::Account(account) => Ok(account),
            Signer::Key(_) => Err(Problem::malformed(
                "This request must be signed by an account (kid).",
            )),
        }
    }

    /// POST-as-GET (RFC 8555 §6.3): an empty payload.
    fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    fn payload<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Problem::malformed(format!(
                "The JWS payload is not the expected JSON object: {e}."
            ))
        })
    }
}

fn jws_problem(error: jws::JwsError) -> Problem {
    let mut problem = Problem::new(ProblemType::from_name(error.problem()), error.to_string());
    if problem.kind == ProblemType::BadSignatureAlgorithm {
        problem.algorithms = Some(&jws::SUPPORTED_ALGORITHMS);
    }
    problem
}

/// Declares an extractor for a signed POST whose key is named as `$rule` allows.
macro_rules! signed_post {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Signed);

        impl FromRequest<AcmeState> for $name {
            type Rejection = Problem;

            async fn from_request(request: Request, state: &AcmeState) -> Result<Self, Problem> {
                let path = request.uri().path().to_owned();
                let headers = request.headers().clone();
                let body = Bytes::from_request(request, state).await.map_err(|rejection| {
                    Problem::malformed(rejection.body_text()).with_status(rejection.status())
                })?;
                verify_post(state, &path, &headers, &body, $rule).await.map($name)
            }
        }
    };
}

signed_post!(
    /// A POST signed by an account (`kid`): every resource but newAccount
    /// and revokeCert.
    AccountPost,
    KeyRule::AccountOnly
);
signed_post!(
    /// newAccount's POST, signed with the new account's key (`jwk`).
    KeyPost,
    KeyRule::KeyOnly
);
signed_post!(
    /// revokeCert's POST: by an account or by the certificate's key.
    AccountOrKeyPost,
    KeyRule::Either
);

/// Checks a POST the way RFC 8555 §6.2–6.5 asks: the JWS media type and
/// shape, the signature (with the account's key or the one given), that
/// it was signed for this very URL, and a nonce used once — the nonce last,
/// so that a forged request cannot use up a client's nonces.
async fn verify_post(
    state: &AcmeState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    rule: KeyRule,
) -> Result<Signed, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim()
        .eq_ignore_ascii_case("application/jose+json")
    {
        return Err(Problem::malformed(
            "ACME requests are JWS with the content type application/jose+json.",
        )
        .with_status(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let request = jws::parse(body).map_err(jws_problem)?;
    let expected_url = state
        .urls()
        .acme(path.strip_prefix("/acme").unwrap_or(path));
    if request.header.url != expected_url {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            format!(
                "The JWS was signed for {:?}, not for this resource ({expected_url}).",
                request.header.url.chars().take(200).collect::<String>()
            ),
        ));
    }
    let (signer, key) = match (&request.header.key, rule) {
        (KeyRef::Jwk(key), KeyRule::KeyOnly | KeyRule::Either) => {
            (Signer::Key(key.clone()), key.clone())
        }
        (KeyRef::Kid(kid), KeyRule::AccountOnly | KeyRule::Either) => {
            let account = account_of_kid(state, kid).await?;
            let key = stored_key(&account)?;
            (Signer::Account(account), key)
        }
        (KeyRef::Jwk(_), KeyRule::AccountOnly) => {
            return Err(Problem::malformed(
                "This request must name its account with kid, not carry a jwk.",
            ));
        }
        (KeyRef::Kid(_), KeyRule::KeyOnly) => {
            return Err(Problem::malformed(
                "newAccount must carry the account's key as jwk, not a kid.",
            ));
        }
    };
    request.verify(&key).map_err(jws_problem)?;
    let nonce = request
        .header
        .nonce
        .as_deref()
        .ok_or_else(|| Problem::new(ProblemType::BadNonce, "The JWS carries no nonce."))?;
    if !state.nonces.redeem(nonce) {
        return Err(Problem::new(
            ProblemType::BadNonce,
            "The nonce is unknown, used already or too old; retry with the Replay-Nonce of this answer.",
        ));
    }
    Ok(Signed {
        signer,
        key,
        url: request.header.url,
        payload: request.payload,
    })
}

/// The account a `kid` names: its URL, as newAccount gave it.
async fn account_of_kid(state: &AcmeState, kid: &str) -> Result<Account, Problem> {
    let prefix = state.urls().acme("/acct/");
    let id = kid
        .strip_prefix(&prefix)
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            Problem::new(
                ProblemType::AccountDoesNotExist,
                format!(
                    "{:?} is not an account URL of this server.",
                    kid.chars().take(200).collect::<String>()
                ),
            )
        })?;
    Ok(state.service.acme_account(id).await?)
}

fn stored_key(account: &Account) -> Result<Jwk, Problem> {
    serde_json::from_str(&account.jwk)
        .ok()
        .and_then(|value| Jwk::from_json(&value).ok())
        .ok_or_else(|| {
            Problem::from(crate::service::ServiceError::Internal(format!(
                "ACME account {} holds an unreadable key",
                account.id
            )))
        })
}
