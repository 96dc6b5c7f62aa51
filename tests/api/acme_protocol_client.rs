//! A small hand-written ACME client (RFC 8555) for the protocol tests: keys
//! (ECDSA P-256/P-384 and Ed25519 with ring, RSA through openssl), flattened
//! JWS, nonces, External Account Binding, and the challenge responders a
//! test needs (http-01, dns-01 through the test DNS server, tls-alpn-01).
//! Nothing here is certd code: it is what an ACME client does, written
//! plainly so that the tests can also send what no real client would.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

pub(crate) use crate::test_dns::TestDns;

pub const URN: &str = "urn:ietf:params:acme:error:";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

pub fn sha256(bytes: impl AsRef<[u8]>) -> Vec<u8> {
    Sha256::digest(bytes.as_ref()).to_vec()
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// A key that signs JWS (an account's, or a certificate's for revokeCert).
pub enum Key {
    P256(EcdsaKeyPair, Vec<u8>),
    P384(EcdsaKeyPair, Vec<u8>),
    Ed25519(Ed25519KeyPair, Vec<u8>),
    /// An RSA key in a PEM file, signed with `openssl dgst` (ring refuses
    /// keys under 2048 bits, which the tests need to send).
    Rsa {
        _dir: tempfile::TempDir,
        pem: PathBuf,
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

fn rng() -> SystemRandom {
    SystemRandom::new()
}

impl Key {
    pub fn p256() -> Key {
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng()).unwrap();
        Key::P256(pair, pkcs8.as_ref().to_vec())
    }

    pub fn p384() -> Key {
        let alg = &ECDSA_P384_SHA384_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng()).unwrap();
        Key::P384(pair, pkcs8.as_ref().to_vec())
    }

    pub fn ed25519() -> Key {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Key::Ed25519(pair, pkcs8.as_ref().to_vec())
    }

    /// An RSA key of `bits` made by `openssl genrsa`.
    pub fn rsa(bits: u32) -> Key {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("rsa.pem");
        let ok = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&pem)
            .arg(bits.to_string())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl genrsa");
        assert!(ok.success(), "openssl genrsa {bits} failed");
        let spki = Command::new("openssl")
            .args(["rsa", "-pubout", "-outform", "DER", "-in"])
            .arg(&pem)
            .stderr(Stdio::null())
            .output()
            .expect("run openssl rsa");
        assert!(spki.status.success(), "openssl rsa -pubout failed");
        use x509_parser::prelude::FromDer as _;
        let (_, info) =
            x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki.stdout).expect("SPKI");
        let x509_parser::public_key::PublicKey::RSA(rsa) = info.parsed().expect("RSA key") else {
            panic!("not an RSA key")
        };
        let strip = |b: &[u8]| b[b.iter().position(|&x| x != 0).unwrap_or(b.len())..].to_vec();
        Key::Rsa {
            n: strip(rsa.modulus),
            e: strip(rsa.exponent),
            pem,
            _dir: dir,
        }
    }

    /// The JOSE algorithm this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            Key::P256(..) => "ES256",
            Key::P384(..) => "ES384",
            Key::Ed25519(..) => "EdDSA",
            Key::Rsa { .. } => "RS256",
        }
    }

    pub fn jwk(&self) -> Value {
        match self {
            Key::P256(pair, _) | Key::P384(pair, _) => {
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])})
            }
            Key::Ed25519(pair, _) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
            Key::Rsa { n, e, .. } => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
        }
    }

    /// RFC 7638 thumbprint, base64url.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = match self {
            Key::P256(..) | Key::P384(..) => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["crv"].as_str().unwrap(),
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            Key::Ed25519(..) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            ),
            Key::Rsa { .. } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                jwk["e"].as_str().unwrap(),
                jwk["n"].as_str().unwrap()
            ),
        };
        b64(sha256(canonical))
    }

    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::P256(pair, _) | Key::P384(pair, _) => {
                pair.sign(&rng(), input).unwrap().as_ref().to_vec()
            }
            Key::Ed25519(pair, _) => pair.sign(input).as_ref().to_vec(),
            Key::Rsa { pem, .. } => {
                let mut child = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(pem)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("run openssl dgst");
                child.stdin.take().unwrap().write_all(input).unwrap();
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "openssl dgst -sign failed");
                out.stdout
            }
        }
    }

    /// The key for rcgen (certificate keys: P-256, P-384, Ed25519).
    pub fn rcgen(&self) -> rcgen::KeyPair {
        let (pkcs8, alg) = match self {
            Key::P256(_, pkcs8) => (pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256),
            Key::P384(_, pkcs8) => (pkcs8, &rcgen::PKCS_ECDSA_P384_SHA384),
            Key::Ed25519(_, pkcs8) => (pkcs8, &rcgen::PKCS_ED25519),
            Key::Rsa { .. } => panic!("RSA keys are for JWS only here"),
        };
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8.clone());
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, alg).unwrap()
    }

    /// SHA-256 of the SubjectPublicKeyInfo, lower-case hex (a blocked key's id).
    pub fn spki_sha256(&self) -> String {
        use rcgen::PublicKeyData as _;
        hex::encode(sha256(self.rcgen().subject_public_key_info()))
    }
}

