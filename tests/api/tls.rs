//! Contract section 10, TLS: `certd serve` over HTTPS with a certificate
//! from its own CA (`--tls auto`) or from files (`--tls-cert`/`--tls-key`,
//! re-read on SIGHUP without dropping connections), as curl, Python
//! `requests`, `openssl s_client` and rustls see it; a plain-HTTP request
//! to the HTTPS port; bad certificate files at start; and publication over
//! plain HTTP (`--publication-listen`) at the URL certificates name
//! (`--publication-url`).

use std::net::{Ipv4Addr, SocketAddr};

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;
use crate::publication::{Certificate, openssl};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `127.0.0.1:PORT` of a server's `https://` base.
fn address(s: &Server) -> String {
    s.base
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not an https:// base: {}", s.base))
        .to_string()
}

/// A TLS connection to a server, trusting only `root`, on which HTTP/1.1
/// requests are sent one after the other (keep-alive).
struct Connection {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
}

impl Connection {
    async fn open(address: &str, root_pem: &str) -> Connection {
        let mut roots = rustls::RootCertStore::empty();
        for cert in pem_blocks(root_pem) {
            let (_, der) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap();
            roots.add(der.contents.into()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(address).await.unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(
            address.parse::<SocketAddr>().unwrap().ip().into(),
        );
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake with {address}: {e}"));
        Connection { stream }
    }

    /// SHA-256 (hex) of the certificate the server presented.
    fn certificate_sha256(&self) -> String {
        let certificates = self.stream.get_ref().1.peer_certificates().unwrap();
        hex::encode(Sha256::digest(&certificates[0]))
    }

    /// How many certificates the server sent.
    fn chain_length(&self) -> usize {
        self.stream.get_ref().1.peer_certificates().unwrap().len()
    }

    /// `GET path` on this connection: status and body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: certd.test\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before an answer");
            received.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&received[..head_end]).to_string();
        let status = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a content-length");
        while received.len() < head_end + length {
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed in the body");
            received.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&received[head_end..head_end + length]).to_string();
        (status, body)
    }
}

