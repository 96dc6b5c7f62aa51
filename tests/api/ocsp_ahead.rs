//! Contract section 10: OCSP answers are signed ahead, kept in the
//! `ocsp_responses` table, served as signed (no signature on the request
//! path), re-signed at once after a revocation and before they go stale.

use std::time::{Duration, Instant};

use base64::Engine;
use der::Decode;

use crate::harness::*;
use crate::publication::{Certificate, RELYING_PARTY_FILES};

/// How long a new certificate may wait for its answers.
const SIGNED_WITHIN: Duration = Duration::from_secs(10);

/// A certificate's stored answers, as the test reads them from the database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Stored {
    this_update: i64,
    revoked_at: Option<i64>,
    der_sha1: Vec<u8>,
    der_sha256: Vec<u8>,
}

async fn connect(s: &Server) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap()
}

async fn stored(s: &Server, serial: &str) -> Option<Stored> {
    let mut conn = connect(s).await;
    sqlx::query_as(
        "SELECT this_update, revoked_at, der_sha1, der_sha256 FROM ocsp_responses \
         WHERE serial_number = $1",
    )
    .bind(serial)
    .fetch_optional(&mut conn)
    .await
    .unwrap()
}

/// Runs one statement on the server's database.
async fn execute(s: &Server, sql: &str, serial: &str) {
    let mut conn = connect(s).await;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(serial)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Waits until the certificate's stored answers satisfy `good`.
async fn stored_soon(
    s: &Server,
    serial: &str,
    within: Duration,
    what: &str,
    good: impl Fn(&Stored) -> bool,
) -> (Stored, Duration) {
    let start = Instant::now();
    loop {
        if let Some(found) = stored(s, serial).await
            && good(&found)
        {
            return (found, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?} ({:?})\n{}",
            stored(s, serial).await,
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What a DER OCSP response says, decoded in process.
#[derive(Debug)]
struct Decoded {
    produced_at: i64,
    this_update: i64,
    revoked: bool,
    has_nonce: bool,
    sha256_cert_id: bool,
}

fn decode(der: &[u8]) -> Decoded {
    let response = x509_ocsp::OcspResponse::from_der(der).expect("an OCSP response");
    let bytes = response.response_bytes.expect("a successful response");
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let data = basic.tbs_response_data;
    let seconds = |t: x509_ocsp::OcspGeneralizedTime| t.0.to_unix_duration().as_secs() as i64;
    let single = &data.responses[0];
    let nonce = const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
    Decoded {
        produced_at: seconds(data.produced_at),
        this_update: seconds(single.this_update),
        revoked: matches!(single.cert_status, x509_ocsp::CertStatus::Revoked(_)),
        has_nonce: data
            .response_extensions
            .unwrap_or_default()
            .iter()
            .any(|e| e.extn_id == nonce),
        sha256_cert_id: single.cert_id.hash_algorithm.oid == const_oid::db::rfc5912::ID_SHA_256,
    }
}

/// A `GET /ocsp/{base64}` of a request file in the certificate's directory.
async fn get(s: &Server, cert: &Certificate, request_file: &str) -> Vec<u8> {
    let request = std::fs::read(cert.path(request_file)).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(request);
    let answer = reqwest::get(s.url(&format!("/ocsp/{b64}"))).await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap().to_vec()
}

/// Writes a nonce-less request about the certificate, its CertID in `digest`.
fn write_request(cert: &Certificate, digest: &str, file: &str) {
    cert.openssl(&[
        "ocsp",
        "-no_nonce",
        digest,
        "-issuer",
        "issuer.pem",
        "-cert",
        "leaf.pem",
        "-reqout",
        file,
    ]);
}

/// What openssl makes of an answer to `sha256.req`, checked against the root
/// (the status is looked up by a SHA-256 CertID of the certificate).
fn read_sha256_response(cert: &Certificate, der: &[u8]) -> String {
    std::fs::write(cert.path("sha256.resp"), der).unwrap();
    cert.openssl(&[
        "ocsp",
        "-no_nonce",
        "-resp_text",
        "-reqin",
        "sha256.req",
        "-respin",
        "sha256.resp",
        "-CAfile",
        "root.pem",
        "-sha256",
        "-issuer",
        "issuer.pem",
        "-cert",
        "leaf.pem",
    ])
}

fn on_demand_signatures(metrics: &str) -> f64 {
    crate::revocation_batches::samples(metrics, "certd_ocsp_signed_on_demand_total")
        .first()
        .map_or(0.0, |(_, value)| *value)
}

#[tokio::test]
async fn new_certificates_answers_are_signed_ahead_and_served_as_signed() {
    let s = Server::start();
    let mut certs = Vec::new();
    for _ in 0..3 {
        let (_, id) = s.issue_certificate(s.admin()).await;
        certs.push(Certificate::download(&s, id).await);
    }
    let mut answers = Vec::new();
    for cert in &certs {
        let (found, took) =
            stored_soon(&s, &cert.serial, SIGNED_WITHIN, "signed ahead", |_| true).await;
        eprintln!("{}: signed ahead after {took:?} more", cert.serial);
        assert!(found.this_update <= now(), "{found:?}");
        assert_eq!(found.revoked_at, None);
        answers.push(found);
    }
    let metrics = s.metrics_text().await;
    let presigned = crate::revocation_batches::samples(&metrics, "certd_ocsp_presigned_total");
    assert!(
        presigned.first().is_some_and(|(_, n)| *n >= 6.0),
        "two answers per certificate: {presigned:?}"
    );

    // Served as signed: the stored bytes, produced before the request, the
    // same a second later; nothing signed on the request path.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (cert, stored) in certs.iter().zip(&answers) {
        write_request(cert, "-sha1", "sha1.req");
        let asked_at = now();
        let first = get(&s, cert, "sha1.req").await;
        assert_eq!(first, stored.der_sha1, "the answer signed ahead");
        let decoded = decode(&first);
        assert_eq!(decoded.produced_at, stored.this_update);
        assert_eq!(decoded.this_update, stored.this_update);
        assert!(
            decoded.produced_at < asked_at,
            "{decoded:?} asked at {asked_at}"
        );
        assert!(!decoded.sha256_cert_id && !decoded.revoked && !decoded.has_nonce);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            get(&s, cert, "sha1.req").await,
            first,
            "identical a second later"
        );
        std::fs::write(cert.path("sha1.resp"), &first).unwrap();
        let out = cert.read_response("sha1.req", "sha1.resp");
        assert!(
            out.contains("Response verify OK") && out.contains(": good"),
            "{out}"
        );
    }

    // openssl's default request has a nonce: answered as signed ahead, with
    // none (RFC 8954 lets a responder leave it out); openssl warns, verifies.
    let out = certs[0].ocsp(&s.url("/ocsp"));
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(": good"), "{out}");
    assert!(out.contains("WARNING: no nonce in response"), "{out}");
    assert!(!out.contains("OCSP Nonce"), "{out}");
    assert_eq!(
        on_demand_signatures(&s.metrics_text().await),
        0.0,
        "nothing signed on the request path"
    );
}

#[tokio::test]
async fn a_sha256_cert_id_is_answered_from_its_own_answer() {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    let cert = Certificate::download(&s, id).await;
    let (found, _) = stored_soon(&s, &cert.serial, SIGNED_WITHIN, "signed ahead", |_| true).await;
    write_request(&cert, "-sha256", "sha256.req");
    let der = get(&s, &cert, "sha256.req").await;
    assert_eq!(der, found.der_sha256);
    let decoded = decode(&der);
    assert!(decoded.sha256_cert_id, "{decoded:?}");
    let out = read_sha256_response(&cert, &der);
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{out}"
    );
    // openssl's own POST with a SHA-256 CertID (and a nonce).
    let url = s.url("/ocsp");
    let out =
        cert.openssl(&[&["ocsp", "-sha256", "-url", &url][..], &RELYING_PARTY_FILES].concat());
    assert!(
        out.contains("Response verify OK") && out.contains(": good"),
        "{out}"
    );
    assert_eq!(on_demand_signatures(&s.metrics_text().await), 0.0);
}

