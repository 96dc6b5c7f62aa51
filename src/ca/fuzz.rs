//! Property tests of the parsers that see untrusted bytes: CSRs, OCSP
//! requests, certificate references. Whatever the input, they answer (a value
//! or a clear error) and never panic. Bounded case counts keep `cargo test`
//! fast; `PROPTEST_CASES=100000 cargo test --lib fuzz` runs longer.

use proptest::prelude::*;

use super::*;
use crate::service::CertificateRef;

fn valid_csr_pem() -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["fuzz.example.com".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn valid_ocsp_request(ca: &CertificateAuthority) -> Vec<u8> {
    use der::Encode;
    let question = OcspQuestion::for_serial(ca, CertIdHash::Sha256, &[0x12, 0x34]).unwrap();
    x509_ocsp::OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: question.cert_id_for_tests(),
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Flips, drops or inserts bytes of `base` at the positions proptest picks.
fn mutate(mut base: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(position, value, kind) in edits {
        if base.is_empty() {
            base.push(value);
            continue;
        }
        let at = position % base.len();
        match kind % 3 {
            0 => base[at] ^= value | 1,
            1 => {
                base.remove(at);
            }
            _ => base.insert(at, value),
        }
    }
    base
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csr_parser_never_panics_on_text(text in ".{0,2000}") {
        let _ = VerifiedCsr::parse_pem(&text);
    }

    #[test]
    fn csr_parser_never_panics_on_mutated_csrs(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        // Mutate the DER inside the PEM, so the parser sees well-formed PEM
        // around broken ASN.1 (mutating PEM text mostly breaks base64 only).
        let pem = valid_csr_pem();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let der = mutate(block.contents, &edits);
        let text = pem_wrap("CERTIFICATE REQUEST", &der);
        let _ = VerifiedCsr::parse_pem(&text);
    }

    #[test]
    fn ocsp_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = OcspQuery::parse(&bytes);
    }

    #[test]
    fn ocsp_parser_never_panics_on_mutated_requests(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::open_or_create(&dir.path().join("ca"), PublicUrls::new("http://fuzz.test"), &super::KeyProtection::Clear).unwrap();
        let request = valid_ocsp_request(&ca);
        prop_assert!(OcspQuery::parse(&request).is_some());
        if let Some(query) = OcspQuery::parse(&mutate(request, &edits)) {
            // Whatever parsed is answerable.
            let now = time::OffsetDateTime::now_utc();
            let answers: Vec<_> = query.questions.iter().map(|q| (q, OcspStatus::Unknown)).collect();
            prop_assert!(ca.sign_ocsp(&answers, now, now + time::Duration::days(1), query.nonce.as_ref()).is_ok());
        }
    }

    #[test]
    fn certificate_references_never_panic(text in ".{0,100}") {
        if let Some(CertificateRef::Id(id)) = CertificateRef::parse(&text) {
            prop_assert!(id > 0);
        }
    }
}
