//! The `settings` table: values the whole deployment agrees on, read by every
//! command and every node.

use super::{Conn, StoreResult};

/// The base URL written into certificates (CRL distribution point, OCSP,
/// issuer) and into each CRL's issuing distribution point.
pub(crate) const PUBLIC_URL: &str = "public_url";

pub(crate) async fn get(conn: &mut Conn, name: &str) -> StoreResult<Option<String>> {
    conn.scalar_optional(
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name),
    )
    .await
}

/// Stores `value` unless the setting exists already; returns the stored
/// value, which is another node's when it got there first.
pub(crate) async fn insert_if_missing(
    conn: &mut Conn,
    name: &str,
    value: &str,
) -> StoreResult<String> {
    conn.execute(
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value),
    )
    .await?;
    Ok(get(conn, name).await?.unwrap_or_else(|| value.to_string()))
}

pub(crate) async fn set(conn: &mut Conn, name: &str, value: &str) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value),
    )
    .await?;
    Ok(())
}
