//! The web approval console at `/console/`: three static files from
//! `console/`, embedded in the binary so that nothing is fetched at run time.
//! The page calls `/services/v2` itself with the key in the `X-DC-DEVKEY`
//! header; this module only serves the files, with headers that forbid
//! anything but certd's own scripts, styles and API.

use axum::Router;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where the console lives; `/console` redirects here.
pub(super) const CONSOLE_PATH: &str = "/console/";

/// Scripts, styles and API calls from certd only; no inline script (an
/// injected `<script>` would not run), no framing (clickjacking), no
/// `<base>` tricks, forms post only to certd.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    // Small files that change with each release of certd: revalidate every time.
    (header::CACHE_CONTROL, "no-cache"),
];

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// The console's routes; merged into the main router (they need no state).
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| redirect(StatusCode::PERMANENT_REDIRECT)))
        // A person who opens the server's address in a browser lands on the console.
        // Temporary: the root may serve something else one day, and browsers
        // keep permanent redirects.
        .route("/", get(|| redirect(StatusCode::TEMPORARY_REDIRECT)))
        .route(
            CONSOLE_PATH,
            get(|| file("text/html; charset=utf-8", INDEX_HTML)),
        )
        .route(
            "/console/console.js",
            get(|| file("text/javascript; charset=utf-8", CONSOLE_JS)),
        )
        .route(
            "/console/console.css",
            get(|| file("text/css; charset=utf-8", CONSOLE_CSS)),
        )
}

async fn redirect(status: StatusCode) -> Response {
    (status, SECURITY_HEADERS, [(header::LOCATION, CONSOLE_PATH)]).into_response()
}

async fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        SECURITY_HEADERS,
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}
