//! Where the CA's private keys live and how they sign.
//!
//! Three ways, chosen by the operator ([`KeyProtection`]):
//! - key files in clear (PKCS#8 PEM, mode 0600), the default;
//! - key files encrypted with a passphrase (PKCS#8 PBES2: PBKDF2-HMAC-SHA256
//!   and AES-256-CBC, which `openssl pkey` also reads);
//! - keys generated inside a PKCS#11 token that never lets them out
//!   (see `token`); the data directory then holds no key at all.
//!
//! Whatever holds them, every signature goes through [`CaKey`], rcgen's
//! `SigningKey` for the CA's certificates, CRLs and OCSP answers alike.

use std::path::PathBuf;
use std::sync::Arc;

use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rand::RngCore;
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use zeroize::Zeroizing;

use super::CaError;
use super::token::{Token, TokenKey};

/// PBKDF2 rounds for a new encrypted key file: OWASP's 2023 figure for
/// HMAC-SHA256. Paid once per start, about a third of a second.
const PBKDF2_ROUNDS: u32 = 600_000;

/// How the CA's private keys are kept, as the operator asked.
pub(crate) enum KeyProtection {
    /// PEM files in the CA directory, readable by certd's user only.
    Clear,
    /// PEM files encrypted with this passphrase.
    Passphrase(Passphrase),
    /// Inside a PKCS#11 token.
    Token(TokenConfig),
}

/// A passphrase, wiped from memory when dropped.
pub(crate) struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Refuses an empty passphrase: it would encrypt in name only.
    pub(crate) fn new(text: String) -> Result<Passphrase, String> {
        let text = Zeroizing::new(text);
        if text.is_empty() {
            return Err("the CA key passphrase is empty".into());
        }
        Ok(Passphrase(text))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Which PKCS#11 token holds the keys, and how to log in to it.
pub(crate) struct TokenConfig {
    /// The vendor's PKCS#11 library (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

/// A CA private key, wherever it lives. Two of them per process: their
/// sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum CaKey {
    Memory(KeyPair),
    Token(TokenKey),
}

impl CaKey {
    /// A fresh P-256 key: inside `token` when there is one, else in memory
    /// (to be written to a file).
    pub(super) fn generate(token: Option<&Arc<Token>>, label: &str) -> Result<CaKey, CaError> {
        match token {
            Some(token) => Ok(CaKey::Token(token.generate_key(label)?)),
            None => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map(CaKey::Memory)
                .map_err(|e| CaError::Internal(format!("generating {label}: {e}"))),
        }
    }

    /// The key file's contents: PEM, encrypted when there is a passphrase.
    /// A key in a token has none.
    pub(super) fn file_pem(&self, passphrase: Option<&Passphrase>) -> Result<String, CaError> {
        let CaKey::Memory(key) = self else {
            return Err(CaError::Internal("a key in a token has no file".into()));
        };
        match passphrase {
            None => Ok(key.serialize_pem()),
            Some(passphrase) => encrypt_pem(key, passphrase),
        }
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::Memory(key) => key.der_bytes(),
            CaKey::Token(key) => key.public_point(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for CaKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::Memory(key) => key.sign(message),
            // The token's own error is logged where it happens; rcgen's
            // error type has no room for it.
            CaKey::Token(key) => key.sign(message).map_err(|_| rcgen::Error::RemoteKeyError),
        }
    }
}

/// The error of a failed signature: a token that stopped answering is a
/// passing outage (503), anything else an internal error.
pub(crate) fn signing_error(what: &str, error: rcgen::Error) -> CaError {
    match error {
        rcgen::Error::RemoteKeyError => {
            CaError::SignerUnavailable(format!("signing {what}: the PKCS#11 token failed"))
        }
        other => CaError::Internal(format!("signing {what}: {other}")),
    }
}

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// True when the PEM is an encrypted PKCS#8 key.
pub(super) fn is_encrypted(pem: &str) -> bool {
    pem.trim_start()
        .starts_with(&format!("-----BEGIN {ENCRYPTED_LABEL}-----"))
}

/// Encrypts a key as PKCS#8 PBES2 PEM with a fresh salt and IV.
pub(super) fn encrypt_pem(key: &KeyPair, passphrase: &Passphrase) -> Result<String, CaError> {
    let failed = |e: &dyn std::fmt::Display| CaError::Internal(format!("encrypting a CA key: {e}"));
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, &iv)
            .map_err(|e| failed(&e))?;
    let der = Zeroizing::new(key.serialize_der());
    let info = PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| failed(&e))?;
    let encrypted = info
        .encrypt_with_params(params, passphrase.bytes())
        .map_err(|e| failed(&e))?;
    encrypted
        .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| failed(&e))
}

/// Decrypts an encrypted PKCS#8 PEM key; `file` names it in errors.
pub(super) fn decrypt_pem(
    pem: &str,
    passphrase: &Passphrase,
    file: &str,
) -> Result<KeyPair, CaError> {
    let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes())
        .map_err(|e| CaError::Internal(format!("{file} is not a PEM key: {e}")))?;
    if label != ENCRYPTED_LABEL {
        return Err(CaError::Internal(format!("{file} is not an encrypted key")));
    }
    let info = EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| CaError::Internal(format!("{file} is not an encrypted PKCS#8 key: {e}")))?;
    let plain = info.decrypt(passphrase.bytes()).map_err(|_| {
        CaError::Internal(format!(
            "cannot decrypt {file}: wrong passphrase (or a damaged file)"
        ))
    })?;
    KeyPair::try_from(plain.as_bytes())
        .map_err(|e| CaError::Internal(format!("cannot load {file} once decrypted: {e}")))
}
