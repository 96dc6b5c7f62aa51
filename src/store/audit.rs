//! The `audit_log` table: append-only, certd never updates or deletes a row.
//!
//! Each entry carries `entry_hash` = SHA-256 over the previous entry's hash
//! and this entry's fields, each length-prefixed so that no two different
//! entries serialise alike. Editing or deleting an entry (by anyone with
//! write access to the database) breaks the chain at the next entry, which
//! [`verify_chain`] reports. Cutting entries off the end leaves a shorter
//! valid chain: compare the head hash with one kept elsewhere.

use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use super::{Bind, Conditions, Conn, StoreError, StoreResult};
use crate::model::{AuditAction, AuditEntry, AuditObject, Page, UnixTime};

/// The "previous hash" of the first entry.
const GENESIS: &str = "certd-audit-log-v1";
/// Advisory lock key serialising appends on PostgreSQL (any fixed number).
const CHAIN_LOCK: i64 = 0x6365_7274_6461_7564;

/// One change, as the service describes it.
pub(crate) struct NewAuditEntry {
    pub actor_id: Option<i64>,
    pub action: AuditAction,
    pub object_type: AuditObject,
    pub object_id: i64,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub created_at: UnixTime,
}

/// Parameters of one entry's row in the INSERT: its number, then the eight
/// stored columns.
const PARAMETERS_PER_ENTRY: usize = 9;
/// Most entries one INSERT carries (SQLite allows 32,766 parameters).
const ENTRIES_PER_INSERT: usize = 256;

/// Adds an entry to the write transaction `conn`. The transaction's entries
/// are appended when it commits, together, in one statement (see
/// [`append_all`]), so the change and its record commit together or not at
/// all.
pub(crate) fn queue(conn: &mut Conn, entry: NewAuditEntry) -> StoreResult<()> {
    conn.queue_audit(entry)
}

/// Appends a committing transaction's entries, in order, chained to the log's
/// head. One statement per [`ENTRIES_PER_INSERT`] entries instead of one per
/// entry: on SQLite every statement is time inside the single writer's turn.
pub(super) async fn append_all(conn: &mut Conn, entries: &[NewAuditEntry]) -> StoreResult<()> {
    // Appends must take turns so that each sees its predecessor: SQLite's
    // write transaction already excludes others; PostgreSQL needs a lock,
    // held until commit (taken here, at commit, so that it is held briefly).
    if conn.is_postgres() {
        conn.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CHAIN_LOCK))
            .await?;
    }
    let details: Vec<String> = entries.iter().map(|e| e.details.to_string()).collect();
    let fields: Vec<ChainFields<'_>> = entries
        .iter()
        .zip(&details)
        .map(|(entry, details)| ChainFields {
            created_at: entry.created_at,
            actor_id: entry.actor_id,
            action: entry.action.as_str(),
            object_type: entry.object_type.as_str(),
            object_id: entry.object_id,
            request_id: entry.request_id.as_deref(),
            details,
        })
        .collect();
    for chunk in fields.chunks(ENTRIES_PER_INSERT) {
        append_chunk(conn, chunk).await?;
    }
    Ok(())
}

