//! Storage: SQL, transactions, one module per table. Queries use the SQL subset
//! and `$N` placeholders that both SQLite and PostgreSQL accept, through sqlx's
//! `Any` driver, so the service layer never knows which backend it runs on.

pub(crate) mod acme;
pub(crate) mod acme_eab;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod blocked_keys;
pub(crate) mod campaigns;
pub(crate) mod certificates;
mod checkpoint;
mod conn;
pub(crate) mod feed;
mod group_commit;
mod json_rows;
mod key_cache;
pub(crate) mod ocsp_responses;
pub(crate) mod orders;
pub(crate) mod outbox;
pub(crate) mod requests;
pub(crate) mod settings;
mod sqlite;
pub(crate) mod users;
mod wal_sync;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::Notify;

use crate::model::UnixTime;

use checkpoint::{Checkpointer, RestartDue};
pub(crate) use conn::Conn;
pub(crate) use group_commit::GroupCommitStats;
use group_commit::GroupWriter;
use key_cache::{Cached, KeyCache, KeyCacheTask};
use sqlite::{SqliteConn, SqliteReaders};
use wal_sync::WalSync;

/// A driver's error, kept for the log.
pub(crate) type DriverError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database cannot be reached (pool timeout, lost connection).
    #[error("database unavailable: {0}")]
    Unavailable(DriverError),
    /// A unique constraint refused the write: someone else got there first.
    #[error("constraint violated: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(DriverError),
    /// The COMMIT of a group of SQLite writes failed; none of them is stored.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value certd cannot read back (e.g. an unknown status string).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.into()),
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| means_unavailable(&c)) => {
                StoreError::Unavailable(error.into())
            }
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            other => StoreError::Database(other.into()),
        }
    }
}

