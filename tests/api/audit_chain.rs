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

/// A burst of writes from 8 tasks at once (each write commits its own audit
/// entries): on SQLite every entry is chained as it commits; on PostgreSQL
/// the sealer chains them all within seconds, `/metrics` shows no backlog
/// left, and `certd audit verify` checks every row of the log. Entries
/// sealed once keep their place and hash when more are sealed after them;
/// entries another process commits are sealed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_concurrent_writes_is_sealed_soon_and_verifies() {
    let s = std::sync::Arc::new(Server::start());
    let user_id = int(&s.me(s.admin()).await["id"]);
    write_burst(&s, user_id, 8, 5).await;
    if !suite_on_postgres() {
        assert_eq!(
            unsealed_rows(&s).await,
            0,
            "SQLite chains entries as they commit"
        );
    }
    sealed_within(&s, SEALED_WITHIN).await;
    assert_eq!(unsealed_rows(&s).await, 0, "/metrics showed no backlog");
    assert_eq!(action_rows(&s, "key_created").await, 40);
    assert_eq!(action_rows(&s, "certificate_revoked").await, 40);
    let rows = audit_rows(&s).await;
    assert_verifies(&s, rows);
    assert_chain_is_a_sequence(&s).await;

    // More entries are chained after those, which keep their seal.
    let sealed = chain(&s).await;
    write_burst(&s, user_id, 8, 1).await;
    sealed_within(&s, SEALED_WITHIN).await;
    let after = chain(&s).await;
    assert_eq!(
        after.len() as i64,
        audit_rows(&s).await,
        "every entry is sealed"
    );
    assert_eq!(action_rows(&s, "key_created").await, 48);
    assert!(after.len() > sealed.len());
    let moved = sealed
        .iter()
        .zip(&after)
        .find(|(before, now)| before != now);
    assert!(moved.is_none(), "a sealed entry changed: {moved:?}");
    assert_verifies(&s, audit_rows(&s).await);
    assert_chain_is_a_sequence(&s).await;

    // An entry committed by another process (the command line), which
    // does not wake the server's sealer, is sealed all the same.
    s.user();
    sealed_within(&s, SEALED_WITHIN).await;
    assert_chain_is_a_sequence(&s).await;
}

/// Two nodes on one PostgreSQL database write at once; their sealers take
/// turns extending one chain: every entry ends up sealed exactly once, in
/// one gap-free sequence, and the whole log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_writing_at_once_extend_one_chain() {
    if !suite_on_postgres() {
        eprintln!(
            "two_nodes_writing_at_once_extend_one_chain: skipped on SQLite (one server per database)"
        );
        return;
    }
    let db = std::sync::Arc::new(PgDatabase::create());
    let a = std::sync::Arc::new(Server::start_on(
        Some(std::sync::Arc::clone(&db)),
        None,
        &[],
    ));
    let b = std::sync::Arc::new(Server::start_on(Some(db), Some(&*a), &[]));
    let user_id = int(&a.me(a.admin()).await["id"]);
    tokio::join!(
        write_burst(&a, user_id, 4, 5),
        write_burst(&b, user_id, 4, 5)
    );
    // Each node's `/metrics` sees the one backlog of the shared database.
    tokio::join!(
        sealed_within(&a, SEALED_WITHIN),
        sealed_within(&b, SEALED_WITHIN)
    );
    assert_eq!(action_rows(&a, "key_created").await, 40);
    assert_eq!(action_rows(&a, "certificate_revoked").await, 40);
    let rows = audit_rows(&a).await;
    let chain = chain(&a).await;
    assert_eq!(chain.len() as i64, rows, "every entry is sealed");
    assert_chain_is_a_sequence(&a).await;
    assert_verifies(&a, rows);
}

/// An attacker who edits a sealed entry and clears its seal, hoping that the
/// sealer chains the edited entry afresh, is found out all the same: the
/// entry after it in the chain no longer follows from its predecessor.
/// (An entry edited after it was sealed, seal left in place, is named by
/// `an_intact_log_verifies_and_an_edited_entry_is_named`: its first
/// `certd audit verify` seals everything before the edit.)
#[tokio::test]
async fn an_edited_entry_whose_seal_was_cleared_is_found() {
    if !suite_on_postgres() {
        eprintln!("an_edited_entry_whose_seal_was_cleared_is_found: skipped on SQLite (no sealer)");
        return;
    }
    let s = Server::start();
    let ids = history(&s).await;
    let (ok, out) = verify(&s);
    assert!(ok, "{out}");
    let chain = chain(&s).await;
    let middle = ids[ids.len() / 2];
    let at = chain.iter().position(|e| e.id == middle).unwrap();
    let next = chain[at + 1].id;
    tamper(
        &s,
        "UPDATE audit_log SET details = '{\"reason\":\"superseded\"}', chain_seq = NULL, \
         entry_hash = NULL WHERE id = $1",
        middle,
    )
    .await;
    let (ok, out) = verify(&s);
    assert!(!ok, "an edited entry must fail verification: {out}");
    assert!(out.contains(&format!("broken at entry {next}:")), "{out}");
}

