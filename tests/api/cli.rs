//! The everyday commands (`certd request|cert|key|user ...`), run as the real
//! binary in both modes against a real server: remote (`--url`, `--key`, the
//! server's HTTP API) and local (`--data` / `--database-url`, the database
//! itself, beside the running server).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;
use crate::publication::Certificate;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Remote,
    Local,
}

const MODES: [Mode; 2] = [Mode::Remote, Mode::Local];

/// `certd ARGS...` against `s` in `mode`; remote calls use `key`.
/// The outer environment does not choose the mode or the database.
fn certd(s: &Server, mode: Mode, key: &str, args: &[&str]) -> Run {
    match mode {
        Mode::Remote => Run::of(
            certd_command()
                .args(args)
                .args(["--url", &s.base, "--key", key]),
        ),
        Mode::Local => s.certd_local(args),
    }
}

/// A pending revoke request for a fresh certificate: `(certificate, request)`.
async fn pending_revoke(s: &Server) -> (i64, i64) {
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let r = s
        .revoke(s.admin(), cert, json!({"comments": "Lost laptop."}))
        .await;
    (cert, r.ok(201).id())
}

#[tokio::test]
async fn request_list_approve_and_reject_in_both_modes() {
    let s = Server::start();
    for mode in MODES {
        let (approved_cert, to_approve) = pending_revoke(&s).await;
        let (rejected_cert, to_reject) = pending_revoke(&s).await;

        let listed = certd(
            &s,
            mode,
            s.admin(),
            &[
                "request", "list", "--status", "pending", "--type", "revoke", "--json",
            ],
        );
        let requests = listed.ok().json()["requests"].as_array().unwrap().clone();
        let ids: Vec<i64> = requests.iter().map(|r| int(&r["id"])).collect();
        assert_eq!(ids, vec![to_approve, to_reject], "{mode:?}");
        assert_eq!(requests[0]["type"], "revoke");
        assert_eq!(requests[0]["status"], "pending");
        assert_eq!(
            int(&requests[0]["order"]["certificate"]["id"]),
            approved_cert
        );
        assert_eq!(requests[0]["comments"], "Lost laptop.");

        let table = certd(
            &s,
            mode,
            s.admin(),
            &["request", "list", "--status", "pending"],
        );
        let row = table
            .ok()
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {to_approve} ")))
            .unwrap_or_else(|| panic!("no row for {to_approve}: {}", table.stdout))
            .to_string();
        assert!(row.contains("revoke") && row.contains("pending"), "{row}");
        assert!(row.contains("admin@certd.localhost"), "{row}");

        let id = to_approve.to_string();
        let approve = ["request", "approve", &id, "--comment", "Confirmed."];
        let out = certd(&s, mode, s.admin(), &approve);
        assert_eq!(
            out.ok().stdout.trim(),
            format!("request {to_approve} approved")
        );
        assert_eq!(s.cert_status(approved_cert).await, "revoked");
        assert_eq!(
            s.request(to_approve).await["processor_comment"],
            "Confirmed."
        );

        let id = to_reject.to_string();
        let out = certd(&s, mode, s.admin(), &["request", "reject", &id, "--json"]);
        assert_eq!(
            out.ok().json(),
            json!({"id": to_reject, "status": "rejected"})
        );
        assert_eq!(s.cert_status(rejected_cert).await, "issued");
        assert_eq!(s.request(to_reject).await["status"], "rejected");

        let left = certd(
            &s,
            mode,
            s.admin(),
            &["request", "list", "--status", "pending", "--json"],
        );
        assert_eq!(left.ok().json()["requests"], json!([]), "{mode:?}");
    }
}