/// PostgreSQL error codes that say "the database cannot serve you now"
/// rather than "this statement is wrong": connection exceptions (class 08),
/// insufficient resources such as too many connections (class 53), shutdowns
/// (57P01..57P03), a database not accepting connections (55000) or gone (3D000).
fn means_unavailable(code: &str) -> bool {
    ["08", "53", "57P"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "55000"
        || code == "3D000"
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Connection pool settings (`--db-max-connections`, `--db-acquire-timeout`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it answers 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// SQLite allows one writer at a time: certd's writers take turns on one
    /// connection and share COMMITs (see `group_commit`). `busy_timeout`
    /// still covers other processes (e.g. `certd user add` while serving).
    sqlite_writer: Option<GroupWriter>,
    /// SQLite's point reads run on these, in the calling task (see `sqlite`).
    sqlite_readers: Option<Arc<SqliteReaders>>,
    /// Copies the WAL back into the database beside the writer (see
    /// `checkpoint`); stops when the store is dropped.
    _sqlite_checkpointer: Option<Checkpointer>,
    /// PostgreSQL under `certd serve`: chains committed audit entries (see
    /// `audit`); stops when the store is dropped.
    audit_sealer: Option<AuditSealer>,
    /// PostgreSQL under `certd serve`: API key lookups (see `key_cache`).
    key_cache: Option<KeyCacheTask>,
}

/// A write transaction. Dropping it without `commit` rolls back.
pub(crate) struct WriteTx {
    conn: Conn,
    /// Woken when audit entries commit unsealed (PostgreSQL).
    sealer: Option<Arc<Notify>>,
    /// Emptied when keys or users change.
    key_cache: Option<Arc<KeyCache>>,
}

impl WriteTx {
    /// Returns once the changes are durable.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        let recorded = self.conn.has_audit_entries();
        let credentials_changed = self.conn.changes_credentials();
        self.conn.commit().await?;
        if recorded && let Some(sealer) = &self.sealer {
            sealer.notify_one();
        }
        if credentials_changed && let Some(cache) = &self.key_cache {
            cache.empty();
        }
        Ok(())
    }
}

/// How often the sealer looks for entries it was not told about (other
/// nodes', command-line tools'), and waits after a failed pass.
const SEAL_POLL: Duration = Duration::from_secs(1);
/// The sealer's rest after a pass: under load each pass then chains the
/// entries of many commits at once instead of a pass per commit.
const SEAL_REST: Duration = Duration::from_millis(20);

/// The task chaining PostgreSQL's audit entries after they commit: woken by
/// each commit with entries, and every [`SEAL_POLL`].
struct AuditSealer {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl AuditSealer {
    fn start(pool: AnyPool) -> AuditSealer {
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move {
            loop {
                if let Err(error) = seal_audit_entries(&pool).await {
                    tracing::warn!(%error, "could not seal new audit entries; retrying");
                }
                tokio::time::sleep(SEAL_REST).await;
                tokio::select! {
                    _ = woken.notified() => {}
                    _ = tokio::time::sleep(SEAL_POLL) => {}
                }
            }
        });
        AuditSealer { wake, task }
    }
}

impl Drop for AuditSealer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Chains every committed, unsealed audit entry, a batch per transaction;
/// returns how many.
async fn seal_audit_entries(pool: &AnyPool) -> StoreResult<u64> {
    let mut sealed = 0;
    loop {
        let mut tx = Conn::transaction(pool.begin().await?);
        let pass = audit::seal_pending(&mut tx).await?;
        tx.commit().await?;
        sealed += pass.sealed;
        if !pass.more {
            return Ok(sealed);
        }
    }
}

impl Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// The embedded database's file in the data directory.
pub(crate) const SQLITE_FILE: &str = "certd.db";

/// A pooled PostgreSQL connection idle this long is pinged before use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

/// sqlx connections kept for SQLite's bulk reads.
const BULK_CONNECTIONS: u32 = 4;

/// WAL lets readers run beside the writer. synchronous=FULL fsyncs the WAL at
/// every commit, so a 2xx survives power loss too, not only a crash of the
/// process (NORMAL would only promise the latter); the writer alone runs
/// NORMAL and has `wal_sync` do that fsync, off its turn. Group commit's savepoints
/// journal each page a member first changes; past 64 KiB SQLite spills that
/// journal to a temp file, a write() per page: temp_store keeps it in memory
/// (at most a batch's changed pages).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                              PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                              PRAGMA temp_store = MEMORY;";

impl Store {
    /// The embedded default: [`SQLITE_FILE`] in the data directory.
    pub(crate) fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join(SQLITE_FILE).display())
    }

    /// Connects and brings the schema up to date.
    pub(crate) async fn open(url: &str, settings: PoolSettings) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let mut options = AnyPoolOptions::new()
            .acquire_timeout(settings.acquire_timeout)
            .max_connections(settings.max_connections);
        if backend == Backend::Sqlite {
            // sqlx only serves SQLite's bulk reads (the publisher's, one at a
            // time) and migrations; point reads use `sqlite::SqliteReaders`.
            options = options.max_connections(settings.max_connections.min(BULK_CONNECTIONS));
        }
        if backend == Backend::Sqlite {
            // A connection to a local file does not go stale; pinging it before
            // each use would cost a round trip to its thread per request.
            options = options
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                });
        } else {
            // A ping before every use is a round trip per request, and one
            // per transaction; only a connection idle for a while is pinged
            // (a server restart or a firewall may have closed it).
            options = options
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IDLE_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                });
        }
        let pool = options.connect(url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            // sqlx takes an advisory lock around migrations, so nodes starting
            // together on one database migrate it once.
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        let (sqlite_writer, sqlite_readers, sqlite_checkpointer) = match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?;
                let path = options.get_filename();
                let restart_due = Arc::new(RestartDue::default());
                let checkpointer = Checkpointer::start(path, SQLITE_PRAGMAS, restart_due.clone())?;
                let writer = SqliteConn::open(path, SQLITE_PRAGMAS)?;
                // The writer leaves checkpoints to the checkpoint thread, and
                // the fsync of its COMMITs to the WAL thread (`wal_sync`).
                writer.batch("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = NORMAL")?;
                writer.batch(&checkpoint::wal_size_limit_pragma())?;
                let wal = WalSync::start(path)?;
                (
                    Some(GroupWriter::new(writer, wal, restart_due)),
                    Some(SqliteReaders::new(path, settings)),
                    Some(checkpointer),
                )
            }
            Backend::Postgres => (None, None, None),
        };
        Ok(Store {
            pool,
            backend,
            url: url.to_string(),
            sqlite_writer,
            sqlite_readers,
            _sqlite_checkpointer: sqlite_checkpointer,
            audit_sealer: None,
            key_cache: None,
        })
    }

    /// Starts keeping API key lookups in memory (PostgreSQL; see
    /// `key_cache`). Only a server does: it alone answers API calls.
    pub(crate) fn start_key_cache(&mut self) {
        if self.backend == Backend::Postgres && self.key_cache.is_none() {
            self.key_cache = Some(KeyCache::start(self.url.clone()));
        }
    }

    /// The owner of an active key with this hash, from memory when known.
    pub(crate) async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<users::KeyOwner>> {
        let cache = self.key_cache.as_ref().map(|task| &task.cache);
        let generation = match cache.map(|cache| cache.get(key_hash)) {
            Some(Cached::Owner(owner)) => return Ok(Some(owner)),
            Some(Cached::Unknown(generation)) => Some(generation),
            None => None,
        };
        let mut conn = self.read().await?;
        let owner = users::find_by_key_hash(&mut conn, key_hash).await?;
        if let (Some(cache), Some(generation), Some(owner)) = (cache, generation, &owner) {
            cache.offer(key_hash, owner, generation);
        }
        Ok(owner)
    }

    /// Notes in memory that a key's use was recorded at `at`.
    pub(crate) fn key_used(&self, key_hash: &str, at: UnixTime) {
        if let Some(task) = &self.key_cache {
            task.cache.used(key_hash, at);
        }
    }

    /// Starts chaining audit entries as they commit (PostgreSQL; SQLite
    /// chains them in the committing transaction). Only a server does: a
    /// command-line tool exits before its sealer could finish a pass, and
    /// leaves its entries to the servers' sealers or to `audit verify`.
    pub(crate) fn start_audit_sealer(&mut self) {
        if self.backend == Backend::Postgres && self.audit_sealer.is_none() {
            self.audit_sealer = Some(AuditSealer::start(self.pool.clone()));
        }
    }

    /// SQLite's group commit counts (`None` on PostgreSQL).
    pub(crate) fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        self.sqlite_writer.as_ref().map(GroupWriter::stats)
    }

    /// A connection for reads outside any transaction. On SQLite its
    /// statements run in the calling task: use it for reads of a few rows.
    pub(crate) async fn read(&self) -> StoreResult<Conn> {
        match &self.sqlite_readers {
            Some(readers) => Ok(Conn::sqlite_reader(readers.take().await?)),
            None => self.read_bulk().await,
        }
    }

    /// A connection for reads of many rows (a CRL shard, the whole audit
    /// log), whose statements run on sqlx's threads.
    pub(crate) async fn read_bulk(&self) -> StoreResult<Conn> {
        Ok(Conn::pooled(self.pool.acquire().await?))
    }

    /// Starts a write transaction. On SQLite it holds the write lock from
    /// BEGIN (IMMEDIATE) to commit, so checks made inside the transaction stay
    /// true until commit.
    pub(crate) async fn write(&self) -> StoreResult<WriteTx> {
        let conn = match &self.sqlite_writer {
            Some(writer) => Conn::writer(writer.begin().await?),
            None => Conn::transaction(self.pool.begin().await?),
        };
        Ok(WriteTx {
            conn,
            sealer: self.audit_sealer.as_ref().map(|s| Arc::clone(&s.wake)),
            key_cache: self.key_cache.as_ref().map(|k| Arc::clone(&k.cache)),
        })
    }

    /// Returns once every write committed so far is durable. On SQLite a
    /// COMMIT is visible up to one fsync before that (see `wal_sync`): call
    /// this after a read whose result certd signs or sends out.
    pub(crate) async fn wait_durable(&self) -> StoreResult<()> {
        match &self.sqlite_writer {
            Some(writer) => writer.wait_durable().await,
            // PostgreSQL shows a commit once it is flushed.
            None => Ok(()),
        }
    }

    /// Recomputes the audit log's hash chain (see `audit`), after sealing
    /// what is waiting to be.
    pub(crate) async fn verify_audit_chain(&self) -> StoreResult<audit::ChainReport> {
        self.seal_audit_entries().await?;
        let mut conn = self.read_bulk().await?;
        audit::verify_chain(&mut conn).await
    }

    /// Chains the audit entries waiting for it now, rather than when the
    /// sealer next runs (a no-op on SQLite, which chains them as they
    /// commit).
    pub(crate) async fn seal_audit_entries(&self) -> StoreResult<u64> {
        match self.backend {
            Backend::Postgres => seal_audit_entries(&self.pool).await,
            Backend::Sqlite => Ok(0),
        }
    }

    /// How many audit entries wait to be chained, and the `created_at` of
    /// the oldest (for `/metrics`).
    pub(crate) async fn unsealed_audit_entries(&self) -> StoreResult<(i64, Option<UnixTime>)> {
        if self.backend == Backend::Sqlite {
            // Chained as they commit: none ever waits.
            return Ok((0, None));
        }
        // Scraped every few seconds for months: never a scan of the log.
        let mut tx = Conn::transaction(self.pool.begin().await?);
        tx.plan_with_indexes_only().await?;
        let unsealed = audit::unsealed(&mut tx).await?;
        tx.commit().await?;
        Ok(unsealed)
    }

    pub(crate) async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The rows of `sql`, whose `{ids}` becomes "`column` is one of `ids`".
