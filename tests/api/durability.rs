//! Contract section 5: concurrency, atomicity, restart and kill -9.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::harness::*;

const N: usize = 20;

/// Runs `N` copies of `f` concurrently on the runtime; returns the status codes.
async fn concurrently<F, Fut>(s: &Arc<Server>, f: F) -> Vec<Resp>
where
    F: Fn(Arc<Server>) -> Fut,
    Fut: std::future::Future<Output = Resp> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let fut = f(s.clone());
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                fut.await
            })
        })
        .collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

fn count(rs: &[Resp], status: u16) -> usize {
    rs.iter().filter(|r| r.status == status).count()
}

fn approvals(entries: &[Value]) -> usize {
    entries
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.to_lowercase().contains("approve"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_exactly_one_wins() {
    let s = Arc::new(Server::start());
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let req = s.revoke(&user, cert, json!({})).await.ok(201).id();
    let approvals_before = approvals(&s.audit_entries().await);

    let rs = concurrently(&s, move |s| async move { s.approve(req).await }).await;
    assert_eq!(
        count(&rs, 204),
        1,
        "exactly one approval wins: {:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(count(&rs, 409), N - 1);
    for r in rs.iter().filter(|r| r.status == 409) {
        r.error(409).family("request_not_pending");
    }
    assert_eq!(s.cert_status(cert).await, "revoked");
    assert_eq!(s.request(req).await["status"], "approved");
    assert_eq!(
        approvals(&s.audit_entries().await),
        approvals_before + 1,
        "one approval in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_skip_revokes_revoke_once() {
    let s = Arc::new(Server::start());
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let audit_before = s.audit_total().await;

    let rs = concurrently(&s, move |s| async move {
        s.revoke(s.admin(), cert, json!({"skip_approval": true}))
            .await
    })
    .await;
    assert_eq!(
        count(&rs, 204),
        1,
        "{:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(count(&rs, 409), N - 1);
    assert_eq!(s.cert_status(cert).await, "revoked");
    assert_eq!(
        s.revoke_requests_for(cert).await.len(),
        1,
        "one revoke request recorded"
    );
    assert!(s.audit_total().await > audit_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_revoke_requests_create_one() {
    let s = Arc::new(Server::start());
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;

    let rs = concurrently(&s, move |s| {
        let user = user.clone();
        async move { s.revoke(&user, cert, json!({})).await }
    })
    .await;
    assert_eq!(
        count(&rs, 201),
        1,
        "{:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in rs.iter().filter(|r| r.status != 201) {
        r.error(409).family("duplicate_request");
    }
    let reqs = s.revoke_requests_for(cert).await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["status"], "pending");
    assert_eq!(s.cert_status(cert).await, "issued");
}

#[tokio::test]
async fn state_survives_restart() {
    let mut s = Server::start();
    let user = s.user();
    let (_, revoked) = s.issue_certificate(s.admin()).await;
    let (_, pending) = s.user_order_issued(&user).await;
    s.revoke(
        s.admin(),
        revoked,
        json!({"skip_approval": true, "revocation_reason": "superseded"}),
    )
    .await
    .ok(204);
    let req = s
        .revoke(&user, pending, json!({"comments": "later"}))
        .await
        .ok(201)
        .id();
    let revoked_before = s.cert(revoked).await;
    let snapshot = s.snapshot(&[revoked, pending]).await;

    s.restart();
    assert!(
        !s.last_start_printed_key,
        "the administrator key is printed on first start only"
    );

    let now = s.cert(revoked).await;
    assert_eq!(now["status"], "revoked");
    assert_eq!(now["revocation_reason"], "superseded");
    assert_eq!(now["date_revoked"], revoked_before["date_revoked"]);
    let d = s.request(req).await;
    assert_eq!(d["status"], "pending");
    assert_eq!(d["comments"], "later");
    s.assert_unchanged(&snapshot, &[revoked, pending]).await;
    // Both keys still work, and the pending request can still be approved.
    s.get(&user, "/user/me").await.ok(200);
    s.approve(req).await.ok(204);
    assert_eq!(s.cert_status(pending).await, "revoked");
}

#[tokio::test]
async fn sigkill_right_after_2xx_loses_nothing() {
    let mut s = Server::start();
    let user = s.user();

    // 204 skip-approval revoke, then kill -9.
    let (_, c1) = s.issue_certificate(s.admin()).await;
    s.revoke(
        s.admin(),
        c1,
        json!({"skip_approval": true, "revocation_reason": "keyCompromise"}),
    )
    .await
    .ok(204);
    s.kill9();
    s.restart();
    let d = s.cert(c1).await;
    assert_eq!(d["status"], "revoked", "{d}");
    assert_eq!(d["revocation_reason"], "keyCompromise");

    // 201 request, then kill -9.
    let (_, c2) = s.user_order_issued(&user).await;
    let req = s.revoke(&user, c2, json!({})).await.ok(201).id();
    s.kill9();
    s.restart();
    assert_eq!(s.request(req).await["status"], "pending");

    // 204 approval, then kill -9.
    s.approve(req).await.ok(204);
    s.kill9();
    s.restart();
    assert_eq!(s.cert_status(c2).await, "revoked");
    assert_eq!(s.request(req).await["status"], "approved");

    // 204 order revoke, then kill -9.
    let (o3, c3) = s.issue_certificate(s.admin()).await;
    s.revoke_order(s.admin(), o3, json!({"skip_approval": true}))
        .await
        .ok(204);
    s.kill9();
    s.restart();
    assert_eq!(s.cert_status(c3).await, "revoked");
    assert_eq!(s.order(o3).await["status"], "revoked");
}
