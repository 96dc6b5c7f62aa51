//! The approval workflow's endpoints.

use crate::codes::ErrorCode;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{ErrorList, ListPage, RequestDetails, RequestList, RequestStatusBody};
use crate::model::{RequestStatus, RequestType};
use crate::service::{Decision, RequestFilter, RequestSort};

/// A user sees the requests they made; an administrator sees all.
#[utoipa::path(
    get,
    path = "/services/v2/request",
    tag = "requests",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Requests to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Requests a page; default and most 1000"),
        ("sort" = Option<String>, Query, description = "`id` (default), `-id`, `date` or `-date`"),
        ("filters[status]" = Option<RequestStatus>, Query, description = "Only requests in this status"),
        ("filters[type]" = Option<RequestType>, Query, description = "Only requests of this type"),
    ),
    responses(
        (status = 200, description = "A page of requests", body = RequestList),
        (status = 400, description = "An unknown filter, filter value or sort, or bad paging", body = ErrorList),
    )
)]
pub(super) async fn list_requests(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<RequestList>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &["status", "type"])?;
    let filter = RequestFilter {
        requester_id: None,
        status: parse_filter(list.filters.get("status"), RequestStatus::parse, "status")?,
        kind: parse_filter(list.filters.get("type"), RequestType::parse, "type")?,
    };
    let sort = match list.sort.as_deref().unwrap_or("id") {
        "id" => RequestSort::IdAscending,
        "-id" => RequestSort::IdDescending,
        "date" => RequestSort::DateAscending,
        "-date" => RequestSort::DateDescending,
        other => {
            return Err(ApiError::new(
                ErrorCode::BadSort,
                format!("Cannot sort by {other:?}; use id, -id, date or -date."),
            ));
        }
    };
    let (views, total) = state
        .service
        .list_requests(auth.ctx(), filter, sort, list.page)
        .await?;
    Ok(Json(RequestList {
        requests: views.iter().map(RequestDetails::from).collect(),
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}

fn parse_filter<T>(
    value: Option<&String>,
    parse: fn(&str) -> Option<T>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|text| {
            parse(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadFilterValue,
                    format!("{text:?} is not a valid {name} filter value."),
                )
            })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/services/v2/request/{request_id}",
    tag = "requests",
    params(("request_id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = RequestDetails),
        (status = 404, description = "`not_found|request`: no such request, or not the caller's", body = ErrorList),
    )
)]
pub(super) async fn request_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RequestDetails>, ApiError> {
    let view = state
        .service
        .request_details(auth.ctx(), path_id(&id, ErrorCode::NoSuchRequest)?)
        .await?;
    Ok(Json(RequestDetails::from(&view)))
}

/// Approving a revoke request revokes at that moment; rejecting changes
/// nothing else. Administrators only.
#[utoipa::path(
    put,
    path = "/services/v2/request/{request_id}/status",
    tag = "requests",
    params(("request_id" = i64, Path, description = "The request's id")),
    request_body = RequestStatusBody,
    responses(
        (status = 204, description = "Approved or rejected"),
        (status = 400, description = "A status other than `approved` or `rejected`, or a malformed body; or `invalid_csr|key_blocked`: the order's or reissue's key was revoked for key compromise since it was asked for (reject the request). Nothing changed", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 404, description = "`not_found|request`: no such request", body = ErrorList),
        (status = 409, description = "`request_not_pending`: the request was approved or rejected already; or `order_expired`: the order's validity ended before its certificate could be issued. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn set_request_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RequestStatusBody>,
) -> Result<StatusCode, ApiError> {
    let request_id = path_id(&id, ErrorCode::NoSuchRequest)?;
    let decision = match RequestStatus::parse(&body.status) {
        Some(RequestStatus::Approved) => Decision::Approve,
        Some(RequestStatus::Rejected) => Decision::Reject,
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadStatus,
                format!(
                    "status must be \"approved\" or \"rejected\", not {:?}.",
                    body.status
                ),
            ));
        }
    };
    state
        .service
        .decide(
            auth.ctx(),
            request_id,
            decision,
            body.processor_comment.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
