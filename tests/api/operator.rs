//! What a new operator meets first: one stored public URL for every command
//! and node, commands that never make a data directory, start-up errors that
//! name the path or address and what to do, the first administrator's email,
//! email addresses compared without case, and a prompt stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// `certd ARGS...` in `cwd`, with no certd setting from the outer environment.
fn certd_in(cwd: &Path, args: &[&str]) -> Run {
    Run::of(certd_command().current_dir(cwd).args(args))
}

/// Asserts a failure explained in one line that holds every one of `words`.
#[track_caller]
fn fails_saying(out: &Run, words: &[&str]) {
    for word in words {
        out.fails_with(word);
    }
}

/// The URLs a certificate names: its CRL distribution point and AIA.
pub(crate) async fn urls_in_certificate(s: &Server, id: i64) -> String {
    let pem = s
        .get(
            s.admin(),
            &format!("/certificate/{id}/download/format/pem_noroot"),
        )
        .await
        .ok(200)
        .text();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.pem"), pem).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "x509",
            "-noout",
            "-ext",
            "crlDistributionPoints,authorityInfoAccess",
        ])
        .args(["-in", "leaf.pem"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_command_line_approval_issues_a_certificate_naming_the_servers_url() {
    let s = Server::start_with(&["--public-url", "https://PKI.certd.test:443/base/"]);
    let user = s.user();
    let placed = s.place_order(&user, "cli.example.com", false).await;
    let request = int(&placed.ok(201).json["requests"][0]["id"]);
    s.certd_local(&["request", "approve", &request.to_string()])
        .ok();
    let order = s.order(placed.id()).await;
    let urls = urls_in_certificate(&s, int(&order["certificate"]["id"])).await;
    // One spelling: lower-case host, no default port, no trailing slash.
    assert!(
        urls.contains("URI:https://pki.certd.test/base/crl/"),
        "{urls}"
    );
    assert!(
        urls.contains("OCSP - URI:https://pki.certd.test/base/ocsp"),
        "{urls}"
    );
    assert!(
        urls.contains("CA Issuers - URI:https://pki.certd.test/base/ca/issuer.der"),
        "{urls}"
    );
    assert!(!urls.contains("127.0.0.1"), "{urls}");
}

#[tokio::test]
async fn serve_keeps_the_stored_public_url_and_changes_it_only_when_told() {
    let mut s = Server::start_with(&["--public-url", "http://first.certd.test"]);
    s.terminate();
    let data = s.data_dir();
    let data = data.to_str().unwrap();
    let db = s.database_args();
    let db: Vec<&str> = db.iter().map(String::as_str).collect();
    let serve = |extra: &[&'static str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data", data];
        args.extend_from_slice(&db);
        args.extend_from_slice(extra);
        args
    };

    let refused = certd_in(
        s.dir.path(),
        &serve(&["--public-url", "http://second.certd.test"]),
    );
    fails_saying(
        &refused,
        &[
            "http://first.certd.test",
            "http://second.certd.test",
            "--change-public-url",
        ],
    );

    // Told to: it starts on the new URL, says so in the log and the audit log.
    let mut child = Command::new(BIN)
        .args(serve(&[
            "--public-url",
            "http://second.certd.test",
            "--change-public-url",
        ]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let base = listening
        .strip_prefix("certd listening on ")
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let audit: serde_json::Value = client
        .get(format!(
            "{base}/services/v2/audit-log?filters[action]=public_url_changed"
        ))
        .header("X-DC-DEVKEY", s.admin())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(log.contains("public URL changed"), "{log}");
    let entries = audit["entries"].as_array().expect("audit entries");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        entries[0]["details"]["to"], "http://second.certd.test",
        "{audit}"
    );

    // Every later command and start uses the new one without being told.
    let crls = s.dir.path().join("crls");
    Run::of(
        certd_command()
            .args(["crl", "--data", data])
            .args(&db)
            .arg("--out")
            .arg(&crls),
    )
    .ok();
    let idp = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(crls.join("0.crl"))
        .output()
        .unwrap();
    let idp = String::from_utf8_lossy(&idp.stdout);
    assert!(
        idp.contains("URI:http://second.certd.test/crl/0.crl"),
        "{idp}"
    );
}

#[test]
fn commands_other_than_serve_never_make_a_data_directory() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("certd-data");
    const USER_ADD: [&str; 10] = [
        "user",
        "add",
        "--email",
        "z@example.com",
        "--first-name",
        "Z",
        "--last-name",
        "Z",
        "--role",
        "user",
    ];
    let cases: [&[&str]; 6] = [
        &USER_ADD,
        &["audit", "verify"],
        &["crl", "--out", "crls"],
        &["request", "list"],
        &["key", "list"],
        &["user", "disable", "z@example.com"],
    ];
    for args in cases {
        let out = certd_in(empty.path(), args);
        fails_saying(&out, &["./certd-data", "--data"]);
        assert!(!missing.exists(), "{args:?} made {}", missing.display());
    }
    // The same given a directory that holds no deployment.
    let out = certd_in(
        empty.path(),
        &["audit", "verify", "--data", empty.path().to_str().unwrap()],
    );
    fails_saying(&out, &[empty.path().to_str().unwrap(), "certd serve"]);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    // CERTD_URL without a key asks for one instead of falling back to a database.
    let out = Run::of(
        certd_command()
            .current_dir(empty.path())
            .args(USER_ADD)
            .env("CERTD_URL", "http://127.0.0.1:9"),
    );
    fails_saying(&out, &["--key", "CERTD_API_KEY"]);
    assert!(!missing.exists());
}

#[tokio::test]
async fn user_add_works_through_a_running_server() {
    let s = Server::start();
    let add = |key: &str, email: &str, role: &str| {
        Run::of(
            certd_command()
                .args(["user", "add", "--email", email, "--first-name", "Ana"])
                .args([
                    "--last-name",
                    "Lima",
                    "--role",
                    role,
                    "--url",
                    &s.base,
                    "--key",
                    key,
                ]),
        )
    };
    let out = add(s.admin(), "ana@example.com", "user");
    let key = out.ok().stdout.trim().to_string();
    assert_eq!(key.len(), 64, "only the key: {key:?}");
    assert_eq!(s.me(&key).await["email"], "ana@example.com");
    let entries = s.audit_entries().await;
    let created = entries
        .iter()
        .find(|e| e["action"] == "user_created" && e["details"]["email"] == "ana@example.com")
        .expect("audited");
    assert_eq!(
        created["actor"]["email"], "admin@certd.localhost",
        "{created}"
    );

    // A user's key may not add users, and the CLI says how to give one.
    fails_saying(
        &add(&key, "bo@example.com", "user"),
        &["access_denied", "--key", "CERTD_API_KEY"],
    );
    // The API refuses bad input and changes nothing.
    let before = s.get(s.admin(), "/user").await.ok(200).json["page"]["total"].clone();
    for (body, code) in [
        (
            json!({"first_name": "A", "last_name": "B", "email": "ana@", "access_roles": [{"id": 2}]}),
            "invalid_email|email",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "ANA@Example.com", "access_roles": [{"id": 2}]}),
            "duplicate_user|email",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "c@example.com", "access_roles": [{"id": 7}]}),
            "invalid_role|access_roles",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "c@example.com", "access_roles": []}),
            "invalid_role|access_roles",
        ),
    ] {
        let r = s.post(s.admin(), "/user", body).await;
        let status = if code.starts_with("duplicate") {
            409
        } else {
            400
        };
        r.error(status).code(code);
    }
    assert_eq!(
        s.get(s.admin(), "/user").await.ok(200).json["page"]["total"],
        before
    );
}

