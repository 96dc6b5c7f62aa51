//! HTTP: routing, auth extraction, wire types and error mapping. Knows the
//! service layer only (publication goes through `Service::publisher`).

mod account;
mod blocked_keys;
mod campaigns;
mod certificates;
mod console;
mod eab;
mod error;
mod extract;
pub(crate) use extract::LocalCaller;
mod limits;
mod metrics;
mod observe;
mod openapi;
mod orders;
mod publication;
mod requests;
mod server;
mod tls;
mod users;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::map_response;
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::service::Service;

/// The limits the router enforces (`certd serve` options).
#[derive(Clone)]
pub(crate) struct Limits {
    /// Calls a second per API key on `/services/v2`; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Longest time a request (reading its body included) may take before
    /// it is answered 408.
    pub request_timeout: Duration,
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub service: Arc<Service>,
    /// The Prometheus recorder's handle, when this process installed one.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

pub(crate) use error::ApiError;
pub(crate) use limits::RateLimit;
pub(crate) use observe::AccessLog;
pub(crate) use server::serve;
pub(crate) use tls::{ServerKey, Tls};

/// A request as `GET /services/v2/request/{id}` answers it: the `request` of
/// webhook events.
pub(crate) fn request_json(view: &crate::service::RequestView) -> serde_json::Value {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_value(wire::RequestDetails::from(view)).unwrap_or_default()
}

/// A campaign as `GET /services/v2/campaign/{id}` answers it: the
/// `campaign` of webhook events.
pub(crate) fn campaign_json(view: &crate::service::CampaignView) -> serde_json::Value {
    serde_json::to_value(wire::CampaignObject::from(view)).unwrap_or_default()
}

/// The `/services/v2` API: one route table for the network and for the
/// command line's local mode ([`in_process`]).
fn v2_routes() -> Router<AppState> {
    Router::new()
        .route("/user/me", get(account::user_me))
        .route("/audit-log", get(account::audit_log))
        .route("/order/certificate", get(orders::list_orders))
        .route(
            "/order/certificate/{id}",
            get(orders::order_details).post(orders::place_order),
        )
        .route("/order/certificate/{id}/reissue", post(orders::reissue))
        .route(
            "/order/certificate/{id}/status",
            put(orders::set_order_status),
        )
        .route("/order/certificate/{id}/revoke", put(orders::revoke_order))
        .route("/certificate/{id}", get(certificates::certificate_details))
        .route(
            "/certificate/{id}/revoke",
            put(certificates::revoke_certificate),
        )
        .route(
            "/certificate/{id}/download/format/{format}",
            get(certificates::download_format),
        )
        .route(
            "/certificate/{id}/download/platform/{platform}",
            get(certificates::download_platform),
        )
        .route("/request", get(requests::list_requests))
        .route("/request/{id}", get(requests::request_details))
        .route("/request/{id}/status", put(requests::set_request_status))
        .route("/user", get(users::list_users).post(users::add_user))
        .route("/user/{id}", get(users::user_details))
        .route("/user/{id}/status", put(users::set_user_status))
        .route("/key", get(users::list_keys))
        .route("/key/user/{id}", post(users::create_key))
        .route("/key/{id}/status", put(users::set_key_status))
        .route("/blocked-key", get(blocked_keys::list_blocked_keys))
        .route("/acme/eab", post(eab::create_eab_credential))
        .route(
            "/campaign",
            get(campaigns::list_campaigns).post(campaigns::create_campaign),
        )
        .route("/campaign/{id}", get(campaigns::campaign_details))
        .route("/campaign/{id}/status", put(campaigns::set_campaign_status))
        .route("/campaign/{id}/hold", post(campaigns::hold_certificate))
        .route(
            "/campaign/{id}/certificate",
            get(campaigns::campaign_certificates),
        )
        .route("/openapi.json", get(openapi::document))
}

/// The API for the command line's local mode: the same routes, extractors
/// and error answers as over the network, so that both modes answer alike
/// by construction, without what only the network needs (access log, rate
/// limit, timeouts, request ids). Every request carries its caller as a
/// [`LocalCaller`] extension, which no request from the network can carry.
pub(crate) fn in_process(service: Arc<Service>) -> Router {
    Router::new()
        .nest("/services/v2", v2_routes())
        .with_state(AppState {
            service,
            metrics: None,
        })
        .layer(map_response(error::json_error_bodies))
}

/// What relying parties fetch (CRLs, OCSP, the CA's certificates): served
/// in the whole surface and alone on `--publication-listen`.
fn publication_routes() -> Router<AppState> {
    Router::new()
        .route("/crl", get(publication::crl_index))
        .route("/crl/", get(publication::crl_index))
        .route("/crl/{file}", get(publication::crl_shard))
        .route("/ocsp", post(publication::ocsp_post))
        .route("/ocsp/{*request}", get(publication::ocsp_get))
        .route("/ca/chain.pem", get(publication::chain_pem))
        .route("/ca/issuer.der", get(publication::issuer_der))
}

/// The whole HTTP surface.
pub(crate) fn router(service: Arc<Service>, limits: Limits, access_log: Arc<AccessLog>) -> Router {
    let v2 = v2_routes();
    let v2 = match limits.rate_limit {
        Some(limit) => v2.layer(axum::middleware::from_fn_with_state(limit, limits::enforce)),
        None => v2,
    };

    let app = Router::new()
        .route("/health", get(account::health))
        .merge(publication_routes())
        .route("/metrics", get(metrics::render))
        .merge(console::routes())
        .merge(crate::acme::routes(Arc::clone(&service)))
        .nest("/services/v2", v2)
        .with_state(AppState {
            service,
            metrics: metrics::install(),
        });
    with_network_layers(app, limits.request_timeout, access_log)
}

/// Only the publication routes, for `--publication-listen`: plain HTTP
/// that relying parties reach, without the API.
pub(crate) fn publication_router(
    service: Arc<Service>,
    limits: &Limits,
    access_log: Arc<AccessLog>,
) -> Router {
    let app = publication_routes().with_state(AppState {
        service,
        metrics: None,
    });
    with_network_layers(app, limits.request_timeout, access_log)
}

/// What every request from the network goes through: the access log, the
/// body limit and request timeout, panics caught, JSON error bodies,
/// tracing and request ids.
fn with_network_layers(
    app: Router,
    request_timeout: Duration,
    access_log: Arc<AccessLog>,
) -> Router {
    let request_id = HeaderName::from_static(extract::REQUEST_ID_HEADER);
    app.layer(axum::middleware::from_fn_with_state(
        access_log,
        observe::track,
    ))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(map_response(error::json_error_bodies))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    // Method, path and request id only: headers (the API key) are never logged.
                    let id = request
                        .headers()
                        .get(extract::REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                // The access log (`observe`) already reports each 5xx: a
                // second line per failure would flood the log in an outage.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