/// Waits until a new connection to `address` is served the certificate
/// whose SHA-256 is `expected`.
async fn wait_for_certificate(address: &str, root: &str, expected: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let seen = Connection::open(address, root).await.certificate_sha256();
        if seen == expected {
            return;
        }
        assert!(
            started.elapsed() < within,
            "new connections still get certificate {seen}, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SHA-256 (hex) of the first certificate of a PEM file.
fn pem_sha256(pem: &str) -> String {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    hex::encode(Sha256::digest(&block.contents))
}

/// Sends SIGHUP to the server.
fn hang_up(s: &Server) {
    let sent = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A CA of the test's own, for `--tls-cert` files.
struct TestCa {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
    cert: rcgen::Certificate,
}

impl TestCa {
    fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tls test root");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa { key, params, cert }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost for `key`: its PEM.
    fn server_certificate(&self, key: &impl rcgen::PublicKeyData, name: &str) -> String {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap().pem()
    }
}

/// Python `requests`, pinned.
const REQUESTS: [&str; 5] = [
    "requests==2.34.2",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "idna==3.20",
    "urllib3==2.8.0",
];

// ---------------------------------------------------------------------------
// --tls auto
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tls_auto_serves_https_that_clients_trusting_the_root_verify() {
    let mut s = Server::start_with(&["--tls", "auto"]);
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let root = s.trust_server_root().await;
    let dir = tempfile::tempdir().unwrap();
    let root_file = dir.path().join("root.pem");
    std::fs::write(&root_file, &root).unwrap();

    // The harness's client (rustls) trusting only the root.
    assert_eq!(s.me(s.admin()).await["email"], "admin@certd.localhost");
    // The public URL stored on this first start is the https:// one.
    let id = s.issue_certificate(s.admin()).await.1;
    let urls = crate::operator::urls_in_certificate(&s, id).await;
    assert!(urls.contains(&format!("URI:{}/crl/", s.base)), "{urls}");

    // curl (OpenSSL) with --cacert, an authenticated call, over HTTP/2.
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&root_file)
        .args(["-H", &format!("X-DC-DEVKEY: {}", s.admin())])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(s.api("/user/me"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.ends_with("\n200 2"), "{said}");
    assert!(said.contains("admin@certd.localhost"), "{said}");
    // Without the root, curl refuses the server.
    let refused = Command::new("curl")
        .args(["-sS", "-o", "/dev/null"])
        .arg(s.url("/health"))
        .output()
        .unwrap();
    assert!(!refused.status.success());

    // The command line's remote mode, trusting the root with --ca-cert.
    let remote = |extra: &[&str]| {
        Run::of(
            certd_command()
                .args(["request", "list", "--url", &s.base, "--key", s.admin()])
                .args(extra),
        )
    };
    remote(&["--ca-cert", root_file.to_str().unwrap()]).ok();
    assert!(
        !remote(&[]).success,
        "the system's roots do not include certd's"
    );

    // Python: requests with verify= the root.
    let url = s.api("/user/me");
    let python = python_venv("requests-2.34.2", &REQUESTS).join("bin/python3");
    let script = "import requests, sys\n\
         r = requests.get(sys.argv[1], headers={'X-DC-DEVKEY': sys.argv[2]}, verify=sys.argv[3])\n\
         print(r.status_code, r.json()['email'])\n";
    let out = Command::new(&python)
        .args(["-c", script, &url, s.admin()])
        .arg(&root_file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "200 admin@certd.localhost",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What is served: a leaf for IP 127.0.0.1 then the intermediate, which
    // `openssl verify` accepts against the root alone.
    let connection = Connection::open(&address(&s), &root).await;
    assert_eq!(connection.chain_length(), 2);
    let (_, text) = openssl(
        dir.path(),
        &["s_client", "-connect", &address(&s), "-showcerts"],
    );
    let served = pem_blocks(&text);
    assert_eq!(served.len(), 2, "{text}");
    std::fs::write(dir.path().join("leaf.pem"), &served[0]).unwrap();
    std::fs::write(dir.path().join("intermediate.pem"), &served[1]).unwrap();
    let (verified, said) = openssl(
        dir.path(),
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "-verify_ip",
            "127.0.0.1",
            "-purpose",
            "sslserver",
            "leaf.pem",
        ],
    );
    assert!(verified, "{said}");
    let (_, leaf) = openssl(
        dir.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            "leaf.pem",
        ],
    );
    assert!(leaf.contains("IP Address:127.0.0.1"), "{leaf}");
    assert!(!leaf.contains("DNS:"), "{leaf}");
}

#[tokio::test]
async fn tls_auto_renews_its_certificate_without_dropping_connections() {
    // A 6-second certificate is renewed after 4.
    let mut s = Server::start_with(&["--tls", "auto", "--tls-auto-validity-secs", "6"]);
    let root = s.trust_server_root().await;
    let mut kept = Connection::open(&address(&s), &root).await;
    let first = kept.certificate_sha256();
    assert_eq!(kept.get("/health").await.0, 200);
    let started = Instant::now();
    loop {
        let now = Connection::open(&address(&s), &root)
            .await
            .certificate_sha256();
        if now != first {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the certificate was not renewed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The connection opened before goes on with its certificate.
    assert_eq!(kept.get("/health").await.0, 200);
    assert_eq!(kept.certificate_sha256(), first);
    assert!(s.logs().contains("serving HTTPS with a server certificate"));
}

// ---------------------------------------------------------------------------
// --tls-cert / --tls-key and SIGHUP
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sighup_reloads_the_certificate_files_and_keeps_connections() {
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    let first_key = rcgen::KeyPair::generate().unwrap();
    let first = ca.server_certificate(&first_key, "first");
    std::fs::write(&cert_file, &first).unwrap();
    std::fs::write(&key_file, first_key.serialize_pem()).unwrap();

    let mut s = Server::start_with(&[
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    s.trust_root(&ca.pem());
    assert_eq!(s.me(s.admin()).await["email"], "admin@certd.localhost");
    let root = ca.pem();
    let mut kept = Connection::open(&address(&s), &root).await;
    assert_eq!(kept.certificate_sha256(), pem_sha256(&first));
    assert_eq!(kept.get("/health").await.0, 200);

    // A new certificate with an EC key in SEC1 form ("EC PRIVATE KEY").
    let second_key = rcgen::KeyPair::generate().unwrap();
    let second = ca.server_certificate(&second_key, "second");
    std::fs::write(files.path().join("pkcs8.pem"), second_key.serialize_pem()).unwrap();
    let (ok, said) = openssl(files.path(), &["ec", "-in", "pkcs8.pem", "-out", "key.pem"]);
    assert!(ok, "{said}");
    assert!(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .contains("EC PRIVATE KEY")
    );
    std::fs::write(&cert_file, &second).unwrap();
    hang_up(&s);
    wait_for_certificate(&address(&s), &root, &pem_sha256(&second), VISIBLE_WITHIN).await;
    // The connection opened before the reload carries on, with its certificate.
    assert_eq!(kept.get("/health").await.0, 200);
    assert_eq!(kept.certificate_sha256(), pem_sha256(&first));
    let mut since_reload = Connection::open(&address(&s), &root).await;
    assert_eq!(since_reload.get("/health").await.0, 200);

    // Unusable files (a key for another certificate) are refused: the
    // certificate in use stays, and the log says why.
    let other_key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&key_file, other_key.serialize_pem()).unwrap();
    hang_up(&s);
    let started = Instant::now();
    while !s.logs().contains("kept the TLS certificate in use") {
        assert!(started.elapsed() < VISIBLE_WITHIN, "{}", s.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.logs().contains("does not match"), "{}", s.logs());
    let now = Connection::open(&address(&s), &root).await;
    assert_eq!(now.certificate_sha256(), pem_sha256(&second));
    assert_eq!(s.me(s.admin()).await["email"], "admin@certd.localhost");

    // An RSA key in PKCS#1 form ("RSA PRIVATE KEY") made by openssl.
    let (ok, said) = openssl(
        files.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa8.pem",
        ],
    );
    assert!(ok, "{said}");
    let (ok, said) = openssl(
        files.path(),
        &["pkey", "-in", "rsa8.pem", "-traditional", "-out", "key.pem"],
    );
    assert!(ok, "{said}");
    assert!(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .contains("RSA PRIVATE KEY")
    );
    let rsa_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(files.path().join("rsa8.pem")).unwrap())
            .unwrap();
    let third = ca.server_certificate(&rsa_key, "third");
    std::fs::write(&cert_file, &third).unwrap();
    hang_up(&s);
    wait_for_certificate(&address(&s), &root, &pem_sha256(&third), VISIBLE_WITHIN).await;
    assert_eq!(kept.get("/health").await.0, 200);
    assert_eq!(since_reload.get("/health").await.0, 200);
    assert_eq!(s.me(s.admin()).await["email"], "admin@certd.localhost");
}

#[test]
fn bad_certificate_files_stop_serve_with_one_clear_line() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(path("cert.pem"), ca.server_certificate(&key, "server")).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(path("other.pem"), other.serialize_pem()).unwrap();
    std::fs::write(path("garbage.pem"), "this is not a key\n").unwrap();
    std::fs::write(path("empty.pem"), "").unwrap();

    let data = dir.path().join("data");
    let serve = |cert: &str, key: &str| {
        Run::of(
            certd_command()
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(&data)
                .args(["--tls-cert", cert, "--tls-key", key]),
        )
    };
    let cases = [
        (
            path("cert.pem"),
            path("missing.pem"),
            format!("cannot read --tls-key {}", path("missing.pem")),
        ),
        (
            path("cert.pem"),
            path("garbage.pem"),
            format!(
                "cannot use --tls-key {}: no private key found",
                path("garbage.pem")
            ),
        ),
        (
            path("cert.pem"),
            path("other.pem"),
            format!(
                "cannot use --tls-key {}: the key does not match the certificate in --tls-cert {}",
                path("other.pem"),
                path("cert.pem")
            ),
        ),
        (
            path("missing.pem"),
            path("key.pem"),
            format!("cannot read --tls-cert {}", path("missing.pem")),
        ),
        (
            path("empty.pem"),
            path("key.pem"),
            format!(
                "cannot use --tls-cert {}: no PEM certificate found",
                path("empty.pem")
            ),
        ),
        (
            // A key where the certificate should be.
            path("key.pem"),
            path("key.pem"),
            format!(
                "cannot use --tls-cert {}: no PEM certificate found",
                path("key.pem")
            ),
        ),
    ];
    for (cert, key, says) in cases {
        let out = serve(&cert, &key);
        out.fails_with(&says);
        assert!(
            out.stderr.starts_with("certd: "),
            "the command line's error line: {}",
            out.stderr
        );
        // Refused before anything was made.
        assert!(!data.exists(), "{} made", data.display());
    }
    // --tls-cert without --tls-key, and files with --tls auto, are usage errors.
    let out = Run::of(
        certd_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(["--tls-cert", &path("cert.pem")]),
    );
    assert!(
        !out.success && out.stderr.contains("--tls-key"),
        "{}",
        out.stderr
    );
    let out = Run::of(
        certd_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(["--tls", "auto", "--tls-cert", &path("cert.pem")])
            .args(["--tls-key", &path("key.pem")]),
    );
    assert!(
        !out.success && out.stderr.contains("cannot be used with"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// Plain HTTP and protocol versions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn plain_http_gets_a_hint_and_old_tls_versions_are_refused() {
    let mut s = Server::start_with(&["--tls", "auto"]);
    let root = s.trust_server_root().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), &root).unwrap();
    let address = address(&s);

    // Plain HTTP on the HTTPS port: a 400 naming the https:// URL, at once.
    let started = Instant::now();
    let mut plain = TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /services/v2/user/me HTTP/1.1\r\nHost: {address}\r\nX-DC-DEVKEY: {}\r\n\r\n",
        s.admin()
    );
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(1), plain.read_to_string(&mut answer))
        .await
        .expect("an answer and a close within a second")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!(
            "\r\n\r\nThis port speaks HTTPS: use https://{address}/\n"
        )),
        "{answer}"
    );
    // curl says the same.
    let out = Command::new("curl")
        .args(["-sS", "-m", "2", "-w", "\n%{http_code}"])
        .arg(format!("http://{address}/health"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("use https://"), "{said}");
    assert!(said.ends_with("\n400"), "{said}");

    // TLS 1.0 and 1.1 are refused by the server (the client is allowed to
    // offer them), 1.2 and 1.3 verify against the root.
    for old in ["-tls1", "-tls1_1"] {
        let (ok, said) = openssl(
            dir.path(),
            &[
                "s_client",
                "-connect",
                &address,
                old,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ],
        );
        assert!(!ok, "{old} accepted: {said}");
        assert!(
            said.contains("alert"),
            "{old}: refused by the server: {said}"
        );
        assert!(said.contains("Cipher is (NONE)"), "{said}");
    }
    for (version, shown) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, said) = openssl(
            dir.path(),
            &[
                "s_client",
                "-connect",
                &address,
                version,
                "-CAfile",
                "root.pem",
                "-verify_return_error",
                "-alpn",
                "h2,http/1.1",
            ],
        );
        assert!(ok, "{version}: {said}");
        assert!(said.contains(&format!("New, {shown}, Cipher is")), "{said}");
        assert!(said.contains("Verify return code: 0 (ok)"), "{said}");
        assert!(said.contains("ALPN protocol: h2"), "{said}");
    }
    let (ok, said) = openssl(
        dir.path(),
        &[
            "s_client", "-connect", &address, "-CAfile", "root.pem", "-alpn", "http/1.1",
        ],
    );
    assert!(ok && said.contains("ALPN protocol: http/1.1"), "{said}");

    // The server took all that in its stride.
    assert_eq!(s.me(s.admin()).await["email"], "admin@certd.localhost");
}

