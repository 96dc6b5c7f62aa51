//! Webhook notifications: request events reach a real receiver,
//! signed; failed attempts are retried; a slow receiver never slows a
//! revocation; events survive a restart; nothing is written without a webhook;
//! the secret stays out of the logs.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::*;
use crate::publication::Certificate;

const SECRET: &str = "whsec-test-3f9a1c7e5b";
/// Long enough for a debug build on a busy machine, short enough to fail.
const DELIVERED_WITHIN: Duration = Duration::from_secs(20);

/// One POST the receiver got, and what it answered.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    event_id: String,
    signature: String,
    content_type: String,
    body: String,
    answered: StatusCode,
}

impl Delivery {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn is_about(&self, event_type: &str, request_id: i64) -> bool {
        let body = self.json();
        body["type"] == event_type && body["request"]["id"] == request_id
    }

    /// Checks the signature header as a receiver would, with the secret.
    fn assert_signed(&self, secret: &str) {
        let (t, v1) = self
            .signature
            .split_once(',')
            .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
            .unwrap_or_else(|| panic!("signature header {:?}", self.signature));
        let sent: i64 = t.parse().expect("a unix time");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - sent).abs() < 300, "signature time {sent}, now {now}");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{}", self.body).as_bytes());
        mac.verify_slice(&hex::decode(v1).expect("hex"))
            .expect("the signature verifies with the secret");
    }
}

#[derive(Default)]
struct ReceiverState {
    deliveries: Mutex<Vec<Delivery>>,
    /// Answer 500 to this many more attempts.
    failures_left: AtomicUsize,
    /// Answer 503 to everything.
    down: AtomicBool,
    /// Never answer.
    hang: AtomicBool,
}