/// A DER CSR for `names` (the first also the common name) with `key`.
pub fn csr_der(key: &Key, names: &[&str]) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    params
        .serialize_request(&key.rcgen())
        .unwrap()
        .der()
        .to_vec()
}

// ---------------------------------------------------------------------------
// JWS
// ---------------------------------------------------------------------------

/// How the signer names its key.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Jwk,
    Kid(&'a str),
}

/// The protected header RFC 8555 §6.2 asks for.
pub fn header(key: &Key, by: By<'_>, nonce: Option<&str>, url: &str) -> Value {
    let mut h = json!({"alg": key.alg(), "url": url});
    if let Some(nonce) = nonce {
        h["nonce"] = json!(nonce);
    }
    match by {
        By::Jwk => h["jwk"] = key.jwk(),
        By::Kid(kid) => h["kid"] = json!(kid),
    }
    h
}

/// A flattened JWS of `payload` (bytes as they are; empty for POST-as-GET).
pub fn flattened(key: &Key, protected: &Value, payload: &[u8]) -> Value {
    flattened_raw(key, &b64(protected.to_string()), &b64(payload))
}

/// A flattened JWS over already-encoded members.
pub fn flattened_raw(key: &Key, protected: &str, payload: &str) -> Value {
    let signature = key.sign(format!("{protected}.{payload}").as_bytes());
    json!({"protected": protected, "payload": payload, "signature": b64(signature)})
}

/// A JSON payload as bytes.
pub fn body(payload: &Value) -> Vec<u8> {
    payload.to_string().into_bytes()
}

// ---------------------------------------------------------------------------
// External Account Binding
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct EabCredential {
    pub kid: String,
    pub hmac_key: Vec<u8>,
    pub user_id: i64,
}

/// `POST /services/v2/acme/eab` as the administrator for `user_id`.
pub async fn eab_for(s: &Server, user_id: i64) -> EabCredential {
    let r = s
        .post(s.admin(), "/acme/eab", json!({"user_id": user_id}))
        .await;
    r.ok(201);
    eab_of(&r.json)
}

/// `POST /services/v2/acme/eab` by a user for themself (empty body).
pub async fn eab_self(s: &Server, key: &str) -> EabCredential {
    let r = s
        .raw(
            reqwest::Method::POST,
            Some(key),
            "/acme/eab",
            None,
            Vec::new(),
        )
        .await;
    r.ok(201);
    eab_of(&r.json)
}

fn eab_of(j: &Value) -> EabCredential {
    let hmac_key = j["hmac_key"].as_str().expect("hmac_key");
    assert!(
        !hmac_key.contains('='),
        "hmac_key is unpadded base64url: {j}"
    );
    EabCredential {
        kid: j["kid"].as_str().expect("kid").to_string(),
        hmac_key: unb64(hmac_key),
        user_id: int(&j["user_id"]),
    }
}

