//! OCSP (RFC 6960): parsing requests and signing responses with the issuing
//! intermediate itself (no delegated responder), so relying parties need no
//! extra certificate.
//!
//! Types come from RustCrypto's `x509-ocsp`; the signature is made with the
//! intermediate's key directly (ring), which is far faster than the crate's
//! builder with a pure-Rust signer.

use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use rcgen::SigningKey;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
    Version,
};

use super::keys::signing_error;
use super::{CaError, CertificateAuthority};
use crate::model::RevocationReason;

const ID_SHA1: const_oid::ObjectIdentifier = const_oid::db::rfc5912::ID_SHA_1;
const ID_SHA256: const_oid::ObjectIdentifier = const_oid::db::rfc5912::ID_SHA_256;
const ECDSA_WITH_SHA256: const_oid::ObjectIdentifier = const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
const ID_PKIX_OCSP_BASIC: const_oid::ObjectIdentifier = const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC;
const ID_PKIX_OCSP_NONCE: const_oid::ObjectIdentifier = const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;

/// The hash algorithm of a request's CertID; certd answers in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CertIdHash {
    Sha1,
    Sha256,
}

/// What the issuing CA looks like in CertIDs: hashes of its name and key.
#[derive(Debug, Clone)]
pub(super) struct IssuerIdentity {
    name_sha1: Vec<u8>,
    key_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha256: Vec<u8>,
    /// Subject key identifier, used as the CRLs' AKI.
    pub key_id: Vec<u8>,
}

impl IssuerIdentity {
    pub(super) fn new(subject_der: &[u8], public_key_bits: &[u8], key_id: Vec<u8>) -> Self {
        IssuerIdentity {
            name_sha1: Sha1::digest(subject_der).to_vec(),
            key_sha1: Sha1::digest(public_key_bits).to_vec(),
            name_sha256: Sha256::digest(subject_der).to_vec(),
            key_sha256: Sha256::digest(public_key_bits).to_vec(),
            key_id,
        }
    }

    fn hashes(&self, hash: CertIdHash) -> (&[u8], &[u8]) {
        match hash {
            CertIdHash::Sha1 => (&self.name_sha1, &self.key_sha1),
            CertIdHash::Sha256 => (&self.name_sha256, &self.key_sha256),
        }
    }
}

/// One certificate asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OcspQuestion {
    cert_id: CertId,
    /// `None` when the CertID's hash algorithm is not one certd knows.
    pub hash: Option<CertIdHash>,
    /// The serial number's DER INTEGER content bytes.
    pub serial: Vec<u8>,
}

/// A parsed OCSP request.
#[derive(Debug, Clone)]
pub(crate) struct OcspQuery {
    pub questions: Vec<OcspQuestion>,
    /// The request's nonce extension, echoed in the response (RFC 6960 §4.4.1).
    pub nonce: Option<Extension>,
}

/// The answer for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OcspStatus {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: RevocationReason,
    },
    Unknown,
}

/// Most CertIDs a request may carry; more is refused as malformed.
const MAX_QUESTIONS: usize = 64;

impl OcspQuery {
    /// Parses a DER `OCSPRequest`. `None` means the bytes are not one.
    pub(crate) fn parse(der: &[u8]) -> Option<OcspQuery> {
        let request = OcspRequest::from_der(der).ok()?;
        let tbs = request.tbs_request;
        if tbs.request_list.is_empty() || tbs.request_list.len() > MAX_QUESTIONS {
            return None;
        }
        let nonce = tbs
            .request_extensions
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE);
        let questions = tbs
            .request_list
            .into_iter()
            .map(|r| OcspQuestion {
                hash: match r.req_cert.hash_algorithm.oid {
                    ID_SHA1 => Some(CertIdHash::Sha1),
                    ID_SHA256 => Some(CertIdHash::Sha256),
                    _ => None,
                },
                serial: r.req_cert.serial_number.as_bytes().to_vec(),
                cert_id: r.req_cert,
            })
            .collect();
        Some(OcspQuery { questions, nonce })
    }
}

