//! Contract sections 1 and 2: conventions, users, keys, visibility, audit log.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn health_needs_no_key() {
    let s = Server::start();
    let r = s.send(reqwest::Client::new().get(s.url("/health"))).await;
    r.ok(200);
    assert_eq!(r.json, json!({"status": "ok"}));
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let s = Server::start();
    let r = s
        .send(
            reqwest::Client::new()
                .get(s.url("/health"))
                .header("X-Request-ID", "rid-test-42"),
        )
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("rid-test-42"));
    let r = s.send(reqwest::Client::new().get(s.url("/health"))).await;
    assert!(
        r.header("x-request-id").is_some_and(|v| !v.is_empty()),
        "generated X-Request-ID"
    );

    let r = s
        .send(
            s.rb(Method::GET, "/user/me", Some(s.admin()))
                .header("X-Request-ID", "rid-api-7"),
        )
        .await;
    r.ok(200);
    assert_eq!(r.header("x-request-id").as_deref(), Some("rid-api-7"));
    // Also on errors.
    let r = s
        .send(
            s.rb(Method::GET, "/user/me", None)
                .header("X-Request-ID", "rid-err-8"),
        )
        .await;
    r.error(403).code("access_denied|access_denied_invalid_key");
    assert_eq!(r.header("x-request-id").as_deref(), Some("rid-err-8"));
}

#[track_caller]
fn assert_user_details(me: &Value, role_word: &str) {
    assert!(me["id"].as_i64().is_some_and(|i| i > 0), "{me}");
    for f in ["first_name", "last_name", "email", "status"] {
        assert!(me[f].is_string(), "user.{f}: {me}");
    }
    let roles = me["access_roles"]
        .as_array()
        .unwrap_or_else(|| panic!("access_roles: {me}"));
    assert!(!roles.is_empty());
    let text = me["access_roles"].to_string().to_lowercase();
    assert!(
        text.contains(role_word),
        "roles {text} should name {role_word}"
    );
}

#[tokio::test]
async fn user_me_describes_the_caller() {
    let s = Server::start();
    let admin = s.me(s.admin()).await;
    assert_user_details(&admin, "admin");

    let key = s.add_user_named("jane.doe@example.com", "Jane", "Doe", "user", false);
    let me = s.me(&key).await;
    assert_user_details(&me, "user");
    assert!(
        !me["access_roles"]
            .to_string()
            .to_lowercase()
            .contains("admin"),
        "{me}"
    );
    assert_eq!(me["email"], "jane.doe@example.com");
    assert_eq!(me["first_name"], "Jane");
    assert_eq!(me["last_name"], "Doe");
    assert_ne!(me["id"], admin["id"]);

    let key2 = s.add_user_named("root2@example.com", "Ro", "Ot", "administrator", false);
    assert_user_details(&s.me(&key2).await, "admin");
    // The new administrator may skip approval.
    let (_, cert) = s.issue_certificate(&key2).await;
    s.revoke(&key2, cert, json!({"skip_approval": true}))
        .await
        .ok(204);
}

#[tokio::test]
async fn users_see_only_their_own_orders_and_certificates() {
    let s = Server::start();
    let (a, b) = (s.user(), s.user());
    let (order_a, cert_a) = s.user_order_issued(&a).await;
    let (order_b, _) = s.user_order_issued(&b).await;

    s.get(&b, &format!("/order/certificate/{order_a}"))
        .await
        .error(404)
        .code("not_found|order");
    s.get(&b, &format!("/certificate/{cert_a}"))
        .await
        .error(404)
        .code("not_found|certificate");
    s.get(
        &b,
        &format!("/certificate/{cert_a}/download/format/pem_all"),
    )
    .await
    .error(404)
    .code("not_found|certificate");
    s.reissue(&b, order_a, false)
        .await
        .error(404)
        .code("not_found|order");
    s.get(&a, &format!("/order/certificate/{order_a}"))
        .await
        .ok(200);
    s.get(&a, &format!("/certificate/{cert_a}")).await.ok(200);

    let list = s.get(&b, "/order/certificate").await;
    list.ok(200);
    let ids: Vec<i64> = list.json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| int(&o["id"]))
        .collect();
    assert_eq!(ids, vec![order_b], "user B lists only B's order");
    assert_eq!(int(&list.json["page"]["total"]), 1);
    let all = s.get(s.admin(), "/order/certificate").await;
    assert_eq!(
        int(&all.ok(200).json["page"]["total"]),
        2,
        "administrator sees all"
    );
}

