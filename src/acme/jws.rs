//! JSON Web Signatures (RFC 7515) as ACME uses them (RFC 8555 §6.2): the flattened
//! JSON serialization, one signature, everything in the protected header.
//!
//! [`parse`] checks the structure and decodes; [`Jws::verify`] checks the signature
//! against a key the caller chose (the header's `jwk`, or the account that `kid`
//! names). Signatures are checked by `ring`; nothing here is hand-written
//! cryptography. External Account Binding (RFC 8555 §7.3.4) is [`Eab`].
//!
//! Every [`JwsError`] reads as an ACME problem `detail` and names its problem type
//! ([`JwsError::problem`]); none repeats a secret or an unbounded piece of input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The `alg` values we verify, for the `algorithms` member of a
/// `badSignatureAlgorithm` problem (RFC 8555 §6.2).
pub(crate) const SUPPORTED_ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;
/// The largest public exponent ring accepts (2^33 - 1); anything bigger could never verify.
const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;
/// Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// How much of a parser's complaint (which may quote the input) goes into a detail.
const MAX_QUOTED: usize = 160;

/// Why a request's JWS (or its external account binding) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwsError {
    /// The body or a member of it is not what RFC 8555 §6.2 prescribes.
    #[error("{0}")]
    Malformed(String),
    /// `alg` is not one we verify, or does not fit the key.
    #[error("{0}")]
    BadSignatureAlgorithm(String),
    /// The JWK is not a public key we accept.
    #[error("{0}")]
    BadPublicKey(String),
    #[error("the JWS signature does not verify with the key that is meant to have signed it")]
    BadSignature,
    #[error("externalAccountBinding: {0}")]
    EabMalformed(String),
    #[error(
        "externalAccountBinding: the MAC does not verify with the HMAC key of its kid; \
         check the key id and HMAC key given to the client"
    )]
    EabBadMac,
    #[error("externalAccountBinding: its payload is not the account key that signed this request")]
    EabKeyMismatch,
}

impl JwsError {
    /// The RFC 8555 §6.7 error type to answer with, after `urn:ietf:params:acme:error:`.
    pub(crate) fn problem(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::BadSignature | Self::EabMalformed(_) => "malformed",
            Self::BadSignatureAlgorithm(_) => "badSignatureAlgorithm",
            Self::BadPublicKey(_) => "badPublicKey",
            Self::EabBadMac | Self::EabKeyMismatch => "unauthorized",
        }
    }
}

fn malformed(msg: impl Into<String>) -> JwsError {
    JwsError::Malformed(msg.into())
}

fn bad_key(msg: impl Into<String>) -> JwsError {
    JwsError::BadPublicKey(msg.into())
}

fn eab_malformed(msg: impl Into<String>) -> JwsError {
    JwsError::EabMalformed(msg.into())
}

/// A JWS signature algorithm we verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Algorithm {
    Es256,
    Es384,
    Rs256,
    EdDsa,
}

impl Algorithm {
    /// The JOSE name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Reads a JOSE `alg`; "none", MACs (HS256…) and RSA-PSS are refused.
    pub(crate) fn from_name(name: &str) -> Result<Self, JwsError> {
        match name {
            "ES256" => Ok(Self::Es256),
            "ES384" => Ok(Self::Es384),
            "RS256" => Ok(Self::Rs256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(JwsError::BadSignatureAlgorithm(format!(
                "the JWS algorithm {} is not supported; use one of {}",
                quote(other),
                SUPPORTED_ALGORITHMS.join(", ")
            ))),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key as a JWK (RFC 7517), of a kind ACME accounts may use.
///
/// Values are validated by the constructors ([`Jwk::from_json`], [`Jwk::from_spki_der`]):
/// EC coordinates are full-length, RSA integers have no leading zero octets, the RSA
/// modulus has 2048 to 8192 bits. Equal keys are equal values, whatever JSON they came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Jwk {
    P256 { x: [u8; 32], y: [u8; 32] },
    P384 { x: [u8; 48], y: [u8; 48] },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519 { x: [u8; 32] },
}

impl Jwk {
    /// Reads a public JWK. Members other than the key's own (`use`, `kid`, `alg`…)
    /// are ignored; private members are refused.
    pub(crate) fn from_json(value: &Value) -> Result<Jwk, JwsError> {
        let obj = value
            .as_object()
            .ok_or_else(|| bad_key("the JWK must be a JSON object"))?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(bad_key(format!(
                "the JWK has the private member \"{private}\"; send only the public key"
            )));
        }
        match jwk_str(obj, "kty")? {
            "EC" => match jwk_str(obj, "crv")? {
                "P-256" => Ok(Jwk::P256 {
                    x: jwk_fixed(obj, "x", "P-256")?,
                    y: jwk_fixed(obj, "y", "P-256")?,
                }),
                "P-384" => Ok(Jwk::P384 {
                    x: jwk_fixed(obj, "x", "P-384")?,
                    y: jwk_fixed(obj, "y", "P-384")?,
                }),
                other => Err(bad_key(format!(
                    "the EC curve {} is not supported; use P-256 or P-384",
                    quote(other)
                ))),
            },
            "RSA" => Jwk::rsa(jwk_bytes(obj, "n")?, jwk_bytes(obj, "e")?),
            "OKP" => match jwk_str(obj, "crv")? {
                "Ed25519" => Ok(Jwk::Ed25519 {
                    x: jwk_fixed(obj, "x", "Ed25519")?,
                }),
                other => Err(bad_key(format!(
                    "the OKP curve {} is not supported; use Ed25519",
                    quote(other)
                ))),
            },
            other => Err(bad_key(format!(
                "the key type {} is not supported; use EC (P-256, P-384), RSA or OKP (Ed25519)",
                quote(other)
            ))),
        }
    }

    /// An RSA key from big-endian modulus and exponent, minimally encoded.
    fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<Jwk, JwsError> {
        if n.first().is_none_or(|&b| b == 0) || e.first().is_none_or(|&b| b == 0) {
            return Err(bad_key(
                "the RSA key's n and e must be non-empty and have no leading zero octets",
            ));
        }
        let bits = bit_length(&n);
        if bits < MIN_RSA_BITS {
            return Err(bad_key(format!(
                "RSA keys must have at least {MIN_RSA_BITS} bits, this one has {bits}"
            )));
        }
        if bits > MAX_RSA_BITS {
            return Err(bad_key(format!(
                "RSA keys must have at most {MAX_RSA_BITS} bits, this one has {bits}"
            )));
        }
        let exponent =
            (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
        match exponent {
            Some(v) if (3..=MAX_RSA_EXPONENT).contains(&v) && v % 2 == 1 => Ok(Jwk::Rsa { n, e }),
            _ => Err(bad_key(
                "the RSA public exponent must be odd, at least 3 and below 2^33",
            )),
        }
    }

    /// The key as a public JWK with only its required members.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Jwk::P256 { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)})
            }
            Jwk::P384 { x, y } => {
                json!({"kty": "EC", "crv": "P-384", "x": b64url(x), "y": b64url(y)})
            }
            Jwk::Rsa { n, e } => json!({"kty": "RSA", "n": b64url(n), "e": b64url(e)}),
            Jwk::Ed25519 { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(x)}),
        }
    }

    /// The RFC 7638 thumbprint: base64url (no padding) of SHA-256 over the required
    /// members in lexicographic order, without whitespace. Key authorizations
    /// (RFC 8555 §8.1) and key comparisons use it.
    pub(crate) fn thumbprint(&self) -> String {
        // Base64url values need no JSON escaping, so the canonical form is plain formatting.
        let canonical = match self {
            Jwk::P256 { x, y } => ec_canonical("P-256", x, y),
            Jwk::P384 { x, y } => ec_canonical("P-384", x, y),
            Jwk::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
            }
            Jwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x)),
        };
        b64url(&Sha256::digest(canonical.as_bytes()))
    }

    /// The key of a certificate, from its DER SubjectPublicKeyInfo, held to the same
    /// rules as a JWK (so that a request signed with a certificate's own key can be
    /// matched to it by thumbprint).
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Jwk, JwsError> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|_| bad_key("the certificate's public key info is not valid DER"))?;
        let algorithm = &spki.algorithm.algorithm;
        if *algorithm == OID_SIG_ED25519 {
            let x = spki.subject_public_key.data.as_ref();
            return x
                .try_into()
                .map(|x| Jwk::Ed25519 { x })
                .map_err(|_| bad_key("the certificate's Ed25519 key is not 32 bytes"));
        }
        if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            let point = spki.subject_public_key.data.as_ref();
            return match curve {
                Some(c) if c == OID_EC_P256 => {
                    let (x, y) = split_point::<32>(point, "P-256")?;
                    Ok(Jwk::P256 { x, y })
                }
                Some(c) if c == OID_NIST_EC_P384 => {
                    let (x, y) = split_point::<48>(point, "P-384")?;
                    Ok(Jwk::P384 { x, y })
                }
                _ => Err(bad_key(
                    "the certificate's EC key is not on a supported curve (P-256, P-384)",
                )),
            };
        }
        if *algorithm == OID_PKCS1_RSAENCRYPTION {
            return match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => Jwk::rsa(
                    strip_leading_zeros(rsa.modulus).to_vec(),
                    strip_leading_zeros(rsa.exponent).to_vec(),
                ),
                _ => Err(bad_key("the certificate's RSA key is malformed")),
            };
        }
        Err(bad_key(format!(
            "the certificate's key type ({}) is not one ACME accounts may use",
            algorithm.to_id_string()
        )))
    }

    /// The one algorithm that signs with this key.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Jwk::P256 { .. } => Algorithm::Es256,
            Jwk::P384 { .. } => Algorithm::Es384,
            Jwk::Rsa { .. } => Algorithm::Rs256,
            Jwk::Ed25519 { .. } => Algorithm::EdDsa,
        }
    }

    /// "EC P-256", "RSA 2048", … for messages and logs.
    pub(crate) fn describe(&self) -> String {
        match self {
            Jwk::P256 { .. } => "EC P-256".to_owned(),
            Jwk::P384 { .. } => "EC P-384".to_owned(),
            Jwk::Rsa { n, .. } => format!("RSA {}", bit_length(n)),
            Jwk::Ed25519 { .. } => "Ed25519".to_owned(),
        }
    }
}

