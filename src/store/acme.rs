//! The ACME tables: `acme_accounts`, `acme_orders`, `acme_authorizations`
//! and `acme_challenges`. State changes are conditional updates (`WHERE
//! status = ...`) so that two racing callers cannot both move an object.

use sqlx::AssertSqlSafe;

use super::{
    Conn, StoreResult, bool_to_int, fetch_by_ids, names_from_json, names_to_json, parse_stored,
};
use crate::model::UnixTime;
use crate::model::acme::{
    Account, AccountStatus, AcmeOrder, AcmeOrderStatus, Authorization, AuthorizationStatus,
    Challenge, ChallengeStatus,
};

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

const ACCOUNT_COLUMNS: &str = "id, key_thumbprint, jwk, user_id, status, contact";

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    key_thumbprint: String,
    jwk: String,
    user_id: i64,
    status: String,
    contact: String,
}

impl AccountRow {
    fn into_account(self) -> StoreResult<Account> {
        Ok(Account {
            id: self.id,
            key_thumbprint: self.key_thumbprint,
            jwk: self.jwk,
            user_id: self.user_id,
            status: parse_stored(&self.status, AccountStatus::parse)?,
            contact: names_from_json(&self.contact)?,
        })
    }
}

pub(crate) struct NewAccount<'a> {
    pub key_thumbprint: &'a str,
    pub jwk: &'a str,
    pub user_id: i64,
    pub eab_kid: Option<&'a str>,
    pub contact: &'a [String],
    pub created_at: UnixTime,
}

pub(crate) async fn insert_account(conn: &mut Conn, account: &NewAccount<'_>) -> StoreResult<i64> {
    conn.insert_returning_id(
        sqlx::query(
            "INSERT INTO acme_accounts (key_thumbprint, jwk, user_id, eab_kid, status, contact, \
             created_at) VALUES ($1, $2, $3, $4, 'valid', $5, $6)",
        )
        .bind(account.key_thumbprint)
        .bind(account.jwk)
        .bind(account.user_id)
        .bind(account.eab_kid)
        .bind(names_to_json(account.contact))
        .bind(account.created_at),
    )
    .await
}

pub(crate) async fn find_account(conn: &mut Conn, id: i64) -> StoreResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = $1");
    let row: Option<AccountRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(AccountRow::into_account).transpose()
}

pub(crate) async fn find_account_by_key(
    conn: &mut Conn,
    thumbprint: &str,
) -> StoreResult<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM acme_accounts WHERE key_thumbprint = $1");
    let row: Option<AccountRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(thumbprint))
        .await?;
    row.map(AccountRow::into_account).transpose()
}

pub(crate) async fn set_account_contact(
    conn: &mut Conn,
    id: i64,
    contact: &[String],
) -> StoreResult<()> {
    conn.execute(
        sqlx::query("UPDATE acme_accounts SET contact = $1 WHERE id = $2")
            .bind(names_to_json(contact))
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Deactivates a valid account; false when it was not valid.
pub(crate) async fn deactivate_account(conn: &mut Conn, id: i64) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_accounts SET status = 'deactivated' WHERE id = $1 AND status = 'valid'",
            )
            .bind(id),
        )
        .await?;
    Ok(changed == 1)
}

/// Rolls an account over to a new key (`keyChange`); false when the account
/// is no longer valid. A key already used by another account breaks the
/// unique index: the caller checks first and treats the rare race as a conflict.
pub(crate) async fn change_account_key(
    conn: &mut Conn,
    id: i64,
    thumbprint: &str,
    jwk: &str,
) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_accounts SET key_thumbprint = $1, jwk = $2 \
                 WHERE id = $3 AND status = 'valid'",
            )
            .bind(thumbprint)
            .bind(jwk)
            .bind(id),
        )
        .await?;
    Ok(changed == 1)
}

// ---------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------

const ORDER_COLUMNS: &str =
    "id, account_id, status, identifiers, order_id, replaces, error, expires_at";

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    account_id: i64,
    status: String,
    identifiers: String,
    order_id: Option<i64>,
    replaces: Option<String>,
    error: Option<String>,
    expires_at: i64,
}

impl OrderRow {
    fn into_order(self) -> StoreResult<AcmeOrder> {
        Ok(AcmeOrder {
            id: self.id,
            account_id: self.account_id,
            status: parse_stored(&self.status, AcmeOrderStatus::parse)?,
            identifiers: names_from_json(&self.identifiers)?,
            order_id: self.order_id,
            replaces: self.replaces,
            error: self.error,
            expires_at: self.expires_at,
        })
    }
}

