//! A server left running for months: its memory does not grow with traffic
//! whether or not anyone scrapes `/metrics`, and its log grows with API calls,
//! not with publication traffic (OCSP, CRLs, health checks), which it
//! summarises.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// Sends `count` `GET path` requests pipelined on one keep-alive
/// connection, as fast as the server takes them; returns how many were
/// answered 200.
async fn pipelined_gets(base: &str, path: &str, count: usize) -> usize {
    let address = base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let sending = tokio::spawn(async move {
        let batch = request.repeat(256);
        for _ in 0..count / 256 {
            writer.write_all(batch.as_bytes()).await.expect("send");
        }
        writer
            .write_all(request.repeat(count % 256).as_bytes())
            .await
            .expect("send");
        writer
    });
    let (mut answered, mut ok) = (0, 0);
    let mut buffer = vec![0u8; 1 << 16];
    // A status line may straddle two reads: keep the last few bytes.
    let mut carry = Vec::new();
    while answered < count {
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buffer))
            .await
            .expect("the server stopped answering")
            .expect("read");
        assert!(read > 0, "connection closed after {answered} answers");
        let counted = carry.len();
        carry.extend_from_slice(&buffer[..read]);
        answered += occurrences(&carry, b"HTTP/1.1 ", counted);
        ok += occurrences(&carry, b"HTTP/1.1 200 ", counted);
        let keep = carry.len().min(12);
        carry.drain(..carry.len() - keep);
    }
    let _writer = sending.await.expect("sender");
    ok
}

/// Occurrences of `needle` in `haystack` that end past its first `counted`
/// bytes (those that end within them were counted in the previous round).
fn occurrences(haystack: &[u8], needle: &[u8], counted: usize) -> usize {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(start, window)| *window == needle && start + needle.len() > counted)
        .count()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `count` requests for `path` over two pipelined connections.
async fn load(s: &Server, path: &str, count: usize) {
    let (a, b) = tokio::join!(
        pipelined_gets(&s.base, path, count / 2),
        pipelined_gets(&s.base, path, count - count / 2)
    );
    assert_eq!(a + b, count, "not every {path} was answered 200");
}

/// Each request leaves a latency sample in the metrics recorder. Before the
/// recorder's upkeep ran on a timer, the samples waited for a scrape of
/// `/metrics` and RSS grew by about 20 bytes a request, for ever, on a
/// server nobody scraped. Now it stays flat after warm-up, and the samples
/// are all in the histogram when someone does scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_traffic_without_a_metrics_scraper() {
    let s = Server::start();
    let path = "/ca/chain.pem";
    load(&s, path, 40_000).await;
    // The upkeep folds samples into buckets every 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let warm = rss_kib(s.pid());

    let requests = 250_000;
    load(&s, path, requests).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = rss_kib(s.pid());
    assert!(
        after <= warm + 2048,
        "RSS grew from {warm} KiB to {after} KiB over {requests} requests with nobody scraping"
    );

    let metrics = s.metrics_text().await;
    let recorded: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_request_duration_seconds_count")
                && l.contains("route=\"/ca/chain.pem\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("latency histogram of /ca/chain.pem");
    assert_eq!(
        recorded,
        (40_000 + requests) as f64,
        "latency samples were lost"
    );
}

/// The log lines that mention `needle`.
fn lines_with<'a>(logs: &'a str, needle: &str) -> Vec<&'a str> {
    logs.lines().filter(|l| l.contains(needle)).collect()
}

/// A field's value in a text log line (`name=value` or `name="value"`).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(' ').next(),
    }
}

/// At the default level: one line per API call, with its request id; the
/// publication traffic only as summary lines, counted exactly, far under
/// 1 MB per million requests; and no colour codes in a log file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_log_summarises_publication_and_keeps_every_api_call() {
    let mut s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.send(
        s.rb(
            Method::PUT,
            &format!("/certificate/{cert}/revoke"),
            Some(s.admin()),
        )
        .header("X-Request-ID", "untended-revoke")
        .json(&json!({"skip_approval": true})),
    )
    .await
    .ok(204);

    let chain = 20_000;
    let (health, crls) = (5_000, 2_000);
    load(&s, "/ca/chain.pem", chain).await;
    load(&s, "/health", health).await;
    load(&s, "/crl/", crls).await;
    let before_stop = s.logs().len();

    s.send(
        s.rb(Method::GET, "/user/me", Some(s.admin()))
            .header("X-Request-ID", "untended-read"),
    )
    .await
    .ok(200);
    // SIGTERM: the server writes what it counted since its last summary.
    s.terminate();
    let logs = s.logs();

    assert!(!logs.contains('\u{1b}'), "colour codes in a log file");
    for id in ["untended-revoke", "untended-read"] {
        let access = lines_with(&logs, id)
            .into_iter()
            .filter(|l| l.contains("certd::access"))
            .count();
        assert_eq!(access, 1, "access lines for {id}:\n{logs}");
    }

    let publication = chain + health + crls;
    assert!(
        before_stop <= publication,
        "{before_stop} bytes of log for {publication} publication requests (over 1 MB a million):\n{}",
        &logs[..before_stop.min(4000)]
    );
    for (route, sent) in [
        ("/ca/chain.pem", chain),
        ("/health", health),
        ("/crl/", crls),
    ] {
        let counted: usize = lines_with(&logs, "requests summary")
            .into_iter()
            .filter(|l| field(l, "route") == Some(route))
            .map(|l| {
                field(l, "requests")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(counted, sent, "summaries of {route}:\n{logs}");
    }
    let chain_summary = lines_with(&logs, "requests summary")
        .into_iter()
        .find(|l| field(l, "route") == Some("/ca/chain.pem"))
        .unwrap();
    assert_eq!(
        field(chain_summary, "statuses"),
        Some(format!("200:{chain}").as_str())
    );
}

/// `--publication-log-interval 0` gives every request a line of its own, as
/// an operator debugging a relying party may want.
#[tokio::test]
async fn publication_lines_can_be_turned_back_on() {
    let s = Server::start_with(&["--publication-log-interval", "0"]);
    load(&s, "/health", 6).await;
    let lines = lines_with(&s.logs(), "certd::access")
        .into_iter()
        .filter(|l| field(l, "route") == Some("/health"))
        .count();
    assert_eq!(lines, 6);
}
