//! certd's own HTTPS certificate (`certd serve --tls auto`): a leaf for the
//! public URL's host, signed by the intermediate through the same path as
//! every other leaf, for a P-256 key made in memory that never leaves it.
//! It is not recorded in the database: OCSP answers `unknown` for it, and it
//! is short-lived and renewed by the server instead.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use time::OffsetDateTime;

use super::csr::VerifiedCsr;
use super::issue::LeafProfile;
use super::{CaError, CertificateAuthority, now_whole_seconds};

/// How far back a server certificate's validity starts, for clients whose
/// clocks are a little behind.
const BACKDATE: time::Duration = time::Duration::minutes(5);

/// A server certificate and the key it certifies.
#[derive(Debug)]
pub(crate) struct ServerCertificate {
    /// The leaf, then the intermediate that signed it (PEM): what a server
    /// sends so that clients trusting only the root verify it.
    pub chain_pem: String,
    /// The private key; only ever in memory.
    pub key: KeyPair,
    /// Uppercase hex, as certificates' serials are shown elsewhere.
    pub serial_hex: String,
    pub not_after: OffsetDateTime,
}

impl CertificateAuthority {
    /// Issues a server certificate for `host` (a DNS name, or an IP address,
    /// bracketed or not, which gets an IP address SAN) valid for `validity`
    /// from now, or until the intermediate expires if that is sooner.
    pub(crate) fn issue_server_certificate(
        &self,
        host: &str,
        validity: Duration,
    ) -> Result<ServerCertificate, CaError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(CaError::Internal("no host to certify".into()));
        }
        let not_a_host =
            || CaError::Internal(format!("{host:?} is not a DNS name or an IP address"));
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_)
                if host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
            {
                SanType::DnsName(host.try_into().map_err(|_| not_a_host())?)
            }
            Err(_) => return Err(not_a_host()),
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Internal(format!("making a server key: {e}")))?;
        // Through a CSR, so that the key is certified exactly as a client's.
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .map_err(|e| CaError::Internal(format!("making a server CSR: {e}")))?;
        let csr = VerifiedCsr::parse_der(csr.der())?;

        let now = now_whole_seconds();
        let lifetime = time::Duration::try_from(validity)
            .map_err(|_| CaError::Internal("server certificate validity out of range".into()))?;
        let not_after = (now + lifetime).min(self.intermediate_not_after);
        if not_after <= now {
            return Err(CaError::Internal(
                "the intermediate CA certificate has expired".into(),
            ));
        }
        let profile = LeafProfile {
            common_name: host.to_string(),
            dns_names: Vec::new(),
            not_before: now - BACKDATE,
            not_after,
        };
        let issued = self.sign_leaf(&csr, &profile, vec![name])?;
        let mut chain_pem = issued.pem;
        if !chain_pem.ends_with('\n') {
            chain_pem.push('\n');
        }
        chain_pem.push_str(&self.intermediate_pem);
        Ok(ServerCertificate {
            chain_pem,
            key,
            serial_hex: issued.serial_hex,
            not_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use x509_parser::extensions::GeneralName;

    use super::*;
    use crate::ca::{KeyProtection, PublicUrls};

    /// The subject alternative names of a PEM chain's first certificate.
    fn names(chain_pem: &str) -> Vec<String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        san.value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                GeneralName::IPAddress(ip) => format!("IP:{}", hex::encode(ip)),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn server_certificates_name_the_host_as_a_dns_name_or_an_ip_address() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::open_or_create(
            &dir.path().join("ca"),
            PublicUrls::new("https://pki.example.com"),
            &KeyProtection::Clear,
        )
        .unwrap();
        let month = Duration::from_secs(30 * 24 * 3600);
        let issued = ca
            .issue_server_certificate("pki.example.com", month)
            .unwrap();
        assert_eq!(names(&issued.chain_pem), ["DNS:pki.example.com"]);
        // Leaf, then the intermediate.
        assert!(issued.chain_pem.ends_with(ca.intermediate_pem()));
        assert_eq!(issued.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        let left = issued.not_after - now_whole_seconds();
        assert!(left <= time::Duration::days(30) && left > time::Duration::days(29));

        let v4 = ca.issue_server_certificate("127.0.0.1", month).unwrap();
        assert_eq!(names(&v4.chain_pem), ["IP:7f000001"]);
        let v6 = ca.issue_server_certificate("[::1]", month).unwrap();
        assert_eq!(
            names(&v6.chain_pem),
            ["IP:00000000000000000000000000000001"]
        );
        // Each issue has its own key.
        assert_ne!(v4.key.public_key_pem(), v6.key.public_key_pem());
        assert!(ca.issue_server_certificate("", month).is_err());
        assert!(ca.issue_server_certificate("a b", month).is_err());
    }
}