pub(crate) async fn insert_order(
    conn: &mut Conn,
    account_id: i64,
    identifiers: &[String],
    replaces: Option<&str>,
    expires_at: UnixTime,
    created_at: UnixTime,
) -> StoreResult<i64> {
    conn.insert_returning_id(
        sqlx::query(
            "INSERT INTO acme_orders (account_id, status, identifiers, replaces, expires_at, \
             created_at) VALUES ($1, 'pending', $2, $3, $4, $5)",
        )
        .bind(account_id)
        .bind(names_to_json(identifiers))
        .bind(replaces)
        .bind(expires_at)
        .bind(created_at),
    )
    .await
}

pub(crate) async fn find_order(conn: &mut Conn, id: i64) -> StoreResult<Option<AcmeOrder>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM acme_orders WHERE id = $1");
    let row: Option<OrderRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(OrderRow::into_order).transpose()
}

/// The newest orders of an account, at most `limit`.
pub(crate) async fn order_ids_of_account(
    conn: &mut Conn,
    account_id: i64,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    let rows: Vec<(i64,)> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(account_id)
            .bind(limit),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Moves an order from one status to another; false when it was not in `from`.
pub(crate) async fn move_order(
    conn: &mut Conn,
    id: i64,
    from: AcmeOrderStatus,
    to: AcmeOrderStatus,
    error: Option<&str>,
) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_orders SET status = $1, error = COALESCE($2, error) \
                 WHERE id = $3 AND status = $4",
            )
            .bind(to.as_str())
            .bind(error)
            .bind(id)
            .bind(from.as_str()),
        )
        .await?;
    Ok(changed == 1)
}

/// Records the certd order made by finalize; false unless the order was ready.
pub(crate) async fn finalize_order(conn: &mut Conn, id: i64, order_id: i64) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_orders SET status = 'processing', order_id = $1 \
                 WHERE id = $2 AND status = 'ready'",
            )
            .bind(order_id)
            .bind(id),
        )
        .await?;
    Ok(changed == 1)
}

// ---------------------------------------------------------------------------
// Authorizations
// ---------------------------------------------------------------------------

const AUTHORIZATION_COLUMNS: &str =
    "id, account_id, acme_order_id, name, wildcard, status, expires_at";

#[derive(sqlx::FromRow)]
struct AuthorizationRow {
    id: i64,
    account_id: i64,
    acme_order_id: i64,
    name: String,
    wildcard: i64,
    status: String,
    expires_at: i64,
}

impl AuthorizationRow {
    fn into_authorization(self) -> StoreResult<Authorization> {
        Ok(Authorization {
            id: self.id,
            account_id: self.account_id,
            acme_order_id: self.acme_order_id,
            name: self.name,
            wildcard: self.wildcard != 0,
            status: parse_stored(&self.status, AuthorizationStatus::parse)?,
            expires_at: self.expires_at,
        })
    }
}

pub(crate) struct NewAuthorization<'a> {
    pub account_id: i64,
    pub acme_order_id: i64,
    pub name: &'a str,
    pub wildcard: bool,
    pub expires_at: UnixTime,
    pub created_at: UnixTime,
}

pub(crate) async fn insert_authorization(
    conn: &mut Conn,
    authorization: &NewAuthorization<'_>,
) -> StoreResult<i64> {
    conn.insert_returning_id(
        sqlx::query(
            "INSERT INTO acme_authorizations (account_id, acme_order_id, name, wildcard, status, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
        )
        .bind(authorization.account_id)
        .bind(authorization.acme_order_id)
        .bind(authorization.name)
        .bind(bool_to_int(authorization.wildcard))
        .bind(authorization.expires_at)
        .bind(authorization.created_at),
    )
    .await
}

pub(crate) async fn find_authorization(
    conn: &mut Conn,
    id: i64,
) -> StoreResult<Option<Authorization>> {
    let sql = format!("SELECT {AUTHORIZATION_COLUMNS} FROM acme_authorizations WHERE id = $1");
    let row: Option<AuthorizationRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(AuthorizationRow::into_authorization).transpose()
}

pub(crate) async fn authorizations_of_order(
    conn: &mut Conn,
    acme_order_id: i64,
) -> StoreResult<Vec<Authorization>> {
    let sql = format!(
        "SELECT {AUTHORIZATION_COLUMNS} FROM acme_authorizations WHERE acme_order_id = $1 \
         ORDER BY id"
    );
    let rows: Vec<AuthorizationRow> = conn
        .fetch_all(sqlx::query_as(AssertSqlSafe(sql)).bind(acme_order_id))
        .await?;
    rows.into_iter()
        .map(AuthorizationRow::into_authorization)
        .collect()
}

