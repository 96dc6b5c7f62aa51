//! Revocation campaigns (contract section 9): create (or dry-run), approve,
//! reject, cancel, hold, and follow them. Administrators only.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{
    CampaignBody, CampaignCertificateList, CampaignCertificateWire, CampaignDryRun, CampaignList,
    CampaignObject, CampaignSelector, CampaignStatusBody, CertificateObject, ErrorList, HoldBody,
    ListPage,
};
use crate::codes::ErrorCode;
use crate::model::{CampaignCertificateStatus, CertificateRef, Selector, UnixTime};
use crate::service::{CampaignCreated, CampaignDecision, CampaignInput, parse_reason};

/// A date as section 1 writes them (`YYYY-MM-DDTHH:MM:SS+00:00`, any RFC
/// 3339 time, or a plain `YYYY-MM-DD`: midnight UTC).
fn parse_date(field: &str, text: &str) -> Result<UnixTime, ApiError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at.unix_timestamp());
    }
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(|day| day.midnight().assume_utc().unix_timestamp())
        .map_err(|_| {
            ApiError::new(
                ErrorCode::BadDate,
                format!(
                    "{field} {text:?} is not a date: write YYYY-MM-DDTHH:MM:SS+00:00 or \
                     YYYY-MM-DD."
                ),
            )
        })
}

fn selector_of(wire: CampaignSelector) -> Result<Selector, ApiError> {
    let date = |field: &str, text: Option<String>| {
        text.map(|text| parse_date(&format!("selector.{field}"), &text))
            .transpose()
    };
    Ok(Selector {
        issued_after: date("issued_after", wire.issued_after)?,
        issued_before: date("issued_before", wire.issued_before)?,
        serials: wire.serials,
        certificate_ids: wire.certificate_ids,
        order_ids: wire.order_ids,
        user_email: wire.user_email,
        domain: wire.domain,
        public_key_sha256: wire.public_key_sha256,
    })
}

/// A dry run answers 200 with what the selector matches now and records
/// nothing; otherwise the campaign is created `pending` (201) and waits for
/// approval by other administrators. keyCompromise is refused: a campaign
/// blocks no keys, so compromised keys are revoked one by one.
#[utoipa::path(
    post,
    path = "/services/v2/campaign",
    tag = "campaigns",
    request_body = CampaignBody,
    responses(
        (status = 200, description = "Dry run: what the selector matches now", body = CampaignDryRun),
        (status = 201, description = "The campaign, pending approval", body = CampaignObject),
        (status = 400, description = "An empty, unknown or malformed selector condition (`invalid_selector`), one that matches nothing, dates the wrong way round or a `revoke_at` in the past (`invalid_date`), an unknown field, or a refused reason. Nothing recorded", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
    )
)]
pub(super) async fn create_campaign(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<CampaignBody>,
) -> Result<Response, ApiError> {
    let input = CampaignInput {
        name: body.name,
        reason: parse_reason(Some(&body.reason))?,
        comments: body.comments,
        selector: selector_of(body.selector)?,
        revoke_at: body
            .revoke_at
            .map(|text| parse_date("revoke_at", &text))
            .transpose()?,
        dry_run: body.dry_run.unwrap_or(false),
    };
    let answer = match state.service.create_campaign(auth.ctx(), input).await? {
        CampaignCreated::DryRun {
            matched,
            already_revoked,
            sample,
        } => Json(CampaignDryRun {
            matched,
            already_revoked,
            sample: sample
                .iter()
                .map(|c| CertificateObject::issued(c, true))
                .collect(),
        })
        .into_response(),
        CampaignCreated::Created(view) => {
            (StatusCode::CREATED, Json(CampaignObject::from(&*view))).into_response()
        }
    };
    Ok(answer)
}

