//! The audit log is tamper-evident. `certd audit verify` recomputes
//! the hash chain and names the first entry that was edited or deleted.

use serde_json::json;

use crate::harness::*;

/// `certd audit verify` against the server's database: (success, output).
pub(crate) fn verify(s: &Server) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args([
            "audit",
            "verify",
            "--database-url",
            &s.database_url(),
            "--data",
        ])
        .arg(s.data_dir())
        .output()
        .expect("run certd audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What an attacker with write access to the database would do.
async fn tamper(s: &Server, sql: &str, id: i64) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

/// Some history: an order, a revoke request, its approval, a skip revoke.
async fn history(s: &Server) -> Vec<i64> {
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let request = s
        .revoke(&user, cert, json!({"comments": "lost"}))
        .await
        .ok(201)
        .id();
    s.approve(request).await.ok(204);
    let (_, other) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), other, json!({"skip_approval": true}))
        .await
        .ok(204);
    let mut ids: Vec<i64> = s
        .audit_entries()
        .await
        .iter()
        .map(|e| int(&e["id"]))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_intact_log_verifies_and_an_edited_entry_is_named() {
    let s = Server::start();
    let ids = history(&s).await;
    let (ok, out) = verify(&s);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("audit log intact: {} entries, head ", ids.len())),
        "{out}"
    );

    let middle = ids[ids.len() / 2];
    tamper(
        &s,
        "UPDATE audit_log SET details = '{\"reason\":\"superseded\"}' WHERE id = $1",
        middle,
    )
    .await;
    let (ok, out) = verify(&s);
    assert!(!ok, "an edited entry must fail verification: {out}");
    assert!(out.contains(&format!("broken at entry {middle}:")), "{out}");
}

#[tokio::test]
async fn a_deleted_entry_is_reported_at_the_next_one() {
    let s = Server::start();
    let ids = history(&s).await;
    let victim = ids[2];
    tamper(&s, "DELETE FROM audit_log WHERE id = $1", victim).await;
    let (ok, out) = verify(&s);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("broken at entry {}:", ids[3])),
        "{out}"
    );
}

#[tokio::test]
async fn the_chain_holds_under_concurrent_writers() {
    let s = std::sync::Arc::new(Server::start());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(
            async move { s.issue_certificate(s.admin()).await },
        ));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (ok, out) = verify(&s);
    assert!(ok, "{out}");
}
