//! The `users` and `api_keys` tables.

use sqlx::AssertSqlSafe;

use super::{Conn, StoreResult, bool_to_int, parse_stored};
use crate::model::{Role, UnixTime, User, UserStatus};

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

pub struct NewUser<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub role: Role,
}

pub async fn insert(conn: &mut Conn, user: &NewUser<'_>, now: UnixTime) -> StoreResult<i64> {
    let id = conn
        .scalar_one(
            sqlx::query_scalar(
                "INSERT INTO users (first_name, last_name, email, role, status, created_at) \
         VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
            )
            .bind(user.first_name)
            .bind(user.last_name)
            .bind(user.email)
            .bind(user.role.as_str())
            .bind(now),
        )
        .await?;
    Ok(id)
}

pub async fn insert_key(
    conn: &mut Conn,
    user_id: i64,
    key_hash: &str,
    view_only: bool,
    now: UnixTime,
) -> StoreResult<i64> {
    let id = conn
        .scalar_one(
            sqlx::query_scalar(
                "INSERT INTO api_keys (user_id, key_hash, view_only, status, created_at) \
         VALUES ($1, $2, $3, 'active', $4) RETURNING id",
            )
            .bind(user_id)
            .bind(key_hash)
            .bind(bool_to_int(view_only))
            .bind(now),
        )
        .await?;
    Ok(id)
}

pub async fn find(conn: &mut Conn, id: i64) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    let row: Option<UserRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(UserRow::into_user).transpose()
}

pub async fn count(conn: &mut Conn) -> StoreResult<i64> {
    conn.scalar_one(sqlx::query_scalar("SELECT COUNT(*) FROM users"))
        .await
}

/// The owner of an active API key.
pub struct KeyOwner {
    pub user: User,
    pub view_only: bool,
    pub key_hash: String,
}

pub async fn find_by_key_hash(conn: &mut Conn, key_hash: &str) -> StoreResult<Option<KeyOwner>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        view_only: i64,
        key_hash: String,
    }
    let sql = format!(
        "SELECT {USER_COLUMNS}, k.view_only, k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.key_hash = $1 AND k.status = 'active'"
    );
    let row: Option<Row> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(key_hash))
        .await?;
    row.map(|row| {
        Ok(KeyOwner {
            user: row.user.into_user()?,
            view_only: row.view_only != 0,
            key_hash: row.key_hash,
        })
    })
    .transpose()
}

pub async fn find_by_email(conn: &mut Conn, email: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1");
    let row: Option<UserRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(email))
        .await?;
    row.map(UserRow::into_user).transpose()
}
