//! Load driver of `bench/acme.sh`.
//!
//! ```text
//! acme-load ports                       two free ports of 127.0.0.1 (http-01 TCP, DNS UDP)
//! acme-load acme --directory URL --http01-port P --dns-port D [options]
//! acme-load rest --base URL --key API_KEY [options]
//! ```
//!
//! `acme`: CLIENTS ACME clients, each with an account made before timing starts
//! (instant-acme over plain http, src/acme_http.rs), run the whole flow over and over
//! for WARMUP then DURATION seconds: newOrder, the authorization, http-01 set
//! ready, the order polled until ready, a fresh P-256 key and CSR, finalize,
//! download. This process answers certd's validation itself: A 127.0.0.1 from
//! its DNS server on D (certd's `--acme-dns-resolver`) and the key
//! authorization from its http-01 responder on P (`--acme-http01-port`). Then
//! every client revokes the certificates its account got (revokeCert signed by
//! the account, reason superseded unless `--reason none`).
//!
//! `rest`: the same certificates (a fresh key and CSR per name) through
//! certd's REST API as an administrator: `POST
//! /services/v2/order/certificate/ssl_basic` with skip_approval, then `GET
//! /services/v2/certificate/{id}/download/format/pem_noroot`; then `PUT
//! /services/v2/certificate/{id}/revoke` with skip_approval.
//!
//! Both print Markdown to stdout (rates, latency percentiles, each step's
//! share, CPU seconds of certd, of the driver's threads and of PostgreSQL) and,
//! with `--out FILE`, the headline figures as shell assignments.

mod acme_http;
mod responder;
mod stats;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
    RevocationReason, RevocationRequest,
};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls_pki_types::CertificateDer;

use crate::acme_http::{AcmeHttp, Kind, Sample};
use crate::responder::{Challenges, DnsLog};
use crate::stats::{CpuSnapshot, Latencies};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The command line, `--name value` pairs.
struct Opts {
    directory: String,
    base: String,
    key: String,
    clients: usize,
    warmup: f64,
    duration: f64,
    revoke_seconds: f64,
    http01_port: u16,
    dns_port: u16,
    certd_pid: Option<u32>,
    poll_ms: u64,
    poll_backoff: f32,
    reuse_nonces: bool,
    reason: Option<RevocationReason>,
    out: Option<String>,
    label: String,
    /// certd's PostgreSQL database, for its pg_stat_database counters.
    pg_url: Option<String>,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            directory: String::new(),
            base: String::new(),
            key: String::new(),
            clients: 32,
            warmup: 3.0,
            duration: 30.0,
            revoke_seconds: 30.0,
            http01_port: 0,
            dns_port: 0,
            certd_pid: None,
            poll_ms: 5,
            poll_backoff: 1.0,
            reuse_nonces: true,
            reason: Some(RevocationReason::Superseded),
            out: None,
            label: "SQLite".into(),
            pg_url: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--no-nonce-reuse" {
                o.reuse_nonces = false;
                continue;
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--directory" => o.directory = value.clone(),
                "--base" => o.base = value.trim_end_matches('/').to_owned(),
                "--key" => o.key = value.clone(),
                "--clients" => o.clients = value.parse().map_err(|e| bad(&e))?,
                "--warmup" => o.warmup = value.parse().map_err(|e| bad(&e))?,
                "--duration" => o.duration = value.parse().map_err(|e| bad(&e))?,
                "--revoke-seconds" => o.revoke_seconds = value.parse().map_err(|e| bad(&e))?,
                "--http01-port" => o.http01_port = value.parse().map_err(|e| bad(&e))?,
                "--dns-port" => o.dns_port = value.parse().map_err(|e| bad(&e))?,
                "--certd-pid" => o.certd_pid = Some(value.parse().map_err(|e| bad(&e))?),
                "--poll-ms" => o.poll_ms = value.parse().map_err(|e| bad(&e))?,
                "--poll-backoff" => o.poll_backoff = value.parse().map_err(|e| bad(&e))?,
                "--reason" => {
                    o.reason = match value.as_str() {
                        "none" => None,
                        "superseded" | "4" => Some(RevocationReason::Superseded),
                        other => return Err(format!("--reason {other}: none or superseded")),
                    }
                }
                "--out" => o.out = Some(value.clone()),
                "--label" => o.label = value.clone(),
                "--pg-url" => o.pg_url = Some(value.clone()),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(o)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = args.first().cloned() else {
        eprintln!(
            "usage: acme-load ports | acme --directory URL --http01-port P --dns-port D [...] | rest --base URL --key KEY [...]"
        );
        std::process::exit(2);
    };
    if mode == "ports" {
        match free_ports() {
            Ok((a, b)) => println!("{a} {b}"),
            Err(e) => {
                eprintln!("acme-load: no free ports: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let opts = match Opts::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("acme-load: {e}");
            std::process::exit(2);
        }
    };
    // The clients' runtime: as many workers as cores, named so that their CPU
    // time is told apart from the responders'.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("acme-client")
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        match mode.as_str() {
            "acme" => run_acme(&opts).await,
            "rest" => run_rest(&opts).await,
            other => Err(format!("unknown mode {other}").into()),
        }
    });
    if let Err(e) = result {
        eprintln!("acme-load: {e}");
        std::process::exit(1);
    }
}

