//! Administering users and API keys over HTTP, so that the CLI's remote mode
//! (and any CertCentral client) can do it: CertCentral's paths and shapes
//! where it has them (`/user`, `/user/{id}`, `/key/user/{id}`,
//! `/key/{id}/status`), certd's own `/key` list and `/user/{id}/status`.

use crate::codes::ErrorCode;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody, ListQuery, path_id};
use super::wire::{
    ErrorList, KeyBody, KeyCreated, KeyDetails, KeyList, ListPage, NewUserBody, StatusBody,
    UserCreated, UserDetails, UserList, VIEW_ONLY_ROLE_ID,
};
use crate::model::{KeyStatus, Role, UserStatus};
use crate::service::{NewUserInput, UserRef};

#[utoipa::path(
    get,
    path = "/services/v2/user",
    tag = "users",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, description = "Users to skip; default 0"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Users a page; default and most 1000"),
    ),
    responses(
        (status = 200, description = "A page of users, oldest first", body = UserList),
        (status = 400, description = "Bad paging or an unknown filter", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
    )
)]
pub(super) async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<UserList>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &[])?;
    let users = state.service.users(auth.ctx()).await?;
    let total = users.len() as i64;
    let users = users
        .iter()
        .skip(usize::try_from(list.page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(list.page.limit).unwrap_or(0))
        .map(UserDetails::from)
        .collect();
    Ok(Json(UserList {
        users,
        page: ListPage {
            total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}

/// CertCentral's *Create user*: 201 `{"id", "api_key"}`, the user's first
/// API key shown this once (as `certd user add` prints it).
#[utoipa::path(
    post,
    path = "/services/v2/user",
    tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The new user's id and first key; `api_key` is shown this once", body = UserCreated),
        (status = 400, description = "`invalid_email|email`, `invalid_role|access_roles`, an unsupported `restricted_to_role_id`, or a malformed body", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 409, description = "`duplicate_user|email`: a user has this address, in any case. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn add_user(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewUserBody>,
) -> Result<(StatusCode, Json<UserCreated>), ApiError> {
    let role = match body.access_roles.as_slice() {
        [one] => Role::from_certcentral_id(one.id),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRole,
            "access_roles must hold one role: [{\"id\": 1}] administrator or [{\"id\": 2}] user.",
        )
    })?;
    let input = NewUserInput {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        role,
        view_only: view_only(body.restricted_to_role_id)?,
    };
    let (user, api_key) = state.service.add_user(auth.ctx(), &input).await?;
    let created = UserCreated {
        id: user.id,
        api_key,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/services/v2/user/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserDetails),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
        (status = 404, description = "`not_found|user`: no such user", body = ErrorList),
    )
)]
pub(super) async fn user_details(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<UserDetails>, ApiError> {
    let user = UserRef::Id(path_id(&id, ErrorCode::NoSuchUser)?);
    let user = state.service.user(auth.ctx(), &user).await?;
    Ok(Json(UserDetails::from(&user)))
}

/// `{"status": "disabled"}` or `{"status": "active"}`; 204.
#[utoipa::path(
    put,
    path = "/services/v2/user/{user_id}/status",
    tag = "users",
    params(("user_id" = i64, Path, description = "The user's id")),
    request_body = StatusBody,
    responses(
        (status = 204, description = "Disabled or enabled; a disabled user's keys stop working at once"),
        (status = 400, description = "A status other than `active` or `disabled`, or a malformed body", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 404, description = "`not_found|user`: no such user", body = ErrorList),
        (status = 409, description = "`invalid_user_status|unchanged`, `invalid_user_status|cannot_disable_self` or `last_admin_key|would_lock_out`. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn set_user_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<StatusCode, ApiError> {
    let user = UserRef::Id(path_id(&id, ErrorCode::NoSuchUser)?);
    let status = UserStatus::parse(&body.status).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadStatus,
            format!(
                "status must be \"active\" or \"disabled\", not {:?}.",
                body.status
            ),
        )
    })?;
    state
        .service
        .set_user_status(auth.ctx(), &user, status)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every key, or one user's with `filters[user_id]`; never a key or its hash.
