use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::*;

fn csr_pem(alg: &'static SignatureAlgorithm, cn: &str, sans: &[&str]) -> String {
    let key = KeyPair::generate_for(alg).expect("keygen");
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem")
}

/// Makes a CSR with the openssl CLI (ring cannot generate RSA or P-521 keys).
fn openssl_csr(dir: &Path, newkey: &[&str], cn: &str) -> String {
    let out = dir.join(format!("{cn}.csr"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
        ])
        .arg(dir.join(format!("{cn}.key")))
        .arg("-out")
        .arg(&out)
        .args(newkey)
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read_to_string(out).expect("read csr")
}

fn profile(cn: &str, extra: &[&str]) -> LeafProfile {
    let now = OffsetDateTime::now_utc();
    LeafProfile {
        common_name: cn.to_string(),
        dns_names: extra.iter().map(|s| s.to_string()).collect(),
        not_before: now - Duration::minutes(5),
        not_after: now + Duration::days(90),
    }
}

fn new_ca() -> (tempfile::TempDir, CertificateAuthority) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::open_or_create(
        &tmp.path().join("ca"),
        test_urls(),
        &KeyProtection::Clear,
    )
    .expect("create CA");
    (tmp, ca)
}

fn invalid_msg(r: Result<VerifiedCsr, CaError>) -> String {
    match r {
        Err(CaError::InvalidCsr(msg)) => msg,
        Err(e) => panic!("expected InvalidCsr, got {e:?}"),
        Ok(c) => panic!("expected InvalidCsr, got accepted {}", c.key_description()),
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// `openssl verify` of leaf against root + intermediate, in strict mode.
fn openssl_verify(dir: &Path, ca: &CertificateAuthority, leaf_pem: &str) {
    std::fs::write(dir.join("root.pem"), ca.root_pem()).expect("write");
    std::fs::write(dir.join("intermediate.pem"), ca.intermediate_pem()).expect("write");
    std::fs::write(dir.join("leaf.pem"), leaf_pem).expect("write");
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["verify", "-x509_strict", "-purpose", "sslserver"])
        .args([
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "leaf.pem",
        ])
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ca_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CertificateAuthority>();
}

#[test]
fn create_then_reopen_gives_same_ca_with_private_key_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ca");
    let a = CertificateAuthority::open_or_create(&dir, test_urls(), &KeyProtection::Clear)
        .expect("create");
    let b = CertificateAuthority::open_or_create(&dir, test_urls(), &KeyProtection::Clear)
        .expect("reopen");
    assert_eq!(a.root_pem(), b.root_pem());
    assert_eq!(a.intermediate_pem(), b.intermediate_pem());
    assert_ne!(a.root_pem(), a.intermediate_pem());

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("root.key")), 0o600);
    assert_eq!(mode(&dir.join("intermediate.key")), 0o600);
    // Nothing but the CA directory is left beside it (the temp dir was renamed away).
    let siblings: Vec<_> = std::fs::read_dir(tmp.path()).expect("ls").collect();
    assert_eq!(siblings.len(), 1);

    // CA certificate profiles.
    let root_der = cert_der(a.root_pem(), "root").expect("root pem");
    let int_der = cert_der(a.intermediate_pem(), "int").expect("int pem");
    let (_, root) = X509Certificate::from_der(&root_der).expect("root");
    let (_, int) = X509Certificate::from_der(&int_der).expect("int");
    assert_eq!(root.subject().to_string(), "CN=certd Root CA");
    assert_eq!(int.subject().to_string(), "CN=certd Issuing CA 1");
    assert_eq!(int.issuer().to_string(), "CN=certd Root CA");
    let bc = root
        .basic_constraints()
        .expect("bc")
        .expect("bc present")
        .value;
    assert!(bc.ca && bc.path_len_constraint == Some(1));
    let bc = int
        .basic_constraints()
        .expect("bc")
        .expect("bc present")
        .value;
    assert!(bc.ca && bc.path_len_constraint == Some(0));
    let ku = int.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature());
    let ku = root.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    assert_ne!(ski(&int), ski(&root));
    assert_eq!(aki(&int), Some(ski(&root)));
}