/// A TCP port and a UDP port of 127.0.0.1, free when asked.
fn free_ports() -> std::io::Result<(u16, u16)> {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if port != tcp.local_addr()?.port() {
            return Ok((tcp.local_addr()?.port(), port));
        }
    }
    Err(std::io::Error::other("no distinct UDP port"))
}

/// One certificate's way through the flow.
struct Flow {
    end: Instant,
    total: Duration,
    /// Each step, in order.
    steps: Vec<(&'static str, Duration)>,
    /// ACME: from sending the challenge's POST to certd's DNS query, to its
    /// http-01 GET, and to the poll that saw the order ready.
    validation: Option<[Option<Duration>; 3]>,
}

/// One revocation.
struct Revocation {
    end: Instant,
    took: Duration,
}

/// Timing of a phase: a window in which clients were all busy.
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn secs(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
    fn holds(&self, t: Instant) -> bool {
        t > self.start && t <= self.end
    }
}

/// A key and CSR for `name`, as ACME clients make them: P-256, the name as
/// the subject's CN and the only SAN.
fn new_csr(name: &str) -> Result<(Vec<u8>, String), BoxError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?;
    Ok((csr.der().to_vec(), csr.pem()?))
}

/// The DER of the first certificate of a PEM chain.
fn first_der(pem: &str) -> Option<Vec<u8>> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

// --- ACME -----------------------------------------------------------------------

struct AcmeClient {
    id: usize,
    account: Account,
    http: AcmeHttp,
    seq: u64,
    flows: Vec<Flow>,
    certs: Vec<Vec<u8>>,
    revocations: Vec<Revocation>,
    errors: Vec<String>,
}

struct Shared {
    challenges: Arc<Challenges>,
    dns: Arc<DnsLog>,
    poll: RetryPolicy,
    poll_every: Duration,
}

async fn make_account(
    directory: &str,
    reuse_nonces: bool,
    id: usize,
) -> Result<AcmeClient, BoxError> {
    let http = AcmeHttp::new(reuse_nonces);
    let (account, _) = Account::builder_with_http(Box::new(http.clone()))
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await?;
    Ok(AcmeClient {
        id,
        account,
        http,
        seq: 0,
        flows: Vec::new(),
        certs: Vec::new(),
        revocations: Vec::new(),
        errors: Vec::new(),
    })
}