impl OcspQuestion {
    /// The question a client such as openssl sends about `serial` (DER
    /// INTEGER content bytes) in `hash` terms, hash parameters NULL: what
    /// answers signed ahead of any question name. `None` if the serial is
    /// not a valid serial number.
    pub(crate) fn for_serial(
        ca: &CertificateAuthority,
        hash: CertIdHash,
        serial: &[u8],
    ) -> Option<Self> {
        use der::asn1::Null;
        use x509_cert::serial_number::SerialNumber;
        let (name, key) = ca.issuer_identity.hashes(hash);
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: match hash {
                    CertIdHash::Sha1 => ID_SHA1,
                    CertIdHash::Sha256 => ID_SHA256,
                },
                parameters: Some(Null.into()),
            },
            issuer_name_hash: OctetString::new(name).ok()?,
            issuer_key_hash: OctetString::new(key).ok()?,
            serial_number: SerialNumber::new(serial).ok()?,
        };
        Some(OcspQuestion {
            cert_id,
            hash: Some(hash),
            serial: serial.to_vec(),
        })
    }

    #[cfg(test)]
    pub(super) fn cert_id_for_tests(&self) -> CertId {
        self.cert_id.clone()
    }
}

/// The `malformedRequest` answer (RFC 6960 §4.2.1): a status, no signature.
pub(crate) fn malformed_response() -> Vec<u8> {
    unsigned_response(OcspResponseStatus::MalformedRequest)
}

/// The `internalError` answer, for when the status cannot be looked up.
pub(crate) fn internal_error_response() -> Vec<u8> {
    unsigned_response(OcspResponseStatus::InternalError)
}

/// The `tryLater` answer, for when the database is away for a while.
pub(crate) fn try_later_response() -> Vec<u8> {
    unsigned_response(OcspResponseStatus::TryLater)
}

fn unsigned_response(status: OcspResponseStatus) -> Vec<u8> {
    OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    // Encoding a two-field SEQUENCE with an enum cannot fail; keep a valid
    // hand-written fallback rather than a panic all the same.
    .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status as u8])
}

impl CertificateAuthority {
    /// True when the CertID names certd's issuing intermediate.
    pub(crate) fn is_issuer_of(&self, question: &OcspQuestion) -> bool {
        let Some(hash) = question.hash else {
            return false;
        };
        let (name, key) = self.issuer_identity.hashes(hash);
        question.cert_id.issuer_name_hash.as_bytes() == name
            && question.cert_id.issuer_key_hash.as_bytes() == key
    }

    /// Signs a successful OCSP response answering each question with its status.
    pub(crate) fn sign_ocsp(
        &self,
        answers: &[(&OcspQuestion, OcspStatus)],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        nonce: Option<&Extension>,
    ) -> Result<Vec<u8>, CaError> {
        let encoding = |e: der::Error| CaError::Internal(format!("encoding OCSP response: {e}"));
        let produced_at = ocsp_time(this_update)?;
        let next = ocsp_time(next_update)?;
        let responses = answers
            .iter()
            .map(|(question, status)| {
                Ok(SingleResponse {
                    cert_id: question.cert_id.clone(),
                    cert_status: cert_status(*status)?,
                    this_update: produced_at,
                    next_update: Some(next),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(
                OctetString::new(self.issuer_identity.key_sha1.clone()).map_err(encoding)?,
            ),
            produced_at,
            responses,
            response_extensions: nonce.map(|n| vec![n.clone()]),
        };
        let tbs_der = tbs.to_der().map_err(encoding)?;
        let signature = self
            .issuer
            .key()
            .sign(&tbs_der)
            .map_err(|e| signing_error("an OCSP response", e))?;
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&signature).map_err(encoding)?,
            certs: None,
        };
        OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der().map_err(encoding)?).map_err(encoding)?,
            }),
        }
        .to_der()
        .map_err(encoding)
    }
}

fn cert_status(status: OcspStatus) -> Result<CertStatus, CaError> {
    Ok(match status {
        OcspStatus::Good => CertStatus::good(),
        OcspStatus::Unknown => CertStatus::unknown(),
        OcspStatus::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
            revocation_time: ocsp_time(at)?,
            // As in the CRL: no reason for unspecified.
            revocation_reason: crl_reason(reason),
        }),
    })
}

fn crl_reason(reason: RevocationReason) -> Option<CrlReason> {
    match reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(CrlReason::KeyCompromise),
        RevocationReason::AffiliationChanged => Some(CrlReason::AffiliationChanged),
        RevocationReason::Superseded => Some(CrlReason::Superseded),
        RevocationReason::CessationOfOperation => Some(CrlReason::CessationOfOperation),
        RevocationReason::PrivilegeWithdrawn => Some(CrlReason::PrivilegeWithdrawn),
    }
}

fn ocsp_time(t: OffsetDateTime) -> Result<OcspGeneralizedTime, CaError> {
    let seconds = u64::try_from(t.unix_timestamp())
        .map_err(|_| CaError::Internal("OCSP time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
        .map(OcspGeneralizedTime)
        .map_err(|e| CaError::Internal(format!("OCSP time: {e}")))
}
