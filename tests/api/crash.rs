//! Crash safety: certd is killed with SIGKILL at random moments while
//! concurrent orders, revoke requests, approvals and skip-approval revokes
//! flow. After each restart every operation that got a 2xx is there, and the
//! state is consistent: revoked certificates have an approved request and an
//! audit entry, approved revoke requests have revoked certificates, the CRLs
//! list exactly the revoked serials, and the audit chain verifies.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

const ROUNDS: usize = 5;
const WORKERS: usize = 4;

/// What got a 2xx before the kill.
#[derive(Default, Clone)]
struct Acknowledged {
    revoked: Vec<i64>,          // certificates, skip-approval 204
    requested: Vec<(i64, i64)>, // (request, certificate), 201
    approved: Vec<(i64, i64)>,  // (request, certificate), 204
    ordered: Vec<i64>,          // orders, 201 with skip_approval
}

async fn call(s: &Server, key: &str, method: Method, path: &str, body: Value) -> Option<Resp> {
    Server::try_send(s.rb(method, path, Some(key)).json(&body))
        .await
        .ok()
}

/// One worker: a mix of writes until the server stops answering.
async fn work(s: Arc<Server>, user: String, pool: Vec<i64>, acked: Arc<Mutex<Acknowledged>>) {
    let mut pending: Vec<(i64, i64)> = Vec::new();
    for (i, cert) in pool.into_iter().enumerate() {
        let revoke = format!("/certificate/{cert}/revoke");
        let answer = match i % 4 {
            0 => {
                let body = json!({"skip_approval": true, "revocation_reason": "keyCompromise"});
                call(&s, s.admin(), Method::PUT, &revoke, body).await
            }
            1 | 2 => {
                call(
                    &s,
                    &user,
                    Method::PUT,
                    &revoke,
                    json!({"comments": "crash"}),
                )
                .await
            }
            _ => {
                let cn = format!("crash{}.example.com", unique());
                let body = json!({"certificate": {"common_name": cn, "csr": csr(&cn)}, "skip_approval": true});
                call(
                    &s,
                    s.admin(),
                    Method::POST,
                    "/order/certificate/ssl_basic",
                    body,
                )
                .await
            }
        };
        let Some(answer) = answer else { return };
        assert!(
            answer.status < 500 || answer.status == 503,
            "{}: {}",
            answer.status,
            answer.text()
        );
        match (i % 4, answer.status) {
            (0, 204) => acked.lock().unwrap().revoked.push(cert),
            (1 | 2, 201) => {
                pending.push((answer.id(), cert));
                acked.lock().unwrap().requested.push((answer.id(), cert));
            }
            (3, 201) => acked.lock().unwrap().ordered.push(answer.id()),
            _ => {}
        }
        if let Some((request, cert)) = (i % 3 == 0).then(|| pending.pop()).flatten() {
            let body = json!({"status": "approved"});
            let path = format!("/request/{request}/status");
            let Some(r) = call(&s, s.admin(), Method::PUT, &path, body).await else {
                return;
            };
            if r.status == 204 {
                acked.lock().unwrap().approved.push((request, cert));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let mut s = Arc::new(Server::start());
    let user = s.user();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        // Fresh certificates for this round, issued to the user.
        let mut pool = Vec::new();
        for _ in 0..WORKERS * 12 {
            pool.push(s.user_order_issued(&user).await.1);
        }
        let mut workers = Vec::new();
        for chunk in pool.chunks(12) {
            workers.push(tokio::spawn(work(
                Arc::clone(&s),
                user.clone(),
                chunk.to_vec(),
                Arc::clone(&acked),
            )));
        }
        let delay = 50 + (rand::random::<u64>() % 400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let status = std::process::Command::new("kill")
            .args(["-9", &s.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for worker in workers {
            worker.await.unwrap();
        }
        Arc::get_mut(&mut s).expect("workers are done").restart();
        let so_far = acked.lock().unwrap().clone();
        total_acked = check_everything_acknowledged(&s, &so_far, round).await;
    }
    eprintln!("{ROUNDS} SIGKILL rounds survived; {total_acked} acknowledged writes all present");
}

async fn check_everything_acknowledged(s: &Server, acked: &Acknowledged, round: usize) -> usize {
    for &cert in &acked.revoked {
        assert_eq!(
            s.cert_status(cert).await,
            "revoked",
            "round {round}: revoke of {cert} lost"
        );
    }
    for &(request, _) in &acked.requested {
        let status = s.request(request).await["status"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            status == "pending" || status == "approved",
            "round {round}: request {request} is {status}"
        );
    }
    for &(request, cert) in &acked.approved {
        assert_eq!(
            s.request(request).await["status"],
            "approved",
            "round {round}"
        );
        assert_eq!(
            s.cert_status(cert).await,
            "revoked",
            "round {round}: approval of {request} lost"
        );
    }
    for &order in &acked.ordered {
        assert_eq!(
            s.order(order).await["status"],
            "issued",
            "round {round}: order {order} lost"
        );
    }
    check_consistency(s, round).await;
    acked.revoked.len() + acked.requested.len() + acked.approved.len() + acked.ordered.len()
}

/// Whatever was or was not acknowledged, the database agrees with itself and
/// with what is published.
async fn check_consistency(s: &Server, round: usize) {
    let requests = s.requests().await;
    let mut approved_revokes: HashMap<i64, i64> = HashMap::new(); // certificate -> request
    for r in requests
        .iter()
        .filter(|r| r["type"] == "revoke" && r["status"] == "approved")
    {
        let cert = int(&r["order"]["certificate"]["id"]);
        approved_revokes.insert(cert, int(&r["id"]));
    }
    // Filtered, so that a long history still fits one page.
    let revocations = s
        .get(
            s.admin(),
            "/audit-log?filters[action]=certificate_revoked&limit=1000",
        )
        .await;
    let revoked_in_audit: HashSet<i64> = revocations.ok(200).json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| int(&e["object"]["id"]))
        .collect();
    let orders = s
        .get(s.admin(), "/order/certificate?limit=1000")
        .await
        .ok(200)
        .json["orders"]
        .clone();
    let mut revoked_serials = HashSet::new();
    let (mut revoked_sample, mut valid_sample) = (Vec::new(), Vec::new());
    for order in orders.as_array().unwrap() {
        let cert = int(&order["certificate"]["id"]);
        let details = s.cert(cert).await;
        let revoked = details["status"] == "revoked";
        assert_eq!(
            revoked,
            approved_revokes.contains_key(&cert),
            "round {round}: certificate {cert} revoked={revoked} vs its requests"
        );
        assert_eq!(
            revoked,
            revoked_in_audit.contains(&cert),
            "round {round}: certificate {cert} vs audit log"
        );
        if revoked {
            revoked_serials.insert(details["serial_number"].as_str().unwrap().to_string());
        }
        let sample = if revoked {
            &mut revoked_sample
        } else {
            &mut valid_sample
        };
        if sample.len() < 2 {
            sample.push(cert);
        }
    }
    // The CRLs, signed at start from the database, list exactly those.
    let index = s.send(reqwest::Client::new().get(s.url("/crl/"))).await;
    let mut listed = HashSet::new();
    for crl in index.ok(200).json["crls"].as_array().unwrap() {
        let der = reqwest::get(crl["url"].as_str().unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_crl(&der).unwrap();
        listed.extend(
            parsed
                .iter_revoked_certificates()
                .map(|e| hex::encode_upper(e.raw_serial())),
        );
    }
    assert_eq!(
        listed, revoked_serials,
        "round {round}: CRLs and database disagree"
    );
    // OCSP agrees too, for a sample of each kind.
    for (certs, status) in [(&revoked_sample, ": revoked"), (&valid_sample, ": good")] {
        for &cert in certs {
            let relying_party = crate::publication::Certificate::download(s, cert).await;
            let answer = relying_party.ocsp(&s.url("/ocsp"));
            assert!(
                answer.contains(status),
                "round {round}: OCSP for {cert}: {answer}"
            );
        }
    }
    let (intact, report) = crate::audit_chain::verify(s);
    assert!(
        intact,
        "round {round}: audit chain after the kill: {report}"
    );
}
