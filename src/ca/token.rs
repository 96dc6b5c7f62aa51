//! CA keys inside a PKCS#11 token (an HSM; SoftHSM2 in tests).
//!
//! The keys are generated in the token as sensitive and non-extractable:
//! certd only ever holds their handles. What the PKCS#11 standard and real
//! modules make us mind:
//! - one library context per process (`C_Initialize` twice fails), kept in
//!   a process-wide table by module path;
//! - a session is used by one thread at a time: signers take one from a
//!   pool and put it back, and a session that failed is dropped, not reused;
//! - SoftHSM2 offers `CKM_ECDSA` over a digest computed by the caller, and
//!   answers the raw `r || s`, which we encode as X.509 wants (DER);
//! - some module builds have produced invalid ECDSA signatures, so every
//!   signature is verified before it leaves this module.
//!
//! Keys are found by `CKA_ID`: the SHA-1 of the public point (the usual
//! choice), so a certificate names its own key.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::CaError;
use super::keys::TokenConfig;
use crate::throttle::Throttle;

/// DER of the OID of P-256 (prime256v1), as `CKA_EC_PARAMS` wants it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// Sessions kept open for signers; more are opened when all are busy.
const POOLED_SESSIONS: usize = 8;

/// A token gone fails every signature, OCSP's and the pre-signer's too: one
/// warning per 10 s says so, with the module's own words.
static FAILURE_WARNINGS: Throttle = Throttle::new(10_000);

/// Library contexts by module path: one per process.
static CONTEXTS: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// An open, logged-in token.
pub(crate) struct Token {
    context: Pkcs11,
    /// Looked up again when sessions fail: a token put back may sit in
    /// another slot.
    slot: Mutex<Slot>,
    label: String,
    pin: AuthPin,
    sessions: Mutex<Vec<Session>>,
}

/// A private key in the token, with its public point (uncompressed).
pub(crate) struct TokenKey {
    token: Arc<Token>,
    /// Found again after a failure: a token that went away and came back
    /// may number its objects anew.
    handle: Mutex<ObjectHandle>,
    point: Vec<u8>,
}

fn token_error(what: impl std::fmt::Display) -> CaError {
    CaError::Internal(what.to_string())
}

impl Token {
    /// Loads the module, finds the token by label and logs in: each failure
    /// is one sentence naming what to fix.
    pub(crate) fn open(config: &TokenConfig) -> Result<Arc<Token>, CaError> {
        let context = context_for(&config.module)?;
        let slot = find_slot(&context, &config.label)?;
        let token = Token {
            context,
            slot: Mutex::new(slot),
            label: config.label.clone(),
            pin: AuthPin::from(config.pin.to_string()),
            sessions: Mutex::new(Vec::new()),
        };
        let session = token.new_session().map_err(|e| match e {
            cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::PinIncorrect, _) => {
                token_error(format!(
                    "the PIN for PKCS#11 token {:?} is wrong (--pkcs11-pin-file)",
                    config.label
                ))
            }
            other => token_error(format!(
                "cannot log in to PKCS#11 token {:?}: {other}",
                config.label
            )),
        })?;
        token.give_back(session);
        Ok(Arc::new(token))
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// Generates a P-256 key pair in the token: private half sensitive and
    /// never extractable, both kept on the token.
    pub(crate) fn generate_key(self: &Arc<Self>, label: &str) -> Result<TokenKey, CaError> {
        let session = self.take_session()?;
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let (public, private) = session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(|e| token_error(format!("generating {label} in the token: {e}")))?;
        let point = public_point(&session, public)?;
        // The id ties the key to the certificate that names its public key.
        let id = key_id(&point);
        for handle in [public, private] {
            session
                .update_attributes(handle, &[Attribute::Id(id.clone())])
                .map_err(|e| token_error(format!("naming {label} in the token: {e}")))?;
        }
        self.give_back(session);
        Ok(TokenKey {
            token: Arc::clone(self),
            handle: Mutex::new(private),
            point,
        })
    }

    /// The private key whose public point is `point` (from a certificate).
    pub(crate) fn find_key(
        self: &Arc<Self>,
        point: &[u8],
        what: &str,
    ) -> Result<TokenKey, CaError> {
        Ok(TokenKey {
            token: Arc::clone(self),
            handle: Mutex::new(self.find_handle(point, what)?),
            point: point.to_vec(),
        })
    }

    fn find_handle(&self, point: &[u8], what: &str) -> Result<ObjectHandle, CaError> {
        let session = self.take_session()?;
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(key_id(point)),
            ])
            .map_err(|e| token_error(format!("searching the token for {what}: {e}")))?;
        self.give_back(session);
        let [handle] = found.as_slice() else {
            return Err(token_error(format!(
                "PKCS#11 token {:?} holds {} keys for {what} (expected one): is it the token \
                 this CA was created in?",
                self.label,
                found.len()
            )));
        };
        Ok(*handle)
    }

    /// A pooled session, or a new one.
    fn take_session(&self) -> Result<Session, CaError> {
        if let Some(session) = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Ok(session);
        }
        self.new_session()
            .or_else(|first| {
                let slot = find_slot(&self.context, &self.label).map_err(|_| first)?;
                *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = slot;
                self.new_session()
            })
            .map_err(|e| CaError::SignerUnavailable(format!("PKCS#11 token {:?}: {e}", self.label)))
    }

    fn give_back(&self, session: Session) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() < POOLED_SESSIONS {
            sessions.push(session);
        }
    }

    /// Opens a session and logs in. Login is per application: once one
    /// session is logged in, the token says so for the next ones.
    fn new_session(&self) -> cryptoki::error::Result<Session> {
        let slot = *self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let session = self.context.open_rw_session(slot)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => Ok(session),
            Err(e) => Err(e),
        }
    }
}