fn ec_canonical(crv: &str, x: &[u8], y: &[u8]) -> String {
    format!(
        r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
        b64url(x),
        b64url(y)
    )
}

fn jwk_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, JwsError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad_key(format!("the JWK's \"{name}\" must be a string"))),
        None => Err(bad_key(format!("the JWK has no \"{name}\""))),
    }
}

fn jwk_bytes(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwsError> {
    b64url_decode(jwk_str(obj, name)?).map_err(|why| bad_key(format!("the JWK's \"{name}\" {why}")))
}

fn jwk_fixed<const N: usize>(
    obj: &Map<String, Value>,
    name: &str,
    curve: &str,
) -> Result<[u8; N], JwsError> {
    let bytes = jwk_bytes(obj, name)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        bad_key(format!(
            "the JWK's \"{name}\" must be {N} bytes for {curve}, it has {len}"
        ))
    })
}

/// Splits an uncompressed SEC 1 point (0x04 || x || y) into its coordinates.
fn split_point<const N: usize>(point: &[u8], curve: &str) -> Result<([u8; N], [u8; N]), JwsError> {
    match point.split_first() {
        Some((4, xy)) if xy.len() == 2 * N => {
            let (x, y) = xy.split_at(N);
            Ok((
                x.try_into().expect("N bytes"),
                y.try_into().expect("N bytes"),
            ))
        }
        _ => Err(bad_key(format!(
            "the certificate's {curve} key is not an uncompressed point"
        ))),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Bits in a big-endian unsigned integer with no leading zero octets.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(&first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Base64url without padding (RFC 7515 §2).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, strictly: no `=`, no whitespace, no other
/// alphabet, no stray trailing bits. The error completes "… {what} ".
pub(crate) fn b64url_decode(s: &str) -> Result<Vec<u8>, &'static str> {
    if s.contains('=') {
        return Err("has '=' padding; ACME uses base64url without padding");
    }
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "is not valid base64url")
}

/// Quotes a piece of client input for a message, bounded and escaped.
fn quote(s: &str) -> String {
    if s.chars().count() <= 40 {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(40).collect();
        format!("{head:?}…")
    }
}

/// A parser's complaint, bounded (serde quotes unknown member names).
fn clip(msg: impl std::fmt::Display) -> String {
    let msg = msg.to_string();
    if msg.chars().count() <= MAX_QUOTED {
        msg
    } else {
        let head: String = msg.chars().take(MAX_QUOTED).collect();
        format!("{head}…")
    }
}

/// A flattened JWS JSON serialization with nothing but the three members ACME allows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

/// The protected header members we read; others are ignored (RFC 7515 §4).
/// A member given twice is refused by serde rather than silently overridden.
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default, deserialize_with = "present")]
    alg: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    nonce: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    url: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    jwk: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    kid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<Value>,
}

/// `Some` whenever the member is there, even as `null` (which plain `Option` would hide).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// How the signer names its key (RFC 8555 §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// The key itself: newAccount, and revokeCert signed with the certificate's key.
    Jwk(Jwk),
    /// The account URL: every other request.
    Kid(String),
}

/// The JWS protected header as RFC 8555 §6.2 defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtectedHeader {
    pub alg: Algorithm,
    /// Required by every ACME request except the inner JWS of keyChange and of an
    /// external account binding; the caller decides.
    pub nonce: Option<String>,
    pub url: String,
    pub key: KeyRef,
}

