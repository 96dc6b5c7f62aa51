//! The CRL shards: signing them from the database and holding the signed DER.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::PublishError;
use crate::ca::{CRL_SHARDS, CertificateAuthority, CrlEntry, CrlSpec, now_whole_seconds};
use crate::store::{Store, StoreError, certificates};

/// `nextUpdate - thisUpdate` (the contract allows at most 7 days).
pub const CRL_LIFETIME: Duration = Duration::days(7);
/// A shard is re-signed at least this often, changed or not, so relying
/// parties never see one near its nextUpdate.
pub const CRL_REFRESH: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// One signed shard, ready to serve.
#[derive(Debug)]
pub struct PublishedCrl {
    pub shard: u16,
    pub url: String,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub entries: usize,
    pub der: Bytes,
    /// Strong validator for HTTP caches.
    pub etag: String,
    signed_at: Instant,
}

pub(super) struct Shards {
    shards: RwLock<Vec<Arc<PublishedCrl>>>,
}

impl Shards {
    pub(super) async fn build_all(
        store: &Store,
        ca: &Arc<CertificateAuthority>,
    ) -> Result<Shards, PublishError> {
        let mut shards = Vec::with_capacity(usize::from(CRL_SHARDS));
        for shard in 0..CRL_SHARDS {
            shards.push(Arc::new(sign_shard(store, ca, shard, 0).await?));
        }
        Ok(Shards {
            shards: RwLock::new(shards),
        })
    }

    pub(super) fn get(&self, shard: u16) -> Option<Arc<PublishedCrl>> {
        self.read().get(usize::from(shard)).cloned()
    }

    pub(super) fn all(&self) -> Vec<Arc<PublishedCrl>> {
        self.read().clone()
    }

    /// When the oldest shard is due to be re-signed.
    pub(super) fn next_refresh(&self) -> Instant {
        let oldest = self.read().iter().map(|c| c.signed_at).min();
        oldest.unwrap_or_else(Instant::now) + CRL_REFRESH
    }

    pub(super) fn due_for_refresh(&self) -> Vec<u16> {
        self.read()
            .iter()
            .filter(|c| c.signed_at.elapsed() >= CRL_REFRESH)
            .map(|c| c.shard)
            .collect()
    }

    /// Re-signs one shard from the database and swaps it in.
    pub(super) async fn rebuild(
        &self,
        store: &Store,
        ca: &Arc<CertificateAuthority>,
        shard: u16,
    ) -> Result<(), PublishError> {
        let previous = self.get(shard).map_or(0, |c| c.number);
        let signed = Arc::new(sign_shard(store, ca, shard, previous).await?);
        if let Some(slot) = self
            .shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(usize::from(shard))
        {
            *slot = signed;
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<PublishedCrl>>> {
        self.shards.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the shard's revoked certificates and signs a new CRL for them.
pub(super) async fn sign_shard(
    store: &Store,
    ca: &Arc<CertificateAuthority>,
    shard: u16,
    previous_number: u64,
) -> Result<PublishedCrl, PublishError> {
    let this_update = now_whole_seconds();
    // Expired certificates leave the CRL a full CRL lifetime after expiry
    // (RFC 5280 §3.3: never before one CRL issued after it).
    let valid_after = (this_update - CRL_LIFETIME).unix_timestamp();
    let revocations = {
        let mut conn = store.read_bulk().await?;
        certificates::revoked_in_shard(&mut conn, shard, valid_after).await?
    };
    let entries = revocations
        .into_iter()
        .map(|r| {
            Ok(CrlEntry {
                serial: hex::decode(&r.serial_number).map_err(|_| {
                    StoreError::Corrupt(format!("serial number {:?}", r.serial_number))
                })?,
                revoked_at: OffsetDateTime::from_unix_timestamp(r.revoked_at)
                    .map_err(|_| StoreError::Corrupt(format!("revoked_at {}", r.revoked_at)))?,
                reason: r.reason,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let spec = CrlSpec {
        shard,
        number: next_crl_number(previous_number),
        this_update,
        next_update: this_update + CRL_LIFETIME,
    };
    let count = entries.len();
    let signer = Arc::clone(ca);
    // Large shards take milliseconds to encode and sign: off the async workers.
    let der = tokio::task::spawn_blocking(move || signer.sign_crl(spec, &entries))
        .await
        .map_err(|e| PublishError::Task(e.to_string()))??;
    Ok(PublishedCrl {
        shard,
        url: ca.urls().crl(shard),
        number: spec.number,
        this_update: spec.this_update,
        next_update: spec.next_update,
        entries: count,
        etag: etag_of(&der),
        der: Bytes::from(der),
        signed_at: Instant::now(),
    })
}

/// CRL numbers are the signing time in milliseconds, and always above the
/// shard's previous number: they increase across restarts without any state
/// to keep (RFC 5280 §5.2.3 asks only that they increase).
fn next_crl_number(previous: u64) -> u64 {
    let now_ms =
        u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    now_ms.max(previous + 1)
}

/// A quoted strong ETag from the bytes served.
pub(super) fn etag_of(der: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(der)[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_numbers_increase_even_when_the_clock_does_not() {
        let now = next_crl_number(0);
        assert!(now > 1_700_000_000_000, "milliseconds since 1970: {now}");
        assert_eq!(next_crl_number(u64::MAX - 1), u64::MAX);
        assert!(next_crl_number(now) > now);
    }
}
