//! Contract 4.4, approval settings: `certd serve --auto-approve LIST`.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn auto_approved_orders_reissues_and_revokes_need_no_administrator() {
    let s = Server::start_with(&["--auto-approve", "orders,reissues,revokes"]);
    let user = s.user();

    // Order: issued at once, request approved with no processor.
    let r = s
        .place_order(&user, &format!("a{}.example.com", unique()), false)
        .await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "approved", "{}", r.text());
    let order_id = r.id();
    let order = s.order(order_id).await;
    assert_eq!(order["status"], "issued", "{order}");
    let first_cert = int(&order["certificate"]["id"]);
    let order_request = s.request(request_id(&r)).await;
    assert_eq!(order_request["status"], "approved");
    assert!(order_request["processor"].is_null(), "{order_request}");

    // Reissue: a new certificate at once, order stays issued.
    let r = s.reissue(&user, order_id, false).await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "approved", "{}", r.text());
    let order = s.order(order_id).await;
    assert_eq!(order["status"], "issued", "{order}");
    let second_cert = int(&order["certificate"]["id"]);
    assert_ne!(second_cert, first_cert, "reissue made a new certificate");

    // Revoke: still the 201 request object, already approved, certificate revoked.
    let r = s
        .revoke(&user, second_cert, json!({"comments": "auto"}))
        .await;
    r.ok(201);
    assert_eq!(r.json["type"], "revoke", "{}", r.text());
    assert_eq!(r.json["status"], "approved", "{}", r.text());
    assert_eq!(s.cert_status(second_cert).await, "revoked");
    let revoke_request = s.request(r.id()).await;
    assert!(revoke_request["processor"].is_null(), "{revoke_request}");

    // A user still may not skip approval: auto-approval is the operator's choice.
    let r = s
        .place_order(&user, &format!("b{}.example.com", unique()), false)
        .await;
    let cert = int(&s.order(r.ok(201).id()).await["certificate"]["id"]);
    s.revoke(&user, cert, json!({"skip_approval": true}))
        .await
        .error(403)
        .code("access_denied|missing_permission");
}

#[tokio::test]
async fn auto_approval_is_per_request_type() {
    let s = Server::start_with(&["--auto-approve", "revokes"]);
    let user = s.user();
    // Orders still wait for an administrator...
    let r = s
        .place_order(&user, &format!("p{}.example.com", unique()), false)
        .await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "pending", "{}", r.text());
    s.approve(request_id(&r)).await.ok(204);
    let cert = int(&s.order(r.id()).await["certificate"]["id"]);
    // ...reissues too...
    let rr = s.reissue(&user, r.id(), false).await;
    rr.ok(201);
    assert_eq!(rr.json["requests"][0]["status"], "pending", "{}", rr.text());
    s.put(
        &user,
        &format!("/order/certificate/{}/status", r.id()),
        json!({"status": "canceled"}),
    )
    .await
    .ok(204);
    // ...but revokes go through.
    let rv = s.revoke(&user, cert, json!({})).await;
    rv.ok(201);
    assert_eq!(rv.json["status"], "approved", "{}", rv.text());
    assert_eq!(s.cert_status(cert).await, "revoked");
}

#[tokio::test]
async fn unknown_auto_approve_kind_is_refused_at_start() {
    let out = std::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auto-approve",
            "everything",
        ])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("everything"), "{stderr}");
}

fn request_id(r: &Resp) -> i64 {
    int(&r.json["requests"][0]["id"])
}