impl AcmeClient {
    async fn flow(&mut self, shared: &Shared) -> Result<(), BoxError> {
        let name = format!("c{}-{}.load.acme.test", self.id, self.seq);
        self.seq += 1;
        let t0 = Instant::now();
        let identifiers = [Identifier::Dns(name.clone())];
        let mut order = self.account.new_order(&NewOrder::new(&identifiers)).await?;
        let t1 = Instant::now();
        let (token, sent, t2, t3);
        {
            let mut authorizations = order.authorizations();
            let mut authz = authorizations
                .next()
                .await
                .ok_or("the order has no authorization")??;
            t2 = Instant::now();
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or("no http-01 challenge")?;
            token = challenge.token.clone();
            shared
                .challenges
                .put(&token, challenge.key_authorization().as_str());
            sent = Instant::now();
            challenge.set_ready().await?;
            t3 = Instant::now();
        }
        let status = order.poll_ready(&shared.poll).await;
        let t4 = Instant::now();
        let fetched = shared.challenges.take(&token);
        let looked_up = shared.dns.take(&name);
        if status? != OrderStatus::Ready {
            return Err(format!("order of {name} is {:?}, not ready", order.state().status).into());
        }
        let (csr, _) = new_csr(&name)?;
        let t5 = Instant::now();
        order.finalize_csr(&csr).await?;
        let t6 = Instant::now();
        let pem = loop {
            match order.certificate().await? {
                Some(pem) => break pem,
                None => tokio::time::sleep(shared.poll_every).await,
            }
        };
        let t7 = Instant::now();
        self.certs
            .push(first_der(&pem).ok_or("the download holds no certificate")?);
        self.flows.push(Flow {
            end: t7,
            total: t7 - t0,
            steps: vec![
                ("newOrder", t1 - t0),
                ("authorization (POST-as-GET)", t2 - t1),
                ("challenge ready (POST {})", t3 - t2),
                ("wait until the order is ready (polling)", t4 - t3),
                ("key + CSR (driver only)", t5 - t4),
                ("finalize", t6 - t5),
                ("download", t7 - t6),
            ],
            validation: Some([
                looked_up.map(|t| t.saturating_duration_since(sent)),
                fetched.map(|t| t.saturating_duration_since(sent)),
                Some(t4 - sent),
            ]),
        });
        Ok(())
    }

    async fn revoke_all(
        &mut self,
        reason: Option<RevocationReason>,
        stop: &AtomicBool,
        deadline: Instant,
    ) {
        let certs = std::mem::take(&mut self.certs);
        for der in &certs {
            if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return;
            }
            let certificate = CertificateDer::from(der.as_slice());
            let t0 = Instant::now();
            match self
                .account
                .revoke(&RevocationRequest {
                    certificate: &certificate,
                    reason: reason.clone(),
                })
                .await
            {
                Ok(()) => self.revocations.push(Revocation {
                    end: Instant::now(),
                    took: t0.elapsed(),
                }),
                Err(e) => self.errors.push(format!("revokeCert: {e}")),
            }
        }
        // The first client out of certificates ends the window: after it,
        // fewer than all clients would be busy.
        stop.store(true, Ordering::Relaxed);
    }
}

