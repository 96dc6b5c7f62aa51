//! Certificates: details, download, and the seed's revoke endpoint.

use crate::codes::ErrorCode;
use std::io::Write;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody};
use super::openapi::Binary;
use super::wire::{CertificateObject, ErrorList, RequestObject, RevokeBody};
use crate::service::{CertificateRef, RevokeInput, RevokeOutcome, RevokeTarget, parse_reason};

/// A certificate id or serial number from a path (or the command line).
pub(crate) fn certificate_ref(text: &str) -> Result<CertificateRef, ApiError> {
    CertificateRef::parse(text).ok_or_else(|| ApiError::not_found(ErrorCode::NoSuchCertificate))
}

#[utoipa::path(
    get,
    path = "/services/v2/certificate/{certificate_id}",
    tag = "certificates",
    params(("certificate_id" = String, Path, description = "The certificate's id, or its serial number in hex (colons allowed, any case)")),
    responses(
        (status = 200, description = "The certificate", body = CertificateObject),
        (status = 404, description = "`not_found|certificate`: no such certificate, or not the caller's", body = ErrorList),
    )
)]
pub(super) async fn certificate_details(
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

/// The seed's endpoint: ask to revoke, or (administrators) revoke at once.
#[utoipa::path(
    put,
    path = "/services/v2/certificate/{certificate_id}/revoke",
    tag = "certificates",
    params(("certificate_id" = String, Path, description = "The certificate's id, or its serial number in hex (colons allowed, any case)")),
    request_body(content = RevokeBody, description = "May be empty: every field is optional"),
    responses(
        (status = 201, description = "A pending revoke request was created; nothing is revoked yet", body = RequestObject),
        (status = 204, description = "Revoked at once (`skip_approval` by an administrator, or revokes are auto-approved)"),
        (status = 400, description = "A malformed body, an unknown or refused reason, or comments over 1000 characters; nothing recorded", body = ErrorList),
        (status = 403, description = super::openapi::REVOCATION_REFUSED, body = ErrorList),
        (status = 404, description = "`not_found|certificate`: no such certificate, or not the caller's", body = ErrorList),
        (status = 409, description = "`already_revoked`, `reissue_pending` or `duplicate_request` (the message names the pending request); nothing recorded", body = ErrorList),
    )
)]
pub(super) async fn revoke_certificate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    let target = RevokeTarget::Certificate(certificate_ref(&id)?);
    revoke_response(&state, &auth, target, body).await
}

/// 201 with the request object, or 204 when revoked at once.
pub(super) async fn revoke_response(
    state: &AppState,
    auth: &Auth,
    target: RevokeTarget,
    body: RevokeBody,
) -> Result<Response, ApiError> {
    let input = RevokeInput {
        reason: parse_reason(body.revocation_reason.as_deref())?,
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

/// The PEM files of a certificate's chain, leaf first.
#[derive(utoipa::ToSchema)]
enum ChainFormat {
    /// Leaf, intermediate, root.
    #[schema(rename = "pem_all")]
    All,
    /// Leaf, intermediate.
    #[schema(rename = "pem_noroot")]
    NoRoot,
}

/// Works for revoked certificates too.
#[utoipa::path(
    get,
    path = "/services/v2/certificate/{certificate_id}/download/format/{format}",
    tag = "certificates",
    params(("certificate_id" = String, Path, description = "The certificate's id, or its serial number in hex (colons allowed, any case)"), ("format" = inline(ChainFormat), Path, description = "Which files (any letter case)")),
    responses(
        (status = 200, description = "The chain, leaf first; a ZIP of `certificate.pem`, `intermediate.pem` and `root.pem` when `Accept` starts with `application/zip`", content(
            (String = "application/x-pem-file"),
            (inline(Binary) = "application/zip"),
        )),
        (status = 400, description = "`invalid_format`: an unknown format", body = ErrorList),
        (status = 404, description = "`not_found|certificate`: no such certificate, or not the caller's", body = ErrorList),
    )
)]
pub(super) async fn download_format(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((id, format)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let chain = match format.to_ascii_lowercase().as_str() {
        "pem_all" => ChainFormat::All,
        "pem_noroot" => ChainFormat::NoRoot,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnknownFormat,
                format!("Unknown download format {format:?}; certd offers pem_all and pem_noroot."),
            ));
        }
    };
    download(&state, &auth, &headers, &id, chain).await
}

/// Every platform gets the full PEM chain.
#[utoipa::path(
    get,
    path = "/services/v2/certificate/{certificate_id}/download/platform/{platform_id}",
    tag = "certificates",
    params(("certificate_id" = String, Path, description = "The certificate's id, or its serial number in hex (colons allowed, any case)"), ("platform_id" = String, Path, description = "Any CertCentral platform id")),
    responses(
        (status = 200, description = "The chain, leaf first; a ZIP of `certificate.pem`, `intermediate.pem` and `root.pem` when `Accept` starts with `application/zip`", content(
            (String = "application/x-pem-file"),
            (inline(Binary) = "application/zip"),
        )),
        (status = 404, description = "`not_found|certificate`: no such certificate, or not the caller's", body = ErrorList),
    )
)]
pub(super) async fn download_platform(
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
            ApiError::new(ErrorCode::Internal, "Could not build the ZIP file.")
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