// ---------------------------------------------------------------------------
// Publication over plain HTTP
// ---------------------------------------------------------------------------

/// A port free a moment ago, for a URL that must name it before the
/// server starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn publication_is_served_over_plain_http_at_the_url_certificates_name() {
    let port = free_port();
    let publication_url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let mut s = Server::start_with(&[
        "--tls",
        "auto",
        "--publication-listen",
        &listen,
        "--publication-url",
        &publication_url,
    ]);
    assert_eq!(
        s.publication_base.as_deref(),
        Some(publication_url.as_str())
    );
    let root = s.trust_server_root().await;
    let http = reqwest::Client::new();

    // Only publication there: the CA's certificates, CRLs, OCSP.
    let chain = http
        .get(format!("{publication_url}/ca/chain.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(chain.status(), 200);
    assert_eq!(pem_blocks(&chain.text().await.unwrap()).len(), 2);
    let crls = http
        .get(format!("{publication_url}/crl/"))
        .send()
        .await
        .unwrap();
    assert_eq!(crls.status(), 200);
    let crls: serde_json::Value = crls.json().await.unwrap();
    assert!(
        crls["crls"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{publication_url}/crl/")),
        "{crls}"
    );
    for path in [
        "/services/v2/user/me",
        "/health",
        "/acme/directory",
        "/metrics",
        "/",
    ] {
        let answer = http
            .get(format!("{publication_url}{path}"))
            .header("X-DC-DEVKEY", s.admin())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path} on the publication listener");
    }

    // A certificate names the publication URL for its CRL and AIA, and each
    // of those URLs answers over plain HTTP.
    let id = s.issue_certificate(s.admin()).await.1;
    let cert = Certificate::download(&s, id).await;
    let named = cert.openssl(&[
        "x509",
        "-noout",
        "-ext",
        "crlDistributionPoints,authorityInfoAccess",
        "-in",
        "leaf.pem",
    ]);
    assert!(
        named.contains(&format!("URI:{publication_url}/crl/")),
        "{named}"
    );
    assert!(
        named.contains(&format!("OCSP - URI:{publication_url}/ocsp")),
        "{named}"
    );
    assert!(
        named.contains(&format!("CA Issuers - URI:{publication_url}/ca/issuer.der")),
        "{named}"
    );
    assert!(!named.contains("https://"), "{named}");
    let ocsp = cert.ocsp(&format!("{publication_url}/ocsp"));
    assert!(ocsp.contains(": good"), "{ocsp}");
    // Fetched from the URL the certificate names, verified against the chain.
    let crl_text = cert.crl_text().await;
    assert!(crl_text.contains(&cert.crl_url()), "{crl_text}");
    let issuer = http
        .get(format!("{publication_url}/ca/issuer.der"))
        .send()
        .await
        .unwrap();
    assert_eq!(issuer.status(), 200);
    // The HTTPS port serves publication too.
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .build()
        .unwrap();
    let chain = https.get(s.url("/ca/chain.pem")).send().await.unwrap();
    assert_eq!(chain.status(), 200);

    // Other commands sign with the stored publication URL: `certd crl`
    // writes CRLs whose scope is the URL certificates name.
    let out = tempfile::tempdir().unwrap();
    s.certd_local(&["crl", "--out", out.path().to_str().unwrap()])
        .ok();
    let shard = &cert.crl_url()[cert.crl_url().rfind('/').unwrap() + 1..];
    std::fs::copy(out.path().join(shard), cert.path("exported.crl")).unwrap();
    let exported = cert.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-noout",
        "-text",
        "-in",
        "exported.crl",
    ]);
    assert!(exported.contains(&cert.crl_url()), "{exported}");

    // Stored: a later start told another one refuses without
    // --change-publication-url.
    s.terminate();
    let data = s.data_dir();
    let out = Run::of(
        certd_command()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(s.database_args())
            .args(["--publication-url", "http://elsewhere.certd.test"]),
    );
    assert!(!out.success);
    assert!(
        out.stderr.contains("--change-publication-url") && out.stderr.contains(&publication_url),
        "{}",
        out.stderr
    );
}