/// A parsed, not yet verified, ACME request JWS.
#[derive(Debug, Clone)]
pub(crate) struct Jws {
    pub header: ProtectedHeader,
    /// The decoded payload; empty for POST-as-GET.
    pub payload: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses a request body as an ACME JWS (RFC 8555 §6.2) without verifying it.
pub(crate) fn parse(body: &[u8]) -> Result<Jws, JwsError> {
    let flat: Flattened = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the request body must be a flattened JWS: a JSON object with exactly the string \
             members \"protected\", \"payload\" and \"signature\" ({})",
            clip(e)
        ))
    })?;
    let header_bytes = b64url_decode(&flat.protected)
        .map_err(|why| malformed(format!("the JWS \"protected\" member {why}")))?;
    let payload = b64url_decode(&flat.payload)
        .map_err(|why| malformed(format!("the JWS \"payload\" member {why}")))?;
    let signature = b64url_decode(&flat.signature)
        .map_err(|why| malformed(format!("the JWS \"signature\" member {why}")))?;
    let raw: RawHeader = serde_json::from_slice(&header_bytes).map_err(|e| {
        malformed(format!(
            "the JWS protected header must be a JSON object ({})",
            clip(e)
        ))
    })?;
    let header = read_header(raw)?;
    Ok(Jws {
        header,
        payload,
        signing_input: signing_input(&flat),
        signature,
    })
}

fn signing_input(flat: &Flattened) -> Vec<u8> {
    let mut input = Vec::with_capacity(flat.protected.len() + 1 + flat.payload.len());
    input.extend_from_slice(flat.protected.as_bytes());
    input.push(b'.');
    input.extend_from_slice(flat.payload.as_bytes());
    input
}

fn read_header(raw: RawHeader) -> Result<ProtectedHeader, JwsError> {
    if raw.crit.is_some() {
        // RFC 7515 §4.1.11: we understand no extension, so any "crit" must be refused.
        return Err(malformed(
            "the JWS protected header has \"crit\"; this server supports no JWS extensions",
        ));
    }
    let alg = match raw.alg {
        Some(Value::String(alg)) => Algorithm::from_name(&alg)?,
        Some(_) => return Err(malformed("the JWS header's \"alg\" must be a string")),
        None => return Err(malformed("the JWS protected header has no \"alg\"")),
    };
    let key = match (raw.jwk, raw.kid) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "the JWS protected header must have either \"jwk\" or \"kid\", not both",
            ));
        }
        (None, None) => {
            return Err(malformed(
                "the JWS protected header must have \"jwk\" (newAccount, revokeCert by \
                 certificate key) or \"kid\" (the account URL, for every other request)",
            ));
        }
        (Some(jwk @ Value::Object(_)), None) => KeyRef::Jwk(Jwk::from_json(&jwk)?),
        (Some(_), None) => {
            return Err(malformed("the JWS header's \"jwk\" must be a JSON object"));
        }
        (None, Some(Value::String(kid))) if !kid.is_empty() => KeyRef::Kid(kid),
        (None, Some(_)) => {
            return Err(malformed(
                "the JWS header's \"kid\" must be a non-empty string (the account URL)",
            ));
        }
    };
    let url = match raw.url {
        Some(Value::String(url)) if !url.is_empty() => url,
        Some(_) => {
            return Err(malformed(
                "the JWS header's \"url\" must be a non-empty string",
            ));
        }
        None => {
            return Err(malformed(
                "the JWS protected header has no \"url\" (the URL this request is sent to)",
            ));
        }
    };
    let nonce = match raw.nonce {
        Some(Value::String(nonce)) => Some(nonce),
        Some(_) => return Err(malformed("the JWS header's \"nonce\" must be a string")),
        None => None,
    };
    Ok(ProtectedHeader {
        alg,
        nonce,
        url,
        key,
    })
}

impl Jws {
    /// Checks the signature with `key`, which must be the kind of key `alg` signs with.
    pub(crate) fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        verify_signature(self.header.alg, key, &self.signing_input, &self.signature)
    }
}

fn verify_signature(
    alg: Algorithm,
    key: &Jwk,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    let verified = match (alg, key) {
        (Algorithm::Es256, Jwk::P256 { x, y }) => {
            UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, sec1_point(x, y))
                .verify(signing_input, signature)
        }
        (Algorithm::Es384, Jwk::P384 { x, y }) => {
            UnparsedPublicKey::new(&ring_sig::ECDSA_P384_SHA384_FIXED, sec1_point(x, y))
                .verify(signing_input, signature)
        }
        (Algorithm::Rs256, Jwk::Rsa { n, e }) => RsaPublicKeyComponents { n, e }.verify(
            &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            signing_input,
            signature,
        ),
        (Algorithm::EdDsa, Jwk::Ed25519 { x }) => {
            UnparsedPublicKey::new(&ring_sig::ED25519, x).verify(signing_input, signature)
        }
        _ => {
            return Err(JwsError::BadSignatureAlgorithm(format!(
                "the JWS algorithm {alg} does not fit the {} key; that key signs with {}",
                key.describe(),
                key.algorithm()
            )));
        }
    };
    verified.map_err(|_| JwsError::BadSignature)
}

fn sec1_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    point
}

/// The MACs an external account binding may use (RFC 8555 §7.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacAlgorithm {
    Hs256,
    Hs384,
    Hs512,
}

/// An `externalAccountBinding` (RFC 8555 §7.3.4): a JWS over the account's JWK,
/// MACed with a key the CA handed out with `kid`. Parse it, look the HMAC key up
/// by `kid`, then [`Eab::verify`].
#[derive(Debug, Clone)]
pub(crate) struct Eab {
    /// The EAB key id, naming the HMAC key (and so the certd user) to bind.
    pub kid: String,
    alg: MacAlgorithm,
    url: String,
    jwk: Jwk,
    signing_input: Vec<u8>,
    mac: Vec<u8>,
}

