//! Webhook delivery: posts the request events the service wrote to
//! the outbox (`store::outbox`) to the configured URL, signed with HMAC-SHA256.
//!
//! Delivery runs in a background task and never in a request: a revocation
//! or an approval only inserts its event. The deliverer wakes when an event
//! commits on this node, and looks again every few seconds for retries, for
//! other nodes' events and for events left by a previous run. Each attempt
//! has a short timeout; a 2xx answer delivers the event, anything else is
//! tried again after an exponential backoff with jitter, up to
//! [`MAX_ATTEMPTS`] attempts (about an hour with the default base), after
//! which the event is kept as `failed` and logged. Delivery is at least once
//! (an event whose answer was lost is sent again, with the same id) and in no
//! guaranteed order.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::model::{now, now_ms};
use crate::store::outbox::{self, DueEvent};
use crate::store::{Store, StoreResult};

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as Stripe does.
pub(crate) const SIGNATURE_HEADER: &str = "X-Certd-Signature";
pub(crate) const EVENT_ID_HEADER: &str = "X-Certd-Event-Id";
pub(crate) const EVENT_TYPE_HEADER: &str = "X-Certd-Event-Type";

/// The first retry waits this long (`--webhook-retry-base-ms`), each later one
/// twice as long: 30 s, 1, 2, 4, 8, 16 and 32 min, so eight attempts span
/// about an hour.
pub(crate) const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
pub(crate) const MAX_ATTEMPTS: i64 = 8;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// A receiver that has not answered by then has failed this attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed event is left to its node: longer than an attempt, so
/// that only a node that died mid-attempt lets another node take it over.
const LEASE: Duration = Duration::from_secs(60);
/// Events attempted at once.
const BATCH: i64 = 32;
/// The longest the deliverer sleeps without looking at the outbox.
const POLL: Duration = Duration::from_secs(5);

const DELIVERIES_METRIC: &str = "certd_webhook_deliveries_total";
const BACKLOG_METRIC: &str = "certd_webhook_outbox_backlog";

#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    /// The URL itself is not repeated: it may carry credentials.
    #[error("--webhook-url is not a usable URL: {0}")]
    InvalidUrl(String),
    #[error(
        "--webhook-url needs a signing secret: --webhook-secret, CERTD_WEBHOOK_SECRET or --webhook-secret-file"
    )]
    MissingSecret,
    #[error("a webhook secret was given without --webhook-url")]
    SecretWithoutUrl,
    #[error("the webhook secret is empty")]
    EmptySecret,
    #[error("cannot read the webhook secret file: {0}")]
    SecretFile(std::io::Error),
    #[error("cannot set up the webhook's HTTP client: {0}")]
    Client(reqwest::Error),
}

/// The signing key; its `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct WebhookSecret(Vec<u8>);

impl From<String> for WebhookSecret {
    fn from(secret: String) -> Self {
        WebhookSecret(secret.into_bytes())
    }
}

