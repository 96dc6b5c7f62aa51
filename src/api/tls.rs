//! HTTPS (rustls): the certificate new connections get, swapped in place
//! when it changes (SIGHUP, `--tls auto`'s renewal) while open connections
//! carry on with theirs; each connection's handshake, done on its own task
//! under [`HANDSHAKE_TIMEOUT`]; and a plain-HTTP request to the HTTPS port,
//! answered 400 with the URL to use instead of left to hang.
//!
//! TLS 1.2 and 1.3 only (rustls has nothing older), ALPN `h2` and
//! `http/1.1`.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest time a client may take to complete its TLS handshake (or to
/// send its first byte).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a plain-HTTP client gets to send its request's head before it
/// is answered anyway.
const PLAIN_HTTP_READ: Duration = Duration::from_secs(1);
/// The content type of a TLS handshake record: every TLS connection's
/// first byte.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A certificate chain and the private key of its first certificate,
/// checked to match.
#[derive(Debug, Clone)]
pub(crate) struct ServerKey {
    key: Arc<CertifiedKey>,
}

impl ServerKey {
    /// Reads a PEM certificate chain (the server's certificate first) and
    /// a PEM private key (PKCS#8, SEC1 or RSA). Errors are one sentence
    /// naming the option and the file.
    pub(crate) fn from_files(cert_file: &Path, key_file: &Path) -> Result<ServerKey, String> {
        let cert_option = format!("--tls-cert {}", cert_file.display());
        let key_option = format!("--tls-key {}", key_file.display());
        let read = |file: &Path, option: &str| {
            std::fs::read(file).map_err(|e| format!("cannot read {option}: {e}"))
        };
        let chain = certificates(&read(cert_file, &cert_option)?)
            .map_err(|e| format!("cannot use {cert_option}: {e}"))?;
        let key = private_key(&read(key_file, &key_option)?)
            .map_err(|e| format!("cannot use {key_option}: {e}"))?;
        Self::new(chain, key).map_err(|e| match e {
            KeyError::Key(e) => format!("cannot use {key_option}: {e}"),
            KeyError::Mismatch => format!(
                "cannot use {key_option}: the key does not match the certificate in {cert_option}"
            ),
        })
    }

    /// A chain in PEM (the server's certificate first) and its PKCS#8 key.
    pub(crate) fn from_pem_chain(chain_pem: &str, key_pkcs8: Vec<u8>) -> Result<ServerKey, String> {
        let chain = certificates(chain_pem.as_bytes())?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
        Self::new(chain, key).map_err(|e| match e {
            KeyError::Key(e) => e,
            KeyError::Mismatch => "the key does not match the certificate".to_string(),
        })
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ServerKey, KeyError> {
        let signing_key = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| KeyError::Key(format!("unusable private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(KeyError::Mismatch);
            }
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(e) => return Err(KeyError::Key(format!("unusable certificate: {e}"))),
        }
        Ok(ServerKey {
            key: Arc::new(certified),
        })
    }

    /// The server's certificate (DER).
    pub(crate) fn leaf(&self) -> &[u8] {
        self.key.cert.first().map_or(&[], |c| c.as_ref())
    }
}

enum KeyError {
    Key(String),
    Mismatch,
}

/// The certificates of a PEM chain, each checked to parse.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no PEM certificate found (\"-----BEGIN CERTIFICATE-----\")".into());
    }
    for (i, cert) in chain.iter().enumerate() {
        if x509_parser::parse_x509_certificate(cert).is_err() {
            return Err(format!("certificate {} is not valid X.509", i + 1));
        }
    }
    Ok(chain)
}

/// The first private key of a PEM file.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(
            "the private key is encrypted: give it in clear (PEM PKCS#8, SEC1 or RSA) \
                    in a file only certd may read"
                .into(),
        );
    }
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err("no private key found (PEM \"PRIVATE KEY\", \
                                              \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\")"
            .into()),
        Err(e) => Err(format!("not a PEM private key: {e}")),
    }
}

/// The cryptography certd's TLS uses: ring, as everywhere else in certd.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate that new handshakes get.
#[derive(Debug)]
struct CurrentKey(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// What serves HTTPS on a listener. Clones share the certificate.
#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<CurrentKey>,
}

impl Tls {
    pub(crate) fn new(key: ServerKey) -> Result<Tls, String> {
        let current = Arc::new(CurrentKey(RwLock::new(key.key)));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
        })
    }

    /// New connections get `key` from now on; open ones keep theirs.
    pub(crate) fn replace(&self, key: ServerKey) {
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = key.key;
    }

    /// The TLS side of a new connection, or `None` when the client fails
    /// the handshake, takes longer than [`HANDSHAKE_TIMEOUT`], or speaks
    /// plain HTTP (which is answered 400 first).
    pub(crate) async fn accept(&self, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake(stream))
            .await
            .unwrap_or(None)
    }

    async fn handshake(&self, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(1) => {
                answer_plain_http(stream).await;
                return None;
            }
            _ => return None,
        }
        match self.acceptor.accept(stream).await {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::debug!(%error, "TLS handshake failed");
                None
            }
        }
    }
}

/// Answers a plain-HTTP request on the HTTPS port with 400 and the URL to
/// use, then closes. The request's head is read first (briefly), for its
/// Host header and so that closing does not reset the connection under the
/// answer.
async fn answer_plain_http(mut stream: TcpStream) {
    let deadline = Instant::now() + PLAIN_HTTP_READ;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let host = host_header(&head).or_else(|| stream.local_addr().ok().map(|a| a.to_string()));
    let body = match host {
        Some(host) => format!("This port speaks HTTPS: use https://{host}/\n"),
        None => "This port speaks HTTPS: use https://\n".to_string(),
    };
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Whatever else the client sends (a body) is read and dropped until it
    // closes, so that the kernel does not reset the connection under the answer.
    let _ = tokio::time::timeout(PLAIN_HTTP_READ, async {
        let mut total = 0usize;
        while let Ok(n) = stream.read(&mut buf).await {
            total += n;
            if n == 0 || total > 65536 {
                break;
            }
        }
    })
    .await;
}

/// The Host header of a request head, if it is a plausible host[:port].
fn host_header(head: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(head).ok()?;
    let value = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim().to_string())
    })?;
    let plausible = !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    plausible.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_read_and_checked() {
        let head = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHOST: pki.example.com:8443\r\n\r\n";
        assert_eq!(host_header(head).as_deref(), Some("pki.example.com:8443"));
        assert_eq!(
            host_header(b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n").as_deref(),
            Some("[::1]:8443")
        );
        assert_eq!(host_header(b"GET / HTTP/1.1\r\nHost: <b>\r\n\r\n"), None);
        assert_eq!(host_header(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn keys_are_found_in_any_usual_pem() {
        let key = rcgen::KeyPair::generate().unwrap();
        assert!(private_key(key.serialize_pem().as_bytes()).is_ok());
        let garbage = private_key(b"not a key").unwrap_err();
        assert!(garbage.contains("no private key found"), "{garbage}");
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(
            private_key(encrypted.as_bytes())
                .unwrap_err()
                .contains("encrypted")
        );
    }

    #[test]
    fn a_key_must_match_its_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(ServerKey::from_pem_chain(&cert.pem(), key.serialize_der()).is_ok());
        let refused = ServerKey::from_pem_chain(&cert.pem(), other.serialize_der()).unwrap_err();
        assert!(refused.contains("does not match"), "{refused}");
    }
}