/// The `externalAccountBinding` JWS (RFC 8555 §7.3.4): `jwk` MACed (HS256)
/// with `hmac_key` under `kid` for `url`.
pub fn eab_jws(kid: &str, hmac_key: &[u8], jwk: &Value, url: &str) -> Value {
    let protected = b64(json!({"alg": "HS256", "kid": kid, "url": url}).to_string());
    let payload = b64(jwk.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(hmac_key).unwrap();
    mac.update(format!("{protected}.{payload}").as_bytes());
    let signature = b64(mac.finalize().into_bytes());
    json!({"protected": protected, "payload": payload, "signature": signature})
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// An ACME account: its key and URL.
pub struct Account {
    pub key: Key,
    pub url: String,
}

/// The ACME client of one server.
pub struct Acme {
    pub base: String,
    pub http: reqwest::Client,
    pub dir: Value,
}

impl Acme {
    pub async fn new(base: &str) -> Acme {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = format!("{base}/acme/directory");
        let r = Server::try_send(http.get(&url)).await.unwrap();
        r.ok(200);
        Acme {
            base: base.to_string(),
            http,
            dir: r.json.clone(),
        }
    }

    /// A directory URL (`newNonce`, `newAccount`, …).
    pub fn url(&self, name: &str) -> String {
        self.dir[name]
            .as_str()
            .unwrap_or_else(|| panic!("directory has no {name}: {}", self.dir))
            .to_string()
    }

    /// Any URL under `/acme` of this server.
    pub fn acme(&self, path: &str) -> String {
        format!("{}/acme{path}", self.base)
    }

    pub async fn nonce(&self) -> String {
        let r = Server::try_send(self.http.head(self.url("newNonce")))
            .await
            .unwrap();
        r.ok(200);
        r.header("replay-nonce").expect("Replay-Nonce")
    }

    pub async fn get(&self, url: &str) -> Resp {
        Server::try_send(self.http.get(url)).await.unwrap()
    }

    /// POSTs `body` with a content type (None: none).
    pub async fn post_raw(&self, url: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
        let mut rb = self.http.post(url).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        Server::try_send(rb).await.unwrap()
    }

    /// POSTs a JWS value as application/jose+json.
    pub async fn post_jws(&self, url: &str, jws: &Value) -> Resp {
        self.post_raw(url, Some("application/jose+json"), body(jws))
            .await
    }

    /// A correctly signed POST with a fresh nonce: `payload` None is
    /// POST-as-GET.
    pub async fn signed(&self, key: &Key, by: By<'_>, url: &str, payload: Option<&Value>) -> Resp {
        let nonce = self.nonce().await;
        let protected = header(key, by, Some(&nonce), url);
        let payload = payload.map(body).unwrap_or_default();
        self.post_jws(url, &flattened(key, &protected, &payload))
            .await
    }

    /// A POST signed by an account (`kid`).
    pub async fn post(&self, account: &Account, url: &str, payload: Option<&Value>) -> Resp {
        self.signed(&account.key, By::Kid(&account.url), url, payload)
            .await
    }

    /// newAccount with `key`, bound by `eab` if given: the answer.
    pub async fn new_account_resp(&self, key: &Key, eab: Option<&EabCredential>) -> Resp {
        let url = self.url("newAccount");
        let mut payload =
            json!({"termsOfServiceAgreed": true, "contact": ["mailto:acme@example.com"]});
        if let Some(eab) = eab {
            payload["externalAccountBinding"] = eab_jws(&eab.kid, &eab.hmac_key, &key.jwk(), &url);
        }
        self.signed(key, By::Jwk, &url, Some(&payload)).await
    }

    /// Registers `key` (201 asserted).
    pub async fn register(&self, key: Key, eab: Option<&EabCredential>) -> Account {
        let r = self.new_account_resp(&key, eab).await;
        r.ok(201);
        let url = r.header("location").expect("Location of the account");
        assert_eq!(r.json["status"], "valid", "{}", r.text());
        Account { key, url }
    }

    /// newOrder for `names`: the answer (201 not asserted).
    pub async fn new_order_resp(
        &self,
        account: &Account,
        names: &[&str],
        replaces: Option<&str>,
    ) -> Resp {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let mut payload = json!({"identifiers": identifiers});
        if let Some(replaces) = replaces {
            payload["replaces"] = json!(replaces);
        }
        self.post(account, &self.url("newOrder"), Some(&payload))
            .await
    }

    /// newOrder (201 asserted): (order URL, order object).
    pub async fn new_order(&self, account: &Account, names: &[&str]) -> (String, Value) {
        let r = self.new_order_resp(account, names, None).await;
        r.ok(201);
        let url = r.header("location").expect("Location of the order");
        assert_eq!(r.json["status"], "pending", "{}", r.text());
        (url, r.json.clone())
    }

    /// POST-as-GET (200 asserted).
    pub async fn fetch(&self, account: &Account, url: &str) -> Resp {
        let r = self.post(account, url, None).await;
        r.ok(200);
        r
    }

    /// Polls `url` until its status is one of `until` (30 s at most).
    pub async fn poll(&self, account: &Account, url: &str, until: &[&str]) -> Resp {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.fetch(account, url).await;
            let status = r.json["status"].as_str().unwrap_or_default().to_string();
            if until.contains(&status.as_str()) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{url} still {status} after 30 s (waiting for {until:?}): {}",
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The challenge of `kind` of an authorization.
    pub async fn challenge(&self, account: &Account, authz: &str, kind: &str) -> (Value, Value) {
        let a = self.fetch(account, authz).await.json.clone();
        let challenge = a["challenges"]
            .as_array()
            .expect("challenges")
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} challenge in {a}"))
            .clone();
        (a, challenge)
    }

    /// Answers the `kind` challenge of each authorization with `answer`
    /// (which publishes the key authorization), then waits until each
    /// authorization is valid.
    pub async fn authorize(
        &self,
        account: &Account,
        authzs: &[Value],
        kind: &str,
        answer: &dyn Fn(&Value, &str, &str),
    ) {
        for authz in authzs {
            let authz = authz.as_str().unwrap();
            let (a, challenge) = self.challenge(account, authz, kind).await;
            let token = challenge["token"].as_str().unwrap();
            let key_authorization = format!("{token}.{}", account.key.thumbprint());
            answer(&a, token, &key_authorization);
            let r = self
                .post(
                    account,
                    challenge["url"].as_str().unwrap(),
                    Some(&json!({})),
                )
                .await;
            r.ok(200);
            assert!(
                ["processing", "valid", "pending"]
                    .contains(&r.json["status"].as_str().unwrap_or("")),
                "{}",
                r.text()
            );
        }
        for authz in authzs {
            let r = self
                .poll(account, authz.as_str().unwrap(), &["valid", "invalid"])
                .await;
            assert_eq!(
                r.json["status"],
                "valid",
                "authorization failed: {}",
                r.text()
            );
        }
    }

    /// finalize with `csr` (DER): the answer.
    pub async fn finalize(&self, account: &Account, order: &Value, csr: &[u8]) -> Resp {
        let url = order["finalize"].as_str().expect("finalize URL");
        self.post(account, url, Some(&json!({"csr": b64(csr)})))
            .await
    }

    /// Downloads a certificate: the PEM chain.
    pub async fn download(&self, account: &Account, url: &str) -> Resp {
        let r = self.fetch(account, url).await;
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/pem-certificate-chain"),
            "{}",
            r.text()
        );
        r
    }
}

// ---------------------------------------------------------------------------
// Problem documents
// ---------------------------------------------------------------------------

/// Checks an ACME error answer: below 500, `application/problem+json`, an
/// RFC 8555 type among `kinds`, a detail, and (if present) the status
/// member equal to the HTTP status. The type's name, or what is wrong.
pub fn check_problem(r: &Resp, kinds: &[&str]) -> Result<String, String> {
    let text = r.text();
    if !(400..500).contains(&r.status) {
        return Err(format!(
            "expected a 4xx problem ({kinds:?}), got {}: {text}",
            r.status
        ));
    }
    check_problem_document(r)?;
    let name = r.json["type"]
        .as_str()
        .unwrap()
        .strip_prefix(URN)
        .unwrap()
        .to_string();
    if !kinds.contains(&name.as_str()) {
        return Err(format!(
            "problem type {name:?} is not one of {kinds:?}: {} {text}",
            r.status
        ));
    }
    Ok(name)
}

/// The problem document's shape alone (for any status).
pub fn check_problem_document(r: &Resp) -> Result<(), String> {
    let text = r.text();
    let ct = r.header("content-type").unwrap_or_default();
    if !ct.starts_with("application/problem+json") {
        return Err(format!(
            "content type {ct:?} is not application/problem+json ({}): {text}",
            r.status
        ));
    }
    let Some(kind) = r.json["type"].as_str() else {
        return Err(format!("no type in problem: {text}"));
    };
    if !kind.starts_with(URN) {
        return Err(format!("type {kind:?} is not an ACME error type: {text}"));
    }
    if r.json["detail"]
        .as_str()
        .is_none_or(|d| d.trim().is_empty())
    {
        return Err(format!("problem without a detail: {text}"));
    }
    if let Some(status) = r.json.get("status")
        && status.as_u64() != Some(u64::from(r.status))
    {
        return Err(format!("status member is not {}: {text}", r.status));
    }
    Ok(())
}

#[track_caller]
pub fn problem_any(r: &Resp, kinds: &[&str]) -> String {
    check_problem(r, kinds).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
pub fn problem(r: &Resp, kind: &str) {
    problem_any(r, &[kind]);
}

#[track_caller]
pub fn assert_problem_document(r: &Resp) {
    check_problem_document(r).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------
// Responders
// ---------------------------------------------------------------------------

/// An http-01 responder on 127.0.0.1: answers
/// `/.well-known/acme-challenge/{token}` with the key authorization set for
/// it, 404 otherwise. Plain threads, so it answers whatever the test does.
pub struct Http01 {
    pub port: u16,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
    /// How many requests it served.
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl Http01 {
    pub fn start() -> Http01 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tokens: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        {
            let (tokens, stop, hits) = (tokens.clone(), stop.clone(), hits.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let tokens = tokens.clone();
                    hits.fetch_add(1, Ordering::SeqCst);
                    thread::spawn(move || serve_http01(stream, &tokens));
                }
            });
        }
        Http01 {
            port,
            tokens,
            stop,
            hits,
        }
    }

    pub fn set(&self, token: &str, key_authorization: &str) {
        self.tokens
            .lock()
            .unwrap()
            .insert(token.to_string(), key_authorization.to_string());
    }
}

impl Drop for Http01 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_http01(mut stream: TcpStream, tokens: &Mutex<HashMap<String, String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let answer = path
        .strip_prefix("/.well-known/acme-challenge/")
        .and_then(|token| tokens.lock().unwrap().get(token).cloned());
    let response = match answer {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
        }
    };
    let _ = stream.write_all(response.as_bytes());
}

