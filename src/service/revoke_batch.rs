//! Batched revocation: revocations of single certificates (any reason but
//! keyCompromise), arriving together, share one transaction: administrators'
//! `skip_approval` ones, and requests to revoke that wait for approval or
//! are approved by `--auto-approve revokes`.
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
//! A revocation the rules refuse is answered at once and changes nothing.
//! One that must see another of the batch first goes alone after the
//! batch's COMMIT: the same certificate named twice, or any certificate of
//! an order for which the batch records a request that waits (alone, it
//! would find that request pending). If
//! the batch itself fails before its COMMIT (a lost connection, a deadlock),
//! each of its revocations is carried out alone instead, so a batch never
//! answers differently than its members would have alone; a failed COMMIT
//! fails them all, as it would have each.

use std::collections::{HashMap, HashSet};

use super::batch::{Batcher, Job};
use super::requests::{Approval, record_request_created};
use super::revoke::{
    RevokeInput, RevokeOutcome, RevokeTarget, check_revocation, record_revoked, revoke_request,
};
use super::{Context, RequestView, Service, ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::{
    Certificate, CertificateRef, Order, PendingRequest, Request, RevokedSerial, now,
};
use crate::store::{certificates, feed, orders, requests};

/// Most revocations in one transaction.
pub(super) const MAX_BATCH: usize = 128;

/// What a caller asks the batch to revoke.
pub(super) struct Revocation {
    certificate: CertificateRef,
    input: RevokeInput,
}

type RevocationJob = Job<Revocation, RevokeOutcome>;

/// The queue in front of the worker (see the module's documentation).
pub(crate) type RevocationBatcher = Batcher<Revocation, RevokeOutcome>;

impl RevocationBatcher {
    /// Queues a revocation and waits for its outcome.
    pub(super) async fn revoke(
        &self,
        ctx: Context<'_>,
        certificate: CertificateRef,
        input: RevokeInput,
    ) -> ServiceResult<RevokeOutcome> {
        self.run(ctx, Revocation { certificate, input }).await
    }
}

/// A revocation the rules accepted, with what it will write.
struct Accepted {
    job: RevocationJob,
    certificate: Certificate,
    order: Order,
    approval: Approval,
}

impl Service {
    pub(super) async fn revoke_batch(&self, jobs: Vec<RevocationJob>) {
        // A certificate named twice in one batch: the second waits for the
        // first and then goes alone (and is told it is revoked already).
        let mut named = HashSet::new();
        let (jobs, mut later): (Vec<RevocationJob>, Vec<RevocationJob>) = jobs
            .into_iter()
            .partition(|job| named.insert(job.work.certificate.clone()));
        match self.revoke_together(jobs, &mut later).await {
            Ok(committed) => {
                for (job, outcome) in committed {
                    job.answer(Ok(outcome));
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

    async fn revoke_each_alone(&self, jobs: Vec<RevocationJob>) {
        for job in jobs {
            let outcome = self
                .revoke_alone(
                    job.ctx(),
                    RevokeTarget::Certificate(job.work.certificate.clone()),
                    job.work.input.clone(),
                )
                .await;
            job.answer(outcome);
        }
    }

    /// Checks and writes the batch in one transaction, answering refused
    /// revocations at once and adding to `alone` those it leaves to go
    /// alone. Returns the committed ones with their outcomes, to answer; or,
    /// if the batch failed before its COMMIT, the error and the jobs to
    /// retry alone.
    async fn revoke_together(
        &self,
        jobs: Vec<RevocationJob>,
        alone: &mut Vec<RevocationJob>,
    ) -> Result<Vec<(RevocationJob, RevokeOutcome)>, (ServiceError, Vec<RevocationJob>)> {
        let mut tx = match self.store.write().await {
            Ok(tx) => tx,
            Err(error) => return Err((error.into(), jobs)),
        };
        let references: Vec<CertificateRef> = jobs
            .iter()
            .map(|job| job.work.certificate.clone())
            .collect();
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
        let (stored, revoked) = match written {
            Ok(written) => written,
            Err(error) => return Err((error, accepted.into_iter().map(|a| a.job).collect())),
        };
        let request_ids: Vec<i64> = stored.iter().map(|request| request.id).collect();
        if let Err(error) = self.commit_with_request_events(tx, &request_ids).await {
            for a in accepted {
                a.job.answer(Err(error.clone()));
            }
            return Ok(Vec::new());
        }
        let revocations = revoked.iter().flatten().count();
        metrics::counter!("certd_revocation_batches_total").increment(1);
        metrics::counter!("certd_batched_revocations_total").increment(revocations as u64);
        // The publisher woken once per reason, not once per revocation.
        let mut by_reason: HashMap<_, Vec<RevokedSerial>> = HashMap::new();
        let mut committed = Vec::with_capacity(accepted.len());
        for ((a, request), notice) in accepted.into_iter().zip(stored).zip(revoked) {
            if let Some(notice) = notice {
                let reason = a.job.work.input.reason;
                by_reason.entry(reason).or_default().push(notice);
            }
            committed.push(answer(a, request));
        }
        for (reason, notices) in by_reason {
            self.revocation_committed(&notices, Some(reason));
        }
        Ok(committed)
    }

    /// Applies the revocation rules to each job (`check_revocation`, as
    /// alone): answers the refused ones at once, adds to `alone` those that
    /// must go alone, and returns the accepted ones.
    fn check_each(
        &self,
        jobs: Vec<RevocationJob>,
        found: &[Certificate],
        orders: &HashMap<i64, (Order, Option<PendingRequest>)>,
        alone: &mut Vec<RevocationJob>,
    ) -> Vec<Accepted> {
        let by_id: HashMap<i64, &Certificate> = found.iter().map(|c| (c.id, c)).collect();
        let by_serial: HashMap<&str, &Certificate> = found
            .iter()
            .map(|c| (c.serial_number.as_str(), c))
            .collect();
        let mut accepted = Vec::new();
        let mut claimed = HashSet::new();
        // Orders for which the batch records a request that waits.
        let mut waiting = HashSet::new();
        for job in jobs {
            let certificate = match &job.work.certificate {
                CertificateRef::Id(id) => by_id.get(id),
                CertificateRef::Serial(serial) => by_serial.get(serial.as_str()),
            };
            // By id and by serial number at once: the second goes alone;
            // so does one that would find the batch's waiting request.
            if let Some(certificate) = certificate
                && (!claimed.insert(certificate.id) || waiting.contains(&certificate.order_id))
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
                        &job.work.input,
                        self.auto_approve.revokes,
                        order,
                        Some(certificate),
                        pending.as_ref(),
                    )
                    .map(|approval| (certificate.clone(), order.clone(), approval))
                });
            match checked {
                Ok((certificate, order, approval)) => {
                    if approval == Approval::Pending {
                        waiting.insert(order.id);
                    }
                    accepted.push(Accepted {
                        job,
                        certificate,
                        order,
                        approval,
                    });
                }
                Err(error) => job.answer(Err(error)),
            }
        }
        accepted
    }
}

/// What an accepted revocation answers once committed: as alone, 204 for an
/// administrator's skip, else the request it recorded (201).
fn answer(accepted: Accepted, request: Request) -> (RevocationJob, RevokeOutcome) {
    let outcome = match accepted.approval {
        Approval::Skipped => RevokeOutcome::Revoked,
        Approval::Pending | Approval::Automatic => {
            RevokeOutcome::Requested(Box::new(RequestView {
                request,
                requester: accepted.job.ctx().caller.user.clone(),
                processor: None,
                order: accepted.order,
                certificate: Some(accepted.certificate),
            }))
        }
    };
    (accepted.job, outcome)
}

/// The requests, revocations, notices and audit entries of the accepted
/// revocations, a statement each; returns the new requests and, for those
/// revoked now (not waiting for approval), the notices, in the order of
/// `accepted`.
async fn write_accepted(
    tx: &mut crate::store::Conn,
    accepted: &[Accepted],
) -> ServiceResult<(Vec<Request>, Vec<Option<RevokedSerial>>)> {
    let new_requests: Vec<_> = accepted
        .iter()
        .map(|a| {
            revoke_request(
                a.job.ctx(),
                a.certificate.order_id,
                Some(&a.certificate),
                a.job.work.input.clone(),
                a.approval,
            )
        })
        .collect();
    let stored = requests::insert_many(tx, &new_requests).await?;
    let at = now();
    let revocations: Vec<_> = accepted
        .iter()
        .filter(|a| a.approval.approved())
        .map(|a| (a.certificate.id, a.job.work.input.reason))
        .collect();
    certificates::revoke_many(tx, &revocations, at).await?;
    let mut revoked = Vec::with_capacity(accepted.len());
    for (a, request) in accepted.iter().zip(&stored) {
        record_request_created(tx, a.job.ctx(), request)?;
        let notice = a
            .approval
            .approved()
            .then(|| {
                record_revoked(
                    tx,
                    Some(a.job.ctx()),
                    &a.certificate,
                    a.job.work.input.reason,
                    request.id,
                )
            })
            .transpose()?;
        revoked.push(notice);
    }
    let notices: Vec<RevokedSerial> = revoked.iter().flatten().cloned().collect();
    feed::announce(tx, &notices).await?;
    Ok((stored, revoked))
}
