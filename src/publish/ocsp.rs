//! Answering OCSP requests: pre-signed answers from a bounded cache, signed
//! on a miss and dropped as soon as the certificate's status changes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use time::{Duration, OffsetDateTime};

use super::crl::etag_of;
use super::{PublishError, Publisher};
use crate::ca::{
    CertIdHash, OcspQuery, OcspQuestion, OcspStatus, internal_error_response, malformed_response,
    now_whole_seconds, try_later_response,
};
use crate::model::now_ms;
use crate::store::StoreError;
use crate::store::certificates::{self, SerialStatus};

/// `nextUpdate - thisUpdate` of every response (the contract allows 4 days).
pub(super) const OCSP_LIFETIME: Duration = Duration::days(4);
/// A cached answer older than this is signed afresh (half its lifetime, as
/// the Baseline Requirements ask of responders).
const OCSP_REFRESH: Duration = Duration::days(2);
/// Memory the cached answers may take: a fixed budget, so that the cache
/// stops growing at a known size however many certificates are asked about
/// (about 130,000 answers of some 300 bytes of DER each).
const CACHE_BYTES: u64 = 64 << 20;
/// What an entry costs beside its DER and serial: the key, the `Arc`ed
/// answer with its dates and ETag, the cache's slot and allocator slack.
const ENTRY_OVERHEAD: u64 = 200;

/// Weighs a cached answer by the memory it holds.
#[derive(Clone)]
struct AnswerWeight;

impl quick_cache::Weighter<Key, Arc<OcspAnswer>> for AnswerWeight {
    fn weight(&self, key: &Key, answer: &Arc<OcspAnswer>) -> u64 {
        (answer.der.len() + key.1.len()) as u64 + ENTRY_OVERHEAD
    }
}

/// What to send back: the DER, and for a cacheable answer its validity.
#[derive(Debug, Clone)]
pub(crate) struct OcspAnswer {
    pub der: Bytes,
    /// `None` for answers that must not be cached (errors, nonces).
    pub caching: Option<OcspCaching>,
}

#[derive(Debug, Clone)]
pub(crate) struct OcspCaching {
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub etag: String,
}

impl OcspAnswer {
    fn uncached(der: Vec<u8>) -> OcspAnswer {
        OcspAnswer {
            der: Bytes::from(der),
            caching: None,
        }
    }
}

/// The OCSP failures' warnings: a database outage fails every lookup, and a
/// line each would flood the log at tens of thousands a second. Every
/// failure is still counted in `certd_ocsp_responses_total`.
static FAILURE_WARNINGS: Throttle = Throttle::new(10_000);

/// Lets a warning through at most once per period.
struct Throttle {
    period_ms: i64,
    next_ms: AtomicI64,
    suppressed: AtomicU64,
}

