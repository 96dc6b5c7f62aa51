//! Races: two operations that exclude each other, started at the
//! same moment many times over. Each time exactly one wins, the loser gets a
//! 409 with the contract's error list, nothing is a 500, and the final state
//! is the winner's.

use std::sync::Arc;

use serde_json::json;

use crate::harness::*;

const TRIALS: usize = 8;

/// Runs both futures released at the same moment.
async fn race<A, B>(a: A, b: B) -> (Resp, Resp)
where
    A: std::future::Future<Output = Resp> + Send + 'static,
    B: std::future::Future<Output = Resp> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    let (ga, gb) = (Arc::clone(&gate), gate);
    let a = tokio::spawn(async move {
        ga.wait().await;
        a.await
    });
    let b = tokio::spawn(async move {
        gb.wait().await;
        b.await
    });
    (a.await.unwrap(), b.await.unwrap())
}

#[track_caller]
fn one_wins(a: &Resp, a_ok: u16, b: &Resp, b_ok: u16) -> bool {
    let a_won = a.status == a_ok;
    let b_won = b.status == b_ok;
    assert!(
        a_won != b_won,
        "exactly one wins: {} {} / {} {}",
        a.status,
        a.text(),
        b.status,
        b.text()
    );
    let loser = if a_won { b } else { a };
    loser.error(409);
    a_won
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_and_reject_of_one_request() {
    let s = Arc::new(Server::start());
    let user = s.user();
    for _ in 0..TRIALS {
        let (_, cert) = s.user_order_issued(&user).await;
        let request = s.revoke(&user, cert, json!({})).await.ok(201).id();
        let (sa, sb) = (Arc::clone(&s), Arc::clone(&s));
        let (approve, reject) = race(async move { sa.approve(request).await }, async move {
            sb.reject(request).await
        })
        .await;
        let approved = one_wins(&approve, 204, &reject, 204);
        let (status, cert_status) = if approved {
            ("approved", "revoked")
        } else {
            ("rejected", "issued")
        };
        assert_eq!(s.request(request).await["status"], status);
        assert_eq!(s.cert_status(cert).await, cert_status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_request_against_reissue() {
    let s = Arc::new(Server::start());
    let user = s.user();
    for _ in 0..TRIALS {
        let (order, cert) = s.user_order_issued(&user).await;
        let (sa, sb, ua, ub) = (Arc::clone(&s), Arc::clone(&s), user.clone(), user.clone());
        let (revoke, reissue) = race(
            async move { sa.revoke(&ua, cert, json!({})).await },
            async move { sb.reissue(&ub, order, false).await },
        )
        .await;
        let revoke_won = one_wins(&revoke, 201, &reissue, 201);
        let expected = if revoke_won {
            "issued"
        } else {
            "reissue_pending"
        };
        assert_eq!(s.order(order).await["status"], expected);
        let loser = if revoke_won { &reissue } else { &revoke };
        let code = loser.error(409).first_code();
        let expected = if revoke_won {
            "duplicate_request|revoke_request_pending"
        } else {
            "reissue_pending|reissue_request_pending"
        };
        assert_eq!(code, expected);
    }
}

/// These two do not exclude each other: revoking an order whose only
/// certificate is already revoked still revokes the order. The outcome must
/// be one of the two serial orders: order first (the certificate revoke is
/// then 409 already_revoked) or certificate first (both 204), and the
/// certificate is revoked exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_revoke_against_certificate_revoke() {
    let s = Arc::new(Server::start());
    for _ in 0..TRIALS {
        let (order, cert) = s.issue_certificate(s.admin()).await;
        let (sa, sb) = (Arc::clone(&s), Arc::clone(&s));
        let (whole, one) = race(
            async move {
                sa.revoke_order(sa.admin(), order, json!({"skip_approval": true}))
                    .await
            },
            async move {
                sb.revoke(sb.admin(), cert, json!({"skip_approval": true}))
                    .await
            },
        )
        .await;
        whole.ok(204);
        if one.status != 204 {
            one.error(409).family("already_revoked");
        }
        assert_eq!(s.cert_status(cert).await, "revoked");
        assert_eq!(s.order(order).await["status"], "revoked");
        let revocations = s
            .get(s.admin(), "/audit-log?filters[action]=certificate_revoked")
            .await;
        let of_cert = revocations.ok(200).json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| int(&e["object"]["id"]) == cert)
            .count();
        assert_eq!(of_cert, 1, "certificate {cert} revoked exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_revoke_requests_for_one_certificate() {
    let s = Arc::new(Server::start());
    let user = s.user();
    for _ in 0..TRIALS {
        let (_, cert) = s.user_order_issued(&user).await;
        let (sa, sb, ua, ub) = (Arc::clone(&s), Arc::clone(&s), user.clone(), user.clone());
        let (a, b) = race(
            async move { sa.revoke(&ua, cert, json!({"comments": "a"})).await },
            async move { sb.revoke(&ub, cert, json!({"comments": "b"})).await },
        )
        .await;
        one_wins(&a, 201, &b, 201);
        let loser = if a.status == 201 { &b } else { &a };
        loser.error(409).family("duplicate_request");
        assert_eq!(s.revoke_requests_for(cert).await.len(), 1);
    }
}