/// A tls-alpn-01 responder (RFC 8737) on 127.0.0.1: for the SNI name it
/// knows, a self-signed certificate naming it alone with the critical
/// acmeIdentifier extension; ALPN acme-tls/1 only.
pub struct TlsAlpn01 {
    pub port: u16,
    certs: Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>,
    stop: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BySni(Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.lock().unwrap().get(&name).cloned()
    }
}

impl TlsAlpn01 {
    pub fn start() -> TlsAlpn01 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let certs: Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni(certs.clone())));
        config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let config = Arc::new(config);
        {
            let stop = stop.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let config = config.clone();
                    thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        while conn.is_handshaking() {
                            if conn.complete_io(&mut stream).is_err() {
                                return;
                            }
                        }
                        conn.send_close_notify();
                        let _ = conn.complete_io(&mut stream);
                    });
                }
            });
        }
        TlsAlpn01 { port, certs, stop }
    }

    /// Serves the validation certificate of `name` for `key_authorization`.
    pub fn set(&self, name: &str, key_authorization: &str) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .custom_extensions
            .push(rcgen::CustomExtension::new_acme_identifier(&sha256(
                key_authorization,
            )));
        let cert = params.self_signed(&key).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let signing = provider.key_provider.load_private_key(private).unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], signing);
        self.certs
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), Arc::new(certified));
    }
}