impl Throttle {
    const fn new(period_ms: i64) -> Throttle {
        Throttle {
            period_ms,
            next_ms: AtomicI64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(warnings suppressed since the last one)` when this one may be
    /// logged.
    fn allow(&self) -> Option<u64> {
        let now = now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.period_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

type Key = (CertIdHash, Vec<u8>);

pub(super) struct Cache {
    answers: quick_cache::sync::Cache<Key, Arc<OcspAnswer>, AnswerWeight>,
    /// Bumped by every invalidation. A miss remembers it before reading the
    /// database and caches its answer only if no invalidation came between,
    /// so a status read just before a revocation committed is never cached
    /// after that revocation dropped the old answer.
    generation: Mutex<u64>,
}

impl Cache {
    pub(super) fn new() -> Cache {
        Cache {
            answers: quick_cache::sync::Cache::with_weighter(
                (CACHE_BYTES / 500) as usize,
                CACHE_BYTES,
                AnswerWeight,
            ),
            generation: Mutex::new(0),
        }
    }

    fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, key: &Key, now: OffsetDateTime) -> Option<Arc<OcspAnswer>> {
        let answer = self.answers.get(key)?;
        let caching = answer.caching.as_ref()?;
        (now - caching.this_update < OCSP_REFRESH).then_some(answer)
    }

    fn insert_unless_invalidated(&self, key: Key, answer: Arc<OcspAnswer>, seen: u64) {
        let generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if *generation == seen {
            self.answers.insert(key, answer);
        }
    }

    pub(super) fn clear(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        self.answers.clear();
    }

    pub(super) fn invalidate(&self, serial_hex: &str) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        if let Ok(serial) = hex::decode(serial_hex) {
            for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
                self.answers.remove(&(hash, serial.clone()));
            }
        }
    }
}

impl Publisher {
    /// Answers a DER OCSP request. Never fails: bad input is `malformedRequest`,
    /// a database outage `internalError` (RFC 6960 §2.3).
    pub(crate) async fn ocsp(&self, request: &[u8]) -> OcspAnswer {
        let Some(query) = OcspQuery::parse(request) else {
            served("malformed");
            return OcspAnswer::uncached(malformed_response());
        };
        match self.answer(&query).await {
            Ok(answer) => {
                served("successful");
                answer
            }
            Err(PublishError::Store(StoreError::Unavailable(error))) => {
                if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                    tracing::warn!(%error, suppressed, "OCSP lookup: database unavailable");
                }
                served("try_later");
                OcspAnswer::uncached(try_later_response())
            }
            Err(error) => {
                if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                    tracing::warn!(%error, suppressed, "OCSP lookup failed");
                }
                served("internal_error");
                OcspAnswer::uncached(internal_error_response())
            }
        }
    }

    async fn answer(&self, query: &OcspQuery) -> Result<OcspAnswer, PublishError> {
        let now = now_whole_seconds();
        // Only a lone question without a nonce has an answer worth keeping:
        // a nonce makes every answer unique.
        let cache_key = match (query.nonce.is_none(), query.questions.as_slice()) {
            (true, [question]) => question.hash.map(|h| (h, question.serial.clone())),
            _ => None,
        };
        if let Some(answer) = cache_key.as_ref().and_then(|k| self.ocsp.fresh(k, now)) {
            metrics::counter!("certd_ocsp_cache_hits_total").increment(1);
            return Ok(OcspAnswer::clone(&answer));
        }
        let generation = self.ocsp.generation();
        let mut answers = Vec::with_capacity(query.questions.len());
        for question in &query.questions {
            answers.push((question, self.status_of(question).await?));
        }
        let next_update = now + OCSP_LIFETIME;
        let der = self
            .ca
            .sign_ocsp(&answers, now, next_update, query.nonce.as_ref())?;
        let cacheable =
            query.nonce.is_none() && answers.iter().all(|(_, s)| *s != OcspStatus::Unknown);
        let answer = OcspAnswer {
            caching: cacheable.then(|| OcspCaching {
                this_update: now,
                next_update,
                etag: etag_of(&der),
            }),
            der: Bytes::from(der),
        };
        // Unknown serials are not cached: random queries must not push out
        // the answers relying parties actually ask for.
        if let (Some(key), true) = (cache_key, cacheable) {
            self.ocsp
                .insert_unless_invalidated(key, Arc::new(answer.clone()), generation);
        }
        Ok(answer)
    }

    async fn status_of(&self, question: &OcspQuestion) -> Result<OcspStatus, PublishError> {
        if !self.ca.is_issuer_of(question) {
            return Ok(OcspStatus::Unknown);
        }
        let serial = hex::encode_upper(&question.serial);
        let status = {
            let mut conn = self.store.read().await?;
            certificates::status_of_serial(&mut conn, &serial).await?
        };
        // A signed answer states nothing a power cut could take back.
        self.store.wait_durable().await?;
        Ok(match status {
            SerialStatus::NeverIssued => OcspStatus::Unknown,
            SerialStatus::Valid => OcspStatus::Good,
            SerialStatus::Revoked(revocation) => OcspStatus::Revoked {
                at: OffsetDateTime::from_unix_timestamp(revocation.revoked_at)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                reason: revocation.reason,
            },
        })
    }
}

/// Counts an OCSP answer by its response status.
fn served(status: &'static str) {
    metrics::counter!("certd_ocsp_responses_total", "status" => status).increment(1);
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn a_throttle_lets_one_warning_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new(50);
        assert_eq!(throttle.allow(), Some(0));
        for _ in 0..3 {
            assert_eq!(throttle.allow(), None);
        }
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(throttle.allow(), Some(3));
        assert_eq!(throttle.allow(), None);
    }
}
