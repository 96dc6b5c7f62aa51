//! tls-alpn-01 (RFC 8737): a TLS handshake with `name` as SNI that offers
//! only ALPN `acme-tls/1`; the server's self-signed certificate names `name`
//! alone and carries the critical id-pe-acmeIdentifier extension with
//! SHA-256(key authorization).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use x509_parser::extensions::GeneralName;

use super::{
    ValidationFailure, Validator, connection_candidates, error_chain, key_authorization_digest,
    quote,
};

/// The ALPN protocol of RFC 8737 §6.2.
pub(super) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// The client configuration: any certificate (its content is what is
/// checked), handshake signatures verified, ALPN acme-tls/1 only.
pub(super) fn client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

pub(super) async fn validate(
    v: &Validator,
    name: &str,
    key_authorization: &str,
    deadline: Instant,
) -> Result<(), ValidationFailure> {
    let port = v.config().tls_alpn01_port;
    let server_name = ServerName::try_from(name.to_owned()).map_err(|_| {
        ValidationFailure::rejected_identifier(format!("{name} cannot be sent as a TLS SNI"))
    })?;
    let addrs = v.resolve_addrs(name, port, deadline).await?;
    let mut tcp = None;
    let mut last = None;
    let candidates = connection_candidates(&addrs);
    for (i, ip) in candidates.iter().enumerate() {
        let addr = SocketAddr::new(*ip, port);
        let remaining = deadline.saturating_duration_since(Instant::now());
        // Leave the next address time to try.
        let attempt_deadline = if i + 1 < candidates.len() {
            Instant::now() + remaining / 2
        } else {
            deadline
        };
        match timeout_at(attempt_deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                tcp = Some((addr, stream));
                break;
            }
            Ok(Err(e)) => last = Some(format!("cannot connect to {addr}: {e}")),
            Err(_) => last = Some(format!("timed out connecting to {addr}")),
        }
    }
    let Some((addr, tcp)) = tcp else {
        return Err(ValidationFailure::connection(
            last.unwrap_or_else(|| format!("no address to connect to for {name}")),
        ));
    };
    let connector = tokio_rustls::TlsConnector::from(v.inner.tls_alpn.clone());
    let tls = match timeout_at(deadline, connector.connect(server_name, tcp)).await {
        Err(_) => {
            return Err(ValidationFailure::connection(format!(
                "timed out in the TLS handshake with {addr} for {name}"
            )));
        }
        Ok(Err(e)) => {
            return Err(ValidationFailure::tls(format!(
                "TLS handshake with {addr} for {name} (ALPN acme-tls/1) failed: {}",
                error_chain(&e)
            )));
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, conn) = tls.get_ref();
    if conn.alpn_protocol() != Some(ACME_TLS_ALPN) {
        return Err(ValidationFailure::unauthorized(format!(
            "{addr} did not negotiate ALPN protocol \"acme-tls/1\" for {name} (it chose {})",
            conn.alpn_protocol()
                .map_or_else(|| "none".to_owned(), |p| quote(p, 40))
        )));
    }
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Err(ValidationFailure::tls(format!(
            "{addr} presented no certificate for {name}"
        )));
    };
    check_certificate(leaf, name, key_authorization).map_err(|why| {
        ValidationFailure::unauthorized(format!(
            "incorrect tls-alpn-01 certificate from {addr} for {name}: {why}"
        ))
    })
}

/// RFC 8737 §3: one subjectAltName, the dNSName `name`, and a critical
/// acmeIdentifier whose value is the DER OCTET STRING of the digest.
fn check_certificate(der: &[u8], name: &str, key_authorization: &str) -> Result<(), String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("cannot parse it: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?
        .ok_or("it has no subjectAltName")?;
    match san.value.general_names.as_slice() {
        [GeneralName::DNSName(dns)] if dns.eq_ignore_ascii_case(name) => {}
        [GeneralName::DNSName(dns)] => {
            return Err(format!(
                "its subjectAltName is {}, not {name}",
                quote(dns.as_bytes(), 100)
            ));
        }
        names => {
            return Err(format!(
                "its subjectAltName must hold exactly one dNSName, {name}; it holds {} name(s)",
                names.len()
            ));
        }
    }
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .ok_or("it has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)")?;
    if !ext.critical {
        return Err("its acmeIdentifier extension is not critical".to_owned());
    }
    let digest = key_authorization_digest(key_authorization);
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(&digest);
    if ext.value == expected.as_slice() {
        return Ok(());
    }
    match ext.value {
        [0x04, 0x20, got @ ..] if got.len() == 32 => Err(format!(
            "its acmeIdentifier is {}, not SHA-256 of the key authorization {}",
            hex::encode(got),
            hex::encode(digest)
        )),
        _ => Err("its acmeIdentifier is not a DER OCTET STRING of 32 bytes".to_owned()),
    }
}

