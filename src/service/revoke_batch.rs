//! Batched revocation: administrators' `skip_approval` revocations of single
//! certificates, arriving together, share one transaction.
//!
//! Each revocation alone costs about ten statements and a commit; on
//! PostgreSQL every one of them is a round trip and server work, which caps
//! one node near a thousand revocations a second however many cores wait.
//! Here a worker takes whatever revocations are queued (up to
//! [`MAX_BATCH`]) and carry them out together: the orders are locked and the
//! certificates, orders and pending requests read with three statements, the
//! rules checked for each revocation exactly as alone (`check_revocation`),
//! then the requests, certificates, notices and audit entries written with
//! one statement each, and one COMMIT. Every revocation keeps its own
//! request, audit entries and caller, and is answered only after the COMMIT
//! holding it: "2xx means committed" holds as before.
//!
//! A revocation the rules refuse is answered at once and changes nothing. If
//! the batch itself fails before its COMMIT (a lost connection, a deadlock),
//! each of its revocations is carried out alone instead, so a batch never
//! answers differently than its members would have alone; a failed COMMIT
//! fails them all, as it would have each.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use tokio::sync::{Mutex, mpsc, oneshot};

use super::requests::{Approval, record_request_created};
use super::revoke::{
    RevokeInput, RevokeOutcome, RevokeTarget, check_revocation, record_revoked, revoke_request,
};
use super::{Caller, Context, Service, ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::{Certificate, CertificateRef, Order, PendingRequest, RevokedSerial, now};
use crate::store::{certificates, feed, orders, requests};

/// Most revocations in one transaction.
const MAX_BATCH: usize = 128;
/// Batches in flight at once. One: on the 2-core benchmark machine, CPU-bound,
/// one worker's larger batches (about 16 revocations at 32 connections)
/// beat two workers' (about 8) on PostgreSQL, 1,300 against 1,240
/// revocations/s with p99 41 against 97 ms; four were worse still.
const WORKERS: usize = 1;
/// Revocations waiting for a worker; a caller beyond this waits to queue.
const QUEUE: usize = 4 * MAX_BATCH;

type Reply = oneshot::Sender<ServiceResult<RevokeOutcome>>;

struct Job {
    caller: Caller,
    request_id: Option<String>,
    certificate: CertificateRef,
    input: RevokeInput,
    reply: Reply,
}

impl Job {
    fn ctx(&self) -> Context<'_> {
        Context {
            caller: &self.caller,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// The queue in front of the workers (see the module's documentation).
pub(crate) struct RevocationBatcher {
    queue: mpsc::Sender<Job>,
}

impl RevocationBatcher {
    /// Starts the workers; they stop once the service is gone.
    pub(super) fn start(service: Weak<Service>) -> RevocationBatcher {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..WORKERS {
            tokio::spawn(work(Weak::clone(&service), Arc::clone(&jobs)));
        }
        RevocationBatcher { queue }
    }

    /// Queues a revocation and waits for its outcome.
    pub(super) async fn revoke(
        &self,
        ctx: Context<'_>,
        certificate: CertificateRef,
        input: RevokeInput,
    ) -> ServiceResult<RevokeOutcome> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            caller: ctx.caller.clone(),
            request_id: ctx.request_id.map(str::to_owned),
            certificate,
            input,
            reply,
        };
        self.queue.send(job).await.map_err(|_| stopped())?;
        // A worker answers every job it takes, even when its caller is gone.
        outcome.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ServiceError {
    ServiceError::Internal("the revocation workers stopped".into())
}

async fn work(service: Weak<Service>, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let batch = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let Some(service) = service.upgrade() else {
            return;
        };
        // In a task of its own: a panic fails this batch's callers (their
        // replies are dropped), not every batch after it.
        let batch = tokio::spawn(async move { service.revoke_batch(batch).await });
        if let Err(error) = batch.await {
            tracing::error!(%error, "a batch of revocations failed");
        }
    }
}

/// A revocation the rules accepted, with what it will write.
struct Accepted {
    job: Job,
    certificate: Certificate,
}

impl Service {
    pub(super) fn revocation_batcher(&self) -> Option<&RevocationBatcher> {
        self.revocation_batcher.get()
    }

    /// Batches `skip_approval` revocations from now on (`certd serve`).
    pub(crate) fn start_revocation_batching(self: &Arc<Self>) {
        let _ = self
            .revocation_batcher
            .set(RevocationBatcher::start(Arc::downgrade(self)));
    }

    async fn revoke_batch(&self, jobs: Vec<Job>) {
        // A certificate named twice in one batch: the second waits for the
        // first and then goes alone (and is told it is revoked already).
        let mut named = HashSet::new();
        let (jobs, mut later): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| named.insert(job.certificate.clone()));
        match self.revoke_together(jobs, &mut later).await {
            Ok(committed) => {
                for job in committed {
                    let _ = job.reply.send(Ok(RevokeOutcome::Revoked));
                }
            }
            Err((error, failed)) => {
                tracing::debug!(%error, "a batch of revocations failed; each goes alone");
                later.extend(failed);
            }
        }
        // After the batch's transaction: alone, each takes a transaction
        // (and order locks) of its own.
        self.revoke_each_alone(later).await;
    }

    async fn revoke_each_alone(&self, jobs: Vec<Job>) {
        for job in jobs {
            let outcome = self
                .revoke_alone(
                    job.ctx(),
                    RevokeTarget::Certificate(job.certificate.clone()),
                    job.input.clone(),
                )
                .await;
            let _ = job.reply.send(outcome);
        }
    }

    /// Checks and writes the batch in one transaction, answering refused
    /// revocations at once and adding to `alone` those it leaves to go
    /// alone. Returns the committed ones, to answer; or, if the batch failed
    /// before its COMMIT, the error and the jobs to retry alone.
    async fn revoke_together(
        &self,
        jobs: Vec<Job>,
        alone: &mut Vec<Job>,
    ) -> Result<Vec<Job>, (ServiceError, Vec<Job>)> {
        let mut tx = match self.store.write().await {
            Ok(tx) => tx,
            Err(error) => return Err((error.into(), jobs)),
        };
        let references: Vec<CertificateRef> =
            jobs.iter().map(|job| job.certificate.clone()).collect();
        let read = async {
            let certificates =
                certificates::lock_orders_and_find_many(&mut tx, &references).await?;
            let mut order_ids: Vec<i64> = certificates.iter().map(|c| c.order_id).collect();
            order_ids.sort_unstable();
            order_ids.dedup();
            let orders = orders::find_many_with_pending(&mut tx, &order_ids).await?;
            Ok::<_, crate::store::StoreError>((certificates, orders))
        };
        let (found, orders) = match read.await {
            Ok(read) => read,
            Err(error) => return Err((error.into(), jobs)),
        };
        let accepted = self.check_each(jobs, &found, &orders, alone);
        if accepted.is_empty() {
            return Ok(Vec::new());
        }
        let written = write_accepted(&mut tx, &accepted).await;
        let (request_ids, revoked) = match written {
            Ok(written) => written,
            Err(error) => return Err((error, accepted.into_iter().map(|a| a.job).collect())),
        };
        let jobs: Vec<Job> = accepted.into_iter().map(|a| a.job).collect();
        if let Err(error) = self.commit_with_request_events(tx, &request_ids).await {
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
            return Ok(Vec::new());
        }
        metrics::counter!("certd_revocation_batches_total").increment(1);
        metrics::counter!("certd_batched_revocations_total").increment(jobs.len() as u64);
        // The publisher woken once per reason, not once per revocation.
        let mut by_reason: HashMap<_, Vec<RevokedSerial>> = HashMap::new();
        for (job, notice) in jobs.iter().zip(revoked) {
            by_reason.entry(job.input.reason).or_default().push(notice);
        }
        for (reason, notices) in by_reason {
            self.revocation_committed(&notices, Some(reason));
        }
        Ok(jobs)
    }
    /// Applies the revocation rules to each job (`check_revocation`, as
    /// alone): answers the refused ones at once, adds to `alone` those that
    /// must go alone, and returns the accepted ones.
    fn check_each(
        &self,
        jobs: Vec<Job>,
        found: &[Certificate],
        orders: &HashMap<i64, (Order, Option<PendingRequest>)>,
        alone: &mut Vec<Job>,
    ) -> Vec<Accepted> {
        let by_id: HashMap<i64, &Certificate> = found.iter().map(|c| (c.id, c)).collect();
        let by_serial: HashMap<&str, &Certificate> = found
            .iter()
            .map(|c| (c.serial_number.as_str(), c))
            .collect();
        let mut accepted = Vec::new();
        let mut claimed = HashSet::new();
        for job in jobs {
            let certificate = match &job.certificate {
                CertificateRef::Id(id) => by_id.get(id),
                CertificateRef::Serial(serial) => by_serial.get(serial.as_str()),
            };
            // By id and by serial number at once: the second goes alone.
            if let Some(certificate) = certificate
                && !claimed.insert(certificate.id)
            {
                alone.push(job);
                continue;
            }
            let checked = job
                .ctx()
                .visible(
                    certificate.and_then(|c| orders.get(&c.order_id).map(|(o, p)| (*c, o, p))),
                    |(_, order, _)| order.user_id,
                    ErrorCode::NoSuchCertificate,
                )
                .and_then(|(certificate, order, pending)| {
                    check_revocation(
                        job.ctx(),
                        &job.input,
                        self.auto_approve.revokes,
                        order,
                        Some(certificate),
                        pending.as_ref(),
                    )
                    .map(|approval| (certificate.clone(), approval))
                });
            match checked {
                Ok((certificate, Approval::Skipped)) => {
                    accepted.push(Accepted { job, certificate })
                }
                // Only skips are batched; anything else goes the usual way.
                Ok(_) => alone.push(job),
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                }
            }
        }
        accepted
    }
}

