//! Publication (contract sections 6 and 10): the signed CRL shards and OCSP
//! responses that relying parties fetch. Everything served is signed ahead of
//! time: CRLs kept in memory, OCSP answers in the database (`presign`) and,
//! once asked for, in memory, so serving a CRL or an OCSP answer signs nothing.
//!
//! Freshness: the service calls [`Publisher::revoked`] after each revocation
//! commits. That drops the certificate's cached OCSP answers at once (the next
//! query reads the database, where a stored answer serves only while it
//! attests the certificate's status), has its answers re-signed ahead, and
//! marks its CRL shard dirty; a background task re-signs dirty shards within
//! [`DEBOUNCE`] and re-signs every shard before it gets old. Revocations by
//! other processes arrive through the database: PostgreSQL's feed, or on
//! SQLite the audit log, read every [`LOG_POLL`].

mod crl;
mod ocsp;
mod presign;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub(crate) use crl::PublishedCrl;
use crl::ShardChanges;

use crate::ca::{CRL_SHARDS, CaError, CertificateAuthority};
use crate::model::RevokedSerial;
use crate::store::feed::{FeedEvent, RevocationFeed, RevocationLog};
use crate::store::{Store, StoreError};

/// How long after a revocation dirty shards are re-signed: long enough to
/// fold a burst of revocations into one signature per shard.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(100);
/// The pause after each round of re-signing, as a multiple of the round's
/// own time, within [`MIN_PAUSE`, `MAX_PAUSE`]. Under a stream of revocations
/// rounds would otherwise follow each other back to back, re-encoding and
/// re-signing every shard again and again and taking CPU from the writes
/// themselves. With the pause, re-signing takes at most about a third of one
/// core, and a CRL lags a revocation by at most `DEBOUNCE` + one pause + one
/// round: about 1 s at 100,000 revoked certificates, under 5 s (the contract)
/// at 1,000,000. OCSP answers change at once either way.
const PAUSE_PER_ROUND: u32 = 2;
const MIN_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_millis(1500);
/// The pause after a round in which a shard failed (e.g. the database was away).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often a SQLite server reads the audit log for revocations by other
/// processes: a revocation by `certd cert revoke` on the data directory then
/// reaches OCSP within this and the CRL within this plus a re-sign, well
/// inside the contract's 5 seconds. The read is one indexed `MAX(id)` when
/// nothing changed.
pub(crate) const LOG_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("signing task failed: {0}")]
    Task(String),
    /// As many answers for single requests as allowed are being signed.
    #[error("too many OCSP answers being signed for single requests")]
    SignerBusy,
}

pub(crate) struct Publisher {
    store: Arc<Store>,
    ca: Arc<CertificateAuthority>,
    crls: crl::Shards,
    ocsp: ocsp::Cache,
    /// Tells the task that signs OCSP answers ahead what to look at.
    presigner: presign::PreSigner,
    /// OCSP answers signed for one request only (serials never issued,
    /// several questions) being signed now; see `ocsp::REQUEST_SIGNATURES`.
    request_signatures: tokio::sync::Semaphore,
    /// Shards to re-sign, with what changed in each.
    dirty: Mutex<BTreeMap<u16, ShardChanges>>,
    wake: Notify,
    /// While the audit log is followed (SQLite): the serials this process
    /// announced itself, which the log will report again.
    announced: Option<Mutex<RecentSerials>>,
}

/// Serials announced in-process, kept for two reads of the audit log (the
/// log may report a revocation just before or just after its notice), so
/// that a revocation made here does not re-sign its shard twice.
#[derive(Default)]
struct RecentSerials {
    current: HashSet<String>,
    previous: HashSet<String>,
}

impl RecentSerials {
    /// Whether `serial` was announced here; entries older than two reads go.
    fn take(&mut self, serial: &str) -> bool {
        self.current.remove(serial) || self.previous.remove(serial)
    }

    fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

impl Publisher {
    /// Signs every CRL shard, then keeps them fresh in a background task,
    /// and signs OCSP answers ahead in another.
    pub(crate) async fn start(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
    ) -> Result<Arc<Publisher>, PublishError> {
        // Before the shards are read: what commits later is in the log.
        let log = store.revocation_log().await?;
        let mut publisher = Publisher::build(store, ca).await?;
        publisher.announced = log.is_some().then(Mutex::default);
        let publisher = Arc::new(publisher);
        tokio::spawn(Arc::clone(&publisher).keep_fresh());
        publisher.presigner.start();
        tokio::spawn(Arc::clone(&publisher).sign_ahead());
        if let Some(feed) = publisher.store.revocation_feed().await? {
            tokio::spawn(Arc::clone(&publisher).follow_other_nodes(feed));
        }
        if let Some(log) = log {
            tokio::spawn(Arc::clone(&publisher).follow_other_processes(log));
        }
        Ok(publisher)
    }

    /// Signs every CRL shard once; nothing runs in the background.
    pub(crate) async fn build(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
    ) -> Result<Publisher, PublishError> {
        Publisher::build_reporting(store, ca, &|_| {}).await
    }

    /// As [`Publisher::build`]; `signed` hears of each shard once signed
    /// (`certd crl`'s progress bar).
    pub(crate) async fn build_reporting(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
        signed: &(dyn Fn(u16) + Send + Sync),
    ) -> Result<Publisher, PublishError> {
        let started = Instant::now();
        let crls = crl::Shards::build_all(&store, &ca, signed).await?;
        let publisher = Publisher::with_shards(store, ca, crls);
        tracing::info!(
            shards = CRL_SHARDS,
            entries = publisher.crls().iter().map(|c| c.entries).sum::<usize>(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "signed all CRL shards"
        );
        Ok(publisher)
    }

    /// A publisher that signs and serves nothing, for a process that only
    /// writes (the command line's local mode): its revocations reach the
    /// serving processes through the database (`store::feed`).
    pub(crate) fn detached(store: Arc<Store>, ca: Arc<CertificateAuthority>) -> Publisher {
        Publisher::with_shards(store, ca, crl::Shards::none())
    }

    fn with_shards(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
        crls: crl::Shards,
    ) -> Publisher {
        Publisher {
            store,
            ca,
            crls,
            ocsp: ocsp::Cache::new(),
            presigner: presign::PreSigner::new(),
            request_signatures: tokio::sync::Semaphore::new(ocsp::REQUEST_SIGNATURES),
            dirty: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            announced: None,
        }
    }

    /// Called after a revocation has committed.
    pub(crate) fn revoked(&self, certificates: &[RevokedSerial]) {
        if let Some(announced) = &self.announced {
            let mut announced = lock(announced);
            for certificate in certificates {
                announced.current.insert(certificate.serial_number.clone());
            }
        }
        self.publish(certificates);
    }

    /// Drops the certificates' cached OCSP answers, has them re-signed and
    /// marks their shards.
    fn publish(&self, certificates: &[RevokedSerial]) {
        if certificates.is_empty() {
            return;
        }
        let mut dirty = self.dirty();
        for certificate in certificates {
            self.ocsp.invalidate(&certificate.serial_number);
            dirty
                .entry(certificate.crl_shard)
                .or_insert_with(|| ShardChanges::Revoked(BTreeSet::new()))
                .add(&certificate.serial_number);
        }
        drop(dirty);
        self.wake.notify_one();
        self.presigner
            .check(certificates.iter().map(|c| c.serial_number.as_str()));
    }

    /// Everything may have changed (notices were lost): drop every cached
    /// OCSP answer and re-sign every shard.
    fn republish_all(&self) {
        self.ocsp.clear();
        self.mark_unknown(0..CRL_SHARDS);
        self.wake.notify_one();
        self.presigner.check_all();
    }

    /// Applies revocations committed by any node (this one's too: dropping an
    /// answer twice is harmless).
    async fn follow_other_nodes(self: Arc<Self>, mut feed: RevocationFeed) {
        loop {
            match feed.next().await {
                Ok(FeedEvent::Revoked(notice)) => self.publish(std::slice::from_ref(&notice)),
                Ok(FeedEvent::Gap) => {
                    tracing::warn!("revocation feed reconnected; republishing everything");
                    self.republish_all();
                }
                Err(error) => {
                    tracing::warn!(%error, "revocation feed unavailable; retrying");
                    self.republish_all();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Applies revocations that other processes committed to the SQLite
    /// file (the command line's local mode), read from the audit log.
    async fn follow_other_processes(self: Arc<Self>, mut log: RevocationLog) {
        let mut poll = tokio::time::interval(LOG_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            poll.tick().await;
            match log.since_last(&self.store).await {
                Ok(revoked) => self.publish(&self.not_announced(revoked)),
                // The mark stays: the next read covers what this one missed.
                Err(error) => {
                    tracing::warn!(%error, "reading the audit log for revocations failed")
                }
            }
        }
    }

    /// Leaves out what this process announced itself; forgets old entries.
    fn not_announced(&self, mut revoked: Vec<RevokedSerial>) -> Vec<RevokedSerial> {
        if let Some(announced) = &self.announced {
            let mut announced = lock(announced);
            revoked.retain(|r| !announced.take(&r.serial_number));
            announced.rotate();
        }
        revoked
    }

    pub(crate) fn crl(&self, shard: u16) -> Option<Arc<PublishedCrl>> {
        self.crls.get(shard)
    }

    pub(crate) fn crls(&self) -> Vec<Arc<PublishedCrl>> {
        self.crls.all()
    }

    /// The background task: re-sign dirty shards soon after a change, and
    /// every shard before it gets old.
    async fn keep_fresh(self: Arc<Self>) {
        loop {
            let refresh_at = self.crls.next_refresh();
            tokio::select! {
                _ = self.wake.notified() => tokio::time::sleep(DEBOUNCE).await,
                _ = tokio::time::sleep_until(refresh_at.into()) => {}
            }
            // Shards due for their daily re-sign are read in full.
            self.mark_unknown(self.crls.due_for_refresh());
            let shards = std::mem::take(&mut *self.dirty());
            let round = Instant::now();
            let all_done = self.rebuild(shards).await;
            let mut pause = (round.elapsed() * PAUSE_PER_ROUND).clamp(MIN_PAUSE, MAX_PAUSE);
            if !all_done {
                // Failed shards stay dirty: try again, after a second at least.
                self.wake.notify_one();
                pause = pause.max(RETRY_AFTER);
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Re-signs `shards` one after the other, so that re-signing never takes
    /// more than one core from the writes; a shard that fails (e.g. the
    /// database is away) stays dirty, to be read in full. False if any failed.
    async fn rebuild(&self, shards: BTreeMap<u16, ShardChanges>) -> bool {
        let started = Instant::now();
        let count = shards.len();
        let mut all_done = true;
        for (shard, changes) in shards {
            if let Err(error) = self
                .crls
                .rebuild(&self.store, &self.ca, shard, changes)
                .await
            {
                tracing::warn!(shard, %error, "re-signing CRL shard failed; retrying");
                self.mark_unknown([shard]);
                all_done = false;
            }
        }
        tracing::debug!(
            shards = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "re-signed CRL shards"
        );
        all_done
    }

    fn mark_unknown(&self, shards: impl IntoIterator<Item = u16>) {
        let mut dirty = self.dirty();
        for shard in shards {
            dirty.insert(shard, ShardChanges::Unknown);
        }
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, BTreeMap<u16, ShardChanges>> {
        lock(&self.dirty)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_serials_are_skipped_once_and_forgotten_after_two_reads() {
        let mut recent = RecentSerials::default();
        recent.current.insert("0A".into());
        recent.current.insert("0B".into());
        assert!(recent.take("0A"), "reported by the log: skipped");
        assert!(!recent.take("0A"), "a second revocation of it is published");
        recent.rotate();
        assert!(recent.previous.contains("0B"), "kept for one more read");
        recent.rotate();
        assert!(!recent.take("0B"), "gone after two reads");
    }
}
