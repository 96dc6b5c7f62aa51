//! Name resolution for the validation authority, and dns-01 (RFC 8555 §8.4).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use tokio::time::{Instant, timeout_at};

use super::{ValidationFailure, Validator, dns01_txt_value, error_chain, quote};

/// How many TXT records a failure's detail quotes.
const SHOWN_RECORDS: usize = 5;

/// The resolvers a [`Validator`] uses.
pub(super) struct Resolvers {
    /// `--acme-dns-resolver`: A, AAAA and TXT; `None` means the system's.
    configured: Option<TokioResolver>,
    /// The servers of `/etc/resolv.conf`, for TXT when none is configured.
    system: Option<Result<TokioResolver, String>>,
    /// Who answers, for details: " (DNS server 127.0.0.1:53)".
    server: String,
}

impl Resolvers {
    pub(super) fn new(configured: Option<SocketAddr>) -> Result<Self, String> {
        match configured {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                let config = ResolverConfig::from_name_servers(vec![server]);
                let mut builder =
                    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
                tune(builder.options_mut());
                let resolver = builder
                    .build()
                    .map_err(|e| format!("cannot use DNS resolver {addr}: {e}"))?;
                Ok(Self {
                    configured: Some(resolver),
                    system: None,
                    server: format!(" (DNS server {addr})"),
                })
            }
            None => {
                // A machine without /etc/resolv.conf can still validate
                // http-01 and tls-alpn-01 (addresses come from getaddrinfo).
                let system = TokioResolver::builder_tokio()
                    .and_then(|mut builder| {
                        tune(builder.options_mut());
                        builder.build()
                    })
                    .map_err(|e| format!("cannot read the system's DNS configuration: {e}"));
                Ok(Self {
                    configured: None,
                    system: Some(system),
                    server: " (the system's DNS servers)".to_owned(),
                })
            }
        }
    }

    fn txt_resolver(&self) -> Result<&TokioResolver, ValidationFailure> {
        match (&self.configured, &self.system) {
            (Some(r), _) => Ok(r),
            (None, Some(Ok(r))) => Ok(r),
            (None, Some(Err(e))) => Err(ValidationFailure::dns(e.clone())),
            (None, None) => Err(ValidationFailure::dns("no DNS resolver")),
        }
    }
}

/// No cache (a client fixing its record retries at once), no hosts file for
/// DNS lookups, and a per-query timeout the validation's deadline bounds anyway.
fn tune(opts: &mut ResolverOpts) {
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 2;
    opts.preserve_intermediates = true;
}

/// `name` as an absolute name, so no search domain is appended.
fn fqdn(name: &str) -> String {
    format!("{name}.")
}

