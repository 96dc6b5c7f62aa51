//! `POST /acme/eab`: ACME External Account Binding credentials (contract
//! section 8), for `certd acme eab create` and any client of the API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{Auth, JsonBody};
use super::wire::{EabBody, EabCreated, ErrorList};

/// An administrator names the user (`user_id`); anyone else sends an empty
/// body or `{}` and gets a credential for themself. The HMAC key is shown
/// this once and never logged.
#[utoipa::path(
    post,
    path = "/services/v2/acme/eab",
    tag = "acme",
    request_body = EabBody,
    responses(
        (status = 201, description = "The credential; `hmac_key` is shown this once", body = EabCreated),
        (status = 400, description = "A malformed body", body = ErrorList),
        (status = 403, description = super::openapi::EAB_REFUSED, body = ErrorList),
        (status = 404, description = "`not_found|user`: no such user", body = ErrorList),
        (status = 409, description = "`invalid_user_status|user_disabled`: the user is disabled. Nothing changed", body = ErrorList),
    )
)]
pub(super) async fn create_eab_credential(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<EabBody>,
) -> Result<(StatusCode, Json<EabCreated>), ApiError> {
    let credential = state
        .service
        .create_eab_credential(auth.ctx(), body.user_id)
        .await?;
    Ok((StatusCode::CREATED, Json(credential.into())))
}
