//! What each request leaves behind for operators: its count and latency in
//! the metrics (see `metrics`), and in the log either a line of its own or a
//! share of a periodic summary.
//!
//! Every API call (`/services/v2`, and the ACME requests that act: the
//! signed POSTs under `/acme`) gets one access line. Everything else
//! (ACME's directory, nonces and renewal information, OCSP, CRLs, the CA chain, `/health`, `/metrics`, the console's files and
//! unknown paths) may arrive by tens of thousands a second from anyone, and a
//! line each would be gigabytes a day: an OCSP responder answering 1,000 a
//! second would write some 40 GB. So, as Boulder samples its OCSP logs,
//! those requests are counted by route and status and logged as one summary
//! line per route every `--publication-log-interval` (full lines at `debug`).
//! The counts are keyed by route template and status, both bounded sets, so
//! the summary's memory does not grow with traffic.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::extract::REQUEST_ID_HEADER;

/// The log target of access lines and summaries.
const TARGET: &str = "certd::access";

/// Middleware: per request, one count and one latency sample by route
/// template (`/services/v2/certificate/{id}/revoke`, never the raw path), and
/// its access line or its share of a summary: request id, method, route,
/// status, latency and the caller's user id once authenticated. Never the
/// key, nor any header.
pub(super) async fn track(
    State(log): State<Arc<AccessLog>>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let api_call = is_api_call(request.uri().path());
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
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(elapsed.as_secs_f64());
    log.record(AccessLine {
        request_id,
        method,
        route,
        status,
        latency_us: elapsed.as_micros() as u64,
        caller_id: caller.get(),
        api_call,
    });
    response
}

/// Calls of the CertCentral API and of ACME, which always get a line of
/// their own; ACME's unsigned reads are publication-like and summarised.
fn is_api_call(path: &str) -> bool {
    if let Some(resource) = path.strip_prefix("/acme/") {
        return !(resource == "directory"
            || resource == "new-nonce"
            || resource.starts_with("renewal-info/"));
    }
    path.strip_prefix("/services/v2")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// One answered request, as the access log sees it.
struct AccessLine {
    request_id: String,
    method: String,
    route: String,
    status: u16,
    latency_us: u64,
    caller_id: Option<i64>,
    api_call: bool,
}

impl AccessLine {
    fn log_at_info(&self) {
        let AccessLine {
            request_id,
            method,
            route,
            status,
            latency_us,
            caller_id,
            ..
        } = self;
        if *status >= 500 {
            tracing::warn!(target: TARGET, request_id, method, route, status, latency_us, caller_id, "request");
        } else {
            tracing::info!(target: TARGET, request_id, method, route, status, latency_us, caller_id, "request");
        }
    }

    fn log_at_debug(&self) {
        let AccessLine {
            request_id,
            method,
            route,
            status,
            latency_us,
            ..
        } = self;
        tracing::debug!(target: TARGET, request_id, method, route, status, latency_us, "request");
    }
}

/// The access log: a line per API call, summaries for the rest.
pub(crate) struct AccessLog {
    /// `None`: every request gets a line of its own.
    summary_every: Option<Duration>,
    counts: Mutex<HashMap<String, RouteCounts>>,
}

/// What one route answered since the last summary.
#[derive(Default)]
struct RouteCounts {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    latency_us_total: u64,
    latency_us_max: u64,
}

impl AccessLog {
    /// Summaries every `summary_every` (written by a task started here), or
    /// a line for every request when it is zero.
    pub(crate) fn start(summary_every: Duration) -> Arc<AccessLog> {
        let log = Arc::new(AccessLog {
            summary_every: (!summary_every.is_zero()).then_some(summary_every),
            counts: Mutex::default(),
        });
        if let Some(every) = log.summary_every {
            tokio::spawn(summarise_every(Arc::downgrade(&log), every));
        }
        log
    }

    fn record(&self, line: AccessLine) {
        if line.api_call || self.summary_every.is_none() {
            line.log_at_info();
            return;
        }
        line.log_at_debug();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let route = counts.entry(line.route).or_default();
        route.requests += 1;
        *route.by_status.entry(line.status).or_default() += 1;
        route.latency_us_total += line.latency_us;
        route.latency_us_max = route.latency_us_max.max(line.latency_us);
    }

    /// Logs one summary line per route that answered anything since the
    /// last one (at `warn` when it answered a 5xx), and starts counting anew.
    pub(crate) fn summarise(&self) {
        let counts = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        let mut routes: Vec<_> = counts.into_iter().collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        for (route, counts) in routes {
            counts.log(&route);
        }
    }
}

impl RouteCounts {
    fn log(&self, route: &str) {
        let mut statuses = String::new();
        for (status, count) in &self.by_status {
            let _ = write!(
                statuses,
                "{}{status}:{count}",
                if statuses.is_empty() { "" } else { " " }
            );
        }
        let requests = self.requests;
        let latency_us_mean = self.latency_us_total / requests.max(1);
        let latency_us_max = self.latency_us_max;
        if self.by_status.keys().any(|status| *status >= 500) {
            tracing::warn!(target: TARGET, route, requests, statuses, latency_us_mean, latency_us_max, "requests summary");
        } else {
            tracing::info!(target: TARGET, route, requests, statuses, latency_us_mean, latency_us_max, "requests summary");
        }
    }
}

async fn summarise_every(log: Weak<AccessLog>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match log.upgrade() {
            Some(log) => log.summarise(),
            None => return,
        }
    }
}

/// Where the API-key extractor leaves the caller's user id for the access log.
#[derive(Clone, Default)]
pub(super) struct CallerSlot(Arc<OnceLock<i64>>);

impl CallerSlot {
    pub(super) fn record(&self, user_id: i64) {
        let _ = self.0.set(user_id);
    }

    fn get(&self) -> Option<i64> {
        self.0.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::is_api_call;

    #[test]
    fn only_services_v2_paths_are_api_calls() {
        assert!(is_api_call("/services/v2/user/me"));
        assert!(is_api_call("/services/v2"));
        assert!(!is_api_call("/services/v2x/user/me"));
        assert!(!is_api_call("/ocsp/MEIw"));
        assert!(!is_api_call("/crl/3.crl"));
        assert!(!is_api_call("/health"));
        assert!(is_api_call("/acme/new-order"));
        assert!(!is_api_call("/acme/directory"));
        assert!(!is_api_call("/acme/renewal-info/abc.def"));
    }
}
