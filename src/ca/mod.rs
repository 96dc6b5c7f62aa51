//! certd's own issuing CA: a self-signed root and one intermediate, both ECDSA P-256,
//! their certificates kept in a directory on disk and their keys there too (in
//! clear or encrypted) or in a PKCS#11 token (see `keys`); leaves are signed by
//! the intermediate from client CSRs.
//!
//! Only the intermediate's key is kept open; the root key is opened once at
//! startup to check it matches its certificate, then dropped.

mod crl;
mod csr;
mod issue;
mod keys;
mod ocsp;
mod presented;
mod server_cert;
mod spki_hash;
mod store;
mod token;
mod urls;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod key_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

use rcgen::{Issuer, KeyPair, PublicKeyData, SigningKey};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

pub(crate) use crl::{CrlEntry, CrlSpec};
pub(crate) use csr::VerifiedCsr;
pub(crate) use issue::{IssuedCertificate, LeafProfile};
pub(crate) use keys::{KeyProtection, Passphrase, TokenConfig};
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

use keys::{CaKey, decrypt_pem, encrypt_pem, is_encrypted};
use ocsp::IssuerIdentity;
use store::StoredKeys;
use token::Token;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CaError {
    /// The CSR is unusable; the String is a human sentence safe to show the client.
    #[error("{0}")]
    InvalidCsr(String),
    /// The PKCS#11 token holding the keys does not answer: a passing outage.
    #[error("the CA's signing key is unavailable: {0}")]
    SignerUnavailable(String),
    /// Anything else (I/O on the key directory, signing failure): internal, never shown to clients.
    #[error("{0}")]
    Internal(String),
}