/// Moves an authorization from one status to another; false when it was not in `from`.
pub(crate) async fn move_authorization(
    conn: &mut Conn,
    id: i64,
    from: AuthorizationStatus,
    to: AuthorizationStatus,
) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query("UPDATE acme_authorizations SET status = $1 WHERE id = $2 AND status = $3")
                .bind(to.as_str())
                .bind(id)
                .bind(from.as_str()),
        )
        .await?;
    Ok(changed == 1)
}

/// Whether the account holds a valid, unexpired authorization for `name`
/// (exactly, or through a wildcard authorization of its parent domain).
pub(crate) async fn holds_valid_authorization(
    conn: &mut Conn,
    account_id: i64,
    name: &str,
    wildcard_parent: Option<&str>,
    at: UnixTime,
) -> StoreResult<bool> {
    let found: Option<i64> = conn
        .scalar_optional(
            sqlx::query_scalar(
                "SELECT id FROM acme_authorizations WHERE account_id = $1 AND status = 'valid' \
                 AND expires_at > $2 AND ((name = $3 AND wildcard = 0) \
                 OR (name = $4 AND wildcard = 1)) LIMIT 1",
            )
            .bind(account_id)
            .bind(at)
            .bind(name)
            .bind(wildcard_parent.unwrap_or("")),
        )
        .await?;
    Ok(found.is_some())
}

// ---------------------------------------------------------------------------
// Challenges
// ---------------------------------------------------------------------------

const CHALLENGE_COLUMNS: &str = "id, authorization_id, type, token, status, validated_at, error";

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    id: i64,
    authorization_id: i64,
    #[sqlx(rename = "type")]
    kind: String,
    token: String,
    status: String,
    validated_at: Option<i64>,
    error: Option<String>,
}

impl ChallengeRow {
    fn into_challenge(self) -> StoreResult<Challenge> {
        Ok(Challenge {
            id: self.id,
            authorization_id: self.authorization_id,
            kind: self.kind,
            token: self.token,
            status: parse_stored(&self.status, ChallengeStatus::parse)?,
            validated_at: self.validated_at,
            error: self.error,
        })
    }
}

pub(crate) async fn insert_challenge(
    conn: &mut Conn,
    authorization_id: i64,
    kind: &str,
    token: &str,
) -> StoreResult<i64> {
    conn.insert_returning_id(
        sqlx::query(
            "INSERT INTO acme_challenges (authorization_id, type, token, status) \
             VALUES ($1, $2, $3, 'pending')",
        )
        .bind(authorization_id)
        .bind(kind)
        .bind(token),
    )
    .await
}

pub(crate) async fn find_challenge(conn: &mut Conn, id: i64) -> StoreResult<Option<Challenge>> {
    let sql = format!("SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE id = $1");
    let row: Option<ChallengeRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(ChallengeRow::into_challenge).transpose()
}

/// The challenges of these authorizations, in id order.
pub(crate) async fn challenges_of(
    conn: &mut Conn,
    authorization_ids: &[i64],
) -> StoreResult<Vec<Challenge>> {
    let sql = format!(
        "SELECT {CHALLENGE_COLUMNS} FROM acme_challenges WHERE {{ids}} \
         ORDER BY id"
    );
    let rows: Vec<ChallengeRow> =
        fetch_by_ids(conn, &sql, "authorization_id", authorization_ids).await?;
    rows.into_iter().map(ChallengeRow::into_challenge).collect()
}

/// Moves a challenge from one status to another, with when it was
/// validated or why it failed; false when it was not in `from`.
pub(crate) async fn move_challenge(
    conn: &mut Conn,
    id: i64,
    from: ChallengeStatus,
    to: ChallengeStatus,
    validated_at: Option<UnixTime>,
    error: Option<&str>,
) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_challenges SET status = $1, validated_at = $2, error = $3 \
                 WHERE id = $4 AND status = $5",
            )
            .bind(to.as_str())
            .bind(validated_at)
            .bind(error)
            .bind(id)
            .bind(from.as_str()),
        )
        .await?;
    Ok(changed == 1)
}

/// Challenges whose validation started before `started_before` and never
/// finished: the process validating them stopped.
pub(crate) async fn stalled_challenges(
    conn: &mut Conn,
    started_before: UnixTime,
) -> StoreResult<Vec<i64>> {
    let rows: Vec<(i64,)> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT id FROM acme_challenges WHERE status = 'processing' AND validated_at < $1 \
                 ORDER BY id LIMIT 1000",
            )
            .bind(started_before),
        )
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
