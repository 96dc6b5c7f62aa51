//! The HTTP API for administering users and API keys: CertCentral's list
//! users, user details, create key and key status; certd's key list and
//! user status. Administrators only.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn users_are_listed_and_shown_to_administrators_only() {
    let s = Server::start();
    let email = format!("l{}@example.com", unique());
    let key = s.add_user_named(&email, "Lou", "Reed", "user", false);
    let me = s.me(&key).await;

    let r = s.get(s.admin(), "/user").await;
    let users = r.ok(200).json["users"].as_array().unwrap().clone();
    assert_eq!(int(&r.json["page"]["total"]), 2);
    assert_eq!(users[0]["email"], "admin@certd.localhost");
    assert_eq!(users[0]["access_roles"][0]["id"], 1);
    assert_eq!(users[1]["email"], email.as_str());
    assert_eq!(users[1]["status"], "active");

    let r = s.get(s.admin(), &format!("/user/{}", me["id"])).await;
    assert_eq!(r.ok(200).json, me);
    // A user sees themselves, nobody else, and cannot tell who exists.
    s.get(&key, &format!("/user/{}", me["id"])).await.ok(200);
    for path in ["/user", "/user/1", "/user/999999", "/key"] {
        let r = s.get(&key, path).await;
        r.error(403).code("access_denied|missing_permission");
    }
    s.get(s.admin(), "/user/999999")
        .await
        .error(404)
        .code("not_found|user");
    s.get(s.admin(), "/user/abc")
        .await
        .error(404)
        .code("not_found|user");
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_by_administrators() {
    let s = Server::start();
    let key = s.user();
    let user_id = s.me(&key).await["id"].clone();

    let r = s
        .post(
            s.admin(),
            &format!("/key/user/{user_id}"),
            json!({"name": "ci"}),
        )
        .await;
    let created = r.ok(201).json.clone();
    let new_key = created["api_key"].as_str().unwrap().to_string();
    assert_eq!(s.me(&new_key).await["id"], user_id);

    let r = s
        .post(
            s.admin(),
            &format!("/key/user/{user_id}"),
            json!({"restricted_to_role_id": 102}),
        )
        .await;
    let view_only = r.ok(201).json["api_key"].as_str().unwrap().to_string();
    let r = s.revoke(&view_only, 1, json!({})).await;
    r.error(403).code("access_denied|view_only_key");
    let r = s
        .post(
            s.admin(),
            &format!("/key/user/{user_id}"),
            json!({"restricted_to_role_id": 7}),
        )
        .await;
    r.error(400)
        .code("invalid_restriction|restricted_to_role_id");
    let r = s.post(s.admin(), "/key/user/999999", json!({})).await;
    r.error(404).code("not_found|user");

    let r = s
        .get(s.admin(), &format!("/key?filters[user_id]={user_id}"))
        .await;
    let keys = r.ok(200).json["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 3, "user add's key and the two new ones");
    assert_eq!(keys[1]["id"], created["id"]);
    assert_eq!(keys[1]["restricted_to_role_id"], 0);
    assert_eq!(keys[2]["restricted_to_role_id"], 102);
    assert!(
        !r.text().contains(&new_key) && !r.text().contains("hash"),
        "{}",
        r.text()
    );
    s.get(s.admin(), "/key?filters[owner]=1")
        .await
        .error(400)
        .code("invalid_filter|unknown_filter");

    let status = format!("/key/{}/status", created["id"]);
    let r = s.put(s.admin(), &status, json!({"status": "active"})).await;
    r.error(400).code("invalid_status|status");
    s.put(s.admin(), &status, json!({"status": "revoked"}))
        .await
        .ok(204);
    let r = s.get(&new_key, "/user/me").await;
    r.error(403).code("access_denied|access_denied_invalid_key");
    let r = s
        .put(s.admin(), &status, json!({"status": "revoked"}))
        .await;
    r.error(409).code("already_revoked|key_already_revoked");
    let r = s
        .put(
            s.admin(),
            "/key/999999/status",
            json!({"status": "revoked"}),
        )
        .await;
    r.error(404).code("not_found|key");

    let actions: Vec<String> = s.audit_entries().await[..4]
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["key_revoked", "key_created", "key_created", "user_created"]
    );
}

#[tokio::test]
async fn only_full_administrator_keys_manage_keys_and_users() {
    let s = Server::start();
    let user = s.user();
    let other_admin_view_only = s.add_user("administrator", true);
    let target = s.user();
    let target_id = s.me(&target).await["id"].clone();
    let target_keys = s
        .get(s.admin(), &format!("/key?filters[user_id]={target_id}"))
        .await;
    let key_id = int(&target_keys.ok(200).json["keys"][0]["id"]);
    let before = s.audit_total().await;
    for (who, key, code) in [
        ("user", &user, "access_denied|missing_permission"),
        (
            "view-only administrator",
            &other_admin_view_only,
            "access_denied|view_only_key",
        ),
    ] {
        let calls = [
            (Method::POST, format!("/key/user/{target_id}"), json!({})),
            (
                Method::PUT,
                format!("/key/{key_id}/status"),
                json!({"status": "revoked"}),
            ),
            (
                Method::PUT,
                format!("/user/{target_id}/status"),
                json!({"status": "disabled"}),
            ),
        ];
        for (method, path, body) in calls {
            let r = s
                .send(s.rb(method.clone(), &path, Some(key)).json(&body))
                .await;
            r.check(
                Expect::RefusedWith(403, code),
                &format!("{who} {method} {path}"),
            );
        }
    }
    // A view-only administrator key may still read.
    s.get(&other_admin_view_only, "/user").await.ok(200);
    assert_eq!(
        s.audit_total().await,
        before,
        "refused calls change nothing"
    );
    s.get(&target, "/user/me").await.ok(200);
}

#[tokio::test]
async fn administrators_cannot_lock_certd_out() {
    let s = Server::start();
    let admin_id = s.me(s.admin()).await["id"].clone();
    let admin_key_id = int(&s.get(s.admin(), "/key").await.ok(200).json["keys"][0]["id"]);

    let r = s
        .put(
            s.admin(),
            &format!("/user/{admin_id}/status"),
            json!({"status": "disabled"}),
        )
        .await;
    r.error(409).code("invalid_user_status|cannot_disable_self");
    let r = s
        .put(
            s.admin(),
            &format!("/key/{admin_key_id}/status"),
            json!({"status": "revoked"}),
        )
        .await;
    r.error(409).code("last_admin_key|would_lock_out");

    // With a second administrator key the first may go; then the second is the last.
    let second = s.add_user("administrator", false);
    let second_id = s.me(&second).await["id"].clone();
    s.put(
        &second,
        &format!("/key/{admin_key_id}/status"),
        json!({"status": "revoked"}),
    )
    .await
    .ok(204);
    let r = set_user_status(&s, &second, &admin_id, "disabled").await;
    r.ok(204);
    let r = set_user_status(&s, &second, &second_id, "disabled").await;
    r.error(409).code("invalid_user_status|cannot_disable_self");
    let r = set_user_status(&s, &second, &admin_id, "paused").await;
    r.error(400).code("invalid_status|status");
    set_user_status(&s, &second, &admin_id, "active")
        .await
        .ok(204);
    let r = set_user_status(&s, &second, &admin_id, "active").await;
    r.error(409).code("invalid_user_status|unchanged");
}

/// `PUT /user/{id}/status` with the given status, as `key`.
async fn set_user_status(s: &Server, key: &str, user_id: &Value, status: &str) -> Resp {
    s.put(
        key,
        &format!("/user/{user_id}/status"),
        json!({"status": status}),
    )
    .await
}