/// A webhook receiver on a loopback port, served by this test process.
pub(crate) struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state }
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// The certd arguments that send events here.
    pub(crate) fn serve_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--webhook-url", &self.url, "--webhook-secret", SECRET];
        args.extend_from_slice(extra);
        args
    }

    /// Waits until a delivery of `event_type` for request `request_id` was
    /// answered 2xx, and returns it.
    async fn delivered(&self, event_type: &str, request_id: i64) -> Delivery {
        self.wait_for(&format!("{event_type} for request {request_id}"), |d| {
            d.answered.is_success() && d.is_about(event_type, request_id)
        })
        .await
    }

    /// Waits for an attempt (whatever its answer) of `event_type` for request `request_id`.
    async fn attempted(&self, event_type: &str, request_id: i64) -> Delivery {
        self.wait_for(
            &format!("an attempt of {event_type} for request {request_id}"),
            |d| d.is_about(event_type, request_id),
        )
        .await
    }

    pub(crate) async fn wait_for(
        &self,
        what: &str,
        matches: impl Fn(&Delivery) -> bool,
    ) -> Delivery {
        let started = Instant::now();
        loop {
            if let Some(delivery) = self.deliveries().into_iter().find(&matches) {
                return delivery;
            }
            assert!(
                started.elapsed() < DELIVERED_WITHIN,
                "no {what}; got {:?}",
                self.deliveries()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    if state.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let answered = if state.down.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else if state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.deliveries.lock().unwrap().push(Delivery {
        event_id: header("x-certd-event-id"),
        signature: header("x-certd-signature"),
        content_type: header("content-type"),
        body,
        answered,
    });
    answered
}

/// Rows in the server's outbox (status `pending` or `failed`).
async fn outbox_rows(s: &Server) -> i64 {
    outbox_count(s, "SELECT COUNT(*) FROM webhook_outbox").await
}

async fn outbox_count(s: &Server, sql: &'static str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

/// A certificate of `owner` (issued at once by the administrator) and the
/// delivery of its order's approval, so later attempts belong to later events.
async fn issued_and_announced(s: &Server, receiver: &Receiver) -> i64 {
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    let request = s.order(order_id).await["requests"][0]["id"].clone();
    receiver.delivered("request.approved", int(&request)).await;
    cert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_approved_and_rejected_arrive_signed_with_the_request_as_the_api_shows_it() {
    let receiver = Receiver::start().await;
    let s = Server::start_with(&receiver.serve_args(&[]));
    let user = s.user();
    let (_, approved_cert) = s.user_order_issued(&user).await;
    let (_, rejected_cert) = s.user_order_issued(&user).await;

    let to_approve = s
        .revoke(
            &user,
            approved_cert,
            json!({"comments": "lost laptop", "revocation_reason": "keyCompromise"}),
        )
        .await
        .ok(201)
        .id();
    let created = receiver.delivered("request.created", to_approve).await;
    assert_eq!(created.json()["request"]["status"], "pending");
    assert_eq!(created.json()["request"]["comments"], "lost laptop");
    s.approve(to_approve).await.ok(204);
    let to_reject = s.revoke(&user, rejected_cert, json!({})).await.ok(201).id();
    s.reject(to_reject).await.ok(204);
    let approved = receiver.delivered("request.approved", to_approve).await;
    let rejected = receiver.delivered("request.rejected", to_reject).await;

    for (delivery, request_id) in [
        (&created, to_approve),
        (&approved, to_approve),
        (&rejected, to_reject),
    ] {
        delivery.assert_signed(SECRET);
        assert_eq!(delivery.content_type, "application/json");
        let body = delivery.json();
        assert_eq!(
            body["id"], delivery.event_id,
            "header and body name one event"
        );
        assert!(body["created"].as_i64().is_some(), "{body}");
        if delivery.event_id != created.event_id {
            // Nothing changed since: the event's request is what the API shows now.
            assert_eq!(body["request"], s.request(request_id).await, "{body}");
        }
    }
    let approved = approved.json();
    assert_eq!(approved["request"]["type"], "revoke");
    assert_eq!(approved["request"]["revocation_reason"], "keyCompromise");
    assert_eq!(
        approved["request"]["order"]["certificate"]["id"],
        approved_cert
    );
    assert_eq!(
        approved["request"]["processor"]["id"],
        s.me(s.admin()).await["id"]
    );
    assert_eq!(rejected.json()["request"]["status"], "rejected");
    let mut ids: Vec<String> = receiver
        .deliveries()
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "event ids are unique");

    // An administrator's skip_approval revocation is reported as approved.
    let skipped = s.issue_certificate(s.admin()).await.1;
    s.revoke_now(skipped, "superseded").await;
    let request = s.revoke_requests_for(skipped).await[0]["id"].clone();
    let delivery = receiver.delivered("request.approved", int(&request)).await;
    assert_eq!(delivery.json()["request"]["status"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_the_event_on_the_third_attempt() {
    let receiver = Receiver::start().await;
    let s = Server::start_with(&receiver.serve_args(&["--webhook-retry-base-ms", "50"]));
    let cert = issued_and_announced(&s, &receiver).await;
    let before = receiver.deliveries().len();
    receiver.state.failures_left.store(2, Ordering::SeqCst);

    let request = s.revoke(s.admin(), cert, json!({})).await.ok(201).id();
    let delivered = receiver.delivered("request.created", request).await;
    let attempts: Vec<Delivery> = receiver.deliveries()[before..].to_vec();
    let answers: Vec<u16> = attempts.iter().map(|d| d.answered.as_u16()).collect();
    assert_eq!(answers, [500, 500, 200]);
    for attempt in &attempts {
        assert_eq!(attempt.event_id, delivered.event_id, "one event, retried");
        assert_eq!(attempt.body, delivered.body, "the same body each time");
        attempt.assert_signed(SECRET);
    }
    // The receiver sees the 200 before certd has recorded it.
    let metrics = metrics_showing(
        &s,
        r#"certd_webhook_deliveries_total{outcome="delivered"} 2"#,
    )
    .await;
    assert!(
        metrics.contains(r#"certd_webhook_deliveries_total{outcome="retry"} 2"#),
        "{metrics}"
    );
    assert_eq!(
        outbox_rows(&s).await,
        0,
        "delivered events leave the outbox"
    );
}

/// `/metrics` once it shows `line` (counters move after the outbox commit).
async fn metrics_showing(s: &Server, line: &str) -> String {
    let started = Instant::now();
    loop {
        let metrics = s.metrics_text().await;
        if metrics.contains(line) {
            return metrics;
        }
        assert!(started.elapsed() < DELIVERED_WITHIN, "no {line}: {metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_never_slows_revocation_or_approval() {
    let receiver = Receiver::start().await;
    receiver.state.hang.store(true, Ordering::SeqCst);
    let s = Server::start_with(&receiver.serve_args(&[]));
    let user = s.user();
    let (_, by_approval) = s.user_order_issued(&user).await;
    let (_, at_once) = s.user_order_issued(&user).await;
    let certs = [
        Certificate::download(&s, by_approval).await,
        Certificate::download(&s, at_once).await,
    ];

    let fast = Duration::from_secs(2);
    let started = Instant::now();
    let request = s.revoke(&user, by_approval, json!({})).await.ok(201).id();
    assert!(
        started.elapsed() < fast,
        "revoke took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    s.approve(request).await.ok(204);
    assert!(
        started.elapsed() < fast,
        "approval took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    s.revoke_now(at_once, "keyCompromise").await;
    assert!(
        started.elapsed() < fast,
        "skip_approval took {:?}",
        started.elapsed()
    );

    let ocsp = s.url("/ocsp");
    for cert in &certs {
        assert!(cert.ocsp(&ocsp).contains(": revoked"), "OCSP");
        let started = Instant::now();
        while !cert.crl_serials_on(&s).await.contains(&cert.serial) {
            assert!(started.elapsed() < Duration::from_secs(5), "not in the CRL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(
        !receiver
            .deliveries()
            .iter()
            .any(|d| d.answered.is_success())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_events_survive_a_restart() {
    let receiver = Receiver::start().await;
    receiver.state.down.store(true, Ordering::SeqCst);
    // Retries 2.5 to 5 s apart: the server is killed between two attempts,
    // not during one (whose lease would hold the event for a minute).
    let mut s = Server::start_with(&receiver.serve_args(&["--webhook-retry-base-ms", "5000"]));
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    let order_request = int(&s.order(order_id).await["requests"][0]["id"]);
    let request = s.revoke(s.admin(), cert, json!({})).await.ok(201).id();
    let tried = receiver.attempted("request.created", request).await;
    receiver.attempted("request.approved", order_request).await;
    let recorded = "SELECT COUNT(*) FROM webhook_outbox WHERE attempts = 1";
    let started = Instant::now();
    while outbox_count(&s, recorded).await < 2 {
        assert!(
            started.elapsed() < DELIVERED_WITHIN,
            "attempts not recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.kill9();
    assert_eq!(outbox_rows(&s).await, 2, "the outbox keeps both events");

    receiver.state.down.store(false, Ordering::SeqCst);
    s.restart();
    let delivered = receiver.delivered("request.created", request).await;
    assert_eq!(
        delivered.event_id, tried.event_id,
        "the same event, after the restart"
    );
    delivered.assert_signed(SECRET);
    receiver.delivered("request.approved", order_request).await;
}

#[tokio::test]
async fn without_a_webhook_no_event_is_written() {
    let s = Server::start();
    let user = s.user();
    let (order_id, cert) = s.user_order_issued(&user).await;
    let request = s.revoke(&user, cert, json!({})).await.ok(201).id();
    s.reject(request).await.ok(204);
    let request = s.revoke(&user, cert, json!({})).await.ok(201).id();
    s.approve(request).await.ok(204);
    s.reissue(s.admin(), order_id, true).await.ok(201);
    assert_eq!(outbox_rows(&s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_gets_eight_attempts_then_the_event_is_kept_as_failed() {
    let receiver = Receiver::start().await;
    receiver.state.down.store(true, Ordering::SeqCst);
    let s = Server::start_with(&receiver.serve_args(&["--webhook-retry-base-ms", "20"]));
    s.issue_certificate(s.admin()).await;
    let failed = "SELECT COUNT(*) FROM webhook_outbox WHERE status = 'failed' AND attempts = 8";
    let started = Instant::now();
    while outbox_count(&s, failed).await < 1 {
        assert!(started.elapsed() < DELIVERED_WITHIN, "never given up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No ninth attempt comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 8);
    let metrics =
        metrics_showing(&s, r#"certd_webhook_deliveries_total{outcome="failed"} 1"#).await;
    assert!(
        metrics.contains("certd_webhook_outbox_backlog 0"),
        "{metrics}"
    );
    let logs = s.logs();
    assert!(logs.contains("webhook attempt failed"), "{logs}");
    assert!(
        logs.contains("not delivered after the last attempt"),
        "{logs}"
    );
    assert!(!logs.contains(SECRET), "the webhook secret is in the log");
    assert!(
        !logs.contains(&receiver.url),
        "the webhook URL is in the log"
    );
}

#[test]
fn bad_webhook_settings_stop_the_start() {
    let data = tempfile::tempdir().unwrap();
    let secret_file = data.path().join("secret");
    std::fs::write(&secret_file, "").unwrap();
    for (args, says) in [
        (
            vec![
                "--webhook-url",
                "ftp://hooks.example.com/",
                "--webhook-secret",
                SECRET,
            ],
            "--webhook-url",
        ),
        (
            vec!["--webhook-url", "not a url", "--webhook-secret", SECRET],
            "--webhook-url",
        ),
        (vec!["--webhook-url", "http://127.0.0.1:9/hook"], "secret"),
        (vec!["--webhook-secret", SECRET], "--webhook-url"),
        (
            vec![
                "--webhook-url",
                "http://127.0.0.1:9/hook",
                "--webhook-secret-file",
            ],
            "secret",
        ),
    ] {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path().join("data"))
            .args(&args);
        if args.last() == Some(&"--webhook-secret-file") {
            command.arg(&secret_file);
        }
        let (exited, stderr) = exit_of(command);
        assert!(exited, "{args:?} started");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains(SECRET), "{args:?} printed the secret");
    }
}

/// Whether `command` exits by itself (unsuccessfully) within a few seconds,
/// and its stderr; one that keeps running is killed.
fn exit_of(mut command: Command) -> (bool, String) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break !status.success();
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (exited, std::fs::read_to_string(stderr.path()).unwrap())
}

/// Two nodes on one PostgreSQL database (always needs PostgreSQL, as the
/// tests in `nodes.rs`): while the receiver is down both retry the same
/// events, yet each event is answered 2xx exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_once() {
    const EVENTS: usize = 10;
    let receiver = Receiver::start().await;
    receiver.state.down.store(true, Ordering::SeqCst);
    let args = receiver.serve_args(&["--webhook-retry-base-ms", "100"]);
    let db = Arc::new(PgDatabase::create());
    let a = Server::start_on(Some(Arc::clone(&db)), None, &args);
    let b = Server::start_on(Some(db), Some(&a), &args);
    let mut requests = Vec::new();
    for i in 0..EVENTS {
        let node = if i % 2 == 0 { &a } else { &b };
        let (order_id, _) = node.issue_certificate(node.admin()).await;
        requests.push(int(&node.order(order_id).await["requests"][0]["id"]));
    }
    receiver
        .wait_for("retries of every event", |_| {
            receiver.deliveries().len() >= 2 * EVENTS
        })
        .await;
    receiver.state.down.store(false, Ordering::SeqCst);
    for request in &requests {
        receiver.delivered("request.approved", *request).await;
    }
    // Time for a second delivery of anything, were there one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut delivered: Vec<String> = receiver
        .deliveries()
        .into_iter()
        .filter(|d| d.answered.is_success())
        .map(|d| d.event_id)
        .collect();
    delivered.sort();
    let before = delivered.len();
    delivered.dedup();
    assert_eq!(before, EVENTS, "one 2xx per event: {delivered:?}");
    assert_eq!(delivered.len(), EVENTS);
}
