//! Contract section 6: CRLs and OCSP, checked with the `openssl` CLI as a
//! relying party would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::*;

/// The files an `openssl ocsp` check names: issuer, trust anchor, certificate.
pub(crate) const RELYING_PARTY_FILES: [&str; 6] = [
    "-issuer",
    "issuer.pem",
    "-CAfile",
    "root.pem",
    "-cert",
    "leaf.pem",
];

/// One HTTP client for all fetches: making a client per request costs tens
/// of milliseconds in a debug build, which would blur the timings measured here.
static CLIENT: std::sync::LazyLock<reqwest::Client> =
    std::sync::LazyLock::new(reqwest::Client::new);

async fn fetch(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    CLIENT.get(url).send().await
}

/// Longest time a revocation may take to show in the CRL and OCSP.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

/// One certificate's files, as a relying party holds them.
pub(crate) struct Certificate {
    dir: tempfile::TempDir,
    pub(crate) id: i64,
    pub(crate) serial: String,
    /// The URL of the certificate's CRL distribution point.
    crl_url: String,
}

impl Certificate {
    pub(crate) async fn download(s: &Server, id: i64) -> Certificate {
        let r = s
            .get(
                s.admin(),
                &format!("/certificate/{id}/download/format/pem_all"),
            )
            .await;
        let blocks = pem_blocks(&r.ok(200).text());
        assert_eq!(blocks.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        for (name, block) in ["leaf.pem", "issuer.pem", "root.pem"].iter().zip(&blocks) {
            std::fs::write(dir.path().join(name), block).unwrap();
        }
        std::fs::write(dir.path().join("chain.pem"), blocks[1..].concat()).unwrap();
        let serial = s.cert(id).await["serial_number"]
            .as_str()
            .unwrap()
            .to_string();
        let cdp = openssl_ok(
            dir.path(),
            &[
                "x509",
                "-noout",
                "-ext",
                "crlDistributionPoints",
                "-in",
                "leaf.pem",
            ],
        );
        let start = cdp.find("URI:").expect("CDP URI") + 4;
        let crl_url = cdp[start..].split_whitespace().next().unwrap().to_string();
        Certificate {
            dir,
            id,
            serial,
            crl_url,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `openssl ARGS...` in the certificate's directory (files by their
    /// plain names); its output. Fails the test if openssl does.
    pub(crate) fn openssl(&self, args: &[&str]) -> String {
        openssl_ok(self.dir.path(), args)
    }

    /// The URL of the certificate's CRL distribution point.
    pub(crate) fn crl_url(&self) -> String {
        self.crl_url.clone()
    }

    /// `openssl ocsp` (POST) against `url`; returns its output.
    pub(crate) fn ocsp(&self, url: &str) -> String {
        openssl_ok(
            self.dir.path(),
            &[
                &["ocsp", "-url", url, "-resp_text"][..],
                &RELYING_PARTY_FILES,
            ]
            .concat(),
        )
    }

    /// Asks `node` with the cacheable GET form (no nonce) and returns what
    /// `openssl ocsp` makes of the answer.
    pub(crate) async fn ocsp_get_on(&self, node: &Server) -> String {
        let dir = self.dir.path();
        openssl_ok(
            dir,
            &[
                "ocsp",
                "-no_nonce",
                "-issuer",
                "issuer.pem",
                "-cert",
                "leaf.pem",
                "-reqout",
                "get.req",
            ],
        );
        let request = std::fs::read(self.path("get.req")).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(request);
        let answer = fetch(node.url(&format!("/ocsp/{b64}"))).await.unwrap();
        assert_eq!(answer.status(), 200);
        std::fs::write(self.path("get.resp"), answer.bytes().await.unwrap()).unwrap();
        self.read_response("get.req", "get.resp")
    }

    /// What `openssl ocsp` makes of a saved response to a saved request
    /// (both without nonce), signature checked against the root.
    pub(crate) fn read_response(&self, request_file: &str, response_file: &str) -> String {
        openssl_ok(
            self.dir.path(),
            &[
                &["ocsp", "-no_nonce", "-resp_text", "-reqin", request_file][..],
                &["-respin", response_file],
                &RELYING_PARTY_FILES,
            ]
            .concat(),
        )
    }

    /// Whether `openssl verify` accepts the leaf against its chain.
    pub(crate) fn verify_chain(&self) -> bool {
        openssl(
            self.dir.path(),
            &["verify", "-CAfile", "chain.pem", "leaf.pem"],
        )
        .0
    }

    /// `openssl verify -crl_check` of the certificate with its shard from a
    /// directory of `N.crl` files (as `certd crl` writes them): whether it
    /// verified, and what openssl said.
    pub(crate) fn verify_with_crl(&self, crl_dir: &Path) -> (bool, String) {
        let url = self.crl_url();
        let file = &url[url.rfind('/').expect("CRL file name") + 1..];
        let der = std::fs::read(crl_dir.join(file)).unwrap();
        std::fs::write(self.path("exported.crl"), der).unwrap();
        openssl(
            self.dir.path(),
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "chain.pem",
                "-CRLfile",
                "exported.crl",
                "leaf.pem",
            ],
        )
    }

    /// Fetches the certificate's CRL shard and has openssl verify it.
    pub(crate) async fn crl_text(&self) -> String {
        self.crl_text_from(&self.crl_url()).await
    }

    /// The serial numbers (uppercase hex) in this certificate's shard as
    /// `node` serves it, parsed in process (fast enough to poll).
    pub(crate) async fn crl_serials_on(&self, node: &Server) -> std::collections::HashSet<String> {
        let url = self.crl_url();
        let der = fetch(node.url(&url[url.find("/crl/").unwrap()..]))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&der).expect("a DER CRL");
        crl.iter_revoked_certificates()
            .map(|entry| hex::encode_upper(entry.raw_serial()))
            .collect()
    }

    /// The same shard as `node` serves it.
    pub(crate) async fn crl_text_on(&self, node: &Server) -> String {
        let url = self.crl_url();
        let path = &url[url.find("/crl/").expect("CRL path")..];
        self.crl_text_from(&node.url(path)).await
    }

    async fn crl_text_from(&self, url: &str) -> String {
        let der = fetch(url).await.unwrap();
        assert_eq!(der.status(), 200);
        assert_eq!(der.headers()["content-type"], "application/pkix-crl");
        let bytes = der.bytes().await.unwrap();
        std::fs::write(self.path("shard.crl"), &bytes).unwrap();
        verified_crl_text(self.dir.path(), "shard.crl")
    }
}

/// `openssl crl -text` of a DER CRL in `dir`, its signature checked against
/// `dir/chain.pem`.
fn verified_crl_text(dir: &Path, crl_file: &str) -> String {
    let text = openssl_ok(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-noout",
            "-text",
            "-in",
            crl_file,
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(text.contains("verify OK"), "CRL signature: {text}");
    text
}

/// Runs `openssl` in `dir` with an empty stdin, so that arguments name
/// files by their plain names: success and all it said.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[track_caller]
fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

/// `openssl`'s serial spelling in CRL text: uppercase hex without colons.
pub(crate) fn lists_serial(crl_text: &str, serial: &str) -> bool {
    crl_text.contains(&format!("Serial Number: {serial}"))
}

/// The text of one CRL entry: from its serial to the next entry.
fn crl_entry<'a>(crl_text: &'a str, serial: &str) -> &'a str {
    let start = crl_text.find(serial).expect("serial listed");
    let rest = &crl_text[start..];
    rest.split("Serial Number:").next().unwrap_or(rest)
}

