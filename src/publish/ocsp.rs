//! Answering OCSP requests: answers signed ahead (`presign`), read from a
//! bounded cache or, on a miss, from the database; dropped from the cache as
//! soon as the certificate's status changes. Only what was not signed ahead
//! in time (a certificate just issued or revoked), several questions at once
//! and serials certd never issued are signed on the request path.

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
use crate::store::ocsp_responses::{self, CertIdDigest, ToSign};
use crate::throttle::Throttle;
use x509_cert::ext::Extension;

/// `nextUpdate - thisUpdate` of every response (the contract allows 4 days).
pub(super) const OCSP_LIFETIME: Duration = Duration::days(4);
/// An answer older than this is not served while a fresher one can be had
/// (half its lifetime, as the Baseline Requirements ask of responders); the
/// pre-signer re-signs answers a little before.
pub(super) const OCSP_REFRESH: Duration = Duration::days(2);
/// Answers signed for one request only (serials never issued, several
/// questions: nothing to sign ahead) that may be signed at once; more are
/// answered `tryLater`. Anyone can make up serials, and each costs a
/// signature: without a bound, a flood of them would keep a slow signer (a
/// PKCS#11 token) from the revocations and issuance that need it.
pub(super) const REQUEST_SIGNATURES: usize = 8;
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
            // Shed, not an outage: no warning (the metric counts them).
            Err(PublishError::SignerBusy) => {
                served("try_later");
                OcspAnswer::uncached(try_later_response())
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
        if let [question] = query.questions.as_slice()
            && let Some(hash) = question.hash
            && self.ca.is_issuer_of(question)
        {
            return self
                .answer_one(question, hash, query.nonce.as_ref(), now)
                .await;
        }
        // Several questions (rare), or one about another issuer or in
        // another hash: signed for this request, its nonce echoed.
        let mut answers = Vec::with_capacity(query.questions.len());
        for question in &query.questions {
            answers.push((question.clone(), self.status_of(question).await?));
        }
        self.sign_for_request(answers, query.nonce.clone(), now)
            .await
    }

    /// One question about a certificate of this CA's: an answer signed
    /// ahead, from memory or the database, whatever the nonce (answers
    /// signed ahead carry none). Only an answer missing, stale or attesting
    /// an older status (just issued, just revoked) is signed here, and then
    /// stored for the next asker.
    async fn answer_one(
        &self,
        question: &OcspQuestion,
        hash: CertIdHash,
        nonce: Option<&Extension>,
        now: OffsetDateTime,
    ) -> Result<OcspAnswer, PublishError> {
        let key = (hash, question.serial.clone());
        if let Some(answer) = self.ocsp.fresh(&key, now) {
            metrics::counter!("certd_ocsp_cache_hits_total").increment(1);
            return Ok(OcspAnswer::clone(&answer));
        }
        let generation = self.ocsp.generation();
        let serial = hex::encode_upper(&question.serial);
        let found = {
            let mut conn = self.store.read().await?;
            ocsp_responses::lookup(&mut conn, &serial, digest(hash)).await?
        };
        let Some(found) = found else {
            // Never issued: `unknown`, signed for this request as ever (and
            // not cached: random queries must not push out real answers).
            self.store.wait_durable().await?;
            let answers = vec![(question.clone(), OcspStatus::Unknown)];
            return self.sign_for_request(answers, nonce.cloned(), now).await;
        };
        // Stored answers attest only durable statuses (they were signed
        // after `wait_durable`): one attesting the status just read needs
        // no wait.
        let signed_ahead = found.answer.filter(|a| a.status == found.status);
        if let Some(stored) = &signed_ahead
            && now.unix_timestamp() - stored.this_update < OCSP_REFRESH.whole_seconds()
        {
            metrics::counter!("certd_ocsp_presigned_served_total").increment(1);
            let answer = Arc::new(cached(stored.der.clone(), stored.this_update));
            self.ocsp
                .insert_unless_invalidated(key, Arc::clone(&answer), generation);
            return Ok(OcspAnswer::clone(&answer));
        }
        // A signed answer states nothing a power cut could take back.
        self.store.wait_durable().await?;
        let certificate = ToSign {
            serial_number: serial,
            revoked_at: found.status.revoked_at,
            revocation_reason: found.status.revocation_reason,
            valid_till: found.valid_till,
        };
        let mut signed = self.sign_answers(vec![certificate], now).await?;
        let signed = match (signed.answers.pop(), signed.failed) {
            (Some(signed), None) => signed,
            (_, failed) => {
                let error = failed.unwrap_or_else(|| {
                    PublishError::Store(StoreError::Corrupt(format!(
                        "certificate {}",
                        hex::encode_upper(&question.serial)
                    )))
                });
                // The signer is away: an answer signed ahead that still
                // attests the status serves until its nextUpdate.
                return match signed_ahead {
                    Some(stored)
                        if now.unix_timestamp() - stored.this_update
                            < OCSP_LIFETIME.whole_seconds() =>
                    {
                        if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                            tracing::warn!(
                                %error,
                                suppressed,
                                "OCSP: signing failed; serving an answer signed earlier"
                            );
                        }
                        Ok(cached(stored.der, stored.this_update))
                    }
                    _ => Err(error),
                };
            }
        };
        metrics::counter!("certd_ocsp_signed_on_demand_total").increment(2);
        let this_update = signed.this_update;
        let mut asked = None;
        for (kind, der) in [
            (CertIdHash::Sha1, &signed.der_sha1),
            (CertIdHash::Sha256, &signed.der_sha256),
        ] {
            let answer = Arc::new(cached(der.clone(), this_update));
            if kind == hash {
                asked = Some(OcspAnswer::clone(&answer));
            }
            self.ocsp.insert_unless_invalidated(
                (kind, question.serial.clone()),
                answer,
                generation,
            );
        }
        // Stored for the other nodes and the next start; answers of expired
        // certificates are not kept.
        if found.valid_till > now.unix_timestamp() {
            self.presigner.offer(signed);
        }
        asked.ok_or_else(|| PublishError::Task("no answer in the asked hash".into()))
    }

    /// Signs an answer for this request alone (several questions, `unknown`
    /// ones), on a blocking thread: the signer may be slow.
    async fn sign_for_request(
        &self,
        answers: Vec<(OcspQuestion, OcspStatus)>,
        nonce: Option<Extension>,
        now: OffsetDateTime,
    ) -> Result<OcspAnswer, PublishError> {
        let _permit = self
            .request_signatures
            .try_acquire()
            .map_err(|_| PublishError::SignerBusy)?;
        let next_update = now + OCSP_LIFETIME;
        let cacheable = nonce.is_none() && answers.iter().all(|(_, s)| *s != OcspStatus::Unknown);
        let ca = Arc::clone(&self.ca);
        let der = tokio::task::spawn_blocking(move || {
            let answers: Vec<(&OcspQuestion, OcspStatus)> =
                answers.iter().map(|(q, s)| (q, *s)).collect();
            ca.sign_ocsp(&answers, now, next_update, nonce.as_ref())
        })
        .await
        .map_err(|e| PublishError::Task(e.to_string()))??;
        metrics::counter!("certd_ocsp_signed_on_demand_total").increment(1);
        Ok(OcspAnswer {
            caching: cacheable.then(|| OcspCaching {
                this_update: now,
                next_update,
                etag: etag_of(&der),
            }),
            der: Bytes::from(der),
        })
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

/// The stored answers' column for a CertID hash.
fn digest(hash: CertIdHash) -> CertIdDigest {
    match hash {
        CertIdHash::Sha1 => CertIdDigest::Sha1,
        CertIdHash::Sha256 => CertIdDigest::Sha256,
    }
}

/// A signed-ahead answer, with what HTTP caches need to know of it.
fn cached(der: Vec<u8>, this_update: i64) -> OcspAnswer {
    let this_update =
        OffsetDateTime::from_unix_timestamp(this_update).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    OcspAnswer {
        caching: Some(OcspCaching {
            this_update,
            next_update: this_update + OCSP_LIFETIME,
            etag: etag_of(&der),
        }),
        der: Bytes::from(der),
    }
}

/// Counts an OCSP answer by its response status.
fn served(status: &'static str) {
    metrics::counter!("certd_ocsp_responses_total", "status" => status).increment(1);
}
