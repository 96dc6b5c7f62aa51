//! certd's own issuing CA: a self-signed root and one intermediate, both ECDSA P-256,
//! kept in a directory on disk; leaves are signed by the intermediate from client CSRs.
//!
//! Only the intermediate's key is held in memory; the root key is read once at startup
//! to check it matches its certificate, then dropped.

mod crl;
mod csr;
mod issue;
mod ocsp;
mod presented;
mod spki_hash;
mod store;
mod urls;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use std::path::Path;

use rcgen::{Issuer, KeyPair};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

pub(crate) use crl::{CrlEntry, CrlSpec};
pub(crate) use csr::VerifiedCsr;
pub(crate) use issue::{IssuedCertificate, LeafProfile};
pub(crate) use ocsp::{
    CertIdHash, OcspQuery, OcspQuestion, OcspStatus, internal_error_response, malformed_response,
    try_later_response,
};
pub(crate) use presented::{
    csr_pem_of_der, csr_requested_names, der_of_pem_certificate, read_presented_certificate,
};
pub(crate) use spki_hash::spki_sha256_of_pem;
pub(crate) use urls::PublicUrls;
pub use urls::{CRL_SHARDS, crl_shard_of};

use ocsp::IssuerIdentity;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CaError {
    /// The CSR is unusable; the String is a human sentence safe to show the client.
    #[error("{0}")]
    InvalidCsr(String),
    /// Anything else (I/O on the key directory, signing failure): internal, never shown to clients.
    #[error("certificate authority error: {0}")]
    Internal(String),
}

/// Root + intermediate certificates and the intermediate's signing key, parsed once.
/// `Send + Sync`; signing does no I/O.
#[derive(Debug)]
pub(crate) struct CertificateAuthority {
    /// Intermediate subject, SKI (used as leaves' AKI) and signing key.
    issuer: Issuer<'static, KeyPair>,
    /// The same key again, for OCSP responses (rcgen's `Issuer` keeps its key private).
    ocsp_key: KeyPair,
    /// The intermediate's name and key hashes, as OCSP CertIDs carry them.
    issuer_identity: IssuerIdentity,
    intermediate_not_after: OffsetDateTime,
    root_pem: String,
    intermediate_pem: String,
    intermediate_der: Vec<u8>,
    urls: PublicUrls,
}

impl CertificateAuthority {
    /// Loads the CA from `dir`; `None` if there is none (the command line's
    /// local mode must find the server's CA, never make its own).
    pub(crate) fn open_existing(
        dir: &Path,
        urls: PublicUrls,
    ) -> Result<Option<CertificateAuthority>, CaError> {
        store::read(dir)?
            .map(|material| Self::load(material, urls))
            .transpose()
    }

    /// Loads the CA from `dir`, or creates it there on first use (see `store`).
    /// `urls` are written into every leaf it signs.
    pub(crate) fn open_or_create(
        dir: &Path,
        urls: PublicUrls,
    ) -> Result<CertificateAuthority, CaError> {
        if let Some(material) = store::read(dir)? {
            return Self::load(material, urls);
        }
        store::install(dir, &store::generate()?)?;
        // Read back what is on disk (ours, or a concurrent creator's) through the one load path.
        match store::read(dir)? {
            Some(material) => Self::load(material, urls),
            None => Err(CaError::Internal(format!(
                "CA directory {} is still empty after creating it",
                dir.display()
            ))),
        }
    }

    /// The CA directory's files, name and contents, for a backup; `None` if
    /// `dir` holds no CA. They are checked to form a working CA first, so a
    /// backup never carries a broken one.
    pub(crate) fn read_files(dir: &Path) -> Result<Option<Vec<(String, String)>>, CaError> {
        let Some(material) = store::read(dir)? else {
            return Ok(None);
        };
        let files = material
            .files()
            .map(|(name, contents)| (name.to_string(), contents.to_string()));
        Self::check(material)?;
        Ok(Some(files.into()))
    }

    /// Writes a CA directory from files by name (a backup's): `dir` must not
    /// exist yet; it is created 0700 with the modes certd gives the files
    /// (keys 0600). The files must form a working CA, checked by the same
    /// path as start-up before anything is written.
    pub(crate) fn write_files(dir: &Path, files: &[(String, String)]) -> Result<(), CaError> {
        let material = store::Material::from_files(
            files
                .iter()
                .map(|(name, contents)| (name.as_str(), contents.as_str())),
        )?;
        Self::check(material.clone())?;
        store::write_new_dir(dir, &material)
    }

    /// Loads the material as start-up would (keys match certificates, the
    /// intermediate is signed by the root), for its errors only.
    fn check(material: store::Material) -> Result<(), CaError> {
        // The URLs only go into what the CA signs; nothing is signed here.
        Self::load(material, PublicUrls::new("http://localhost")).map(drop)
    }

