//! Soak-test load generator (see `bench/soak.sh`): drives one running certd
//! at a fixed total rate with a mix of publication, API reads, orders and
//! revocations, for a fixed time, and writes what it saw.
//!
//! Open loop: every route has its own fixed schedule, and a request's latency
//! runs from the moment the schedule meant to send it. A server that stalls is
//! charged for the whole stall, instead of the load politely waiting for it
//! (no coordinated omission, as in wrk2).
//!
//! It keeps the certificates it creates: reads, OCSP questions and
//! revocations use them, each owner with its own key. Memory stays bounded:
//! the pools have fixed sizes, each route has at most `MAX_IN_FLIGHT`
//! requests out (past that a request is dropped and counted as an error),
//! and latencies go into fixed-size histograms.
//!
//! Output, in OUT_DIR:
//! - `load.csv`: every SAMPLE seconds, one row per route:
//!   `t_s,route,count,errors,dropped,starved,p50_ms,p99_ms,max_ms`
//!   (`errors`: answers other than the route's expected status, failed
//!   connections and drops; `starved`: reads and revocations skipped for
//!   want of a certificate, which should stay 0);
//! - `quarters.csv`: `route,quarter,count,errors,p50_ms,p99_ms` per quarter of
//!   the run, to compare the first with the last.
//!
//! `soak_load BASE_URL ADMIN_KEYS USER_KEYS DURATION_S RATE SAMPLE_S OUT_DIR`
//! (keys comma-separated; BASE_URL must be on 127.0.0.1).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use der::Encode;
use der::asn1::{Null, OctetString};
use rand::Rng;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::time::{Instant, MissedTickBehavior};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest, Version};

type LoadResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    OcspGet,
    OcspPost,
    CrlIndex,
    CrlShard,
    OrderGet,
    CertGet,
    RequestList,
    Order,
    OrderPending,
    RevokeRequest,
    RevokeSkip,
    Approve,
}

const ROUTES: [Route; 12] = [
    Route::OcspGet,
    Route::OcspPost,
    Route::CrlIndex,
    Route::CrlShard,
    Route::OrderGet,
    Route::CertGet,
    Route::RequestList,
    Route::Order,
    Route::OrderPending,
    Route::RevokeRequest,
    Route::RevokeSkip,
    Route::Approve,
];

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::OcspGet => "ocsp_get",
            Route::OcspPost => "ocsp_post",
            Route::CrlIndex => "crl_index",
            Route::CrlShard => "crl_shard",
            Route::OrderGet => "order_get",
            Route::CertGet => "cert_get",
            Route::RequestList => "request_list",
            Route::Order => "order",
            Route::OrderPending => "order_pending",
            Route::RevokeRequest => "revoke_request",
            Route::RevokeSkip => "revoke_skip",
            Route::Approve => "approve",
        }
    }

    /// Share of RATE scheduled on this route, per mille. Relying parties'
    /// OCSP and CRL fetches dwarf everything else, as at any CA. Approvals are
    /// not scheduled: each pending order and revoke request gets one a second
    /// after its 201 (20 ‰), and each approved order one more order read
    /// (10 ‰), so the total comes to RATE. New certificates (35 ‰) outnumber
    /// revocations (15 ‰), so revocations do not run out.
    fn per_mille(self) -> u32 {
        match self {
            Route::OcspGet => 480,
            Route::OcspPost => 210,
            Route::CrlIndex => 20,
            Route::CrlShard => 80,
            Route::OrderGet => 50,
            Route::CertGet => 60,
            Route::RequestList => 20,
            Route::Order => 25,
            Route::OrderPending => 10,
            Route::RevokeRequest => 10,
            Route::RevokeSkip => 5,
            Route::Approve => 0,
        }
    }

    fn expected(self) -> u16 {
        match self {
            Route::Order | Route::OrderPending | Route::RevokeRequest => 201,
            Route::RevokeSkip | Route::Approve => 204,
            _ => 200,
        }
    }
}