async fn run_acme(o: &Opts) -> Result<(), BoxError> {
    if o.directory.is_empty() || o.http01_port == 0 || o.dns_port == 0 {
        return Err("acme needs --directory, --http01-port and --dns-port".into());
    }
    let dns = responder::start_dns(o.dns_port)?;
    let challenges = responder::start_http01(o.http01_port)?;
    let shared = Arc::new(Shared {
        challenges: Arc::clone(&challenges),
        dns: Arc::clone(&dns),
        poll: RetryPolicy::new()
            .initial_delay(Duration::from_millis(o.poll_ms))
            .backoff(o.poll_backoff)
            .timeout(Duration::from_secs(30)),
        poll_every: Duration::from_millis(o.poll_ms),
    });

    // Accounts first, untimed.
    let mut accounts = Vec::new();
    for id in 0..o.clients {
        accounts.push(tokio::spawn({
            let directory = o.directory.clone();
            let reuse = o.reuse_nonces;
            async move { make_account(&directory, reuse, id).await }
        }));
    }
    let mut clients = Vec::new();
    for (id, a) in accounts.into_iter().enumerate() {
        match a.await? {
            Ok(client) => clients.push(client),
            Err(e) => {
                // Told, and tried once more: on a fresh PostgreSQL database the
                // first concurrent newAccounts race to create certd's built-in
                // user for accounts without EAB (docs/benchmarks.md, "ACME").
                eprintln!("acme-load: newAccount {id} failed, retrying once: {e}");
                clients.push(make_account(&o.directory, o.reuse_nonces, id).await?);
            }
        }
    }
    for c in &clients {
        c.http.take_samples();
    }
    eprintln!(
        "acme-load: {} accounts made; {}s warm-up, then {}s timed",
        clients.len(),
        o.warmup,
        o.duration
    );

    // Issuance: warm-up, then the timed window.
    let started = Instant::now();
    let window = Window {
        start: started + Duration::from_secs_f64(o.warmup),
        end: started + Duration::from_secs_f64(o.warmup + o.duration),
    };
    let cpu_at_start = tokio::spawn({
        let pid = o.certd_pid;
        let pg = o.pg_url.clone();
        let at = window.start;
        async move {
            tokio::time::sleep_until(at.into()).await;
            CpuSnapshot::take(pid, pg.as_deref())
        }
    });
    let mut tasks = Vec::new();
    for mut client in clients {
        let shared = Arc::clone(&shared);
        let until = window.end;
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if let Err(e) = client.flow(&shared).await {
                    client.errors.push(format!("flow: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            client
        }));
    }
    let cpu_before = cpu_at_start.await?;
    tokio::time::sleep_until(window.end.into()).await;
    let cpu_issue = cpu_before.until(&CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref()));
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await?);
    }
    let mut samples: Vec<Sample> = clients.iter().flat_map(|c| c.http.take_samples()).collect();

    // Revocation: every client revokes what its account got.
    let stop = Arc::new(AtomicBool::new(false));
    let revoke_start = Instant::now();
    let deadline = revoke_start + Duration::from_secs_f64(o.revoke_seconds);
    let cpu_before = CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref());
    let pool: usize = clients.iter().map(|c| c.certs.len()).sum();
    let mut tasks = Vec::new();
    for mut client in clients {
        let stop = Arc::clone(&stop);
        let reason = o.reason.clone();
        tasks.push(tokio::spawn(async move {
            client.revoke_all(reason, &stop, deadline).await;
            client
        }));
    }
    // The window ends when the first client runs out (or at the deadline).
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let revoke_window = Window {
        start: revoke_start,
        end: Instant::now(),
    };
    let cpu_revoke = cpu_before.until(&CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref()));
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await?);
    }
    let revoke_samples: Vec<Sample> = clients.iter().flat_map(|c| c.http.take_samples()).collect();
    samples.extend(revoke_samples);

    let flows: Vec<&Flow> = clients
        .iter()
        .flat_map(|c| &c.flows)
        .filter(|f| window.holds(f.end))
        .collect();
    let revocations: Vec<&Revocation> = clients
        .iter()
        .flat_map(|c| &c.revocations)
        .filter(|r| revoke_window.holds(r.end))
        .collect();
    let errors: Vec<&String> = clients.iter().flat_map(|c| &c.errors).collect();
    for e in errors.iter().take(5) {
        eprintln!("acme-load: error: {e}");
    }
    let report = Report {
        label: &o.label,
        what: "ACME",
        clients: o.clients,
        window: &window,
        flows: &flows,
        cpu_issue: &cpu_issue,
        revoke_window: &revoke_window,
        revocations: &revocations,
        revoke_pool: pool,
        cpu_revoke: &cpu_revoke,
        errors: errors.len(),
        samples: &samples,
    };
    let mut text = report.markdown();
    let v = &flows
        .iter()
        .filter_map(|f| f.validation)
        .collect::<Vec<_>>();
    let _ = writeln!(
        text,
        "\nThe challenge's wait, from the client's `POST challenge` being sent:\n"
    );
    let _ = writeln!(text, "| until | p50 | p95 | p99 |\n|---|---|---|---|");
    for (i, what) in [
        "certd's first DNS query (A) reaches the driver's DNS server",
        "certd's http-01 GET reaches the driver's responder",
        "a poll sees the order ready",
    ]
    .iter()
    .enumerate()
    {
        let mut l = Latencies::default();
        for d in v.iter().filter_map(|x| x[i]) {
            l.push(d);
        }
        let _ = writeln!(
            text,
            "| {what} | {:.1} ms | {:.1} ms | {:.1} ms |",
            l.pct(50.0),
            l.pct(95.0),
            l.pct(99.0)
        );
    }
    let _ = writeln!(
        text,
        "\nPolling: every {} ms (backoff ×{}); nonces {}. DNS queries answered: {}; http-01 fetches: {} ({} for unknown tokens).",
        o.poll_ms,
        o.poll_backoff,
        if o.reuse_nonces {
            "from the previous answer's Replay-Nonce where instant-acme would send HEAD newNonce"
        } else {
            "as instant-acme gets them (HEAD newNonce before newOrder and revokeCert)"
        },
        dns.queries.load(Ordering::Relaxed),
        challenges.fetches.load(Ordering::Relaxed),
        challenges.misses.load(Ordering::Relaxed),
    );
    println!("{text}");
    report.write_out(o.out.as_deref(), "ACME")?;
    Ok(())
}

