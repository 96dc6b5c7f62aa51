//! Signing leaf certificates with the intermediate.

use const_oid::db::rfc5280::{ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_PE_AUTHORITY_INFO_ACCESS};
use der::Encode;
use der::asn1::Ia5String;
use rand::RngCore;
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use super::csr::VerifiedCsr;
use super::keys::signing_error;
use super::spki_hash::spki_sha256_of_der;
use super::urls::{PublicUrls, crl_shard_of};
use super::{CaError, CertificateAuthority, whole_seconds};

/// What the leaf certificate should say; the key comes from the CSR.
#[derive(Debug, Clone)]
pub(crate) struct LeafProfile {
    pub common_name: String,
    /// SAN = common_name + these, deduplicated (case-insensitively), order kept (CN first).
    pub dns_names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedCertificate {
    /// Uppercase hex of the DER serial, always 32 characters.
    pub serial_hex: String,
    /// The CRL shard named in the certificate's distribution point.
    pub crl_shard: u16,
    pub pem: String,
    /// SHA-256 (lower-case hex) of the certificate's SubjectPublicKeyInfo
    /// DER, read from the signed certificate (see `spki_hash`).
    pub spki_sha256: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertificateAuthority {
    /// Signs a leaf for the CSR's public key. Pure CPU work: no disk I/O.
    pub(crate) fn issue(
        &self,
        csr: &VerifiedCsr,
        profile: &LeafProfile,
    ) -> Result<IssuedCertificate, CaError> {
        if profile.common_name.is_empty() {
            return Err(CaError::InvalidCsr(
                "the certificate needs a common name".into(),
            ));
        }
        let mut names = Vec::new();
        for name in san_list(&profile.common_name, &profile.dns_names) {
            let ia5 = name
                .as_str()
                .try_into()
                .map_err(|_| CaError::InvalidCsr(format!("\"{name}\" is not a valid DNS name")))?;
            names.push(SanType::DnsName(ia5));
        }
        self.sign_leaf(csr, profile, names)
    }

    /// Signs a leaf naming `names` as its subject alternative names (the
    /// profile's `dns_names` are not read): [`Self::issue`], and certd's
    /// own server certificate, which may name an IP address.
    pub(super) fn sign_leaf(
        &self,
        csr: &VerifiedCsr,
        profile: &LeafProfile,
        names: Vec<SanType>,
    ) -> Result<IssuedCertificate, CaError> {
        // X.509 times have whole-second precision; truncate so the returned
        // timestamps are exactly what is in the certificate.
        let not_before = whole_seconds(profile.not_before);
        let not_after = whole_seconds(profile.not_after);
        if not_after <= not_before {
            return Err(CaError::Internal(
                "leaf not_after must be after not_before".into(),
            ));
        }
        if not_after > self.intermediate_not_after {
            return Err(CaError::Internal(
                "leaf would outlive the issuing CA certificate".into(),
            ));
        }

        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));

        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, profile.common_name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = names;

        // ExplicitNoCa makes rcgen write a critical BasicConstraints CA:false and the SKI.
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if csr.public_key().is_rsa {
            // RSA key exchange (TLS 1.2 RSA kx) encrypts the premaster secret to the key.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let crl_shard = crl_shard_of(&serial);
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![self.urls.crl(crl_shard)],
        }];
        params
            .custom_extensions
            .push(authority_info_access(&self.urls)?);

        let cert = params
            .signed_by(csr.public_key(), &self.issuer)
            .map_err(|e| signing_error("a certificate", e))?;

        Ok(IssuedCertificate {
            serial_hex: hex::encode_upper(serial),
            crl_shard,
            spki_sha256: spki_sha256_of_der(cert.der())?,
            pem: cert.pem(),
            not_before: not_before.unix_timestamp(),
            not_after: not_after.unix_timestamp(),
        })
    }
}

/// 16 random bytes whose first byte is in 0x01..=0x7F: the DER INTEGER is then positive,
/// exactly 16 bytes (no 0x00 padding, no stripping) and its hex is always 32 chars.
/// That leaves ~127 bits of entropy, well above the CA/B Forum's 64.
pub(crate) fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    serial[0] = 1 + serial[0] % 0x7F;
    serial
}

/// The AIA extension (RFC 5280 §4.2.2.1): where the OCSP responder and the
/// issuing certificate are.
fn authority_info_access(urls: &PublicUrls) -> Result<CustomExtension, CaError> {
    let uri = |url: String| {
        Ia5String::new(&url)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(|e| CaError::Internal(format!("public URL {url:?} is not IA5: {e}")))
    };
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(urls.ocsp())?,
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: uri(urls.issuer_certificate())?,
        },
    ]);
    let der = aia
        .to_der()
        .map_err(|e| CaError::Internal(format!("encoding AIA: {e}")))?;
    let oid: Vec<u64> = ID_PE_AUTHORITY_INFO_ACCESS.arcs().map(u64::from).collect();
    Ok(CustomExtension::from_oid_content(&oid, der))
}

/// CN first, then the extra names; duplicates (DNS names are case-insensitive) dropped.
fn san_list(common_name: &str, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(extra.len() + 1);
    for name in std::iter::once(common_name).chain(extra.iter().map(String::as_str)) {
        if !name.is_empty() && !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_owned());
        }
    }
    out
}