/// Past this many requests out on one route, new ones are dropped: a server
/// that stops answering must not grow the generator without bound.
const MAX_IN_FLIGHT: usize = 512;
/// Certificates kept for reads and OCSP, unrevoked ones kept for revocation,
/// and serial numbers kept for OCSP.
const POOL: usize = 8192;
/// The certificates relying parties ask about over OCSP: the first this many
/// created. At a CA in its steady state as many certificates expire as are
/// issued, so the population asked about keeps its size; in a compressed
/// soak nothing expires, and asking about every new certificate would only
/// show certd's OCSP cache filling up to its fixed budget (64 MiB) over hours.
const OCSP_POPULATION: usize = 2048;
const UNREVOKED: usize = 20_000;
/// Certificates each key creates before the timed run, so that reads,
/// OCSP and revocations have something to work on from the first second.
const PREFILL_PER_KEY: usize = 50;
/// A pending request waits this long for its approval, as if someone looked.
const APPROVAL_DELAY: Duration = Duration::from_secs(1);
/// Share of OCSP questions about serials certd never issued (answered
/// `unknown`, never cached), and of POSTs carrying a nonce (never cached).
const UNKNOWN_PERCENT: u32 = 5;
const NONCE_PERCENT: u32 = 50;

#[derive(Debug, Clone, Copy)]
struct Cert {
    id: i64,
    order_id: i64,
    owner: usize,
}

#[derive(Default)]
struct Pool {
    certs: Vec<Cert>,
    unrevoked: VecDeque<Cert>,
    serials: Vec<Vec<u8>>,
}

impl Pool {
    fn add_cert(&mut self, cert: Cert) {
        keep(&mut self.certs, cert);
        if self.unrevoked.len() == UNREVOKED {
            self.unrevoked.pop_front();
        }
        self.unrevoked.push_back(cert);
    }
}

/// Adds to a bounded pool: once full, a random old entry makes room.
fn keep<T>(pool: &mut Vec<T>, item: T) {
    if pool.len() < POOL {
        pool.push(item);
    } else {
        let i = rand::thread_rng().gen_range(0..pool.len());
        pool[i] = item;
    }
}

/// Latencies in microseconds, 32 buckets per power of two (about 3 %).
#[derive(Clone)]
struct Histogram(Vec<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(vec![0; 64 + 35 * 32])
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        let us = us.min((1 << 40) - 1);
        if us < 64 {
            return us as usize;
        }
        let exp = 63 - u64::from(us.leading_zeros());
        (64 + (exp - 6) * 32 + ((us >> (exp - 5)) - 32)) as usize
    }

    fn value(bucket: usize) -> u64 {
        if bucket < 64 {
            return bucket as u64;
        }
        let (exp, sub) = ((bucket - 64) / 32 + 6, (bucket - 64) % 32);
        (32 + sub as u64) << (exp - 5)
    }

    fn record(&mut self, us: u64) {
        self.0[Self::bucket(us)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a += b);
    }

    /// The latency below which `q` of the requests fell, in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.0.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Self::value(bucket) as f64 / 1000.0;
            }
        }
        0.0
    }

    fn max_ms(&self) -> f64 {
        self.0
            .iter()
            .rposition(|&c| c > 0)
            .map_or(0.0, |b| Self::value(b) as f64 / 1000.0)
    }
}

#[derive(Default, Clone)]
struct Counts {
    count: u64,
    errors: u64,
    dropped: u64,
    starved: u64,
    latency: Histogram,
}

struct Stats {
    interval: Vec<Counts>,
    quarters: Vec<Vec<Counts>>,
}

/// What to do with a successful answer.
enum Then {
    Nothing,
    /// An issued certificate (order 201 with `certificate_id`).
    Issued {
        owner: usize,
    },
    /// A certificate or order read: remember its serial for OCSP; for the
    /// read that follows an approved order, the certificate too.
    Read {
        new_owner: Option<usize>,
    },
    /// A pending request (201): approve it a little later, then, for an
    /// order, read it to learn its certificate.
    Pending {
        poll_as: Option<usize>,
    },
    /// An approved order to read.
    Approved {
        poll: Option<(i64, usize)>,
    },
}