fn ski(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("SKI present")
}

fn aki(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(k) => {
                k.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

#[test]
fn existing_empty_dir_is_filled_but_incomplete_dir_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ca");
    std::fs::create_dir(&dir).expect("mkdir");
    CertificateAuthority::open_or_create(&dir, test_urls(), &KeyProtection::Clear)
        .expect("create in empty dir");

    std::fs::remove_file(dir.join("intermediate.key")).expect("rm");
    match CertificateAuthority::open_or_create(&dir, test_urls(), &KeyProtection::Clear) {
        Err(CaError::Internal(msg)) => assert!(
            msg.contains("incomplete") && msg.contains("intermediate.key"),
            "{msg}"
        ),
        other => panic!("expected Internal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn mismatched_key_is_refused_on_load() {
    let (tmp, _ca) = new_ca();
    let dir = tmp.path().join("ca");
    let other = tmp.path().join("other");
    CertificateAuthority::open_or_create(&other, test_urls(), &KeyProtection::Clear)
        .expect("second CA");
    std::fs::copy(other.join("intermediate.key"), dir.join("intermediate.key")).expect("cp");
    match CertificateAuthority::open_or_create(&dir, test_urls(), &KeyProtection::Clear) {
        Err(CaError::Internal(msg)) => assert!(msg.contains("does not match"), "{msg}"),
        other => panic!("expected Internal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn issued_leaf_chains_to_root_and_has_the_profile() {
    let (tmp, ca) = new_ca();
    let csr = VerifiedCsr::parse_pem(&csr_pem(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        "www.example.com",
        &["csr-only.example.com"],
    ))
    .expect("csr");
    let issued = ca
        .issue(
            &csr,
            &profile(
                "www.example.com",
                &[
                    "example.com",
                    "WWW.example.com",
                    "api.example.com",
                    "example.com",
                ],
            ),
        )
        .expect("issue");
    openssl_verify(tmp.path(), &ca, &issued.pem);

    let der = leaf_der(&issued);
    let (_, leaf) = X509Certificate::from_der(&der).expect("parse leaf");
    assert_eq!(leaf.subject().to_string(), "CN=www.example.com");
    assert_eq!(leaf.issuer().to_string(), "CN=certd Issuing CA 1");
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .expect("san")
        .expect("san present")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    // CN first, duplicates (case-insensitive) removed, order kept; CSR's own SANs not used.
    assert_eq!(sans, ["www.example.com", "example.com", "api.example.com"]);
    assert_eq!(hex::encode_upper(leaf.raw_serial()), issued.serial_hex);
    assert_eq!(leaf.validity().not_before.timestamp(), issued.not_before);
    assert_eq!(leaf.validity().not_after.timestamp(), issued.not_after);
    assert_eq!(
        leaf.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );
    assert_eq!(
        leaf.public_key().subject_public_key.data.as_ref(),
        csr.public_key().der_bytes()
    );

    let bc = leaf.basic_constraints().expect("bc").expect("bc present");
    assert!(bc.critical && !bc.value.ca);
    let ku = leaf.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.digital_signature() && !ku.key_encipherment() && !ku.key_cert_sign());
    let eku = leaf
        .extended_key_usage()
        .expect("eku")
        .expect("eku present")
        .value;
    assert!(eku.server_auth && eku.client_auth && !eku.any);
    let int_der = cert_der(ca.intermediate_pem(), "int").expect("int pem");
    let (_, int) = X509Certificate::from_der(&int_der).expect("int");
    assert_eq!(aki(&leaf), Some(ski(&int)));
    assert!(!ski(&leaf).is_empty());
}

#[test]
fn csr_accessors() {
    let csr = VerifiedCsr::parse_pem(&csr_pem(
        &rcgen::PKCS_ECDSA_P384_SHA384,
        "a.example",
        &["a.example", "b.example"],
    ))
    .expect("P-384 accepted");
    assert_eq!(csr.key_description(), "ECDSA P-384");

    let csr = VerifiedCsr::parse_pem(&csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256, "c.example", &[]))
        .expect("P-256 accepted");
    assert_eq!(csr.key_description(), "ECDSA P-256");
}

#[test]
fn pem_framing_is_tolerant() {
    let pem = csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256, "crlf.example", &[]);
    let mangled = format!(
        "\r\n  {}  \r\n\r\n",
        pem.replace('\n', "\r\n  ")
            .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    );
    let csr = VerifiedCsr::parse_pem(&mangled).expect("tolerant parse");
    assert_eq!(csr.key_description(), "ECDSA P-256");
}

#[test]
fn rsa_2048_is_accepted_and_gets_key_encipherment() {
    let (tmp, ca) = new_ca();
    let pem = openssl_csr(tmp.path(), &["-newkey", "rsa:2048"], "rsa.example");
    let csr = VerifiedCsr::parse_pem(&pem).expect("RSA 2048 accepted");
    assert_eq!(csr.key_description(), "RSA 2048");
    let issued = ca.issue(&csr, &profile("rsa.example", &[])).expect("issue");
    openssl_verify(tmp.path(), &ca, &issued.pem);
    let der = leaf_der(&issued);
    let (_, leaf) = X509Certificate::from_der(&der).expect("parse leaf");
    let ku = leaf.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.digital_signature() && ku.key_encipherment());
    assert_eq!(
        leaf.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.1"
    );
}

#[test]
fn unacceptable_keys_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let msg = invalid_msg(VerifiedCsr::parse_pem(&openssl_csr(
        tmp.path(),
        &["-newkey", "rsa:1024"],
        "small",
    )));
    assert_eq!(
        msg,
        "RSA keys must be at least 2048 bits, this one has 1024"
    );

    let msg = invalid_msg(VerifiedCsr::parse_pem(&csr_pem(
        &rcgen::PKCS_ED25519,
        "ed.example",
        &[],
    )));
    assert!(
        msg.starts_with("only ECDSA P-256 and P-384 and RSA keys are accepted")
            && msg.contains("Ed25519"),
        "{msg}"
    );

    let p521 = openssl_csr(
        tmp.path(),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "p521",
    );
    let msg = invalid_msg(VerifiedCsr::parse_pem(&p521));
    assert!(msg.contains("P-521"), "{msg}");
}

