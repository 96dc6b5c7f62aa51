//! Contract section 8, "Blocked keys", on the REST paths: a keyCompromise
//! revocation blocks the certificate's key (SHA-256 of its
//! SubjectPublicKeyInfo), revokes every other unexpired certificate with it
//! for keyCompromise within 5 s (each audited, naming the first), and
//! refuses any later order, reissue or approval for the key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{KeyPair, PublicKeyData};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::publication::Certificate;

/// Longest time a revocation may take to show in OCSP.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

/// The key's hash as certd names it: SHA-256 of its SubjectPublicKeyInfo.
fn spki_sha256(key: &KeyPair) -> String {
    hex::encode(Sha256::digest(key.subject_public_key_info()))
}

/// A reissue of `order` with `key`'s CSR.
async fn reissue_with(
    s: &Server,
    who: &str,
    order: i64,
    key: &KeyPair,
    skip_approval: bool,
) -> Resp {
    let cn = format!("r{}.example.com", unique());
    let body = json!({"certificate": {"csr": csr_of(key, &cn)}, "skip_approval": skip_approval});
    s.post(who, &format!("/order/certificate/{order}/reissue"), body)
        .await
}

/// An issued certificate with `key`: the administrator's (issued at once),
/// or `user`'s (approved by the administrator). `(order, certificate)`.
async fn issued_with(s: &Server, user: Option<&str>, key: &KeyPair) -> (i64, i64) {
    let placed = order_with(s, user.unwrap_or(s.admin()), key, user.is_none()).await;
    placed.ok(201);
    if user.is_some() {
        s.approve(placed.request_id()).await.ok(204);
    }
    let order = s.order(placed.id()).await;
    assert_eq!(order["status"], "issued", "{order}");
    (placed.id(), int(&order["certificate"]["id"]))
}

#[track_caller]
fn assert_key_compromise(details: &Value) {
    assert_eq!(details["status"], "revoked", "{details}");
    assert_eq!(details["revocation_reason"], "keyCompromise", "{details}");
}

async fn blocked_keys(s: &Server) -> Value {
    s.get(s.admin(), "/blocked-key").await.ok(200).json.clone()
}

async fn revoke_key_compromise(s: &Server, certificate: i64) -> Resp {
    let body = json!({"skip_approval": true, "revocation_reason": "keyCompromise"});
    s.revoke(s.admin(), certificate, body).await
}