#[tokio::test]
async fn cert_revoke_by_id_and_by_serial_in_both_modes() {
    let s = Server::start();
    for mode in MODES {
        let (_, by_id) = s.issue_certificate(s.admin()).await;
        let id = by_id.to_string();
        let args = [
            "cert",
            "revoke",
            &id,
            "--reason",
            "keyCompromise",
            "--skip-approval",
        ];
        let out = certd(&s, mode, s.admin(), &args);
        assert_eq!(
            out.ok().stdout.trim(),
            format!("certificate {by_id} revoked")
        );
        let details = s.cert(by_id).await;
        assert_eq!(details["status"], "revoked", "{mode:?}");
        assert_eq!(details["revocation_reason"], "keyCompromise");

        // Without --skip-approval: a pending request, as over the API.
        let (_, by_serial) = s.issue_certificate(s.admin()).await;
        let serial = s.cert(by_serial).await["serial_number"]
            .as_str()
            .unwrap()
            .to_lowercase();
        let args = [
            "cert",
            "revoke",
            &serial,
            "--reason",
            "superseded",
            "--comment",
            "Replaced.",
            "--json",
        ];
        let answer = certd(&s, mode, s.admin(), &args).ok().json();
        assert_eq!(answer["result"], "requested", "{answer}");
        assert_eq!(answer["certificate"], serial.as_str());
        assert_eq!(answer["request"]["status"], "pending");
        assert_eq!(answer["request"]["comments"], "Replaced.");
        let request = s.request(int(&answer["request"]["id"])).await;
        assert_eq!(int(&request["order"]["certificate"]["id"]), by_serial);
        assert_eq!(request["revocation_reason"], "superseded");
        assert_eq!(s.cert_status(by_serial).await, "issued");
    }
}

#[tokio::test]
async fn bulk_revoke_goes_on_after_a_bad_line_and_fails_at_the_end() {
    let s = Server::start();
    for mode in MODES {
        let mut certs = Vec::new();
        for _ in 0..3 {
            certs.push(s.issue_certificate(s.admin()).await.1);
        }
        let serial = s.cert(certs[1]).await["serial_number"]
            .as_str()
            .unwrap()
            .to_string();
        let file = s.dir.path().join(format!("serials-{mode:?}.txt"));
        let listing = format!(
            "# to revoke\n{}\n\n{serial}\n999999999\n{}\n",
            certs[0], certs[2]
        );
        std::fs::write(&file, listing).unwrap();
        let file = file.to_str().unwrap();
        let args = [
            "cert",
            "revoke",
            "--from-file",
            file,
            "--reason",
            "cessationOfOperation",
            "--skip-approval",
        ];
        let out = certd(&s, mode, s.admin(), &args);
        assert!(!out.success, "a failed line fails the run: {}", out.stdout);
        assert_eq!(
            out.stdout.trim(),
            "3 revoked, 0 requested, 1 failed",
            "{mode:?}"
        );
        // One line for each failed line, then one that sums up.
        let (failures, summary): (Vec<&str>, Vec<&str>) =
            out.stderr.lines().partition(|l| l.starts_with("line "));
        assert_eq!(failures.len(), 1, "{}", out.stderr);
        assert_eq!(summary.len(), 1, "{}", out.stderr);
        assert!(
            summary[0].contains("could not be revoked"),
            "{}",
            out.stderr
        );
        assert!(
            failures[0].starts_with("line 5: 999999999: "),
            "{}",
            failures[0]
        );
        assert!(
            failures[0].contains("not_found|certificate"),
            "{}",
            failures[0]
        );
        for cert in &certs {
            assert_eq!(s.cert_status(*cert).await, "revoked", "{mode:?} {cert}");
        }
    }

    // --json: one document with every line's result.
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let file = s.dir.path().join("json.txt");
    std::fs::write(&file, format!("{cert}\nnot-a-serial!\n")).unwrap();
    let args = [
        "cert",
        "revoke",
        "--from-file",
        file.to_str().unwrap(),
        "--reason",
        "unspecified",
        "--json",
    ];
    let out = certd(&s, Mode::Remote, s.admin(), &args);
    assert!(!out.success);
    let answer = out.json();
    assert_eq!(
        (answer["requested"].clone(), answer["failed"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(answer["results"][0]["result"], "requested");
    assert_eq!(answer["results"][0]["line"], 1);
    assert_eq!(answer["results"][1]["result"], "failed");
    // A line that is neither an id nor a serial says so, not "no such id".
    assert_eq!(
        answer["results"][1]["error"]["code"],
        "cli_error|invalid_argument"
    );
    let message = answer["results"][1]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is not a certificate id or serial number"),
        "{message}"
    );
}

#[tokio::test]
async fn key_create_works_and_key_revoke_stops_it_in_both_modes() {
    let s = Server::start();
    for mode in MODES {
        let email = format!("k{}@example.com", unique());
        s.add_user_named(&email, "Kim", "Lee", "user", false);
        let out = certd(&s, mode, s.admin(), &["key", "create", "--user", &email]);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines.len(), 1, "only the key: {}", out.stdout);
        let key = lines[0].to_string();
        assert_eq!(key.len(), 64);
        assert_eq!(s.me(&key).await["email"], email.as_str());

        let listed = certd(
            &s,
            mode,
            s.admin(),
            &["key", "list", "--user", &email, "--json"],
        );
        assert!(
            !listed.ok().stdout.contains(&key),
            "a listing never shows keys"
        );
        let keys = listed.json()["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 2, "the user add key and the new one: {keys:?}");
        let new_key = &keys[1];
        assert_eq!(new_key["status"], "active");
        assert_eq!(new_key["user"]["email"], email.as_str());
        assert_eq!(new_key["restricted_to_role_id"], 0);
        let key_id = int(&new_key["id"]).to_string();

        let table = certd(&s, mode, s.admin(), &["key", "list"]);
        assert!(
            table
                .ok()
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("| {key_id} ")) && l.contains(&email)),
            "{}",
            table.stdout
        );

        let out = certd(&s, mode, s.admin(), &["key", "revoke", &key_id]);
        assert_eq!(out.ok().stdout.trim(), format!("key {key_id} revoked"));
        s.assert_key_refused_soon(&key).await;

        // A view-only key may read, nothing else.
        let out = certd(
            &s,
            mode,
            s.admin(),
            &["key", "create", "--user", &email, "--view-only", "--json"],
        );
        let view_only = out.ok().json()["api_key"].as_str().unwrap().to_string();
        s.get(&view_only, "/user/me").await.ok(200);
        let (_, cert) = s.issue_certificate(s.admin()).await;
        let r = s.revoke(&view_only, cert, json!({})).await;
        r.error(403).code("access_denied|view_only_key");
    }
}

