//! `GET /metrics`: Prometheus text format, for operators. Counters and
//! histograms are recorded where things happen (HTTP in `observe`, revocations in the
//! service, OCSP in the publisher); gauges that describe state (pending
//! requests, CRL age) are read when scraped. No key is needed: it holds
//! counts only, no names, ids or serials.
//!
//! Memory stays bounded whether or not anyone scrapes: the exporter keeps
//! each histogram sample until it folds it into the buckets, which it does
//! when rendering or in its upkeep, so a task runs the upkeep every
//! [`UPKEEP_EVERY`]. Without it the samples piled up (about 20 bytes per
//! request, 1.7 GB a day at 1,000 requests/s) until the first scrape.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use time::OffsetDateTime;

use super::AppState;

/// Latency buckets in seconds: sub-millisecond to the request timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 30.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder and starts its upkeep; `None` if a
/// recorder is installed already.
pub(super) fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".into()),
            &LATENCY_BUCKETS,
        )
        .ok()?
        .install_recorder()
        .ok()?;
    let upkept = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkept.run_upkeep();
        }
    });
    Some(handle)
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "publication",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub(super) async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled").into_response();
    };
    match state.service.pending_request_count().await {
        Ok(pending) => metrics::gauge!("certd_pending_requests").set(pending as f64),
        Err(error) => tracing::warn!(%error, "metrics: pending requests unavailable"),
    }
    if let Some(stats) = state.service.group_commit_stats() {
        metrics::counter!("certd_sqlite_commits_total").absolute(stats.commits);
        metrics::counter!("certd_sqlite_committed_writes_total").absolute(stats.writes);
    }
    let now = OffsetDateTime::now_utc();
    match state.service.unsealed_audit_entries().await {
        Ok((count, oldest)) => {
            let age = oldest.map_or(0, |t| (now.unix_timestamp() - t).max(0));
            metrics::gauge!("certd_audit_unsealed_entries").set(count as f64);
            metrics::gauge!("certd_audit_oldest_unsealed_seconds").set(age as f64);
        }
        Err(error) => tracing::warn!(%error, "metrics: audit backlog unavailable"),
    }
    for crl in state.service.publisher().crls() {
        let age = (now - crl.this_update).as_seconds_f64().max(0.0);
        metrics::gauge!("certd_crl_age_seconds", "shard" => crl.shard.to_string()).set(age);
        metrics::gauge!("certd_crl_entries", "shard" => crl.shard.to_string())
            .set(crl.entries as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
