//! What the validation authority talks to: a DNS server that answers every A
//! query with 127.0.0.1 (no AAAA), and the http-01 responder serving
//! `/.well-known/acme-challenge/{token}` from a shared map of key
//! authorizations. Each records when certd first asked, so that the
//! challenge's wait can be split into its parts.
//!
//! Each runs on a thread of its own ("dns", "http01"), so that their CPU time
//! is told apart from the ACME clients' in the report.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

/// When certd first looked a name up, by lower-case name without the final dot.
#[derive(Default)]
pub struct DnsLog {
    first_a: Mutex<HashMap<String, Instant>>,
    pub queries: AtomicU64,
}

impl DnsLog {
    /// Forgets `name`, returning when it was first asked for.
    pub fn take(&self, name: &str) -> Option<Instant> {
        self.first_a.lock().unwrap().remove(name)
    }
}

/// Serves DNS on UDP `port` of 127.0.0.1 from a plain thread until the process ends.
pub fn start_dns(port: u16) -> std::io::Result<Arc<DnsLog>> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
    let log = Arc::new(DnsLog::default());
    let shared = Arc::clone(&log);
    thread::Builder::new().name("dns".into()).spawn(move || {
        let mut buf = [0u8; 2048];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if let Some(reply) = answer(&buf[..len], &shared) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    })?;
    Ok(log)
}

fn answer(query: &[u8], log: &DnsLog) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    log.queries.fetch_add(1, Ordering::Relaxed);
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    let Some(q) = request.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(q.clone());
    if q.query_type() == RecordType::A {
        let name = q
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        log.first_a
            .lock()
            .unwrap()
            .entry(name)
            .or_insert_with(Instant::now);
        reply.add_answer(Record::from_rdata(
            q.name().clone(),
            0,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        ));
    }
    // AAAA and everything else: NOERROR without answers.
    reply.to_vec().ok()
}

/// A challenge the responder answers, and when certd fetched it first.
struct Entry {
    key_authorization: String,
    fetched: Option<Instant>,
}

/// The http-01 responder's map, shared with the clients.
#[derive(Default)]
pub struct Challenges {
    map: Mutex<HashMap<String, Entry>>,
    pub fetches: AtomicU64,
    pub misses: AtomicU64,
}

impl Challenges {
    pub fn put(&self, token: &str, key_authorization: &str) {
        self.map.lock().unwrap().insert(
            token.to_owned(),
            Entry {
                key_authorization: key_authorization.to_owned(),
                fetched: None,
            },
        );
    }

    /// Removes `token`, returning when certd first fetched it.
    pub fn take(&self, token: &str) -> Option<Instant> {
        self.map
            .lock()
            .unwrap()
            .remove(token)
            .and_then(|e| e.fetched)
    }
}

async fn challenge(
    State(challenges): State<Arc<Challenges>>,
    Path(token): Path<String>,
) -> (StatusCode, String) {
    challenges.fetches.fetch_add(1, Ordering::Relaxed);
    let mut map = challenges.map.lock().unwrap();
    match map.get_mut(&token) {
        Some(entry) => {
            entry.fetched.get_or_insert_with(Instant::now);
            (StatusCode::OK, entry.key_authorization.clone())
        }
        None => {
            challenges.misses.fetch_add(1, Ordering::Relaxed);
            (StatusCode::NOT_FOUND, String::new())
        }
    }
}

/// Serves http-01 on TCP `port` of 127.0.0.1 from a single-threaded runtime
/// on a thread of its own.
pub fn start_http01(port: u16) -> std::io::Result<Arc<Challenges>> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    listener.set_nonblocking(true)?;
    let challenges = Arc::new(Challenges::default());
    let app = Router::new()
        .route("/.well-known/acme-challenge/{token}", get(challenge))
        .with_state(Arc::clone(&challenges));
    thread::Builder::new()
        .name("http01".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("http-01 runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("http-01 listener");
                axum::serve(listener, app).await.expect("http-01 responder");
            });
        })?;
    Ok(challenges)
}
