//! The `audit_log` table: append-only; certd never edits an entry's fields
//! nor deletes one.
//!
//! Each entry carries `entry_hash` = SHA-256 over the previous entry's hash
//! and this entry's fields, each length-prefixed so that no two different
//! entries serialise alike, and `chain_seq`, its place in the chain. Editing
//! or deleting a chained entry (by anyone with write access to the database)
//! breaks the chain at the next entry, which [`verify_chain`] reports.
//! Cutting entries off the end leaves a shorter valid chain: compare the head
//! hash with one kept elsewhere.
//!
//! When an entry is chained depends on the backend:
//! - SQLite has one writer at a time, so a transaction chains its entries as
//!   it commits, at no extra cost.
//! - On PostgreSQL that would need a lock held by every transaction of every
//!   node through its COMMIT, and so one WAL flush at a time for all of
//!   them. Entries are written unsealed instead, and a sealer chains the
//!   committed ones in the order it finds them ([`seal_pending`]: one sealer
//!   at a time, under an advisory lock, shortly after each commit). Until
//!   then an entry is protected by nothing but the database's own access
//!   control; `/metrics` shows how many wait and for how long.

use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

use serde_json::json;

use super::json_rows::{self, Column};
use super::{Bind, Conditions, Conn, StoreError, StoreResult};
use crate::model::{AuditAction, AuditEntry, AuditObject, Page, UnixTime};

/// The "previous hash" of the first entry.
const GENESIS: &str = "certd-audit-log-v1";
/// Advisory lock key letting one sealer at a time extend the chain on
/// PostgreSQL (any fixed number).
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

/// Most entries one INSERT carries.
const ENTRIES_PER_INSERT: usize = 256;
/// Most entries one pass of the sealer chains.
const SEAL_BATCH: i64 = 1_000;

/// Adds an entry to the write transaction `conn`. The transaction's entries
/// are written when it commits, together (see [`append_all`]), so the change
/// and its record commit together or not at all.
pub(crate) fn queue(conn: &mut Conn, entry: NewAuditEntry) -> StoreResult<()> {
    conn.queue_audit(entry)
}

/// Writes a committing transaction's entries, in order, one statement per
/// [`ENTRIES_PER_INSERT`] entries: chained to the log's head on SQLite,
/// unsealed on PostgreSQL.
pub(super) async fn append_all(conn: &mut Conn, entries: &[NewAuditEntry]) -> StoreResult<()> {
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
    let postgres = conn.is_postgres();
    for chunk in fields.chunks(ENTRIES_PER_INSERT) {
        if postgres {
            insert(conn, chunk, None).await?;
        } else {
            append_chained(conn, chunk).await?;
        }
    }
    Ok(())
}

/// The newest chained entry: its place and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    seq: i64,
    hash: String,
}

