//! Per-key rate limiting of `/services/v2` (contract section 1: 429
//! `request_limit_exceeded`), so that one misbehaving client cannot starve
//! the others. Keys are told apart by a hash of the `X-DC-DEVKEY` header, so
//! the limiter never holds a key in clear; calls without the header share
//! one bucket.

use crate::codes::ErrorCode;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::API_KEY_HEADER;

/// How often keys whose bucket is full again are forgotten. A bucket refills
/// within a second (bursts of one second's calls), so a client sending a new
/// random key with every call leaves at most about two seconds' worth of
/// keys in the table: at 40,000 calls a second some 80,000 entries, a few
/// MiB. (Once a minute, as before, let the table reach millions.)
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<[u8; 16]>>,
}

impl RateLimit {
    /// `per_second` calls a second per key, with bursts of as many; `None`
    /// for 0 (no limit).
    pub(crate) fn per_second(per_second: u32) -> Option<RateLimit> {
        let rate = NonZeroU32::new(per_second)?;
        let limiter = Arc::new(governor::RateLimiter::keyed(Quota::per_second(rate)));
        let forgetful = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORGET_IDLE_EVERY);
            loop {
                tick.tick().await;
                let Some(limiter) = forgetful.upgrade() else {
                    return;
                };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
        Some(RateLimit { limiter })
    }

    /// Keys the limiter tracks now.
    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

fn bucket_of(request: &Request) -> [u8; 16] {
    let key = request
        .headers()
        .get(API_KEY_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let digest = Sha256::digest(key);
    let mut bucket = [0u8; 16];
    bucket.copy_from_slice(&digest[..16]);
    bucket
}

/// Middleware: 429 with `Retry-After` once a key exceeds its rate.
pub(super) async fn enforce(
    State(limit): State<RateLimit>,
    request: Request,
    next: Next,
) -> Response {
    match limit.limiter.check_key(&bucket_of(&request)) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::new(
                ErrorCode::RateLimited,
                format!("Too many requests for this API key; retry in {seconds} s."),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    /// Random keys, each used once (a scanner, or an attack on the limiter's
    /// memory), are forgotten within seconds instead of piling up.
    #[tokio::test]
    async fn keys_used_once_are_forgotten() {
        let limit = RateLimit::per_second(1000).unwrap();
        for _ in 0..20_000 {
            let key: [u8; 16] = rand::random();
            limit.limiter.check_key(&key).unwrap();
        }
        assert_eq!(limit.tracked_keys(), 20_000);
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if limit.tracked_keys() == 0 {
                return;
            }
        }
        panic!("{} keys still tracked after 4 s", limit.tracked_keys());
    }
}