#[tokio::test]
async fn user_disable_stops_the_users_keys_in_both_modes() {
    let s = Server::start();
    for mode in MODES {
        let email = format!("d{}@example.com", unique());
        let key = s.add_user_named(&email, "Dee", "Ray", "user", false);
        s.get(&key, "/user/me").await.ok(200);
        let out = certd(&s, mode, s.admin(), &["user", "disable", &email, "--json"]);
        let user = out.ok().json();
        assert_eq!(user["email"], email.as_str());
        assert_eq!(user["status"], "disabled");
        s.assert_key_refused_soon(&key).await;
        let entry = &s.audit_entries().await[0];
        assert_eq!(entry["action"], "user_disabled");
        assert_eq!(entry["object"]["id"], user["id"]);
        assert_eq!(entry["actor"]["email"], "admin@certd.localhost");

        let id = user["id"].to_string();
        let out = certd(&s, mode, s.admin(), &["user", "enable", &id]);
        assert!(out.ok().stdout.contains("enabled"), "{}", out.stdout);
        s.assert_key_accepted_soon(&key).await;
    }
}

#[tokio::test]
async fn errors_are_clear_exit_non_zero_and_change_nothing() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let id = cert.to_string();
    for mode in MODES {
        let before = (s.requests_total().await, s.audit_total().await);
        certd(&s, mode, s.admin(), &["request", "approve", "987654"])
            .fails_with("not_found|request");
        let args = [
            "cert",
            "revoke",
            &id,
            "--reason",
            "stolen",
            "--skip-approval",
        ];
        let out = certd(&s, mode, s.admin(), &args);
        out.fails_with("invalid_revocation_reason|unknown_reason");
        assert!(
            out.stderr.contains("keyCompromise"),
            "the message lists the reasons: {}",
            out.stderr
        );
        let args = ["cert", "revoke", &id, "--reason", "certificateHold"];
        certd(&s, mode, s.admin(), &args)
            .fails_with("invalid_revocation_reason|reason_not_allowed");
        certd(&s, mode, s.admin(), &["key", "revoke", "987654"]).fails_with("not_found|key");
        certd(
            &s,
            mode,
            s.admin(),
            &["user", "disable", "nobody@example.com"],
        )
        .fails_with("not_found|user");
        // The administrator cannot lock themselves out.
        certd(
            &s,
            mode,
            s.admin(),
            &["user", "disable", "admin@certd.localhost"],
        )
        .fails_with("invalid_user_status|cannot_disable_self");
        assert_eq!(s.cert_status(cert).await, "issued");
        assert_eq!(
            (s.requests_total().await, s.audit_total().await),
            before,
            "{mode:?}"
        );
    }

    // Remotely, a user's key is refused what only administrators may do.
    let user_key = s.user();
    let (_, pending) = pending_revoke(&s).await;
    let before = s.audit_total().await;
    let pending = pending.to_string();
    certd(
        &s,
        Mode::Remote,
        &user_key,
        &["request", "approve", &pending],
    )
    .fails_with("access_denied|missing_permission");
    certd(
        &s,
        Mode::Remote,
        &user_key,
        &["key", "create", "--user", "1"],
    )
    .fails_with("access_denied|missing_permission");
    certd(&s, Mode::Remote, &user_key, &["key", "list"])
        .fails_with("access_denied|missing_permission");
    certd(&s, Mode::Remote, "0123456789", &["request", "list"])
        .fails_with("access_denied|access_denied_invalid_key");
    assert_eq!(
        s.request(pending.parse().unwrap()).await["status"],
        "pending"
    );
    assert_eq!(s.audit_total().await, before);

    // Locally, --as must name an active administrator.
    let email = format!("n{}@example.com", unique());
    s.add_user_named(&email, "Nat", "Ode", "user", false);
    certd(&s, Mode::Local, "", &["request", "list", "--as", &email])
        .fails_with("is not an active administrator");

    // Locally, a directory without the server's database is refused and left alone.
    let empty = s.dir.path().join("not-a-data-dir");
    Run::of(
        certd_command()
            .args(["request", "list", "--data"])
            .arg(&empty),
    )
    .fails_with("no certd data in");
    assert!(!empty.exists(), "no data directory was made");

    // --url without --key says what is missing.
    Run::of(certd_command().args(["request", "list", "--url", &s.base]))
        .fails_with("--url needs --key");
}