impl TokenKey {
    pub(crate) fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// ECDSA P-256 with SHA-256 over `message`, DER-encoded, checked against
    /// the public key before it is returned.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CaError> {
        let digest = Sha256::digest(message);
        let raw = match self.sign_digest(&digest) {
            Ok(raw) => raw,
            // The session may be dead and the handle stale (the token was
            // removed and put back): find the key again, once.
            Err(first) => self
                .find_again()
                .and_then(|()| self.sign_digest(&digest))
                .map_err(|_| {
                    if let Some(suppressed) = FAILURE_WARNINGS.allow() {
                        tracing::warn!(token = %self.token.label, error = %first, suppressed, "PKCS#11 signature failed");
                    }
                    first
                })?,
        };
        let signature = der_of_raw_signature(&raw).ok_or_else(|| {
            CaError::Internal(format!(
                "the token's signature has {} bytes, not 64",
                raw.len()
            ))
        })?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, &signature)
            .map_err(|_| {
                tracing::error!(token = %self.token.label, "the PKCS#11 token made an invalid signature");
                CaError::Internal("the PKCS#11 token made an invalid signature; nothing was published".into())
            })?;
        Ok(signature)
    }
}

impl TokenKey {
    fn find_again(&self) -> Result<(), CaError> {
        let handle = self.token.find_handle(&self.point, "the CA key")?;
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = handle;
        Ok(())
    }

    /// The raw signature of a digest. A session that failed is dropped, not
    /// pooled: a fresh one is opened next time.
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, CaError> {
        let session = self.token.take_session()?;
        let handle = *self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let raw = session
            .sign(&Mechanism::Ecdsa, handle, digest)
            .map_err(|e| CaError::SignerUnavailable(format!("PKCS#11 signature: {e}")))?;
        self.token.give_back(session);
        Ok(raw)
    }
}

/// The context for `module`, loaded and initialised on first use.
fn context_for(module: &Path) -> Result<Pkcs11, CaError> {
    let mut contexts = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, context)) = contexts.iter().find(|(path, _)| path == module) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(module).map_err(|e| {
        token_error(format!(
            "cannot load PKCS#11 module {} (--pkcs11-module): {e}",
            module.display()
        ))
    })?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| {
            token_error(format!(
                "cannot initialise PKCS#11 module {}: {e}",
                module.display()
            ))
        })?;
    contexts.push((module.to_path_buf(), context.clone()));
    Ok(context)
}

fn find_slot(context: &Pkcs11, label: &str) -> Result<Slot, CaError> {
    let slots = context
        .get_slots_with_initialized_token()
        .map_err(|e| token_error(format!("cannot list PKCS#11 tokens: {e}")))?;
    let mut labels = Vec::new();
    for slot in slots {
        let info = context
            .get_token_info(slot)
            .map_err(|e| token_error(format!("cannot read a PKCS#11 token's details: {e}")))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
        labels.push(info.label().trim_end().to_string());
    }
    Err(token_error(format!(
        "no PKCS#11 token labelled {label:?} (--pkcs11-token); the module has: {}",
        if labels.is_empty() {
            "none".to_string()
        } else {
            labels.join(", ")
        }
    )))
}

/// The uncompressed public point of an EC public key object. Tokens give
/// `CKA_EC_POINT` as a DER OCTET STRING around it.
fn public_point(session: &Session, public: ObjectHandle) -> Result<Vec<u8>, CaError> {
    let attributes = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(|e| token_error(format!("reading a public key from the token: {e}")))?;
    let Some(Attribute::EcPoint(point)) = attributes.into_iter().next() else {
        return Err(token_error("the token gave no public point"));
    };
    match point.as_slice() {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => Ok(rest.to_vec()),
        raw if raw.len() == 65 && raw[0] == 0x04 => Ok(raw.to_vec()),
        _ => Err(token_error(
            "the token's public point is not an uncompressed P-256 point",
        )),
    }
}

fn key_id(point: &[u8]) -> Vec<u8> {
    Sha1::digest(point).to_vec()
}

/// `r || s` (32 bytes each) as an ECDSA-Sig-Value: SEQUENCE of two INTEGERs.
fn der_of_raw_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let integer = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut content = if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        content.extend(trimmed);
        let mut out = vec![0x02, content.len() as u8];
        out.extend(content);
        out
    };
    let (r, s) = raw.split_at(32);
    let body = [integer(r), integer(s)].concat();
    Some([vec![0x30, body.len() as u8], body].concat())
}

#[cfg(test)]
mod tests {
    use super::der_of_raw_signature;

    #[test]
    fn raw_signatures_become_der_with_minimal_integers() {
        let mut raw = [0u8; 64];
        raw[31] = 1; // r = 1
        raw[32] = 0x80; // s has its high bit set: needs a leading zero
        let der = der_of_raw_signature(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        assert!(der_of_raw_signature(&raw[..63]).is_none());
    }

    #[test]
    fn a_zero_half_is_encoded_as_one_zero_byte() {
        let raw = [0u8; 64];
        assert_eq!(
            der_of_raw_signature(&raw).unwrap(),
            vec![0x30, 6, 0x02, 1, 0, 0x02, 1, 0]
        );
    }
}