impl Drop for TlsAlpn01 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

// ---------------------------------------------------------------------------
// A server with its responders
// ---------------------------------------------------------------------------

/// A `certd serve` with ACME validating through this test's own DNS server
/// and responders.
pub struct Env {
    pub acme: Acme,
    pub http01: Http01,
    pub tls: TlsAlpn01,
    pub dns: TestDns,
    /// The dns-01 values published per name (a wildcard and its base name
    /// share one).
    txt: Mutex<HashMap<String, Vec<String>>>,
    /// Last, so that it stops first (its log is shown on a panic).
    pub s: Server,
}

impl Env {
    /// A server with `extra` arguments (e.g. `--auto-approve orders`).
    pub async fn start(extra: &[&str]) -> Env {
        let dns = TestDns::start();
        let http01 = Http01::start();
        let tls = TlsAlpn01::start();
        let (http_port, tls_port, resolver) = (
            http01.port.to_string(),
            tls.port.to_string(),
            dns.addr().to_string(),
        );
        let mut args = vec![
            "--acme-http01-port",
            http_port.as_str(),
            "--acme-tls-alpn01-port",
            tls_port.as_str(),
            "--acme-dns-resolver",
            resolver.as_str(),
            "--rate-limit",
            "0",
        ];
        args.extend_from_slice(extra);
        let s = Server::start_with(&args);
        let acme = Acme::new(&s.base).await;
        Env {
            acme,
            http01,
            tls,
            dns,
            txt: Mutex::default(),
            s,
        }
    }