// --- REST -----------------------------------------------------------------------

struct RestClient {
    id: usize,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    seq: u64,
    flows: Vec<Flow>,
    certs: Vec<i64>,
    revocations: Vec<Revocation>,
    errors: Vec<String>,
    samples: Vec<Sample>,
}

impl RestClient {
    async fn call(
        &mut self,
        kind: Kind,
        method: http::Method,
        url: String,
        key: &str,
        body: Option<String>,
    ) -> Result<Bytes, BoxError> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(url)
            .header("x-dc-devkey", key);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let at = Instant::now();
        let response = self.http.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        self.samples.push(Sample {
            kind,
            at,
            took: at.elapsed(),
            status: status.as_u16(),
        });
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    async fn flow(&mut self, base: &str, key: &str) -> Result<(), BoxError> {
        let name = format!("r{}-{}.load.acme.test", self.id, self.seq);
        self.seq += 1;
        let t0 = Instant::now();
        let (_, csr_pem) = new_csr(&name)?;
        let t1 = Instant::now();
        let body = serde_json::json!({
            "certificate": {"common_name": name, "csr": csr_pem},
            "order_validity": {"days": 90},
            "skip_approval": true,
        });
        let created = self
            .call(
                Kind::RestOrder,
                http::Method::POST,
                format!("{base}/services/v2/order/certificate/ssl_basic"),
                key,
                Some(body.to_string()),
            )
            .await?;
        let created: serde_json::Value = serde_json::from_slice(&created)?;
        let id = created["certificate_id"]
            .as_i64()
            .ok_or("the order answer names no certificate_id")?;
        let t2 = Instant::now();
        let pem = self
            .call(
                Kind::RestDownload,
                http::Method::GET,
                format!("{base}/services/v2/certificate/{id}/download/format/pem_noroot"),
                key,
                None,
            )
            .await?;
        if !pem.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err("the download is not PEM".into());
        }
        let t3 = Instant::now();
        self.certs.push(id);
        self.flows.push(Flow {
            end: t3,
            total: t3 - t0,
            steps: vec![
                ("key + CSR (driver only)", t1 - t0),
                ("POST order ssl_basic, skip_approval", t2 - t1),
                ("GET certificate download pem_noroot", t3 - t2),
            ],
            validation: None,
        });
        Ok(())
    }

    async fn revoke_all(
        &mut self,
        base: &str,
        key: &str,
        reason: Option<RevocationReason>,
        stop: &AtomicBool,
        deadline: Instant,
    ) {
        let body = match reason {
            Some(_) => r#"{"skip_approval": true, "revocation_reason": "superseded"}"#,
            None => r#"{"skip_approval": true}"#,
        };
        for id in std::mem::take(&mut self.certs) {
            if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return;
            }
            let t0 = Instant::now();
            match self
                .call(
                    Kind::RestRevoke,
                    http::Method::PUT,
                    format!("{base}/services/v2/certificate/{id}/revoke"),
                    key,
                    Some(body.into()),
                )
                .await
            {
                Ok(_) => self.revocations.push(Revocation {
                    end: Instant::now(),
                    took: t0.elapsed(),
                }),
                Err(e) => self.errors.push(format!("revoke: {e}")),
            }
        }
        stop.store(true, Ordering::Relaxed);
    }
}

