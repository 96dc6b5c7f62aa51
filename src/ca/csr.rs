//! Parsing and checking of PKCS#10 certificate signing requests.
//!
//! We parse with x509-parser directly rather than rcgen's
//! `CertificateSigningRequestParams::from_der`, because the latter refuses any CSR
//! carrying an extension it does not model (e.g. a requested SKI), and takes the
//! key algorithm from the *signature* algorithm rather than from the key itself.

use rcgen::{PublicKeyData, SignatureAlgorithm};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::error::X509Error;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::CaError;

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
const ACCEPTED: &str = "only ECDSA P-256 and P-384 and RSA keys are accepted";

/// A CSR whose self-signature verified and whose key is acceptable.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCsr {
    key: CsrPublicKey,
    key_description: String,
}

/// The subject public key taken from the CSR, in the shape rcgen needs to put it in a
/// certificate. rcgen writes a certificate's SubjectPublicKeyInfo as
/// `alg.write_oids_sign_alg()` + `der_bytes()`, so `alg` is chosen by *key type*
/// (rsaEncryption / ecPublicKey+curve), never by how the CSR happened to be signed.
#[derive(Debug, Clone)]
pub(crate) struct CsrPublicKey {
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
    pub(crate) is_rsa: bool,
}

impl PublicKeyData for CsrPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl VerifiedCsr {
    /// Parses a PEM "CERTIFICATE REQUEST" (or legacy "NEW CERTIFICATE REQUEST"),
    /// checks that its key is acceptable and that its self-signature verifies.
    pub(crate) fn parse_pem(pem: &str) -> Result<VerifiedCsr, CaError> {
        // Normalise line endings and indentation: the PEM reader wants "-----BEGIN"
        // at the very start of a line and is unhappy with stray '\r'.
        let normalised: String = pem.lines().map(|l| l.trim()).collect::<Vec<_>>().join("\n");
        let (_, block) = parse_x509_pem(normalised.as_bytes())
            .map_err(|_| invalid("the CSR is not valid PEM"))?;
        if block.label != "CERTIFICATE REQUEST" && block.label != "NEW CERTIFICATE REQUEST" {
            return Err(invalid(format!(
                "expected a PEM \"CERTIFICATE REQUEST\" block, found \"{}\"",
                block.label
            )));
        }
        Self::parse_der(&block.contents)
    }

    pub(crate) fn parse_der(der: &[u8]) -> Result<VerifiedCsr, CaError> {
        let csr = match X509CertificationRequest::from_der(der) {
            Ok(([], csr)) => csr,
            _ => {
                return Err(invalid(
                    "the CSR is not a valid PKCS#10 certificate request",
                ));
            }
        };
        let info = &csr.certification_request_info;

        // Check the key first, so that e.g. an RSA-1024 CSR gets "too small" rather than
        // the less helpful "signature does not verify" (ring refuses RSA < 2048 outright).
        let (key, key_description) = accept_key(&info.subject_pki)?;

        csr.verify_signature().map_err(|e| match e {
            X509Error::SignatureUnsupportedAlgorithm => invalid(format!(
                "the CSR is signed with an unsupported signature algorithm ({})",
                csr.signature_algorithm.algorithm.to_id_string()
            )),
            _ => invalid("the CSR signature does not verify"),
        })?;

        Ok(VerifiedCsr {
            key,
            key_description,
        })
    }

    /// e.g. "ECDSA P-256", "RSA 2048".
    pub(crate) fn key_description(&self) -> &str {
        &self.key_description
    }

    pub(crate) fn public_key(&self) -> &CsrPublicKey {
        &self.key
    }

    /// The SHA-256 (lower-case hex) of the SubjectPublicKeyInfo that a
    /// certificate for this CSR carries: rcgen writes exactly these bytes
    /// (the key type's algorithm identifier, then the key), so it is the
    /// hash of the issued certificate's key, whatever parameters the CSR's
    /// own SubjectPublicKeyInfo spelled. Checked against blocked keys before
    /// signing.
    pub(crate) fn spki_sha256(&self) -> String {
        super::spki_hash::spki_sha256(&self.key.subject_public_key_info())
    }
}

fn invalid(msg: impl Into<String>) -> CaError {
    CaError::InvalidCsr(msg.into())
}

/// Decides whether the CSR's key is one we certify, and describes it.
fn accept_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<(CsrPublicKey, String), CaError> {
    let raw = spki.subject_public_key.data.to_vec();
    let key_oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa_modulus_bits(rsa.modulus);
            if bits < MIN_RSA_BITS {
                return Err(invalid(format!(
                    "RSA keys must be at least {MIN_RSA_BITS} bits, this one has {bits}"
                )));
            }
            if bits > MAX_RSA_BITS {
                return Err(invalid(format!(
                    "RSA keys must be at most {MAX_RSA_BITS} bits, this one has {bits}"
                )));
            }
            // PKCS_RSA_SHA256's key OIDs are rsaEncryption + NULL, the standard encoding.
            let key = CsrPublicKey {
                raw,
                alg: &rcgen::PKCS_RSA_SHA256,
                is_rsa: true,
            };
            Ok((key, format!("RSA {bits}")))
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            let (alg, name) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => (&rcgen::PKCS_ECDSA_P256_SHA256, "ECDSA P-256"),
                "1.3.132.0.34" => (&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA P-384"),
                "1.3.132.0.35" => return Err(refused("an ECDSA P-521 key")),
                "1.3.132.0.10" => return Err(refused("an ECDSA secp256k1 key")),
                "" => return Err(refused("an EC key with no named curve")),
                other => return Err(refused(&format!("an EC key on curve {other}"))),
            };
            let key = CsrPublicKey {
                raw,
                alg,
                is_rsa: false,
            };
            Ok((key, name.to_owned()))
        }
        Ok(PublicKey::DSA(_)) => Err(refused("a DSA key")),
        Err(_) if key_oid == "1.2.840.113549.1.1.1" => {
            Err(invalid("the CSR's RSA public key is malformed"))
        }
        _ => Err(refused(match key_oid.as_str() {
            "1.3.101.112" => "an Ed25519 key",
            "1.3.101.113" => "an Ed448 key",
            "1.2.840.113549.1.1.10" => "an RSA-PSS-only key",
            other => return Err(refused(&format!("a key of type {other}"))),
        })),
    }
}

fn refused(found: &str) -> CaError {
    invalid(format!("{ACCEPTED}; this CSR has {found}"))
}

/// Bit length of a big-endian unsigned modulus (DER may add leading zero bytes).
/// x509-parser's own `key_size()` assumes exactly one leading zero, so we count ourselves.
fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    match modulus.get(start) {
        Some(&first) => (modulus.len() - start) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}