#[test]
fn garbage_is_refused() {
    assert_eq!(
        invalid_msg(VerifiedCsr::parse_pem("hello")),
        "the CSR is not valid PEM"
    );
    assert_eq!(
        invalid_msg(VerifiedCsr::parse_pem("")),
        "the CSR is not valid PEM"
    );
    let bad_b64 = "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n";
    assert_eq!(
        invalid_msg(VerifiedCsr::parse_pem(bad_b64)),
        "the CSR is not valid PEM"
    );
    let not_csr = "-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE REQUEST-----\n";
    assert!(invalid_msg(VerifiedCsr::parse_pem(not_csr)).contains("not a valid PKCS#10"));
    let (_, ca) = new_ca();
    assert!(invalid_msg(VerifiedCsr::parse_pem(ca.root_pem())).contains("found \"CERTIFICATE\""));
}

#[test]
fn tampered_signature_is_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "tamper.example");
    let mut der = params.serialize_request(&key).expect("csr").der().to_vec();
    VerifiedCsr::parse_der(&der).expect("untampered CSR is fine");

    // Change the signed subject (tamper -> tamPer): still well-formed, signature no longer matches.
    let pos = der
        .windows(6)
        .position(|w| w == b"tamper")
        .expect("CN in DER");
    der[pos + 3] = b'P';
    assert_eq!(
        invalid_msg(VerifiedCsr::parse_der(&der)),
        "the CSR signature does not verify"
    );
}