async fn run_rest(o: &Opts) -> Result<(), BoxError> {
    if o.base.is_empty() || o.key.is_empty() {
        return Err("rest needs --base and --key".into());
    }
    let mut clients = Vec::new();
    for id in 0..o.clients {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        clients.push(RestClient {
            id,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            seq: 0,
            flows: Vec::new(),
            certs: Vec::new(),
            revocations: Vec::new(),
            errors: Vec::new(),
            samples: Vec::new(),
        });
    }
    let started = Instant::now();
    let window = Window {
        start: started + Duration::from_secs_f64(o.warmup),
        end: started + Duration::from_secs_f64(o.warmup + o.duration),
    };
    let cpu_at_start = tokio::spawn({
        let pid = o.certd_pid;
        let pg = o.pg_url.clone();
        let at = window.start;
        async move {
            tokio::time::sleep_until(at.into()).await;
            CpuSnapshot::take(pid, pg.as_deref())
        }
    });
    let mut tasks = Vec::new();
    for mut client in clients {
        let (base, key, until) = (o.base.clone(), o.key.clone(), window.end);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if let Err(e) = client.flow(&base, &key).await {
                    client.errors.push(format!("flow: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            client
        }));
    }
    let cpu_before = cpu_at_start.await?;
    tokio::time::sleep_until(window.end.into()).await;
    let cpu_issue = cpu_before.until(&CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref()));
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await?);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let revoke_start = Instant::now();
    let deadline = revoke_start + Duration::from_secs_f64(o.revoke_seconds);
    let cpu_before = CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref());
    let pool: usize = clients.iter().map(|c| c.certs.len()).sum();
    let mut tasks = Vec::new();
    for mut client in clients {
        let (base, key, stop, reason) = (
            o.base.clone(),
            o.key.clone(),
            Arc::clone(&stop),
            o.reason.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .revoke_all(&base, &key, reason, &stop, deadline)
                .await;
            client
        }));
    }
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let revoke_window = Window {
        start: revoke_start,
        end: Instant::now(),
    };
    let cpu_revoke = cpu_before.until(&CpuSnapshot::take(o.certd_pid, o.pg_url.as_deref()));
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await?);
    }
    let samples: Vec<Sample> = clients
        .iter()
        .flat_map(|c| c.samples.iter().copied())
        .collect();
    let flows: Vec<&Flow> = clients
        .iter()
        .flat_map(|c| &c.flows)
        .filter(|f| window.holds(f.end))
        .collect();
    let revocations: Vec<&Revocation> = clients
        .iter()
        .flat_map(|c| &c.revocations)
        .filter(|r| revoke_window.holds(r.end))
        .collect();
    let errors: Vec<&String> = clients.iter().flat_map(|c| &c.errors).collect();
    for e in errors.iter().take(5) {
        eprintln!("acme-load: error: {e}");
    }
    let report = Report {
        label: &o.label,
        what: "REST",
        clients: o.clients,
        window: &window,
        flows: &flows,
        cpu_issue: &cpu_issue,
        revoke_window: &revoke_window,
        revocations: &revocations,
        revoke_pool: pool,
        cpu_revoke: &cpu_revoke,
        errors: errors.len(),
        samples: &samples,
    };
    println!("{}", report.markdown());
    report.write_out(o.out.as_deref(), "REST")?;
    Ok(())
}

// --- Report ---------------------------------------------------------------------

struct Report<'a> {
    label: &'a str,
    what: &'a str,
    clients: usize,
    window: &'a Window,
    flows: &'a [&'a Flow],
    cpu_issue: &'a CpuSnapshot,
    revoke_window: &'a Window,
    revocations: &'a [&'a Revocation],
    revoke_pool: usize,
    cpu_revoke: &'a CpuSnapshot,
    errors: usize,
    samples: &'a [Sample],
}

