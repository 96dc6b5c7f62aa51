//! The caller's own account, the audit log and the health check.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, ListQuery};
use super::wire::{AuditLog, ListPage, UserDetails};

pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.service.healthy().await {
        Ok(Json(json!({"status": "ok"})))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable|database",
            "The database is unavailable.",
        ))
    }
}

pub async fn user_me(auth: Auth) -> Json<UserDetails> {
    Json((&auth.caller.user).into())
}

pub async fn audit_log(
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
