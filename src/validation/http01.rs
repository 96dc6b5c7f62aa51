//! http-01 (RFC 8555 §8.3): GET
//! `http://{name}:{port}/.well-known/acme-challenge/{token}` and compare the
//! body with the key authorization.

use std::net::{IpAddr, SocketAddr};

use reqwest::{StatusCode, Url, redirect};
use tokio::time::{Instant, timeout_at};

use super::{ValidationFailure, Validator, connection_candidates, error_chain, quote, secs};

/// At most this many redirects (Boulder's limit).
const MAX_REDIRECTS: usize = 10;
/// The most of a body certd reads; a longer one is an incorrect response.
const MAX_BODY: usize = 8 * 1024;
/// How much of a wrong body, or of a Location, a detail quotes.
const QUOTED: usize = 100;

pub(super) async fn validate(
    v: &Validator,
    name: &str,
    token: &str,
    key_authorization: &str,
    deadline: Instant,
) -> Result<(), ValidationFailure> {
    let port = v.config().http01_port;
    let first = format!("http://{name}:{port}/.well-known/acme-challenge/{token}");
    let mut url = Url::parse(&first).map_err(|e| {
        ValidationFailure::rejected_identifier(format!("cannot make a URL of {first}: {e}"))
    })?;
    let mut redirects = 0;
    loop {
        let mut response = fetch(v, &url, deadline).await?;
        let status = response.status();
        if matches!(
            status,
            StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::SEE_OTHER
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
        ) {
            if redirects == MAX_REDIRECTS {
                return Err(ValidationFailure::connection(format!(
                    "too many redirects (more than {MAX_REDIRECTS}), the last from {url}"
                )));
            }
            redirects += 1;
            url = redirect_target(v, &url, &response)?;
            continue;
        }
        if status != StatusCode::OK {
            return Err(ValidationFailure::unauthorized(format!(
                "{url} answered {status}, not 200 OK with the key authorization"
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(too_long(&url));
        }
        let mut body = Vec::new();
        loop {
            match timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(timed_out(v, &url)),
                Ok(Err(e)) => return Err(request_failure(&url, e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(too_long(&url));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
        return if body.trim_ascii() == key_authorization.trim_ascii().as_bytes() {
            Ok(())
        } else {
            Err(ValidationFailure::incorrect_response(format!(
                "{url} answered {}, not the key authorization {}",
                quote(&body, QUOTED),
                quote(key_authorization.as_bytes(), QUOTED)
            )))
        };
    }
}

/// One GET without following redirects, to an address certd accepts:
/// first one IPv4 address, then on a connection failure one IPv6 address.
async fn fetch(
    v: &Validator,
    url: &Url,
    deadline: Instant,
) -> Result<reqwest::Response, ValidationFailure> {
    let port = url.port_or_known_default().unwrap_or(80);
    let literal = |ip: IpAddr| match v.refusal(SocketAddr::new(ip, port)) {
        Some(why) => Err(ValidationFailure::connection(format!(
            "fetching {url}: {why}"
        ))),
        None => Ok(vec![ip]),
    };
    let (domain, addrs) = match url.host() {
        Some(url::Host::Domain(d)) => (Some(d), v.resolve_addrs(d, port, deadline).await?),
        Some(url::Host::Ipv4(ip)) => (None, literal(IpAddr::V4(ip))?),
        Some(url::Host::Ipv6(ip)) => (None, literal(IpAddr::V6(ip))?),
        None => {
            return Err(ValidationFailure::connection(format!("{url} has no host")));
        }
    };
    let candidates = connection_candidates(&addrs);
    let mut last = None;
    for (i, ip) in candidates.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .user_agent(concat!(
                "certd/",
                env!("CARGO_PKG_VERSION"),
                " ACME validation"
            ))
            // Boulder's rule: an https hop's certificate is not checked.
            .danger_accept_invalid_certs(true)
            .tls_built_in_root_certs(false)
            .timeout(remaining);
        if i + 1 < candidates.len() {
            // Leave the next address time to try.
            builder = builder.connect_timeout(remaining / 2);
        }
        if let Some(d) = domain {
            builder = builder.resolve(d, SocketAddr::new(*ip, port));
        }
        let client = builder
            .build()
            .map_err(|e| ValidationFailure::new("serverInternal", format!("HTTP client: {e}")))?;
        let request = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "*/*")
            .send();
        match timeout_at(deadline, request).await {
            Err(_) => return Err(timed_out(v, url)),
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(e)) if e.is_connect() => last = Some((*ip, e)),
            Ok(Err(e)) if e.is_timeout() => return Err(timed_out(v, url)),
            Ok(Err(e)) => return Err(request_failure(url, e)),
        }
    }
    let Some((ip, e)) = last else {
        return Err(ValidationFailure::connection(format!(
            "no address to connect to for {url}"
        )));
    };
    let addr = SocketAddr::new(ip, port);
    let problem = request_problem(&e);
    let why = error_chain(&e.without_url());
    Err(if problem == "tls" {
        ValidationFailure::tls(format!("TLS with {addr} for {url} failed: {why}"))
    } else {
        ValidationFailure::connection(format!("cannot connect to {addr} for {url}: {why}"))
    })
}

/// The Location of a redirect, if certd follows it: http on the http-01
/// port or https on 443 (Boulder's rule), to a name or address certd may
/// connect to.
fn redirect_target(
    v: &Validator,
    from: &Url,
    response: &reqwest::Response,
) -> Result<Url, ValidationFailure> {
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| {
            ValidationFailure::connection(format!("{from} answered {status} without a Location"))
        })?;
    let shown = quote(location.as_bytes(), QUOTED);
    let bad =
        |why: &str| ValidationFailure::connection(format!("{from} redirected to {shown}: {why}"));
    let location = location.to_str().map_err(|_| bad("not a valid URL"))?;
    let to = from.join(location).map_err(|_| bad("not a valid URL"))?;
    let http01_port = v.config().http01_port;
    match (to.scheme(), to.port_or_known_default()) {
        ("http", Some(p)) if p == http01_port => {}
        ("https", Some(443)) => {}
        ("http", _) => {
            return Err(bad(&format!(
                "certd follows redirects to http only on port {http01_port}"
            )));
        }
        ("https", _) => return Err(bad("certd follows redirects to https only on port 443")),
        _ => return Err(bad("only http and https redirects are followed")),
    }
    if !to.username().is_empty() || to.password().is_some() {
        return Err(bad("a URL with credentials"));
    }
    let port = to.port_or_known_default().unwrap_or(80);
    let literal = match to.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            super::check_name(d).map_err(|_| bad("not a valid host name"))?;
            None
        }
        None => return Err(bad("no host")),
    };
    if let Some(ip) = literal
        && let Some(why) = v.refusal(SocketAddr::new(ip, port))
    {
        return Err(bad(&why));
    }
    Ok(to)
}