/// Sealing on PostgreSQL keeps up within this after a burst.
const SEALED_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// `tasks` tasks at once, each `rounds` times: an API key for user
/// `user_id`, then a certificate issued and revoked at once (three write
/// requests, each committing one or more audit entries).
async fn write_burst(s: &std::sync::Arc<Server>, user_id: i64, tasks: usize, rounds: usize) {
    let mut running = Vec::new();
    for _ in 0..tasks {
        let s = std::sync::Arc::clone(s);
        running.push(tokio::spawn(async move {
            for _ in 0..rounds {
                s.post(s.admin(), &format!("/key/user/{user_id}"), json!({}))
                    .await
                    .ok(201);
                let (_, cert) = s.issue_certificate(s.admin()).await;
                s.revoke_now(cert, "keyCompromise").await;
            }
        }));
    }
    for task in running {
        task.await.unwrap();
    }
}

/// Polls `/metrics` until it shows no audit entry waiting to be chained,
/// at most `limit`.
async fn sealed_within(s: &Server, limit: std::time::Duration) {
    let started = std::time::Instant::now();
    loop {
        let text = s.metrics_text().await;
        let waiting = metric(&text, "certd_audit_unsealed_entries");
        let oldest = metric(&text, "certd_audit_oldest_unsealed_seconds");
        if waiting == Some(0.0) {
            assert_eq!(oldest, Some(0.0), "nothing waits: {text}");
            return;
        }
        assert!(
            started.elapsed() < limit,
            "audit entries still unsealed after {limit:?} \
             (certd_audit_unsealed_entries {waiting:?}, oldest {oldest:?} s)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The value of the unlabelled sample `name` on a `/metrics` page.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// `certd audit verify` succeeds, checking all `rows` entries, none waiting.
#[track_caller]
fn assert_verifies(s: &Server, rows: i64) {
    let (ok, out) = verify(s);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("audit log intact: {rows} entries, head ")),
        "{rows} entries in audit_log: {out}"
    );
    assert!(!out.contains("not chained yet"), "{out}");
}

/// One sealed entry: its row id, place in the chain and hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Sealed {
    id: i64,
    chain_seq: i64,
    entry_hash: String,
}

/// The sealed entries in chain order.
async fn chain(s: &Server) -> Vec<Sealed> {
    let mut conn = connect(s).await;
    sqlx::query_as(
        "SELECT id, chain_seq, entry_hash FROM audit_log WHERE chain_seq IS NOT NULL \
         ORDER BY chain_seq",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Every entry is sealed, once: the chain's places are 1, 2, ... one per
/// row of the log (on a database made by the test), each with a hash.
async fn assert_chain_is_a_sequence(s: &Server) {
    let rows = audit_rows(s).await;
    let chain = chain(s).await;
    let places: Vec<i64> = chain.iter().map(|e| e.chain_seq).collect();
    assert_eq!(
        places,
        (1..=rows).collect::<Vec<_>>(),
        "chain_seq of {rows} rows"
    );
    let mut ids: Vec<i64> = chain.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, rows);
    assert!(
        chain.iter().all(|e| e.entry_hash.len() == 64),
        "every entry has a SHA-256 hash"
    );
}

async fn audit_rows(s: &Server) -> i64 {
    count(s, "SELECT COUNT(*) FROM audit_log", None).await
}

async fn unsealed_rows(s: &Server) -> i64 {
    count(
        s,
        "SELECT COUNT(*) FROM audit_log WHERE chain_seq IS NULL OR entry_hash IS NULL",
        None,
    )
    .await
}

async fn action_rows(s: &Server, action: &str) -> i64 {
    count(
        s,
        "SELECT COUNT(*) FROM audit_log WHERE action = $1",
        Some(action),
    )
    .await
}

async fn count(s: &Server, sql: &'static str, bind: Option<&str>) -> i64 {
    let mut conn = connect(s).await;
    let mut query = sqlx::query_scalar(sql);
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    query.fetch_one(&mut conn).await.unwrap()
}

async fn connect(s: &Server) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap()
}
