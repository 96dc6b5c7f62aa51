//! Batched issuance (`service::issue_batch`): under `certd serve`, orders
//! approved as they are placed that arrive together share one transaction,
//! yet each gets its own order, certificate, request and audit entries,
//! recorded with its own call's X-Request-ID; an order whose key is blocked
//! is refused in the midst of a batch and changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rcgen::KeyPair;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;
use crate::revocation_batches::{audit_entries_of, samples, send_together};

/// One `POST /order/certificate/ssl_basic` with `skip_approval`.
struct Call {
    common_name: String,
    /// Made with the blocked key, so refused.
    blocked: bool,
    request_id: String,
}

/// `certd_issuance_batches_total`.
async fn batches(s: &Server) -> f64 {
    let text = s.metrics_text().await;
    samples(&text, "certd_issuance_batches_total")
        .iter()
        .map(|(_, value)| value)
        .sum()
}

/// 48 orders with `skip_approval` at once, 8 of them for a blocked key:
/// each of the 40 others is issued once, with its own certificate for its
/// own name, an approved request and three audit entries naming its call;
/// the 8 are refused as alone (400 `invalid_csr|key_blocked`) and leave no
/// trace; the chain holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_orders_approved_at_once_issues_each_and_refuses_only_blocked_keys() {
    let s = Arc::new(Server::start());
    let admin_id = int(&s.me(s.admin()).await["id"]);
    let blocked_key = KeyPair::generate().unwrap();
    let compromised = order_with(&s, s.admin(), &blocked_key, true).await;
    compromised.ok(201);
    let certificate = int(&s.order(compromised.id()).await["certificate"]["id"]);
    s.revoke_now(certificate, "keyCompromise").await;

    let run = unique();
    let calls: Vec<Call> = (0..48)
        .map(|k| Call {
            common_name: format!("burst{k}-{run}.example.com"),
            blocked: k % 6 == 5,
            request_id: format!("issue-{run}-{k}"),
        })
        .collect();
    let requests = calls
        .iter()
        .map(|call| {
            let csr = if call.blocked {
                csr_of(&blocked_key, &call.common_name)
            } else {
                csr(&call.common_name)
            };
            let body = json!({
                "certificate": {"common_name": call.common_name, "csr": csr},
                "skip_approval": true,
                "comments": call.request_id,
            });
            s.rb(
                Method::POST,
                "/order/certificate/ssl_basic",
                Some(s.admin()),
            )
            .header("X-Request-ID", &call.request_id)
            .json(&body)
        })
        .collect();
    let audit_before = s.audit_total().await;
    let requests_before = s.requests_total().await;
    let batches_before = batches(&s).await;
    let answers = send_together(&s, requests).await;
    let grew = batches(&s).await - batches_before;
    eprintln!("40 orders in {grew} batches");
    assert!((1.0..=48.0).contains(&grew), "batches grew by {grew}");

    // The answers, and what each placed order holds.
    let mut placed: HashMap<i64, (&Call, i64)> = HashMap::new();
    let mut certificates = HashSet::new();
    for (call, answer) in calls.iter().zip(&answers) {
        if call.blocked {
            answer
                .error(400)
                .code("invalid_csr|key_blocked")
                .message_contains("key compromise");
            continue;
        }
        answer.ok(201);
        assert_eq!(
            answer.json["requests"][0]["status"],
            "approved",
            "{}",
            answer.text()
        );
        let order = s.order(answer.id()).await;
        assert_eq!(order["status"], "issued", "{order}");
        assert_eq!(
            order["certificate"]["common_name"], call.common_name,
            "{order}"
        );
        let certificate_id = int(&answer.json["certificate_id"]);
        assert_eq!(int(&order["certificate"]["id"]), certificate_id, "{order}");
        assert!(certificates.insert(certificate_id), "a certificate twice");
        let request = s.request(answer.request_id()).await;
        assert_eq!(request["comments"], call.request_id.as_str(), "{request}");
        assert_eq!(int(&request["processor"]["id"]), admin_id, "{request}");
        assert!(placed.insert(answer.id(), (call, certificate_id)).is_none());
    }
    assert_eq!(placed.len(), 40);
    assert_eq!(s.requests_total().await - requests_before, 40);

    // Three audit entries per order, each recorded with its call's
    // X-Request-ID, and nothing else.
    assert_eq!(s.audit_total().await - audit_before, 120);
    let request_id_of = |entry: &Value| entry["request_id"].as_str().map(str::to_owned);
    let calls_of_orders: HashMap<i64, String> = placed
        .iter()
        .map(|(order, (call, _))| (*order, call.request_id.clone()))
        .collect();
    let calls_of_certificates: HashMap<i64, String> = placed
        .values()
        .map(|(call, certificate)| (*certificate, call.request_id.clone()))
        .collect();
    let mut seen = 0;
    for entry in audit_entries_of(&s, "order_created").await {
        if let Some(call) = calls_of_orders.get(&int(&entry["object"]["id"])) {
            assert_eq!(request_id_of(&entry).as_ref(), Some(call), "{entry}");
            seen += 1;
        }
    }
    for entry in audit_entries_of(&s, "certificate_issued").await {
        if let Some(call) = calls_of_certificates.get(&int(&entry["object"]["id"])) {
            assert_eq!(request_id_of(&entry).as_ref(), Some(call), "{entry}");
            seen += 1;
        }
    }
    assert_eq!(
        seen, 80,
        "an order_created and a certificate_issued entry per order"
    );

    let (ok, out) = crate::audit_chain::verify(&s);
    assert!(ok, "certd audit verify: {out}");
}