#[test]
fn serials_are_random_positive_and_32_hex_chars() {
    let (_tmp, ca) = new_ca();
    let csr = VerifiedCsr::parse_pem(&csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256, "s.example", &[]))
        .expect("csr");
    let a = ca.issue(&csr, &profile("s.example", &[])).expect("issue");
    let b = ca.issue(&csr, &profile("s.example", &[])).expect("issue");
    assert_ne!(a.serial_hex, b.serial_hex);
    for issued in [&a, &b] {
        assert_eq!(issued.serial_hex.len(), 32);
        assert!(
            issued
                .serial_hex
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        let der = leaf_der(issued);
        let (_, leaf) = X509Certificate::from_der(&der).expect("parse leaf");
        // DER-level: 16 content bytes, first in 0x01..=0x7F => positive, no padding byte.
        let raw = leaf.raw_serial();
        assert_eq!(raw.len(), 16);
        assert!((0x01..=0x7F).contains(&raw[0]));
    }
    // Many draws never produce a zero or high-bit first byte.
    for _ in 0..10_000 {
        let s = issue::random_serial();
        assert!((0x01..=0x7F).contains(&s[0]));
    }
}

#[test]
fn bad_profiles_are_refused() {
    let (_tmp, ca) = new_ca();
    let csr = VerifiedCsr::parse_pem(&csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256, "x.example", &[]))
        .expect("csr");
    let mut p = profile("x.example", &["bücher.example"]);
    assert!(matches!(ca.issue(&csr, &p), Err(CaError::InvalidCsr(_))));
    p.dns_names.clear();
    p.not_after = p.not_before;
    assert!(matches!(ca.issue(&csr, &p), Err(CaError::Internal(_))));
    p.not_after = p.not_before + Duration::days(365 * 11);
    assert!(matches!(ca.issue(&csr, &p), Err(CaError::Internal(_))));
}

fn leaf_der(issued: &super::issue::IssuedCertificate) -> Vec<u8> {
    cert_der(&issued.pem, "leaf").expect("leaf pem")
}

fn test_urls() -> PublicUrls {
    PublicUrls::new("http://certd.test:8080")
}

// ---------------------------------------------------------------------------
// CRLs and OCSP
// ---------------------------------------------------------------------------

fn crl_spec(shard: u16, number: u64) -> CrlSpec {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    CrlSpec {
        shard,
        number,
        this_update: now,
        next_update: now + Duration::days(7),
    }
}

#[test]
fn crl_is_signed_by_the_intermediate_and_lists_entries() {
    let (_tmp, ca) = new_ca();
    let entries = vec![
        CrlEntry {
            serial: vec![0x01, 0x02, 0x03],
            revoked_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
            reason: crate::model::RevocationReason::KeyCompromise,
        },
        CrlEntry {
            serial: vec![0x04],
            revoked_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
            reason: crate::model::RevocationReason::Unspecified,
        },
    ];
    let der = ca.sign_crl(crl_spec(5, 42), &entries).expect("sign CRL");
    let (_, crl) = x509_parser::parse_x509_crl(&der).expect("parse CRL");
    let int_der = ca.intermediate_der().to_vec();
    let (_, int) = X509Certificate::from_der(&int_der).unwrap();
    crl.verify_signature(int.public_key()).expect("signature");
    assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("42".into()));
    let serials: Vec<Vec<u8>> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    assert_eq!(serials, vec![vec![0x01, 0x02, 0x03], vec![0x04]]);
    let reasons: Vec<_> = crl
        .iter_revoked_certificates()
        .map(|r| r.reason_code().map(|(_, c)| c.0))
        .collect();
    assert_eq!(
        reasons,
        vec![Some(1), None],
        "no reason code for unspecified"
    );
}

