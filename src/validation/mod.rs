//! The ACME validation authority: certd checks a challenge (RFC 8555 §8.3
//! http-01, §8.4 dns-01, RFC 8737 tls-alpn-01) by going to look itself.
//!
//! Everything a remote peer sends is untrusted: bodies, redirects, DNS answers
//! and certificates are read within bounds, never panic on, and are quoted
//! (shortened) in the failure's detail. Each validation as a whole ends within
//! [`ValidatorConfig::timeout`], and never connects to one of certd's own
//! listeners ([`ValidatorConfig::forbidden`]).

mod dns;
mod http01;
mod tls_alpn01;

#[cfg(test)]
pub(crate) mod test_dns;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

/// How certd validates challenges (`certd serve --acme-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidatorConfig {
    /// The port http-01 connects to (`--acme-http01-port`, default 80).
    pub http01_port: u16,
    /// The port tls-alpn-01 connects to (default 443).
    pub tls_alpn01_port: u16,
    /// The DNS server for A, AAAA and TXT lookups (`--acme-dns-resolver`);
    /// `None`: the system resolver for addresses (`/etc/hosts` honoured) and
    /// the servers of `/etc/resolv.conf` for TXT.
    pub resolver: Option<SocketAddr>,
    /// The whole validation's time limit (default 10 s).
    pub timeout: Duration,
    /// certd's own listeners: never connected to, on the first hop or after a
    /// redirect. An unspecified address (`0.0.0.0:8080`, `[::]:8080`) also
    /// covers the loopback addresses on that port.
    pub forbidden: Vec<SocketAddr>,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            http01_port: 80,
            tls_alpn01_port: 443,
            resolver: None,
            timeout: Duration::from_secs(10),
            forbidden: Vec::new(),
        }
    }
}

/// An ACME challenge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChallengeKind {
    Http01,
    Dns01,
    TlsAlpn01,
}

impl ChallengeKind {
    pub(crate) const ALL: [ChallengeKind; 3] = [Self::Http01, Self::Dns01, Self::TlsAlpn01];

    /// The challenge's `type` on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Http01 => "http-01",
            Self::Dns01 => "dns-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a challenge failed: the RFC 8555 error type (the part after
/// `urn:ietf:params:acme:error:`) and a sentence for the client's operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidationFailure {
    /// "dns", "connection", "incorrectResponse", "unauthorized", "tls",
    /// "rejectedIdentifier", or "serverInternal" (certd's own mistake, such
    /// as a token that is not base64url).
    pub problem: &'static str,
    /// What certd looked at (URL, record, address) and what it found; at most
    /// [`MAX_DETAIL`] bytes.
    pub detail: String,
}

/// The longest [`ValidationFailure::detail`], in bytes.
pub(crate) const MAX_DETAIL: usize = 1024;

impl ValidationFailure {
    pub(crate) fn new(problem: &'static str, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.len() > MAX_DETAIL {
            let mut end = MAX_DETAIL - '…'.len_utf8();
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
        }
        Self { problem, detail }
    }

    fn dns(detail: impl Into<String>) -> Self {
        Self::new("dns", detail)
    }
    fn connection(detail: impl Into<String>) -> Self {
        Self::new("connection", detail)
    }
    fn incorrect_response(detail: impl Into<String>) -> Self {
        Self::new("incorrectResponse", detail)
    }
    fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", detail)
    }
    fn tls(detail: impl Into<String>) -> Self {
        Self::new("tls", detail)
    }
    fn rejected_identifier(detail: impl Into<String>) -> Self {
        Self::new("rejectedIdentifier", detail)
    }
}

impl fmt::Display for ValidationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem, self.detail)
    }
}

impl std::error::Error for ValidationFailure {}