async fn fetch_by_ids<O>(
    conn: &mut Conn,
    sql: &str,
    column: &str,
    ids: &[i64],
) -> StoreResult<Vec<O>>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let condition = json_rows::is_one_of(conn, column, 1, json_rows::SqlType::Int);
    let sql = sql.replace("{ids}", &condition);
    let ids = json_rows::param(ids.iter().map(|id| serde_json::json!(id)));
    conn.fetch_all(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ids))
        .await
}

/// Parses a stored enum string, reporting unknown values as corruption.
fn parse_stored<T>(value: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown stored value {value:?}")))
}

/// DNS name lists are stored as JSON arrays.
fn names_to_json(names: &[String]) -> String {
    serde_json::Value::from(names.to_vec()).to_string()
}

fn names_from_json(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("dns_names: {e}")))
}

fn bool_to_int(value: bool) -> i64 {
    i64::from(value)
}

/// A value bound to a `$N` placeholder of a query assembled at run time.
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

impl Bind {
    fn bind_to_as<'q, O>(
        &self,
        query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments> {
        match self {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.clone()),
        }
    }
}

/// Assembles `WHERE` clauses with numbered placeholders, which sqlx's own
/// `QueryBuilder` cannot do portably through the `Any` driver.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Adds a clause whose single `{}` is replaced by the next placeholder.
    fn push(&mut self, clause_with_placeholder: &str, value: Bind) {
        self.binds.push(value);
        let placeholder = format!("${}", self.binds.len());
        self.clauses
            .push(clause_with_placeholder.replace("{}", &placeholder));
    }

    /// The placeholder of one more value, for a clause written by hand.
    fn placeholder(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// A clause whose placeholders came from [`Conditions::placeholder`].
    fn push_clause(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// "`column` is one of `values`" (a JSON array of ids or texts).
    fn push_one_of(&mut self, conn: &Conn, column: &str, kind: json_rows::SqlType, values: String) {
        self.binds.push(Bind::Text(values));
        let clause = json_rows::is_one_of(conn, column, self.binds.len(), kind);
        self.clauses.push(clause);
    }

    /// The clauses joined with AND ("TRUE" when there are none).
    fn and_sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// A query whose placeholders are all this list's.
    fn query_as<'q, O>(
        &self,
        sql: String,
    ) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        self.bind_all(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
    }

    fn query_scalar<'q, O>(
        &self,
        sql: String,
    ) -> sqlx::query::QueryScalar<'q, Any, O, sqlx::any::AnyArguments>
    where
        (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        self.bind_all_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)))
    }

    /// A statement whose placeholders are all this list's.
    fn query<'q>(&self, sql: String) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The placeholder numbers for LIMIT and OFFSET, after the conditions.
    fn page_sql(&self) -> String {
        format!(
            " LIMIT ${} OFFSET ${}",
            self.binds.len() + 1,
            self.binds.len() + 2
        )
    }

    /// One page of `SELECT columns FROM from [WHERE ...] ORDER BY order_by`,
    /// and how many rows match in all. (Left joins in `from` that the
    /// conditions do not use cost the count nothing: both databases drop a
    /// left join on a unique key whose columns are not read.)
    async fn fetch_page<O>(
        &self,
        conn: &mut Conn,
        columns: &str,
        from: &str,
        order_by: &str,
        page: crate::model::Page,
    ) -> StoreResult<(Vec<O>, i64)>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let count_sql = format!("SELECT COUNT(*) FROM {from}{}", self.where_sql());
        let total: i64 = conn
            .scalar_one(self.bind_all_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))))
            .await?;
        let sql = format!(
            "SELECT {columns} FROM {from}{} ORDER BY {order_by}{}",
            self.where_sql(),
            self.page_sql()
        );
        let rows = conn
            .fetch_all(
                self.bind_all(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
                    .bind(page.limit)
                    .bind(page.offset),
            )
            .await?;
        Ok((rows, total))
    }

    fn bind_all<'q, O>(
        &self,
        mut query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments> {
        for bind in &self.binds {
            query = bind.bind_to_as(query);
        }
        query
    }

    fn bind_all_scalar<'q, O>(
        &self,
        mut query: sqlx::query::QueryScalar<'q, Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryScalar<'q, Any, O, sqlx::any::AnyArguments> {
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}