impl Eab {
    /// Reads the `externalAccountBinding` member of a newAccount payload.
    pub(crate) fn parse(value: &Value) -> Result<Eab, JwsError> {
        let flat = Flattened::deserialize(value).map_err(|e| {
            eab_malformed(format!(
                "it must be a flattened JWS: a JSON object with exactly the string members \
                 \"protected\", \"payload\" and \"signature\" ({})",
                clip(e)
            ))
        })?;
        let header_bytes = b64url_decode(&flat.protected)
            .map_err(|why| eab_malformed(format!("its \"protected\" member {why}")))?;
        let payload = b64url_decode(&flat.payload)
            .map_err(|why| eab_malformed(format!("its \"payload\" member {why}")))?;
        let mac = b64url_decode(&flat.signature)
            .map_err(|why| eab_malformed(format!("its \"signature\" member {why}")))?;
        let raw: RawHeader = serde_json::from_slice(&header_bytes).map_err(|e| {
            eab_malformed(format!(
                "its protected header must be a JSON object ({})",
                clip(e)
            ))
        })?;
        if raw.crit.is_some() {
            return Err(eab_malformed(
                "its protected header has \"crit\"; this server supports no JWS extensions",
            ));
        }
        if raw.nonce.is_some() {
            return Err(eab_malformed(
                "its protected header must not have a \"nonce\"",
            ));
        }
        if raw.jwk.is_some() {
            return Err(eab_malformed(
                "its protected header must not have a \"jwk\"; the key goes in the payload",
            ));
        }
        let alg = match raw.alg {
            Some(Value::String(alg)) => match alg.as_str() {
                "HS256" => MacAlgorithm::Hs256,
                "HS384" => MacAlgorithm::Hs384,
                "HS512" => MacAlgorithm::Hs512,
                other => {
                    return Err(eab_malformed(format!(
                        "its algorithm {} is not a MAC; use HS256, HS384 or HS512",
                        quote(other)
                    )));
                }
            },
            _ => return Err(eab_malformed("its protected header needs a string \"alg\"")),
        };
        let kid = match raw.kid {
            Some(Value::String(kid)) if !kid.is_empty() => kid,
            _ => {
                return Err(eab_malformed(
                    "its protected header needs \"kid\", the key id the CA gave you",
                ));
            }
        };
        let url = match raw.url {
            Some(Value::String(url)) => url,
            _ => {
                return Err(eab_malformed(
                    "its protected header needs \"url\", the newAccount URL",
                ));
            }
        };
        let jwk = serde_json::from_slice::<Value>(&payload)
            .map_err(|_| eab_malformed("its payload must be the account's public JWK"))
            .and_then(|v| {
                Jwk::from_json(&v).map_err(|e| {
                    eab_malformed(format!("its payload must be the account's public JWK: {e}"))
                })
            })?;
        Ok(Eab {
            kid,
            alg,
            url,
            jwk,
            signing_input: signing_input(&flat),
            mac,
        })
    }

    /// Checks the MAC with the key `kid` names (constant time), then that the binding
    /// was made for this newAccount URL and this account key.
    pub(crate) fn verify(
        &self,
        hmac_key: &[u8],
        account_key: &Jwk,
        new_account_url: &str,
    ) -> Result<(), JwsError> {
        let checked = match self.alg {
            MacAlgorithm::Hs256 => {
                check_mac::<Hmac<Sha256>>(hmac_key, &self.signing_input, &self.mac)
            }
            MacAlgorithm::Hs384 => {
                check_mac::<Hmac<Sha384>>(hmac_key, &self.signing_input, &self.mac)
            }
            MacAlgorithm::Hs512 => {
                check_mac::<Hmac<Sha512>>(hmac_key, &self.signing_input, &self.mac)
            }
        };
        if !checked {
            return Err(JwsError::EabBadMac);
        }
        if self.url != new_account_url {
            return Err(eab_malformed(format!(
                "its \"url\" must be the newAccount URL, {new_account_url}"
            )));
        }
        if self.jwk.thumbprint() != account_key.thumbprint() {
            return Err(JwsError::EabKeyMismatch);
        }
        Ok(())
    }
}

