//! The `webhook_outbox` table: events waiting to be delivered to the webhook.
//!
//! The service inserts an event inside the transaction of the change it
//! reports; the deliverer (`crate::webhook`) claims due events, posts them and
//! then deletes them or schedules their next attempt. A claim moves
//! `next_attempt_ms` past the attempt's end, which is the lease: a node that
//! dies mid-attempt leaves the event to be claimed again once it runs out.

use serde_json::json;

use super::json_rows::{self, Column};
use super::{Conn, StoreResult};

/// Most events one INSERT of [`insert_many`] carries.
const EVENTS_PER_INSERT: usize = 500;

/// One event as written by the service.
pub(crate) struct NewEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a str,
    pub created_at_ms: i64,
}

/// A claimed event, ready to be attempted.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DueEvent {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

pub(crate) async fn insert(conn: &mut Conn, event: &NewEvent<'_>) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "INSERT INTO webhook_outbox (event_id, event_type, body, next_attempt_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(event.event_id)
        .bind(event.event_type)
        .bind(event.body)
        .bind(event.created_at_ms)
        .bind(event.created_at_ms / 1000),
    )
    .await?;
    Ok(())
}

/// Writes many events with one statement per [`EVENTS_PER_INSERT`] (a
/// campaign's notices, one per certificate).
pub(crate) async fn insert_many(conn: &mut Conn, events: &[NewEvent<'_>]) -> StoreResult<()> {
    let columns = [
        Column::text("event_id"),
        Column::text("event_type"),
        Column::text("body"),
        Column::int("next_attempt_ms"),
        Column::int("created_at"),
    ];
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let rows = chunk
            .iter()
            .map(|event| {
                json!({
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "body": event.body,
                    "next_attempt_ms": event.created_at_ms,
                    "created_at": event.created_at_ms / 1000,
                })
            })
            .collect();
        json_rows::insert_rows(conn, "webhook_outbox", &columns, rows).await?;
    }
    Ok(())
}

/// Takes up to `limit` due events, oldest first, and leases them until
/// `lease_until_ms`. On PostgreSQL, rows another node is claiming at the same
/// moment are skipped rather than waited for, so each event goes to one node.
pub(crate) async fn claim_due(
    conn: &mut Conn,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> StoreResult<Vec<DueEvent>> {
    // SQLite's write transaction already excludes every other writer.
    let sql = if conn.is_postgres() {
        CLAIM_DUE_POSTGRES
    } else {
        CLAIM_DUE_SQLITE
    };
    let mut events: Vec<DueEvent> = conn
        .fetch_all(
            sqlx::query_as(sql)
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(limit),
        )
        .await?;
    // RETURNING promises no order.
    events.sort_by_key(|event| event.id);
    Ok(events)
}

const CLAIM_DUE_SQLITE: &str = "UPDATE webhook_outbox SET next_attempt_ms = $1 WHERE id IN \
     (SELECT id FROM webhook_outbox WHERE status = 'pending' AND next_attempt_ms <= $2 \
      ORDER BY id LIMIT $3) \
     RETURNING id, event_id, event_type, body, attempts";

const CLAIM_DUE_POSTGRES: &str = "UPDATE webhook_outbox SET next_attempt_ms = $1 WHERE id IN \
     (SELECT id FROM webhook_outbox WHERE status = 'pending' AND next_attempt_ms <= $2 \
      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING id, event_id, event_type, body, attempts";

/// The receiver took the event: it leaves the outbox.
pub(crate) async fn delivered(conn: &mut Conn, id: i64) -> StoreResult<()> {
    conn.execute(sqlx::query("DELETE FROM webhook_outbox WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// An attempt failed: try again at `next_attempt_ms`.
pub(crate) async fn retry_later(
    conn: &mut Conn,
    id: i64,
    attempts: i64,
    next_attempt_ms: i64,
    error: &str,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = $1, next_attempt_ms = $2, last_error = $3 \
             WHERE id = $4",
        )
        .bind(attempts)
        .bind(next_attempt_ms)
        .bind(error)
        .bind(id),
    )
    .await?;
    Ok(())
}

/// The last attempt failed: the event stays, marked failed, for operators.
pub(crate) async fn give_up(
    conn: &mut Conn,
    id: i64,
    attempts: i64,
    error: &str,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "UPDATE webhook_outbox SET status = 'failed', attempts = $1, last_error = $2 \
             WHERE id = $3",
        )
        .bind(attempts)
        .bind(error)
        .bind(id),
    )
    .await?;
    Ok(())
}

/// When the earliest pending event is due (leased ones included), if any.
pub(crate) async fn next_due_ms(conn: &mut Conn) -> StoreResult<Option<i64>> {
    conn.scalar_one(sqlx::query_scalar(
        "SELECT MIN(next_attempt_ms) FROM webhook_outbox WHERE status = 'pending'",
    ))
    .await
}

/// Events not yet delivered and not given up (for `/metrics`).
pub(crate) async fn backlog(conn: &mut Conn) -> StoreResult<i64> {
    conn.scalar_one(sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_outbox WHERE status = 'pending'",
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn add(conn: &mut Conn, event_id: &str, at_ms: i64) {
        let event = NewEvent {
            event_id,
            event_type: "request.created",
            body: "{}",
            created_at_ms: at_ms,
        };
        insert(conn, &event).await.unwrap();
    }

    #[tokio::test]
    async fn a_claim_leases_events_until_they_are_delivered_retried_or_given_up() {
        let (_dir, store) = crate::store::test_store("SELECT 1").await;
        let mut tx = store.write().await.unwrap();
        add(&mut tx, "a", 1_000).await;
        add(&mut tx, "b", 1_000).await;
        add(&mut tx, "later", 5_000).await;
        let due = claim_due(&mut tx, 2_000, 60_000, 10).await.unwrap();
        let names: Vec<&str> = due.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(names, ["a", "b"], "only what is due, oldest first");
        assert!(
            claim_due(&mut tx, 2_000, 60_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "leased events are not claimed twice"
        );
        let later = claim_due(&mut tx, 6_000, 60_000, 10).await.unwrap();
        assert_eq!(later.len(), 1);
        let (a, b, later) = (due[0].id, due[1].id, later[0].id);
        delivered(&mut tx, a).await.unwrap();
        retry_later(&mut tx, b, 1, 7_000, "503").await.unwrap();
        give_up(&mut tx, later, 8, "503").await.unwrap();
        assert_eq!(backlog(&mut tx).await.unwrap(), 1);
        assert_eq!(next_due_ms(&mut tx).await.unwrap(), Some(7_000));
        let retried = claim_due(&mut tx, 7_000, 60_000, 10).await.unwrap();
        assert_eq!(retried.len(), 1);
        assert_eq!(
            (retried[0].event_id.as_str(), retried[0].attempts),
            ("b", 1)
        );
        tx.commit().await.unwrap();
    }
}
