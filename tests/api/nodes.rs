//! Contract section 7: several `certd serve` nodes on one
//! PostgreSQL database, and PostgreSQL failures. These tests always need
//! PostgreSQL (127.0.0.1:5432 or CERTD_TEST_POSTGRES_URL) and fail with a
//! clear message where it is missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;
use crate::publication::{Certificate, lists_serial};

/// Two nodes on one fresh database, sharing one data directory (the CA).
fn two_nodes() -> (Server, Server) {
    let db = Arc::new(PgDatabase::create());
    let a = Server::start_on(Some(Arc::clone(&db)), None, &[]);
    let b = Server::start_on(Some(db), Some(&a), &[]);
    (a, b)
}

#[tokio::test]
async fn order_on_one_node_revoke_request_on_the_other_approval_on_the_first() {
    let (a, b) = two_nodes();
    let user = a.user();
    let (order_id, cert_id) = a.user_order_issued(&user).await;
    assert_eq!(
        b.order(order_id).await["status"],
        "issued",
        "B sees A's order"
    );
    let cert = Certificate::download(&b, cert_id).await;
    // B answers from its cache before the revocation...
    assert!(cert.ocsp_get_on(&b).await.contains(": good"));

    let request = b
        .revoke(
            &user,
            cert_id,
            json!({"revocation_reason": "keyCompromise"}),
        )
        .await;
    let request = request.ok(201).id();
    assert_eq!(a.request(request).await["status"], "pending");
    // A duplicate on the other node is refused by the shared database.
    a.revoke(&user, cert_id, json!({}))
        .await
        .error(409)
        .family("duplicate_request");
    a.approve(request).await.ok(204);
    assert_eq!(b.cert_status(cert_id).await, "revoked");

    // ...and drops it when A's revocation reaches it.
    for node in [&a, &b] {
        let ocsp = within_deadline("OCSP", || async {
            cert.ocsp_get_on(node).await.contains(": revoked")
        })
        .await;
        let crl = within_deadline("CRL", || async {
            lists_serial(&cert.crl_text_on(node).await, &cert.serial)
        })
        .await;
        eprintln!("node {}: OCSP after {ocsp:?}, CRL after {crl:?}", node.base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_requests_approved_concurrently_from_both_nodes() {
    const REQUESTS: usize = 50;
    let (a, b) = two_nodes();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let user = a.user();
    let mut certs = Vec::new();
    let mut requests = Vec::new();
    for i in 0..REQUESTS {
        let (_, cert_id) = a.user_order_issued(&user).await;
        let node = if i % 2 == 0 { &a } else { &b };
        requests.push(node.revoke(&user, cert_id, json!({})).await.ok(201).id());
        certs.push(Certificate::download(&a, cert_id).await);
    }

    // Four approvals of every request at once, two through each node.
    let mut tasks = Vec::new();
    for &request in &requests {
        for node in [&a, &b, &a, &b] {
            let node = Arc::clone(node);
            tasks.push(tokio::spawn(async move {
                (request, node.approve(request).await)
            }));
        }
    }
    let mut wins = std::collections::HashMap::new();
    for task in tasks {
        let (request, answer) = task.await.unwrap();
        match answer.status {
            204 => *wins.entry(request).or_insert(0) += 1,
            409 => {
                answer.error(409).family("request_not_pending");
            }
            other => panic!("request {request}: {other} {}", answer.text()),
        }
    }
    let approved_at = Instant::now();
    for request in &requests {
        assert_eq!(
            wins.get(request),
            Some(&1),
            "request {request}: exactly one 204"
        );
    }

    // Every revocation in both nodes' CRLs and, for a sample, in both
    // nodes' OCSP answers, within 5 s of the approvals.
    let all_listed = |node: Arc<Server>| {
        let certs = &certs;
        async move {
            for cert in certs {
                if !cert.crl_serials_on(&node).await.contains(&cert.serial) {
                    return false;
                }
            }
            true
        }
    };
    let (in_a, in_b) = tokio::join!(
        within_deadline_from(approved_at, "CRL on A", || all_listed(Arc::clone(&a))),
        within_deadline_from(approved_at, "CRL on B", || all_listed(Arc::clone(&b))),
    );
    eprintln!("all {REQUESTS} in the CRLs of A after {in_a:?}, of B after {in_b:?}");
    for node in [&a, &b] {
        for cert in certs.iter().step_by(10) {
            within_deadline_from(approved_at, "OCSP", || async {
                cert.ocsp(&node.url("/ocsp")).contains(": revoked")
            })
            .await;
        }
    }
    for cert in &certs {
        assert_eq!(b.cert_status(cert.id).await, "revoked");
    }
}

/// Kills the test database's connections (never other databases') several
/// times while revocations and orders flow: every 2xx stays, nothing is a 500,
/// and the node recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_database_connections_lose_no_acknowledged_write() {
    let db = Arc::new(PgDatabase::create());
    let s = Arc::new(Server::start_on(
        Some(Arc::clone(&db)),
        None,
        &["--db-acquire-timeout", "2"],
    ));
    let mut certs = Vec::new();
    for _ in 0..30 {
        certs.push(s.issue_certificate(s.admin()).await.1);
    }
    let traffic = {
        let (s, certs) = (Arc::clone(&s), certs.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for cert in certs {
                let revoke = s
                    .revoke(s.admin(), cert, json!({"skip_approval": true}))
                    .await;
                let order = s
                    .place_order(s.admin(), &format!("k{}.example.com", unique()), true)
                    .await;
                outcomes.push((cert, revoke, order));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            outcomes
        })
    };
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        admin_sql(&kill);
    }
    let outcomes = traffic.await.unwrap();

    let (mut acknowledged, mut refused) = (0, 0);
    for (cert, revoke, order) in &outcomes {
        for answer in [revoke, order] {
            match answer.status {
                200..=299 => acknowledged += 1,
                503 => {
                    answer.error(503).code("service_unavailable|database");
                    refused += 1;
                }
                other => panic!("neither 2xx nor 503: {other} {}", answer.text()),
            }
        }
        if revoke.status == 204 {
            assert_eq!(
                s.cert_status(*cert).await,
                "revoked",
                "acknowledged revoke of {cert}"
            );
        }
        if order.status == 201 {
            let order_id = order.id();
            assert_eq!(
                s.order(order_id).await["status"],
                "issued",
                "acknowledged order {order_id}"
            );
        }
    }
    eprintln!("{acknowledged} acknowledged, {refused} answered 503 during 4 connection kills");
    assert!(acknowledged > 0);
    // Recovered: new work succeeds.
    s.issue_certificate(s.admin()).await;
}

/// The database refuses connections: 503 with the contract's error list, and
/// service resumes by itself once it accepts them again.
#[tokio::test]
async fn unreachable_database_is_503_and_service_recovers() {
    let db = Arc::new(PgDatabase::create());
    let s = Server::start_on(Some(Arc::clone(&db)), None, &["--db-acquire-timeout", "1"]);
    s.me(s.admin()).await;
    admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        db.name
    ));
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        db.name
    ));
    // A call that reads the database (the caller alone may be answered from
    // the server's memory of its key).
    let r = s.get(s.admin(), "/request").await;
    r.error(503).code("service_unavailable|database");
    let health = s.send(reqwest::Client::new().get(s.url("/health"))).await;
    assert_eq!(health.status, 503, "{}", health.text());

    admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name
    ));
    let started = Instant::now();
    loop {
        let r = s.get(s.admin(), "/request").await;
        if r.status == 200 {
            break;
        }
        r.error(503).code("service_unavailable|database");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        started.elapsed()
    );
}