/// For the command line.
impl std::str::FromStr for WebhookSecret {
    type Err = std::convert::Infallible;
    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(WebhookSecret(secret.as_bytes().to_vec()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[derive(Debug)]
pub(crate) struct WebhookConfig {
    url: Url,
    secret: WebhookSecret,
    retry_base: Duration,
}

impl WebhookConfig {
    pub(crate) fn new(
        url: &str,
        secret: WebhookSecret,
        retry_base: Duration,
    ) -> Result<Self, WebhookError> {
        let url = Url::parse(url).map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::InvalidUrl(format!(
                "the scheme is {:?}, not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(WebhookError::InvalidUrl("it names no host".into()));
        }
        if secret.0.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        Ok(WebhookConfig {
            url,
            secret,
            retry_base: retry_base.max(Duration::from_millis(1)),
        })
    }
}

/// The secret from a file, without the line break editors add.
pub(crate) fn read_secret_file(path: &Path) -> Result<WebhookSecret, WebhookError> {
    let text = std::fs::read_to_string(path).map_err(WebhookError::SecretFile)?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string().into())
}

/// The `v1` part of the signature header: hex HMAC-SHA256 of `"<t>.<body>"`.
pub(crate) fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The wait before attempt `failures + 1`: `base · 2^(failures-1)`, capped,
/// times `jitter` (0.5 to 1), so that receivers coming back are not hit by
/// every node's retries at once.
fn retry_delay(base: Duration, failures: i64, jitter: f64) -> Duration {
    let doublings = failures.clamp(1, 20) - 1;
    base.saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
        .mul_f64(jitter.clamp(0.5, 1.0))
}

/// What became of one attempt, once written down.
enum Outcome {
    Delivered,
    Retry { error: String, delay: Duration },
    Failed { error: String },
}

impl Outcome {
    fn metric_label(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
        }
    }
}

pub(crate) struct Deliverer {
    store: Arc<Store>,
    config: WebhookConfig,
    client: reqwest::Client,
    /// Notified by the service after an event commits.
    wake: Arc<Notify>,
}

impl Deliverer {
    /// Starts delivering in the background.
    pub(crate) fn start(
        store: Arc<Store>,
        config: WebhookConfig,
        wake: Arc<Notify>,
    ) -> Result<(), WebhookError> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            // A redirect is not a delivery, and following one would let
            // whoever answers at the URL point certd at any other host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("certd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebhookError::Client)?;
        tracing::info!(
            host = config.url.host_str().unwrap_or_default(),
            "webhook deliveries enabled"
        );
        let deliverer = Arc::new(Deliverer {
            store,
            config,
            client,
            wake,
        });
        tokio::spawn(deliverer.run());
        Ok(())
    }

    async fn run(self: Arc<Self>) {
        loop {
            let wait = match self.pass().await {
                Ok(wait) => wait,
                Err(error) => {
                    tracing::warn!(%error, "webhook outbox unavailable");
                    POLL
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Attempts what is due; returns how long to wait before the next pass.
    async fn pass(self: &Arc<Self>) -> StoreResult<Duration> {
        let (next_due, backlog) = {
            let mut conn = self.store.read().await?;
            (
                outbox::next_due_ms(&mut conn).await?,
                outbox::backlog(&mut conn).await?,
            )
        };
        metrics::gauge!(BACKLOG_METRIC).set(backlog as f64);
        let now = now_ms();
        match next_due {
            None => Ok(POLL),
            Some(due) if due > now => Ok(Duration::from_millis((due - now) as u64).min(POLL)),
            Some(_) => {
                self.deliver_due(now).await?;
                Ok(Duration::ZERO)
            }
        }
    }

    /// Claims a batch of due events and attempts them side by side.
    async fn deliver_due(self: &Arc<Self>, now: i64) -> StoreResult<()> {
        let lease_until = now + LEASE.as_millis() as i64;
        let mut tx = self.store.write().await?;
        let events = outbox::claim_due(&mut tx, now, lease_until, BATCH).await?;
        tx.commit().await?;
        let mut attempts = JoinSet::new();
        for event in events {
            let deliverer = Arc::clone(self);
            attempts.spawn(async move { deliverer.deliver(event).await });
        }
        while attempts.join_next().await.is_some() {}
        Ok(())
    }

    async fn deliver(&self, event: DueEvent) {
        let answer = self.attempt(&event).await;
        let outcome = match answer {
            Ok(()) => Outcome::Delivered,
            Err(error) if event.attempts + 1 >= MAX_ATTEMPTS => Outcome::Failed { error },
            Err(error) => {
                let jitter = rand::thread_rng().gen_range(0.5..=1.0);
                let delay = retry_delay(self.config.retry_base, event.attempts + 1, jitter);
                Outcome::Retry { error, delay }
            }
        };
        match self.record(&event, &outcome).await {
            Ok(()) => report(&event, &outcome),
            // The lease runs out and the event is attempted again.
            Err(error) => tracing::warn!(
                %error,
                event_id = %event.event_id,
                "could not record a webhook attempt; it will be repeated"
            ),
        }
    }

    /// One POST; `Err` describes why it did not deliver.
    async fn attempt(&self, event: &DueEvent) -> Result<(), String> {
        let timestamp = now();
        let signature = signature(&self.config.secret.0, timestamp, &event.body);
        let answer = self
            .client
            .post(self.config.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, &event.event_id)
            .header(EVENT_TYPE_HEADER, &event.event_type)
            .header(SIGNATURE_HEADER, format!("t={timestamp},v1={signature}"))
            .body(event.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }

    async fn record(&self, event: &DueEvent, outcome: &Outcome) -> StoreResult<()> {
        let attempts = event.attempts + 1;
        let mut tx = self.store.write().await?;
        match outcome {
            Outcome::Delivered => outbox::delivered(&mut tx, event.id).await?,
            Outcome::Retry { error, delay } => {
                let next = now_ms() + delay.as_millis() as i64;
                outbox::retry_later(&mut tx, event.id, attempts, next, error).await?;
            }
            Outcome::Failed { error } => {
                outbox::give_up(&mut tx, event.id, attempts, error).await?;
            }
        }
        tx.commit().await
    }
}

/// Logs and counts an attempt whose outcome is stored.
fn report(event: &DueEvent, outcome: &Outcome) {
    metrics::counter!(DELIVERIES_METRIC, "outcome" => outcome.metric_label()).increment(1);
    let attempt = event.attempts + 1;
    let (event_id, event_type) = (&event.event_id, &event.event_type);
    match outcome {
        Outcome::Delivered => {
            tracing::debug!(%event_id, %event_type, attempt, "webhook event delivered");
        }
        Outcome::Retry { error, delay } => tracing::info!(
            %event_id, %event_type, attempt, %error, retry_in_ms = delay.as_millis() as u64,
            "webhook attempt failed"
        ),
        Outcome::Failed { error } => tracing::warn!(
            %event_id, %event_type, attempt, %error,
            "webhook event not delivered after the last attempt; kept as failed in the outbox"
        ),
    }
}

/// A transport error with its causes, without the URL (which may hold
/// credentials).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_hmac() {
        // python3: hmac.new(b"whsec_test", b'1700000000.{"id":"abc"}', sha256).hexdigest()
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, r#"{"id":"abc"}"#),
            "38d2090fd7375d8bb1f1e9059a9956d24e8a05fd20a5adb008c5f18944e39fd1"
        );
    }

    #[test]
    fn retries_double_with_jitter_up_to_the_cap() {
        let base = DEFAULT_RETRY_BASE;
        assert_eq!(retry_delay(base, 1, 1.0), base);
        assert_eq!(retry_delay(base, 3, 1.0), base * 4);
        assert_eq!(retry_delay(base, 3, 0.5), base * 2);
        assert_eq!(retry_delay(base, 40, 1.0), MAX_RETRY_DELAY);
        let schedule: Duration = (1..MAX_ATTEMPTS).map(|n| retry_delay(base, n, 1.0)).sum();
        assert!(
            (Duration::from_secs(50 * 60)..=Duration::from_secs(70 * 60)).contains(&schedule),
            "eight attempts should span about an hour, not {schedule:?}"
        );
    }

    #[test]
    fn urls_and_secrets_are_checked() {
        let ok = WebhookConfig::new(
            "https://hooks.example.com/certd",
            String::from("topsecret").into(),
            DEFAULT_RETRY_BASE,
        );
        assert!(ok.is_ok());
        for bad in [
            "not a url",
            "ftp://example.com/",
            "file:///tmp/x",
            "http://",
        ] {
            assert!(
                matches!(
                    WebhookConfig::new(bad, String::from("s").into(), DEFAULT_RETRY_BASE),
                    Err(WebhookError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            WebhookConfig::new(
                "http://127.0.0.1:9/",
                String::new().into(),
                DEFAULT_RETRY_BASE
            ),
            Err(WebhookError::EmptySecret)
        ));
        let debug = format!("{:?}", ok.unwrap());
        assert!(debug.contains("WebhookSecret(..)"), "{debug}");
        assert!(!debug.contains("topsecret"), "{debug}");
    }
}