/// Accepts any certificate: tls-alpn-01's is self-signed, and what makes it
/// right is its content. The handshake's signature is still checked, so the
/// peer holds the certificate's key.
///
/// Not rustls' `verify_tls12_signature`/`verify_tls13_signature`: they parse
/// the certificate with webpki, which refuses a critical extension it does
/// not know, and RFC 8737 makes acmeIdentifier critical. The signature is
/// checked against the certificate's SubjectPublicKeyInfo instead, with the
/// provider's algorithms, as webpki does.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl AnyCertificate {
    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        let unadvertised = || {
            rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            )
        };
        if tls13 && !allowed_in_tls13(dss.scheme) {
            return Err(unadvertised());
        }
        let candidates = algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or_else(unadvertised)?;
        // TLS 1.3 binds a scheme to one algorithm; TLS 1.2 tries each.
        let candidates = if tls13 {
            candidates.get(..1).unwrap_or_default()
        } else {
            candidates
        };
        let bad_cert = |why: &'static str| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(BadCertificate(why)),
            )))
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|_| bad_cert("the certificate cannot be parsed"))?;
        let spki = parsed.public_key();
        let algorithm_id = spki_algorithm(spki.raw)
            .ok_or(bad_cert("the certificate's public key cannot be parsed"))?;
        let key = spki.subject_public_key.data.as_ref();
        for alg in candidates {
            if alg.public_key_alg_id().as_ref() == algorithm_id {
                return alg
                    .verify_signature(key, message, dss.signature())
                    .map(|()| HandshakeSignatureValid::assertion())
                    .map_err(|_| {
                        rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
                    });
            }
        }
        Err(bad_cert(
            "the handshake's signature scheme does not fit the certificate's key",
        ))
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// RFC 8446 §4.2.3: no SHA-1 and no RSA PKCS#1 v1.5 in TLS 1.3 handshakes.
fn allowed_in_tls13(scheme: SignatureScheme) -> bool {
    !matches!(
        scheme,
        SignatureScheme::RSA_PKCS1_SHA1
            | SignatureScheme::ECDSA_SHA1_Legacy
            | SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
    )
}

