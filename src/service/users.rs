//! Users: the first administrator, adding users (API and command line),
//! listing, showing, disabling and enabling them, and whom the command
//! line's local mode acts as.

use serde_json::json;

use super::keys::{check_admin_keys_remain, hash_api_key, new_api_key};
use super::{Caller, Context, Service, ServiceError, ServiceResult, audit};
use crate::codes::ErrorCode;
use crate::model::{AuditAction, AuditObject, Role, User, UserStatus, now};
use crate::store::users::{self, NewUser};
use crate::store::{Conn, Store, StoreError};

pub(crate) struct NewUserInput {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub role: Role,
    pub view_only: bool,
}

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

impl Service {
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

async fn find_user(conn: &mut Conn, user: &UserRef) -> ServiceResult<Option<User>> {
    Ok(match user {
        UserRef::Id(id) => users::find(conn, *id).await?,
        UserRef::Email(email) => users::find_by_email(conn, email).await?,
    })
}

pub(super) async fn existing_user(conn: &mut Conn, user: &UserRef) -> ServiceResult<User> {
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
