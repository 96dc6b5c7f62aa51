//! Administering users and API keys: listing them, creating and revoking
//! keys, disabling users. Administrators only; certd never lets the last
//! usable administrator key go, so that it can always be administered.

use crate::codes::ErrorCode;
use std::collections::HashMap;

use serde_json::json;

use super::users::{hash_api_key, key_name, new_api_key};
use super::{Caller, Context, Service, ServiceError, ServiceResult, audit};
use crate::model::{ApiKey, AuditAction, AuditObject, KeyStatus, User, UserStatus, now};
use crate::store::Conn;
use crate::store::users;

/// How an administrator names a user: by id, or by email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserRef {
    Id(i64),
    Email(String),
}

impl UserRef {
    /// All digits is an id; anything else an email address.
    pub(crate) fn parse(text: &str) -> UserRef {
        let text = text.trim();
        match text.parse::<i64>() {
            Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => UserRef::Id(id),
            _ => UserRef::Email(text.to_string()),
        }
    }
}

/// A key with the user it belongs to.
pub(crate) struct KeyView {
    pub key: ApiKey,
    pub owner: User,
}

impl Service {
    pub(crate) async fn users(&self, ctx: Context<'_>) -> ServiceResult<Vec<User>> {
        ctx.require_admin("list users")?;
        let mut conn = self.store.read_bulk().await?;
        Ok(users::list(&mut conn).await?)
    }

    /// A user's details: administrators see everyone, users themselves.
    pub(crate) async fn user(&self, ctx: Context<'_>, user: &UserRef) -> ServiceResult<User> {
        let mut conn = self.store.read().await?;
        match find_user(&mut conn, user).await? {
            Some(found) if ctx.can_see(found.id) => Ok(found),
            _ if ctx.is_admin() => Err(ServiceError::not_found(ErrorCode::NoSuchUser)),
            // Whether the user exists is an administrator's business only.
            _ => Err(missing_permission("see other users")),
        }
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

    /// Disables a user (their keys stop working at once) or enables them
    /// again. Administrators cannot disable themselves.
    pub(crate) async fn set_user_status(
        &self,
        ctx: Context<'_>,
        user: &UserRef,
        status: UserStatus,
    ) -> ServiceResult<User> {
        ctx.require_admin("disable or enable users")?;
        let mut tx = self.store.write().await?;
        users::lock_administrators(&mut tx).await?;
        let mut target = existing_user(&mut tx, user).await?;
        if target.status == status {
            return Err(ServiceError::refused(
                ErrorCode::UserUnchanged,
                format!("User {} is {status} already.", target.id),
            ));
        }
        if status == UserStatus::Disabled {
            if target.id == ctx.user_id() {
                return Err(ServiceError::refused(
                    ErrorCode::CannotDisableSelf,
                    "Administrators cannot disable themselves; ask another administrator.",
                ));
            }
            check_admin_keys_remain(&mut tx, 0, target.id).await?;
        }
        users::set_status(&mut tx, target.id, status).await?;
        let action = match status {
            UserStatus::Disabled => AuditAction::UserDisabled,
            UserStatus::Active => AuditAction::UserEnabled,
        };
        audit::record(
            &mut tx,
            Some(ctx),
            action,
            (AuditObject::User, target.id),
            json!({"email": target.email}),
        )?;
        tx.commit().await?;
        target.status = status;
        Ok(target)
    }

    /// Who the command line acts as when it works on the database directly:
    /// the active administrator with that email, or the first one.
    pub(crate) async fn local_administrator(&self, email: Option<&str>) -> ServiceResult<Caller> {
        let mut conn = self.store.read().await?;
        let user = match email {
            Some(email) => users::find_by_email(&mut conn, email.trim()).await?,
            None => users::first_active_admin(&mut conn).await?,
        };
        match user {
            Some(user) if user.is_admin() && user.status == UserStatus::Active => Ok(Caller {
                user,
                view_only: false,
            }),
            _ => Err(ServiceError::MissingPermission(match email {
                Some(email) => format!("{email} is not an active administrator."),
                None => "There is no active administrator to act as.".to_string(),
            })),
        }
    }
}

async fn find_user(conn: &mut Conn, user: &UserRef) -> ServiceResult<Option<User>> {
    Ok(match user {
        UserRef::Id(id) => users::find(conn, *id).await?,
        UserRef::Email(email) => users::find_by_email(conn, email).await?,
    })
}

async fn existing_user(conn: &mut Conn, user: &UserRef) -> ServiceResult<User> {
    let by = match user {
        UserRef::Id(_) => "id",
        UserRef::Email(_) => "email",
    };
    find_user(conn, user).await?.ok_or(ServiceError::NotFound {
        code: ErrorCode::NoSuchUser,
        by,
    })
}

fn missing_permission(action: &str) -> ServiceError {
    ServiceError::MissingPermission(format!("Only an administrator's API key may {action}."))
}

/// Refuses a change that would take away the last active administrator key
/// able to make changes (leaving out `key_id` or `user_id`; 0: none), since
/// nobody could administer certd over the API after it.
async fn check_admin_keys_remain(conn: &mut Conn, key_id: i64, user_id: i64) -> ServiceResult<()> {
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
    fn user_refs() {
        assert_eq!(UserRef::parse("42"), UserRef::Id(42));
        assert_eq!(
            UserRef::parse(" ana@example.com "),
            UserRef::Email("ana@example.com".into())
        );
        assert_eq!(UserRef::parse("-1"), UserRef::Email("-1".into()));
    }
}
