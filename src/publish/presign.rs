//! OCSP answers signed ahead (contract section 10): every unexpired
//! certificate's answers, to a SHA-1 and to a SHA-256 CertID, are signed
//! before anyone asks, kept in `ocsp_responses`, re-signed before they go
//! stale and at once after a revocation, so that the request path reads an
//! answer rather than waiting for a signer (a PKCS#11 token signs a few
//! thousand a second).
//!
//! One task per serving process does the signing, in rounds, most urgent
//! first:
//! 1. answers the request path signed itself (a miss), to store;
//! 2. certificates it was told about: revoked here, on another node (the
//!    PostgreSQL feed) or by another process (the SQLite audit log);
//! 3. answers older than [`resign_before`], oldest first (one index range);
//! 4. a walk of the certificates' primary key for those with no answer:
//!    every certificate once at start and after lost notices, then, every
//!    [`POLL`], the ids issued since (the walk is how new certificates are
//!    found, wherever they were issued).
//!
//! Each round reads at most [`BATCH`] certificates, waits until what it read
//! is durable, signs on a blocking thread and stores the batch in one
//! transaction. When idle it costs one `MAX(id)` and one index probe a
//! second. Signing failures (a token removed) are counted, logged at most
//! every ten seconds and retried after [`RETRY_AFTER`]; the request path
//! keeps serving the answers already signed, and signs on demand what it
//! lacks.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::ocsp::{OCSP_LIFETIME, OCSP_REFRESH};
use super::{PublishError, Publisher, lock};
use crate::ca::{CertIdHash, CertificateAuthority, OcspQuestion, OcspStatus, now_whole_seconds};
use crate::model::RevocationReason;
use crate::store::StoreError;
use crate::store::ocsp_responses::{self, Replace, SignedAnswers, StoredStatus, ToSign};
use crate::throttle::Throttle;

/// Certificates per round: their answers are signed on one blocking thread
/// and stored in one transaction (two answers each).
const BATCH: usize = 256;
/// Certificate ids one query of the walk reads at most.
const WALK_IDS: i64 = 4096;
/// How often the walk looks for new certificates.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// How long ids stay in the walk's window after a pass read them: a
/// PostgreSQL transaction that took an id early may commit after a later
/// one was read, so each poll reads the ids of the last few seconds again
/// (those with answers cost a join probe each).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);
/// The pause after a round that failed (signer or database away).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
/// How long before an answer goes stale (see [`OCSP_REFRESH`]) it is
/// re-signed: enough for a token to re-sign a million certificates' answers
/// whose signatures all came due together.
const RESIGN_AHEAD: time::Duration = time::Duration::hours(1);
/// Most serials waiting to be looked at; beyond, they are dropped and the
/// walk reads every certificate again instead.
const MAX_URGENT: usize = 100_000;
/// Most answers signed on the request path waiting to be stored; beyond,
/// they are dropped (the pre-signer signs them again in its time).
const MAX_OFFERED: usize = 10_000;

/// Answers signed before this are re-signed.
pub(super) fn resign_before(now: OffsetDateTime) -> i64 {
    (now - (OCSP_REFRESH - RESIGN_AHEAD)).unix_timestamp()
}

/// Pre-signing failures: a token gone fails every round.
static FAILURE_WARNINGS: Throttle = Throttle::new(10_000);

/// What the publisher tells the pre-signing task.
pub(super) struct PreSigner {
    running: AtomicBool,
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    /// Certificates to look at now (serials, uppercase hex).
    urgent: BTreeSet<String>,
    /// Answers signed on the request path, to store.
    offered: HashMap<String, SignedAnswers>,
    /// Notices were lost: walk every certificate again.
    rewalk: bool,
}

