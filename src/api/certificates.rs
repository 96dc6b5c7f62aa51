//! Certificates: details, download, and the seed's revoke endpoint.

use std::io::Write;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody};
use super::wire::{CertificateObject, RequestObject, RevokeBody};
use crate::model::{ReasonRejection, RevocationReason};
use crate::service::{CertificateRef, RevokeInput, RevokeOutcome, RevokeTarget};

/// A certificate id or serial number from a path (or the command line).
pub fn certificate_ref(text: &str) -> Result<CertificateRef, ApiError> {
    CertificateRef::parse(text).ok_or_else(|| ApiError::not_found("certificate"))
}

pub async fn certificate_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<CertificateObject>, ApiError> {
    let certificate = state
        .service
        .certificate(auth.ctx(), &certificate_ref(&id)?)
        .await?;
    Ok(Json(CertificateObject::issued(&certificate, true)))
}

pub async fn revoke_certificate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    let target = RevokeTarget::Certificate(certificate_ref(&id)?);
    revoke_response(&state, &auth, target, body).await
}

/// 201 with the request object, or 204 when revoked at once.
pub async fn revoke_response(
    state: &AppState,
    auth: &Auth,
    target: RevokeTarget,
    body: RevokeBody,
) -> Result<Response, ApiError> {
    let input = RevokeInput {
        reason: revocation_reason(body.revocation_reason.as_deref())?,
        comments: body.comments,
        skip_approval: body.skip_approval.unwrap_or(false),
    };
    match state.service.revoke(auth.ctx(), target, input).await? {
        RevokeOutcome::Requested(view) => Ok((
            StatusCode::CREATED,
            Json(RequestObject::from(view.as_ref())),
        )
            .into_response()),
        RevokeOutcome::Revoked => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// A `revocation_reason` as the contract spells it, with its error answers
/// (the command line's local mode gives the same).
pub fn revocation_reason(name: Option<&str>) -> Result<RevocationReason, ApiError> {
    let Some(name) = name else {
        return Ok(RevocationReason::Unspecified);
    };
    RevocationReason::parse(name).map_err(|rejection| match rejection {
        ReasonRejection::Forbidden => ApiError::bad_request(
            "invalid_revocation_reason|reason_not_allowed",
            format!(
                "Revocation reason {name:?} is not allowed: the CA/Browser Forum Baseline Requirements forbid \
                 certificate holds, and CA compromise is not a subscriber's reason."
            ),
        ),
        ReasonRejection::Unknown => ApiError::bad_request(
            "invalid_revocation_reason|unknown_reason",
            format!(
                "Unknown revocation reason {name:?}; use one of {}.",
                RevocationReason::ALL.map(RevocationReason::name).join(", ")
            ),
        ),
    })
}

/// The PEM files of a certificate's chain, leaf first.
enum ChainFormat {
    All,
    NoRoot,
}

pub async fn download_format(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((id, format)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let chain = match format.to_ascii_lowercase().as_str() {
        "pem_all" => ChainFormat::All,
        "pem_noroot" => ChainFormat::NoRoot,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_format|format",
                format!("Unknown download format {format:?}; certd offers pem_all and pem_noroot."),
            ));
        }
    };
    download(&state, &auth, &headers, &id, chain).await
}

/// Every platform gets the full PEM chain.
pub async fn download_platform(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((id, _platform)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    download(&state, &auth, &headers, &id, ChainFormat::All).await
}

async fn download(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    id: &str,
    chain: ChainFormat,
) -> Result<Response, ApiError> {
    let certificate = state
        .service
        .certificate(auth.ctx(), &certificate_ref(id)?)
        .await?;
    let ca = state.service.ca();
    let mut files = vec![
        ("certificate.pem", certificate.pem.as_str()),
        ("intermediate.pem", ca.intermediate_pem()),
    ];
    if matches!(chain, ChainFormat::All) {
        files.push(("root.pem", ca.root_pem()));
    }
    let wants_zip = headers
        .get(header::ACCEPT)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/zip"));
    if wants_zip {
        let zip = zip_files(&files).map_err(|e| {
            tracing::error!(error = %e, "building zip");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error|internal",
                "Could not build the ZIP file.",
            )
        })?;
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            )],
            zip,
        )
            .into_response());
    }
    let mut body = String::new();
    for (_, pem) in &files {
        body.push_str(pem.trim_end());
        body.push('\n');
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        body,
    )
        .into_response())
}

fn zip_files(files: &[(&str, &str)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, pem) in files {
        writer.start_file(*name, options)?;
        writer.write_all(pem.as_bytes())?;
    }
    Ok(writer.finish()?.into_inner())
}
