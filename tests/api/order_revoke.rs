//! Contract 4.2: revoke order certificates.

use serde_json::json;

use crate::harness::*;

/// Admin order with a second certificate from a reissue: (order, first cert, reissued cert).
async fn order_with_two_certificates(s: &Server) -> (i64, i64, i64) {
    let (order_id, c1) = s.issue_certificate(s.admin()).await;
    s.reissue(s.admin(), order_id, true).await.ok(201);
    let c2 = int(&s.order(order_id).await["certificate"]["id"]);
    assert_ne!(c1, c2);
    assert_eq!(
        s.cert_status(c1).await,
        "issued",
        "the old certificate stays valid after a reissue"
    );
    (order_id, c1, c2)
}

#[tokio::test]
async fn order_revoke_request_then_approval_revokes_every_certificate() {
    let s = Server::start();
    let (order_id, c1, c2) = order_with_two_certificates(&s).await;
    let me = s.me(s.admin()).await;

    let r = s
        .revoke_order(s.admin(), order_id, json!({"comments": "whole order"}))
        .await;
    assert_revoke_request_object(&r, &me, Some("whole order"));
    assert_eq!(int(&s.request(r.id()).await["order"]["id"]), order_id);
    assert_eq!(s.cert_status(c1).await, "issued");
    assert_eq!(s.cert_status(c2).await, "issued");
    assert_eq!(s.order(order_id).await["status"], "issued");

    s.approve(r.id()).await.ok(204);
    assert_eq!(s.cert_status(c1).await, "revoked");
    assert_eq!(s.cert_status(c2).await, "revoked");
    assert_eq!(s.order(order_id).await["status"], "revoked");

    // A revoked order cannot be reissued, nor revoked again.
    let before = s.snapshot(&[c1, c2]).await;
    for r in s.reissue_both_ways(s.admin(), order_id).await {
        r.error(409);
    }
    s.revoke_order(s.admin(), order_id, json!({}))
        .await
        .error(409);
    s.revoke(s.admin(), c2, json!({}))
        .await
        .error(409)
        .family("already_revoked");
    s.assert_unchanged(&before, &[c1, c2]).await;
}

#[tokio::test]
async fn order_revoke_with_admin_skip_is_204() {
    let s = Server::start();
    let (order_id, c1, c2) = order_with_two_certificates(&s).await;
    let r = s
        .revoke_order(
            s.admin(),
            order_id,
            json!({"skip_approval": true, "revocation_reason": "cessationOfOperation"}),
        )
        .await;
    r.ok(204);
    assert!(r.bytes.is_empty());
    for c in [c1, c2] {
        let d = s.cert(c).await;
        assert_eq!(d["status"], "revoked", "{d}");
        assert_eq!(d["revocation_reason"], "cessationOfOperation", "{d}");
    }
    assert_eq!(s.order(order_id).await["status"], "revoked");
    s.reissue(s.admin(), order_id, true).await.error(409);
}

#[tokio::test]
async fn user_order_revoke_needs_approval_and_cannot_skip() {
    let s = Server::start();
    let user = s.user();
    let (order_id, cert) = s.user_order_issued(&user).await;
    let before = s.snapshot(&[cert]).await;
    s.revoke_order(&user, order_id, json!({"skip_approval": true}))
        .await
        .error(403)
        .code("access_denied|missing_permission");
    s.assert_unchanged(&before, &[cert]).await;

    let me = s.me(&user).await;
    let r = s.revoke_order(&user, order_id, json!({})).await;
    assert_revoke_request_object(&r, &me, None);
    s.set_request_status(&user, r.id(), "approved")
        .await
        .error(403)
        .code("access_denied|missing_permission");
    assert_eq!(s.cert_status(cert).await, "issued");

    s.reject(r.id()).await.ok(204);
    assert_eq!(s.cert_status(cert).await, "issued");
    assert_eq!(s.order(order_id).await["status"], "issued");
    assert_eq!(s.request(r.id()).await["status"], "rejected");
}

#[tokio::test]
async fn unknown_order_is_404() {
    let s = Server::start();
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    let before = s.snapshot(&[cert]).await;
    for id in [order_id + 1000, 999999] {
        for r in s.revoke_order_both_ways(s.admin(), id).await {
            r.error(404).code("not_found|order");
        }
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn certificate_revoke_while_order_revoke_pending_is_duplicate() {
    let s = Server::start();
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    let pending = s.revoke_order(s.admin(), order_id, json!({})).await;
    pending.ok(201);
    let before = s.snapshot(&[cert]).await;
    for r in s.revoke_both_ways(s.admin(), cert).await {
        r.error(409)
            .family("duplicate_request")
            .message_contains(&pending.id().to_string());
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn order_revoke_while_reissue_pending_is_409() {
    let s = Server::start();
    let user = s.user();
    let (order_id, cert) = s.user_order_issued(&user).await;
    s.reissue(&user, order_id, false).await.ok(201);
    let before = s.snapshot(&[cert]).await;
    for r in s.revoke_order_both_ways(&user, order_id).await {
        r.error(409).family("reissue_pending");
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn reissue_while_revoke_pending_is_409() {
    let s = Server::start();
    let user = s.user();
    let (order_id, cert) = s.user_order_issued(&user).await;
    s.revoke(&user, cert, json!({})).await.ok(201);
    let before = s.snapshot(&[cert]).await;
    // The contract's code for "a revoke request is pending", whatever waits on it.
    for r in s.reissue_both_ways(&user, order_id).await {
        r.error(409)
            .code("duplicate_request|revoke_request_pending");
    }
    s.assert_unchanged(&before, &[cert]).await;
}
