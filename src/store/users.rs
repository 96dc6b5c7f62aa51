//! The `users` and `api_keys` tables.

use sqlx::AssertSqlSafe;

use super::{Conn, StoreResult, bool_to_int, parse_stored};
use crate::model::{ApiKey, KeyStatus, Role, UnixTime, User, UserStatus};

const USER_COLUMNS: &str =
    "u.id, u.first_name, u.last_name, u.email, u.role, u.status, u.created_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    first_name: String,
    last_name: String,
    email: String,
    role: String,
    status: String,
    created_at: i64,
}

impl UserRow {
    fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: self.id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            role: parse_stored(&self.role, Role::parse)?,
            status: parse_stored(&self.status, UserStatus::parse)?,
            created_at: self.created_at,
        })
    }
}

pub(crate) struct NewUser<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub role: Role,
}

pub(crate) async fn insert(conn: &mut Conn, user: &NewUser<'_>, now: UnixTime) -> StoreResult<i64> {
    let id = conn
        .scalar_one(
            sqlx::query_scalar(
                "INSERT INTO users (first_name, last_name, email, email_key, role, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING id",
            )
            .bind(user.first_name)
            .bind(user.last_name)
            .bind(user.email)
            .bind(email_key(user.email))
            .bind(user.role.as_str())
            .bind(now),
        )
        .await?;
    Ok(id)
}

pub(crate) async fn insert_key(
    conn: &mut Conn,
    user_id: i64,
    key_hash: &str,
    view_only: bool,
    name: Option<&str>,
    now: UnixTime,
) -> StoreResult<i64> {
    let id = conn
        .scalar_one(
            sqlx::query_scalar(
                "INSERT INTO api_keys (user_id, key_hash, view_only, status, created_at, name) \
         VALUES ($1, $2, $3, 'active', $4, $5) RETURNING id",
            )
            .bind(user_id)
            .bind(key_hash)
            .bind(bool_to_int(view_only))
            .bind(now)
            .bind(name),
        )
        .await?;
    Ok(id)
}

pub(crate) async fn find(conn: &mut Conn, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    let row: Option<UserRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(UserRow::into_user).transpose()
}

pub(crate) async fn count(conn: &mut Conn) -> StoreResult<i64> {
    conn.scalar_one(sqlx::query_scalar("SELECT COUNT(*) FROM users"))
        .await
}

/// The owner of an active API key.
#[derive(Clone)]
pub(crate) struct KeyOwner {
    pub user: User,
    pub key_id: i64,
    pub view_only: bool,
    pub key_hash: String,
    pub last_used_at: Option<i64>,
}

pub(crate) async fn find_by_key_hash(
    conn: &mut Conn,
    key_hash: &str,
) -> StoreResult<Option<KeyOwner>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        key_id: i64,
        view_only: i64,
        key_hash: String,
        last_used_at: Option<i64>,
    }
    let sql = format!(
        "SELECT {USER_COLUMNS}, k.id AS key_id, k.view_only, k.key_hash, k.last_used_at \
         FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.key_hash = $1 AND k.status = 'active'"
    );
    let row: Option<Row> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(key_hash))
        .await?;
    row.map(|row| {
        Ok(KeyOwner {
            user: row.user.into_user()?,
            key_id: row.key_id,
            view_only: row.view_only != 0,
            key_hash: row.key_hash,
            last_used_at: row.last_used_at,
        })
    })
    .transpose()
}

/// The user with this address, whatever its case.
pub(crate) async fn find_by_email(conn: &mut Conn, email: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email_key = $1");
    let row: Option<UserRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(email_key(email)))
        .await?;
    row.map(UserRow::into_user).transpose()
}

/// What makes two addresses the same user: `email_key` is unique. The
/// migration gave users who already differed only in case a key with a
/// space in it, which no address has (see [`look_alikes`]).
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Users made before addresses were compared without case whose address
/// another, older user has in another case: `(id, email)`.
pub(crate) async fn look_alikes(conn: &mut Conn) -> StoreResult<Vec<(i64, String)>> {
    conn.fetch_all(sqlx::query_as(LOOK_ALIKES)).await
}

