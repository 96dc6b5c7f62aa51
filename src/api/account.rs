//! The caller's own account, the audit log and the health check.

use crate::codes::ErrorCode;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, ListQuery};
use super::wire::{AuditLog, ErrorList, ListPage, UserDetails};

#[utoipa::path(
    get,
    path = "/health",
    tag = "publication",
    responses(
        (status = 200, description = "`{\"status\":\"ok\"}`: the database is reachable", body = Object),
        (status = 503, description = "The database is unavailable", body = ErrorList),
    )
)]
pub(super) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.service.healthy().await {
        Ok(Json(json!({"status": "ok"})))
    } else {
        Err(ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "The database is unavailable.",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/services/v2/user/me",
    tag = "account",
    responses((status = 200, description = "The caller's user", body = UserDetails))
)]
pub(super) async fn user_me(auth: Auth) -> Json<UserDetails> {
    Json((&auth.caller.user).into())
}

/// Newest first; administrators only.
#[utoipa::path(
    get,
    path = "/services/v2/audit-log",
    tag = "account",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Entries to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Entries a page; default and most 1000"),
        ("filters[action]" = Option<String>, Query, description = "Only entries of this action, such as `revoke`"),
    ),
    responses(
        (status = 200, description = "A page of audit log entries", body = AuditLog),
        (status = 400, description = "An unknown filter or bad paging", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
    )
)]
pub(super) async fn audit_log(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditLog>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &["action"])?;
    let action = list.filters.get("action").map(String::as_str);
    let (entries, total) = state
        .service
        .audit_log(auth.ctx(), action, list.page)
        .await?;
    Ok(Json(AuditLog {
        entries: entries.into_iter().map(Into::into).collect(),
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}
