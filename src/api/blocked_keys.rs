//! `GET /blocked-key`: the keys certd no longer certifies (contract
//! section 8); administrators only.

use axum::Json;
use axum::extract::{RawQuery, State};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, ListQuery};
use super::wire::{BlockedKeyList, BlockedKeyWire, ErrorList, ListPage};

/// Newest first. A key is blocked when a certificate with it is revoked
/// for keyCompromise; every other certificate with it is revoked then, and
/// orders, reissues and ACME finalizes with it are refused.
#[utoipa::path(
    get,
    path = "/services/v2/blocked-key",
    tag = "certificates",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Keys to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Keys a page; default and most 1000"),
    ),
    responses(
        (status = 200, description = "A page of blocked keys", body = BlockedKeyList),
        (status = 400, description = "Bad paging or an unknown filter", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
    )
)]
pub(super) async fn list_blocked_keys(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<BlockedKeyList>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &[])?;
    let (keys, total) = state.service.blocked_keys(auth.ctx(), list.page).await?;
    Ok(Json(BlockedKeyList {
        blocked_keys: keys.iter().map(BlockedKeyWire::from).collect(),
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}