/// HMAC over `input`, compared with `tag` in constant time.
fn check_mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8], tag: &[u8]) -> bool {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(input);
    mac.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

    const URL: &str = "https://ca.example/acme/new-order";
    const NEW_ACCOUNT: &str = "https://ca.example/acme/new-account";

    // RFC 7515 Appendix A.2: the RSA key (also RFC 7517 Appendix A) and the example JWS.
    const RFC_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC_E: &str = "AQAB";
    const RFC_D: &str = "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
    const RFC_P: &str = "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
    const RFC_Q: &str = "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";
    const RFC_DP: &str = "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0";
    const RFC_DQ: &str = "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU";
    const RFC_QI: &str = "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U";
    const RFC_PROTECTED: &str = "eyJhbGciOiJSUzI1NiJ9";
    const RFC_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const RFC_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

    /// A private key that signs test requests, with its public JWK.
    enum Signer {
        Ec(EcdsaKeyPair, Jwk),
        Ed(Ed25519KeyPair, Jwk),
        Rsa(RsaKeyPair, Jwk),
    }

    impl Signer {
        fn p256() -> Signer {
            ec(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING)
        }

        fn p384() -> Signer {
            ec(&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING)
        }

        fn ed25519() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
            let x = pair.public_key().as_ref().try_into().unwrap();
            Signer::Ed(pair, Jwk::Ed25519 { x })
        }

        /// The RFC 7515 A.2 key, rebuilt as PKCS#1 DER from its JWK members.
        fn rfc_rsa() -> Signer {
            let ints: Vec<Vec<u8>> = [RFC_N, RFC_E, RFC_D, RFC_P, RFC_Q, RFC_DP, RFC_DQ, RFC_QI]
                .iter()
                .map(|s| der_uint(&b64url_decode(s).unwrap()))
                .collect();
            let mut body = der_uint(&[0]);
            ints.iter().for_each(|i| body.extend_from_slice(i));
            let pair = RsaKeyPair::from_der(&der_tlv(0x30, &body)).expect("RFC key");
            Signer::Rsa(pair, rfc_jwk())
        }

        fn jwk(&self) -> &Jwk {
            match self {
                Signer::Ec(_, jwk) | Signer::Ed(_, jwk) | Signer::Rsa(_, jwk) => jwk,
            }
        }

        fn sign(&self, input: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                Signer::Ec(pair, _) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
                Signer::Ed(pair, _) => pair.sign(input).as_ref().to_vec(),
                Signer::Rsa(pair, _) => {
                    let mut sig = vec![0; pair.public().modulus_len()];
                    pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                        .unwrap();
                    sig
                }
            }
        }

        /// A flattened JWS of `payload` under the given protected header.
        fn body(&self, header: &Value, payload: &[u8]) -> Vec<u8> {
            let protected = b64url(header.to_string().as_bytes());
            let payload = b64url(payload);
            let sig = self.sign(format!("{protected}.{payload}").as_bytes());
            json!({"protected": protected, "payload": payload, "signature": b64url(&sig)})
                .to_string()
                .into_bytes()
        }

        /// The usual newAccount-style header: alg fitting the key, nonce, url, jwk.
        fn jwk_header(&self) -> Value {
            json!({
                "alg": self.jwk().algorithm().name(),
                "nonce": "abc",
                "url": URL,
                "jwk": self.jwk().to_json(),
            })
        }
    }

    fn ec(alg: &'static ring_sig::EcdsaSigningAlgorithm) -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = Jwk::from_spki_der(&spki_ec(&point, point.len() == 65)).unwrap();
        Signer::Ec(pair, jwk)
    }

    fn der_len(len: usize) -> Vec<u8> {
        match len {
            0..=127 => vec![len as u8],
            128..=255 => vec![0x81, len as u8],
            _ => vec![0x82, (len >> 8) as u8, len as u8],
        }
    }

    fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(body.len()));
        out.extend_from_slice(body);
        out
    }

    fn der_uint(bytes: &[u8]) -> Vec<u8> {
        let mut body = strip_leading_zeros(bytes).to_vec();
        if body.first().is_none_or(|&b| b & 0x80 != 0) {
            body.insert(0, 0);
        }
        der_tlv(0x02, &body)
    }

    fn bit_string(bytes: &[u8]) -> Vec<u8> {
        let mut body = vec![0];
        body.extend_from_slice(bytes);
        der_tlv(0x03, &body)
    }

    fn spki(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
        let mut body = der_tlv(0x30, alg_id);
        body.extend(bit_string(key));
        der_tlv(0x30, &body)
    }

    fn spki_ec(point: &[u8], p256: bool) -> Vec<u8> {
        // id-ecPublicKey, then prime256v1 or secp384r1.
        let mut alg = vec![0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        if p256 {
            alg.extend([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        } else {
            alg.extend([0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
        }
        spki(&alg, point)
    }

    fn spki_rsa(n: &[u8], e: &[u8]) -> Vec<u8> {
        // rsaEncryption, NULL.
        let alg = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ];
        let mut key = der_uint(n);
        key.extend(der_uint(e));
        spki(&alg, &der_tlv(0x30, &key))
    }

    fn rfc_jwk() -> Jwk {
        Jwk::from_json(&json!({"kty": "RSA", "n": RFC_N, "e": RFC_E})).unwrap()
    }

    fn body(protected: &str, payload: &str, signature: &str) -> Vec<u8> {
        json!({"protected": protected, "payload": payload, "signature": signature})
            .to_string()
            .into_bytes()
    }

    fn err_of(body: &[u8]) -> JwsError {
        parse(body).expect_err("must be refused")
    }

    #[test]
    fn verifies_rfc7515_a2_example() {
        let input = format!("{RFC_PROTECTED}.{RFC_PAYLOAD}");
        let sig = b64url_decode(RFC_SIGNATURE).unwrap();
        verify_signature(Algorithm::Rs256, &rfc_jwk(), input.as_bytes(), &sig).unwrap();

        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert_eq!(
            verify_signature(Algorithm::Rs256, &rfc_jwk(), input.as_bytes(), &tampered),
            Err(JwsError::BadSignature)
        );
        let other_input = format!("{RFC_PROTECTED}.{}", b64url(b"{}"));
        assert_eq!(
            verify_signature(Algorithm::Rs256, &rfc_jwk(), other_input.as_bytes(), &sig),
            Err(JwsError::BadSignature)
        );
        // PKCS#1 v1.5 is deterministic: the rebuilt private key makes the RFC's signature.
        assert_eq!(Signer::rfc_rsa().sign(input.as_bytes()), sig);
    }

    #[test]
    fn signs_and_verifies_every_algorithm() {
        for signer in [
            Signer::p256(),
            Signer::p384(),
            Signer::ed25519(),
            Signer::rfc_rsa(),
        ] {
            let payload = br#"{"termsOfServiceAgreed":true}"#;
            let jws = parse(&signer.body(&signer.jwk_header(), payload)).unwrap();
            assert_eq!(jws.header.alg, signer.jwk().algorithm());
            assert_eq!(jws.header.nonce.as_deref(), Some("abc"));
            assert_eq!(jws.header.url, URL);
            assert_eq!(jws.header.key, KeyRef::Jwk(signer.jwk().clone()));
            assert_eq!(jws.payload, payload);
            jws.verify(signer.jwk()).unwrap();
        }
    }

    #[test]
    fn post_as_get_with_kid() {
        let signer = Signer::p256();
        let header = json!({"alg": "ES256", "nonce": "n", "url": URL, "kid": "https://ca.example/acme/acct/1"});
        let jws = parse(&signer.body(&header, b"")).unwrap();
        assert!(jws.payload.is_empty());
        assert_eq!(
            jws.header.key,
            KeyRef::Kid("https://ca.example/acme/acct/1".into())
        );
        jws.verify(signer.jwk()).unwrap();
        // Another key of the same kind does not verify it.
        assert_eq!(
            jws.verify(Signer::p256().jwk()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let signer = Signer::p256();
        let good: Value =
            serde_json::from_slice(&signer.body(&signer.jwk_header(), b"{}")).unwrap();
        let with = |member: &str, value: String| {
            let mut v = good.clone();
            v[member] = Value::String(value);
            v.to_string().into_bytes()
        };

        let jws = parse(&with("payload", b64url(b"{\"x\":1}"))).unwrap();
        assert_eq!(jws.verify(signer.jwk()), Err(JwsError::BadSignature));

        let mut header = signer.jwk_header();
        header["url"] = json!("https://ca.example/acme/revoke-cert");
        let jws = parse(&with("protected", b64url(header.to_string().as_bytes()))).unwrap();
        assert_eq!(jws.verify(signer.jwk()), Err(JwsError::BadSignature));

        let mut sig = b64url_decode(good["signature"].as_str().unwrap()).unwrap();
        sig[0] ^= 0x80;
        let jws = parse(&with("signature", b64url(&sig))).unwrap();
        assert_eq!(jws.verify(signer.jwk()), Err(JwsError::BadSignature));

        let jws = parse(&with("signature", String::new())).unwrap();
        assert_eq!(jws.verify(signer.jwk()), Err(JwsError::BadSignature));
        assert_eq!(JwsError::BadSignature.problem(), "malformed");
    }

    #[test]
    fn algorithm_must_fit_the_key() {
        let p256 = Signer::p256();
        for alg in ["ES384", "RS256", "EdDSA"] {
            let mut header = p256.jwk_header();
            header["alg"] = json!(alg);
            let jws = parse(&p256.body(&header, b"")).unwrap();
            let err = jws.verify(p256.jwk()).unwrap_err();
            assert!(
                matches!(err, JwsError::BadSignatureAlgorithm(_)),
                "{alg}: {err:?}"
            );
            assert_eq!(err.problem(), "badSignatureAlgorithm");
            assert!(err.to_string().contains("ES256"), "{err}");
        }
        let ed = Signer::ed25519();
        let mut header = ed.jwk_header();
        header["alg"] = json!("ES256");
        let jws = parse(&ed.body(&header, b"")).unwrap();
        assert!(matches!(
            jws.verify(ed.jwk()),
            Err(JwsError::BadSignatureAlgorithm(_))
        ));
        // A P-384 key does not verify ES256, even though both are ECDSA.
        let jws = parse(&p256.body(&p256.jwk_header(), b"")).unwrap();
        assert!(matches!(
            jws.verify(Signer::p384().jwk()),
            Err(JwsError::BadSignatureAlgorithm(_))
        ));
    }

    #[test]
    fn unsupported_algorithms_are_refused_by_name() {
        let signer = Signer::p256();
        for alg in ["none", "HS256", "PS256", "ES512", "es256", "RS384"] {
            let mut header = signer.jwk_header();
            header["alg"] = json!(alg);
            let err = err_of(&signer.body(&header, b""));
            assert!(
                matches!(err, JwsError::BadSignatureAlgorithm(_)),
                "{alg}: {err:?}"
            );
            assert_eq!(err.problem(), "badSignatureAlgorithm");
            let msg = err.to_string();
            assert!(msg.contains(&format!("{alg:?}")), "{msg}");
            for supported in SUPPORTED_ALGORITHMS {
                assert!(msg.contains(supported), "{msg}");
            }
        }
        // An unsigned JWS in the RFC 7515 A.5 style.
        let header = b64url(br#"{"alg":"none","url":"u","kid":"k"}"#);
        assert!(matches!(
            err_of(&body(&header, "", "")),
            JwsError::BadSignatureAlgorithm(_)
        ));
        let long = "X".repeat(5000);
        let err = Algorithm::from_name(&long).unwrap_err();
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn supported_names_round_trip() {
        for name in SUPPORTED_ALGORITHMS {
            assert_eq!(Algorithm::from_name(name).unwrap().name(), name);
        }
    }

    #[test]
    fn structural_problems_are_malformed() {
        let signer = Signer::p256();
        let header = |f: &dyn Fn(&mut Value)| {
            let mut h = signer.jwk_header();
            f(&mut h);
            signer.body(&h, b"")
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "missing url",
                header(&|h| {
                    h.as_object_mut().unwrap().remove("url");
                }),
            ),
            ("empty url", header(&|h| h["url"] = json!(""))),
            ("url not a string", header(&|h| h["url"] = json!(7))),
            (
                "missing alg",
                header(&|h| {
                    h.as_object_mut().unwrap().remove("alg");
                }),
            ),
            ("alg not a string", header(&|h| h["alg"] = json!(["ES256"]))),
            (
                "both jwk and kid",
                header(&|h| h["kid"] = json!("https://ca.example/acct/1")),
            ),
            (
                "neither",
                header(&|h| {
                    h.as_object_mut().unwrap().remove("jwk");
                }),
            ),
            ("jwk a string", header(&|h| h["jwk"] = json!("key"))),
            ("nonce not a string", header(&|h| h["nonce"] = json!(1))),
            ("nonce null", header(&|h| h["nonce"] = Value::Null)),
            ("crit", header(&|h| h["crit"] = json!(["b64"]))),
            ("header an array", signer.body(&json!([1]), b"")),
            ("not json", b"hello".to_vec()),
            ("not an object", b"[]".to_vec()),
            ("empty", Vec::new()),
            (
                "general serialization",
                json!({"payload": "", "signatures": []})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "unprotected header",
                json!({"protected": "e30", "header": {}, "payload": "", "signature": ""})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "member not a string",
                json!({"protected": 1, "payload": "", "signature": ""})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "missing signature",
                json!({"protected": "e30", "payload": ""})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "duplicate member",
                br#"{"protected":"e30","payload":"","payload":"","signature":""}"#.to_vec(),
            ),
            (
                "trailing garbage",
                [&signer.body(&signer.jwk_header(), b"")[..], &b"x"[..]].concat(),
            ),
            ("protected not json", body(&b64url(b"alg"), "", "")),
        ];
        for (what, body) in cases {
            let err = err_of(&body);
            assert!(matches!(err, JwsError::Malformed(_)), "{what}: {err:?}");
            assert_eq!(err.problem(), "malformed", "{what}");
        }

        let kid_header = |kid: Value| {
            signer.body(
                &json!({"alg": "ES256", "nonce": "n", "url": URL, "kid": kid}),
                b"",
            )
        };
        assert!(matches!(
            err_of(&kid_header(json!(""))),
            JwsError::Malformed(_)
        ));
        assert!(matches!(
            err_of(&kid_header(json!(5))),
            JwsError::Malformed(_)
        ));

        // Duplicate header members are refused, not resolved.
        let protected = b64url(br#"{"alg":"ES256","url":"a","url":"b","kid":"k"}"#);
        assert!(matches!(
            err_of(&body(&protected, "", "")),
            JwsError::Malformed(_)
        ));
        // Unknown header members are ignored (RFC 7515 §4); a missing nonce is the caller's call.
        let protected = b64url(br#"{"alg":"ES256","url":"a","kid":"k","typ":"JWT"}"#);
        let jws = parse(&body(&protected, "", "")).unwrap();
        assert_eq!(jws.header.nonce, None);
    }

    #[test]
    fn base64url_is_strict() {
        let signer = Signer::p256();
        let good: Value =
            serde_json::from_slice(&signer.body(&signer.jwk_header(), b"{}")).unwrap();
        for member in ["protected", "payload", "signature"] {
            for bad in ["e30=", "e3 0", "e3+0", "e3/0", "e30\n", "a", "e31"] {
                let mut v = good.clone();
                v[member] = json!(bad);
                let err = err_of(v.to_string().as_bytes());
                assert!(
                    matches!(err, JwsError::Malformed(_)),
                    "{member}={bad:?}: {err:?}"
                );
            }
        }
        let mut v = good.clone();
        let padded = format!("{}==", b64url(b"{}x"));
        v["payload"] = json!(padded);
        assert!(
            err_of(v.to_string().as_bytes())
                .to_string()
                .contains("padding")
        );
        assert_eq!(b64url_decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn thumbprint_matches_rfc7638() {
        // RFC 7638 §3.1.
        let jwk = Jwk::from_json(&json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn thumbprints_of_other_kinds_follow_the_canonical_form() {
        let x = [1u8; 32];
        let y = [2u8; 32];
        let expected = format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            b64url(&x),
            b64url(&y)
        );
        assert_eq!(
            Jwk::P256 { x, y }.thumbprint(),
            b64url(&Sha256::digest(expected))
        );
        let expected = format!(
            "{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"}}",
            b64url(&x)
        );
        assert_eq!(
            Jwk::Ed25519 { x }.thumbprint(),
            b64url(&Sha256::digest(expected))
        );
    }

    #[test]
    fn rsa_size_limits() {
        let n = |len: usize| {
            let mut n = vec![0xc5; len];
            n[len - 1] |= 1;
            b64url(&n)
        };
        let rsa = |n: String, e: &str| Jwk::from_json(&json!({"kty": "RSA", "n": n, "e": e}));
        for bad in [n(128), n(255), n(1025)] {
            let err = rsa(bad, "AQAB").unwrap_err();
            assert!(matches!(err, JwsError::BadPublicKey(_)), "{err:?}");
            assert_eq!(err.problem(), "badPublicKey");
        }
        assert!(
            rsa(n(128), "AQAB")
                .unwrap_err()
                .to_string()
                .contains("1024")
        );
        assert!(rsa(n(256), "AQAB").is_ok());
        assert!(rsa(n(1024), "AQAB").is_ok());
        let mut leading_zero = vec![0];
        leading_zero.extend(vec![0xc5; 256]);
        assert!(rsa(b64url(&leading_zero), "AQAB").is_err());
        for bad_e in ["", "AA", "AAEAAQ", "Ag", "AQ", "AgAAAAAB"] {
            assert!(rsa(n(256), bad_e).is_err(), "e={bad_e}");
        }
        assert!(rsa(n(256), "Aw").is_ok());
    }

    #[test]
    fn jwk_problems_are_bad_public_key() {
        let x = b64url(&[7; 32]);
        let cases = [
            json!("key"),
            json!({}),
            json!({"kty": 1}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "oct"}),
            json!({"kty": "EC", "crv": "P-521", "x": x, "y": x}),
            json!({"kty": "EC", "crv": "secp256k1", "x": x, "y": x}),
            json!({"kty": "EC", "crv": "P-256", "x": x}),
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": b64url(&[7; 31])}),
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": b64url(&[7; 33])}),
            json!({"kty": "EC", "crv": "P-384", "x": x, "y": x}),
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": format!("{x}=")}),
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": "!!"}),
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": x, "d": x}),
            json!({"kty": "OKP", "crv": "Ed448", "x": x}),
            json!({"kty": "OKP", "crv": "X25519", "x": x}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&[7; 31])}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}),
            json!({"kty": "RSA", "n": RFC_N, "e": RFC_E, "d": RFC_D}),
            json!({"kty": "RSA", "n": RFC_N}),
        ];
        for case in cases {
            let err = Jwk::from_json(&case).unwrap_err();
            assert!(matches!(err, JwsError::BadPublicKey(_)), "{case}: {err:?}");
            assert!(!err.to_string().contains(RFC_D), "no secrets echoed");
        }
        // In a request header the same holds.
        let signer = Signer::p256();
        let mut header = signer.jwk_header();
        header["jwk"]["d"] = json!(b64url(&[1; 32]));
        assert!(matches!(
            err_of(&signer.body(&header, b"")),
            JwsError::BadPublicKey(_)
        ));
        // Extra public members are fine and do not change the key.
        let mut with_extras = signer.jwk().to_json();
        with_extras["use"] = json!("sig");
        with_extras["kid"] = json!("mine");
        assert_eq!(&Jwk::from_json(&with_extras).unwrap(), signer.jwk());
    }

    #[test]
    fn spki_keys_match_jwks() {
        // RSA, from the RFC key (with the DER INTEGER's leading zero).
        let Jwk::Rsa { n, e } = rfc_jwk() else {
            unreachable!()
        };
        assert_eq!(Jwk::from_spki_der(&spki_rsa(&n, &e)).unwrap(), rfc_jwk());
        // EC and Ed25519 keys from rcgen, which writes SPKIs as certificates carry them.
        use rcgen::PublicKeyData as _;
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let pair = rcgen::KeyPair::generate_for(alg).unwrap();
            let jwk = Jwk::from_spki_der(&pair.subject_public_key_info()).unwrap();
            let raw = pair.public_key_raw();
            let expected = match raw.len() {
                32 => Jwk::Ed25519 {
                    x: raw.try_into().unwrap(),
                },
                65 => Jwk::P256 {
                    x: raw[1..33].try_into().unwrap(),
                    y: raw[33..].try_into().unwrap(),
                },
                97 => Jwk::P384 {
                    x: raw[1..49].try_into().unwrap(),
                    y: raw[49..].try_into().unwrap(),
                },
                other => panic!("unexpected key length {other}"),
            };
            assert_eq!(jwk, expected);
        }
        // A small RSA key and a non-ACME key type are refused.
        assert!(matches!(
            Jwk::from_spki_der(&spki_rsa(&[0xc5; 128], &[1, 0, 1])),
            Err(JwsError::BadPublicKey(_))
        ));
        assert!(matches!(
            Jwk::from_spki_der(b"\x30\x00"),
            Err(JwsError::BadPublicKey(_))
        ));
        assert!(matches!(
            Jwk::from_spki_der(b""),
            Err(JwsError::BadPublicKey(_))
        ));
        let compressed = [vec![2], vec![9; 32]].concat();
        assert!(matches!(
            Jwk::from_spki_der(&spki_ec(&compressed, true)),
            Err(JwsError::BadPublicKey(_))
        ));
    }

    #[test]
    fn revocation_signed_with_the_certificate_key() {
        // The certificate's key, in the certificate, and as the JWS's jwk: same thumbprint.
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["example.test".to_owned()]).unwrap();
        let cert = params.self_signed(&pair).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        let from_cert = Jwk::from_spki_der(parsed.tbs_certificate.subject_pki.raw).unwrap();

        let rng = SystemRandom::new();
        let ring_pair = EcdsaKeyPair::from_pkcs8(
            &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .unwrap();
        let signer = Signer::Ec(ring_pair, from_cert.clone());
        let jws = parse(&signer.body(&signer.jwk_header(), b"{}")).unwrap();
        let KeyRef::Jwk(key) = &jws.header.key else {
            panic!("signed with a kid")
        };
        jws.verify(key).unwrap();
        assert_eq!(key.thumbprint(), from_cert.thumbprint());
    }

    fn eab_value(alg: &str, key: &[u8], header_extra: Value, payload: &[u8]) -> Value {
        let mut header = json!({"alg": alg, "kid": "kid-1", "url": NEW_ACCOUNT});
        for (k, v) in header_extra.as_object().unwrap() {
            header[k] = v.clone();
        }
        let protected = b64url(header.to_string().as_bytes());
        let payload = b64url(payload);
        let input = format!("{protected}.{payload}");
        let tag = match alg {
            "HS384" => {
                let mut m = Hmac::<Sha384>::new_from_slice(key).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            "HS512" => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
                m.update(input.as_bytes());
                m.finalize().into_bytes().to_vec()
            }
        };
        json!({"protected": protected, "payload": payload, "signature": b64url(&tag)})
    }

    #[test]
    fn eab_binds_the_account_key() {
        let hmac_key = [42u8; 32];
        let account = Signer::p256();
        let payload = account.jwk().to_json().to_string();
        for alg in ["HS256", "HS384", "HS512"] {
            let eab =
                Eab::parse(&eab_value(alg, &hmac_key, json!({}), payload.as_bytes())).unwrap();
            assert_eq!(eab.kid, "kid-1");
            eab.verify(&hmac_key, account.jwk(), NEW_ACCOUNT).unwrap();
        }

        let eab = Eab::parse(&eab_value(
            "HS256",
            &hmac_key,
            json!({}),
            payload.as_bytes(),
        ))
        .unwrap();
        let err = eab
            .verify(&[43u8; 32], account.jwk(), NEW_ACCOUNT)
            .unwrap_err();
        assert_eq!(err, JwsError::EabBadMac);
        assert_eq!(err.problem(), "unauthorized");
        assert_eq!(
            eab.verify(b"", account.jwk(), NEW_ACCOUNT),
            Err(JwsError::EabBadMac)
        );

        let err = eab
            .verify(
                &hmac_key,
                account.jwk(),
                "https://other.example/acme/new-account",
            )
            .unwrap_err();
        assert!(matches!(err, JwsError::EabMalformed(_)), "{err:?}");
        assert_eq!(err.problem(), "malformed");

        let err = eab
            .verify(&hmac_key, Signer::p256().jwk(), NEW_ACCOUNT)
            .unwrap_err();
        assert_eq!(err, JwsError::EabKeyMismatch);
        assert_eq!(err.problem(), "unauthorized");

        // A tampered payload (another key) breaks the MAC.
        let mut value = eab_value("HS256", &hmac_key, json!({}), payload.as_bytes());
        value["payload"] = json!(b64url(
            Signer::p256().jwk().to_json().to_string().as_bytes()
        ));
        let eab = Eab::parse(&value).unwrap();
        assert_eq!(
            eab.verify(&hmac_key, account.jwk(), NEW_ACCOUNT),
            Err(JwsError::EabBadMac)
        );
    }

    #[test]
    fn eab_structure_is_checked() {
        let key = [1u8; 32];
        let payload = Signer::ed25519().jwk().to_json().to_string();
        let p = payload.as_bytes();
        let cases = [
            (
                "nonce",
                eab_value("HS256", &key, json!({"nonce": "abc"}), p),
            ),
            (
                "jwk",
                eab_value("HS256", &key, json!({"jwk": {"kty": "OKP"}}), p),
            ),
            ("crit", eab_value("HS256", &key, json!({"crit": ["x"]}), p)),
            ("ES256", eab_value("ES256", &key, json!({}), p)),
            ("none", eab_value("none", &key, json!({}), p)),
            ("no kid", eab_value("HS256", &key, json!({"kid": null}), p)),
            ("empty kid", eab_value("HS256", &key, json!({"kid": ""}), p)),
            ("no url", eab_value("HS256", &key, json!({"url": 1}), p)),
            (
                "payload not json",
                eab_value("HS256", &key, json!({}), b"jwk"),
            ),
            (
                "payload private",
                eab_value(
                    "HS256",
                    &key,
                    json!({}),
                    br#"{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}"#,
                ),
            ),
            ("not an object", json!("eab")),
            (
                "extra member",
                json!({"protected": "e30", "payload": "", "signature": "", "header": {}}),
            ),
            (
                "padded",
                json!({"protected": "e30=", "payload": "", "signature": ""}),
            ),
        ];
        for (what, value) in cases {
            let err = Eab::parse(&value).expect_err(what);
            assert!(matches!(err, JwsError::EabMalformed(_)), "{what}: {err:?}");
            assert_eq!(err.problem(), "malformed");
            assert!(
                err.to_string().starts_with("externalAccountBinding: "),
                "{err}"
            );
        }
    }

    #[test]
    fn errors_never_echo_unbounded_input() {
        let huge = "z".repeat(100_000);
        let bodies = [
            Value::Object(Map::from_iter([(huge.clone(), json!(1))]))
                .to_string()
                .into_bytes(),
            body(
                &b64url(
                    json!({"alg": huge, "url": "u", "kid": "k"})
                        .to_string()
                        .as_bytes(),
                ),
                "",
                "",
            ),
            body(
                &b64url(
                    json!({"alg": "ES256", "url": "u", "jwk": {"kty": huge}})
                        .to_string()
                        .as_bytes(),
                ),
                "",
                "",
            ),
        ];
        for b in bodies {
            assert!(err_of(&b).to_string().len() < 600);
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "EC", "RSA", "OKP", "oct", "P-256", "P-384", "Ed25519", "AQAB", "ES256", "EdDSA",
                ""
            ])
            .prop_map(Value::from),
            prop::collection::vec(any::<u8>(), 0..70).prop_map(|b| Value::String(b64url(&b))),
        ];
        leaf.prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "kty", "crv", "x", "y", "n", "e", "d", "alg", "kid", "url", "nonce", "jwk",
                        "crit", "other"
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..7,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_member() -> impl Strategy<Value = Value> {
        prop_oneof![
            arb_json().prop_map(|v| Value::String(b64url(v.to_string().as_bytes()))),
            prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| Value::String(b64url(&b))),
            ".{0,20}".prop_map(Value::String),
            arb_json(),
        ]
    }

    fn arb_rsa_exponent() -> impl Strategy<Value = Vec<u8>> {
        (1u64..(1 << 32)).prop_map(|v| {
            let v = v * 2 + 1;
            strip_leading_zeros(&v.to_be_bytes()).to_vec()
        })
    }

    fn arb_jwk() -> impl Strategy<Value = Jwk> {
        prop_oneof![
            (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(x, y)| Jwk::P256 { x, y }),
            (prop::collection::vec(any::<u8>(), 96)).prop_map(|b| Jwk::P384 {
                x: b[..48].try_into().unwrap(),
                y: b[48..].try_into().unwrap()
            }),
            any::<[u8; 32]>().prop_map(|x| Jwk::Ed25519 { x }),
            (
                prop::collection::vec(any::<u8>(), 256..=1024),
                arb_rsa_exponent()
            )
                .prop_map(|(mut n, e)| {
                    n[0] |= 0x80;
                    Jwk::Rsa { n, e }
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_jws_shaped_objects(
            protected in arb_member(),
            payload in arb_member(),
            signature in arb_member(),
            header in prop::collection::btree_map(
                prop::sample::select(vec!["alg", "nonce", "url", "jwk", "kid", "crit", "b64"]).prop_map(str::to_owned),
                arb_json(),
                0..6,
            ),
        ) {
            let key = Signer::p256();
            let header = Value::Object(header.into_iter().collect());
            let shaped = json!({
                "protected": b64url(header.to_string().as_bytes()),
                "payload": payload.clone(),
                "signature": signature.clone(),
            });
            let raw = json!({"protected": protected, "payload": payload, "signature": signature});
            for body in [shaped, raw] {
                if let Ok(jws) = parse(body.to_string().as_bytes()) {
                    let _ = jws.verify(key.jwk());
                    if let KeyRef::Jwk(jwk) = &jws.header.key {
                        let _ = jws.verify(jwk);
                    }
                }
            }
        }

        #[test]
        fn jwk_from_json_never_panics(value in arb_json()) {
            if let Ok(jwk) = Jwk::from_json(&value) {
                prop_assert_eq!(Jwk::from_json(&jwk.to_json()).unwrap(), jwk);
            }
        }

        #[test]
        fn eab_parse_never_panics(value in arb_json(), protected in arb_member()) {
            let _ = Eab::parse(&value);
            let _ = Eab::parse(&json!({"protected": protected, "payload": "", "signature": ""}));
        }

        #[test]
        fn jwk_json_round_trips(jwk in arb_jwk()) {
            let json = jwk.to_json();
            prop_assert_eq!(Jwk::from_json(&json).unwrap(), jwk.clone());
            prop_assert_eq!(Jwk::from_json(&json).unwrap().thumbprint(), jwk.thumbprint());
        }
    }
}