impl Report<'_> {
    fn totals(&self) -> Latencies {
        let mut l = Latencies::default();
        for f in self.flows {
            l.push(f.total);
        }
        l
    }

    fn revoke_latencies(&self) -> Latencies {
        let mut l = Latencies::default();
        for r in self.revocations {
            l.push(r.took);
        }
        l
    }

    fn cert_rate(&self) -> f64 {
        self.flows.len() as f64 / self.window.secs()
    }

    fn revoke_rate(&self) -> f64 {
        self.revocations.len() as f64 / self.revoke_window.secs().max(1e-9)
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let totals = self.totals();
        let revokes = self.revoke_latencies();
        let n = self.flows.len().max(1) as f64;
        let r = self.revocations.len().max(1) as f64;
        let _ = writeln!(
            s,
            "### {} on {}: {} clients\n",
            self.what, self.label, self.clients
        );
        let _ = writeln!(
            s,
            "| load | per second | p50 | p95 | p99 | max | count | errors |\n|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| certificates (whole flow) | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} in {:.1} s | {} |",
            self.cert_rate(),
            totals.pct(50.0),
            totals.pct(95.0),
            totals.pct(99.0),
            totals.max(),
            self.flows.len(),
            self.window.secs(),
            self.errors
        );
        let _ = writeln!(
            s,
            "| revocations | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} in {:.1} s (of {} certificates) | |",
            self.revoke_rate(),
            revokes.pct(50.0),
            revokes.pct(95.0),
            revokes.pct(99.0),
            revokes.max(),
            self.revocations.len(),
            self.revoke_window.secs(),
            self.revoke_pool
        );

        // Steps of the flow.
        let mut steps: Vec<(&str, Latencies)> = Vec::new();
        for f in self.flows {
            for (i, (name, d)) in f.steps.iter().enumerate() {
                if steps.len() <= i {
                    steps.push((name, Latencies::default()));
                }
                steps[i].1.push(*d);
            }
        }
        let total_ms = totals.sum_ms().max(1e-9);
        let _ = writeln!(
            s,
            "\nWhere a certificate's time goes (client's view, timed flows):\n"
        );
        let _ = writeln!(
            s,
            "| step | mean | p50 | p95 | p99 | share of the flow |\n|---|---|---|---|---|---|"
        );
        for (name, l) in &steps {
            let _ = writeln!(
                s,
                "| {name} | {:.2} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} % |",
                l.mean(),
                l.pct(50.0),
                l.pct(95.0),
                l.pct(99.0),
                100.0 * l.sum_ms() / total_ms
            );
        }

        // Requests by resource, each window on its own: (revocation?, kind).
        let mut kinds: BTreeMap<(bool, Kind), (Latencies, usize)> = BTreeMap::new();
        for sample in self.samples {
            let revoking = if self.window.holds(sample.at) {
                false
            } else if self.revoke_window.holds(sample.at) {
                true
            } else {
                continue;
            };
            let entry = kinds.entry((revoking, sample.kind)).or_default();
            entry.0.push(sample.took);
            if sample.status >= 400 {
                entry.1 += 1;
            }
        }
        let _ = writeln!(
            s,
            "\nRequests in the timed windows, by resource (until the response's headers):\n"
        );
        let _ = writeln!(
            s,
            "| window | request | per certificate / per revocation | p50 | p99 | 4xx/5xx |\n|---|---|---|---|---|---|"
        );
        for ((revoking, kind), (l, bad)) in &kinds {
            let (window, per) = if *revoking {
                ("revocation", l.len() as f64 / r)
            } else {
                ("issuance", l.len() as f64 / n)
            };
            let _ = writeln!(
                s,
                "| {window} | {} | {:.2} | {:.2} ms | {:.2} ms | {} |",
                kind.label(),
                per,
                l.pct(50.0),
                l.pct(99.0),
                bad
            );
        }

        // CPU.
        let _ = writeln!(
            s,
            "\nCPU seconds in the windows (2 cores = 2 CPU-seconds per second):\n"
        );
        let _ = writeln!(
            s,
            "| who | issuance: s | per certificate | revocation: s | per revocation |\n|---|---|---|---|---|"
        );
        let row = |s: &mut String, who: &str, a: f64, b: f64| {
            let _ = writeln!(
                s,
                "| {who} | {a:.2} | {:.2} ms | {b:.2} | {:.3} ms |",
                1000.0 * a / n,
                1000.0 * b / r
            );
        };
        row(&mut s, "certd", self.cpu_issue.certd, self.cpu_revoke.certd);
        // Every `postgres` process counts: shown only when certd uses PostgreSQL.
        if self.cpu_issue.pg[0] > 0.0 {
            row(
                &mut s,
                "PostgreSQL (every `postgres` process)",
                self.cpu_issue.postgres,
                self.cpu_revoke.postgres,
            );
        }
        let mut names: Vec<&String> = self
            .cpu_issue
            .driver
            .keys()
            .chain(self.cpu_revoke.driver.keys())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let label = match name.as_str() {
                "acme-client" => "driver: ACME clients (JWS signing, HTTP, CSRs)".to_owned(),
                "dns" => "driver: DNS responder".to_owned(),
                "http01" => "driver: http-01 responder".to_owned(),
                other => format!("driver: thread {other}"),
            };
            let label = if self.what == "REST" && name == "acme-client" {
                "driver: REST clients (HTTP, CSRs)".to_owned()
            } else {
                label
            };
            row(
                &mut s,
                &label,
                self.cpu_issue.driver.get(name).copied().unwrap_or(0.0),
                self.cpu_revoke.driver.get(name).copied().unwrap_or(0.0),
            );
        }
        row(
            &mut s,
            "whole machine (busy)",
            self.cpu_issue.busy,
            self.cpu_revoke.busy,
        );
        let _ = writeln!(
            s,
            "\nMachine busy: {:.0} % of {:.1} CPU-seconds during issuance, {:.0} % during revocation.",
            100.0 * self.cpu_issue.busy / self.cpu_issue.total.max(1e-9),
            self.cpu_issue.total,
            100.0 * self.cpu_revoke.busy / self.cpu_revoke.total.max(1e-9)
        );
        if self.cpu_issue.pg[0] > 0.0 {
            let (i, v) = (&self.cpu_issue.pg, &self.cpu_revoke.pg);
            let _ = writeln!(
                s,
                "\nPostgreSQL work (pg_stat_database of certd's database; a statement outside a transaction counts as one transaction): \
                 per certificate {:.1} transactions, {:.0} rows returned, {:.0} fetched, {:.1} written; \
                 per revocation {:.1} transactions, {:.0} rows returned, {:.0} fetched, {:.1} written.",
                i[0] / n,
                i[1] / n,
                i[2] / n,
                i[3] / n,
                v[0] / r,
                v[1] / r,
                v[2] / r,
                v[3] / r
            );
        }
        s
    }

    /// The headline figures as shell assignments, PREFIX_NAME=value.
    fn write_out(&self, path: Option<&str>, prefix: &str) -> Result<(), BoxError> {
        let Some(path) = path else { return Ok(()) };
        let totals = self.totals();
        let revokes = self.revoke_latencies();
        let n = self.flows.len().max(1) as f64;
        let r = self.revocations.len().max(1) as f64;
        let mut s = String::new();
        let mut put = |k: &str, v: String| {
            let _ = writeln!(s, "{prefix}_{k}={v}");
        };
        put("RATE", format!("{:.0}", self.cert_rate()));
        put("P50", format!("{:.1}", totals.pct(50.0)));
        put("P95", format!("{:.1}", totals.pct(95.0)));
        put("P99", format!("{:.1}", totals.pct(99.0)));
        put("CERTS", self.flows.len().to_string());
        put("ERRORS", self.errors.to_string());
        put(
            "CERTD_MS",
            format!("{:.2}", 1000.0 * self.cpu_issue.certd / n),
        );
        put(
            "PG_MS",
            format!("{:.2}", 1000.0 * self.cpu_issue.postgres / n),
        );
        put(
            "DRIVER_MS",
            format!("{:.2}", 1000.0 * self.cpu_issue.driver_total() / n),
        );
        put("REVOKE_RATE", format!("{:.0}", self.revoke_rate()));
        put("REVOKE_P50", format!("{:.1}", revokes.pct(50.0)));
        put("REVOKE_P99", format!("{:.1}", revokes.pct(99.0)));
        put("REVOKES", self.revocations.len().to_string());
        put("REVOKE_SECS", format!("{:.1}", self.revoke_window.secs()));
        put(
            "REVOKE_CERTD_MS",
            format!("{:.3}", 1000.0 * self.cpu_revoke.certd / r),
        );
        put(
            "REVOKE_DRIVER_MS",
            format!("{:.3}", 1000.0 * self.cpu_revoke.driver_total() / r),
        );
        std::fs::write(path, s)?;
        Ok(())
    }
}
