//! `/metrics`: Prometheus text with request counts and latency
//! per route, revocations by reason, OCSP answers, pending requests and CRL age.

use serde_json::json;

use crate::harness::*;

/// The value of the first sample of `name` whose line holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke_now(cert, "keyCompromise").await;
    let (_, other) = s.user_order_issued(&user).await;
    s.revoke(&user, other, json!({})).await.ok(201);
    let client = reqwest::Client::new();
    s.send(client.post(s.url("/ocsp")).body("garbage"))
        .await
        .ok(200);

    let r = s.send(client.get(s.url("/metrics"))).await;
    let text = r.ok(200).text();
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let revoke_route = "route=\"/services/v2/certificate/{id}/revoke\"";
    assert_eq!(
        sample(
            &text,
            "http_requests_total",
            &[revoke_route, "status=\"204\"", "method=\"PUT\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_requests_total",
            &[revoke_route, "status=\"201\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_request_duration_seconds_bucket",
            &[revoke_route, "le=\"+Inf\""]
        )
        .unwrap()
            >= 2.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "certd_revocations_total",
            &["reason=\"keyCompromise\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "certd_ocsp_responses_total",
            &["status=\"malformed\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "certd_pending_requests", &[]),
        Some(1.0),
        "one pending revoke request: {text}"
    );
    if !crate::database::suite_on_postgres() {
        let commits = sample(&text, "certd_sqlite_commits_total", &[]).expect("commits");
        let writes = sample(&text, "certd_sqlite_committed_writes_total", &[]).expect("writes");
        assert!(
            commits >= 1.0 && writes >= commits,
            "{commits} commits, {writes} writes"
        );
        // Every answered write waited for an fsync of the WAL.
        let syncs = sample(&text, "certd_sqlite_wal_syncs_total", &[]).expect("WAL syncs");
        assert!(syncs >= 1.0, "{syncs} WAL syncs");
    }
    let age = sample(&text, "certd_crl_age_seconds", &["shard=\"0\""]).expect("CRL age");
    assert!((0.0..3600.0).contains(&age), "{age}");
    // No path ids, serials or keys in labels.
    assert!(
        !text.contains(&format!("/certificate/{cert}/")),
        "raw paths in labels"
    );
    assert!(!text.contains(s.admin()));
}
