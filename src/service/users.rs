//! Users and their API keys.
//!
//! A key is 32 random bytes (256 bits) shown once as 64 hex characters; only
//! its SHA-256 is stored. With that much entropy a slow password hash buys
//! nothing (nobody can enumerate 2^256 candidates) and would cost every API
//! call ~30 ms, so a fast hash is the right tool; see docs/decisions.md.

use crate::store::Conn;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Caller, Service, ServiceError, ServiceResult, audit};
use crate::model::{Role, User, UserStatus, now};
use crate::store::Store;
use crate::store::users::{self, NewUser};

pub struct NewUserInput {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub role: Role,
    pub view_only: bool,
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
    pub async fn authenticate(&self, key: &str) -> ServiceResult<Caller> {
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
        Ok(Caller {
            user: owner.user,
            view_only: owner.view_only,
        })
    }

    /// On first start: creates the first administrator and returns its key;
    /// `None` when users exist already.
    pub async fn create_first_admin(&self) -> ServiceResult<Option<String>> {
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
        let (_, key) = insert_user_with_key(&mut tx, &input).await?;
        tx.commit().await?;
        Ok(Some(key))
    }
}

/// Creates a user with one API key and returns the key, the only time it
/// exists in clear. Needs only the store, so the CLI can run it beside a
/// running server.
pub async fn create_user(store: &Store, input: &NewUserInput) -> ServiceResult<(User, String)> {
    let mut tx = store.write().await?;
    let created = insert_user_with_key(&mut tx, input).await?;
    tx.commit().await?;
    Ok(created)
}

async fn insert_user_with_key(
    conn: &mut Conn,
    input: &NewUserInput,
) -> ServiceResult<(User, String)> {
    let email = input.email.trim();
    if !email.contains('@') || email.len() > 254 {
        return Err(ServiceError::invalid(
            "invalid_email|email",
            format!("{email:?} is not an email address."),
        ));
    }
    if users::find_by_email(conn, email).await?.is_some() {
        return Err(ServiceError::conflict(
            "duplicate_user|email",
            format!("A user with email {email} exists already."),
        ));
    }
    let created_at = now();
    let new_user = NewUser {
        first_name: input.first_name.trim(),
        last_name: input.last_name.trim(),
        email,
        role: input.role,
    };
    let user_id = users::insert(conn, &new_user, created_at).await?;
    let key = new_api_key();
    users::insert_key(
        conn,
        user_id,
        &hash_api_key(&key),
        input.view_only,
        created_at,
    )
    .await?;
    audit::record(
        conn,
        None,
        "user_created",
        ("user", user_id),
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