    /// A new certd user: (API key, user id, email).
    pub async fn user(&self) -> (String, i64, String) {
        let key = self.s.user();
        let me = self.s.me(&key).await;
        (
            key,
            int(&me["id"]),
            me["email"].as_str().unwrap().to_string(),
        )
    }

    /// A new user and an account bound to it by EAB: (API key, account).
    pub async fn user_account(&self, key: Key) -> (String, Account) {
        let (api_key, user_id, _) = self.user().await;
        let eab = eab_for(&self.s, user_id).await;
        (api_key, self.acme.register(key, Some(&eab)).await)
    }

    /// Publishes http-01 answers through this env's responder.
    pub fn http01_answer(&self) -> impl Fn(&Value, &str, &str) + '_ {
        |_, token, key_authorization| self.http01.set(token, key_authorization)
    }

    /// Publishes dns-01 answers in this env's DNS server.
    pub fn dns01_answer(&self) -> impl Fn(&Value, &str, &str) + '_ {
        |authz, _, key_authorization| {
            let name = format!(
                "_acme-challenge.{}",
                authz["identifier"]["value"].as_str().unwrap()
            );
            let mut txt = self.txt.lock().unwrap();
            let values = txt.entry(name.clone()).or_default();
            values.push(b64(sha256(key_authorization)));
            self.dns.set_txt(&name, values.clone());
        }
    }

    /// Publishes tls-alpn-01 answers through this env's TLS responder.
    pub fn tls_alpn01_answer(&self) -> impl Fn(&Value, &str, &str) + '_ {
        |authz, _, key_authorization| {
            let name = authz["identifier"]["value"].as_str().unwrap();
            self.tls.set(name, key_authorization)
        }
    }

    /// Orders `names`, proves them over http-01 and waits for `ready`:
    /// (order URL, ready order).
    pub async fn ready_order(&self, account: &Account, names: &[&str]) -> (String, Value) {
        let (url, order) = self.acme.new_order(account, names).await;
        let authzs = order["authorizations"].as_array().unwrap().clone();
        self.acme
            .authorize(account, &authzs, "http-01", &self.http01_answer())
            .await;
        let ready = self.acme.poll(account, &url, &["ready", "invalid"]).await;
        assert_eq!(ready.json["status"], "ready", "{}", ready.text());
        (url, ready.json.clone())
    }

    /// The whole flow with auto-approval: a certificate for `names` with
    /// `cert_key`.
    pub async fn issue(&self, account: &Account, names: &[&str], cert_key: &Key) -> Issued {
        let (order_url, order) = self.ready_order(account, names).await;
        let r = self
            .acme
            .finalize(account, &order, &csr_der(cert_key, names))
            .await;
        r.ok(200);
        let valid = self
            .acme
            .poll(account, &order_url, &["valid", "invalid"])
            .await;
        assert_eq!(valid.json["status"], "valid", "{}", valid.text());
        let cert_url = valid.json["certificate"].as_str().unwrap().to_string();
        let chain = self.acme.download(account, &cert_url).await.text();
        Issued::new(order_url, cert_url, chain)
    }

    /// The REST certificate id of a certificate (by serial, as the administrator).
    pub async fn rest_certificate(&self, issued: &Issued) -> Value {
        let id: i64 = issued.cert_url.rsplit('/').next().unwrap().parse().unwrap();
        let c = self.s.cert(id).await;
        assert_eq!(
            c["serial_number"].as_str().map(str::to_ascii_lowercase),
            Some(issued.serial_hex.clone()),
            "{c}"
        );
        c
    }
}

