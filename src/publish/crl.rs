//! The CRL shards: signing them from the database and holding the signed DER.
//!
//! A shard is read from the database in full once (at start, after lost
//! notices, and once a day); after that, a re-sign reads only the
//! certificates revoked since, and signs the shard's kept list with them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::PublishError;
use crate::ca::{CRL_SHARDS, CertificateAuthority, CrlEntry, CrlSpec, now_whole_seconds};
use crate::model::{RevocationReason, UnixTime};
use crate::store::certificates::{self, Revocation};
use crate::store::{Store, StoreError};

/// `nextUpdate - thisUpdate` (the contract allows at most 7 days).
pub(super) const CRL_LIFETIME: Duration = Duration::days(7);
/// A shard is re-signed at least this often, changed or not, so relying
/// parties never see one near its nextUpdate.
pub(super) const CRL_REFRESH: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// One signed shard, ready to serve.
#[derive(Debug)]
pub(crate) struct PublishedCrl {
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

/// What changed in a shard since it was last signed.
#[derive(Debug)]
pub(super) enum ShardChanges {
    /// Anything may have: read the whole shard from the database again.
    Unknown,
    /// These certificates (serial numbers) were revoked or re-revoked.
    Revoked(BTreeSet<String>),
}

impl ShardChanges {
    pub(super) fn add(&mut self, serial: &str) {
        if let ShardChanges::Revoked(serials) = self {
            serials.insert(serial.to_owned());
        }
    }
}

/// A shard's listed revocations, by serial number (DER INTEGER content
/// bytes): what its CRL was last signed from, kept so that a new revocation
/// costs one lookup, not a re-read of the shard. About 70 bytes each.
type Listed = BTreeMap<Box<[u8]>, ListedEntry>;

struct ListedEntry {
    revoked_at: UnixTime,
    reason: RevocationReason,
    valid_till: UnixTime,
}

fn listed(revocation: Revocation) -> Result<(Box<[u8]>, ListedEntry), StoreError> {
    let serial = hex::decode(&revocation.serial_number).map_err(|_| {
        StoreError::Corrupt(format!("serial number {:?}", revocation.serial_number))
    })?;
    let entry = ListedEntry {
        revoked_at: revocation.revoked_at,
        reason: revocation.reason,
        valid_till: revocation.valid_till,
    };
    Ok((serial.into_boxed_slice(), entry))
}

pub(super) struct Shards {
    shards: RwLock<Vec<Arc<PublishedCrl>>>,
    /// Only the publisher's task uses these.
    listed: Mutex<Vec<Listed>>,
}

impl Shards {
    /// Reads and signs every shard; `signed` hears of each one done.
    pub(super) async fn build_all(
        store: &Store,
        ca: &Arc<CertificateAuthority>,
        signed: &(dyn Fn(u16) + Send + Sync),
    ) -> Result<Shards, PublishError> {
        let mut shards = Vec::with_capacity(usize::from(CRL_SHARDS));
        let mut listed = Vec::with_capacity(usize::from(CRL_SHARDS));
        for shard in 0..CRL_SHARDS {
            let revoked = read_shard(store, shard).await?;
            shards.push(Arc::new(sign_shard(ca, shard, 0, &revoked).await?));
            listed.push(revoked);
            signed(shard);
        }
        Ok(Shards {
            shards: RwLock::new(shards),
            listed: Mutex::new(listed),
        })
    }

    /// No shards: for a process that publishes nothing.
    pub(super) fn none() -> Shards {
        Shards {
            shards: RwLock::new(Vec::new()),
            listed: Mutex::new(Vec::new()),
        }
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

    /// Re-signs one shard with its changes and swaps it in. After an error the
    /// shard's listed revocations are gone: the caller must mark it `Unknown`.
    pub(super) async fn rebuild(
        &self,
        store: &Store,
        ca: &Arc<CertificateAuthority>,
        shard: u16,
        changes: ShardChanges,
    ) -> Result<(), PublishError> {
        let index = usize::from(shard);
        let mut revoked = match changes {
            ShardChanges::Unknown => read_shard(store, shard).await?,
            ShardChanges::Revoked(serials) => {
                let mut revoked = std::mem::take(&mut self.listed()[index]);
                for revocation in read_revocations(store, &serials).await? {
                    let (serial, entry) = listed(revocation)?;
                    revoked.insert(serial, entry);
                }
                revoked
            }
        };
        let after = listed_after();
        revoked.retain(|_, r| r.valid_till >= after);
        let previous = self.get(shard).map_or(0, |c| c.number);
        let signed = Arc::new(sign_shard(ca, shard, previous, &revoked).await?);
        if let Some(slot) = self
            .shards
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(index)
        {
            *slot = signed;
        }
        self.listed()[index] = revoked;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<PublishedCrl>>> {
        self.shards.read().unwrap_or_else(|e| e.into_inner())
    }

    fn listed(&self) -> std::sync::MutexGuard<'_, Vec<Listed>> {
        self.listed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Expired certificates leave the CRL a full CRL lifetime after expiry
/// (RFC 5280 §3.3: never before one CRL issued after it).
fn listed_after() -> UnixTime {
    (now_whole_seconds() - CRL_LIFETIME).unix_timestamp()
}

async fn read_shard(store: &Store, shard: u16) -> Result<Listed, PublishError> {
    let mut conn = store.read_bulk().await?;
    let revoked = certificates::revoked_in_shard(&mut conn, shard, listed_after()).await?;
    drop(conn);
    // A CRL lists nothing a power cut could take back.
    store.wait_durable().await?;
    Ok(revoked.into_iter().map(listed).collect::<Result<_, _>>()?)
}

async fn read_revocations(
    store: &Store,
    serials: &BTreeSet<String>,
) -> Result<Vec<Revocation>, PublishError> {
    let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
    let mut conn = store.read_bulk().await?;
    let mut revocations = Vec::with_capacity(serials.len());
    for chunk in serials.chunks(certificates::SERIALS_PER_QUERY) {
        revocations.extend(certificates::revocations_of(&mut conn, chunk).await?);
    }
    drop(conn);
    store.wait_durable().await?;
    Ok(revocations)
}

/// Signs a new CRL for a shard's revocations.
async fn sign_shard(
    ca: &Arc<CertificateAuthority>,
    shard: u16,
    previous_number: u64,
    revoked: &Listed,
) -> Result<PublishedCrl, PublishError> {
    let this_update = now_whole_seconds();
    let entries = revoked
        .iter()
        .map(|(serial, r)| {
            Ok(CrlEntry {
                serial: serial.to_vec(),
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
