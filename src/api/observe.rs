//! What each request leaves behind for operators: its count and latency in
//! the metrics (see `metrics`) and one access-log line.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::extract::REQUEST_ID_HEADER;

/// Middleware: per request, one count and one latency sample by route
/// template (`/services/v2/certificate/{id}/revoke`, never the raw path), and
/// one access-log line: request id, method, route, status, latency and the
/// caller's user id once authenticated. Never the key, nor any header.
pub async fn track(mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = CallerSlot::default();
    request.extensions_mut().insert(caller.clone());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        target: "certd::access",
        request_id,
        method,
        route,
        status,
        latency_us = elapsed.as_micros() as u64,
        caller_id = caller.get(),
        "request"
    );
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// Where the API-key extractor leaves the caller's user id for the access log.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<i64>>);

impl CallerSlot {
    pub fn record(&self, user_id: i64) {
        let _ = self.0.set(user_id);
    }

    fn get(&self) -> Option<i64> {
        self.0.get().copied()
    }
}
