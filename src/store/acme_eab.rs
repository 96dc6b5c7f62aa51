//! The `acme_eab_credentials` table: External Account Binding credentials
//! (RFC 8555 section 7.3.4). Each binds one ACME account to the certd user it
//! was made for; its HMAC key is kept until then, to check the binding's MAC,
//! and erased when an account binds it.

use super::{Conn, StoreResult};
use crate::model::UnixTime;

/// A credential as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct StoredEabCredential {
    pub kid: String,
    /// base64url without padding; `None` once an account bound it.
    pub hmac_key: Option<String>,
    pub user_id: i64,
    /// The account it bound.
    pub account_id: Option<i64>,
}

pub(crate) async fn insert(
    conn: &mut Conn,
    kid: &str,
    hmac_key: &str,
    user_id: i64,
    created_at: UnixTime,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "INSERT INTO acme_eab_credentials (kid, hmac_key, user_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(kid)
        .bind(hmac_key)
        .bind(user_id)
        .bind(created_at),
    )
    .await?;
    Ok(())
}

pub(crate) async fn find(conn: &mut Conn, kid: &str) -> StoreResult<Option<StoredEabCredential>> {
    conn.fetch_optional(
        sqlx::query_as(
            "SELECT kid, hmac_key, user_id, account_id FROM acme_eab_credentials WHERE kid = $1",
        )
        .bind(kid),
    )
    .await
}

/// Binds an unbound credential to an account and erases its HMAC key, in
/// one conditional update; false when it was bound already (by a racing
/// registration too) or does not exist.
pub(crate) async fn bind(conn: &mut Conn, kid: &str, account_id: i64) -> StoreResult<bool> {
    let changed = conn
        .execute(
            sqlx::query(
                "UPDATE acme_eab_credentials SET account_id = $1, hmac_key = NULL \
                 WHERE kid = $2 AND account_id IS NULL",
            )
            .bind(account_id)
            .bind(kid),
        )
        .await?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fresh_store;

    #[tokio::test]
    async fn a_credential_binds_once_and_loses_its_key() {
        let (_dir, store) = fresh_store().await;
        let mut tx = store.write().await.unwrap();
        tx.execute(sqlx::query(
            "INSERT INTO users (id, first_name, last_name, email, role, created_at) \
             VALUES (1, 'a', 'b', 'a@example.com', 'user', 0)",
        ))
        .await
        .unwrap();
        insert(&mut tx, "kid-1", "secret", 1, 5).await.unwrap();
        let found = find(&mut tx, "kid-1").await.unwrap().unwrap();
        assert_eq!(found.hmac_key.as_deref(), Some("secret"));
        assert_eq!((found.user_id, found.account_id), (1, None));
        assert!(find(&mut tx, "kid-2").await.unwrap().is_none());
        assert!(bind(&mut tx, "kid-1", 7).await.unwrap());
        let bound = find(&mut tx, "kid-1").await.unwrap().unwrap();
        assert_eq!((bound.hmac_key, bound.account_id), (None, Some(7)));
        assert!(!bind(&mut tx, "kid-1", 8).await.unwrap(), "binds once");
        assert!(!bind(&mut tx, "kid-2", 8).await.unwrap());
    }
}
