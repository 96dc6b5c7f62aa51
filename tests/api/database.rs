//! The database a test server runs on: SQLite in its data directory (the
//! default), or, with `CERTD_TEST_BACKEND=postgres`, a fresh PostgreSQL
//! database that the test creates and drops itself.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where PostgreSQL is (a maintenance database to create others from).
pub fn postgres_admin_url() -> String {
    std::env::var("CERTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// True when the whole suite should run on PostgreSQL.
pub fn suite_on_postgres() -> bool {
    std::env::var("CERTD_TEST_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("postgres"))
}

/// A PostgreSQL database of one test, dropped with it.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

static NEXT: AtomicU64 = AtomicU64::new(1);

impl PgDatabase {
    /// Creates `certd_test_<pid>_<n>`; panics with a clear message when
    /// PostgreSQL cannot be reached, so PostgreSQL tests never pass silently.
    pub fn create() -> PgDatabase {
        let name = format!(
            "certd_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_sql(&format!("CREATE DATABASE {name}"));
        let admin = postgres_admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Runs one statement on the maintenance database.
pub fn admin_sql(sql: &str) {
    run_sql(&postgres_admin_url(), sql);
}

fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    // The tests' own runtime may not block; a private one on a thread can.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {url} ({e}). The PostgreSQL tests need it: \
                     start it, or point CERTD_TEST_POSTGRES_URL at one."
                )
            });
            let statement = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()));
            if let Err(e) = statement.execute(&mut conn).await {
                panic!("{sql}: {e}");
            }
        });
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}