/// Checks challenges. Cheap to clone (one `Arc`); build one per server.
#[derive(Clone)]
pub(crate) struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    config: ValidatorConfig,
    /// Built on first use, inside the runtime that uses it.
    resolvers: OnceLock<Result<dns::Resolvers, String>>,
    /// tls-alpn-01's client configuration (any certificate, ALPN acme-tls/1).
    tls_alpn: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Validator {
    pub(crate) fn new(config: ValidatorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                resolvers: OnceLock::new(),
                tls_alpn: tls_alpn01::client_config(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &ValidatorConfig {
        &self.inner.config
    }

    /// Checks one challenge for `name` (a DNS name, without a wildcard's `*.`).
    /// `key_authorization` is `token || '.' || base64url(JWK thumbprint)`.
    pub(crate) async fn validate(
        &self,
        kind: ChallengeKind,
        name: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationFailure> {
        let name = check_name(name)?;
        check_token(token)?;
        let timeout = self.inner.config.timeout;
        let deadline = Instant::now() + timeout;
        let work = async {
            match kind {
                ChallengeKind::Http01 => {
                    http01::validate(self, &name, token, key_authorization, deadline).await
                }
                ChallengeKind::Dns01 => {
                    dns::validate_dns01(self, &name, key_authorization, deadline).await
                }
                ChallengeKind::TlsAlpn01 => {
                    tls_alpn01::validate(self, &name, key_authorization, deadline).await
                }
            }
        };
        // Each step has its own deadline and says what it was doing; this is
        // the backstop.
        match tokio::time::timeout_at(deadline + Duration::from_millis(50), work).await {
            Ok(result) => result,
            Err(_) => Err(ValidationFailure::connection(format!(
                "{kind} validation of {name} did not finish within {}",
                secs(timeout)
            ))),
        }
    }

    fn resolvers(&self) -> Result<&dns::Resolvers, ValidationFailure> {
        self.inner
            .resolvers
            .get_or_init(|| dns::Resolvers::new(self.inner.config.resolver))
            .as_ref()
            .map_err(|e| ValidationFailure::dns(e.clone()))
    }

    /// Why certd refuses to connect to `addr`, if it does.
    fn refusal(&self, addr: SocketAddr) -> Option<String> {
        let ip = addr.ip().to_canonical();
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
            return Some(format!("refusing to connect to {addr}"));
        }
        let own = self.inner.config.forbidden.iter().any(|f| {
            let fip = f.ip().to_canonical();
            f.port() == addr.port() && (fip == ip || (fip.is_unspecified() && ip.is_loopback()))
        });
        own.then(|| format!("refusing to connect to {addr}, one of certd's own listeners"))
    }
}

/// The dns-01 TXT value and the tls-alpn-01 digest input.
fn key_authorization_digest(key_authorization: &str) -> [u8; 32] {
    Sha256::digest(key_authorization.as_bytes()).into()
}

fn dns01_txt_value(key_authorization: &str) -> String {
    URL_SAFE_NO_PAD.encode(key_authorization_digest(key_authorization))
}

/// Lower-cases `name` and checks that it is a DNS name certd may look up.
fn check_name(name: &str) -> Result<String, ValidationFailure> {
    let shown = quote(name.as_bytes(), 100);
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.starts_with("*.") {
        return Err(ValidationFailure::rejected_identifier(format!(
            "{shown} is a wildcard; only dns-01 validates wildcards, for the name without \"*.\""
        )));
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(ValidationFailure::rejected_identifier(format!(
            "{shown} is an IP address, not a DNS name"
        )));
    }
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if name.is_empty() || name.len() > 253 || !labels_ok {
        return Err(ValidationFailure::rejected_identifier(format!(
            "{shown} is not a valid DNS name"
        )));
    }
    Ok(name)
}

/// A token is certd's own (RFC 8555 §8.3: base64url, at least 128 bits).
fn check_token(token: &str) -> Result<(), ValidationFailure> {
    let ok = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ValidationFailure::new(
            "serverInternal",
            "the challenge token is not base64url",
        ))
    }
}

/// `bytes` as a quoted, escaped string of at most about `max` characters.
fn quote(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push_str("\"…");
            return out;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// An error and its causes, joined, for a detail.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// First an IPv4 address then an IPv6 one (RFC 8555 §8.3 leaves the order to
/// the server; Boulder also tries one of each family).
fn connection_candidates(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let v4 = addrs.iter().find(|ip| ip.is_ipv4());
    let v6 = addrs.iter().find(|ip| ip.is_ipv6());
    v4.into_iter().chain(v6).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_kinds_round_trip() {
        for kind in ChallengeKind::ALL {
            assert_eq!(ChallengeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChallengeKind::parse("tls-sni-01"), None);
        assert_eq!(ChallengeKind::Dns01.to_string(), "dns-01");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("WWW.Example.test.").unwrap(), "www.example.test");
        for bad in [
            "",
            "*.example.test",
            "127.0.0.1",
            "::1",
            "a..b",
            "a/b",
            "a:80",
            "-a.test",
            "é.test",
        ] {
            let err = check_name(bad).unwrap_err();
            assert_eq!(err.problem, "rejectedIdentifier", "{bad}");
        }
        assert!(check_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn details_are_bounded() {
        let f = ValidationFailure::new("dns", "é".repeat(2000));
        assert!(f.detail.len() <= MAX_DETAIL);
        assert!(f.detail.ends_with('…'));
        assert_eq!(quote(b"ab\n\xff", 100), "\"ab\\n\u{fffd}\"");
        assert_eq!(quote(&[b'x'; 300], 3), "\"xxx\"…");
    }

    #[test]
    fn digest_matches_rfc_8555_example_shape() {
        // 43 base64url characters of SHA-256.
        let v = dns01_txt_value("token.thumbprint");
        assert_eq!(v.len(), 43);
        assert!(!v.contains('='));
    }

    #[test]
    fn own_listeners_are_refused() {
        let v = Validator::new(ValidatorConfig {
            forbidden: vec![
                "127.0.0.1:8080".parse().unwrap(),
                "0.0.0.0:9090".parse().unwrap(),
            ],
            ..ValidatorConfig::default()
        });
        assert!(v.refusal("127.0.0.1:8080".parse().unwrap()).is_some());
        assert!(
            v.refusal("[::ffff:127.0.0.1]:8080".parse().unwrap())
                .is_some()
        );
        assert!(v.refusal("127.0.0.1:8081".parse().unwrap()).is_none());
        assert!(v.refusal("127.0.0.2:9090".parse().unwrap()).is_some());
        assert!(v.refusal("[::1]:9090".parse().unwrap()).is_some());
        assert!(v.refusal("192.0.2.1:9090".parse().unwrap()).is_none());
        assert!(v.refusal("0.0.0.0:80".parse().unwrap()).is_some());
    }
}