/// The requests, revocations, notices and audit entries of the accepted
/// revocations, a statement each; returns the new requests' ids and the
/// notices, in the order of `accepted`.
async fn write_accepted(
    tx: &mut crate::store::Conn,
    accepted: &[Accepted],
) -> ServiceResult<(Vec<i64>, Vec<RevokedSerial>)> {
    let new_requests: Vec<_> = accepted
        .iter()
        .map(|a| {
            revoke_request(
                a.job.ctx(),
                a.certificate.order_id,
                Some(&a.certificate),
                a.job.input.clone(),
                Approval::Skipped,
            )
        })
        .collect();
    let stored = requests::insert_many(tx, &new_requests).await?;
    let at = now();
    let revocations: Vec<_> = accepted
        .iter()
        .map(|a| (a.certificate.id, a.job.input.reason))
        .collect();
    certificates::revoke_many(tx, &revocations, at).await?;
    let mut revoked = Vec::with_capacity(accepted.len());
    for (a, request) in accepted.iter().zip(&stored) {
        record_request_created(tx, a.job.ctx(), request)?;
        revoked.push(record_revoked(
            tx,
            Some(a.job.ctx()),
            &a.certificate,
            a.job.input.reason,
            request.id,
        )?);
    }
    feed::announce(tx, &revoked).await?;
    Ok((stored.iter().map(|r| r.id).collect(), revoked))
}