fn too_long(url: &Url) -> ValidationFailure {
    ValidationFailure::incorrect_response(format!(
        "{url} answered a body longer than {MAX_BODY} bytes, not the key authorization"
    ))
}

fn timed_out(v: &Validator, url: &Url) -> ValidationFailure {
    ValidationFailure::connection(format!(
        "timed out fetching {url} (the validation's limit is {})",
        secs(v.config().timeout)
    ))
}

fn request_failure(url: &Url, e: reqwest::Error) -> ValidationFailure {
    ValidationFailure::new(
        request_problem(&e),
        format!("fetching {url}: {}", error_chain(&e.without_url())),
    )
}

/// "tls" when a TLS error is among the causes, else "connection".
fn request_problem(e: &reqwest::Error) -> &'static str {
    if has_tls_error(e, 0) {
        "tls"
    } else {
        "connection"
    }
}

/// Whether a `rustls::Error` is among `err`'s causes, looking inside
/// `io::Error`s too: their `source()` skips the error they wrap, and
/// hyper-rustls nests one in another.
fn has_tls_error(err: &(dyn std::error::Error + 'static), depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    if err.is::<rustls::Error>() {
        return true;
    }
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
        && has_tls_error(inner, depth + 1)
    {
        return true;
    }
    err.source()
        .is_some_and(|source| has_tls_error(source, depth + 1))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    use super::super::test_dns::TestDns;
    use super::super::{ChallengeKind, ValidatorConfig};
    use super::*;

    const TOKEN: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    const KEY_AUTH: &str =
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

    /// Serves `app` on `ip`:`port` (0: any free port) until the test ends.
    async fn serve(ip: Ipv4Addr, port: u16, app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        addr
    }

    fn validator(dns: &TestDns, port: u16, forbidden: Vec<SocketAddr>) -> Validator {
        Validator::new(ValidatorConfig {
            http01_port: port,
            resolver: Some(dns.addr()),
            timeout: Duration::from_millis(1500),
            forbidden,
            ..ValidatorConfig::default()
        })
    }

    fn path() -> String {
        format!("/.well-known/acme-challenge/{TOKEN}")
    }

    fn redirect(to: String) -> Response {
        (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
    }

    async fn check(v: &Validator, name: &str) -> Result<(), ValidationFailure> {
        v.validate(ChallengeKind::Http01, name, TOKEN, KEY_AUTH)
            .await
    }

    #[tokio::test]
    async fn good_answer_with_host_header_and_whitespace() {
        let app = Router::new().route(
            &path(),
            get(|headers: HeaderMap| async move {
                let host = headers[header::HOST].to_str().unwrap().to_owned();
                if host.starts_with("site.test:") {
                    (StatusCode::OK, format!("  {KEY_AUTH}\r\n")).into_response()
                } else {
                    (StatusCode::BAD_REQUEST, host).into_response()
                }
            }),
        );
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let dns = TestDns::start();
        check(&validator(&dns, addr.port(), vec![]), "site.test")
            .await
            .unwrap();

        // The system resolver (no --acme-dns-resolver): /etc/hosts' localhost.
        let app = Router::new().route(&path(), get(|| async { KEY_AUTH }));
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let v = Validator::new(ValidatorConfig {
            http01_port: addr.port(),
            timeout: Duration::from_millis(1500),
            ..ValidatorConfig::default()
        });
        check(&v, "localhost").await.unwrap();
    }

    #[tokio::test]
    async fn wrong_body_404_and_oversized() {
        let long = "x".repeat(MAX_BODY + 1);
        let app = Router::new()
            .route(&path(), get(|| async { "not it\n".repeat(50) }))
            .fallback(|| async { StatusCode::NOT_FOUND });
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let dns = TestDns::start();
        let v = validator(&dns, addr.port(), vec![]);
        let err = check(&v, "wrong.test").await.unwrap_err();
        assert_eq!(err.problem, "incorrectResponse", "{err}");
        assert!(
            err.detail
                .contains(&format!("http://wrong.test:{}/", addr.port())),
            "{err}"
        );
        assert!(err.detail.contains("\"not it\\nnot it"), "{err}");
        assert!(err.detail.len() < 600, "{err}");

        // 404: the token is not there.
        let app = Router::new().fallback(|| async { StatusCode::NOT_FOUND });
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let v = validator(&dns, addr.port(), vec![]);
        let err = check(&v, "missing.test").await.unwrap_err();
        assert_eq!(err.problem, "unauthorized", "{err}");
        assert!(err.detail.contains("404"), "{err}");

        // Too long, with a Content-Length and streamed without one.
        let with_length = long.clone();
        let app = Router::new().route(&path(), get(move || async move { with_length }));
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let err = check(&validator(&dns, addr.port(), vec![]), "long.test")
            .await
            .unwrap_err();
        assert_eq!(err.problem, "incorrectResponse", "{err}");
        assert!(err.detail.contains("longer than 8192"), "{err}");

        let app = Router::new().route(
            &path(),
            get(|| async {
                let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(KEY_AUTH.to_owned()));
                axum::body::Body::from_stream(futures::stream::iter(chunks))
            }),
        );
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let err = check(&validator(&dns, addr.port(), vec![]), "stream.test")
            .await
            .unwrap_err();
        assert_eq!(err.problem, "incorrectResponse", "{err}");
    }

    /// The label before `.test` in the request's Host.
    fn host_label(headers: &HeaderMap) -> String {
        let host = headers[header::HOST].to_str().unwrap_or_default();
        host.split('.').next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn redirects_followed_within_rules() {
        let dns = TestDns::start();
        // Bind first, so the handlers know the port.
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        // The token's URL redirects by name: `site.test` into a chain of three
        // hops ending in the answer, `loop.test` to /loop, and so on.
        let app = Router::new()
            .route(
                &path(),
                get(move |headers: HeaderMap| async move {
                    match host_label(&headers).as_str() {
                        "site" => redirect(format!("http://other.test:{port}/hop/1")),
                        label => redirect(format!("/{label}")),
                    }
                }),
            )
            .route(
                "/hop/{n}",
                get(
                    move |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        if n < 3 {
                            redirect(format!("/hop/{}", n + 1))
                        } else {
                            KEY_AUTH.into_response()
                        }
                    },
                ),
            )
            .route("/loop", get(|| async { redirect("/loop".to_owned()) }))
            .route(
                "/ftp",
                get(|| async { redirect("ftp://site.test/x".to_owned()) }),
            )
            .route(
                "/port",
                get(|| async { redirect("http://site.test:1/x".to_owned()) }),
            )
            .route(
                "/httpsport",
                get(move || async move { redirect(format!("https://site.test:{port}/x")) }),
            )
            .route("/none", get(|| async { StatusCode::FOUND }))
            .route(
                "/garbage",
                get(|| async { redirect("http://exa mple.test:%/".to_owned()) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let v = validator(&dns, port, vec![]);
        check(&v, "site.test").await.unwrap();

        for (label, words) in [
            ("loop", "too many redirects"),
            ("ftp", "only http and https"),
            ("port", "only on port"),
            ("httpsport", "https only on port 443"),
            ("none", "without a Location"),
            ("garbage", "not a valid URL"),
        ] {
            let err = check(&v, &format!("{label}.test")).await.unwrap_err();
            assert_eq!(err.problem, "connection", "{label}: {err}");
            assert!(err.detail.contains(words), "{label}: {err}");
        }
    }

    /// An HTTPS server with a self-signed certificate for another name on
    /// `ip`:443 answering every request with `body`, or `None` where port 443
    /// cannot be bound (not root, or taken).
    async fn https_server(ip: Ipv4Addr, body: &'static str) -> Option<SocketAddr> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind((ip, 443)).await.ok()?;
        let addr = listener.local_addr().ok()?;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["unrelated.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Some(addr)
    }

    #[tokio::test]
    async fn https_redirect_to_443_is_followed_without_checking_the_certificate() {
        let dns = TestDns::start();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().route(
            &path(),
            get(|headers: HeaderMap| async move {
                redirect(format!(
                    "https://{}/x",
                    host_label(&headers).replace('-', ".")
                ))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let v = validator(&dns, port, vec![]);

        // Nothing on 127.0.0.4:443: the redirect was followed there.
        dns.set_a("closed.test", Ipv4Addr::new(127, 0, 0, 4));
        let err = check(&v, "closed-test.test").await.unwrap_err();
        assert_eq!(err.problem, "connection", "{err}");
        assert!(err.detail.contains("127.0.0.4:443"), "{err}");

        // A self-signed certificate for another name is accepted (port 443
        // needs root, which CI and the developers' machines have).
        let Some(tls) = https_server(Ipv4Addr::new(127, 0, 0, 7), KEY_AUTH).await else {
            eprintln!("skipped: cannot bind port 443");
            return;
        };
        dns.set_a("tls.test", Ipv4Addr::new(127, 0, 0, 7));
        check(&v, "tls-test.test").await.unwrap();

        // Plain HTTP on 443 is a TLS problem.
        serve(
            Ipv4Addr::new(127, 0, 0, 8),
            443,
            Router::new().fallback(|| async { KEY_AUTH }),
        )
        .await;
        dns.set_a("plain.test", Ipv4Addr::new(127, 0, 0, 8));
        let err = check(&v, "plain-test.test").await.unwrap_err();
        assert_eq!(err.problem, "tls", "{err}");
        assert!(err.detail.contains("127.0.0.8:443"), "{err}");
        assert_eq!(tls.port(), 443);
    }

    #[tokio::test]
    async fn never_connects_to_certds_own_listeners() {
        let dns = TestDns::start();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        // The forbidden listener would answer correctly.
        let own = serve(
            Ipv4Addr::new(127, 0, 0, 2),
            port,
            Router::new().fallback(|| async { KEY_AUTH }),
        )
        .await;
        let app = Router::new().route(
            &path(),
            get(move |headers: HeaderMap| async move {
                match host_label(&headers).as_str() {
                    "literal" => redirect(format!("http://127.0.0.2:{port}/x")),
                    _ => redirect(format!("http://own.test:{port}/x")),
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        dns.set_a("own.test", Ipv4Addr::new(127, 0, 0, 2));
        let v = validator(&dns, port, vec![own]);

        // By name after a redirect, as the first hop, and by address literal.
        for name in ["site.test", "own.test", "literal.test"] {
            let err = check(&v, name).await.unwrap_err();
            assert_eq!(err.problem, "connection", "{name}: {err}");
            assert!(err.detail.contains("certd's own"), "{name}: {err}");
            assert!(err.detail.contains(&own.to_string()), "{name}: {err}");
        }
        // Without the rule each would have passed.
        let open = validator(&dns, port, vec![]);
        for name in ["site.test", "own.test", "literal.test"] {
            check(&open, name).await.unwrap();
        }
    }

    #[tokio::test]
    async fn slow_server_times_out_and_refused_connection_fails() {
        let app = Router::new().route(
            &path(),
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                KEY_AUTH
            }),
        );
        let addr = serve(Ipv4Addr::LOCALHOST, 0, app).await;
        let dns = TestDns::start();
        let v = Validator::new(ValidatorConfig {
            timeout: Duration::from_millis(400),
            ..validator(&dns, addr.port(), vec![]).config().clone()
        });
        let started = std::time::Instant::now();
        let err = check(&v, "slow.test").await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.problem, "connection", "{err}");
        assert!(err.detail.contains("timed out"), "{err}");

        // Nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let err = check(&validator(&dns, port, vec![]), "closed.test")
            .await
            .unwrap_err();
        assert_eq!(err.problem, "connection", "{err}");
        assert!(err.detail.contains(&format!("127.0.0.1:{port}")), "{err}");

        // No address at all.
        dns.set_nxdomain("nx.test");
        let err = check(&validator(&dns, port, vec![]), "nx.test")
            .await
            .unwrap_err();
        assert_eq!(err.problem, "dns", "{err}");
    }

    #[tokio::test]
    async fn falls_back_to_ipv6() {
        // IPv4 refuses, IPv6 answers (skipped where the machine has no ::1).
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().route(&path(), get(|| async { KEY_AUTH }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dns = TestDns::start();
        dns.set_a("dual.test", Ipv4Addr::new(127, 0, 0, 6));
        dns.set_aaaa("dual.test", "::1".parse().unwrap());
        if std::net::TcpListener::bind(("127.0.0.6", port)).is_err() {
            return; // something listens there after all
        }
        check(&validator(&dns, port, vec![]), "dual.test")
            .await
            .unwrap();
    }
}