struct Call {
    route: Route,
    request: reqwest::RequestBuilder,
    then: Then,
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    /// Administrators' keys first, then users'.
    keys: Vec<String>,
    admins: usize,
    order_body: Value,
    issuer: IssuerHashes,
    pool: Mutex<Pool>,
    stats: Mutex<Stats>,
    in_flight: Vec<AtomicUsize>,
    start: Instant,
    duration: Duration,
    stopping: AtomicBool,
}

#[tokio::main]
async fn main() -> LoadResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, admins, users, duration, rate, sample, out] = args.as_slice() else {
        return Err(
            "usage: soak_load BASE_URL ADMIN_KEYS USER_KEYS DURATION_S RATE SAMPLE_S OUT_DIR"
                .into(),
        );
    };
    if !base.starts_with("http://127.0.0.1:") {
        return Err("BASE_URL must be http://127.0.0.1:PORT".into());
    }
    let (duration, rate, sample): (u64, f64, u64) =
        (duration.parse()?, rate.parse()?, sample.parse()?);
    let admin_keys: Vec<String> = admins.split(',').map(str::to_string).collect();
    let keys: Vec<String> = admin_keys
        .iter()
        .cloned()
        .chain(
            users
                .split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        )
        .collect();
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out)?;

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;
    let chain = http
        .get(format!("{base}/ca/chain.pem"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::new(vec!["soak.example.com".to_string()])?
        .serialize_request(&key)?
        .pem()?;
    let ctx = Ctx {
        http,
        base: base.clone(),
        admins: admin_keys.len(),
        keys,
        order_body: json!({
            "certificate": {"common_name": "soak.example.com", "csr": csr},
            "order_validity": {"years": 1},
        }),
        issuer: IssuerHashes::from_chain(&chain)?,
        pool: Mutex::default(),
        stats: Mutex::new(Stats {
            interval: vec![Counts::default(); ROUTES.len()],
            quarters: vec![vec![Counts::default(); ROUTES.len()]; 4],
        }),
        in_flight: ROUTES.iter().map(|_| AtomicUsize::new(0)).collect(),
        start: Instant::now(),
        duration: Duration::from_secs(duration),
        stopping: AtomicBool::new(false),
    };
    prefill(&ctx).await?;
    // bench/soak.sh starts its clock on this line.
    eprintln!("soak_load: running for {duration} s at {rate} requests/s");
    let ctx = Arc::new(Ctx {
        start: Instant::now(),
        ..ctx
    });
    let mut tickers = Vec::new();
    for route in ROUTES.into_iter().filter(|r| r.per_mille() > 0) {
        let per_second = rate * f64::from(route.per_mille()) / 1000.0;
        if per_second > 0.0 {
            tickers.push(tokio::spawn(schedule(ctx.clone(), route, per_second)));
        }
    }
    let mut csv = std::io::BufWriter::new(std::fs::File::create(out.join("load.csv"))?);
    writeln!(
        csv,
        "t_s,route,count,errors,dropped,starved,p50_ms,p99_ms,max_ms"
    )?;
    let mut sampling = tokio::time::interval_at(
        ctx.start + Duration::from_secs(sample),
        Duration::from_secs(sample),
    );
    let end = loop {
        let at = sampling.tick().await - ctx.start;
        if at >= ctx.duration {
            break at;
        }
        write_interval(&ctx, &mut csv, at)?;
    };
    ctx.stopping.store(true, Ordering::SeqCst);
    tickers.iter().for_each(|t| t.abort());
    // The last interval takes the last answers too (the client gives up
    // after 30 s).
    let deadline = Instant::now() + Duration::from_secs(35);
    let busy = |n: &AtomicUsize| n.load(Ordering::SeqCst) > 0;
    while ctx.in_flight.iter().any(busy) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    write_interval(&ctx, &mut csv, end)?;
    write_quarters(&ctx, &out.join("quarters.csv"))
}

/// Each key creates a few certificates, through approval for users, and
/// reads them so that their serials can be asked about over OCSP.
async fn prefill(ctx: &Ctx) -> LoadResult<()> {
    for owner in 0..ctx.keys.len() {
        for _ in 0..PREFILL_PER_KEY {
            let admin = owner < ctx.admins;
            let created = ctx
                .json(ctx.order(owner, admin))
                .await
                .ok_or("prefill order")?;
            let order_id = created["id"].as_i64().ok_or("order id")?;
            if !admin {
                let request = created["requests"][0]["id"].as_i64().ok_or("request")?;
                ctx.json(ctx.approve(request)).await;
            }
            let order = ctx
                .json(ctx.get(owner, &format!("/order/certificate/{order_id}")))
                .await
                .ok_or("prefill read")?;
            ctx.learn(&order["certificate"], Some(owner), order_id);
        }
    }
    Ok(())
}

impl Ctx {
    fn key(&self, owner: usize) -> &str {
        &self.keys[owner]
    }

    fn any_admin(&self) -> usize {
        rand::thread_rng().gen_range(0..self.admins)
    }

    fn get(&self, owner: usize, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}/services/v2{path}", self.base))
            .header("X-DC-DEVKEY", self.key(owner))
    }

    fn put(&self, owner: usize, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}/services/v2{path}", self.base))
            .header("X-DC-DEVKEY", self.key(owner))
            .json(&body)
    }

    fn order(&self, owner: usize, skip_approval: bool) -> reqwest::RequestBuilder {
        let mut body = self.order_body.clone();
        body["skip_approval"] = json!(skip_approval);
        self.http
            .post(format!(
                "{}/services/v2/order/certificate/ssl_basic",
                self.base
            ))
            .header("X-DC-DEVKEY", self.key(owner))
            .json(&body)
    }

    fn approve(&self, request: i64) -> reqwest::RequestBuilder {
        self.put(
            self.any_admin(),
            &format!("/request/{request}/status"),
            json!({"status": "approved"}),
        )
    }

    /// Sends outside the timed run (prefill): the JSON answer, if a 2xx.
    async fn json(&self, request: reqwest::RequestBuilder) -> Option<Value> {
        let response = request.send().await.ok()?.error_for_status().ok()?;
        let body = response.bytes().await.ok()?;
        Some(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Keeps a certificate object's serial for OCSP and, for a new one, the
    /// certificate itself.
    fn learn(&self, cert: &Value, new_owner: Option<usize>, order_id: i64) {
        let serial = cert["serial_number"]
            .as_str()
            .and_then(|s| hex::decode(s).ok());
        let mut pool = self.pool.lock().unwrap();
        if let Some(serial) = serial
            && pool.serials.len() < OCSP_POPULATION
        {
            pool.serials.push(serial);
        }
        if let (Some(owner), Some(id)) = (new_owner, cert["id"].as_i64()) {
            pool.add_cert(Cert {
                id,
                order_id,
                owner,
            });
        }
    }

    /// The next request of a scheduled route; `None` when there is no
    /// certificate to read or revoke (counted as starved).
    fn plan(&self, route: Route) -> Option<Call> {
        let mut rng = rand::thread_rng();
        let any_key = |rng: &mut rand::rngs::ThreadRng| rng.gen_range(0..self.keys.len());
        let call = |request, then| {
            Some(Call {
                route,
                request,
                then,
            })
        };
        match route {
            Route::OcspGet | Route::OcspPost => {
                let serial = {
                    let pool = self.pool.lock().unwrap();
                    if pool.serials.is_empty() || rng.gen_range(0..100) < UNKNOWN_PERCENT {
                        None
                    } else {
                        Some(pool.serials[rng.gen_range(0..pool.serials.len())].clone())
                    }
                };
                let serial = serial.unwrap_or_else(|| {
                    let mut s: [u8; 16] = rng.r#gen();
                    s[0] = 1 + s[0] % 0x7f;
                    s.to_vec()
                });
                if route == Route::OcspGet {
                    let der = self.issuer.request_der(&serial, None).ok()?;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
                    let path = b64
                        .replace('+', "%2B")
                        .replace('/', "%2F")
                        .replace('=', "%3D");
                    call(
                        self.http.get(format!("{}/ocsp/{path}", self.base)),
                        Then::Nothing,
                    )
                } else {
                    let nonce = (rng.gen_range(0..100) < NONCE_PERCENT).then(|| rng.r#gen());
                    let der = self.issuer.request_der(&serial, nonce).ok()?;
                    let request = self
                        .http
                        .post(format!("{}/ocsp", self.base))
                        .header("Content-Type", "application/ocsp-request")
                        .body(der);
                    call(request, Then::Nothing)
                }
            }
            Route::CrlIndex => call(self.http.get(format!("{}/crl/", self.base)), Then::Nothing),
            Route::CrlShard => {
                let shard = rng.gen_range(0..certd::CRL_SHARDS);
                let url = format!("{}/crl/{shard}.crl", self.base);
                call(self.http.get(url), Then::Nothing)
            }
            Route::OrderGet | Route::CertGet => {
                let cert = {
                    let pool = self.pool.lock().unwrap();
                    *pool.certs.get(rng.gen_range(0..pool.certs.len().max(1)))?
                };
                let path = match route {
                    Route::OrderGet => format!("/order/certificate/{}", cert.order_id),
                    _ => format!("/certificate/{}", cert.id),
                };
                call(self.get(cert.owner, &path), Then::Read { new_owner: None })
            }
            Route::RequestList => {
                let path = "/request?filters%5Bstatus%5D=pending&limit=25&sort=-id";
                call(self.get(any_key(&mut rng), path), Then::Nothing)
            }
            Route::Order => {
                let admin = self.any_admin();
                call(self.order(admin, true), Then::Issued { owner: admin })
            }
            Route::OrderPending => {
                // Users' orders wait for an administrator; with no user keys,
                // an administrator's order without skip_approval waits too.
                let owner = if self.keys.len() > self.admins {
                    rng.gen_range(self.admins..self.keys.len())
                } else {
                    self.any_admin()
                };
                call(
                    self.order(owner, false),
                    Then::Pending {
                        poll_as: Some(owner),
                    },
                )
            }
            Route::RevokeRequest | Route::RevokeSkip => {
                let cert = self.pool.lock().unwrap().unrevoked.pop_front()?;
                let path = format!("/certificate/{}/revoke", cert.id);
                if route == Route::RevokeRequest {
                    let body = json!({"revocation_reason": "superseded", "comments": "soak"});
                    let request = self.put(cert.owner, &path, body);
                    call(request, Then::Pending { poll_as: None })
                } else {
                    let body =
                        json!({"revocation_reason": "cessationOfOperation", "skip_approval": true});
                    call(self.put(self.any_admin(), &path, body), Then::Nothing)
                }
            }
            Route::Approve => None,
        }
    }

    fn record(&self, route: Route, intended: Instant, outcome: Outcome) {
        let elapsed = intended.saturating_duration_since(self.start).as_secs_f64();
        let quarter = ((elapsed * 4.0 / self.duration.as_secs_f64()) as usize).min(3);
        let mut stats = self.stats.lock().unwrap();
        let stats = &mut *stats;
        let i = route as usize;
        for counts in [&mut stats.interval[i], &mut stats.quarters[quarter][i]] {
            match outcome {
                Outcome::Starved => counts.starved += 1,
                Outcome::Dropped => {
                    counts.count += 1;
                    counts.errors += 1;
                    counts.dropped += 1;
                }
                Outcome::Answered { ok, latency } => {
                    counts.count += 1;
                    counts.errors += u64::from(!ok);
                    counts.latency.record(latency.as_micros() as u64);
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Starved,
    Dropped,
    Answered { ok: bool, latency: Duration },
}

/// Sends one route's requests at `per_second`, each in its own task.
async fn schedule(ctx: Arc<Ctx>, route: Route, per_second: f64) {
    let period = Duration::from_secs_f64(1.0 / per_second);
    // A random phase, so that routes do not all fire on the same tick.
    let phase = period.mul_f64(rand::thread_rng().r#gen());
    let mut ticks = tokio::time::interval_at(ctx.start + phase, period);
    // Ticks missed while the runtime was busy are sent at once, as late as
    // they are: that lateness is part of their latency.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    loop {
        let intended = ticks.tick().await;
        if intended - ctx.start >= ctx.duration {
            return;
        }
        match ctx.plan(route) {
            Some(call) => drop(tokio::spawn(execute(ctx.clone(), call, intended))),
            None => ctx.record(route, intended, Outcome::Starved),
        }
    }
}

async fn execute(ctx: Arc<Ctx>, call: Call, intended: Instant) {
    let i = call.route as usize;
    if ctx.in_flight[i].fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
        ctx.in_flight[i].fetch_sub(1, Ordering::SeqCst);
        ctx.record(call.route, intended, Outcome::Dropped);
        return;
    }
    let answer = match call.request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            response.bytes().await.ok().map(|body| (status, body))
        }
        Err(_) => None,
    };
    let latency = intended.elapsed();
    ctx.in_flight[i].fetch_sub(1, Ordering::SeqCst);
    let ok = matches!(answer, Some((status, _)) if status == call.route.expected());
    ctx.record(call.route, intended, Outcome::Answered { ok, latency });
    match answer {
        Some((_, body)) if ok => follow_up(&ctx, call.then, &body),
        Some((status, body)) => report_error(call.route, status, &body),
        None => report_error(call.route, 0, b"connection failed"),
    }
}

/// Prints the first few unexpected answers, enough to see what went wrong
/// without filling the disk.
fn report_error(route: Route, status: u16, body: &[u8]) {
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    if REPORTED.fetch_add(1, Ordering::Relaxed) < 20 {
        let body = String::from_utf8_lossy(&body[..body.len().min(300)]);
        eprintln!("soak_load: {} answered {status}: {body}", route.name());
    }
}

fn follow_up(ctx: &Arc<Ctx>, then: Then, body: &[u8]) {
    let json = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    match then {
        Then::Nothing => {}
        Then::Issued { owner } => {
            let created = json();
            if let (Some(order_id), Some(id)) =
                (created["id"].as_i64(), created["certificate_id"].as_i64())
            {
                ctx.pool.lock().unwrap().add_cert(Cert {
                    id,
                    order_id,
                    owner,
                });
            }
        }
        Then::Read { new_owner } => {
            let read = json();
            // Order details nest the certificate; certificate details are it.
            let (cert, order_id) = match read.get("certificate") {
                Some(cert) => (cert, read["id"].as_i64()),
                None => (&read, read["order_id"].as_i64()),
            };
            ctx.learn(cert, new_owner, order_id.unwrap_or(0));
        }
        Then::Pending { poll_as } => {
            let created = json();
            // An order answers {"id": order, "requests": [{"id"}]}; a revoke
            // request answers the request object itself.
            let (request, order) = match poll_as {
                Some(owner) => (
                    created["requests"][0]["id"].as_i64(),
                    created["id"].as_i64().map(|id| (id, owner)),
                ),
                None => (created["id"].as_i64(), None),
            };
            if let Some(request) = request {
                chain(ctx, APPROVAL_DELAY, move |ctx| Call {
                    route: Route::Approve,
                    request: ctx.approve(request),
                    then: Then::Approved { poll: order },
                });
            }
        }
        Then::Approved { poll } => {
            if let Some((order_id, owner)) = poll {
                chain(ctx, Duration::ZERO, move |ctx| Call {
                    route: Route::OrderGet,
                    request: ctx.get(owner, &format!("/order/certificate/{order_id}")),
                    then: Then::Read {
                        new_owner: Some(owner),
                    },
                });
            }
        }
    }
}

/// A request that follows another's answer, after `delay`; its latency runs
/// from when it is sent. None once the run is over.
fn chain(ctx: &Arc<Ctx>, delay: Duration, make: impl FnOnce(&Ctx) -> Call + Send + 'static) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if !ctx.stopping.load(Ordering::SeqCst) && ctx.start.elapsed() < ctx.duration {
            let call = make(&ctx);
            execute(ctx, call, Instant::now()).await;
        }
    });
}

