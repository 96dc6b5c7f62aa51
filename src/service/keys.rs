//! API keys: making, listing and revoking them, and recognising a caller
//! by one. Administrators only; certd never lets the last usable
//! administrator key go, so that it can always be administered.
//!
//! A key is 32 random bytes (256 bits) shown once as 64 hex characters; only
//! its SHA-256 is stored. With that much entropy a slow password hash buys
//! nothing (nobody can enumerate 2^256 candidates) and would cost every API
//! call ~30 ms, so a fast hash is the right tool; see docs/decisions.md.

use std::collections::HashMap;

use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::users::{UserRef, existing_user};
use super::{Caller, Context, Service, ServiceError, ServiceResult, audit};
use crate::codes::ErrorCode;
use crate::model::{ApiKey, AuditAction, AuditObject, KeyStatus, User, UserStatus, now};
use crate::store::Conn;
use crate::store::users;

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

/// A key with the user it belongs to.
pub(crate) struct KeyView {
    pub key: ApiKey,
    pub owner: User,
}

impl Service {
    /// Resolves an `X-DC-DEVKEY` to its active user.
    pub(crate) async fn authenticate(&self, key: &str) -> ServiceResult<Caller> {
        let key_hash = hash_api_key(key.trim());
        let owner = self
            .store
            .key_owner(&key_hash)
            .await?
            .ok_or(ServiceError::InvalidKey)?;
        // The lookup matched on the hash already; comparing again in constant time
        // keeps the decision itself free of timing differences.
        let matches: bool = owner.key_hash.as_bytes().ct_eq(key_hash.as_bytes()).into();
        if !matches || owner.user.status != UserStatus::Active {
            return Err(ServiceError::InvalidKey);
        }
        self.note_key_use(owner.key_id, key_hash, owner.last_used_at);
        Ok(Caller {
            user: owner.user,
            view_only: owner.view_only,
        })
    }

    /// Records that a key was used, at most once a minute, off the
    /// request's path: a failure to record it must not fail the call.
    fn note_key_use(&self, key_id: i64, key_hash: String, last_used_at: Option<i64>) {
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
            match touched.await {
                Ok(()) => store.key_used(&key_hash, now),
                Err(error) => tracing::debug!(%error, key_id, "could not record a key's last use"),
            }
        });
    }

    pub(crate) async fn api_keys(
        &self,
        ctx: Context<'_>,
        user: Option<&UserRef>,
    ) -> ServiceResult<Vec<KeyView>> {
        ctx.require_admin("list API keys")?;
        let mut conn = self.store.read_bulk().await?;
        let owner = match user {
            Some(user) => Some(existing_user(&mut conn, user).await?),
            None => None,
        };
        let keys = users::list_keys(&mut conn, owner.as_ref().map(|u| u.id)).await?;
        let owners: HashMap<i64, User> = match owner {
            Some(owner) => HashMap::from([(owner.id, owner)]),
            None => users::list(&mut conn)
                .await?
                .into_iter()
                .map(|u| (u.id, u))
                .collect(),
        };
        keys.into_iter()
            .map(|key| match owners.get(&key.user_id) {
                Some(owner) => Ok(KeyView {
                    owner: owner.clone(),
                    key,
                }),
                None => Err(ServiceError::Internal(format!(
                    "key {} names a missing user",
                    key.id
                ))),
            })
            .collect()
    }

    /// Creates a key for a user; returns it with the key in clear, the only
    /// time it exists so.
    pub(crate) async fn create_api_key(
        &self,
        ctx: Context<'_>,
        user: &UserRef,
        view_only: bool,
        name: Option<&str>,
    ) -> ServiceResult<(KeyView, String)> {
        ctx.require_admin("create API keys")?;
        let name = key_name(name)?;
        let mut tx = self.store.write().await?;
        let owner = existing_user(&mut tx, user).await?;
        if owner.status != UserStatus::Active {
            return Err(ServiceError::refused(
                ErrorCode::UserDisabled,
                format!(
                    "User {} is disabled; a key for them would not work.",
                    owner.id
                ),
            ));
        }
        let secret = new_api_key();
        let created_at = now();
        let key_id = users::insert_key(
            &mut tx,
            owner.id,
            &hash_api_key(&secret),
            view_only,
            name.as_deref(),
            created_at,
        )
        .await?;
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::KeyCreated,
            (AuditObject::ApiKey, key_id),
            json!({"user_id": owner.id, "view_only": view_only, "name": name}),
        )?;
        tx.commit().await?;
        let key = ApiKey {
            id: key_id,
            user_id: owner.id,
            view_only,
            status: KeyStatus::Active,
            created_at,
            name,
            last_used_at: None,
        };
        Ok((KeyView { key, owner }, secret))
    }

    /// Revokes a key at once: the next call with it is refused.
    pub(crate) async fn revoke_api_key(&self, ctx: Context<'_>, key_id: i64) -> ServiceResult<()> {
        ctx.require_admin("revoke API keys")?;
        let mut tx = self.store.write().await?;
        users::lock_administrators(&mut tx).await?;
        let key = users::find_key(&mut tx, key_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchKey))?;
        if key.status != KeyStatus::Active {
            return Err(ServiceError::refused(
                ErrorCode::KeyAlreadyRevoked,
                format!("API key {key_id} is already revoked."),
            ));
        }
        check_admin_keys_remain(&mut tx, key_id, 0).await?;
        users::revoke_key(&mut tx, key_id).await?;
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::KeyRevoked,
            (AuditObject::ApiKey, key_id),
            json!({"user_id": key.user_id}),
        )?;
        tx.commit().await?;
        Ok(())
    }
}

/// Refuses a change that would take away the last active administrator key
/// able to make changes (leaving out `key_id` or `user_id`; 0: none), since
/// nobody could administer certd over the API after it.
pub(super) async fn check_admin_keys_remain(
    conn: &mut Conn,
    key_id: i64,
    user_id: i64,
) -> ServiceResult<()> {
    let before = users::count_admin_keys_except(conn, 0, 0).await?;
    let after = users::count_admin_keys_except(conn, key_id, user_id).await?;
    if before > 0 && after == 0 {
        return Err(ServiceError::refused(
            ErrorCode::LastAdminKey,
            "This would leave no active administrator key able to make changes; create another \
             administrator key first.",
        ));
    }
    Ok(())
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
