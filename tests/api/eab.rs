//! Contract section 8, "Accounts need External Account Binding": making
//! EAB credentials over the API (`POST /services/v2/acme/eab`) and with
//! `certd acme eab create`, in both of the command line's modes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::harness::*;

/// Checks a credential's shape; returns its `(kid, hmac_key)`.
#[track_caller]
fn credential(answer: &Value, user_id: i64) -> (String, String) {
    let kid = answer["kid"].as_str().expect("kid").to_string();
    let hmac_key = answer["hmac_key"].as_str().expect("hmac_key").to_string();
    assert!(kid.starts_with("kid-") && kid.len() > 20, "{answer}");
    let key = URL_SAFE_NO_PAD
        .decode(&hmac_key)
        .unwrap_or_else(|e| panic!("hmac_key is not base64url without padding ({e}): {answer}"));
    assert_eq!(key.len(), 32, "{answer}");
    assert_eq!(answer["user_id"], user_id, "{answer}");
    assert_eq!(answer.as_object().unwrap().len(), 3, "{answer}");
    (kid, hmac_key)
}

/// The credential as stored: `(hmac_key, user_id, account_id)`.
async fn stored(s: &Server, kid: &str) -> (Option<String>, i64, Option<i64>) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    let row = sqlx::query_as(
        "SELECT hmac_key, user_id, account_id FROM acme_eab_credentials WHERE kid = $1",
    )
    .bind(kid)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    row
}

async fn create(s: &Server, key: &str, body: Value) -> Resp {
    s.post(key, "/acme/eab", body).await
}

#[tokio::test]
async fn eab_credentials_over_the_api() {
    let s = Server::start();
    let user = s.user();
    let user_id = int(&s.me(&user).await["id"]);
    let other = s.user();
    let other_id = int(&s.me(&other).await["id"]);
    let admin_id = int(&s.me(s.admin()).await["id"]);
    let mut made = Vec::new();

    // An administrator, for another user and (naming nobody) for themself.
    let r = create(&s, s.admin(), json!({"user_id": user_id})).await;
    made.push(credential(&r.ok(201).json, user_id));
    let r = create(&s, s.admin(), json!({})).await;
    made.push(credential(&r.ok(201).json, admin_id));
    // A user for themself: an empty body, `{}`, or naming themself.
    let r = s.send(s.rb(Method::POST, "/acme/eab", Some(&user))).await;
    made.push(credential(&r.ok(201).json, user_id));
    let r = create(&s, &user, json!({})).await;
    made.push(credential(&r.ok(201).json, user_id));
    let r = create(&s, &other, json!({"user_id": other_id})).await;
    made.push(credential(&r.ok(201).json, other_id));

    // Refused, nothing recorded: a user naming another, a view-only key,
    // a malformed body, an unknown user.
    let viewer = s.add_user("user", true);
    let before = s.snapshot(&[]).await;
    create(&s, &user, json!({"user_id": other_id}))
        .await
        .error(403)
        .code("access_denied|missing_permission");
    create(&s, &user, json!({"user_id": admin_id}))
        .await
        .error(403)
        .code("access_denied|missing_permission");
    create(&s, &viewer, json!({}))
        .await
        .error(403)
        .code("access_denied|view_only_key");
    create(&s, s.admin(), json!({"user_id": "me"}))
        .await
        .error(400);
    create(&s, s.admin(), json!({"user_id": 999_999}))
        .await
        .error(404)
        .code("not_found|user");
    s.assert_unchanged(&before, &[]).await;
    // A disabled user gets none.
    s.put(
        s.admin(),
        &format!("/user/{other_id}/status"),
        json!({"status": "disabled"}),
    )
    .await
    .ok(204);
    create(&s, s.admin(), json!({"user_id": other_id}))
        .await
        .error(409)
        .code("invalid_user_status|user_disabled");

    // Every credential is its own, stored unbound with its HMAC key.
    let mut kids: Vec<&String> = made.iter().map(|(kid, _)| kid).collect();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), made.len());
    for (kid, hmac_key) in &made {
        let (stored_key, _, account) = stored(&s, kid).await;
        assert_eq!(stored_key.as_deref(), Some(hmac_key.as_str()));
        assert_eq!(account, None);
    }

    // Audited with the user and the kid, never the HMAC key; never logged.
    let r = s
        .get(s.admin(), "/audit-log?filters[action]=acme_eab_created")
        .await;
    let entries = r.ok(200).json["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), made.len(), "{entries:?}");
    let audit = s.get(s.admin(), "/audit-log?limit=1000").await.text();
    let logs = s.logs();
    for (kid, hmac_key) in &made {
        let entry = entries
            .iter()
            .find(|e| e["details"]["kid"] == kid.as_str())
            .unwrap_or_else(|| panic!("no audit entry for {kid}: {entries:?}"));
        assert_eq!(entry["object"]["type"], "user");
        assert_eq!(entry["object"]["id"], entry["details"]["user_id"]);
        assert!(
            !audit.contains(hmac_key.as_str()),
            "the audit log holds an HMAC key"
        );
        assert!(
            !logs.contains(hmac_key.as_str()),
            "the server log holds an HMAC key"
        );
    }
    let for_user = entries
        .iter()
        .find(|e| e["details"]["kid"] == made[0].0.as_str())
        .unwrap();
    assert_eq!(for_user["object"]["id"], user_id);
    assert_eq!(for_user["actor"]["id"], admin_id);
}

#[tokio::test]
async fn certd_acme_eab_create_prints_the_kid_then_the_hmac_key() {
    let s = Server::start();
    let email = format!("eab{}@example.com", unique());
    let user = s.add_user_named(&email, "Eve", "Binder", "user", false);
    let user_id = int(&s.me(&user).await["id"]);
    let remote = |key: &str, args: &[&str]| {
        Run::of(
            certd_command()
                .args(args)
                .args(["--url", &s.base, "--key", key]),
        )
    };
    let two_lines = |run: &Run| -> (String, String) {
        run.ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "two lines: {:?}", run.stdout);
        let (kid, hmac_key) = (lines[0].to_string(), lines[1].to_string());
        credential(
            &json!({"kid": kid, "hmac_key": hmac_key, "user_id": user_id}),
            user_id,
        )
    };
    let mut made = Vec::new();

    // On the database, beside the running server; the email in any case.
    let upper = email.to_uppercase();
    let create = ["acme", "eab", "create", "--user", email.as_str()];
    made.push(two_lines(&s.certd_local(&create)));
    made.push(two_lines(
        &s.certd_local(&["acme", "eab", "create", "--user", &upper]),
    ));
    let json_run = s.certd_local(&[&create[..], &["--json"]].concat());
    made.push(credential(&json_run.ok().json(), user_id));
    // Through the API: an administrator's key, the user's own, by id too.
    made.push(two_lines(&remote(s.admin(), &create)));
    made.push(two_lines(&remote(&user, &create)));
    let by_id = user_id.to_string();
    let json_run = remote(
        &user,
        &["acme", "eab", "create", "--user", &by_id, "--json"],
    );
    made.push(credential(&json_run.ok().json(), user_id));
    for (kid, hmac_key) in &made {
        let (stored_key, owner, _) = stored(&s, kid).await;
        assert_eq!(stored_key.as_deref(), Some(hmac_key.as_str()));
        assert_eq!(owner, user_id);
    }

    // Refusals name the contract's code, on one line.
    let other = s.user();
    remote(&other, &create).fails_with("access_denied|missing_permission");
    s.certd_local(&["acme", "eab", "create", "--user", "nobody@example.com"])
        .fails_with("not_found|user");
}