async fn append_chunk(conn: &mut Conn, chunk: &[ChainFields<'_>]) -> StoreResult<()> {
    let guess = head_guess().clone();
    if let Some(previous) = guess
        && let Some(hash) = insert_after(conn, chunk, &previous).await?
    {
        *head_guess() = Some(hash);
        return Ok(());
    }
    let previous: Option<Option<String>> = conn
        .scalar_optional(sqlx::query_scalar(
            "SELECT entry_hash FROM audit_log ORDER BY id DESC LIMIT 1",
        ))
        .await?;
    let previous = previous.flatten().unwrap_or_else(|| GENESIS.to_string());
    let hash = insert_after(conn, chunk, &previous)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit log's head moved under its lock".into()))?;
    *head_guess() = Some(hash);
    Ok(())
}

/// The newest entry's hash as this process last wrote it. Appending with it
/// saves reading the head back every time; the INSERT checks it against the
/// table, so a wrong guess (another process appended, a transaction rolled
/// back, another database) costs one more query, never a broken chain.
fn head_guess() -> std::sync::MutexGuard<'static, Option<String>> {
    static HEAD: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    HEAD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inserts the entries, each chained to the one before and the first to
/// `previous`, if that is still the newest entry's hash; returns the last
/// new entry's hash, or `None` if `previous` was not the head (nothing is
/// inserted then). The rows go in as one `VALUES` list, numbered in
/// `column1` so that their ids follow the chain's order.
async fn insert_after(
    conn: &mut Conn,
    chunk: &[ChainFields<'_>],
    previous: &str,
) -> StoreResult<Option<String>> {
    let mut rows = Vec::with_capacity(chunk.len());
    for n in 0..chunk.len() {
        let first = n * PARAMETERS_PER_ENTRY + 1;
        let placeholders: Vec<String> = (first..first + PARAMETERS_PER_ENTRY)
            .map(|i| format!("${i}"))
            .collect();
        rows.push(format!("({})", placeholders.join(", ")));
    }
    let guard = chunk.len() * PARAMETERS_PER_ENTRY + 1;
    let sql = format!(
        "INSERT INTO audit_log (created_at, actor_id, action, object_type, object_id, request_id, \
         details, entry_hash) SELECT column2, column3, column4, column5, column6, column7, \
         column8, column9 FROM (VALUES {}) AS v \
         WHERE COALESCE((SELECT entry_hash FROM audit_log ORDER BY id DESC LIMIT 1), ${guard}) = ${} \
         ORDER BY column1",
        rows.join(", "),
        guard + 1
    );
    let mut hash = previous.to_string();
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (n, fields) in chunk.iter().enumerate() {
        hash = fields.hash(&hash);
        query = query
            .bind(n as i64)
            .bind(fields.created_at)
            .bind(fields.actor_id)
            .bind(fields.action)
            .bind(fields.object_type)
            .bind(fields.object_id)
            .bind(fields.request_id)
            .bind(fields.details)
            .bind(hash.clone());
    }
    let inserted = conn.execute(query.bind(GENESIS).bind(previous)).await?;
    Ok((inserted == chunk.len() as u64).then_some(hash))
}

/// The fields an entry's hash covers, as stored.
struct ChainFields<'a> {
    created_at: i64,
    actor_id: Option<i64>,
    action: &'a str,
    object_type: &'a str,
    object_id: i64,
    request_id: Option<&'a str>,
    details: &'a str,
}

impl ChainFields<'_> {
    fn hash(&self, previous: &str) -> String {
        let mut hasher = Sha256::new();
        let actor = self.actor_id.map(|a| a.to_string()).unwrap_or_default();
        let (created_at, object_id) = (self.created_at.to_string(), self.object_id.to_string());
        let parts: [&str; 8] = [
            previous,
            &created_at,
            &actor,
            self.action,
            self.object_type,
            &object_id,
            self.request_id.unwrap_or(""),
            self.details,
        ];
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// What [`verify_chain`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChainReport {
    /// Every entry links to the one before; `head` is the newest hash.
    Intact { entries: u64, head: String },
    /// The first entry whose hash does not follow from its predecessor and
    /// its own fields: it, or the entry before it, was edited or deleted.
    Broken { entry_id: i64, checked: u64 },
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    id: i64,
    created_at: i64,
    actor_id: Option<i64>,
    action: String,
    object_type: String,
    object_id: i64,
    request_id: Option<String>,
    details: String,
    entry_hash: Option<String>,
}

/// Recomputes the whole chain, oldest first, in pages.
pub(crate) async fn verify_chain(conn: &mut Conn) -> StoreResult<ChainReport> {
    const PAGE: i64 = 10_000;
    let mut previous = GENESIS.to_string();
    let (mut after_id, mut checked) = (0i64, 0u64);
    loop {
        let rows: Vec<ChainRow> = conn.fetch_all(sqlx::query_as(
            "SELECT id, created_at, actor_id, action, object_type, object_id, request_id, details, \
             entry_hash FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(PAGE))
        .await?;
        let Some(last) = rows.last() else {
            return Ok(ChainReport::Intact {
                entries: checked,
                head: previous,
            });
        };
        after_id = last.id;
        for row in &rows {
            let expected = ChainFields {
                created_at: row.created_at,
                actor_id: row.actor_id,
                action: &row.action,
                object_type: &row.object_type,
                object_id: row.object_id,
                request_id: row.request_id.as_deref(),
                details: &row.details,
            }
            .hash(&previous);
            if row.entry_hash.as_deref() != Some(expected.as_str()) {
                return Ok(ChainReport::Broken {
                    entry_id: row.id,
                    checked,
                });
            }
            previous = expected;
            checked += 1;
        }
    }
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
pub(crate) async fn list(
    conn: &mut Conn,
    action: Option<&str>,
    page: Page,
) -> StoreResult<(Vec<AuditEntry>, i64)> {
    let mut conditions = Conditions::default();
    if let Some(action) = action {
        conditions.push("a.action = {}", Bind::Text(action.into()));
    }
    let (rows, total): (Vec<AuditRow>, i64) = conditions
        .fetch_page(
            conn,
            "a.id, a.created_at, a.actor_id, u.email AS actor_email, a.action, a.object_type, \
             a.object_id, a.request_id, a.details",
            "audit_log a LEFT JOIN users u ON u.id = a.actor_id",
            "a.id DESC",
            page,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, fresh_store};

    fn entry(object_id: i64) -> NewAuditEntry {
        NewAuditEntry {
            actor_id: None,
            action: AuditAction::KeyCreated,
            object_type: AuditObject::ApiKey,
            object_id,
            request_id: None,
            details: serde_json::json!({}),
            created_at: 0,
        }
    }

    async fn append_committed(store: &Store, object_id: i64) {
        let mut tx = store.write().await.unwrap();
        queue(&mut tx, entry(object_id)).unwrap();
        tx.commit().await.unwrap();
    }

    /// The in-memory guess of the head goes stale when a commit fails after
    /// its entries went in, or another process appends (both leave a guess
    /// that is not the head, as set below); the chain must not notice.
    #[tokio::test]
    async fn a_stale_head_guess_never_breaks_the_chain() {
        let (_dir, store) = fresh_store().await;
        append_committed(&store, 1).await;
        // Dropped before commit: its entry is never written.
        let mut tx = store.write().await.unwrap();
        queue(&mut tx, entry(2)).unwrap();
        drop(tx);
        append_committed(&store, 3).await;
        // What another process's append leaves behind: a guess that is not the head.
        *head_guess() = Some("not the head".into());
        append_committed(&store, 4).await;
        assert!(matches!(
            store.verify_audit_chain().await.unwrap(),
            ChainReport::Intact { entries: 3, .. }
        ));
    }

    /// A transaction's entries go in together, in the order recorded, across
    /// more than one INSERT when there are many.
    #[tokio::test]
    async fn a_transactions_entries_are_chained_in_order() {
        let (_dir, store) = fresh_store().await;
        let count = ENTRIES_PER_INSERT as i64 * 2 + 3;
        let mut tx = store.write().await.unwrap();
        for object_id in 1..=count {
            queue(&mut tx, entry(object_id)).unwrap();
        }
        tx.commit().await.unwrap();
        append_committed(&store, count + 1).await;
        let mut conn = store.read().await.unwrap();
        let ids: Vec<(i64,)> = conn
            .fetch_all(sqlx::query_as(
                "SELECT object_id FROM audit_log ORDER BY id",
            ))
            .await
            .unwrap();
        assert_eq!(ids, (1..=count + 1).map(|id| (id,)).collect::<Vec<_>>());
        assert!(matches!(
            store.verify_audit_chain().await.unwrap(),
            ChainReport::Intact { entries, .. } if entries == count as u64 + 1
        ));
    }

    #[tokio::test]
    async fn a_read_connection_refuses_entries() {
        let (_dir, store) = fresh_store().await;
        let mut conn = store.read().await.unwrap();
        assert!(queue(&mut conn, entry(1)).is_err());
    }
}
