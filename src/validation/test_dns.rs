//! A tiny DNS server for tests: point `--acme-dns-resolver` (or
//! `ValidatorConfig::resolver`) at [`TestDns::addr`].
//!
//! Every name has A 127.0.0.1 unless [`TestDns::set_a`] says otherwise, no
//! AAAA unless [`TestDns::set_aaaa`], and the TXT records set with
//! [`TestDns::set_txt`] (NOERROR without answers when none). Answers carry
//! TTL 0. It serves UDP and TCP on one port of 127.0.0.1 from two plain
//! threads, so both `#[test]` and `#[tokio::test]` can use it; dropping it
//! stops them.
//!
//! Self-contained (std and `hickory_resolver::proto` only) so that the
//! integration tests can include it:
//! `#[path = "../../src/validation/test_dns.rs"] mod test_dns;`
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, TXT};
use hickory_resolver::proto::rr::{RData, Record, RecordType};

/// A DNS server on 127.0.0.1 for the life of the value.
pub(crate) struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Zone {
    a: HashMap<String, Vec<Ipv4Addr>>,
    aaaa: HashMap<String, Vec<Ipv6Addr>>,
    /// Each record is a list of character-strings.
    txt: HashMap<String, Vec<Vec<Vec<u8>>>>,
    nxdomain: Vec<String>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    /// Binds UDP and TCP on one free port of 127.0.0.1 and starts serving.
    pub(crate) fn start() -> TestDns {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("test DNS address");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let stop = Arc::new(AtomicBool::new(false));
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("UDP read timeout");
        let threads = vec![
            {
                let (zone, stop) = (zone.clone(), stop.clone());
                thread::Builder::new()
                    .name("test-dns-udp".into())
                    .spawn(move || serve_udp(udp, zone, stop))
                    .expect("spawn test DNS")
            },
            {
                let (zone, stop) = (zone.clone(), stop.clone());
                thread::Builder::new()
                    .name("test-dns-tcp".into())
                    .spawn(move || serve_tcp(tcp, zone, stop))
                    .expect("spawn test DNS")
            },
        ];
        TestDns {
            addr,
            zone,
            stop,
            threads,
        }
    }

    /// Where it listens (UDP and TCP).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the TXT records of `name` (e.g. `_acme-challenge.a.test`),
    /// one record per value; values over 255 bytes are split in strings.
    pub(crate) fn set_txt<S: Into<String>>(&self, name: &str, values: impl IntoIterator<Item = S>) {
        let records = values
            .into_iter()
            .map(|v| {
                let v: String = v.into();
                if v.is_empty() {
                    vec![Vec::new()]
                } else {
                    v.as_bytes().chunks(255).map(<[u8]>::to_vec).collect()
                }
            })
            .collect();
        self.set_txt_records(name, records);
    }

    /// Replaces the TXT records of `name`, each given as its strings.
    pub(crate) fn set_txt_strings(&self, name: &str, records: Vec<Vec<String>>) {
        let records = records
            .into_iter()
            .map(|r| r.into_iter().map(String::into_bytes).collect())
            .collect();
        self.set_txt_records(name, records);
    }

    fn set_txt_records(&self, name: &str, records: Vec<Vec<Vec<u8>>>) {
        let mut zone = self.zone();
        zone.nxdomain.retain(|n| *n != key(name));
        zone.txt.insert(key(name), records);
    }

    /// Removes the TXT records of `name`.
    pub(crate) fn clear_txt(&self, name: &str) {
        self.zone().txt.remove(&key(name));
    }

    /// Answers A `ip` for `name` (instead of 127.0.0.1).
    pub(crate) fn set_a(&self, name: &str, ip: Ipv4Addr) {
        let mut zone = self.zone();
        zone.nxdomain.retain(|n| *n != key(name));
        zone.a.insert(key(name), vec![ip]);
    }

    /// Answers AAAA `ip` for `name` (instead of no AAAA records).
    pub(crate) fn set_aaaa(&self, name: &str, ip: Ipv6Addr) {
        let mut zone = self.zone();
        zone.nxdomain.retain(|n| *n != key(name));
        zone.aaaa.insert(key(name), vec![ip]);
    }

    /// Answers NXDOMAIN for `name`, whatever the type.
    pub(crate) fn set_nxdomain(&self, name: &str) {
        let mut zone = self.zone();
        let name = key(name);
        zone.a.remove(&name);
        zone.aaaa.remove(&name);
        zone.txt.remove(&name);
        if !zone.nxdomain.contains(&name) {
            zone.nxdomain.push(name);
        }
    }

    fn zone(&self) -> std::sync::MutexGuard<'_, Zone> {
        self.zone.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the TCP thread's accept; the UDP one wakes by its timeout.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind test DNS (UDP)");
        let addr = udp.local_addr().expect("test DNS address");
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no port of 127.0.0.1 free for both UDP and TCP");
}

fn serve_udp(socket: UdpSocket, zone: Arc<Mutex<Zone>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some(mut reply) = answer(&buf[..len], &zone) {
            // 512 bytes, or what the client's EDNS allows.
            let limit =
                Message::from_vec(&buf[..len]).map_or(512, |m| usize::from(m.max_payload()));
            if reply.len() > limit.max(512) {
                // Too big for plain UDP: the client retries over TCP.
                if let Some(truncated) = truncated(&buf[..len]) {
                    reply = truncated;
                }
            }
            let _ = socket.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(listener: TcpListener, zone: Arc<Mutex<Zone>>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let zone = zone.clone();
        thread::spawn(move || serve_tcp_connection(stream, zone));
    }
}

fn serve_tcp_connection(mut stream: TcpStream, zone: Arc<Mutex<Zone>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        let Some(reply) = answer(&query, &zone) else {
            return;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        if stream.write_all(&reply_len.to_be_bytes()).is_err() || stream.write_all(&reply).is_err()
        {
            return;
        }
    }
}

/// The reply to one query message, or `None` for what is not a query.
fn answer(query: &[u8], zone: &Mutex<Zone>) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    let Some(q) = request
        .queries
        .first()
        .filter(|_| request.queries.len() == 1)
    else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(q.clone());
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let name = key(&q.name().to_ascii());
    let owner = q.name().clone();
    let zone = zone.lock().unwrap_or_else(|e| e.into_inner());
    if zone.nxdomain.contains(&name) {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply.to_vec().ok();
    }
    let rdata: Vec<RData> = match q.query_type() {
        RecordType::A => zone
            .a
            .get(&name)
            .cloned()
            .unwrap_or_else(|| vec![Ipv4Addr::LOCALHOST])
            .into_iter()
            .map(|ip| RData::A(A(ip)))
            .collect(),
        RecordType::AAAA => zone
            .aaaa
            .get(&name)
            .into_iter()
            .flatten()
            .map(|ip| RData::AAAA(AAAA(*ip)))
            .collect(),
        RecordType::TXT => zone
            .txt
            .get(&name)
            .into_iter()
            .flatten()
            .map(|strings| RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect())))
            .collect(),
        _ => Vec::new(),
    };
    drop(zone);
    for data in rdata {
        reply.add_answer(Record::from_rdata(owner.clone(), 0, data));
    }
    reply.to_vec().ok()
}

/// An empty reply with the TC bit set.
fn truncated(query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.truncation = true;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(request.queries);
    reply.to_vec().ok()
}