#[derive(Debug)]
struct BadCertificate(&'static str);

impl std::fmt::Display for BadCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BadCertificate {}

/// The contents of a SubjectPublicKeyInfo's AlgorithmIdentifier (what
/// `SignatureVerificationAlgorithm::public_key_alg_id` holds).
fn spki_algorithm(spki: &[u8]) -> Option<&[u8]> {
    let (0x30, contents, _) = der_tlv(spki)? else {
        return None;
    };
    match der_tlv(contents)? {
        (0x30, algorithm, _) => Some(algorithm),
        _ => None,
    }
}

/// One DER tag-length-value: the tag, the contents, and what follows.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use rcgen::{CertificateParams, CustomExtension, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use tokio::io::AsyncWriteExt;

    use super::super::test_dns::TestDns;
    use super::super::{ChallengeKind, ValidatorConfig};
    use super::*;

    const KEY_AUTH: &str = "tok.thumbprint";

    enum Cert {
        Good,
        WrongDigest,
        NoExtension,
        NotCritical,
        OtherName,
        TwoNames,
    }

    /// How a responder differs from a well-behaved one, beyond its certificate.
    #[derive(Clone, Copy)]
    struct Server {
        alg: &'static rcgen::SignatureAlgorithm,
        tls12_only: bool,
        /// Signs the handshake with another key than the certificate's.
        wrong_key: bool,
    }

    const NORMAL: Server = Server {
        alg: &rcgen::PKCS_ECDSA_P256_SHA256,
        tls12_only: false,
        wrong_key: false,
    };

    fn certificate(
        kind: Cert,
        name: &str,
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate_for(alg).unwrap();
        let names = match kind {
            Cert::OtherName => vec!["other.test".to_owned()],
            Cert::TwoNames => vec![name.to_owned(), "other.test".to_owned()],
            _ => vec![name.to_owned()],
        };
        let mut params = CertificateParams::new(names).unwrap();
        let digest = key_authorization_digest(KEY_AUTH);
        match kind {
            Cert::NoExtension => {}
            Cert::WrongDigest => params
                .custom_extensions
                .push(CustomExtension::new_acme_identifier(&[7; 32])),
            Cert::NotCritical => {
                let mut content = vec![0x04, 0x20];
                content.extend_from_slice(&digest);
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 3, 6, 1, 5, 5, 7, 1, 31],
                        content,
                    ));
            }
            _ => params
                .custom_extensions
                .push(CustomExtension::new_acme_identifier(&digest)),
        }
        let cert = params.self_signed(&key).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// A TLS responder on 127.0.0.1 that presents `kind`'s certificate and
    /// speaks `alpn` (empty: none); returns its port.
    async fn responder(kind: Cert, alpn: &[u8], name: &str) -> u16 {
        responder_with(kind, alpn, name, NORMAL).await
    }

    async fn responder_with(kind: Cert, alpn: &[u8], name: &str, server: Server) -> u16 {
        let (cert, mut key) = certificate(kind, name, server.alg);
        if server.wrong_key {
            key = certificate(Cert::Good, name, server.alg).1;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Not `with_single_cert`: webpki refuses to load a certificate with
        // a critical extension it does not know, like acmeIdentifier.
        let signing_key = provider.key_provider.load_private_key(key).unwrap();
        let certified = Arc::new(CertifiedKey::new(vec![cert], signing_key));
        let versions: &[&rustls::SupportedProtocolVersion] = if server.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(certified)));
        if !alpn.is_empty() {
            config.alpn_protocols = vec![alpn.to_vec()];
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        port
    }

    #[derive(Debug)]
    struct Fixed(Arc<CertifiedKey>);

    impl ResolvesServerCert for Fixed {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    async fn check(port: u16, name: &str) -> Result<(), ValidationFailure> {
        let dns = TestDns::start();
        let v = Validator::new(ValidatorConfig {
            tls_alpn01_port: port,
            resolver: Some(dns.addr()),
            timeout: Duration::from_secs(2),
            ..ValidatorConfig::default()
        });
        v.validate(ChallengeKind::TlsAlpn01, name, "tok", KEY_AUTH)
            .await
    }

    #[tokio::test]
    async fn good_certificate() {
        let port = responder(Cert::Good, ACME_TLS_ALPN, "alpn.test").await;
        check(port, "alpn.test").await.unwrap();
        check(port, "ALPN.test").await.unwrap();
    }

    #[tokio::test]
    async fn other_keys_and_tls_1_2() {
        for server in [
            Server {
                alg: &rcgen::PKCS_ECDSA_P384_SHA384,
                ..NORMAL
            },
            Server {
                alg: &rcgen::PKCS_ED25519,
                ..NORMAL
            },
            Server {
                tls12_only: true,
                ..NORMAL
            },
            Server {
                alg: &rcgen::PKCS_ED25519,
                tls12_only: true,
                ..NORMAL
            },
        ] {
            let port = responder_with(Cert::Good, ACME_TLS_ALPN, "alpn.test", server).await;
            check(port, "alpn.test").await.unwrap();
        }
    }

    #[tokio::test]
    async fn handshake_signed_with_another_key_fails() {
        for tls12_only in [false, true] {
            let server = Server {
                wrong_key: true,
                tls12_only,
                ..NORMAL
            };
            let port = responder_with(Cert::Good, ACME_TLS_ALPN, "alpn.test", server).await;
            let err = check(port, "alpn.test").await.unwrap_err();
            assert_eq!(err.problem, "tls", "{err}");
            assert!(err.detail.contains("BadSignature"), "{err}");
        }
    }

    #[tokio::test]
    async fn wrong_certificates() {
        for (kind, words) in [
            (Cert::WrongDigest, "not SHA-256 of the key authorization"),
            (Cert::NoExtension, "no acmeIdentifier"),
            (Cert::NotCritical, "not critical"),
            (Cert::OtherName, "\"other.test\", not alpn.test"),
            (Cert::TwoNames, "exactly one dNSName"),
        ] {
            let port = responder(kind, ACME_TLS_ALPN, "alpn.test").await;
            let err = check(port, "alpn.test").await.unwrap_err();
            assert_eq!(err.problem, "unauthorized", "{err}");
            assert!(err.detail.contains(words), "{words}: {err}");
            assert!(err.detail.contains(&format!("127.0.0.1:{port}")), "{err}");
        }
    }

    #[tokio::test]
    async fn wrong_alpn() {
        // A server without ALPN: the handshake completes, no protocol.
        let port = responder(Cert::Good, b"", "alpn.test").await;
        let err = check(port, "alpn.test").await.unwrap_err();
        assert_eq!(err.problem, "unauthorized", "{err}");
        assert!(err.detail.contains("acme-tls/1"), "{err}");
        // A server that only speaks another protocol refuses the handshake.
        let port = responder(Cert::Good, b"h2", "alpn.test").await;
        let err = check(port, "alpn.test").await.unwrap_err();
        assert_eq!(err.problem, "tls", "{err}");
    }

    #[tokio::test]
    async fn not_tls_and_closed() {
        // Plain HTTP on the port: the handshake fails.
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let _ = tcp
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let err = check(port, "plain.test").await.unwrap_err();
        assert_eq!(err.problem, "tls", "{err}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let err = check(port, "closed.test").await.unwrap_err();
        assert_eq!(err.problem, "connection", "{err}");
    }

    #[test]
    fn der_reader_never_panics() {
        assert_eq!(
            der_tlv(&[0x04, 0x01, 0xaa, 0x05]),
            Some((0x04, &[0xaa][..], &[0x05][..]))
        );
        assert_eq!(
            der_tlv(&[0x30, 0x82, 0x00, 0x01, 0x07]),
            Some((0x30, &[0x07][..], &[][..]))
        );
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x02, 0x00],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x80],
        ] {
            assert_eq!(der_tlv(bad), None);
        }
        assert_eq!(spki_algorithm(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
    }

    #[test]
    fn garbage_certificate_is_refused() {
        let err = check_certificate(b"\x30\x03\x02\x01", "a.test", KEY_AUTH).unwrap_err();
        assert!(err.contains("cannot parse"), "{err}");
    }
}
