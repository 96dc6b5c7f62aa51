//! Limits: a per-key rate limit answers 429 `request_limit_exceeded`
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
    r.error(429).code("request_limit_exceeded|rate_limit");
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

/// Slowloris: a client that never finishes its headers is disconnected
/// (after certd's 10 s header timeout) and does not hold others up.
#[tokio::test]
async fn a_client_trickling_headers_is_cut_off_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start();
    let address = s.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let started = std::time::Instant::now();
    // Everyone else is served while the slow connections hang.
    for _ in 0..10 {
        s.get(s.admin(), "/user/me").await.ok(200);
    }
    for mut stream in slow {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("the slow connection was never closed");
        // Closed (0 bytes), or an error status; never a served request.
        if let Ok(n) = read {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(20),
        "cut off after {waited:?}"
    );
}

/// A client that sends its headers but trickles the body is answered 408
/// with the error list once the request timeout passes; nothing is recorded.
#[tokio::test]
async fn a_body_that_never_arrives_times_out_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start_with(&["--request-timeout", "2"]);
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let before = s.snapshot(&[cert]).await;
    let address = s.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /services/v2/certificate/{cert}/revoke HTTP/1.1\r\nHost: x\r\nX-DC-DEVKEY: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"comm",
        s.admin()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("request_timeout") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed without an answer: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn list_limits_are_capped() {
    let s = Server::start();
    for path in [
        "/order/certificate?limit=100000",
        "/request?limit=5000",
        "/audit-log?limit=1001",
    ] {
        let r = s.get(s.admin(), path).await;
        assert_eq!(r.ok(200).json["page"]["limit"], 1000, "{path}");
    }
}
