//! Orders: place, list, details, reissue, cancel, revoke the whole order.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::certificates::revoke_response;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{
    ListPage, OrderBody, OrderCreated, OrderDetails, OrderList, OrderStatusBody, ReissueBody,
    RequestStatusRef, RevokeBody,
};
use crate::model::{OrderStatus, Product};
use crate::service::{OrderFilter, OrderPlacement, ReissueInput, RevokeTarget};

const DAYS_PER_YEAR: i64 = 365;

pub async fn place_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(product): Path<String>,
    JsonBody(body): JsonBody<OrderBody>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let product = Product::parse(&product).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_product|product_name_id",
            format!("Unknown product {product:?}; certd sells ssl_basic, ssl_plus, ssl_multi_domain and ssl_wildcard."),
        )
    })?;
    let validity = body.order_validity.as_ref();
    let validity_days = validity
        .and_then(|v| v.days)
        .or(body.validity_days)
        .or_else(|| {
            validity
                .and_then(|v| v.years)
                .or(body.validity_years)
                .map(|y| y.saturating_mul(DAYS_PER_YEAR))
        })
        .unwrap_or(DAYS_PER_YEAR);
    let placement = OrderPlacement {
        product,
        common_name: body.certificate.common_name,
        dns_names: body.certificate.dns_names.unwrap_or_default(),
        csr: body.certificate.csr,
        signature_hash: body.certificate.signature_hash,
        validity_days,
        skip_approval: body.skip_approval.unwrap_or(false),
        comments: body.comments,
    };
    let placed = state.service.place_order(auth.ctx(), placement).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrderCreated {
            id: placed.order_id,
            certificate_id: placed.certificate_id,
            requests: vec![RequestStatusRef {
                id: placed.request_id,
                status: placed.request_status.as_str(),
            }],
        }),
    ))
}

pub async fn order_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<OrderDetails>, ApiError> {
    let view = state
        .service
        .order_details(auth.ctx(), path_id(&id, "order")?)
        .await?;
    Ok(Json(OrderDetails::new(
        &view.order,
        view.certificate.as_ref(),
        Some(&view.requests),
    )))
}

pub async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<OrderList>, ApiError> {
    let list = ListQuery::parse(
        query.as_deref(),
        &["status", "common_name", "serial_number", "organization_id"],
    )?;
    let status = match list.filters.get("status") {
        Some(text) => Some(OrderStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_filter|status",
                format!("Unknown order status {text:?}."),
            )
        })?),
        None => None,
    };
    let page = ListPage {
        total: 0,
        limit: list.page.limit,
        offset: list.page.offset,
    };
    // certd has one organization (id 1): any other id matches nothing.
    if list
        .filters
        .get("organization_id")
        .is_some_and(|id| id.trim() != "1")
    {
        return Ok(Json(OrderList {
            orders: vec![],
            page,
        }));
    }
    let filter = OrderFilter {
        user_id: None,
        status,
        common_name: list
            .filters
            .get("common_name")
            .map(|n| n.trim().to_ascii_lowercase()),
        serial_number: list
            .filters
            .get("serial_number")
            .map(|s| s.replace(':', "").to_ascii_uppercase()),
    };
    let (orders, total) = state
        .service
        .list_orders(auth.ctx(), filter, list.page)
        .await?;
    Ok(Json(OrderList {
        orders: orders
            .iter()
            .map(|(order, certificate)| OrderDetails::new(order, certificate.as_ref(), None))
            .collect(),
        page: ListPage { total, ..page },
    }))
}

pub async fn reissue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReissueBody>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let order_id = path_id(&id, "order")?;
    let input = ReissueInput {
        csr: body.certificate.csr,
        common_name: body.certificate.common_name,
        dns_names: body.certificate.dns_names,
        signature_hash: body.certificate.signature_hash,
        skip_approval: body.skip_approval.unwrap_or(false),
        comments: body.comments,
    };
    let (request_id, status) = state.service.reissue(auth.ctx(), order_id, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrderCreated {
            id: order_id,
            certificate_id: None,
            requests: vec![RequestStatusRef {
                id: request_id,
                status: status.as_str(),
            }],
        }),
    ))
}

pub async fn set_order_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OrderStatusBody>,
) -> Result<StatusCode, ApiError> {
    let order_id = path_id(&id, "order")?;
    if OrderStatus::parse(&body.status) != Some(OrderStatus::Canceled) {
        return Err(ApiError::bad_request(
            "invalid_status|status",
            format!("status must be \"canceled\", not {:?}.", body.status),
        ));
    }
    state
        .service
        .cancel_order(auth.ctx(), order_id, body.note.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    let target = RevokeTarget::Order(path_id(&id, "order")?);
    revoke_response(&state, &auth, target, body).await
}
