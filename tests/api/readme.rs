//! The README's walk-through, run as written against a real server.

use std::process::Command;

use crate::acme_support::{AcmeEnv, certbot_bin};
use crate::harness::*;

/// The README's blocks fenced exactly `fence` (```` ```bash ```` for the
/// walk-through, ```` ```bash acme ```` for the ACME section), in order.
fn readme_blocks(fence: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, opening) if opening == fence => current = Some(String::new()),
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
    let blocks = readme_blocks("```bash");
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

/// The README's ACME section, run as written with certbot and lego against
/// a server whose names resolve through the test's DNS server (the README
/// tells readers to use /etc/hosts instead).
#[tokio::test]
async fn readme_acme() {
    let env = AcmeEnv::auto_approved();
    let s = &env.server;
    let blocks = readme_blocks("```bash acme");
    assert!(blocks.len() >= 5, "ACME blocks: {}", blocks.len());
    // The first block asks the reader for the key and port; the test sets them.
    assert!(blocks[0].contains("export CERTD="), "{}", blocks[0]);
    let script = format!("set -euo pipefail\n{}", blocks[1..].join("\n"));
    let certbot_dir = certbot_bin().parent().unwrap().display().to_string();
    let path = format!(
        "{certbot_dir}:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env("CERTD", &s.base)
        .env("KEY", s.admin())
        .env("HTTP01_PORT", env.http01_port.to_string())
        .output()
        .await
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ACME section failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout.matches(": OK").count(),
        2,
        "both certificates verify: {stdout}"
    );
    assert!(stdout.contains("cert.pem: revoked"), "{stdout}");
    assert!(stdout.contains("Reason: superseded"), "{stdout}");
    // Both certificates are revoked, as the server records them.
    for name in ["shop.acme.test", "api.acme.test"] {
        let orders = s
            .get(
                s.admin(),
                &format!("/order/certificate?filters[common_name]={name}"),
            )
            .await;
        orders.ok(200);
        let order = &orders.json["orders"][0];
        let cert = int(&order["certificate"]["id"]);
        assert_eq!(s.cert_status(cert).await, "revoked", "{name}");
    }
}

/// The README's "Running it for real" start, run as written with `certd` on
/// the PATH: encrypted keys, `--tls auto`, a publication listener and the
/// command line's remote mode trusting the root.
#[test]
fn readme_running_it_for_real() {
    let blocks = readme_blocks("```bash for-real");
    assert_eq!(blocks.len(), 1, "one block");
    // The server the block starts is stopped even when a line fails.
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}",
        blocks[0]
    );
    let bin_dir = std::path::Path::new(BIN)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let work = tempfile::tempdir().unwrap();
    let mut command = Command::new("timeout");
    command
        .args(["120", "bash", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path);
    for (name, _) in std::env::vars() {
        if name.starts_with("CERTD_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    let out = command.output().expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the section failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("subject=CN = certd Issuing CA 1"),
        "{stdout}"
    );
    let key = std::fs::read_to_string(work.path().join("certd-prod/ca/intermediate.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
}
