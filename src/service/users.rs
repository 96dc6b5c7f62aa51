//! Users and their API keys.
//!
//! A key is 32 random bytes (256 bits) shown once as 64 hex characters; only
//! its SHA-256 is stored. With that much entropy a slow password hash buys
//! nothing (nobody can enumerate 2^256 candidates) and would cost every API
//! call ~30 ms, so a fast hash is the right tool; see docs/decisions.md.

use crate::codes::ErrorCode;
use crate::store::Conn;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Caller, Context, Service, ServiceError, ServiceResult, audit};
use crate::model::{AuditAction, AuditObject, Role, User, UserStatus, now};
use crate::store::users::{self, NewUser};
use crate::store::{Store, StoreError};

pub(crate) struct NewUserInput {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub role: Role,
    pub view_only: bool,
}

/// How stale a key's `last_used_at` may be: recording every use would make
/// every API call, reads included, a database write.
const KEY_USE_RESOLUTION_SECONDS: i64 = 60;

/// The longest name a key may have.
const MAX_KEY_NAME_CHARS: usize = 100;

/// A key's optional name, trimmed; empty is no name.
pub(super) fn key_name(name: Option<&str>) -> ServiceResult<Option<String>> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    match name {
        Some(name) if name.chars().count() > MAX_KEY_NAME_CHARS => Err(ServiceError::refused(
            ErrorCode::KeyNameTooLong,
            format!("A key's name has at most {MAX_KEY_NAME_CHARS} characters."),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

pub(super) fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode_upper(bytes)
}

pub(super) fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Service {
    /// Resolves an `X-DC-DEVKEY` to its active user.
    pub(crate) async fn authenticate(&self, key: &str) -> ServiceResult<Caller> {
        let key_hash = hash_api_key(key.trim());
        let mut conn = self.store.read().await?;
        let owner = users::find_by_key_hash(&mut conn, &key_hash)
            .await?
            .ok_or(ServiceError::InvalidKey)?;
        // The lookup matched on the hash already; comparing again in constant time
        // keeps the decision itself free of timing differences.
        let matches: bool = owner.key_hash.as_bytes().ct_eq(key_hash.as_bytes()).into();
        if !matches || owner.user.status != UserStatus::Active {
            return Err(ServiceError::InvalidKey);
        }
        self.note_key_use(owner.key_id, owner.last_used_at);
        Ok(Caller {
            user: owner.user,
            view_only: owner.view_only,
        })
    }

    /// Records that a key was used, at most once a minute, off the
    /// request's path: a failure to record it must not fail the call.
    fn note_key_use(&self, key_id: i64, last_used_at: Option<i64>) {
        let now = now();
        let stale_before = now - KEY_USE_RESOLUTION_SECONDS;
        if last_used_at.is_some_and(|t| t >= stale_before) {
            return;
        }
        let store = std::sync::Arc::clone(&self.store);
        tokio::spawn(async move {
            let touched = async {
                let mut tx = store.write().await?;
                users::touch_key(&mut tx, key_id, now, stale_before).await?;
                tx.commit().await
            };
            if let Err(error) = touched.await {
                tracing::debug!(%error, key_id, "could not record a key's last use");
            }
        });
    }

    /// On first start: creates the first administrator and returns it with
    /// its key; `None` when users exist already.
    pub(crate) async fn create_first_admin(&self) -> ServiceResult<Option<(User, String)>> {
        let mut tx = self.store.write().await?;
        if users::count(&mut tx).await? > 0 {
            return Ok(None);
        }
        let input = NewUserInput {
            first_name: "certd".into(),
            last_name: "Administrator".into(),
            email: "admin@certd.localhost".into(),
            role: Role::Administrator,
            view_only: false,
        };
        let created = insert_user_with_key(&mut tx, None, &input).await?;
        tx.commit().await?;
        Ok(Some(created))
    }

    /// An administrator adds a user with one API key (`POST /user`).
    pub(crate) async fn add_user(
        &self,
        ctx: Context<'_>,
        input: &NewUserInput,
    ) -> ServiceResult<(User, String)> {
        ctx.require_admin("add users")?;
        let mut tx = self.store.write().await?;
        let created = insert_user_with_key(&mut tx, Some(ctx), input).await?;
        tx.commit().await?;
        Ok(created)
    }
}

/// Creates a user with one API key and returns the key, the only time it
/// exists in clear. Needs only the store, so the CLI can run it beside a
/// running server.
pub(crate) async fn create_user(
    store: &Store,
    input: &NewUserInput,
) -> ServiceResult<(User, String)> {
    let mut tx = store.write().await?;
    let created = insert_user_with_key(&mut tx, None, input).await?;
    tx.commit().await?;
    Ok(created)
}

/// Logs every user whose address an older user has in another case: made
/// before addresses were compared without case, they still work, but an
/// administrator should disable the ones that should not exist.
pub(crate) async fn warn_of_look_alike_users(store: &Store) -> ServiceResult<()> {
    let mut conn = store.read_bulk().await?;
    for (user_id, email) in users::look_alikes(&mut conn).await? {
        tracing::warn!(
            user_id,
            %email,
            "another, older user has this email address in another case; disable the one \
             that should not exist (certd user disable ID)"
        );
    }
    Ok(())
}

async fn insert_user_with_key(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    input: &NewUserInput,
) -> ServiceResult<(User, String)> {
    let email = input.email.trim();
    // RFC 5321 caps a path at 256 octets, two of them the angle brackets.
    if email.len() > 254 || !email_address::EmailAddress::is_valid(email) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidEmail,
            format!("{email:?} is not an email address."),
        ));
    }
    let duplicate = || {
        ServiceError::refused(
            ErrorCode::DuplicateUser,
            format!(
                "A user with email {email} exists already (addresses are compared without case)."
            ),
        )
    };
    if users::find_by_email(conn, email).await?.is_some() {
        return Err(duplicate());
    }
    let created_at = now();
    let new_user = NewUser {
        first_name: input.first_name.trim(),
        last_name: input.last_name.trim(),
        email,
        role: input.role,
    };
    // Another process (a second node, `certd user add`) may have added it since.
    let user_id = match users::insert(conn, &new_user, created_at).await {
        Err(StoreError::Conflict(_)) => return Err(duplicate()),
        other => other?,
    };
    let key = new_api_key();
    users::insert_key(
        conn,
        user_id,
        &hash_api_key(&key),
        input.view_only,
        None,
        created_at,
    )
    .await?;
    audit::record(
        conn,
        ctx,
        AuditAction::UserCreated,
        (AuditObject::User, user_id),
        json!({"email": email, "role": input.role.as_str(), "view_only": input.view_only}),
    )?;
    let user = users::find(conn, user_id)
        .await?
        .ok_or_else(|| ServiceError::Internal("user vanished after insert".into()))?;
    Ok((user, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(hash_api_key(&a), a);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
    }
}