fn write_interval(ctx: &Ctx, csv: &mut impl Write, at: Duration) -> LoadResult<()> {
    let interval = {
        let mut stats = ctx.stats.lock().unwrap();
        std::mem::replace(&mut stats.interval, vec![Counts::default(); ROUTES.len()])
    };
    for (route, c) in ROUTES.iter().zip(&interval) {
        writeln!(
            csv,
            "{},{},{},{},{},{},{:.3},{:.3},{:.3}",
            at.as_secs(),
            route.name(),
            c.count,
            c.errors,
            c.dropped,
            c.starved,
            c.latency.quantile_ms(0.5),
            c.latency.quantile_ms(0.99),
            c.latency.max_ms()
        )?;
    }
    csv.flush()?;
    Ok(())
}

fn write_quarters(ctx: &Ctx, file: &std::path::Path) -> LoadResult<()> {
    let stats = ctx.stats.lock().unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    writeln!(out, "route,quarter,count,errors,p50_ms,p99_ms")?;
    let mut total = Counts::default();
    for (i, route) in ROUTES.iter().enumerate() {
        for (q, quarter) in stats.quarters.iter().enumerate() {
            let c = &quarter[i];
            writeln!(
                out,
                "{},{},{},{},{:.3},{:.3}",
                route.name(),
                q + 1,
                c.count,
                c.errors,
                c.latency.quantile_ms(0.5),
                c.latency.quantile_ms(0.99)
            )?;
            total.count += c.count;
            total.errors += c.errors;
            total.starved += c.starved;
            total.latency.merge(&c.latency);
        }
    }
    out.flush()?;
    eprintln!(
        "soak_load: {} requests, {} errors, {} revocations starved, p99 {:.2} ms",
        total.count,
        total.errors,
        total.starved,
        total.latency.quantile_ms(0.99)
    );
    Ok(())
}

