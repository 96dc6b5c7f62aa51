//! Orders: place, list, details, reissue, cancel, revoke the whole order.

use crate::codes::ErrorCode;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::certificates::revoke_response;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{
    ErrorList, ListPage, OrderBody, OrderCreated, OrderDetails, OrderList, OrderStatusBody,
    ReissueBody, RequestObject, RequestStatusRef, RevokeBody,
};
use crate::model::{OrderStatus, Product};
use crate::service::{
    CertificateRef, OrderFilter, OrderPlacement, ReissueInput, RevokeTarget, normalise_name,
};

const DAYS_PER_YEAR: i64 = 365;

/// An administrator's `skip_approval` order is issued at once; any other
/// waits as a `new_request` request until an administrator approves it.
#[utoipa::path(
    post,
    path = "/services/v2/order/certificate/{id}",
    tag = "orders",
    params(("id" = Product, Path, description = "The product's `name_id`")),
    request_body = OrderBody,
    responses(
        (status = 201, description = "The order, with its certificate id when issued at once", body = OrderCreated),
        (status = 400, description = "An unknown product, a bad CSR (`invalid_csr|key_blocked`: its key was revoked for key compromise), bad names or validity, or a malformed body; nothing recorded", body = ErrorList),
        (status = 403, description = super::openapi::SKIP_APPROVAL_REFUSED, body = ErrorList),
    )
)]
pub(super) async fn place_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(product): Path<String>,
    JsonBody(body): JsonBody<OrderBody>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let product = Product::parse(&product).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownProduct,
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

#[utoipa::path(
    get,
    path = "/services/v2/order/certificate/{id}",
    tag = "orders",
    params(("id" = i64, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderDetails),
        (status = 404, description = "`not_found|order`: no such order, or not the caller's", body = ErrorList),
    )
)]
pub(super) async fn order_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<OrderDetails>, ApiError> {
    let view = state
        .service
        .order_details(auth.ctx(), path_id(&id, ErrorCode::NoSuchOrder)?)
        .await?;
    Ok(Json(OrderDetails::new(
        &view.order,
        view.certificate.as_ref(),
        Some(&view.requests),
    )))
}

/// A user sees their own orders; an administrator sees all.
#[utoipa::path(
    get,
    path = "/services/v2/order/certificate",
    tag = "orders",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Orders to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Orders a page; default and most 1000"),
        ("filters[status]" = Option<OrderStatus>, Query, description = "Only orders in this status"),
        ("filters[common_name]" = Option<String>, Query, description = "Only orders for this common name"),
        ("filters[serial_number]" = Option<String>, Query, description = "Only the order of the certificate with this serial number (hex, colons allowed)"),
        ("filters[organization_id]" = Option<String>, Query, description = "certd has one organization, 1; any other id matches nothing"),
    ),
    responses(
        (status = 200, description = "A page of orders", body = OrderList),
        (status = 400, description = "An unknown filter or status, or bad paging", body = ErrorList),
    )
)]
pub(super) async fn list_orders(
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
            ApiError::new(
                ErrorCode::BadStatusFilter,
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
            .map(|name| normalise_name(name)),
        serial_number: list
            .filters
            .get("serial_number")
            .map(|serial| CertificateRef::normalise_serial(serial)),
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

/// The old certificate stays valid unless revoked.
#[utoipa::path(
    post,
    path = "/services/v2/order/certificate/{order_id}/reissue",
    tag = "orders",
    params(("order_id" = i64, Path, description = "The order's id")),
    request_body = ReissueBody,
    responses(
        (status = 201, description = "The reissue request, approved when issued at once", body = OrderCreated),
        (status = 400, description = "A bad CSR (`invalid_csr|key_blocked`: its key was revoked for key compromise), bad names or a malformed body; nothing recorded", body = ErrorList),
        (status = 403, description = super::openapi::SKIP_APPROVAL_REFUSED, body = ErrorList),
        (status = 404, description = "`not_found|order`: no such order, or not the caller's", body = ErrorList),
        (status = 409, description = "The order is revoked, not issued, expired, or has a pending request", body = ErrorList),
    )
)]
pub(super) async fn reissue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReissueBody>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let order_id = path_id(&id, ErrorCode::NoSuchOrder)?;
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

/// Cancels a pending order or a pending reissue.
#[utoipa::path(
    put,
    path = "/services/v2/order/certificate/{order_id}/status",
    tag = "orders",
    params(("order_id" = i64, Path, description = "The order's id")),
    request_body = OrderStatusBody,
    responses(
        (status = 204, description = "Canceled"),
        (status = 400, description = "A status other than `canceled`, or a malformed body", body = ErrorList),
        (status = 404, description = "`not_found|order`: no such order, or not the caller's", body = ErrorList),
        (status = 409, description = "`invalid_order_status`: nothing is pending on the order", body = ErrorList),
    )
)]
pub(super) async fn set_order_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OrderStatusBody>,
) -> Result<StatusCode, ApiError> {
    let order_id = path_id(&id, ErrorCode::NoSuchOrder)?;
    if OrderStatus::parse(&body.status) != Some(OrderStatus::Canceled) {
        return Err(ApiError::new(
            ErrorCode::BadStatus,
            format!("status must be \"canceled\", not {:?}.", body.status),
        ));
    }
    state
        .service
        .cancel_order(auth.ctx(), order_id, body.note.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approval revokes every unrevoked certificate the order ever had and
/// makes the order `revoked`.
#[utoipa::path(
    put,
    path = "/services/v2/order/certificate/{order_id}/revoke",
    tag = "orders",
    params(("order_id" = i64, Path, description = "The order's id")),
    request_body(content = RevokeBody, description = "May be empty: every field is optional"),
    responses(
        (status = 201, description = "A pending revoke request was created; nothing is revoked yet", body = RequestObject),
        (status = 204, description = "Revoked at once (`skip_approval` by an administrator, or revokes are auto-approved)"),
        (status = 400, description = "A malformed body, an unknown or refused reason, or comments over 1000 characters; nothing recorded", body = ErrorList),
        (status = 403, description = super::openapi::REVOCATION_REFUSED, body = ErrorList),
        (status = 404, description = "`not_found|order`: no such order, or not the caller's", body = ErrorList),
        (status = 409, description = "Already revoked, never issued, or a reissue or revoke is pending on the order", body = ErrorList),
    )
)]
pub(super) async fn revoke_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    let target = RevokeTarget::Order(path_id(&id, ErrorCode::NoSuchOrder)?);
    revoke_response(&state, &auth, target, body).await
}
