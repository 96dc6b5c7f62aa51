//! Contract 4.1 (revoke one certificate) and 4.3 (revocation reasons).

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// `date_revoked` is a timestamp; accept the contract's datetime or a plain date.
#[track_caller]
fn assert_revocation_date(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("date_revoked missing: {v}"));
    if s.len() == 10 {
        assert_date(v)
    } else {
        assert_datetime(v)
    }
}

#[track_caller]
fn assert_revoked(cert: &Value, reason: &str) {
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert_eq!(cert["revocation_reason"], reason, "{cert}");
    assert_revocation_date(&cert["date_revoked"]);
}

// ---------------------------------------------------------------------------
// 4.1 table
// ---------------------------------------------------------------------------

#[tokio::test]
async fn revoke_without_skip_returns_pending_request_object() {
    let s = Server::start();
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    let me = s.me(s.admin()).await;

    let r = s
        .revoke(
            s.admin(),
            cert,
            json!({"comments": "I no longer need this cert."}),
        )
        .await;
    assert_revoke_request_object(&r, &me, Some("I no longer need this cert."));
    assert_eq!(
        s.cert_status(cert).await,
        "issued",
        "not revoked before approval"
    );

    let d = s.request(r.id()).await;
    assert_eq!(d["id"], r.json["id"]);
    assert_eq!(d["type"], "revoke");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["requester"]["id"], me["id"]);
    assert_eq!(d["comments"], "I no longer need this cert.");
    assert_eq!(d["revocation_reason"], "unspecified", "{d}");
    assert!(
        d["processor"].is_null() && d["date_processed"].is_null(),
        "pending request has a processor: {d}"
    );
    assert_eq!(int(&d["order"]["id"]), order_id, "{d}");
    assert_eq!(int(&d["order"]["certificate"]["id"]), cert, "{d}");
}

#[tokio::test]
async fn user_revoke_without_comments_has_null_comments() {
    let s = Server::start();
    let user = s.user();
    let me = s.me(&user).await;
    let (_, c1) = s.user_order_issued(&user).await;
    let (_, c2) = s.user_order_issued(&user).await;

    let r = s.revoke(&user, c1, json!({})).await;
    assert_revoke_request_object(&r, &me, None);
    let r = s.revoke(&user, c2, json!({"skip_approval": false})).await;
    assert_revoke_request_object(&r, &me, None);
    assert_eq!(s.cert_status(c1).await, "issued");
    assert_eq!(s.cert_status(c2).await, "issued");
}

#[tokio::test]
async fn admin_skip_approval_revokes_at_once_and_keeps_approved_request() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let me = s.me(s.admin()).await;

    let r = s
        .revoke(
            s.admin(),
            cert,
            json!({"comments": "gone", "skip_approval": true}),
        )
        .await;
    r.ok(204);
    assert!(
        r.bytes.is_empty(),
        "204 must have an empty body, got {:?}",
        r.text()
    );
    assert_revoked(&s.cert(cert).await, "unspecified");

    let reqs = s.revoke_requests_for(cert).await;
    assert_eq!(reqs.len(), 1, "one revoke request kept for audit: {reqs:?}");
    let q = &reqs[0];
    assert_eq!(q["status"], "approved", "{q}");
    assert_eq!(
        q["processor"]["id"], me["id"],
        "processor is the caller: {q}"
    );
    assert_eq!(q["requester"]["id"], me["id"], "{q}");
    assert_eq!(q["comments"], "gone");
    assert_datetime(&q["date"]);
    assert_datetime(&q["date_processed"]);
}

#[tokio::test]
async fn non_admin_skip_approval_is_403_and_records_nothing() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let before = s.snapshot(&[cert]).await;

    let r = s.revoke(&user, cert, json!({"skip_approval": true})).await;
    assert_skip_approval_refused(&r);
    s.assert_unchanged(&before, &[cert]).await;
    assert!(s.revoke_requests_for(cert).await.is_empty());
}

#[tokio::test]
async fn revoke_refused_while_reissue_pending_until_canceled() {
    let s = Server::start();
    let user = s.user();
    let (order_id, cert) = s.user_order_issued(&user).await;

    let r = s.reissue(&user, order_id, false).await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "pending", "{}", r.text());
    assert_eq!(s.order(order_id).await["status"], "reissue_pending");
    let before = s.snapshot(&[cert]).await;
    assert_eq!(before.statuses[0], "reissue_pending");

    for r in s.revoke_both_ways(&user, cert).await {
        r.error(409).family("reissue_pending");
    }
    s.assert_unchanged(&before, &[cert]).await;

    s.put(
        &user,
        &format!("/order/certificate/{order_id}/status"),
        json!({"status": "canceled"}),
    )
    .await
    .ok(204);
    assert_eq!(s.order(order_id).await["status"], "issued");
    assert_eq!(s.request(r.request_id()).await["status"], "rejected");
    assert_eq!(s.cert_status(cert).await, "issued");

    let me = s.me(&user).await;
    assert_revoke_request_object(&s.revoke(&user, cert, json!({})).await, &me, None);
}