#[tokio::test]
async fn audit_log_is_for_administrators() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), cert, json!({"skip_approval": true}))
        .await
        .ok(204);

    s.get(&user, "/audit-log")
        .await
        .error(403)
        .code("access_denied|missing_permission");
    let view_user = s.add_user("user", true);
    s.get(&view_user, "/audit-log")
        .await
        .error(403)
        .code("access_denied|missing_permission");

    let r = s.get(s.admin(), "/audit-log").await;
    r.ok(200);
    let entries = r.json["entries"].as_array().unwrap().clone();
    assert!(
        entries.len() >= 2,
        "order and revocation are logged: {entries:?}"
    );
    assert_eq!(int(&r.json["page"]["total"]), entries.len() as i64);
    let admin_me = s.me(s.admin()).await;
    for e in &entries {
        assert!(e["id"].is_i64(), "{e}");
        assert_datetime(&e["date"]);
        assert!(e["action"].as_str().is_some_and(|a| !a.is_empty()), "{e}");
        assert!(e["object"]["type"].is_string(), "{e}");
        assert!(e.as_object().unwrap().contains_key("request_id"), "{e}");
        assert!(e.as_object().unwrap().contains_key("details"), "{e}");
    }
    // Newest first.
    let ids: Vec<i64> = entries.iter().map(|e| int(&e["id"])).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let revoke = entries
        .iter()
        .find(|e| {
            e["action"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("revoke")
        })
        .unwrap_or_else(|| panic!("no revoke entry: {entries:?}"));
    assert_eq!(revoke["actor"]["id"], admin_me["id"]);
    assert_eq!(revoke["actor"]["email"], admin_me["email"]);

    // Paging and the action filter.
    let r = s.get(s.admin(), "/audit-log?offset=1&limit=1").await;
    r.ok(200);
    let page: Vec<i64> = r.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| int(&e["id"]))
        .collect();
    assert_eq!(page, vec![ids[1]]);
    let action = revoke["action"].as_str().unwrap();
    let r = s
        .get(s.admin(), &format!("/audit-log?filters[action]={action}"))
        .await;
    r.ok(200);
    let filtered = r.json["entries"].as_array().unwrap();
    assert!(
        !filtered.is_empty() && filtered.iter().all(|e| e["action"] == action),
        "{filtered:?}"
    );
}

#[tokio::test]
async fn audit_entries_carry_the_http_request_id() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let rb = s
        .rb(
            Method::PUT,
            &format!("/certificate/{cert}/revoke"),
            Some(s.admin()),
        )
        .header("X-Request-ID", "audit-rid-1234")
        .json(&json!({"skip_approval": true}));
    s.send(rb).await.ok(204);
    let entries = s.audit_entries().await;
    assert!(
        entries.iter().any(|e| e["request_id"] == "audit-rid-1234"),
        "an audit entry carries the X-Request-ID of the revoke: {entries:?}"
    );
}

#[tokio::test]
async fn api_keys_are_not_stored_in_clear() {
    let s = Server::start();
    let user = s.user();
    s.me(&user).await;
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), cert, json!({"skip_approval": true}))
        .await
        .ok(204);
    let mut bytes = Vec::new();
    read_tree(&s.data_dir(), &mut bytes);
    assert!(!bytes.is_empty());
    for key in [s.admin(), user.as_str()] {
        assert!(
            key.len() >= 16,
            "keys are long enough to be unguessable: {key}"
        );
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "a key is stored in clear in the data dir"
        );
    }
}