/// SHA-1 of the intermediate's name and key, as `openssl ocsp` sends them.
struct IssuerHashes {
    name: Vec<u8>,
    key: Vec<u8>,
}

impl IssuerHashes {
    /// From `/ca/chain.pem`, whose first certificate is the issuing intermediate.
    fn from_chain(pem: &str) -> LoadResult<IssuerHashes> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())?;
        let cert = block.parse_x509()?;
        Ok(IssuerHashes {
            name: Sha1::digest(cert.subject().as_raw()).to_vec(),
            key: Sha1::digest(&cert.public_key().subject_public_key.data).to_vec(),
        })
    }

    fn request_der(&self, serial: &[u8], nonce: Option<[u8; 16]>) -> LoadResult<Vec<u8>> {
        // RFC 8954: the nonce extension's value is an OCTET STRING.
        let request_extensions = match nonce {
            Some(nonce) => Some(vec![Extension {
                extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(OctetString::new(nonce)?.to_der()?)?,
            }]),
            None => None,
        };
        let request = OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: CertId {
                        hash_algorithm: spki::AlgorithmIdentifierOwned {
                            oid: const_oid::db::rfc5912::ID_SHA_1,
                            parameters: Some(Null.into()),
                        },
                        issuer_name_hash: OctetString::new(self.name.clone())?,
                        issuer_key_hash: OctetString::new(self.key.clone())?,
                        serial_number: SerialNumber::new(serial)?,
                    },
                    single_request_extensions: None,
                }],
                request_extensions,
            },
            optional_signature: None,
        };
        Ok(request.to_der()?)
    }
}