#[tokio::test]
async fn revoking_a_revoked_certificate_is_409() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), cert, json!({"skip_approval": true}))
        .await
        .ok(204);
    let before = s.snapshot(&[cert]).await;

    for r in s.revoke_both_ways(s.admin(), cert).await {
        r.error(409).family("already_revoked");
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn duplicate_pending_revoke_is_409_naming_the_pending_request() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let pending = s.revoke(&user, cert, json!({})).await;
    pending.ok(201);
    let pending_id = pending.id().to_string();
    let before = s.snapshot(&[cert]).await;

    for (key, body) in [
        (user.as_str(), json!({})),
        (s.admin(), json!({"comments": "again"})),
        (s.admin(), json!({"skip_approval": true})),
    ] {
        s.revoke(key, cert, body)
            .await
            .error(409)
            .family("duplicate_request")
            .message_contains(&pending_id);
    }
    s.assert_unchanged(&before, &[cert]).await;
    assert_eq!(s.cert_status(cert).await, "issued");
}

#[tokio::test]
async fn unknown_certificate_is_404() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let before = s.snapshot(&[cert]).await;
    for id in ["999999", &(cert + 1000).to_string()] {
        for r in s.revoke_both_ways(s.admin(), id).await {
            r.error(404).code("not_found|certificate");
        }
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn another_users_certificate_is_404_not_403() {
    let s = Server::start();
    let (a, b) = (s.user(), s.user());
    let (order_a, cert_a) = s.user_order_issued(&a).await;
    let before = s.snapshot(&[cert_a]).await;

    s.revoke(&b, cert_a, json!({}))
        .await
        .error(404)
        .code("not_found|certificate");
    s.get(&b, &format!("/certificate/{cert_a}"))
        .await
        .error(404)
        .code("not_found|certificate");
    s.revoke_order(&b, order_a, json!({}))
        .await
        .error(404)
        .code("not_found|order");
    s.assert_unchanged(&before, &[cert_a]).await;

    // The administrator sees and acts on everyone's certificates.
    s.revoke(s.admin(), cert_a, json!({})).await.ok(201);
}

// ---------------------------------------------------------------------------
// ids, wire formats
// ---------------------------------------------------------------------------

#[tokio::test]
async fn revoke_by_serial_number() {
    let s = Server::start();
    let (_, c1) = s.issue_certificate(s.admin()).await;
    let (_, c2) = s.issue_certificate(s.admin()).await;

    let serial1 = s.cert(c1).await["serial_number"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !serial1.is_empty()
            && serial1
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "serial_number is uppercase hex: {serial1}"
    );
    s.revoke(s.admin(), &serial1, json!({"skip_approval": true}))
        .await
        .ok(204);
    assert_eq!(s.cert_status(c1).await, "revoked");
    assert_eq!(s.cert_status(c2).await, "issued");

    let serial2 = s.cert(c2).await["serial_number"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let r = s.revoke(s.admin(), &serial2, json!({})).await;
    r.ok(201);
    assert_eq!(
        int(&s.request(r.id()).await["order"]["certificate"]["id"]),
        c2
    );
}

#[tokio::test]
async fn revoking_the_only_certificate_leaves_order_active_and_reissuable() {
    let s = Server::start();
    let (order_id, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), cert, json!({"skip_approval": true}))
        .await
        .ok(204);
    assert_eq!(s.cert_status(cert).await, "revoked");
    assert_eq!(
        s.order(order_id).await["status"],
        "issued",
        "order stays active"
    );

    s.reissue(s.admin(), order_id, true).await.ok(201);
    let o = s.order(order_id).await;
    assert_eq!(o["status"], "issued", "{o}");
    let new_cert = int(&o["certificate"]["id"]);
    assert_ne!(new_cert, cert, "reissue yields a new certificate");
    assert_eq!(s.cert_status(new_cert).await, "issued");
    assert_eq!(s.cert_status(cert).await, "revoked");
}

#[tokio::test]
async fn seed_curl_request_byte_for_byte() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let body = "{\n  \"comments\": \"I no longer need this cert.\",\n  \"skip_approval\": true\n}";
    let r = s
        .raw(
            Method::PUT,
            Some(s.admin()),
            &format!("/certificate/{cert}/revoke"),
            Some("application/json"),
            body,
        )
        .await;
    r.ok(204);
    assert!(r.bytes.is_empty());
    assert_eq!(s.cert_status(cert).await, "revoked");
    assert_eq!(
        s.revoke_requests_for(cert).await[0]["comments"],
        "I no longer need this cert."
    );

    // The Python example's payload (different whitespace).
    let (_, cert2) = s.issue_certificate(s.admin()).await;
    let body = "{\n  \"comments\": \"I no longer need this cert.\",\n \"skip_approval\":true\n}";
    s.raw(
        Method::PUT,
        Some(s.admin()),
        &format!("/certificate/{cert2}/revoke"),
        Some("application/json"),
        body,
    )
    .await
    .ok(204);
    assert_eq!(s.cert_status(cert2).await, "revoked");
}

