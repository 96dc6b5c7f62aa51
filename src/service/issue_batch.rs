//! Batched issuance: orders approved as they are placed (an administrator's
//! `skip_approval`, or `--auto-approve orders`), arriving together, share
//! one transaction.
//!
//! Each order's checks and signature are done before it queues
//! (`prepare_order`, on the caller's task, so signatures use every core);
//! the worker then takes the issuance lock and reads the blocked keys once
//! for the batch, and writes the orders, certificates, requests and audit
//! entries with a statement each (`write_orders`), then one COMMIT. An order
//! whose key is blocked is refused and the rest written. If the batch fails
//! before its COMMIT, each of its orders is written alone instead; a failed
//! COMMIT fails them all, as it would have each.

use super::batch::{Batcher, Job};
use super::orders::{PlacedOrder, PreparedOrder, write_orders};
use super::{Service, ServiceResult};
use crate::store::WriteTx;

/// Most orders in one transaction.
pub(super) const MAX_BATCH: usize = 64;

type IssuanceJob = Job<PreparedOrder, PlacedOrder>;

/// The queue in front of the worker (see the module's documentation).
pub(crate) type IssuanceBatcher = Batcher<PreparedOrder, PlacedOrder>;

impl Service {
    pub(super) async fn issue_batch(&self, jobs: Vec<IssuanceJob>) {
        let written = self.write_batch(&jobs).await;
        let (tx, outcomes) = match written {
            Ok(written) => written,
            Err(error) => {
                tracing::debug!(%error, "a batch of orders failed; each goes alone");
                for job in jobs {
                    let outcome = self.place_prepared_order(job.ctx(), &job.work).await;
                    job.answer(outcome);
                }
                return;
            }
        };
        let request_ids: Vec<i64> = outcomes
            .iter()
            .filter_map(|outcome| outcome.as_ref().ok().map(|placed| placed.request_id))
            .collect();
        let committed = self.commit_with_request_events(tx, &request_ids).await;
        if committed.is_ok() {
            metrics::counter!("certd_issuance_batches_total").increment(1);
        }
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            job.answer(match &committed {
                Ok(()) => outcome,
                Err(error) => outcome.and(Err(error.clone())),
            });
        }
    }

    /// The batch written in one transaction, not yet committed, with each
    /// job's outcome.
    async fn write_batch(
        &self,
        jobs: &[IssuanceJob],
    ) -> ServiceResult<(WriteTx, Vec<ServiceResult<PlacedOrder>>)> {
        let mut tx = self.store.write().await?;
        let orders: Vec<_> = jobs.iter().map(|job| (job.ctx(), &job.work)).collect();
        let outcomes = write_orders(&mut tx, &orders).await?;
        Ok((tx, outcomes))
    }
}