/// Newest first.
#[utoipa::path(
    get,
    path = "/services/v2/campaign",
    tag = "campaigns",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Campaigns to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Campaigns a page; default and most 1000"),
    ),
    responses(
        (status = 200, description = "A page of campaigns", body = CampaignList),
        (status = 400, description = "Bad paging or an unknown filter", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
    )
)]
pub(super) async fn list_campaigns(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<CampaignList>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &[])?;
    let (views, total) = state.service.list_campaigns(auth.ctx(), list.page).await?;
    Ok(Json(CampaignList {
        campaigns: views.iter().map(CampaignObject::from).collect(),
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}

/// The campaign with its live counts.
#[utoipa::path(
    get,
    path = "/services/v2/campaign/{campaign_id}",
    tag = "campaigns",
    params(("campaign_id" = i64, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign", body = CampaignObject),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
        (status = 404, description = "`not_found|campaign`", body = ErrorList),
    )
)]
pub(super) async fn campaign_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<CampaignObject>, ApiError> {
    let id = path_id(&id, ErrorCode::NoSuchCampaign)?;
    let view = state.service.campaign(auth.ctx(), id).await?;
    Ok(Json(CampaignObject::from(&view)))
}

/// `approved` adds the caller's approval (an administrator other than the
/// requester, once each); the last one needed freezes the selection and
/// starts the campaign, or schedules it for `revoke_at`. `rejected` ends a
/// pending campaign; `canceled` one that has not started.
#[utoipa::path(
    put,
    path = "/services/v2/campaign/{campaign_id}/status",
    tag = "campaigns",
    params(("campaign_id" = i64, Path, description = "The campaign's id")),
    request_body = CampaignStatusBody,
    responses(
        (status = 200, description = "The campaign after the change", body = CampaignObject),
        (status = 400, description = "A status other than approved, rejected or canceled", body = ErrorList),
        (status = 403, description = "`access_denied|own_request`: the requester cannot approve; or not an administrator's key", body = ErrorList),
        (status = 404, description = "`not_found|campaign`", body = ErrorList),
        (status = 409, description = "`duplicate_approval`: approved by this administrator already; `invalid_campaign_status`: the campaign's status does not allow it (too late to cancel once it runs). Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn set_campaign_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CampaignStatusBody>,
) -> Result<Json<CampaignObject>, ApiError> {
    let id = path_id(&id, ErrorCode::NoSuchCampaign)?;
    let decision = match body.status.to_ascii_lowercase().as_str() {
        "approved" => CampaignDecision::Approve,
        "rejected" => CampaignDecision::Reject,
        "canceled" | "cancelled" => CampaignDecision::Cancel,
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadStatus,
                format!(
                    "status must be \"approved\", \"rejected\" or \"canceled\", not {:?}.",
                    body.status
                ),
            ));
        }
    };
    let view = state
        .service
        .decide_campaign(auth.ctx(), id, decision, body.comment.as_deref())
        .await?;
    Ok(Json(CampaignObject::from(&view)))
}

/// Excludes one of the campaign's certificates before the campaign runs
/// (counted in `held`, audited).
#[utoipa::path(
    post,
    path = "/services/v2/campaign/{campaign_id}/hold",
    tag = "campaigns",
    params(("campaign_id" = i64, Path, description = "The campaign's id")),
    request_body = HoldBody,
    responses(
        (status = 200, description = "The campaign after the hold", body = CampaignObject),
        (status = 400, description = "Neither or both of certificate_id and serial; or `invalid_hold|not_in_campaign`", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 404, description = "`not_found|campaign` or `not_found|certificate`", body = ErrorList),
        (status = 409, description = "`duplicate_hold`: held already; `invalid_campaign_status`: the campaign runs or ended. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn hold_certificate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<HoldBody>,
) -> Result<Json<CampaignObject>, ApiError> {
    let id = path_id(&id, ErrorCode::NoSuchCampaign)?;
    let certificate = match (body.certificate_id, body.serial.as_deref()) {
        (Some(id), None) if id > 0 => CertificateRef::Id(id),
        (None, Some(serial)) => match CertificateRef::parse(serial) {
            Some(reference) => reference,
            None => return Err(ApiError::not_found(ErrorCode::NoSuchCertificate)),
        },
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "Name the certificate to hold by certificate_id or by serial (one of them).",
            ));
        }
    };
    let view = state
        .service
        .hold_campaign_certificate(auth.ctx(), id, &certificate, body.comments.as_deref())
        .await?;
    Ok(Json(CampaignObject::from(&view)))
}

/// The campaign's certificates by id: before the final approval, what its
/// selector matches now (and the holds); after, its frozen selection, each
/// with what became of it.
#[utoipa::path(
    get,
    path = "/services/v2/campaign/{campaign_id}/certificate",
    tag = "campaigns",
    params(
        ("campaign_id" = i64, Path, description = "The campaign's id"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "Certificates to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Certificates a page; default and most 1000"),
        ("filters[status]" = Option<crate::model::CampaignCertificateStatus>, Query, description = "Only certificates in this state"),
    ),
    responses(
        (status = 200, description = "A page of the campaign's certificates", body = CampaignCertificateList),
        (status = 400, description = "Bad paging, an unknown filter or status", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
        (status = 404, description = "`not_found|campaign`", body = ErrorList),
    )
)]
pub(super) async fn campaign_certificates(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<CampaignCertificateList>, ApiError> {
    let id = path_id(&id, ErrorCode::NoSuchCampaign)?;
    let list = ListQuery::parse(query.as_deref(), &["status"])?;
    let status = list
        .filters
        .get("status")
        .map(|text| {
            CampaignCertificateStatus::parse(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadStatusFilter,
                    format!(
                        "{text:?} is no campaign certificate status: selected, held, revoked, \
                         already_revoked or failed."
                    ),
                )
            })
        })
        .transpose()?;
    let (certificates, total) = state
        .service
        .campaign_certificates(auth.ctx(), id, status, list.page)
        .await?;
    Ok(Json(CampaignCertificateList {
        certificates: certificates
            .into_iter()
            .map(CampaignCertificateWire::from)
            .collect(),
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_forms_and_nothing_else() {
        assert_eq!(
            parse_date("d", "2016-02-10T17:06:15+00:00").unwrap(),
            1_455_123_975
        );
        assert_eq!(parse_date("d", "2016-02-10").unwrap(), 1_455_062_400);
        assert!(parse_date("d", "10/02/2016").is_err());
        assert!(parse_date("d", "2016-02-30").is_err());
    }
}
