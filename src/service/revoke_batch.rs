//! Batched revocation: revocations of single certificates (any reason but
//! keyCompromise), arriving together, share one transaction: administrators'
//! `skip_approval` ones, requests to revoke that wait for approval or are
//! approved by `--auto-approve revokes`, and approvals of waiting requests to
//! revoke one certificate.
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
//! would find that request pending). An approval the batch cannot simply
//! carry out (its request no longer the order's waiting one, its certificate
//! revoked meanwhile) goes alone too, to be answered as alone. If
//! the batch itself fails before its COMMIT (a lost connection, a deadlock),
//! each of its revocations is carried out alone instead, so a batch never
//! answers differently than its members would have alone; a failed COMMIT
//! fails them all, as it would have each.

use std::collections::{HashMap, HashSet};

use super::batch::{Batcher, Job};
use super::reasons::check_revocable;
use super::requests::{Approval, Decision, record_decision, record_request_created};
use super::revoke::{
    RevokeInput, RevokeOutcome, RevokeTarget, check_revocation, record_revoked, revoke_request,
};
use super::{Context, RequestView, Service, ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::{
    Certificate, CertificateRef, Order, PendingRequest, Request, RequestType, RevocationReason,
    RevokedSerial, now,
};
use crate::store::{certificates, feed, orders, requests};

/// Most revocations in one transaction.
pub(super) const MAX_BATCH: usize = 128;

/// What a caller asks the batch to do.
pub(super) enum Revocation {
    /// Revoke a certificate, or record a request to.
    Asked {
        certificate: CertificateRef,
        input: RevokeInput,
    },
    /// Approve `request`, a waiting request to revoke certificate
    /// `certificate_id`.
    Approval {
        request: Box<Request>,
        certificate_id: i64,
        comment: Option<String>,
    },
}

impl Revocation {
    fn certificate(&self) -> CertificateRef {
        match self {
            Revocation::Asked { certificate, .. } => certificate.clone(),
            Revocation::Approval { certificate_id, .. } => CertificateRef::Id(*certificate_id),
        }
    }

    fn reason(&self) -> RevocationReason {
        match self {
            Revocation::Asked { input, .. } => input.reason,
            Revocation::Approval { request, .. } => request
                .revocation_reason
                .unwrap_or(RevocationReason::Unspecified),
        }
    }
}

/// Revocations of one certificate that may share a transaction: any
/// reason but keyCompromise, whose blocking of the key locks other orders.
pub(super) fn batchable(input: &RevokeInput) -> bool {
    input.reason != RevocationReason::KeyCompromise
}

/// The certificate an approval of `request` revokes, if the approval may
/// share a transaction: a request to revoke one certificate, for any reason
/// but keyCompromise (see [`batchable`]).
pub(super) fn batchable_approval(request: &Request) -> Option<i64> {
    let reason = request.revocation_reason?;
    (request.kind == RequestType::Revoke && reason != RevocationReason::KeyCompromise)
        .then_some(request.certificate_id)
        .flatten()
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
        self.run(ctx, Revocation::Asked { certificate, input })
            .await
    }

    /// Queues the approval of `request` (see [`batchable_approval`]) and
    /// waits until it is carried out.
    pub(super) async fn approve(
        &self,
        ctx: Context<'_>,
        request: Request,
        certificate_id: i64,
        comment: Option<String>,
    ) -> ServiceResult<()> {
        let approval = Revocation::Approval {
            request: Box::new(request),
            certificate_id,
            comment,
        };
        self.run(ctx, approval).await.map(|_| ())
    }
}

/// A revocation the rules accepted, with what it will write.
struct Accepted {
    job: RevocationJob,
    certificate: Certificate,
    order: Order,
    records: Records,
}

/// What an accepted revocation records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    /// A new request, approved so (and the certificate revoked now) or
    /// waiting.
    NewRequest(Approval),
    /// The approval of the waiting request, and the certificate revoked now.
    Approval,
}

impl Records {
    fn revokes_now(self) -> bool {
        match self {
            Records::NewRequest(approval) => approval.approved(),
            Records::Approval => true,
        }
    }
}