#[test]
fn ocsp_questions_about_other_issuers_are_not_ours() {
    let (_tmp, ca) = new_ca();
    let (_tmp2, other) = new_ca();
    let ours = OcspQuestion::for_serial(&ca, CertIdHash::Sha256, &[0x11]).unwrap();
    let theirs = OcspQuestion::for_serial(&other, CertIdHash::Sha1, &[0x11]).unwrap();
    assert!(ca.is_issuer_of(&ours));
    assert!(!ca.is_issuer_of(&theirs));
}

#[test]
fn ocsp_garbage_is_not_a_request() {
    for bytes in [&b""[..], b"\x30\x00", b"not der", &[0x30, 0x82, 0xff, 0xff]] {
        assert!(OcspQuery::parse(bytes).is_none(), "{bytes:?}");
    }
    assert_eq!(malformed_response(), vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
    assert_eq!(try_later_response(), vec![0x30, 0x03, 0x0a, 0x01, 0x03]);
}

#[test]
fn ocsp_response_answers_in_the_question_s_terms_and_verifies() {
    use der::{Decode, Encode};
    let (tmp, ca) = new_ca();
    let question = OcspQuestion::for_serial(&ca, CertIdHash::Sha1, &[0x42, 0x01]).unwrap();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let revoked = OcspStatus::Revoked {
        at: now,
        reason: crate::model::RevocationReason::Superseded,
    };
    let der = ca
        .sign_ocsp(&[(&question, revoked)], now, now + Duration::days(4), None)
        .expect("sign");
    // Decodes as RFC 6960 says, and re-encodes to the same bytes.
    let response = x509_ocsp::OcspResponse::from_der(&der).expect("decode");
    assert_eq!(response.to_der().unwrap(), der);
    // openssl checks the signature against the chain.
    std::fs::write(tmp.path().join("resp.der"), &der).unwrap();
    std::fs::write(
        tmp.path().join("chain.pem"),
        format!("{}{}", ca.intermediate_pem(), ca.root_pem()),
    )
    .unwrap();
    std::fs::write(tmp.path().join("issuer.pem"), ca.intermediate_pem()).unwrap();
    let out = Command::new("openssl")
        .current_dir(tmp.path())
        .args([
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-respin",
            "resp.der",
            "-CAfile",
            "chain.pem",
            "-resp_text",
            "-no_nonce",
        ])
        .output()
        .expect("run openssl");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(
        text.contains("Cert Status: revoked") && text.contains("superseded"),
        "{text}"
    );
    assert!(text.contains("Hash Algorithm: sha1"), "{text}");
}

/// A CSR's key hash is the issued certificate's, and both are the SHA-256 of
/// the key's SubjectPublicKeyInfo as openssl writes it.
#[test]
fn key_hashes_of_csr_and_certificate_agree() {
    use sha2::{Digest, Sha256};
    let (tmp, ca) = new_ca();
    for (name, newkey) in [
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        (
            "p384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
        ),
        ("rsa", &["-newkey", "rsa:2048"][..]),
    ] {
        let cn = format!("{name}.example");
        let csr = VerifiedCsr::parse_pem(&openssl_csr(tmp.path(), newkey, &cn)).expect("csr");
        let issued = ca.issue(&csr, &profile(&cn, &[])).expect("issue");
        let spki = Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(tmp.path().join(format!("{cn}.key")))
            .output()
            .expect("run openssl");
        assert!(spki.status.success(), "openssl pkey");
        let expected = hex::encode(Sha256::digest(&spki.stdout));
        assert_eq!(csr.spki_sha256(), expected, "{name}: CSR");
        assert_eq!(issued.spki_sha256, expected, "{name}: certificate");
        assert_eq!(
            spki_sha256_of_pem(&issued.pem).expect("PEM"),
            expected,
            "{name}: PEM"
        );
    }
    assert!(spki_sha256_of_pem("").is_err());
    assert!(
        spki_sha256_of_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err()
    );
}