impl Head {
    fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

async fn read_head(conn: &mut Conn) -> StoreResult<Head> {
    let head: Option<(i64, Option<String>)> = conn
        .fetch_optional(sqlx::query_as(
            "SELECT chain_seq, entry_hash FROM audit_log WHERE chain_seq IS NOT NULL \
             ORDER BY chain_seq DESC LIMIT 1",
        ))
        .await?;
    Ok(match head {
        Some((seq, hash)) => Head {
            seq,
            hash: hash.unwrap_or_default(),
        },
        None => Head::genesis(),
    })
}

/// SQLite: chains the entries to the head as they go in.
async fn append_chained(conn: &mut Conn, chunk: &[ChainFields<'_>]) -> StoreResult<()> {
    let guess = head_guess().clone();
    if let Some(previous) = guess
        && let Some(head) = insert(conn, chunk, Some(&previous)).await?
    {
        *head_guess() = Some(head);
        return Ok(());
    }
    let previous = read_head(conn).await?;
    let head = insert(conn, chunk, Some(&previous))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit log's head moved under its lock".into()))?;
    *head_guess() = Some(head);
    Ok(())
}

/// The newest entry as this process last chained it. Appending with it
/// saves reading the head back every time; the INSERT checks it against the
/// table, so a wrong guess (another process appended, a transaction rolled
/// back, another database) costs one more query, never a broken chain.
fn head_guess() -> std::sync::MutexGuard<'static, Option<Head>> {
    static HEAD: std::sync::Mutex<Option<Head>> = std::sync::Mutex::new(None);
    HEAD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Inserts the entries, in order (numbered in `column1` so that their ids
/// follow it). Unsealed when `previous` is `None`. Otherwise each is chained
/// to the one before and the first to `previous`, if that is still the
/// newest chained entry: returns the new head, or `None` if `previous` was
/// not the head (nothing is inserted then).
async fn insert(
    conn: &mut Conn,
    chunk: &[ChainFields<'_>],
    previous: Option<&Head>,
) -> StoreResult<Option<Head>> {
    let (seq, condition) = match previous {
        Some(_) => (
            "$4 + n + 1",
            "WHERE COALESCE((SELECT entry_hash FROM audit_log WHERE chain_seq IS NOT NULL \
             ORDER BY chain_seq DESC LIMIT 1), $2) = $3",
        ),
        None => ("NULL", ""),
    };
    let source = json_rows::rows_of(
        conn,
        1,
        &[
            Column::int("n"),
            Column::int("created_at"),
            Column::int("actor_id"),
            Column::text("action"),
            Column::text("object_type"),
            Column::int("object_id"),
            Column::text("request_id"),
            Column::text("details"),
            Column::text("entry_hash"),
        ],
    );
    let sql = format!(
        "INSERT INTO audit_log (created_at, actor_id, action, object_type, object_id, request_id, \
         details, entry_hash, chain_seq) SELECT created_at, actor_id, action, object_type, \
         object_id, request_id, details, entry_hash, {seq} FROM {source} {condition} ORDER BY n",
    );
    let mut head = previous.cloned();
    let rows = json_rows::param(chunk.iter().enumerate().map(|(n, fields)| {
        let hash = head.as_mut().map(|head| {
            head.hash = fields.hash(&head.hash);
            head.seq += 1;
            head.hash.clone()
        });
        json!({
            "n": n,
            "created_at": fields.created_at,
            "actor_id": fields.actor_id,
            "action": fields.action,
            "object_type": fields.object_type,
            "object_id": fields.object_id,
            "request_id": fields.request_id,
            "details": fields.details,
            "entry_hash": hash,
        })
    }));
    let query = sqlx::query(AssertSqlSafe(sql)).bind(rows);
    let Some(previous) = previous else {
        conn.execute(query).await?;
        return Ok(None);
    };
    let query = query
        .bind(GENESIS)
        .bind(previous.hash.as_str())
        .bind(previous.seq);
    let inserted = conn.execute(query).await?;
    Ok(head.filter(|_| inserted == chunk.len() as u64))
}

/// What one pass of [`seal_pending`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealPass {
    pub sealed: u64,
    /// The batch was full: more may wait.
    pub more: bool,
}

#[derive(sqlx::FromRow)]
struct UnsealedRow {
    id: i64,
    created_at: i64,
    actor_id: Option<i64>,
    action: String,
    object_type: String,
    object_id: i64,
    request_id: Option<String>,
    details: String,
}

/// PostgreSQL: chains up to [`SEAL_BATCH`] committed, unsealed entries to
/// the head, oldest id first, in the transaction `conn`. The advisory lock
/// lets one sealer at a time read the head and extend it; it is held for
/// one pass, never by a request.
pub(super) async fn seal_pending(conn: &mut Conn) -> StoreResult<SealPass> {
    conn.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CHAIN_LOCK))
        .await?;
    // Its reads go through `audit_log_unsealed` and `audit_log_chain_seq`.
    conn.plan_with_indexes_only().await?;
    let rows: Vec<UnsealedRow> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT id, created_at, actor_id, action, object_type, object_id, request_id, \
                 details FROM audit_log WHERE chain_seq IS NULL ORDER BY id LIMIT $1",
            )
            .bind(SEAL_BATCH),
        )
        .await?;
    if rows.is_empty() {
        return Ok(SealPass::default());
    }
    let mut head = read_head(conn).await?;
    let sql = format!(
        "UPDATE audit_log SET chain_seq = v.seq, entry_hash = v.hash FROM {} \
         WHERE audit_log.id = v.id AND audit_log.chain_seq IS NULL",
        json_rows::rows_of(
            conn,
            1,
            &[Column::int("id"), Column::int("seq"), Column::text("hash")]
        )
    );
    let seals = json_rows::param(rows.iter().map(|row| {
        head.hash = row.fields().hash(&head.hash);
        head.seq += 1;
        json!({"id": row.id, "seq": head.seq, "hash": head.hash})
    }));
    let query = sqlx::query(AssertSqlSafe(sql)).bind(seals);
    let sealed = conn.execute(query).await?;
    if sealed != rows.len() as u64 {
        return Err(StoreError::Corrupt(
            "audit entries were sealed by someone else under the chain's lock".into(),
        ));
    }
    Ok(SealPass {
        sealed,
        more: sealed == SEAL_BATCH as u64,
    })
}