#[tokio::test]
async fn emails_are_checked_and_compared_without_case() {
    let s = Server::start();
    let add = |email: &str| {
        s.certd_local(&[
            "user",
            "add",
            "--email",
            email,
            "--first-name",
            "Ana",
            "--last-name",
            "Lima",
            "--role",
            "user",
        ])
    };
    for bad in [
        "ana@",
        "@example.com",
        "ana",
        "ana@@example.com",
        "a b@example.com",
    ] {
        fails_saying(&add(bad), &["is not an email address"]);
    }
    add("ana@example.com").ok();
    fails_saying(&add("ANA@Example.COM"), &["exists already"]);
    // Found by any case.
    s.certd_local(&["user", "disable", "Ana@EXAMPLE.com"]).ok();
    // An address nobody has is reported as such, not as an unknown id.
    s.certd_local(&["user", "disable", "nobody@example.com"])
        .fails_with("No user with that email");
}

#[test]
fn start_up_errors_name_the_address_or_path_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = certd_in(dir.path(), &["serve", "--listen", &address, "--data", data]);
    fails_saying(&out, &[&address, "--listen", "another"]);
    assert!(
        !dir.path().join("data").exists(),
        "a failed start made a data directory"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap();
    let out = certd_in(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data", file],
    );
    fails_saying(&out, &[file, "not a directory", "--data"]);

    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let inside = locked.join("data");
    let inside = inside.to_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    // root may write anywhere: the check only means something for others.
    if std::fs::create_dir(locked.join("probe")).is_err() {
        let out = certd_in(
            dir.path(),
            &["serve", "--listen", "127.0.0.1:0", "--data", inside],
        );
        fails_saying(&out, &[inside, "--data"]);
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn the_first_start_names_the_administrator_and_the_root_leads_to_the_console() {
    let s = Server::start();
    assert!(
        s.key_line.contains("admin@certd.localhost"),
        "the key's line names whose key it is: {}",
        s.key_line
    );
    let first = s.certd_local(&[
        "key",
        "create",
        "--user",
        "admin@certd.localhost",
        "--name",
        "laptop",
    ]);
    let key = first.ok().stdout.trim().to_string();
    assert_eq!(s.me(&key).await["email"], "admin@certd.localhost");
    // Keys can be told apart: names, and when each was last used.
    let started = Instant::now();
    let laptop = loop {
        let keys = s.get(s.admin(), "/key").await.ok(200).json["keys"].clone();
        let laptop = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "laptop")
            .expect("named key listed")
            .clone();
        if !laptop["last_used_date"].is_null() || started.elapsed() > Duration::from_secs(5) {
            break laptop;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_datetime(&laptop["last_used_date"]);
    assert_datetime(&laptop["date_created"]);

    let root = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 307);
    assert_eq!(root.headers()["location"], "/console/");
    let page = reqwest::get(s.url("/console/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("certd key create"),
        "the sign-in page says where keys come from"
    );
}

#[test]
fn a_stop_does_not_wait_for_a_client_still_sending_its_request() {
    let mut s = Server::start();
    let address = s.base.strip_prefix("http://").unwrap().to_string();
    let mut half = TcpStream::connect(&address).unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    s.terminate();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "stopping took {took:?}");
}

#[tokio::test]
async fn the_approval_of_a_decided_request_names_its_state() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let request = s.revoke(s.admin(), cert, json!({})).await.ok(201).id();
    s.reject(request).await.ok(204);
    let out = s.certd_local(&["request", "approve", &request.to_string()]);
    fails_saying(&out, &["rejected already", "request_not_pending"]);
    let args = ["cert", "revoke", "not/a-serial", "--reason", "superseded"];
    s.certd_local(&args)
        .fails_with("not a certificate id or serial number");
}
