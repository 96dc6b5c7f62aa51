//! The README's walk-through, run as written against a real server.

use std::process::Command;

use crate::harness::*;

/// The ```bash blocks of the README, in order.
fn walkthrough_blocks() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```bash") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test]
async fn readme_walkthrough() {
    let s = Server::start();
    let blocks = walkthrough_blocks();
    assert!(blocks.len() >= 6, "walk-through blocks: {}", blocks.len());
    // The first block asks the reader to paste the key; the test sets both itself.
    assert!(blocks[0].contains("export KEY="), "{}", blocks[0]);
    let script = format!("set -euo pipefail\n{}", blocks[1..].join("\n"));
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("CERTD", &s.base)
        .env("KEY", s.admin())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walk-through failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );

    // The pending request was listed, then approved and skipped: two 204s.
    assert!(stdout.contains("subject=CN = shop.example.com"), "{stdout}");
    assert!(stdout.contains("revoke request "), "{stdout}");
    assert!(stdout.contains("\"status\": \"pending\""), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| *l == "204").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("\"status\": \"revoked\""), "{stdout}");
    assert!(
        stdout.contains("\"revocation_reason\": \"keyCompromise\""),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "\"revoked\""),
        "second certificate: {stdout}"
    );
    assert!(
        stdout.contains("certificate_revoked"),
        "audit log shown: {stdout}"
    );

    // And the server agrees: both certificates are revoked.
    let revoked = s
        .get(s.admin(), "/order/certificate?filters[status]=issued")
        .await;
    revoked.ok(200);
    let certs: Vec<i64> = revoked.json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| int(&o["certificate"]["id"]))
        .collect();
    assert_eq!(
        certs.len(),
        2,
        "both orders stay issued: {}",
        revoked.text()
    );
    for c in certs {
        assert_eq!(s.cert_status(c).await, "revoked");
    }
}