impl Service {
    pub(super) async fn revoke_batch(&self, jobs: Vec<RevocationJob>) {
        // A certificate named twice in one batch: the second waits for the
        // first and then goes alone (and is told it is revoked already).
        let mut named = HashSet::new();
        let (jobs, mut later): (Vec<RevocationJob>, Vec<RevocationJob>) = jobs
            .into_iter()
            .partition(|job| named.insert(job.work.certificate()));
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
            let outcome = match &job.work {
                Revocation::Asked { certificate, input } => {
                    let target = RevokeTarget::Certificate(certificate.clone());
                    self.revoke_alone(job.ctx(), target, input.clone()).await
                }
                Revocation::Approval {
                    request, comment, ..
                } => self
                    .decide_alone(job.ctx(), request, Decision::Approve, comment.as_deref())
                    .await
                    .map(|()| RevokeOutcome::Revoked),
            };
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
        let references: Vec<CertificateRef> =
            jobs.iter().map(|job| job.work.certificate()).collect();
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
        let request_ids: Vec<i64> = stored.iter().map(|(id, _)| *id).collect();
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
        for ((a, (_, request)), notice) in accepted.into_iter().zip(stored).zip(revoked) {
            if let Some(notice) = notice {
                let reason = a.job.work.reason();
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
            let certificate = match job.work.certificate() {
                CertificateRef::Id(id) => by_id.get(&id),
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
            let found = certificate.and_then(|c| orders.get(&c.order_id).map(|(o, p)| (*c, o, p)));
            let checked = match &job.work {
                Revocation::Asked { input, .. } => job
                    .ctx()
                    .visible(
                        found,
                        |(_, order, _)| order.user_id,
                        ErrorCode::NoSuchCertificate,
                    )
                    .and_then(|(certificate, order, pending)| {
                        check_revocation(
                            job.ctx(),
                            input,
                            self.auto_approve.revokes,
                            order,
                            Some(certificate),
                            pending.as_ref(),
                        )
                        .map(|approval| {
                            (
                                certificate.clone(),
                                order.clone(),
                                Records::NewRequest(approval),
                            )
                        })
                    }),
                Revocation::Approval { request, .. } => match found {
                    Some((certificate, order, Some(pending)))
                        if pending.id == request.id
                            && check_revocable(certificate, job.work.reason()).is_ok() =>
                    {
                        Ok((certificate.clone(), order.clone(), Records::Approval))
                    }
                    // Anything else is answered as alone, by going alone.
                    _ => {
                        alone.push(job);
                        continue;
                    }
                },
            };
            match checked {
                Ok((certificate, order, records)) => {
                    if records == Records::NewRequest(Approval::Pending) {
                        waiting.insert(order.id);
                    }
                    accepted.push(Accepted {
                        job,
                        certificate,
                        order,
                        records,
                    });
                }
                Err(error) => job.answer(Err(error)),
            }
        }
        accepted
    }
}

/// What an accepted revocation answers once committed: as alone, 204 for an
/// administrator's skip or an approval, else the request it recorded (201).
fn answer(accepted: Accepted, request: Option<Request>) -> (RevocationJob, RevokeOutcome) {
    let outcome = match (accepted.records, request) {
        (Records::NewRequest(Approval::Pending | Approval::Automatic), Some(request)) => {
            RevokeOutcome::Requested(Box::new(RequestView {
                request,
                requester: accepted.job.ctx().caller.user.clone(),
                processor: None,
                order: accepted.order,
                certificate: Some(accepted.certificate),
            }))
        }
        _ => RevokeOutcome::Revoked,
    };
    (accepted.job, outcome)
}

/// The requests (new ones, approvals), revocations, notices and audit
/// entries of the accepted revocations, a statement each; returns, in the
/// order of `accepted`, each one's request id with the new request if it
/// made one, and the notices of those revoked now.
async fn write_accepted(
    tx: &mut crate::store::Conn,
    accepted: &[Accepted],
) -> ServiceResult<(Vec<(i64, Option<Request>)>, Vec<Option<RevokedSerial>>)> {
    let new_requests: Vec<_> = accepted
        .iter()
        .filter_map(|a| match (&a.job.work, a.records) {
            (Revocation::Asked { input, .. }, Records::NewRequest(approval)) => {
                Some(revoke_request(
                    a.job.ctx(),
                    a.certificate.order_id,
                    Some(&a.certificate),
                    input.clone(),
                    approval,
                ))
            }
            _ => None,
        })
        .collect();
    let mut stored = requests::insert_many(tx, &new_requests).await?.into_iter();
    let at = now();
    let approvals: Vec<_> = accepted
        .iter()
        .filter_map(|a| match &a.job.work {
            Revocation::Approval {
                request, comment, ..
            } => Some((request.id, a.job.ctx().user_id(), comment.clone())),
            Revocation::Asked { .. } => None,
        })
        .collect();
    requests::approve_many(tx, &approvals, at).await?;
    let revocations: Vec<_> = accepted
        .iter()
        .filter(|a| a.records.revokes_now())
        .map(|a| (a.certificate.id, a.job.work.reason()))
        .collect();
    certificates::revoke_many(tx, &revocations, at).await?;
    let mut requests = Vec::with_capacity(accepted.len());
    let mut revoked = Vec::with_capacity(accepted.len());
    for a in accepted {
        let ctx = a.job.ctx();
        let request = match &a.job.work {
            Revocation::Asked { .. } => {
                let request = stored.next().ok_or_else(|| {
                    ServiceError::Internal("a request of the batch not stored".into())
                })?;
                record_request_created(tx, ctx, &request)?;
                (request.id, Some(request))
            }
            Revocation::Approval {
                request, comment, ..
            } => {
                record_decision(tx, ctx, request, Decision::Approve, comment.as_deref())?;
                (request.id, None)
            }
        };
        let notice = a
            .records
            .revokes_now()
            .then(|| {
                record_revoked(
                    tx,
                    Some(ctx),
                    &a.certificate,
                    a.job.work.reason(),
                    request.0,
                )
            })
            .transpose()?;
        requests.push(request);
        revoked.push(notice);
    }
    let notices: Vec<RevokedSerial> = revoked.iter().flatten().cloned().collect();
    feed::announce(tx, &notices).await?;
    Ok((requests, revoked))
}
