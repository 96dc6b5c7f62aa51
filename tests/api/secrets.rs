//! Secrets and key life: keys never appear in clear in the data
//! directory or the logs, CA keys are 0600 and never logged, and a disabled
//! user's or revoked key's calls stop within a second at most.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::harness::*;

async fn run_sql(s: &Server, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_and_key_material_stay_out_of_logs_and_storage() {
    let s = Server::start();
    let user = s.user();
    // Traffic that logs: good calls, bad calls, a wrong key that looks real.
    s.me(&user).await;
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke(&user, cert, json!({})).await;
    s.get(&format!("{}0", &user[..user.len() - 1]), "/user/me")
        .await;
    let logs = s.logs();
    assert!(!logs.is_empty());
    let mut stored = Vec::new();
    read_tree(&s.data_dir(), &mut stored);
    for key in [s.admin(), user.as_str()] {
        assert!(!logs.contains(key), "an API key is in the server log");
        assert!(
            !stored.windows(key.len()).any(|w| w == key.as_bytes()),
            "an API key is stored in clear"
        );
    }
    assert!(!logs.contains("PRIVATE KEY"), "key material in the log");
    for file in ["root.key", "intermediate.key"] {
        let mode = std::fs::metadata(s.data_dir().join("ca").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

/// Changes made behind the API's back; the API's own changes are refused
/// at once (see `user_admin` and `nodes`).
#[tokio::test]
async fn a_user_disabled_or_a_key_revoked_in_the_database_stops_within_a_second() {
    let s = Server::start();
    let user = s.user();
    let other = s.user();
    let user_id = int(&s.me(&user).await["id"]);
    s.me(&other).await;

    run_sql(
        &s,
        &format!("UPDATE users SET status = 'disabled' WHERE id = {user_id}"),
    )
    .await;
    s.assert_key_refused_soon(&user).await;

    let other_id = int(&s.me(&other).await["id"]);
    run_sql(
        &s,
        &format!("UPDATE api_keys SET status = 'revoked' WHERE user_id = {other_id}"),
    )
    .await;
    s.assert_key_refused_soon(&other).await;
    // Everyone else is unaffected.
    s.me(s.admin()).await;
}
