//! The revocation feed: how a revocation committed by one certd node reaches
//! the publishers of the others, so that every node's CRLs and OCSP answers
//! show it within seconds.
//!
//! On PostgreSQL it is `NOTIFY`, sent inside the revoking transaction: the
//! database delivers it only if and when that transaction commits, in commit
//! order, to every listening node. A listener that loses its connection may
//! miss notices; it reports a [`FeedEvent::Gap`] and the publisher then
//! re-reads everything. On SQLite there is one node, so there is no feed.

use sqlx::postgres::PgListener;

use super::{Conn, Store, StoreError, StoreResult};
use crate::model::RevokedSerial;

const CHANNEL: &str = "certd_revocations";

/// Tells the other nodes, once the transaction commits, that a certificate
/// was revoked.
pub async fn announce(conn: &mut Conn, revoked: &RevokedSerial) -> StoreResult<()> {
    if conn.is_postgres() {
        let payload = format!("{} {}", revoked.serial_number, revoked.crl_shard);
        conn.execute(
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload),
        )
        .await?;
    }
    Ok(())
}

pub enum FeedEvent {
    Revoked(RevokedSerial),
    /// The connection was lost and is back: notices may have been missed.
    Gap,
}

pub struct RevocationFeed {
    listener: PgListener,
}

impl Store {
    /// The feed of revocations by any node; `None` where there is only one node.
    pub async fn revocation_feed(&self) -> StoreResult<Option<RevocationFeed>> {
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
    pub async fn next(&mut self) -> StoreResult<FeedEvent> {
        match self.listener.try_recv().await? {
            None => Ok(FeedEvent::Gap),
            Some(notice) => parse(notice.payload()).map(FeedEvent::Revoked),
        }
    }
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