/// A revocation written by the CLI's local mode, another process on the
/// server's database, reaches the server's OCSP answers and CRL within the
/// contract's 5 seconds.
#[tokio::test]
async fn local_revocation_reaches_the_running_servers_ocsp_and_crl() {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    let cert = Certificate::download(&s, id).await;
    // Cached as good first, so that the server must drop a cached answer.
    assert!(cert.ocsp(&s.url("/ocsp")).contains(": good"));
    assert!(!cert.crl_serials_on(&s).await.contains(&cert.serial));

    let id_text = id.to_string();
    let args = [
        "cert",
        "revoke",
        &id_text,
        "--reason",
        "keyCompromise",
        "--skip-approval",
    ];
    certd(&s, Mode::Local, "", &args).ok();
    let revoked_at = Instant::now();
    let (mut in_ocsp, mut in_crl) = (None, None);
    while (in_ocsp.is_none() || in_crl.is_none()) && revoked_at.elapsed() < Duration::from_secs(10)
    {
        if in_ocsp.is_none() && cert.ocsp(&s.url("/ocsp")).contains(": revoked") {
            in_ocsp = Some(revoked_at.elapsed());
        }
        if in_crl.is_none() && cert.crl_serials_on(&s).await.contains(&cert.serial) {
            in_crl = Some(revoked_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_ocsp = in_ocsp.expect("never revoked in OCSP");
    let in_crl = in_crl.expect("never in the CRL");
    assert!(in_ocsp < Duration::from_secs(5), "OCSP after {in_ocsp:?}");
    assert!(in_crl < Duration::from_secs(5), "CRL after {in_crl:?}");
}

/// Without options but the data directory: the CRLs are the server's own, in
/// the scope of its certificates (signed for its stored public URL).
#[tokio::test]
async fn crl_export_writes_every_shard_without_a_bar_off_a_terminal() {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    s.revoke_now(id, "superseded").await;
    let (_, valid) = s.issue_certificate(s.admin()).await;
    let out_dir = s.dir.path().join("crls");
    let out = Run::of(
        certd_command()
            .args(["crl", "--data"])
            .arg(s.data_dir())
            .args(s.database_args())
            .arg("--out")
            .arg(&out_dir)
            .env("RUST_LOG", "off"),
    );
    out.ok();
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is a file: {:?}",
        out.stderr
    );
    assert!(out.stdout.starts_with("wrote 64 CRLs (1 entries"));
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 64);
    let revoked = Certificate::download(&s, id).await;
    let (ok, said) = revoked.verify_with_crl(&out_dir);
    assert!(!ok && said.contains("certificate revoked"), "{said}");
    let valid = Certificate::download(&s, valid).await;
    let (ok, said) = valid.verify_with_crl(&out_dir);
    assert!(ok, "{said}");
}