    pub(crate) fn root_pem(&self) -> &str {
        &self.root_pem
    }

    pub(crate) fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }

    pub(crate) fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// The issuing CA's Subject Key Identifier, which its certificates name
    /// as their Authority Key Identifier (and RFC 9773 certIDs carry).
    pub(crate) fn key_identifier(&self) -> Option<Vec<u8>> {
        use x509_parser::extensions::ParsedExtension;
        let (_, certificate) = x509_parser::parse_x509_certificate(&self.intermediate_der).ok()?;
        certificate
            .extensions()
            .iter()
            .find_map(|extension| match extension.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            })
    }

    pub(crate) fn urls(&self) -> &PublicUrls {
        &self.urls
    }

    /// Parses and cross-checks the four files.
    fn load(m: store::Material, urls: PublicUrls) -> Result<CertificateAuthority, CaError> {
        let root_der = cert_der(&m.root_cert, store::ROOT_CERT)?;
        let int_der = cert_der(&m.intermediate_cert, store::INTERMEDIATE_CERT)?;
        let root = parse_cert(&root_der, store::ROOT_CERT)?;
        let int = parse_cert(&int_der, store::INTERMEDIATE_CERT)?;

        let root_key = load_key(&m.root_key, store::ROOT_KEY)?;
        let int_key = load_key(&m.intermediate_key, store::INTERMEDIATE_KEY)?;
        let ocsp_key = load_key(&m.intermediate_key, store::INTERMEDIATE_KEY)?;
        key_matches(&root_key, &root, store::ROOT_KEY, store::ROOT_CERT)?;
        key_matches(
            &int_key,
            &int,
            store::INTERMEDIATE_KEY,
            store::INTERMEDIATE_CERT,
        )?;
        int.verify_signature(Some(root.public_key())).map_err(|_| {
            CaError::Internal(format!(
                "{} is not signed by {}",
                store::INTERMEDIATE_CERT,
                store::ROOT_CERT
            ))
        })?;

        let intermediate_not_after = int.validity().not_after.to_datetime();
        let issuer_identity = IssuerIdentity::new(
            int.subject().as_raw(),
            &int.public_key().subject_public_key.data,
            subject_key_id(&int)?,
        );
        // Takes the intermediate's subject and SKI from the certificate itself, so leaves'
        // issuer name and AKI match it byte for byte.
        let issuer =
            Issuer::from_ca_cert_der(&int_der.as_slice().into(), int_key).map_err(|e| {
                CaError::Internal(format!(
                    "cannot use {} as issuer: {e}",
                    store::INTERMEDIATE_CERT
                ))
            })?;

        Ok(CertificateAuthority {
            issuer,
            ocsp_key,
            issuer_identity,
            intermediate_not_after,
            root_pem: m.root_cert,
            intermediate_pem: m.intermediate_cert,
            intermediate_der: int_der,
            urls,
        })
    }
}

/// The current time to the second (see [`whole_seconds`]).
pub(crate) fn now_whole_seconds() -> OffsetDateTime {
    whole_seconds(OffsetDateTime::now_utc())
}

/// `t` without its fraction of a second: X.509, CRL and OCSP times have
/// whole-second precision, so values kept beside them must too.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    // replace_nanosecond only fails for values >= 1e9, and 0 is always valid.
    t.replace_nanosecond(0).unwrap_or(t)
}

fn cert_der(pem: &str, file: &str) -> Result<Vec<u8>, CaError> {
    match parse_x509_pem(pem.as_bytes()) {
        Ok((_, block)) if block.label == "CERTIFICATE" => Ok(block.contents),
        _ => Err(CaError::Internal(format!(
            "{file} does not hold a PEM certificate"
        ))),
    }
}

fn parse_cert<'a>(der: &'a [u8], file: &str) -> Result<X509Certificate<'a>, CaError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| CaError::Internal(format!("cannot parse {file}: {e}")))
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Result<Vec<u8>, CaError> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            CaError::Internal(format!(
                "{} has no subject key identifier",
                store::INTERMEDIATE_CERT
            ))
        })
}

fn load_key(pem: &str, file: &str) -> Result<KeyPair, CaError> {
    KeyPair::from_pem(pem).map_err(|e| CaError::Internal(format!("cannot load {file}: {e}")))
}

/// A key/cert mix-up (e.g. a restored backup of only one file) would otherwise produce
/// leaves that fail to verify; catch it at startup instead.
fn key_matches(
    key: &KeyPair,
    cert: &X509Certificate<'_>,
    key_file: &str,
    cert_file: &str,
) -> Result<(), CaError> {
    if key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref() {
        Ok(())
    } else {
        Err(CaError::Internal(format!(
            "{key_file} does not match the public key in {cert_file}"
        )))
    }
}