#[utoipa::path(
    get,
    path = "/services/v2/key",
    tag = "users",
    params(("filters[user_id]" = Option<i64>, Query, description = "Only this user's keys")),
    responses(
        (status = 200, description = "The keys, never their secrets", body = KeyList),
        (status = 400, description = "An unknown filter or a bad user id", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_READ, body = ErrorList),
        (status = 404, description = "`not_found|user`: no such user", body = ErrorList),
    )
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<KeyList>, ApiError> {
    let list = ListQuery::parse(query.as_deref(), &["user_id"])?;
    let owner = list
        .filters
        .get("user_id")
        .map(|id| path_id(id, ErrorCode::NoSuchUser).map(UserRef::Id))
        .transpose()?;
    let keys = state.service.api_keys(auth.ctx(), owner.as_ref()).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyDetails::from).collect(),
    }))
}

/// CertCentral's *Create key*: 201 `{"id", "api_key"}`, the key shown once.
#[utoipa::path(
    post,
    path = "/services/v2/key/user/{user_id}",
    tag = "users",
    params(("user_id" = i64, Path, description = "The id of the user who will own the key")),
    request_body = KeyBody,
    responses(
        (status = 201, description = "The new key; `api_key` is shown this once", body = KeyCreated),
        (status = 400, description = "An unsupported `restricted_to_role_id`, or a malformed body", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 404, description = "`not_found|user`: no such user", body = ErrorList),
        (status = 409, description = "`invalid_user_status|user_disabled`: the user is disabled. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<KeyBody>,
) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    let owner = UserRef::Id(path_id(&user_id, ErrorCode::NoSuchUser)?);
    let view_only = view_only(body.restricted_to_role_id)?;
    let (view, api_key) = state
        .service
        .create_api_key(auth.ctx(), &owner, view_only, body.name.as_deref())
        .await?;
    let created = KeyCreated {
        id: view.key.id,
        api_key,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// A key's `restricted_to_role_id`: none (0 or absent) or view only.
fn view_only(restricted_to_role_id: Option<i64>) -> Result<bool, ApiError> {
    match restricted_to_role_id {
        None | Some(0) => Ok(false),
        Some(VIEW_ONLY_ROLE_ID) => Ok(true),
        Some(other) => Err(ApiError::new(
            ErrorCode::BadRestriction,
            format!(
                "restricted_to_role_id {other} is not supported; use 0 (none) or \
                 {VIEW_ONLY_ROLE_ID} (view only)."
            ),
        )),
    }
}

/// CertCentral's *Update key status*, `{"status": "revoked"}`; 204. A
/// revoked key stays revoked: certd does not bring keys back.
#[utoipa::path(
    put,
    path = "/services/v2/key/{key_id}/status",
    tag = "users",
    params(("key_id" = i64, Path, description = "The key's id")),
    request_body = StatusBody,
    responses(
        (status = 204, description = "Revoked; the key stops working at once"),
        (status = 400, description = "A status other than `revoked`, or a malformed body", body = ErrorList),
        (status = 403, description = super::openapi::ADMIN_ONLY_WRITE, body = ErrorList),
        (status = 404, description = "`not_found|key`: no such key", body = ErrorList),
        (status = 409, description = "`already_revoked|key_already_revoked` or `last_admin_key|would_lock_out`. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn set_key_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<StatusCode, ApiError> {
    let key_id = path_id(&id, ErrorCode::NoSuchKey)?;
    if KeyStatus::parse(&body.status) != Some(KeyStatus::Revoked) {
        return Err(ApiError::new(
            ErrorCode::BadStatus,
            format!(
                "status must be \"revoked\", not {:?}; a revoked key cannot be reactivated \
                 (create a new one).",
                body.status
            ),
        ));
    }
    state.service.revoke_api_key(auth.ctx(), key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