impl UnsealedRow {
    fn fields(&self) -> ChainFields<'_> {
        ChainFields {
            created_at: self.created_at,
            actor_id: self.actor_id,
            action: &self.action,
            object_type: &self.object_type,
            object_id: self.object_id,
            request_id: self.request_id.as_deref(),
            details: &self.details,
        }
    }
}

/// Entries not chained yet and the `created_at` of the oldest of them (an
/// indexed count: there are few; on PostgreSQL call it in a transaction
/// that plans with indexes only).
pub(crate) async fn unsealed(conn: &mut Conn) -> StoreResult<(i64, Option<UnixTime>)> {
    Ok(conn
        .fetch_optional(sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM audit_log WHERE chain_seq IS NULL",
        ))
        .await?
        .unwrap_or((0, None)))
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
    /// Every chained entry links to the one before; `head` is the newest
    /// hash. `unsealed` entries (PostgreSQL) wait for the sealer.
    Intact {
        entries: u64,
        head: String,
        unsealed: u64,
    },
    /// The first entry whose hash does not follow from its predecessor and
    /// its own fields: it, or the entry before it, was edited or deleted.
    Broken { entry_id: i64, checked: u64 },
}

#[derive(sqlx::FromRow)]
struct ChainRow {
    chain_seq: i64,
    #[sqlx(flatten)]
    entry: UnsealedRow,
    entry_hash: Option<String>,
}

/// Recomputes the whole chain, oldest first, in pages.
pub(crate) async fn verify_chain(conn: &mut Conn) -> StoreResult<ChainReport> {
    const PAGE: i64 = 10_000;
    let mut previous = GENESIS.to_string();
    let (mut after, mut checked) = (i64::MIN, 0u64);
    loop {
        let rows: Vec<ChainRow> = conn
            .fetch_all(
                sqlx::query_as(
                    "SELECT chain_seq, id, created_at, actor_id, action, object_type, object_id, \
                     request_id, details, entry_hash FROM audit_log WHERE chain_seq > $1 \
                     ORDER BY chain_seq LIMIT $2",
                )
                .bind(after)
                .bind(PAGE),
            )
            .await?;
        let Some(last) = rows.last() else {
            let (unsealed, _) = unsealed(conn).await?;
            if unsealed > 0 && !conn.is_postgres() {
                // SQLite chains every entry as it commits: an unchained one
                // was written or changed by someone else.
                let entry_id: i64 = conn
                    .scalar_one(sqlx::query_scalar(
                        "SELECT MIN(id) FROM audit_log WHERE chain_seq IS NULL",
                    ))
                    .await?;
                return Ok(ChainReport::Broken { entry_id, checked });
            }
            return Ok(ChainReport::Intact {
                entries: checked,
                head: previous,
                unsealed: unsealed as u64,
            });
        };
        after = last.chain_seq;
        for row in &rows {
            let expected = row.entry.fields().hash(&previous);
            if row.entry_hash.as_deref() != Some(expected.as_str()) {
                return Ok(ChainReport::Broken {
                    entry_id: row.entry.id,
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
        *head_guess() = Some(Head {
            seq: 99,
            hash: "not the head".into(),
        });
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
