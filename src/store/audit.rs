//! The `audit_log` table: append-only, certd never updates or deletes a row.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Bind, Conditions, StoreError, StoreResult};
use crate::model::{AuditEntry, Page, UnixTime};

/// One change, as the service describes it.
pub struct NewAuditEntry<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: i64,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
    pub created_at: UnixTime,
}

pub async fn append(conn: &mut AnyConnection, entry: &NewAuditEntry<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_id, action, object_type, object_id, request_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.created_at)
    .bind(entry.actor_id)
    .bind(entry.action)
    .bind(entry.object_type)
    .bind(entry.object_id)
    .bind(entry.request_id)
    .bind(entry.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    created_at: i64,
    actor_id: Option<i64>,
    actor_email: Option<String>,
    action: String,
    object_type: String,
    object_id: i64,
    request_id: Option<String>,
    details: String,
}

/// One page of entries, newest first, optionally of one action only.
pub async fn list(
    conn: &mut AnyConnection,
    action: Option<&str>,
    page: Page,
) -> StoreResult<(Vec<AuditEntry>, i64)> {
    let mut conditions = Conditions::default();
    if let Some(action) = action {
        conditions.push("a.action = {}", Bind::Text(action.into()));
    }
    let count_sql = format!("SELECT COUNT(*) FROM audit_log a{}", conditions.where_sql());
    let total: i64 = conditions
        .bind_all_scalar(sqlx::query_scalar(AssertSqlSafe(count_sql)))
        .fetch_one(&mut *conn)
        .await?;
    let sql = format!(
        "SELECT a.id, a.created_at, a.actor_id, u.email AS actor_email, a.action, a.object_type, \
         a.object_id, a.request_id, a.details FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id{} \
         ORDER BY a.id DESC{}",
        conditions.where_sql(),
        conditions.page_sql()
    );
    let rows: Vec<AuditRow> = conditions
        .bind_all(sqlx::query_as(AssertSqlSafe(sql)))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(conn)
        .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.id,
                created_at: row.created_at,
                actor_id: row.actor_id,
                actor_email: row.actor_email,
                action: row.action,
                object_type: row.object_type,
                object_id: row.object_id,
                request_id: row.request_id,
                details: serde_json::from_str(&row.details)
                    .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok((entries, total))
}
