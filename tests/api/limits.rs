//! Issue 6, limits: a per-key rate limit answers 429 `request_limit_exceeded`
//! with `Retry-After`, and other keys are served meanwhile.

use std::time::Duration;

use crate::harness::*;

#[tokio::test]
async fn a_key_over_its_rate_gets_429_and_others_are_served() {
    let s = Server::start_with(&["--rate-limit", "5"]);
    let other = s.user();
    let mut limited = None;
    for _ in 0..30 {
        let r = s.get(s.admin(), "/user/me").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.ok(200);
    }
    let r = limited.expect("30 calls at once never hit a limit of 5/s");
    assert_error_code(&r, 429, "request_limit_exceeded|rate_limit");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");

    // Another key, and the public endpoints, are not held back.
    s.get(&other, "/user/me").await.ok(200);
    let health = s.send(reqwest::Client::new().get(s.url("/health"))).await;
    health.ok(200);

    // After the wait the key works again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    s.get(s.admin(), "/user/me").await.ok(200);
}

#[tokio::test]
async fn the_limit_can_be_turned_off() {
    let s = Server::start_with(&["--rate-limit", "0"]);
    for _ in 0..50 {
        s.get(s.admin(), "/user/me").await.ok(200);
    }
}
