//! Publication endpoints (contract section 6, no auth): CRL shards, OCSP, and
//! the CA chain. Everything served here is already signed by the publisher;
//! these handlers only pick the bytes and set HTTP caching headers.

use crate::codes::ErrorCode;
use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::error::ApiError;
use super::openapi::Binary;
use super::wire::{ErrorList, date_time};
use crate::ca::malformed_response;

/// How long HTTP caches may keep a CRL or an OCSP answer. Short, because a
/// revocation must reach relying parties within seconds; long enough that a
/// cache in front of certd absorbs bursts of identical queries.
const HTTP_MAX_AGE_SECONDS: u64 = 60;

const OCSP_RESPONSE: &str = "application/ocsp-response";

/// Standard base64 with or without `=` padding: clients differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `GET /crl/`: every shard with its number, validity and size.
#[utoipa::path(
    get,
    path = "/crl/",
    tag = "publication",
    responses((status = 200, description = "`{\"crls\":[{\"url\",\"number\",\"this_update\",\"next_update\",\"entries\",\"bytes\"}]}`", body = Object))
)]
pub(super) async fn crl_index(State(state): State<AppState>) -> Json<Value> {
    let crls: Vec<Value> = state
        .service
        .publisher()
        .crls()
        .iter()
        .map(|crl| {
            json!({
                "url": crl.url,
                "number": crl.number,
                "this_update": date_time(crl.this_update.unix_timestamp()),
                "next_update": date_time(crl.next_update.unix_timestamp()),
                "entries": crl.entries,
                "bytes": crl.der.len(),
            })
        })
        .collect();
    Json(json!({ "crls": crls }))
}

/// `GET /crl/{shard}.crl`: the shard's DER CRL.
#[utoipa::path(
    get,
    path = "/crl/{file}",
    tag = "publication",
    params(("file" = String, Path, description = "`N.crl`, N a shard number that `GET /crl/` lists")),
    responses(
        (status = 200, description = "The shard's CRL, signed by the issuing CA", body = inline(Binary), content_type = "application/pkix-crl"),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`"),
        (status = 404, description = "`not_found|crl`: no such shard", body = ErrorList),
    )
)]
pub(super) async fn crl_shard(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let crl = file
        .strip_suffix(".crl")
        .and_then(|n| n.parse::<u16>().ok())
        .and_then(|shard| state.service.publisher().crl(shard))
        .ok_or_else(|| ApiError::new(ErrorCode::NoSuchCrl, "No such CRL; GET /crl/ lists them."))?;
    Ok(cacheable(
        &headers,
        "application/pkix-crl",
        crl.der.clone(),
        crl.this_update,
        crl.next_update,
        &crl.etag,
    ))
}

/// `POST /ocsp` with a DER `OCSPRequest` body (RFC 6960 appendix A.1).
/// The content type is not checked: the body says what it is.
#[utoipa::path(
    post,
    path = "/ocsp",
    tag = "publication",
    request_body(content = inline(Binary), content_type = "application/ocsp-request"),
    responses((status = 200, description = "A signed RFC 6960 answer, or an unsigned `malformedRequest`", body = inline(Binary), content_type = "application/ocsp-response"))
)]
pub(super) async fn ocsp_post(State(state): State<AppState>, body: Bytes) -> Response {
    let answer = state.service.publisher().ocsp(&body).await;
    // POST answers are not cacheable by HTTP caches (RFC 5019 §5), so no validators.
    ([(header::CONTENT_TYPE, OCSP_RESPONSE)], answer.der).into_response()
}

/// `GET /ocsp/{base64}`: the request base64-encoded in the path, percent-encoded
/// or raw (its `/` then splits the path, which the wildcard keeps).
#[utoipa::path(
    get,
    path = "/ocsp/{request}",
    tag = "publication",
    params(("request" = String, Path, description = "The DER OCSPRequest in base64, percent-encoded or raw")),
    responses(
        (status = 200, description = "A signed RFC 6960 answer, or an unsigned `malformedRequest`", body = inline(Binary), content_type = "application/ocsp-response"),
        (status = 304, description = "Not modified: `If-None-Match` names the current `ETag`"),
    )
)]
pub(super) async fn ocsp_get(
    State(state): State<AppState>,
    Path(encoded): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(request) = BASE64.decode(encoded.trim_matches('/')) else {
        return (
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            malformed_response(),
        )
            .into_response();
    };
    let answer = state.service.publisher().ocsp(&request).await;
    match answer.caching {
        Some(caching) => cacheable(
            &headers,
            OCSP_RESPONSE,
            answer.der,
            caching.this_update,
            caching.next_update,
            &caching.etag,
        ),
        None => (
            [
                (header::CONTENT_TYPE, OCSP_RESPONSE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            answer.der,
        )
            .into_response(),
    }
}

/// `GET /ca/chain.pem`: the issuing intermediate, then the root.
#[utoipa::path(
    get,
    path = "/ca/chain.pem",
    tag = "publication",
    responses((status = 200, description = "The issuing intermediate, then the root", body = String, content_type = "application/pem-certificate-chain"))
)]
pub(super) async fn chain_pem(State(state): State<AppState>) -> Response {
    let ca = state.service.ca();
    let chain = format!("{}{}", ca.intermediate_pem(), ca.root_pem());
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        chain,
    )
        .into_response()
}

/// `GET /ca/issuer.der`: the issuing intermediate in DER, the leaves' AIA
/// caIssuers URL.
#[utoipa::path(
    get,
    path = "/ca/issuer.der",
    tag = "publication",
    responses((status = 200, description = "The issuing intermediate", body = inline(Binary), content_type = "application/pkix-cert"))
)]
pub(super) async fn issuer_der(State(state): State<AppState>) -> Response {
    let der = Bytes::copy_from_slice(state.service.ca().intermediate_der());
    ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()
}

/// A signed object with HTTP validators; `304` when the client has it already.
fn cacheable(
    request: &HeaderMap,
    content_type: &'static str,
    body: Bytes,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    etag: &str,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let remaining = (next_update - OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0) as u64;
    let max_age = remaining.min(HTTP_MAX_AGE_SECONDS);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "public, max-age={max_age}, no-transform, must-revalidate"
    )) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    for (name, time) in [
        (header::LAST_MODIFIED, this_update),
        (header::EXPIRES, next_update),
    ] {
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::from(time))) {
            headers.insert(name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, body).into_response()
}
