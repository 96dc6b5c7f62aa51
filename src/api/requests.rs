//! The approval workflow's endpoints.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{ListPage, RequestDetails, RequestList, RequestStatusBody};
use crate::model::{RequestStatus, RequestType};
use crate::service::{Decision, RequestFilter, RequestSort};

pub async fn list_requests(
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
            return Err(ApiError::bad_request(
                "invalid_sort|sort",
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
                ApiError::bad_request(
                    "invalid_filter|value",
                    format!("{text:?} is not a valid {name} filter value."),
                )
            })
        })
        .transpose()
}

pub async fn request_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RequestDetails>, ApiError> {
    let view = state
        .service
        .request_details(auth.ctx(), path_id(&id, "request")?)
        .await?;
    Ok(Json(RequestDetails::from(&view)))
}

pub async fn set_request_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RequestStatusBody>,
) -> Result<StatusCode, ApiError> {
    let request_id = path_id(&id, "request")?;
    let decision = match RequestStatus::parse(&body.status) {
        Some(RequestStatus::Approved) => Decision::Approve,
        Some(RequestStatus::Rejected) => Decision::Reject,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_status|status",
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
