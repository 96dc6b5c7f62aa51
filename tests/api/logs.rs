//! Structured logs: `--log-format json` writes one JSON object per
//! line, and every request leaves one access line with its request id,
//! route template, status, latency and caller id, never the key.

use reqwest::Method;
use serde_json::Value;

use crate::harness::*;

/// The server's log, each line parsed (a line that is not JSON fails).
fn json_lines(s: &Server) -> Vec<Value> {
    s.logs()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn access_line<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    let mut found = lines
        .iter()
        .filter(|l| l["target"] == "certd::access" && l["request_id"] == request_id);
    let line = found
        .next()
        .unwrap_or_else(|| panic!("no access line for {request_id}"));
    assert!(found.next().is_none(), "two access lines for {request_id}");
    line
}

#[tokio::test]
async fn json_logs_carry_one_line_per_request_without_the_key() {
    let s = Server::start_with(&["--log-format", "json"]);
    let me = s.me(s.admin()).await;
    let (_, cert) = s.issue_certificate(s.admin()).await;

    let revoke = s
        .send(
            s.rb(
                Method::PUT,
                &format!("/certificate/{cert}/revoke"),
                Some(s.admin()),
            )
            .header("X-Request-ID", "log-test-revoke")
            .json(&serde_json::json!({"skip_approval": true})),
        )
        .await;
    revoke.ok(204);
    let refused = s
        .send(
            s.rb(Method::GET, "/user/me", Some("not-a-key"))
                .header("X-Request-ID", "log-test-refused"),
        )
        .await;
    refused
        .error(403)
        .code("access_denied|access_denied_invalid_key");
    // One a server makes up when the client sends none.
    let unnamed = s.get(s.admin(), "/user/me").await;
    let generated = unnamed.headers["x-request-id"].to_str().unwrap().to_owned();

    let lines = json_lines(&s);
    let line = access_line(&lines, "log-test-revoke");
    assert_eq!(line["route"], "/services/v2/certificate/{id}/revoke");
    assert_eq!(line["method"], "PUT");
    assert_eq!(line["status"], 204);
    assert_eq!(line["caller_id"], me["id"]);
    assert!(line["latency_us"].as_u64().is_some(), "{line}");
    assert_eq!(line["level"], "INFO");

    let line = access_line(&lines, "log-test-refused");
    assert_eq!(line["status"], 403);
    assert!(line.get("caller_id").is_none_or(Value::is_null), "{line}");

    assert_eq!(access_line(&lines, &generated)["status"], 200);
    let logs = s.logs();
    assert!(!logs.contains(s.admin()), "the API key is in the log");
    assert!(!logs.contains("not-a-key"), "a presented key is in the log");
}

#[tokio::test]
async fn text_logs_are_the_default() {
    let s = Server::start();
    s.me(s.admin()).await;
    let logs = s.logs();
    assert!(logs.contains("request"), "{logs}");
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "JSON in the default log"
    );
}