/// The migration's mark: see `migrations/*/0007_*.sql`.
const LOOK_ALIKES: &str =
    "SELECT id, email FROM users WHERE email_key LIKE '% look-alike %' ORDER BY id";

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration on a database that already holds users differing only
    /// in case: all stay, the younger ones are marked and reported.
    #[test]
    fn the_email_key_migration_keeps_and_reports_look_alikes() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for migration in [
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/sqlite/0002_publication.sql"),
            include_str!("../../migrations/sqlite/0003_audit_chain.sql"),
            include_str!("../../migrations/sqlite/0004_crl_covering_index.sql"),
            include_str!("../../migrations/sqlite/0005_webhook_outbox.sql"),
            include_str!("../../migrations/sqlite/0006_requests_by_requester_status.sql"),
        ] {
            db.execute_batch(migration).unwrap();
        }
        for email in [
            "ana@example.com",
            "bo@example.com",
            "ANA@example.com",
            "Ana@Example.com",
        ] {
            db.execute(
                "INSERT INTO users (first_name, last_name, email, role, status, created_at) \
                 VALUES ('A', 'B', ?1, 'user', 'active', 0)",
                [email],
            )
            .unwrap();
        }
        db.execute_batch(include_str!(
            "../../migrations/sqlite/0007_settings_email_keys_key_names.sql"
        ))
        .unwrap();
        let key = |id: i64| -> String {
            db.query_row("SELECT email_key FROM users WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(key(1), "ana@example.com");
        assert_eq!(key(2), email_key("bo@example.com"));
        let mut found = db.prepare(LOOK_ALIKES).unwrap();
        let reported: Vec<(i64, String)> = found
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            reported,
            [
                (3, "ANA@example.com".to_string()),
                (4, "Ana@Example.com".to_string())
            ]
        );
    }
}

pub(crate) async fn list(conn: &mut Conn) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id");
    let rows: Vec<UserRow> = conn.fetch_all(sqlx::query_as(AssertSqlSafe(sql))).await?;
    rows.into_iter().map(UserRow::into_user).collect()
}

/// The active administrator with the lowest id (the first one created).
pub(crate) async fn first_active_admin(conn: &mut Conn) -> StoreResult<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u \
         WHERE u.role = 'administrator' AND u.status = 'active' ORDER BY u.id LIMIT 1"
    );
    let row: Option<UserRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)))
        .await?;
    row.map(UserRow::into_user).transpose()
}

pub(crate) async fn set_status(conn: &mut Conn, id: i64, status: UserStatus) -> StoreResult<()> {
    conn.mark_credentials_changed();
    conn.execute(
        sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Serializes changes to who can administer certd: on PostgreSQL, a row
/// lock on every administrator, taken before the "is this the last usable
/// administrator key" check, so that two nodes cannot each revoke one of the
/// last two keys. On SQLite the write transaction already excludes others.
pub(crate) async fn lock_administrators(conn: &mut Conn) -> StoreResult<()> {
    if conn.is_postgres() {
        conn.execute(sqlx::query(
            "SELECT id FROM users WHERE role = 'administrator' FOR UPDATE",
        ))
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    user_id: i64,
    view_only: i64,
    status: String,
    created_at: i64,
    name: Option<String>,
    last_used_at: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> StoreResult<ApiKey> {
        Ok(ApiKey {
            id: self.id,
            user_id: self.user_id,
            view_only: self.view_only != 0,
            status: parse_stored(&self.status, KeyStatus::parse)?,
            created_at: self.created_at,
            name: self.name,
            last_used_at: self.last_used_at,
        })
    }
}

/// Never the hash: nothing that lists keys needs it.
const KEY_COLUMNS: &str = "id, user_id, view_only, status, created_at, name, last_used_at";

/// Records a use of a key, unless one since `stale_before` is recorded.
pub(crate) async fn touch_key(
    conn: &mut Conn,
    id: i64,
    now: i64,
    stale_before: i64,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(stale_before),
    )
    .await?;
    Ok(())
}

pub(crate) async fn find_key(conn: &mut Conn, id: i64) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
    let row: Option<KeyRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(KeyRow::into_key).transpose()
}

/// Every key, or one user's, in creation order.
pub(crate) async fn list_keys(conn: &mut Conn, user_id: Option<i64>) -> StoreResult<Vec<ApiKey>> {
    let rows: Vec<KeyRow> = match user_id {
        Some(user_id) => {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id");
            conn.fetch_all(sqlx::query_as(AssertSqlSafe(sql)).bind(user_id))
                .await?
        }
        None => {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id");
            conn.fetch_all(sqlx::query_as(AssertSqlSafe(sql))).await?
        }
    };
    rows.into_iter().map(KeyRow::into_key).collect()
}

/// Revokes an active key; false if it was not active.
pub(crate) async fn revoke_key(conn: &mut Conn, id: i64) -> StoreResult<bool> {
    conn.mark_credentials_changed();
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE api_keys SET status = 'revoked' WHERE id = $1 AND status = 'active'",
            )
            .bind(id),
        )
        .await?;
    Ok(changed == 1)
}

/// Active keys that can administer certd (not view-only, of an active
/// administrator), leaving out one key and one user (0: none).
pub(crate) async fn count_admin_keys_except(
    conn: &mut Conn,
    key_id: i64,
    user_id: i64,
) -> StoreResult<i64> {
    conn.scalar_one(
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.status = 'active' AND k.view_only = 0 AND u.status = 'active' \
             AND u.role = 'administrator' AND k.id <> $1 AND u.id <> $2",
        )
        .bind(key_id)
        .bind(user_id),
    )
    .await
}
