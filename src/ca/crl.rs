//! Signing one CRL shard (RFC 5280 §5): a v2 CRL with CRL number, AKI and an
//! issuing distribution point naming the shard's URL, so that relying parties
//! can tell a shard from a full CRL (RFC 5280 §5.2.5, partitioned CRLs).

use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    KeyIdMethod, RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use super::keys::signing_error;
use super::{CaError, CertificateAuthority};
use crate::model::RevocationReason;

/// One revoked certificate as a CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrlEntry {
    /// The certificate's serial number (DER INTEGER content bytes).
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// What to sign: the shard, its number and its validity window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CrlSpec {
    pub shard: u16,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

impl CertificateAuthority {
    /// Signs a CRL for `spec.shard` listing `entries`; returns its DER.
    pub(crate) fn sign_crl(&self, spec: CrlSpec, entries: &[CrlEntry]) -> Result<Vec<u8>, CaError> {
        let params = CertificateRevocationListParams {
            this_update: spec.this_update,
            next_update: spec.next_update,
            crl_number: SerialNumber::from(spec.number),
            issuing_distribution_point: Some(CrlIssuingDistributionPoint {
                distribution_point: CrlDistributionPoint {
                    uris: vec![self.urls.crl(spec.shard)],
                },
                scope: Some(CrlScope::UserCertsOnly),
            }),
            revoked_certs: entries.iter().map(revoked_cert).collect(),
            // The AKI must equal the intermediate's SKI byte for byte.
            key_identifier_method: KeyIdMethod::PreSpecified(self.issuer_identity.key_id.clone()),
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(|e| signing_error(&format!("CRL shard {}", spec.shard), e))?;
        Ok(crl.der().to_vec())
    }
}

fn revoked_cert(entry: &CrlEntry) -> RevokedCertParams {
    RevokedCertParams {
        serial_number: SerialNumber::from_slice(&entry.serial),
        revocation_time: entry.revoked_at,
        // RFC 5280 §5.3.1: the reasonCode extension is absent for unspecified.
        reason_code: crl_reason(entry.reason),
        invalidity_date: None,
    }
}

fn crl_reason(reason: RevocationReason) -> Option<rcgen::RevocationReason> {
    match reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(rcgen::RevocationReason::KeyCompromise),
        RevocationReason::AffiliationChanged => Some(rcgen::RevocationReason::AffiliationChanged),
        RevocationReason::Superseded => Some(rcgen::RevocationReason::Superseded),
        RevocationReason::CessationOfOperation => {
            Some(rcgen::RevocationReason::CessationOfOperation)
        }
        RevocationReason::PrivilegeWithdrawn => Some(rcgen::RevocationReason::PrivilegeWithdrawn),
    }
}