impl Validator {
    /// The addresses of `name` (IPv4 first), without the ones certd refuses
    /// to connect to; `port` only for those checks and the details.
    pub(super) async fn resolve_addrs(
        &self,
        name: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, ValidationFailure> {
        let resolvers = self.resolvers()?;
        let found = match resolvers.configured.as_ref() {
            Some(resolver) => lookup_addrs(resolver, &resolvers.server, name, deadline).await?,
            None => {
                let looked_up = timeout_at(deadline, tokio::net::lookup_host((name, port)))
                    .await
                    .map_err(|_| {
                        ValidationFailure::dns(format!("timed out looking up addresses of {name}"))
                    })?
                    .map_err(|e| ValidationFailure::dns(format!("no addresses for {name}: {e}")))?;
                let mut ips: Vec<IpAddr> = Vec::new();
                for sa in looked_up {
                    if !ips.contains(&sa.ip()) {
                        ips.push(sa.ip());
                    }
                }
                ips
            }
        };
        if found.is_empty() {
            return Err(ValidationFailure::dns(format!(
                "no A or AAAA records for {name}"
            )));
        }
        let mut refused = Vec::new();
        let mut usable: Vec<IpAddr> = Vec::new();
        for ip in found {
            match self.refusal(SocketAddr::new(ip, port)) {
                Some(why) => refused.push(why),
                None => usable.push(ip),
            }
        }
        if usable.is_empty() {
            return Err(ValidationFailure::connection(format!(
                "{name} resolves only to addresses certd does not connect to: {}",
                refused.join("; ")
            )));
        }
        usable.sort_by_key(|ip| ip.is_ipv6());
        Ok(usable)
    }
}

/// A and AAAA through a configured resolver, concurrently.
async fn lookup_addrs(
    resolver: &TokioResolver,
    server: &str,
    name: &str,
    deadline: Instant,
) -> Result<Vec<IpAddr>, ValidationFailure> {
    let fq = fqdn(name);
    let both = async {
        tokio::join!(
            resolver.lookup(fq.as_str(), RecordType::A),
            resolver.lookup(fq.as_str(), RecordType::AAAA)
        )
    };
    let Ok((a, aaaa)) = timeout_at(deadline, both).await else {
        return Err(ValidationFailure::dns(format!(
            "timed out looking up A and AAAA records for {name}{server}"
        )));
    };
    let mut ips = Vec::new();
    let mut errors = Vec::new();
    for (rtype, result) in [("A", a), ("AAAA", aaaa)] {
        match result {
            Ok(lookup) => {
                for record in lookup.answers() {
                    match &record.data {
                        RData::A(a) => ips.push(IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => ips.push(IpAddr::V6(aaaa.0)),
                        _ => {}
                    }
                }
            }
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {}
            Err(e) => errors.push(format!("{rtype}: {}", describe(&e))),
        }
    }
    if ips.is_empty() {
        return Err(ValidationFailure::dns(if errors.is_empty() {
            format!("no A or AAAA records for {name}{server}")
        } else {
            format!("looking up {name}{server}: {}", errors.join("; "))
        }));
    }
    Ok(ips)
}

fn describe(e: &NetError) -> String {
    if e.is_nx_domain() {
        "NXDOMAIN".to_owned()
    } else {
        error_chain(e)
    }
}

/// dns-01: a TXT record at `_acme-challenge.{name}` holding
/// base64url(SHA-256(key authorization)).
pub(super) async fn validate_dns01(
    v: &Validator,
    name: &str,
    key_authorization: &str,
    deadline: Instant,
) -> Result<(), ValidationFailure> {
    let record = format!("_acme-challenge.{name}");
    let expected = dns01_txt_value(key_authorization);
    let resolvers = v.resolvers()?;
    let resolver = resolvers.txt_resolver()?;
    let server = &resolvers.server;
    let lookup = match timeout_at(deadline, resolver.lookup(fqdn(&record), RecordType::TXT)).await {
        Err(_) => {
            return Err(ValidationFailure::dns(format!(
                "timed out looking up TXT for {record}{server}"
            )));
        }
        Ok(Err(e)) if e.is_no_records_found() && !e.is_nx_domain() => {
            return Err(ValidationFailure::unauthorized(format!(
                "no TXT record found at {record}"
            )));
        }
        Ok(Err(e)) => {
            return Err(ValidationFailure::dns(format!(
                "looking up TXT for {record}{server}: {}",
                describe(&e)
            )));
        }
        Ok(Ok(lookup)) => lookup,
    };
    let mut found = Vec::new();
    for record in lookup.answers() {
        if let RData::TXT(txt) = &record.data {
            let value: Vec<u8> = txt
                .txt_data
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            if value == expected.as_bytes() {
                return Ok(());
            }
            found.push(value);
        }
    }
    if found.is_empty() {
        return Err(ValidationFailure::unauthorized(format!(
            "no TXT record found at {record}"
        )));
    }
    let shown: Vec<String> = found
        .iter()
        .take(SHOWN_RECORDS)
        .map(|v| quote(v, 100))
        .collect();
    let more = found.len().saturating_sub(SHOWN_RECORDS);
    Err(ValidationFailure::unauthorized(format!(
        "no TXT record at {record} matches the key authorization (expected \"{expected}\"); found {}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::test_dns::TestDns;
    use super::super::{ChallengeKind, ValidatorConfig};
    use super::*;

    fn validator(dns: &TestDns) -> Validator {
        Validator::new(ValidatorConfig {
            resolver: Some(dns.addr()),
            timeout: Duration::from_secs(3),
            ..ValidatorConfig::default()
        })
    }

    const KEY_AUTH: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumb";

    #[tokio::test]
    async fn dns01_good_wrong_and_missing() {
        let dns = TestDns::start();
        let v = validator(&dns);
        let check = |name: &'static str| {
            let v = v.clone();
            async move {
                v.validate(
                    ChallengeKind::Dns01,
                    name,
                    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                    KEY_AUTH,
                )
                .await
            }
        };

        // Missing: NOERROR without answers.
        let err = check("missing.test").await.unwrap_err();
        assert_eq!(err.problem, "unauthorized", "{err}");
        assert!(err.detail.contains("_acme-challenge.missing.test"), "{err}");

        // Good, among others; then the client fixes a wrong record and retries
        // at once (nothing cached).
        dns.set_txt(
            "_acme-challenge.good.test",
            ["something else".to_owned(), dns01_txt_value(KEY_AUTH)],
        );
        check("good.test").await.unwrap();
        check("GOOD.test.").await.unwrap();

        dns.set_txt("_acme-challenge.wrong.test", ["not-the-digest"]);
        let err = check("wrong.test").await.unwrap_err();
        assert_eq!(err.problem, "unauthorized", "{err}");
        assert!(err.detail.contains("\"not-the-digest\""), "{err}");
        assert!(err.detail.contains("_acme-challenge.wrong.test"), "{err}");
        dns.set_txt("_acme-challenge.wrong.test", [dns01_txt_value(KEY_AUTH)]);
        check("wrong.test").await.unwrap();

        dns.clear_txt("_acme-challenge.wrong.test");
        assert_eq!(
            check("wrong.test").await.unwrap_err().problem,
            "unauthorized"
        );

        // NXDOMAIN is a DNS problem.
        dns.set_nxdomain("_acme-challenge.gone.test");
        let err = check("gone.test").await.unwrap_err();
        assert_eq!(err.problem, "dns", "{err}");
        assert!(err.detail.contains("NXDOMAIN"), "{err}");
    }

    #[tokio::test]
    async fn dns01_long_record_split_in_strings() {
        // A value longer than 255 bytes travels as several strings, which
        // are concatenated; the digest itself in two strings must match too.
        let dns = TestDns::start();
        let v = validator(&dns);
        let digest = dns01_txt_value(KEY_AUTH);
        dns.set_txt_strings(
            "_acme-challenge.split.test",
            vec![vec![digest[..10].to_owned(), digest[10..].to_owned()]],
        );
        v.validate(ChallengeKind::Dns01, "split.test", "tok", KEY_AUTH)
            .await
            .unwrap();
        dns.set_txt("_acme-challenge.long.test", ["x".repeat(600)]);
        let err = v
            .validate(ChallengeKind::Dns01, "long.test", "tok", KEY_AUTH)
            .await
            .unwrap_err();
        assert!(err.detail.len() < 400, "{err}");
    }

    #[tokio::test]
    async fn dns_server_down_is_a_dns_problem() {
        // A port nobody answers on: UDP is silently dropped or refused.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        drop(sock);
        let v = Validator::new(ValidatorConfig {
            resolver: Some(addr),
            timeout: Duration::from_millis(700),
            ..ValidatorConfig::default()
        });
        let err = v
            .validate(ChallengeKind::Dns01, "x.test", "tok", KEY_AUTH)
            .await
            .unwrap_err();
        assert_eq!(err.problem, "dns", "{err}");
    }

    #[tokio::test]
    async fn addresses_come_from_the_configured_resolver() {
        let dns = TestDns::start();
        let v = validator(&dns);
        let deadline = Instant::now() + Duration::from_secs(3);
        // Default answer: 127.0.0.1, no AAAA.
        assert_eq!(
            v.resolve_addrs("any.test", 80, deadline).await.unwrap(),
            vec![IpAddr::from(Ipv4Addr::LOCALHOST)]
        );
        dns.set_a("other.test", Ipv4Addr::new(127, 0, 0, 9));
        dns.set_aaaa("other.test", "::1".parse().unwrap());
        assert_eq!(
            v.resolve_addrs("other.test", 80, deadline).await.unwrap(),
            vec![
                IpAddr::from(Ipv4Addr::new(127, 0, 0, 9)),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        dns.set_nxdomain("nx.test");
        let err = v.resolve_addrs("nx.test", 80, deadline).await.unwrap_err();
        assert_eq!(err.problem, "dns", "{err}");

        // Only forbidden addresses: refused before connecting.
        let v = Validator::new(ValidatorConfig {
            resolver: Some(dns.addr()),
            forbidden: vec!["127.0.0.1:80".parse().unwrap()],
            ..ValidatorConfig::default()
        });
        let err = v.resolve_addrs("any.test", 80, deadline).await.unwrap_err();
        assert_eq!(err.problem, "connection", "{err}");
        assert!(err.detail.contains("certd's own"), "{err}");
    }

    #[tokio::test]
    async fn system_resolver_honours_hosts_file() {
        let v = Validator::new(ValidatorConfig::default());
        let deadline = Instant::now() + Duration::from_secs(3);
        let ips = v.resolve_addrs("localhost", 80, deadline).await.unwrap();
        assert!(ips.iter().all(|ip| ip.is_loopback()), "{ips:?}");
        assert!(!ips.is_empty());
    }
}