#[tokio::test]
async fn lenient_bodies_are_accepted() {
    let s = Server::start();
    let me = s.me(s.admin()).await;
    let path = |c: i64| format!("/certificate/{c}/revoke");

    // Unknown fields are ignored.
    let (_, c) = s.issue_certificate(s.admin()).await;
    let r = s
        .revoke(
            s.admin(),
            c,
            json!({"comments": "x", "foo": 1, "nested": {"a": [1, 2]}, "organization": {"id": 7}}),
        )
        .await;
    assert_revoke_request_object(&r, &me, Some("x"));

    // text/plain carrying JSON.
    let (_, c) = s.issue_certificate(s.admin()).await;
    s.raw(
        Method::PUT,
        Some(s.admin()),
        &path(c),
        Some("text/plain"),
        r#"{"skip_approval": true}"#,
    )
    .await
    .ok(204);
    assert_eq!(s.cert_status(c).await, "revoked");

    // No content type at all.
    let (_, c) = s.issue_certificate(s.admin()).await;
    let r = s
        .raw(
            Method::PUT,
            Some(s.admin()),
            &path(c),
            None,
            r#"{"comments": "no ct"}"#,
        )
        .await;
    assert_revoke_request_object(&r, &me, Some("no ct"));

    // Empty body = {} (with and without a JSON content type).
    let (_, c) = s.issue_certificate(s.admin()).await;
    assert_revoke_request_object(
        &s.raw(Method::PUT, Some(s.admin()), &path(c), None, "")
            .await,
        &me,
        None,
    );
    let (_, c) = s.issue_certificate(s.admin()).await;
    let r = s
        .raw(
            Method::PUT,
            Some(s.admin()),
            &path(c),
            Some("application/json"),
            "",
        )
        .await;
    assert_revoke_request_object(&r, &me, None);
}

// ---------------------------------------------------------------------------
// 4.3 reasons
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_reason_spelling_is_accepted() {
    let s = Server::start();
    let cases = [
        ("unspecified", "unspecified"),
        ("keyCompromise", "keyCompromise"),
        ("key_compromise", "keyCompromise"),
        ("KEYCOMPROMISE", "keyCompromise"),
        ("affiliationChanged", "affiliationChanged"),
        ("affiliation_changed", "affiliationChanged"),
        ("affiliation_change", "affiliationChanged"),
        ("AFFILIATION_CHANGE", "affiliationChanged"),
        ("superseded", "superseded"),
        ("Superseded", "superseded"),
        ("cessationOfOperation", "cessationOfOperation"),
        ("cessation_of_operation", "cessationOfOperation"),
        ("privilegeWithdrawn", "privilegeWithdrawn"),
        ("privilege_withdrawn", "privilegeWithdrawn"),
    ];
    for (given, expected) in cases {
        let (_, cert) = s.issue_certificate(s.admin()).await;
        let r = s
            .revoke(
                s.admin(),
                cert,
                json!({"skip_approval": true, "revocation_reason": given}),
            )
            .await;
        assert_eq!(r.status, 204, "reason {given:?}: {}", r.text());
        let c = s.cert(cert).await;
        assert_eq!(c["revocation_reason"], expected, "reason {given:?}: {c}");
    }
}

#[tokio::test]
async fn reason_defaults_to_unspecified_and_travels_with_the_request() {
    let s = Server::start();
    let (_, c1) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), c1, json!({"skip_approval": true}))
        .await
        .ok(204);
    assert_revoked(&s.cert(c1).await, "unspecified");

    let user = s.user();
    let (_, c2) = s.user_order_issued(&user).await;
    let r = s
        .revoke(&user, c2, json!({"revocation_reason": "key_compromise"}))
        .await;
    r.ok(201);
    assert_eq!(
        s.request(r.id()).await["revocation_reason"],
        "keyCompromise"
    );
    s.approve(r.id()).await.ok(204);
    assert_revoked(&s.cert(c2).await, "keyCompromise");
}