/// Root + intermediate certificates and the intermediate's signing key, parsed once.
/// `Send + Sync`; signing does no I/O.
#[derive(Debug)]
pub(crate) struct CertificateAuthority {
    /// Intermediate subject, SKI (used as leaves' AKI) and signing key.
    issuer: Issuer<'static, CaKey>,
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
        keys: &KeyProtection,
    ) -> Result<Option<CertificateAuthority>, CaError> {
        store::read(dir)?
            .map(|material| Self::load(material, urls, keys))
            .transpose()
    }

    /// Loads the CA from `dir`, or creates it there on first use (see `store`),
    /// its keys kept as `keys` says. `urls` are written into every leaf it signs.
    pub(crate) fn open_or_create(
        dir: &Path,
        urls: PublicUrls,
        keys: &KeyProtection,
    ) -> Result<CertificateAuthority, CaError> {
        if let Some(material) = store::read(dir)? {
            return Self::load(material, urls, keys);
        }
        Self::create(dir, keys)?;
        // Read back what is on disk (ours, or a concurrent creator's) through the one load path.
        match store::read(dir)? {
            Some(material) => Self::load(material, urls, keys),
            None => Err(CaError::Internal(format!(
                "CA directory {} is still empty after creating it",
                dir.display()
            ))),
        }
    }

    /// Creates a CA in `dir` (`certd ca init`), keys kept as `keys` says:
    /// generated in memory and written to files (encrypted with a
    /// passphrase), or generated inside the token.
    pub(crate) fn create(dir: &Path, keys: &KeyProtection) -> Result<(), CaError> {
        let token = match keys {
            KeyProtection::Token(config) => Some(Token::open(config)?),
            _ => None,
        };
        let root_key = CaKey::generate(token.as_ref(), "certd root CA key")?;
        let int_key = CaKey::generate(token.as_ref(), "certd intermediate CA key")?;
        let (root_cert, intermediate_cert) = store::certify(&root_key, &int_key)?;
        let passphrase = match keys {
            KeyProtection::Passphrase(passphrase) => Some(passphrase),
            _ => None,
        };
        let stored = match &token {
            Some(token) => StoredKeys::Token(format!(
                "This CA's root and intermediate keys are in PKCS#11 token {:?};\n\
                 certd finds each one by its certificate's public key.\n",
                token.label()
            )),
            None => StoredKeys::Files {
                root: root_key.file_pem(passphrase)?,
                intermediate: int_key.file_pem(passphrase)?,
            },
        };
        store::install(
            dir,
            &store::Material {
                root_cert,
                intermediate_cert,
                keys: stored,
            },
        )
    }

    /// Encrypts the CA's key files in place with `passphrase`; returns the
    /// names of the files it converted (none when already encrypted with
    /// it). Everything is checked before anything is rewritten.
    pub(crate) fn encrypt_keys(
        dir: &Path,
        passphrase: &Passphrase,
    ) -> Result<Vec<&'static str>, CaError> {
        let material = store::read(dir)?
            .ok_or_else(|| CaError::Internal(format!("no CA in {}", dir.display())))?;
        let StoredKeys::Files { root, intermediate } = &material.keys else {
            return Err(CaError::Internal(
                "this CA's keys are in a PKCS#11 token: there is no key file to encrypt".into(),
            ));
        };
        let mut converted = Vec::new();
        for (name, pem) in [
            (store::ROOT_KEY, root),
            (store::INTERMEDIATE_KEY, intermediate),
        ] {
            if is_encrypted(pem) {
                // Half-done earlier: the same passphrase must open it.
                decrypt_pem(pem, passphrase, name)?;
            } else {
                converted.push((name, encrypt_pem(&load_key(pem, name)?, passphrase)?));
            }
        }
        Self::check(material)?;
        for (name, pem) in &converted {
            store::replace_key_file(dir, name, pem)?;
        }
        Ok(converted.into_iter().map(|(name, _)| name).collect())
    }

    /// The root certificate (PEM) of the CA in `dir`, if there is one.
    pub(crate) fn root_pem_in(dir: &Path) -> Result<Option<String>, CaError> {
        Ok(store::read(dir)?.map(|material| material.root_cert))
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
            .into_iter()
            .map(|(name, contents)| (name.to_string(), contents.to_string()))
            .collect();
        Self::check(material)?;
        Ok(Some(files))
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

    /// Checks what can be checked without the keys' secret (a passphrase or
    /// a token are not at hand for backups): the certificates chain, and
    /// keys in clear match them.
    fn check(material: store::Material) -> Result<(), CaError> {
        let chain = Chain::parse(&material)?;
        let StoredKeys::Files { root, intermediate } = &material.keys else {
            return Ok(());
        };
        for (pem, file, cert, cert_file) in [
            (root, store::ROOT_KEY, chain.root()?, store::ROOT_CERT),
            (
                intermediate,
                store::INTERMEDIATE_KEY,
                chain.intermediate()?,
                store::INTERMEDIATE_CERT,
            ),
        ] {
            if !is_encrypted(pem) {
                key_matches(load_key(pem, file)?.der_bytes(), &cert, file, cert_file)?;
            }
        }
        Ok(())
    }

    /// Signs a typical to-be-signed OCSP response over and over with the
    /// intermediate key from `threads` threads for `duration`; returns how
    /// many signatures were made (each verified when the key is in a token).
    /// For sizing a token against the OCSP and issuance load.
    pub(crate) fn measure_signing(
        &self,
        duration: std::time::Duration,
        threads: usize,
    ) -> Result<u64, CaError> {
        let message = [0x5a_u8; 300];
        let deadline = std::time::Instant::now() + duration;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    scope.spawn(|| {
                        let mut made = 0u64;
                        while std::time::Instant::now() < deadline {
                            self.issuer
                                .key()
                                .sign(&message)
                                .map_err(|e| keys::signing_error("a test message", e))?;
                            made += 1;
                        }
                        Ok(made)
                    })
                })
                .collect();
            workers.into_iter().try_fold(0, |total, worker| {
                let made = worker
                    .join()
                    .map_err(|_| CaError::Internal("a signing thread panicked".into()))??;
                Ok(total + made)
            })
        })
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

    /// Parses and cross-checks the certificates, opens the keys where they
    /// are kept and checks each matches its certificate.
    fn load(
        m: store::Material,
        urls: PublicUrls,
        keys: &KeyProtection,
    ) -> Result<CertificateAuthority, CaError> {
        let chain = Chain::parse(&m)?;
        let (root, int) = (chain.root()?, chain.intermediate()?);
        let token = match (&m.keys, keys) {
            (StoredKeys::Token(_), KeyProtection::Token(config)) => Some(Token::open(config)?),
            _ => None,
        };
        let (root_stored, int_stored) = match &m.keys {
            StoredKeys::Files { root, intermediate } => (Some(root), Some(intermediate)),
            StoredKeys::Token(_) => (None, None),
        };
        let root_key = open_key(root_stored, keys, token.as_ref(), &root, store::ROOT_KEY)?;
        key_matches(
            root_key.der_bytes(),
            &root,
            store::ROOT_KEY,
            store::ROOT_CERT,
        )?;
        drop(root_key);
        let int_key = open_key(
            int_stored,
            keys,
            token.as_ref(),
            &int,
            store::INTERMEDIATE_KEY,
        )?;
        key_matches(
            int_key.der_bytes(),
            &int,
            store::INTERMEDIATE_KEY,
            store::INTERMEDIATE_CERT,
        )?;

        let intermediate_not_after = int.validity().not_after.to_datetime();
        let issuer_identity = IssuerIdentity::new(
            int.subject().as_raw(),
            &int.public_key().subject_public_key.data,
            subject_key_id(&int)?,
        );
        // Takes the intermediate's subject and SKI from the certificate itself, so leaves'
        // issuer name and AKI match it byte for byte.
        let issuer = Issuer::from_ca_cert_der(&chain.intermediate_der.as_slice().into(), int_key)
            .map_err(|e| {
            CaError::Internal(format!(
                "cannot use {} as issuer: {e}",
                store::INTERMEDIATE_CERT
            ))
        })?;

        Ok(CertificateAuthority {
            issuer,
            issuer_identity,
            intermediate_not_after,
            root_pem: m.root_cert,
            intermediate_pem: m.intermediate_cert,
            intermediate_der: chain.intermediate_der,
            urls,
        })
    }
}