/// A store on a fresh temporary directory, for the store's unit tests.
#[cfg(test)]
pub(crate) async fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Store::sqlite_url(dir.path()), PoolSettings::default())
        .await
        .unwrap();
    (dir, store)
}

/// [`fresh_store`] with one statement committed (a scratch table, say).
#[cfg(test)]
pub(crate) async fn test_store(setup_sql: &'static str) -> (tempfile::TempDir, Store) {
    let (dir, store) = fresh_store().await;
    let mut tx = store.write().await.unwrap();
    tx.execute(sqlx::query(setup_sql)).await.unwrap();
    tx.commit().await.unwrap();
    (dir, store)
}

/// Writes user 1 and its issued order 1, which rows the store's unit tests
/// hang theirs on (foreign keys).
#[cfg(test)]
pub(crate) async fn seed_user_and_order(conn: &mut Conn) {
    conn.execute(sqlx::query(
        "INSERT INTO users (id, first_name, last_name, email, role, created_at) \
         VALUES (1, 'a', 'b', 'a@example.com', 'user', 0)",
    ))
    .await
    .unwrap();
    conn.execute(sqlx::query(
        "INSERT INTO orders (id, user_id, product, status, common_name, dns_names, csr, \
         signature_hash, validity_days, created_at) \
         VALUES (1, 1, 'ssl_basic', 'issued', 'a.example.com', '[]', '', 'sha256', 365, 0)",
    ))
    .await
    .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_use_wal_and_full_sync() {
        let (_dir, store) = fresh_store().await;
        let mut conn = store.read().await.unwrap();
        let mode: String = conn
            .scalar_one(sqlx::query_scalar("PRAGMA journal_mode"))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .scalar_one(sqlx::query_scalar("PRAGMA synchronous"))
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous must be FULL");
    }

    #[tokio::test]
    async fn one_pending_request_per_order_is_enforced_by_the_schema() {
        let (_dir, store) = fresh_store().await;
        let mut tx = store.write().await.unwrap();
        seed_user_and_order(&mut tx).await;
        let pending = "INSERT INTO requests (type, status, order_id, requester_id, created_at) \
                       VALUES ('revoke', 'pending', 1, 1, 0)";
        tx.execute(sqlx::query(pending)).await.unwrap();
        let second = tx.execute(sqlx::query(pending)).await;
        assert!(matches!(second, Err(StoreError::Conflict(_))));
    }
}
