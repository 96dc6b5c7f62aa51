//! The queue in front of batched writes: callers' jobs wait in a channel, and
//! one worker takes whatever is queued (up to a batch's size) and carries
//! them out together, in one transaction (see `revoke_batch` and
//! `issue_batch`).
//!
//! Each statement costs PostgreSQL 50–100 µs of CPU however few rows it
//! writes, and every request alone runs about ten; a batch runs each
//! statement once for all its members. Every member keeps its own rows,
//! audit entries and caller, and is answered only after the COMMIT holding
//! it, so "2xx means committed" holds as for a request alone.

use std::future::Future;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::{Caller, Context, Service, ServiceError, ServiceResult};

/// Where a job's outcome goes. A worker answers every job it takes, even
/// when its caller is gone.
pub(super) type Reply<R> = oneshot::Sender<ServiceResult<R>>;

/// A caller's job: what to do (`work`), on whose behalf, and where to answer.
pub(super) struct Job<W, R> {
    caller: Caller,
    request_id: Option<String>,
    pub(super) work: W,
    pub(super) reply: Reply<R>,
}

impl<W, R> Job<W, R> {
    pub(super) fn ctx(&self) -> Context<'_> {
        Context {
            caller: &self.caller,
            request_id: self.request_id.as_deref(),
        }
    }

    /// Answers the caller (who may have gone: then nobody hears it).
    pub(super) fn answer(self, outcome: ServiceResult<R>) {
        let _ = self.reply.send(outcome);
    }
}

/// The queue and its worker, for jobs of one kind.
pub(super) struct Batcher<W, R> {
    queue: mpsc::Sender<Job<W, R>>,
}

impl<W: Send + 'static, R: Send + 'static> Batcher<W, R> {
    /// Starts the worker, which hands `carry_out` batches of at most
    /// `max_batch` jobs, one batch at a time, and stops once the service is
    /// gone. One worker: on the 2-core benchmark machine, CPU-bound, one
    /// worker's larger batches (about 16 revocations at 32 connections) beat
    /// two workers' (about 8) on PostgreSQL, 1,300 against 1,240
    /// revocations/s with p99 41 against 97 ms; four were worse still.
    pub(super) fn start<F, Fut>(service: Weak<Service>, max_batch: usize, carry_out: F) -> Self
    where
        F: Fn(Arc<Service>, Vec<Job<W, R>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // A caller beyond this waits to queue.
        let (queue, jobs) = mpsc::channel(4 * max_batch);
        tokio::spawn(work(service, jobs, max_batch, carry_out));
        Batcher { queue }
    }

    /// Queues `work` on behalf of `ctx` and waits for its outcome.
    pub(super) async fn run(&self, ctx: Context<'_>, work: W) -> ServiceResult<R> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            caller: ctx.caller.clone(),
            request_id: ctx.request_id.map(str::to_owned),
            work,
            reply,
        };
        self.queue.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

impl Service {
    /// Batches revocations of single certificates, approvals of requests to
    /// revoke one, and orders approved as they are placed, from now on
    /// (`certd serve`); without it each goes alone.
    pub(crate) fn start_batching(self: &Arc<Self>) {
        let revocations = Batcher::start(
            Arc::downgrade(self),
            super::revoke_batch::MAX_BATCH,
            |service, jobs| async move { service.revoke_batch(jobs).await },
        );
        let _ = self.revocation_batcher.set(revocations);
        let issuance = Batcher::start(
            Arc::downgrade(self),
            super::issue_batch::MAX_BATCH,
            |service, jobs| async move { service.issue_batch(jobs).await },
        );
        let _ = self.issuance_batcher.set(issuance);
    }
}

fn stopped() -> ServiceError {
    ServiceError::Internal("the batch worker stopped".into())
}

async fn work<W, R, F, Fut>(
    service: Weak<Service>,
    mut jobs: mpsc::Receiver<Job<W, R>>,
    max_batch: usize,
    carry_out: F,
) where
    W: Send + 'static,
    R: Send + 'static,
    F: Fn(Arc<Service>, Vec<Job<W, R>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Some(service) = service.upgrade() else {
            return;
        };
        // In a task of its own: a panic fails this batch's callers (their
        // replies are dropped), not every batch after it.
        if let Err(error) = tokio::spawn(carry_out(service, batch)).await {
            tracing::error!(%error, "a batch of writes failed");
        }
    }
}
