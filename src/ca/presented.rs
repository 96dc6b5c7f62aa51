//! What ACME clients present in DER: a finalize's CSR and a revokeCert's
//! certificate, read into what the service compares.

use base64::Engine;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

use super::CaError;

/// A CSR's DER as the PEM text certd stores with orders.
pub(crate) fn csr_pem_of_der(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE REQUEST-----\n");
    pem
}

/// The names a CSR asks for: its subject's common names and its
/// subjectAltName dNSNames (RFC 8555 §7.4 compares them with the order).
pub(crate) fn csr_requested_names(der: &[u8]) -> Result<Vec<String>, CaError> {
    let csr = match X509CertificationRequest::from_der(der) {
        Ok(([], csr)) => csr,
        _ => {
            return Err(CaError::InvalidCsr(
                "the CSR is not a valid PKCS#10 certificate request".into(),
            ));
        }
    };
    let mut names: Vec<String> = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    for extension in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push(dns.to_string()),
                    other => {
                        return Err(CaError::InvalidCsr(format!(
                            "the CSR asks for a subjectAltName certd cannot validate: {other}"
                        )));
                    }
                }
            }
        }
    }
    Ok(names)
}

/// A certificate a client presents: its serial (as certd stores serials)
/// and its key.
pub(crate) struct PresentedCertificate {
    pub serial_hex: String,
    pub spki_der: Vec<u8>,
}

pub(crate) fn read_presented_certificate(der: &[u8]) -> Result<PresentedCertificate, CaError> {
    let certificate = match X509Certificate::from_der(der) {
        Ok(([], certificate)) => certificate,
        _ => {
            return Err(CaError::InvalidCsr(
                "the certificate is not valid DER".into(),
            ));
        }
    };
    Ok(PresentedCertificate {
        serial_hex: hex::encode_upper(certificate.raw_serial()),
        spki_der: certificate.public_key().raw.to_vec(),
    })
}

/// The DER of a stored PEM certificate (its first block).
pub(crate) fn der_of_pem_certificate(pem: &str) -> Option<Vec<u8>> {
    match parse_x509_pem(pem.as_bytes()) {
        Ok((_, block)) if block.label == "CERTIFICATE" => Some(block.contents),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csr_names_its_common_name_and_alternative_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["b.example".into(), "c.example".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.example");
        let csr = params.serialize_request(&key).unwrap();
        let names = csr_requested_names(csr.der()).unwrap();
        assert_eq!(names, ["a.example", "b.example", "c.example"]);
        let pem = csr_pem_of_der(csr.der());
        assert!(super::super::VerifiedCsr::parse_pem(&pem).is_ok());
        assert!(csr_requested_names(b"junk").is_err());
    }
}