#[tokio::test]
async fn key_compromise_revokes_every_certificate_with_the_key_within_five_seconds() {
    let s = Server::start();
    let user = s.user();
    let key = KeyPair::generate().unwrap();
    let (_, first) = issued_with(&s, None, &key).await;
    // Another owner's certificate for the same key, and one for another key.
    let (_, sharing) = issued_with(&s, Some(&user), &key).await;
    let (_, unrelated) = issued_with(&s, None, &KeyPair::generate().unwrap()).await;
    let relying_party = Certificate::download(&s, sharing).await;
    let ocsp = s.url("/ocsp");
    assert!(relying_party.ocsp(&ocsp).contains(": good"));
    assert_eq!(blocked_keys(&s).await["page"]["total"], 0);

    s.revoke_now(first, "keyCompromise").await;
    let answered = Instant::now();
    // Through the API: revoked in the same transaction as the first.
    assert_key_compromise(&s.cert(first).await);
    let details = s.cert(sharing).await;
    assert_key_compromise(&details);
    assert_eq!(details["date_revoked"], s.cert(first).await["date_revoked"]);
    // The owner sees it too.
    let own = s.get(&user, &format!("/certificate/{sharing}")).await;
    assert_key_compromise(&own.ok(200).json);
    // Through OCSP, as openssl sees it, within 5 s.
    loop {
        let out = relying_party.ocsp(&ocsp);
        if out.contains(": revoked") {
            assert!(out.contains("Response verify OK"), "{out}");
            assert!(out.contains("Reason: keyCompromise"), "{out}");
            break;
        }
        assert!(
            answered.elapsed() < VISIBLE_WITHIN,
            "not revoked in OCSP within 5 s: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.cert_status(unrelated).await, "issued");

    // Audited: the block, and the revocation naming the first certificate.
    let entries = s.audit_entries().await;
    let cascaded: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "certificate_revoked" && e["object"]["id"] == sharing)
        .collect();
    assert_eq!(cascaded.len(), 1, "{cascaded:?}");
    assert_eq!(cascaded[0]["object"]["type"], "certificate");
    assert_eq!(cascaded[0]["details"]["reason"], "keyCompromise");
    assert_eq!(
        cascaded[0]["details"]["key_blocked_by_certificate"], first,
        "{}",
        cascaded[0]
    );
    assert_eq!(cascaded[0]["details"]["spki_sha256"], spki_sha256(&key));
    let blocked: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "key_blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["object"]["id"], first);

    // Administrators list it; nobody else may.
    let list = blocked_keys(&s).await;
    assert_eq!(list["page"]["total"], 1, "{list}");
    let listed = &list["blocked_keys"][0];
    assert_eq!(listed["spki_sha256"], spki_sha256(&key));
    assert_eq!(listed["certificate_id"], first);
    assert_datetime(&listed["date"]);
    s.get(&user, "/blocked-key")
        .await
        .error(403)
        .code("access_denied|missing_permission");
}

#[tokio::test]
async fn a_blocked_key_is_refused_for_orders_reissues_and_approvals() {
    let s = Server::start();
    let user = s.user();
    let key = KeyPair::generate().unwrap();
    let (_, compromised) = issued_with(&s, None, &key).await;
    // Asked for before the key was blocked, and still waiting: a user's
    // order and a reissue with the key.
    let waiting_order = order_with(&s, &user, &key, false).await;
    waiting_order.ok(201);
    let (reissued, _) = s.user_order_issued(&user).await;
    let waiting_reissue = reissue_with(&s, &user, reissued, &key, false).await;
    waiting_reissue.ok(201);
    let (order, certificate) = s.user_order_issued(&user).await;
    s.revoke_now(compromised, "keyCompromise").await;

    // New orders and reissues, approved at once or not: 400, nothing recorded.
    let before = s.snapshot(&[certificate]).await;
    let order_before = s.order(order).await;
    for (who, skip) in [(s.admin(), true), (user.as_str(), false)] {
        order_with(&s, who, &key, skip)
            .await
            .error(400)
            .code("invalid_csr|key_blocked")
            .message_contains("key compromise");
        reissue_with(&s, who, order, &key, skip)
            .await
            .error(400)
            .code("invalid_csr|key_blocked");
    }
    s.assert_unchanged(&before, &[certificate]).await;
    assert_eq!(s.order(order).await, order_before);

    // What waited cannot be approved; nothing changes, it stays pending
    // until an administrator rejects it.
    for request in [waiting_order.request_id(), waiting_reissue.request_id()] {
        let before = s.snapshot(&[]).await;
        s.approve(request)
            .await
            .error(400)
            .code("invalid_csr|key_blocked")
            .message_contains("Reject");
        s.assert_unchanged(&before, &[]).await;
        assert_eq!(s.request(request).await["status"], "pending");
    }
    assert_eq!(s.order(waiting_order.id()).await["status"], "pending");
    assert_eq!(s.order(reissued).await["status"], "reissue_pending");
    s.reject(waiting_order.request_id()).await.ok(204);
    s.reject(waiting_reissue.request_id()).await.ok(204);

    // Another key is welcome.
    let fresh = KeyPair::generate().unwrap();
    reissue_with(&s, s.admin(), order, &fresh, true)
        .await
        .ok(201);
    order_with(&s, &user, &fresh, false).await.ok(201);
}

#[tokio::test]
async fn another_reason_blocks_nothing_and_an_upgrade_to_key_compromise_does() {
    let s = Server::start();
    let key = KeyPair::generate().unwrap();
    let (_, first) = issued_with(&s, None, &key).await;
    let (_, second) = issued_with(&s, None, &key).await;
    s.revoke_now(first, "superseded").await;
    assert_eq!(s.cert_status(second).await, "issued");
    assert_eq!(blocked_keys(&s).await["page"]["total"], 0);
    // Not blocked: the key may still be certified.
    let (_, third) = issued_with(&s, None, &key).await;
    let (_, fourth) = issued_with(&s, None, &key).await;
    s.revoke_now(third, "cessationOfOperation").await;
    // A revoke request for `fourth` waits while the key gets blocked.
    let waiting = s
        .revoke(
            s.admin(),
            fourth,
            json!({"revocation_reason": "superseded"}),
        )
        .await
        .ok(201)
        .id();
    let revoked_at = |details: &Value| details["date_revoked"].clone();
    let (first_at, third_at) = (
        revoked_at(&s.cert(first).await),
        revoked_at(&s.cert(third).await),
    );

    // The upgrade of the first to keyCompromise blocks the key.
    s.revoke_now(first, "keyCompromise").await;
    for certificate in [first, second, third, fourth] {
        assert_key_compromise(&s.cert(certificate).await);
    }
    // Revoked before: each keeps its time and takes the new reason.
    assert_eq!(revoked_at(&s.cert(first).await), first_at);
    assert_eq!(revoked_at(&s.cert(third).await), third_at);
    let list = blocked_keys(&s).await;
    assert_eq!(list["page"]["total"], 1, "{list}");
    assert_eq!(list["blocked_keys"][0]["certificate_id"], first);
    // The request that waited cannot lower the reason: 409, it stays
    // pending for an administrator to reject.
    s.approve(waiting)
        .await
        .error(409)
        .code("already_revoked|certificate_already_revoked");
    assert_eq!(s.request(waiting).await["status"], "pending");
    s.reject(waiting).await.ok(204);
    assert_key_compromise(&s.cert(fourth).await);
    revoke_key_compromise(&s, second)
        .await
        .error(409)
        .family("already_revoked");
    assert_eq!(blocked_keys(&s).await, list);
}

#[tokio::test]
async fn approved_requests_and_order_revocations_block_keys_too() {
    let s = Server::start();
    let user = s.user();
    let key = KeyPair::generate().unwrap();
    let (_, asked) = issued_with(&s, Some(&user), &key).await;
    let (_, sharing) = issued_with(&s, None, &key).await;
    let request = s
        .revoke(&user, asked, json!({"revocation_reason": "key_compromise"}))
        .await
        .ok(201)
        .id();
    assert_eq!(
        s.cert_status(sharing).await,
        "issued",
        "a pending request blocks nothing"
    );
    s.approve(request).await.ok(204);
    assert_key_compromise(&s.cert(asked).await);
    assert_key_compromise(&s.cert(sharing).await);

    // The whole order at once, whose two certificates (the second a
    // reissue with the same key) both block the key: the first keeps it.
    let other_key = KeyPair::generate().unwrap();
    let (order, in_order) = issued_with(&s, None, &other_key).await;
    reissue_with(&s, s.admin(), order, &other_key, true)
        .await
        .ok(201);
    let reissued = int(&s.order(order).await["certificate"]["id"]);
    let (_, elsewhere) = issued_with(&s, Some(&user), &other_key).await;
    let body = json!({"skip_approval": true, "revocation_reason": "keyCompromise"});
    s.revoke_order(s.admin(), order, body).await.ok(204);
    for certificate in [in_order, reissued, elsewhere] {
        assert_key_compromise(&s.cert(certificate).await);
    }
    let list = blocked_keys(&s).await;
    assert_eq!(list["page"]["total"], 2, "{list}");
    // Newest first.
    assert_eq!(list["blocked_keys"][0]["certificate_id"], in_order);
    assert_eq!(list["blocked_keys"][1]["certificate_id"], asked);
    let page = s.get(s.admin(), "/blocked-key?limit=1&offset=1").await;
    let page = &page.ok(200).json;
    assert_eq!(page["page"], json!({"total": 2, "limit": 1, "offset": 1}));
    assert_eq!(page["blocked_keys"][0]["certificate_id"], asked);
    s.get(s.admin(), "/blocked-key?filters[colour]=red")
        .await
        .error(400);
}

/// Two keyCompromise revocations of one key at once, and two of two keys
/// that each order holds both of (each blocks a key whose other certificate
/// is in the other's order): neither deadlocks nor fails, and every
/// certificate ends revoked for keyCompromise. The PostgreSQL run is the
/// one that matters: there the two take locks on several nodes' behalf.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_compromises_neither_deadlock_nor_fail() {
    let s = Arc::new(Server::start());
    for _ in 0..4 {
        // One key, several certificates revoked at once.
        let key = KeyPair::generate().unwrap();
        let mut certificates = Vec::new();
        for _ in 0..3 {
            certificates.push(issued_with(&s, None, &key).await.1);
        }
        let answers = futures::future::join_all(
            certificates
                .iter()
                .map(|&certificate| revoke_key_compromise(&s, certificate)),
        )
        .await;
        let mut revoked = 0;
        for answer in &answers {
            if answer.status == 204 {
                revoked += 1;
            } else {
                answer
                    .error(409)
                    .code("already_revoked|certificate_already_revoked");
            }
        }
        assert!(revoked >= 1, "one revocation goes through");
        for &certificate in &certificates {
            assert_key_compromise(&s.cert(certificate).await);
        }

        // Two orders, each with a certificate for each of two keys.
        let (one, two) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let (order_a, a_one) = issued_with(&s, None, &one).await;
        let (order_b, b_two) = issued_with(&s, None, &two).await;
        reissue_with(&s, s.admin(), order_a, &two, true)
            .await
            .ok(201);
        reissue_with(&s, s.admin(), order_b, &one, true)
            .await
            .ok(201);
        let (a_two, b_one) = (
            int(&s.order(order_a).await["certificate"]["id"]),
            int(&s.order(order_b).await["certificate"]["id"]),
        );
        let (first, second) = tokio::join!(
            revoke_key_compromise(&s, a_one),
            revoke_key_compromise(&s, b_two)
        );
        first.ok(204);
        second.ok(204);
        for certificate in [a_one, a_two, b_one, b_two] {
            assert_key_compromise(&s.cert(certificate).await);
        }
    }
}