impl PreSigner {
    pub(super) fn new() -> PreSigner {
        PreSigner {
            running: AtomicBool::new(false),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// From now on notices are queued for the task.
    pub(super) fn start(&self) {
        self.running.store(true, Ordering::Relaxed);
    }

    /// Whether a task signs ahead in this process (nothing is queued otherwise).
    fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// These certificates' answers may attest an old status: look at once.
    pub(super) fn check<'a>(&self, serials: impl IntoIterator<Item = &'a str>) {
        if !self.running() {
            return;
        }
        let mut queue = self.queue();
        for serial in serials {
            if queue.urgent.len() >= MAX_URGENT {
                queue.urgent.clear();
                queue.rewalk = true;
                break;
            }
            queue.urgent.insert(serial.to_owned());
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Anything may have changed: walk every certificate again.
    pub(super) fn check_all(&self) {
        if !self.running() {
            return;
        }
        self.queue().rewalk = true;
        self.wake.notify_one();
    }

    /// Answers the request path signed, to be stored by the task.
    pub(super) fn offer(&self, answers: SignedAnswers) {
        if !self.running() {
            return;
        }
        let mut queue = self.queue();
        if queue.offered.len() < MAX_OFFERED {
            queue.offered.insert(answers.serial_number.clone(), answers);
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Puts serials back after a failed round.
    fn retry(&self, serials: Vec<String>) {
        let mut queue = self.queue();
        if queue.urgent.len() + serials.len() > MAX_URGENT {
            queue.rewalk = true;
        } else {
            queue.urgent.extend(serials);
        }
    }
}

/// The walk of the certificates' primary key (see the module's documentation).
#[derive(Debug)]
struct Walk {
    /// The current pass reads ids in `(cursor, target]`.
    cursor: i64,
    target: i64,
    started: Instant,
    /// Whether the current pass reads every certificate (at start, after
    /// lost notices). Its ids count as settled once read: a late commit
    /// at that moment is possible but rare, and costs only a signature on
    /// demand when the certificate is first asked about.
    full: bool,
    /// Every id up to here was read by a pass begun [`SETTLE`] ago or more.
    settled: i64,
    /// Passes done since: when each began, and its target.
    done: VecDeque<(Instant, i64)>,
    polled: Option<Instant>,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            cursor: 0,
            target: 0,
            started: Instant::now(),
            full: true,
            settled: 0,
            done: VecDeque::new(),
            polled: None,
        }
    }

    /// Starts again from the first certificate at the next poll.
    fn restart(&mut self) {
        *self = Walk::new();
    }

    fn in_pass(&self) -> bool {
        self.cursor < self.target
    }

    /// Whether a new pass may start: once per [`POLL`].
    fn poll_due(&mut self, now: Instant) -> bool {
        if self.polled.is_some_and(|at| now < at + POLL) {
            return false;
        }
        self.polled = Some(now);
        while let Some(&(began, target)) = self.done.front() {
            if now.duration_since(began) < SETTLE {
                break;
            }
            self.settled = self.settled.max(target);
            self.done.pop_front();
        }
        true
    }

    /// Begins a pass up to `last` (the highest id) if there is anything new.
    fn begin(&mut self, last: i64, now: Instant) {
        if last > self.settled {
            self.cursor = self.settled;
            self.target = last;
            self.started = now;
        }
    }

    /// The ids the next query reads.
    fn window(&self) -> (i64, i64) {
        (self.cursor, self.target.min(self.cursor + WALK_IDS))
    }

    /// Ids up to `to` were read.
    fn advance(&mut self, to: i64) {
        self.cursor = to;
        if self.in_pass() {
            return;
        }
        if std::mem::take(&mut self.full) {
            self.settled = self.target;
        } else {
            self.done.push_back((self.started, self.target));
        }
    }

    /// Ids the current pass has still to read.
    fn left(&self) -> i64 {
        (self.target - self.cursor).max(0)
    }
}

/// What a round did.
enum Round {
    /// Nothing was due.
    Idle,
    /// Work was done; more may be waiting.
    Busy,
}

impl Publisher {
    /// The pre-signing task; runs for the life of the process.
    pub(super) async fn sign_ahead(self: Arc<Self>) {
        let mut walk = Walk::new();
        loop {
            let started = Instant::now();
            match self.sign_ahead_round(&mut walk).await {
                Ok(Round::Idle) => {
                    tokio::select! {
                        _ = self.presigner.wake.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                // Leave a core to the rest: after a backlog round, rest
                // half as long as it took (woken early by a notice).
                Ok(Round::Busy) => {
                    let rest = started.elapsed() / 2;
                    tokio::select! {
                        _ = self.presigner.wake.notified() => {}
                        _ = tokio::time::sleep(rest) => {}
                    }
                }
                Err(error) => {
                    metrics::counter!("certd_ocsp_presign_failures_total").increment(1);
                    if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                        tracing::warn!(
                            %error,
                            suppressed,
                            "signing OCSP answers ahead failed; retrying (answers signed \
                             already are still served)"
                        );
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    async fn sign_ahead_round(&self, walk: &mut Walk) -> Result<Round, PublishError> {
        let (offered, urgent) = {
            let mut queue = self.presigner.queue();
            if std::mem::take(&mut queue.rewalk) {
                walk.restart();
            }
            let offered: Vec<SignedAnswers> = queue.offered.drain().map(|(_, a)| a).collect();
            let mut urgent = Vec::new();
            while urgent.len() < BATCH {
                let Some(serial) = queue.urgent.pop_first() else {
                    break;
                };
                urgent.push(serial);
            }
            let backlog = queue.urgent.len() + queue.offered.len();
            metrics::gauge!("certd_ocsp_presign_backlog")
                .set((backlog as i64 + walk.left()) as f64);
            (offered, urgent)
        };
        if !offered.is_empty() {
            // Signed from a status read a while ago: never over a later one.
            let stored = self
                .store_answers(&offered, Replace::OlderAndNotLater)
                .await;
            if let Err(error) = stored {
                self.presigner.retry(urgent);
                return Err(error);
            }
        }
        let now = now_whole_seconds();
        let stale_before = resign_before(now);
        if !urgent.is_empty() {
            let serials: Vec<&str> = urgent.iter().map(String::as_str).collect();
            let read = async {
                let mut conn = self.store.read_bulk().await?;
                ocsp_responses::needing_among(
                    &mut conn,
                    &serials,
                    now.unix_timestamp(),
                    stale_before,
                )
                .await
            };
            let signed = match read.await {
                Ok(due) => self.sign_and_store(due, now).await.map(drop),
                Err(error) => Err(error.into()),
            };
            if let Err(error) = signed {
                self.presigner.retry(urgent);
                return Err(error);
            }
            return Ok(Round::Busy);
        }
        if self.resign_stale(now, stale_before).await? {
            return Ok(Round::Busy);
        }
        let clock = Instant::now();
        if !walk.in_pass() && walk.poll_due(clock) {
            let mut conn = self.store.read_bulk().await?;
            walk.begin(ocsp_responses::last_certificate_id(&mut conn).await?, clock);
        }
        if walk.in_pass() {
            let (after, up_to) = walk.window();
            let found = {
                let mut conn = self.store.read_bulk().await?;
                ocsp_responses::needing_in_ids(
                    &mut conn,
                    after,
                    up_to,
                    now.unix_timestamp(),
                    stale_before,
                    BATCH as i64,
                )
                .await?
            };
            // A full batch may stop short of the window's end.
            let read_to = match found.last() {
                Some((id, _)) if found.len() == BATCH => *id,
                _ => up_to,
            };
            self.sign_and_store(found.into_iter().map(|(_, c)| c).collect(), now)
                .await?;
            walk.advance(read_to);
            return Ok(Round::Busy);
        }
        Ok(Round::Idle)
    }

    /// Re-signs up to a batch of the oldest answers, and drops those of
    /// certificates expired or gone; false when none was due.
    async fn resign_stale(
        &self,
        now: OffsetDateTime,
        stale_before: i64,
    ) -> Result<bool, PublishError> {
        let stale = {
            let mut conn = self.store.read_bulk().await?;
            ocsp_responses::stale(&mut conn, stale_before, BATCH as i64).await?
        };
        if stale.is_empty() {
            return Ok(false);
        }
        let mut gone = Vec::new();
        let mut due = Vec::new();
        for (serial, certificate) in stale {
            match certificate {
                Some(certificate) if certificate.valid_till > now.unix_timestamp() => {
                    due.push(certificate)
                }
                _ => gone.push(serial),
            }
        }
        // Unreadable certificates' answers go too, or the sweep would find
        // them again at every round.
        gone.extend(self.sign_and_store(due, now).await?);
        if !gone.is_empty() {
            let serials: Vec<&str> = gone.iter().map(String::as_str).collect();
            let mut tx = self.store.write().await?;
            ocsp_responses::delete_many(&mut tx, &serials).await?;
            tx.commit().await?;
        }
        Ok(true)
    }

    /// Signs both answers of each certificate (read just before) and stores
    /// them; what was signed before a failure is stored all the same.
    /// Returns the serials of certificates whose stored values could not be
    /// read (left unsigned).
    async fn sign_and_store(
        &self,
        certificates: Vec<ToSign>,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, PublishError> {
        if certificates.is_empty() {
            return Ok(Vec::new());
        }
        // An answer states nothing a power cut could take back.
        self.store.wait_durable().await?;
        let signed = self.sign_answers(certificates, now).await?;
        if !signed.answers.is_empty() {
            self.store_answers(&signed.answers, Replace::Older).await?;
            metrics::counter!("certd_ocsp_presigned_total")
                .increment(2 * signed.answers.len() as u64);
        }
        match signed.failed {
            Some(error) => Err(error),
            None => Ok(signed.unreadable),
        }
    }

    async fn store_answers(
        &self,
        answers: &[SignedAnswers],
        replace: Replace,
    ) -> Result<(), PublishError> {
        let mut tx = self.store.write().await?;
        ocsp_responses::upsert_many(&mut tx, answers, replace).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs each certificate's two answers at `now` on a blocking thread
    /// (a token may take milliseconds each); stops at the first signing
    /// failure. A certificate whose stored values cannot be read is left out.
    pub(super) async fn sign_answers(
        &self,
        certificates: Vec<ToSign>,
        now: OffsetDateTime,
    ) -> Result<Signed, PublishError> {
        let ca = Arc::clone(&self.ca);
        tokio::task::spawn_blocking(move || sign_answers(&ca, &certificates, now))
            .await
            .map_err(|e| PublishError::Task(e.to_string()))
    }
}

/// What a batch of signing gave.
pub(super) struct Signed {
    pub answers: Vec<SignedAnswers>,
    /// Certificates whose stored values could not be read: not signed.
    pub unreadable: Vec<String>,
    /// The signer's failure that stopped the batch.
    pub failed: Option<PublishError>,
}

fn sign_answers(ca: &CertificateAuthority, certificates: &[ToSign], now: OffsetDateTime) -> Signed {
    let mut signed = Signed {
        answers: Vec::with_capacity(certificates.len()),
        unreadable: Vec::new(),
        failed: None,
    };
    for certificate in certificates {
        let (questions, status) = match readable(ca, certificate) {
            Ok(read) => read,
            Err(error) => {
                if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                    tracing::warn!(
                        %error,
                        suppressed,
                        "a certificate's OCSP answers cannot be signed"
                    );
                }
                signed.unreadable.push(certificate.serial_number.clone());
                continue;
            }
        };
        let sign = |question: &OcspQuestion| {
            ca.sign_ocsp(&[(question, status)], now, now + OCSP_LIFETIME, None)
                .map_err(PublishError::from)
        };
        let both = sign(&questions[0]).and_then(|sha1| Ok((sha1, sign(&questions[1])?)));
        match both {
            Ok((der_sha1, der_sha256)) => signed.answers.push(SignedAnswers {
                serial_number: certificate.serial_number.clone(),
                this_update: now.unix_timestamp(),
                status: certificate.status(),
                der_sha1,
                der_sha256,
            }),
            Err(error) => {
                signed.failed = Some(error);
                break;
            }
        }
    }
    signed
}

/// The questions a SHA-1 and a SHA-256 CertID ask about the certificate,
/// and the status to sign.
fn readable(
    ca: &CertificateAuthority,
    certificate: &ToSign,
) -> Result<([OcspQuestion; 2], OcspStatus), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("serial number {}", certificate.serial_number));
    let serial = hex::decode(&certificate.serial_number).map_err(|_| corrupt())?;
    let question = |hash| OcspQuestion::for_serial(ca, hash, &serial).ok_or_else(corrupt);
    let questions = [question(CertIdHash::Sha1)?, question(CertIdHash::Sha256)?];
    Ok((questions, ocsp_status(certificate.status())?))
}

/// The OCSP status a stored status says.
pub(super) fn ocsp_status(status: StoredStatus) -> Result<OcspStatus, StoreError> {
    let Some(revoked_at) = status.revoked_at else {
        return Ok(OcspStatus::Good);
    };
    let code = status.revocation_reason.unwrap_or(0);
    Ok(OcspStatus::Revoked {
        at: OffsetDateTime::from_unix_timestamp(revoked_at)
            .map_err(|_| StoreError::Corrupt(format!("revoked_at {revoked_at}")))?,
        reason: RevocationReason::from_code(code)
            .ok_or_else(|| StoreError::Corrupt(format!("revocation reason code {code}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_reads_everything_once_then_what_is_new_again_for_a_while() {
        let t0 = Instant::now();
        let mut walk = Walk::new();
        assert!(walk.poll_due(t0));
        walk.begin(10_000, t0);
        assert_eq!(walk.window(), (0, WALK_IDS));
        walk.advance(WALK_IDS);
        assert_eq!(walk.window(), (WALK_IDS, 2 * WALK_IDS));
        walk.advance(9_000);
        assert_eq!(walk.window(), (9_000, 10_000));
        walk.advance(10_000);
        assert!(!walk.in_pass());
        assert!(!walk.poll_due(t0), "one poll a second");

        let t1 = t0 + POLL;
        assert!(walk.poll_due(t1));
        walk.begin(10_000, t1);
        assert!(!walk.in_pass(), "nothing new after the full walk");
        let t2 = t1 + POLL;
        assert!(walk.poll_due(t2));
        walk.begin(10_010, t2);
        assert_eq!(walk.window(), (10_000, 10_010));
        assert_eq!(walk.left(), 10);
        walk.advance(10_010);

        // For a while each poll reads those ids again, for transactions that
        // took an id early and committed late.
        let t3 = t2 + POLL;
        assert!(walk.poll_due(t3));
        walk.begin(10_020, t3);
        assert_eq!(walk.window(), (10_000, 10_020));
        walk.advance(10_020);
        let t4 = t2 + SETTLE;
        assert!(walk.poll_due(t4));
        walk.begin(10_020, t4);
        assert_eq!(walk.window(), (10_010, 10_020), "the first settled");
        walk.advance(10_020);
        let t5 = t3 + SETTLE + POLL;
        assert!(walk.poll_due(t5));
        walk.begin(10_020, t5);
        assert!(!walk.in_pass(), "all settled");

        walk.restart();
        assert!(walk.poll_due(t5));
        walk.begin(10_020, t5);
        assert_eq!(
            walk.window(),
            (0, WALK_IDS),
            "after lost notices: everything"
        );
    }

    #[test]
    fn stored_statuses_read_as_ocsp_statuses() {
        assert_eq!(
            ocsp_status(StoredStatus::default()).unwrap(),
            OcspStatus::Good
        );
        let revoked = ocsp_status(StoredStatus {
            revoked_at: Some(1_700_000_000),
            revocation_reason: Some(1),
        })
        .unwrap();
        assert_eq!(
            revoked,
            OcspStatus::Revoked {
                at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
                reason: RevocationReason::KeyCompromise,
            }
        );
        assert!(
            ocsp_status(StoredStatus {
                revoked_at: Some(0),
                revocation_reason: Some(99),
            })
            .is_err()
        );
    }
}
