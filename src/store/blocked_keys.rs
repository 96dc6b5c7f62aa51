//! The `blocked_keys` table: public keys (SHA-256 of the SubjectPublicKeyInfo,
//! lower-case hex) that certd never certifies again, each with the
//! certificate whose keyCompromise revocation blocked it. Rows are never
//! changed or deleted.

use serde_json::json;
use sqlx::AssertSqlSafe;

use super::json_rows::{self, SqlType};
use super::{Conditions, Conn, StoreResult};
use crate::model::{Page, UnixTime};

/// A blocked key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct BlockedKey {
    pub spki_sha256: String,
    /// The certificate whose keyCompromise revocation blocked it (the first
    /// such, when the key was compromised more than once).
    pub certificate_id: i64,
    pub created_at: UnixTime,
}

const COLUMNS: &str = "spki_sha256, certificate_id, created_at";

/// Advisory lock key that orders issuance (shared) and key blocking
/// (exclusive) on PostgreSQL (any fixed number; see `service::blocked_keys`).
const KEY_LOCK: i64 = 0x6365_7274_644b_4559;

/// On PostgreSQL, takes the key lock until the transaction ends: shared by
/// transactions that may issue a certificate, exclusive by those that block
/// a key. A transaction may take it again (or shared, then exclusive). On
/// SQLite the write transaction already excludes every other writer.
pub(crate) async fn lock(conn: &mut Conn, exclusive: bool) -> StoreResult<()> {
    if conn.is_postgres() {
        let sql = if exclusive {
            "SELECT pg_advisory_xact_lock($1)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1)"
        };
        conn.execute(sqlx::query(sql).bind(KEY_LOCK)).await?;
    }
    Ok(())
}

/// Blocks a key unless it is blocked already (an earlier block is kept);
/// true when this call blocked it.
pub(crate) async fn insert(conn: &mut Conn, key: &BlockedKey) -> StoreResult<bool> {
    let inserted = conn
        .execute(
            sqlx::query(
                "INSERT INTO blocked_keys (spki_sha256, certificate_id, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (spki_sha256) DO NOTHING",
            )
            .bind(&key.spki_sha256)
            .bind(key.certificate_id)
            .bind(key.created_at),
        )
        .await?;
    Ok(inserted == 1)
}

pub(crate) async fn find(conn: &mut Conn, spki_sha256: &str) -> StoreResult<Option<BlockedKey>> {
    Ok(find_many(conn, &[spki_sha256]).await?.pop())
}

/// Those of the keys `spki_sha256s` that are blocked.
pub(crate) async fn find_many(
    conn: &mut Conn,
    spki_sha256s: &[&str],
) -> StoreResult<Vec<BlockedKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM blocked_keys WHERE {}",
        json_rows::is_one_of(conn, "spki_sha256", 1, SqlType::Text)
    );
    let keys = json_rows::param(spki_sha256s.iter().map(|key| json!(key)));
    conn.fetch_all(sqlx::query_as(AssertSqlSafe(sql)).bind(keys))
        .await
}

/// One page of blocked keys, newest first, and how many there are.
pub(crate) async fn list(conn: &mut Conn, page: Page) -> StoreResult<(Vec<BlockedKey>, i64)> {
    Conditions::default()
        .fetch_page(
            conn,
            COLUMNS,
            "blocked_keys",
            "created_at DESC, certificate_id DESC",
            page,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{fresh_store, seed_user_and_order};

    async fn seed_certificates(conn: &mut Conn) {
        seed_user_and_order(conn).await;
        for id in [1, 2] {
            conn.execute(
                sqlx::query(
                    "INSERT INTO certificates (id, order_id, serial_number, status, common_name, \
                     dns_names, csr, signature_hash, pem, valid_from, valid_till, crl_shard, \
                     created_at) VALUES ($1, 1, $2, 'issued', 'a.example.com', '[]', '', \
                     'sha256', '', 0, 1, 0, 0)",
                )
                .bind(id)
                .bind(format!("0{id}")),
            )
            .await
            .unwrap();
        }
    }

    #[tokio::test]
    async fn a_key_is_blocked_once_and_listed_newest_first() {
        let (_dir, store) = fresh_store().await;
        let mut tx = store.write().await.unwrap();
        seed_certificates(&mut tx).await;
        let key = |hash: &str, certificate_id, created_at| BlockedKey {
            spki_sha256: hash.to_string(),
            certificate_id,
            created_at,
        };
        let first = key("aa", 1, 10);
        assert!(insert(&mut tx, &first).await.unwrap());
        assert!(!insert(&mut tx, &key("aa", 2, 20)).await.unwrap());
        assert_eq!(
            find(&mut tx, "aa").await.unwrap(),
            Some(first.clone()),
            "the first block is kept"
        );
        assert!(insert(&mut tx, &key("bb", 2, 30)).await.unwrap());
        assert_eq!(find(&mut tx, "cc").await.unwrap(), None);
        let (page, total) = list(
            &mut tx,
            Page {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
        assert_eq!(total, 2);
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].spki_sha256, "bb");
        let (page, _) = list(
            &mut tx,
            Page {
                offset: 1,
                limit: 5,
            },
        )
        .await
        .unwrap();
        assert_eq!(page, vec![first]);
        lock(&mut tx, true).await.unwrap();
    }
}
