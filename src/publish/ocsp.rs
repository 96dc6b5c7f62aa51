//! Answering OCSP requests: pre-signed answers from a bounded cache, signed
//! on a miss and dropped as soon as the certificate's status changes.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use time::{Duration, OffsetDateTime};

use super::crl::etag_of;
use super::{PublishError, Publisher};
use crate::ca::{
    CertIdHash, OcspQuery, OcspQuestion, OcspStatus, internal_error_response, malformed_response,
    now_whole_seconds, try_later_response,
};
use crate::store::StoreError;
use crate::store::certificates::{self, SerialStatus};

/// `nextUpdate - thisUpdate` of every response (the contract allows 4 days).
pub const OCSP_LIFETIME: Duration = Duration::days(4);
/// A cached answer older than this is signed afresh (half its lifetime, as
/// the Baseline Requirements ask of responders).
const OCSP_REFRESH: Duration = Duration::days(2);
/// Cached answers; each is about 300 bytes of DER.
const CACHE_ENTRIES: usize = 200_000;

/// What to send back: the DER, and for a cacheable answer its validity.
#[derive(Debug, Clone)]
pub struct OcspAnswer {
    pub der: Bytes,
    /// `None` for answers that must not be cached (errors, nonces).
    pub caching: Option<OcspCaching>,
}

#[derive(Debug, Clone)]
pub struct OcspCaching {
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

type Key = (CertIdHash, Vec<u8>);

pub(super) struct Cache {
    answers: quick_cache::sync::Cache<Key, Arc<OcspAnswer>>,
    /// Bumped by every invalidation. A miss remembers it before reading the
    /// database and caches its answer only if no invalidation came between,
    /// so a status read just before a revocation committed is never cached
    /// after that revocation dropped the old answer.
    generation: Mutex<u64>,
}

impl Cache {
    pub(super) fn new() -> Cache {
        Cache {
            answers: quick_cache::sync::Cache::new(CACHE_ENTRIES),
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
    pub async fn ocsp(&self, request: &[u8]) -> OcspAnswer {
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
                tracing::warn!(%error, "OCSP lookup: database unavailable");
                served("try_later");
                OcspAnswer::uncached(try_later_response())
            }
            Err(error) => {
                tracing::warn!(%error, "OCSP lookup failed");
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