/// A certificate issued over ACME.
pub struct Issued {
    pub order_url: String,
    pub cert_url: String,
    pub chain: String,
    pub der: Vec<u8>,
    /// Lower-case hex of the serial number.
    pub serial_hex: String,
    /// RFC 9773 certID.
    pub cert_id: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl Issued {
    pub fn new(order_url: String, cert_url: String, chain: String) -> Issued {
        let blocks = pem_blocks(&chain);
        assert_eq!(
            blocks.len(),
            2,
            "the chain is the certificate and its issuer: {chain}"
        );
        let (_, pem) = x509_parser::pem::parse_x509_pem(blocks[0].as_bytes()).unwrap();
        let der = pem.contents.clone();
        let (serial_hex, cert_id, not_before, not_after) = cert_facts(&der);
        Issued {
            order_url,
            cert_url,
            chain,
            der,
            serial_hex,
            cert_id,
            not_before,
            not_after,
        }
    }

    /// The certificate's REST id (certd's `/acme/cert/{id}` is it).
    pub fn id(&self) -> i64 {
        self.cert_url.rsplit('/').next().unwrap().parse().unwrap()
    }
}

/// (serial hex, RFC 9773 certID, notBefore, notAfter) of a DER certificate.
pub fn cert_facts(der: &[u8]) -> (String, String, i64, i64) {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let serial = cert.tbs_certificate.raw_serial();
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("the certificate has an authority key identifier");
    let serial_hex = hex::encode(
        serial
            .iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>(),
    );
    (
        serial_hex,
        format!("{}.{}", b64(&aki), b64(serial)),
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    )
}

/// Unix seconds of an RFC 3339 time as certd writes them (`...Z` or `+00:00`).
pub fn unix(rfc3339: &Value) -> i64 {
    let s = rfc3339
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {rfc3339}"));
    let n = |range: std::ops::Range<usize>| -> i64 {
        s.get(range)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not an RFC 3339 time: {s}"))
    };
    let rest = &s[19..];
    assert!(
        rest == "Z" || rest == "+00:00" || rest.starts_with('.'),
        "not a UTC RFC 3339 time: {s}"
    );
    let month = time::Month::try_from(n(5..7) as u8).unwrap();
    let date = time::Date::from_calendar_date(n(0..4) as i32, month, n(8..10) as u8).unwrap();
    let t = date
        .with_hms(n(11..13) as u8, n(14..16) as u8, n(17..19) as u8)
        .unwrap()
        .assume_utc();
    t.unix_timestamp()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The last path segment of a URL (an id).
pub fn last_segment(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

/// `openssl verify -CAfile chain.pem` of the first certificate of `chain`,
/// with the server's published chain.
pub async fn openssl_verify(s: &Server, chain: &str) {
    let ca = reqwest::get(s.url("/ca/chain.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blocks = pem_blocks(chain);
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), &blocks[0]).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args(["verify", "-CAfile", "ca.pem", "leaf.pem"])
        .output()
        .expect("run openssl verify");
    assert!(
        out.status.success(),
        "openssl verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