#[tokio::test]
async fn certificate_hold_and_remove_from_crl_are_refused() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let before = s.snapshot(&[cert]).await;
    for reason in [
        "certificateHold",
        "certificate_hold",
        "CERTIFICATEHOLD",
        "removeFromCRL",
        "remove_from_crl",
        "bogus",
    ] {
        for skip in [false, true] {
            let r = s
                .revoke(
                    s.admin(),
                    cert,
                    json!({"revocation_reason": reason, "skip_approval": skip}),
                )
                .await;
            r.error(400).family("invalid_revocation_reason");
        }
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn privilege_withdrawn_needs_an_administrator() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let before = s.snapshot(&[cert]).await;
    for reason in ["privilegeWithdrawn", "privilege_withdrawn"] {
        let r = s
            .revoke(&user, cert, json!({"revocation_reason": reason}))
            .await;
        r.error(403).code("access_denied|missing_permission");
    }
    s.assert_unchanged(&before, &[cert]).await;

    // An administrator may: as a request, then approved ...
    let r = s
        .revoke(
            s.admin(),
            cert,
            json!({"revocation_reason": "privilegeWithdrawn"}),
        )
        .await;
    r.ok(201);
    assert_eq!(
        s.request(r.id()).await["revocation_reason"],
        "privilegeWithdrawn"
    );
    s.approve(r.id()).await.ok(204);
    assert_revoked(&s.cert(cert).await, "privilegeWithdrawn");

    // ... or at once.
    let (_, cert2) = s.user_order_issued(&user).await;
    s.revoke(
        s.admin(),
        cert2,
        json!({"revocation_reason": "privilegeWithdrawn", "skip_approval": true}),
    )
    .await
    .ok(204);
    assert_revoked(&s.cert(cert2).await, "privilegeWithdrawn");
}

#[tokio::test]
async fn key_compromise_upgrade_after_other_reason() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(
        s.admin(),
        cert,
        json!({"skip_approval": true, "revocation_reason": "superseded"}),
    )
    .await
    .ok(204);
    let first = s.cert(cert).await;
    assert_revoked(&first, "superseded");

    // Any second revoke that is not keyCompromise is refused.
    let before = s.snapshot(&[cert]).await;
    for body in [
        json!({"skip_approval": true, "revocation_reason": "superseded"}),
        json!({"skip_approval": true}),
        json!({"revocation_reason": "cessationOfOperation"}),
        json!({}),
    ] {
        s.revoke(s.admin(), cert, body)
            .await
            .error(409)
            .family("already_revoked");
    }
    s.assert_unchanged(&before, &[cert]).await;

    // keyCompromise is allowed: new reason, original time.
    s.revoke(
        s.admin(),
        cert,
        json!({"skip_approval": true, "revocation_reason": "keyCompromise"}),
    )
    .await
    .ok(204);
    let now = s.cert(cert).await;
    assert_revoked(&now, "keyCompromise");
    assert_eq!(
        now["date_revoked"], first["date_revoked"],
        "revocation time is kept"
    );

    // ... but only once.
    let before = s.snapshot(&[cert]).await;
    let r = s
        .revoke(
            s.admin(),
            cert,
            json!({"skip_approval": true, "revocation_reason": "keyCompromise"}),
        )
        .await;
    r.error(409).family("already_revoked");
    s.assert_unchanged(&before, &[cert]).await;

    // The upgrade also works through the approval workflow.
    let (_, cert2) = s.issue_certificate(s.admin()).await;
    s.revoke(
        s.admin(),
        cert2,
        json!({"skip_approval": true, "revocation_reason": "cessation_of_operation"}),
    )
    .await
    .ok(204);
    let first = s.cert(cert2).await;
    let r = s
        .revoke(
            s.admin(),
            cert2,
            json!({"revocation_reason": "key_compromise"}),
        )
        .await;
    r.ok(201);
    assert_eq!(
        s.cert(cert2).await["revocation_reason"],
        "cessationOfOperation",
        "unchanged until approved"
    );
    s.approve(r.id()).await.ok(204);
    let now = s.cert(cert2).await;
    assert_revoked(&now, "keyCompromise");
    assert_eq!(now["date_revoked"], first["date_revoked"]);
}