/// The two CA certificates, DER, checked to chain.
struct Chain {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
}

impl Chain {
    fn parse(m: &store::Material) -> Result<Chain, CaError> {
        let chain = Chain {
            root_der: cert_der(&m.root_cert, store::ROOT_CERT)?,
            intermediate_der: cert_der(&m.intermediate_cert, store::INTERMEDIATE_CERT)?,
        };
        chain
            .intermediate()?
            .verify_signature(Some(chain.root()?.public_key()))
            .map_err(|_| {
                CaError::Internal(format!(
                    "{} is not signed by {}",
                    store::INTERMEDIATE_CERT,
                    store::ROOT_CERT
                ))
            })?;
        Ok(chain)
    }

    fn root(&self) -> Result<X509Certificate<'_>, CaError> {
        parse_cert(&self.root_der, store::ROOT_CERT)
    }

    fn intermediate(&self) -> Result<X509Certificate<'_>, CaError> {
        parse_cert(&self.intermediate_der, store::INTERMEDIATE_CERT)
    }
}

/// Opens one CA key where the operator says keys are kept, refusing with
/// the fix when the directory says otherwise. `pem` is the key file's
/// contents (`None`: the directory says the key is in a token).
fn open_key(
    pem: Option<&String>,
    keys: &KeyProtection,
    token: Option<&std::sync::Arc<Token>>,
    cert: &X509Certificate<'_>,
    file: &str,
) -> Result<CaKey, CaError> {
    let refuse = |message: String| Err(CaError::Internal(message));
    match (pem, keys) {
        (None, KeyProtection::Token(_)) => {
            let token = token.ok_or_else(|| CaError::Internal("the token is not open".into()))?;
            let key = token.find_key(&cert.public_key().subject_public_key.data, file)?;
            // The token's signatures are verified as they are made: one now
            // proves the key works before anything is served.
            key.sign(b"certd start-up check")?;
            Ok(CaKey::Token(key))
        }
        (None, _) => refuse(
            "this CA's keys are in a PKCS#11 token: give --pkcs11-module, --pkcs11-token and \
             --pkcs11-pin-file"
                .into(),
        ),
        (Some(_), KeyProtection::Token(_)) => refuse(format!(
            "this CA's keys are files ({file}), not in a PKCS#11 token: drop the --pkcs11 options"
        )),
        (Some(pem), KeyProtection::Clear) if is_encrypted(pem) => refuse(format!(
            "{file} is encrypted: give its passphrase with --ca-key-passphrase-file FILE or \
             CERTD_CA_KEY_PASSPHRASE"
        )),
        (Some(pem), KeyProtection::Clear) => load_key(pem, file).map(CaKey::Memory),
        (Some(pem), KeyProtection::Passphrase(_)) if !is_encrypted(pem) => refuse(format!(
            "{file} is not encrypted although a passphrase was given: run `certd ca encrypt-keys` \
             first"
        )),
        (Some(pem), KeyProtection::Passphrase(passphrase)) => {
            decrypt_pem(pem, passphrase, file).map(CaKey::Memory)
        }
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
    public_key: &[u8],
    cert: &X509Certificate<'_>,
    key_file: &str,
    cert_file: &str,
) -> Result<(), CaError> {
    if public_key == cert.public_key().subject_public_key.data.as_ref() {
        Ok(())
    } else {
        Err(CaError::Internal(format!(
            "{key_file} does not match the public key in {cert_file}"
        )))
    }
}