/// The seconds between two `openssl` dates printed after `first` and `second`.
fn window_seconds(text: &str, first: &str, second: &str) -> i64 {
    let date_after = |label: &str| {
        let start = text
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {text}"))
            + label.len();
        let line = text[start..].lines().next().unwrap().trim().to_string();
        let out = Command::new("date")
            .args(["-u", "-d", &line, "+%s"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("date {line:?}"))
    };
    date_after(second) - date_after(first)
}

/// A fresh server and one certificate it issued (administrator, no approval).
async fn server_with_certificate() -> (Server, Certificate) {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    let cert = Certificate::download(&s, id).await;
    (s, cert)
}

#[tokio::test]
async fn crl_shard_lists_revoked_serials_with_reasons_and_verifies() {
    let s = Server::start();
    let (_, revoked_id) = s.issue_certificate(s.admin()).await;
    let (_, unspecified_id) = s.issue_certificate(s.admin()).await;
    let (_, valid_id) = s.issue_certificate(s.admin()).await;
    let revoked = Certificate::download(&s, revoked_id).await;
    let unspecified = Certificate::download(&s, unspecified_id).await;
    let valid = Certificate::download(&s, valid_id).await;
    assert!(
        revoked.crl_url().starts_with(&format!("{}/crl/", s.base)),
        "{}",
        revoked.crl_url()
    );

    s.revoke_now(revoked.id, "keyCompromise").await;
    s.revoke_now(unspecified.id, "unspecified").await;
    let started = Instant::now();
    while !lists_serial(&revoked.crl_text().await, &revoked.serial)
        || !lists_serial(&unspecified.crl_text().await, &unspecified.serial)
    {
        assert!(started.elapsed() < VISIBLE_WITHIN, "not in the CRL in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let text = revoked.crl_text().await;
    assert!(lists_serial(&text, &revoked.serial), "{text}");
    let entry = crl_entry(&text, &revoked.serial);
    assert!(entry.contains("Key Compromise"), "reason in entry: {entry}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("Issuing Distribution Point"), "{text}");
    assert!(
        text.contains(&revoked.crl_url()),
        "IDP names the shard: {text}"
    );
    let window = window_seconds(&text, "Last Update:", "Next Update:");
    assert!(
        window > 0 && window <= 7 * 86400,
        "nextUpdate window {window}s"
    );

    // Unspecified: listed without a reason code extension (RFC 5280 §5.3.1).
    let text = unspecified.crl_text().await;
    let entry = crl_entry(&text, &unspecified.serial);
    assert!(!entry.contains("CRL Reason Code"), "{entry}");

    // The unrevoked certificate is in no shard.
    let text = valid.crl_text().await;
    assert!(!lists_serial(&text, &valid.serial), "{text}");

    // openssl's own revocation check sees it too.
    let (ok, out) = openssl(
        revoked.dir.path(),
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "chain.pem",
            "-CRLfile",
            "shard.crl",
            "leaf.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

/// A shard is re-signed from the revocations since its last signature: a
/// reason upgrade must replace the listed entry, not add a second one.
#[tokio::test]
async fn crl_entry_follows_a_key_compromise_upgrade() {
    let (s, cert) = server_with_certificate().await;
    s.revoke_now(cert.id, "superseded").await;
    let started = Instant::now();
    while !lists_serial(&cert.crl_text().await, &cert.serial) {
        assert!(started.elapsed() < VISIBLE_WITHIN, "not in the CRL in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = cert.crl_text().await;
    assert!(
        crl_entry(&first, &cert.serial).contains("Superseded"),
        "{first}"
    );

    s.revoke_now(cert.id, "keyCompromise").await;
    let started = Instant::now();
    let text = loop {
        let text = cert.crl_text().await;
        if crl_entry(&text, &cert.serial).contains("Key Compromise") {
            break text;
        }
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "upgrade not in the CRL in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let serial_lines = |text: &str| {
        text.lines()
            .filter(|l| l.trim() == format!("Serial Number: {}", cert.serial))
            .count()
    };
    assert_eq!(serial_lines(&text), 1, "listed once: {text}");
    let revocation_date = |text: &str| {
        crl_entry(text, &cert.serial)
            .lines()
            .find(|l| l.contains("Revocation Date"))
            .map(str::to_owned)
    };
    assert_eq!(
        revocation_date(&text),
        revocation_date(&first),
        "the first revocation time is kept"
    );
}

#[tokio::test]
async fn crl_index_lists_every_shard() {
    let s = Server::start();
    let r = s.send(reqwest::Client::new().get(s.url("/crl/"))).await;
    let crls = r.ok(200).json["crls"].as_array().unwrap().clone();
    assert_eq!(crls.len(), 64);
    for (i, crl) in crls.iter().enumerate() {
        assert_eq!(crl["url"], format!("{}/crl/{i}.crl", s.base));
        assert!(crl["number"].as_u64().unwrap() > 0);
        assert_datetime(&crl["this_update"]);
        assert_datetime(&crl["next_update"]);
        assert_eq!(crl["entries"], 0);
        let bytes = crl["bytes"].as_u64().unwrap();
        let served = fetch(crl["url"].as_str().unwrap()).await.unwrap();
        assert_eq!(served.bytes().await.unwrap().len() as u64, bytes);
    }
    for missing in ["/crl/64.crl", "/crl/x.crl", "/crl/1.pem"] {
        let r = s.send(reqwest::Client::new().get(s.url(missing))).await;
        r.error(404).code("not_found|crl");
    }
}

#[tokio::test]
async fn ocsp_says_good_then_revoked_after_approval() {
    let s = Server::start();
    let user = s.user();
    let (_, id) = s.user_order_issued(&user).await;
    let cert = Certificate::download(&s, id).await;
    let url = s.url("/ocsp");

    let out = cert.ocsp(&url);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(": good"), "{out}");
    let window = window_seconds(&out, "This Update:", "Next Update:");
    assert!(window > 0 && window <= 4 * 86400, "OCSP validity {window}s");

    let request = s
        .revoke(&user, id, json!({"revocation_reason": "superseded"}))
        .await
        .ok(201)
        .id();
    assert!(
        cert.ocsp(&url).contains(": good"),
        "pending request revokes nothing"
    );
    s.approve(request).await.ok(204);
    let out = cert.ocsp(&url);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(": revoked"), "{out}");
    assert!(out.contains("Reason: superseded"), "{out}");
    assert!(out.contains("Revocation Time:"), "{out}");
    // A one-certificate answer is the one signed ahead, whatever the nonce
    // (docs/decisions.md, "OCSP signed ahead"): it carries none, and openssl
    // only warns.
    assert!(out.contains("WARNING: no nonce in response"), "{out}");
    assert!(!out.contains("OCSP Nonce"), "{out}");
}

#[tokio::test]
async fn ocsp_get_form_caching_headers_and_revalidation() {
    let (s, cert) = server_with_certificate().await;
    let id = cert.id;
    openssl_ok(
        cert.dir.path(),
        &[
            "ocsp",
            "-no_nonce",
            "-reqout",
            "req.der",
            "-issuer",
            "issuer.pem",
            "-cert",
            "leaf.pem",
        ],
    );
    let request = std::fs::read(cert.path("req.der")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&request);
    let encoded: String = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    for path in [format!("/ocsp/{encoded}"), format!("/ocsp/{b64}")] {
        let r = s.send(client.get(s.url(&path))).await;
        r.ok(200);
        assert_eq!(
            r.header("content-type").unwrap(),
            "application/ocsp-response"
        );
        let cache = r.header("cache-control").unwrap();
        assert!(cache.contains("max-age="), "{cache}");
        assert!(r.header("last-modified").is_some());
        assert!(r.header("expires").is_some());
        let etag = r.header("etag").unwrap();
        // Revalidation: the same ETag answers 304 with no body.
        let again = s
            .send(client.get(s.url(&path)).header("If-None-Match", &etag))
            .await;
        assert_eq!(again.status, 304);
        assert!(again.bytes.is_empty());
        bodies.push(r.bytes.clone());
    }
    assert_eq!(
        bodies[0], bodies[1],
        "both spellings give the same cached answer"
    );
    std::fs::write(cert.path("resp.der"), &bodies[0]).unwrap();
    let out = cert.read_response("req.der", "resp.der");
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{out}"
    );

    // After a revocation the cached GET answer is replaced at once.
    s.revoke_now(id, "cessationOfOperation").await;
    let r = s.send(client.get(s.url(&format!("/ocsp/{b64}")))).await;
    std::fs::write(cert.path("resp2.der"), &r.ok(200).bytes).unwrap();
    let out = cert.read_response("req.der", "resp2.der");
    assert!(
        out.contains(": revoked") && out.contains("cessationOfOperation"),
        "{out}"
    );
}

#[tokio::test]
async fn ocsp_unknown_serial_and_malformed_requests() {
    let (s, cert) = server_with_certificate().await;
    let out = openssl_ok(
        cert.dir.path(),
        &[
            "ocsp",
            "-url",
            &s.url("/ocsp"),
            "-issuer",
            "issuer.pem",
            "-serial",
            "0x0123456789ABCDEF",
            "-CAfile",
            "root.pem",
        ],
    );
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("0x0123456789ABCDEF: unknown"), "{out}");

    // Garbage: the OCSP malformedRequest status (RFC 6960 §4.2.1), never a 500.
    let malformed: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x01];
    let client = reqwest::Client::new();
    let garbage: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        vec![],
        vec![0x30, 0x82, 0xff, 0xff],
        vec![0x30; 4000],
    ];
    for body in garbage {
        let r = s
            .send(
                client
                    .post(s.url("/ocsp"))
                    .header("Content-Type", "application/ocsp-request")
                    .body(body),
            )
            .await;
        r.ok(200);
        assert_eq!(r.bytes, malformed);
    }
    for path in ["/ocsp/not-base64!", "/ocsp/AAAA", "/ocsp/%ZZ"] {
        let r = s.send(client.get(s.url(path))).await;
        assert!(r.status == 200 || r.status == 400, "{path}: {}", r.status);
        if r.status == 200 {
            assert_eq!(r.bytes, malformed, "{path}");
        }
    }
    let r = s.send(client.get(s.url("/health"))).await;
    r.ok(200);
    assert!(
        cert.ocsp(&s.url("/ocsp")).contains(": good"),
        "still serving"
    );
}

#[tokio::test]
async fn ca_chain_and_issuer_are_served() {
    let (s, cert) = server_with_certificate().await;
    let chain = fetch(s.url("/ca/chain.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let blocks = pem_blocks(&chain);
    assert_eq!(blocks.len(), 2, "intermediate then root");
    assert_eq!(
        blocks.concat(),
        std::fs::read_to_string(cert.path("chain.pem")).unwrap()
    );
    let der = fetch(s.url("/ca/issuer.der"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(cert.path("issuer.der"), &der).unwrap();
    let from_der = openssl_ok(
        cert.dir.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-in",
            "issuer.der",
        ],
    );
    let from_pem = openssl_ok(
        cert.dir.path(),
        &["x509", "-noout", "-fingerprint", "-in", "issuer.pem"],
    );
    assert_eq!(from_der, from_pem);
    // The AIA names both URLs.
    let aia = openssl_ok(
        cert.dir.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "authorityInfoAccess",
            "-in",
            "leaf.pem",
        ],
    );
    assert!(
        aia.contains(&format!("OCSP - URI:{}/ocsp", s.base)),
        "{aia}"
    );
    assert!(
        aia.contains(&format!("CA Issuers - URI:{}/ca/issuer.der", s.base)),
        "{aia}"
    );
}

/// Time from a revoke's answer until the CRL shard and OCSP both show it,
/// with many revocations in flight at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocations_are_visible_within_five_seconds() {
    const CERTS: usize = 24;
    let s = Arc::new(Server::start());
    let mut certs = Vec::new();
    for _ in 0..CERTS {
        let (_, id) = s.issue_certificate(s.admin()).await;
        certs.push(Certificate::download(&s, id).await);
    }
    let certs = Arc::new(certs);
    let mut tasks = Vec::new();
    for i in 0..CERTS {
        let (s, certs) = (Arc::clone(&s), Arc::clone(&certs));
        tasks.push(tokio::spawn(async move {
            let cert = &certs[i];
            s.revoke_now(cert.id, "keyCompromise").await;
            let answered = Instant::now();
            let (mut in_crl, mut in_ocsp) = (None, None);
            while (in_crl.is_none() || in_ocsp.is_none()) && answered.elapsed() < VISIBLE_WITHIN * 2
            {
                if in_ocsp.is_none() && cert.ocsp(&s.url("/ocsp")).contains(": revoked") {
                    in_ocsp = Some(answered.elapsed());
                }
                if in_crl.is_none() && lists_serial(&cert.crl_text().await, &cert.serial) {
                    in_crl = Some(answered.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (in_crl, in_ocsp)
        }));
    }
    let mut worst = Duration::ZERO;
    for task in tasks {
        let (crl, ocsp) = task.await.unwrap();
        let (crl, ocsp) = (crl.expect("never in the CRL"), ocsp.expect("never in OCSP"));
        worst = worst.max(crl).max(ocsp);
    }
    eprintln!("{CERTS} concurrent revocations: slowest visible after {worst:?}");
    assert!(worst <= VISIBLE_WITHIN, "visible after {worst:?}");
}

/// 100,000 revoked certificates, put straight into the database (the API
/// would take minutes here), then published through the real CRL code path:
/// `certd crl` and a restarted server.
#[tokio::test]
async fn one_hundred_thousand_revocations_fit_in_shards_under_one_mebibyte() {
    const REVOKED: usize = 100_000;
    let mut s = Server::start();
    let (order_id, _) = s.issue_certificate(s.admin()).await;
    insert_revoked_certificates(&s.database_url(), order_id, REVOKED).await;

    let out_dir = s.dir.path().join("crls");
    let out = Command::new(BIN)
        .args(["crl", "--database-url", &s.database_url(), "--data"])
        .arg(s.data_dir())
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("certd crl: {printed}");
    let mut total = 0;
    for shard in 0..64 {
        let file = out_dir.join(format!("{shard}.crl"));
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size <= 1024 * 1024, "shard {shard}: {size} bytes");
        total += size;
    }
    assert!(
        printed.contains(&format!("({REVOKED} entries")),
        "{printed}"
    );
    eprintln!("{REVOKED} revoked: 64 shards, {total} bytes in all");

    // The server signs them at start and serves them; openssl accepts one.
    s.restart();
    let index = s.send(reqwest::Client::new().get(s.url("/crl/"))).await;
    let crls: Vec<Value> = index.ok(200).json["crls"].as_array().unwrap().clone();
    let entries: u64 = crls.iter().map(|c| c["entries"].as_u64().unwrap()).sum();
    assert_eq!(entries, REVOKED as u64);
    assert!(
        crls.iter()
            .all(|c| c["bytes"].as_u64().unwrap() <= 1024 * 1024)
    );
    let der = fetch(s.url("/crl/7.crl"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = s.dir.path().join("7.crl");
    std::fs::write(&file, &der).unwrap();
    let chain = s.dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        fetch(s.url("/ca/chain.pem"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let text = verified_crl_text(s.dir.path(), "7.crl");
    assert_eq!(
        text.matches("Serial Number:").count() as u64,
        crls[7]["entries"].as_u64().unwrap()
    );
}

/// The test's fast path: rows as certd would write them, 500 to a statement,
/// in one transaction.
async fn insert_revoked_certificates(database_url: &str, order_id: i64, count: usize) {
    use sqlx::Connection;
    const ROWS_PER_STATEMENT: usize = 500;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for first in (0..count).step_by(ROWS_PER_STATEMENT) {
        let rows = ROWS_PER_STATEMENT.min(count - first);
        let values: Vec<String> = (0..rows)
            .map(|r| {
                // $1..$3 are shared; each row has three of its own after them.
                let p = 3 + r * 3;
                format!(
                    "($1, ${}, 'revoked', 'bulk.example.com', '[]', '', 'sha256', '', $2, $3, $2, ${}, ${}, $2)",
                    p + 1,
                    p + 2,
                    p + 3,
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO certificates (order_id, serial_number, status, common_name, dns_names, \
             csr, signature_hash, pem, valid_from, valid_till, revoked_at, revocation_reason, \
             crl_shard, created_at) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .bind(now)
            .bind(now + 86400 * 90);
        for i in first..first + rows {
            let mut serial: [u8; 16] = rand::random();
            serial[0] = 1 + serial[0] % 0x7f;
            query = query
                .bind(hex::encode_upper(serial))
                .bind([0i64, 1, 4, 5][i % 4])
                .bind(i64::from(certd::crl_shard_of(&serial)));
        }
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}