/// The public URL belongs to the deployment: a node started without one
/// names the stored URL in what it issues and in its CRLs, and a node
/// started with another one is refused.
#[tokio::test]
async fn nodes_agree_on_the_stored_public_url() {
    let db = Arc::new(PgDatabase::create());
    let a = Server::start_on(
        Some(Arc::clone(&db)),
        None,
        &["--public-url", "http://pki.certd.test"],
    );
    let b = Server::start_on(Some(Arc::clone(&db)), Some(&a), &[]);
    let (_, cert) = b.issue_certificate(b.admin()).await;
    let urls = crate::operator::urls_in_certificate(&b, cert).await;
    assert!(urls.contains("URI:http://pki.certd.test/crl/"), "{urls}");
    assert!(urls.contains("URI:http://pki.certd.test/ocsp"), "{urls}");

    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(a.data_dir())
        .args(a.database_args())
        .args(["--public-url", "http://elsewhere.certd.test"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a node on another URL started: {said}"
    );
    assert!(said.contains("http://pki.certd.test"), "{said}");
}

/// Nodes keep API key lookups in memory on PostgreSQL: a key revoked on one
/// node, or a user disabled from the command line, must still be refused at
/// once by the node that made the change and within moments by every other.
#[tokio::test]
async fn a_key_revoked_or_a_user_disabled_anywhere_is_refused_by_every_node() {
    let (a, b) = two_nodes();
    let user = a.user();
    let me = a.me(&user).await;
    let created = a
        .post(a.admin(), &format!("/key/user/{}", me["id"]), json!({}))
        .await
        .ok(201)
        .json
        .clone();
    let second = created["api_key"].as_str().unwrap().to_string();
    // Both nodes have looked up (and kept) both keys.
    for node in [&a, &b] {
        for key in [&user, &second] {
            node.get(key, "/user/me").await.ok(200);
            node.get(key, "/user/me").await.ok(200);
        }
    }

    a.put(
        a.admin(),
        &format!("/key/{}/status", created["id"]),
        json!({"status": "revoked"}),
    )
    .await
    .ok(204);
    a.get(&second, "/user/me")
        .await
        .error(403)
        .code("access_denied|access_denied_invalid_key");
    let took = within_deadline("the other node refuses the revoked key", || async {
        b.get(&second, "/user/me").await.status == 403
    })
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    b.get(&user, "/user/me").await.ok(200);

    a.certd_local(&["user", "disable", me["email"].as_str().unwrap()])
        .ok();
    let started = Instant::now();
    for node in [&a, &b] {
        within_deadline_from(started, "a node refuses the disabled user", || async {
            node.get(&user, "/user/me").await.status == 403
        })
        .await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}