/// An approval that would issue for a key and a keyCompromise revocation
/// of another certificate with it, at once: whichever commits first, no
/// certificate for the key is left valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_issuance_racing_a_block_leaves_no_valid_certificate() {
    let s = Arc::new(Server::start());
    let user = s.user();
    for _ in 0..4 {
        let key = KeyPair::generate().unwrap();
        let (_, compromised) = issued_with(&s, None, &key).await;
        let waiting = order_with(&s, &user, &key, false).await;
        waiting.ok(201);
        let (approval, revocation) = tokio::join!(
            s.approve(waiting.request_id()),
            revoke_key_compromise(&s, compromised)
        );
        revocation.ok(204);
        let order = s.order(waiting.id()).await;
        if approval.status == 204 {
            // Issued first, then revoked with the key.
            assert_key_compromise(&s.cert(int(&order["certificate"]["id"])).await);
        } else {
            approval.error(400).code("invalid_csr|key_blocked");
            assert_eq!(order["status"], "pending", "{order}");
        }
    }
}

/// Certificates issued before certd recorded key hashes get theirs when
/// `certd serve` starts, so that a later compromise finds them.
#[tokio::test]
async fn key_hashes_of_older_certificates_are_recorded_at_start() {
    use sqlx::Connection;
    let mut s = Server::start();
    let key = KeyPair::generate().unwrap();
    let (_, first) = issued_with(&s, None, &key).await;
    let (_, second) = issued_with(&s, None, &key).await;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    let forget = "UPDATE certificates SET spki_sha256 = NULL WHERE id IN ($1, $2)";
    sqlx::query(forget)
        .bind(first)
        .bind(second)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    s.restart();
    assert!(
        s.logs()
            .contains("recorded the public key hash of certificates issued before"),
        "{}",
        s.logs()
    );
    s.revoke_now(first, "keyCompromise").await;
    assert_key_compromise(&s.cert(second).await);
    let list = blocked_keys(&s).await;
    assert_eq!(list["blocked_keys"][0]["spki_sha256"], spki_sha256(&key));
}