#[tokio::test]
async fn a_revocation_is_re_signed_ahead_and_answered_within_five_seconds() {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    let cert = Certificate::download(&s, id).await;
    let (good, _) = stored_soon(&s, &cert.serial, SIGNED_WITHIN, "signed ahead", |_| true).await;
    assert!(cert.ocsp(&s.url("/ocsp")).contains(": good"));

    s.revoke_now(id, "keyCompromise").await;
    let revoked_at = Instant::now();
    let out = cert.ocsp(&s.url("/ocsp"));
    let seen = revoked_at.elapsed();
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(": revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(seen <= VISIBLE_WITHIN, "{seen:?}");
    let (resigned, took) = stored_soon(
        &s,
        &cert.serial,
        VISIBLE_WITHIN,
        "re-signed after the revocation",
        |found| found.revoked_at.is_some(),
    )
    .await;
    eprintln!("revoked answers stored {took:?} after the check");
    assert!(resigned.this_update >= good.this_update);
    for der in [&resigned.der_sha1, &resigned.der_sha256] {
        assert!(decode(der).revoked);
    }
    // Served as stored from now on.
    write_request(&cert, "-sha256", "sha256.req");
    let der = get(&s, &cert, "sha256.req").await;
    assert!(decode(&der).revoked);
    let out = read_sha256_response(&cert, &der);
    assert!(
        out.contains("Response verify OK") && out.contains(": revoked"),
        "{out}"
    );
}

#[tokio::test]
async fn stale_answers_are_re_signed_and_missing_ones_signed_at_start() {
    let mut s = Server::start();
    let mut certs = Vec::new();
    for _ in 0..2 {
        let (_, id) = s.issue_certificate(s.admin()).await;
        certs.push(Certificate::download(&s, id).await);
    }
    let mut before = Vec::new();
    for cert in &certs {
        before.push(
            stored_soon(&s, &cert.serial, SIGNED_WITHIN, "signed ahead", |_| true)
                .await
                .0,
        );
    }

    // Three days old: past the two after which an answer is stale.
    let three_days_ago = now() - 3 * 86400;
    execute(
        &s,
        &format!(
            "UPDATE ocsp_responses SET this_update = {three_days_ago} WHERE serial_number = $1"
        ),
        &certs[0].serial,
    )
    .await;
    let (fresh, took) = stored_soon(
        &s,
        &certs[0].serial,
        SIGNED_WITHIN,
        "a stale answer re-signed",
        |found| found.this_update > three_days_ago,
    )
    .await;
    eprintln!("stale answer re-signed after {took:?}");
    assert!(fresh.this_update >= before[0].this_update);
    assert_ne!(fresh.der_sha1, before[0].der_sha1, "signed anew");
    write_request(&certs[0], "-sha1", "sha1.req");
    let served = get(&s, &certs[0], "sha1.req").await;
    assert_eq!(served, fresh.der_sha1);

    // An answer gone (a restored database, say): the walk at start signs it.
    s.kill9();
    execute(
        &s,
        "DELETE FROM ocsp_responses WHERE serial_number = $1",
        &certs[1].serial,
    )
    .await;
    assert_eq!(stored(&s, &certs[1].serial).await, None);
    s.restart();
    let (again, took) = stored_soon(
        &s,
        &certs[1].serial,
        SIGNED_WITHIN,
        "signed at start",
        |_| true,
    )
    .await;
    eprintln!("missing answer signed {took:?} after the restart");
    assert!(!decode(&again.der_sha256).revoked);
    assert_eq!(
        stored(&s, &certs[0].serial).await,
        Some(fresh),
        "left alone"
    );
}

/// Made-up serials cannot be signed ahead: a flood of them is answered
/// `unknown` (signed per request) or, past the bound on such signatures at
/// once, `tryLater`, never an error, and each `tryLater` is counted.
#[tokio::test]
async fn a_flood_of_made_up_serials_is_answered_unknown_or_try_later() {
    let s = Server::start();
    let (_, id) = s.issue_certificate(s.admin()).await;
    let cert = Certificate::download(&s, id).await;
    let requests: Vec<Vec<u8>> = (0..96)
        .map(|i| {
            let file = format!("made-up-{i}.req");
            let serial = format!("0x7E{:030X}", crate::harness::unique() * 1_000 + i);
            cert.openssl(
                &[
                    "ocsp",
                    "-no_nonce",
                    "-issuer",
                    "issuer.pem",
                    "-serial",
                    &serial,
                ]
                .iter()
                .copied()
                .chain(["-reqout", file.as_str()])
                .collect::<Vec<_>>(),
            );
            std::fs::read(cert.path(&file)).unwrap()
        })
        .collect();
    let client = reqwest::Client::new();
    let answers = futures::future::join_all(requests.into_iter().map(|request| {
        let client = client.clone();
        let url = s.url("/ocsp");
        async move {
            let answer = client
                .post(url)
                .header("content-type", "application/ocsp-request")
                .body(request)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.bytes().await.unwrap().to_vec()
        }
    }))
    .await;
    let mut try_later = 0.0;
    for der in &answers {
        let response = x509_ocsp::OcspResponse::from_der(der).expect("an OCSP response");
        match response.response_status {
            x509_ocsp::OcspResponseStatus::TryLater => try_later += 1.0,
            x509_ocsp::OcspResponseStatus::Successful => {
                let bytes = response.response_bytes.expect("a successful response");
                let basic =
                    x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
                assert!(matches!(
                    basic.tbs_response_data.responses[0].cert_status,
                    x509_ocsp::CertStatus::Unknown(_)
                ));
            }
            other => panic!("answered {other:?}"),
        }
    }
    let counted =
        crate::revocation_batches::samples(&s.metrics_text().await, "certd_ocsp_responses_total")
            .into_iter()
            .find(|(labels, _)| labels.contains("try_later"))
            .map_or(0.0, |(_, value)| value);
    assert_eq!(counted, try_later);
}
