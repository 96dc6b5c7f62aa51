//! How certd recognises a key: the SHA-256 of the SubjectPublicKeyInfo DER,
//! as lower-case hex (RFC 7469's "SPKI fingerprint", and what the contract's
//! blocked keys name). A certificate's comes from its own bytes; a CSR's
//! ([`super::VerifiedCsr::spki_sha256`]) from the SubjectPublicKeyInfo that
//! certd writes into the certificate it signs for it, so the two agree.

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

use super::CaError;

/// The hash of these SubjectPublicKeyInfo bytes.
pub(crate) fn spki_sha256(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// The key hash of a DER certificate.
pub(crate) fn spki_sha256_of_der(der: &[u8]) -> Result<String, CaError> {
    let (_, certificate) = X509Certificate::from_der(der)
        .map_err(|e| CaError::Internal(format!("cannot parse a certificate: {e}")))?;
    Ok(spki_sha256(certificate.public_key().raw))
}

/// The key hash of a PEM certificate (the first block).
pub(crate) fn spki_sha256_of_pem(pem: &str) -> Result<String, CaError> {
    match parse_x509_pem(pem.as_bytes()) {
        Ok((_, block)) if block.label == "CERTIFICATE" => spki_sha256_of_der(&block.contents),
        _ => Err(CaError::Internal("not a PEM certificate".into())),
    }
}
