//! Invalid input: each answer is a JSON error list and nothing changes.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

/// A server with one issued certificate: (server, cert id, its path).
async fn setup() -> (Server, i64, String) {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    (s, cert, format!("/certificate/{cert}/revoke"))
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for body in [
        "{\"comments\": ",
        "not json",
        "{\"skip_approval\": true,}",
        "{'skip_approval': true}",
        "[1, 2]",
        "\"x\"",
        "42",
    ] {
        for ct in [Some("application/json"), Some("text/plain"), None] {
            let r = s.raw(Method::PUT, Some(s.admin()), &path, ct, body).await;
            r.error(400).family("bad_request_format");
        }
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn wrong_json_types_are_400() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for body in [
        json!({"skip_approval": "yes"}),
        json!({"skip_approval": "true", "comments": "x"}),
        json!({"skip_approval": 1}),
        json!({"comments": 5}),
        json!({"comments": ["a"]}),
    ] {
        s.put(s.admin(), &path, body)
            .await
            .error(400)
            .family("bad_request_format");
    }
    s.put(s.admin(), &path, json!({"revocation_reason": 5}))
        .await
        .error(400);
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn unknown_and_forbidden_reasons_are_400() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for reason in ["notAReason", "certificateHold", "removeFromCRL"] {
        let r = s
            .put(
                s.admin(),
                &path,
                json!({"revocation_reason": reason, "skip_approval": true}),
            )
            .await;
        r.error(400).family("invalid_revocation_reason");
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn comments_over_1000_chars_are_400() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for skip in [false, true] {
        let r = s
            .put(
                s.admin(),
                &path,
                json!({"comments": "c".repeat(1001), "skip_approval": skip}),
            )
            .await;
        r.error(400);
    }
    s.assert_unchanged(&before, &[cert]).await;
    // 1000 is still fine.
    let r = s
        .put(s.admin(), &path, json!({"comments": "c".repeat(1000)}))
        .await;
    r.ok(201);
    assert_eq!(r.json["comments"].as_str().unwrap().len(), 1000);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    let body = json!({"comments": "x", "padding": "p".repeat(70 * 1024), "skip_approval": true})
        .to_string();
    assert!(body.len() > 64 * 1024);
    let r = s
        .raw(
            Method::PUT,
            Some(s.admin()),
            &path,
            Some("application/json"),
            body.clone(),
        )
        .await;
    r.error(413).family("request_too_large");
    let r = s.raw(Method::PUT, Some(s.admin()), &path, None, body).await;
    r.error(413).family("request_too_large");
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn non_numeric_and_out_of_range_ids() {
    let (s, cert, _) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for id in ["abc!", "-1", "99999999999999999999999", "1.5", "zz", "0"] {
        let r = s
            .revoke(s.admin(), id, json!({"skip_approval": true}))
            .await;
        r.error(404).code("not_found|certificate");
        s.get(s.admin(), &format!("/certificate/{id}"))
            .await
            .error(404)
            .code("not_found|certificate");
    }
    // Orders and requests: 404 or 400, never 500, always an error list.
    for id in ["abc", "-1", "99999999999999999999999", "1.5", "0"] {
        for r in [
            s.revoke_order(s.admin(), id, json!({"skip_approval": true}))
                .await,
            s.get(s.admin(), &format!("/order/certificate/{id}")).await,
            s.get(s.admin(), &format!("/request/{id}")).await,
            s.put(
                s.admin(),
                &format!("/request/{id}/status"),
                json!({"status": "approved"}),
            )
            .await,
        ] {
            assert!(
                r.status == 404 || r.status == 400,
                "id {id}: {} {}",
                r.status,
                r.text()
            );
            r.error(r.status);
        }
    }
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn unknown_ids_are_404_with_their_kind() {
    let (s, cert, _) = setup().await;
    let before = s.snapshot(&[cert]).await;
    s.get(s.admin(), "/certificate/424242")
        .await
        .error(404)
        .code("not_found|certificate");
    s.revoke(s.admin(), 424242, json!({}))
        .await
        .error(404)
        .code("not_found|certificate");
    s.get(s.admin(), "/order/certificate/424242")
        .await
        .error(404)
        .code("not_found|order");
    s.revoke_order(s.admin(), 424242, json!({}))
        .await
        .error(404)
        .code("not_found|order");
    s.reissue(s.admin(), 424242, true)
        .await
        .error(404)
        .code("not_found|order");
    s.get(s.admin(), "/request/424242")
        .await
        .error(404)
        .code("not_found|request");
    s.approve(424242).await.error(404).code("not_found|request");
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn missing_or_unknown_key_is_403() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    let body = json!({"skip_approval": true});
    for key in [
        None,
        Some("nope"),
        Some(""),
        Some("0123456789abcdef0123456789abcdef"),
    ] {
        let calls = [
            s.rb(Method::PUT, &path, key).json(&body),
            s.rb(Method::PUT, &path, key).json(&json!({})),
            s.rb(Method::GET, &format!("/certificate/{cert}"), key),
            s.rb(Method::GET, "/request", key),
            s.rb(Method::GET, "/user/me", key),
        ];
        for rb in calls {
            s.send(rb)
                .await
                .error(403)
                .code("access_denied|access_denied_invalid_key");
        }
    }
    // A key in another header, or the key with a suffix, is not accepted either.
    let r = s
        .send(
            s.rb(Method::PUT, &path, None)
                .header("Authorization", format!("Bearer {}", s.admin()))
                .json(&body),
        )
        .await;
    r.error(403).code("access_denied|access_denied_invalid_key");
    let r = s
        .send(
            s.rb(Method::PUT, &path, Some(&format!("{}x", s.admin())))
                .json(&body),
        )
        .await;
    r.error(403).code("access_denied|access_denied_invalid_key");
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn view_only_key_cannot_write() {
    let (s, cert, path) = setup().await;
    let view = s.add_user("administrator", true);
    let before = s.snapshot(&[cert]).await;
    s.put(&view, &path, json!({"skip_approval": true}))
        .await
        .error(403)
        .family("access_denied");
    s.put(&view, &path, json!({}))
        .await
        .error(403)
        .family("access_denied");
    let order = json!({"certificate": {"common_name": "v.example.com", "csr": csr("v.example.com")}, "skip_approval": true});
    s.post(&view, "/order/certificate/ssl_basic", order)
        .await
        .error(403)
        .family("access_denied");
    s.assert_unchanged(&before, &[cert]).await;

    // Reads still work.
    s.get(&view, &format!("/certificate/{cert}")).await.ok(200);
    s.get(&view, "/user/me").await.ok(200);
    s.get(&view, "/request").await.ok(200);

    // A view-only key cannot decide requests either.
    let r = s.revoke(s.admin(), cert, json!({})).await.ok(201).id();
    s.set_request_status(&view, r, "approved")
        .await
        .error(403)
        .family("access_denied");
    assert_eq!(s.request(r).await["status"], "pending");
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let (s, cert, path) = setup().await;
    let before = s.snapshot(&[cert]).await;
    for m in ["TRACE", "DELETE", "POST", "PATCH", "GET"] {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let r = s.send(s.rb(method, &path, Some(s.admin()))).await;
        r.error(405);
        let allow = r
            .header("allow")
            .unwrap_or_else(|| panic!("{m}: no Allow header"));
        assert!(allow.to_uppercase().contains("PUT"), "{m}: Allow {allow:?}");
    }
    let r = s
        .send(s.rb(
            Method::DELETE,
            &format!("/order/certificate/{cert}/revoke"),
            Some(s.admin()),
        ))
        .await;
    r.error(405);
    assert!(r.header("allow").is_some());
    s.assert_unchanged(&before, &[cert]).await;
}

#[tokio::test]
async fn unknown_route_is_a_json_error() {
    let s = Server::start();
    let r = s.get(s.admin(), "/no/such/thing").await;
    r.error(404);
}
