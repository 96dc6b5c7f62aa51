//! The revocation feed: how a revocation committed by one certd node reaches
//! the publishers of the others, so that every node's CRLs and OCSP answers
//! show it within seconds.
//!
//! On PostgreSQL it is `NOTIFY`, sent inside the revoking transaction: the
//! database delivers it only if and when that transaction commits, in commit
//! order, to every listening node. A listener that loses its connection may
//! miss notices; it reports a [`FeedEvent::Gap`] and the publisher then
//! re-reads everything.
//!
//! On SQLite there is one server, but other processes on the same file (the
//! command line's local mode) revoke too, and SQLite has no notices: the
//! server reads the audit log's new `certificate_revoked` entries instead
//! ([`RevocationLog`]). Every revocation writes one in its own transaction,
//! and the log's ids only grow (one writer at a time, rows never deleted),
//! so "entries after the last id seen" misses nothing; the read is a
//! primary-key range of the entries written since, usually none.

use sqlx::postgres::PgListener;

use super::{Conn, Store, StoreError, StoreResult};
use crate::model::{AuditAction, RevokedSerial};

const CHANNEL: &str = "certd_revocations";

/// Tells the other nodes, once the transaction commits, that certificates
/// were revoked: one notice each, in one statement.
pub(crate) async fn announce(conn: &mut Conn, revoked: &[RevokedSerial]) -> StoreResult<()> {
    if revoked.is_empty() || !conn.is_postgres() {
        return Ok(());
    }
    let notices = super::json_rows::param(
        revoked
            .iter()
            .map(|r| format!("{} {}", r.serial_number, r.crl_shard).into()),
    );
    conn.execute(
        sqlx::query("SELECT pg_notify($1, value) FROM json_array_elements_text($2::json)")
            .bind(CHANNEL)
            .bind(notices),
    )
    .await?;
    Ok(())
}

pub(crate) enum FeedEvent {
    Revoked(RevokedSerial),
    /// The connection was lost and is back: notices may have been missed.
    Gap,
}

pub(crate) struct RevocationFeed {
    listener: PgListener,
}

impl Store {
    /// The feed of revocations by any node; `None` where there is only one node.
    pub(crate) async fn revocation_feed(&self) -> StoreResult<Option<RevocationFeed>> {
        if self.backend != super::Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(RevocationFeed { listener }))
    }
}

impl RevocationFeed {
    /// Waits for the next event; reconnects by itself after a loss.
    pub(crate) async fn next(&mut self) -> StoreResult<FeedEvent> {
        match self.listener.try_recv().await? {
            None => Ok(FeedEvent::Gap),
            Some(notice) => parse(notice.payload()).map(FeedEvent::Revoked),
        }
    }
}

/// Revocations committed by any process on a SQLite file, read from the
/// audit log after a high-water mark.
pub(crate) struct RevocationLog {
    last_seen: i64,
}

impl Store {
    /// On SQLite, the revocations committed from now on by any process;
    /// `None` on PostgreSQL, whose feed tells every node.
    pub(crate) async fn revocation_log(&self) -> StoreResult<Option<RevocationLog>> {
        if self.backend != super::Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = self.read().await?;
        let last_seen = latest_audit_id(&mut conn).await?;
        Ok(Some(RevocationLog { last_seen }))
    }
}

impl RevocationLog {
    /// The certificates revoked since the previous call.
    pub(crate) async fn since_last(&mut self, store: &Store) -> StoreResult<Vec<RevokedSerial>> {
        let mut conn = store.read().await?;
        let latest = latest_audit_id(&mut conn).await?;
        if latest <= self.last_seen {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64)> = conn
            .fetch_all(
                sqlx::query_as(
                    "SELECT c.serial_number, c.crl_shard FROM audit_log a \
                     JOIN certificates c ON c.id = a.object_id \
                     WHERE a.id > $1 AND a.id <= $2 AND a.action = $3",
                )
                .bind(self.last_seen)
                .bind(latest)
                .bind(AuditAction::CertificateRevoked.as_str()),
            )
            .await?;
        self.last_seen = latest;
        rows.into_iter()
            .map(|(serial_number, shard)| {
                Ok(RevokedSerial {
                    serial_number,
                    crl_shard: super::certificates::shard_from_stored(shard)?,
                })
            })
            .collect()
    }
}

async fn latest_audit_id(conn: &mut Conn) -> StoreResult<i64> {
    conn.scalar_one(sqlx::query_scalar(
        "SELECT COALESCE(MAX(id), 0) FROM audit_log",
    ))
    .await
}

fn parse(payload: &str) -> StoreResult<RevokedSerial> {
    let corrupt = || StoreError::Corrupt(format!("revocation notice {payload:?}"));
    let (serial, shard) = payload.split_once(' ').ok_or_else(corrupt)?;
    Ok(RevokedSerial {
        serial_number: serial.to_string(),
        crl_shard: shard.parse().map_err(|_| corrupt())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        let revoked = parse("0A1B 17").unwrap();
        assert_eq!(revoked.serial_number, "0A1B");
        assert_eq!(revoked.crl_shard, 17);
        assert!(parse("0A1B").is_err());
        assert!(parse("0A1B x").is_err());
    }
}
