//! SQLite connections driven synchronously with rusqlite: the writer's, and
//! a pool of readers.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and wakes
//! the caller when it is done. On two cores that round trip costs 50–60 µs
//! (two thread wake-ups across CPUs), ten times the statement itself, and the
//! writer's statements cannot overlap: a revocation's eight statements made
//! the single writer the bottleneck at about 2,000 revocations/s. certd
//! therefore runs point reads and the writer's statements in the calling
//! task, each in microseconds; the WAL's fsync goes to a thread of its own
//! (see `wal_sync`), and reads of thousands of rows go through sqlx
//! (`Store::read_bulk`).
//!
//! The store's queries stay written once, as sqlx queries: this module takes
//! their SQL and arguments, runs them here, and hands back sqlx `AnyRow`s, so
//! every table's `FromRow` serves both paths. Building `AnyRow`s uses sqlx's
//! driver-facing fields, which sqlx exempts from semver; Cargo.toml pins sqlx
//! to one release for that reason.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sqlx::any::{AnyArguments, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

use super::{PoolSettings, StoreError, StoreResult};

/// Statements kept prepared; the store has fewer distinct ones than this.
const STATEMENT_CACHE: usize = 128;

/// Readers only read: a stray write through one fails instead of bypassing
/// the group commit.
const READER_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;";

/// Reader connections: at most `max_connections` in use at once (callers
/// wait up to `acquire_timeout` for one, like sqlx's pool), opened on demand
/// and kept for reuse once returned.
pub(super) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<SqliteConn>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl SqliteReaders {
    pub(super) fn new(path: &Path, settings: PoolSettings) -> Arc<SqliteReaders> {
        Arc::new(SqliteReaders {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(settings.max_connections as usize)),
            acquire_timeout: settings.acquire_timeout,
        })
    }

    pub(super) async fn take(self: &Arc<Self>) -> StoreResult<PooledReader> {
        let permit = tokio::time::timeout(
            self.acquire_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::Unavailable("timed out waiting for a reader connection".into()))?
        .map_err(|_| StoreError::Unavailable("the reader pool is closed".into()))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => SqliteConn::open(&self.path, READER_PRAGMAS)?,
        };
        Ok(PooledReader {
            conn: Some(conn),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }
}

/// A reader connection, back in the pool when dropped.
pub(super) struct PooledReader {
    conn: Option<SqliteConn>,
    pool: Arc<SqliteReaders>,
    _permit: OwnedSemaphorePermit,
}

impl PooledReader {
    pub(super) fn conn(&self) -> &SqliteConn {
        self.conn
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for PooledReader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(conn);
        }
    }
}

pub(super) struct SqliteConn {
    conn: Connection,
    /// Each statement's column names, worked out once like the statement.
    columns: RefCell<HashMap<String, Arc<Columns>>>,
}

impl SqliteConn {
    pub(super) fn open(path: &Path, pragmas: &str) -> StoreResult<SqliteConn> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(store_error)?;
        conn.execute_batch(pragmas).map_err(store_error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteConn {
            conn,
            columns: RefCell::default(),
        })
    }

    /// Runs statements without arguments or results (BEGIN, SAVEPOINT...).
    pub(super) fn batch(&self, sql: &str) -> StoreResult<()> {
        self.conn.execute_batch(sql).map_err(store_error)
    }

    /// A PASSIVE checkpoint: copies what it can of the WAL into the database
    /// file, waiting for nobody (see `checkpoint`). Returns the frames (pages)
    /// the WAL holds.
    pub(super) fn checkpoint(&self) -> StoreResult<u64> {
        let (busy, frames) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(store_error)?;
        if busy != 0 {
            return Err(StoreError::Unavailable(
                "the WAL checkpoint was blocked".into(),
            ));
        }
        // -1: the database is not in WAL mode (nothing to copy).
        Ok(u64::try_from(frames).unwrap_or(0))
    }

    /// Runs one statement and returns up to `limit` of its rows.
    pub(super) fn rows(
        &self,
        sql: &str,
        arguments: Option<AnyArguments>,
        limit: usize,
    ) -> StoreResult<Vec<AnyRow>> {
        let mut statement = self.prepared(sql, arguments)?;
        let columns = self.columns(sql, &statement);
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows.next().map_err(store_error)? else {
                break;
            };
            out.push(any_row(row, &columns)?);
        }
        Ok(out)
    }

    /// The statement, prepared once per connection, with `arguments` bound.
    fn prepared(
        &self,
        sql: &str,
        arguments: Option<AnyArguments>,
    ) -> StoreResult<rusqlite::CachedStatement<'_>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(store_error)?;
        bind(&mut statement, arguments)?;
        Ok(statement)
    }

    fn columns(&self, sql: &str, statement: &rusqlite::Statement<'_>) -> Arc<Columns> {
        let mut known = self.columns.borrow_mut();
        if let Some(columns) = known.get(sql) {
            return Arc::clone(columns);
        }
        let columns = Arc::new(Columns::of(statement));
        if known.len() < STATEMENT_CACHE {
            known.insert(sql.to_owned(), Arc::clone(&columns));
        }
        columns
    }

    /// Runs one INSERT and returns the rowid of the row it inserted.
    pub(super) fn insert(&self, sql: &str, arguments: Option<AnyArguments>) -> StoreResult<i64> {
        self.execute(sql, arguments)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs one statement to completion and returns the rows it changed.
    pub(super) fn execute(&self, sql: &str, arguments: Option<AnyArguments>) -> StoreResult<u64> {
        let mut statement = self.prepared(sql, arguments)?;
        let mut rows = statement.raw_query();
        while rows.next().map_err(store_error)?.is_some() {}
        Ok(self.conn.changes())
    }
}

/// Binds sqlx's arguments by their `$N` names: SQLite numbers named
/// parameters in order of first appearance, not by N.
fn bind(
    statement: &mut rusqlite::Statement<'_>,
    arguments: Option<AnyArguments>,
) -> StoreResult<()> {
    let values = arguments.map(|a| a.values.0).unwrap_or_default();
    for index in 1..=statement.parameter_count() {
        let position = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::Database(format!("parameter {index} is not $N").into()))?;
        let value = values
            .get(position - 1)
            .ok_or_else(|| StoreError::Database(format!("no argument for ${position}").into()))?;
        statement
            .raw_bind_parameter(index, Argument(value))
            .map_err(store_error)?;
    }
    Ok(())
}

struct Argument<'a>(&'a AnyValueKind);

impl ToSql for Argument<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            AnyValueKind::Null(_) => ToSqlOutput::Owned(Value::Null),
            AnyValueKind::Bool(v) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            AnyValueKind::SmallInt(v) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            AnyValueKind::Integer(v) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            AnyValueKind::BigInt(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            AnyValueKind::Real(v) => ToSqlOutput::Owned(Value::Real(f64::from(*v))),
            AnyValueKind::Double(v) => ToSqlOutput::Owned(Value::Real(*v)),
            AnyValueKind::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            AnyValueKind::TextSlice(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            AnyValueKind::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("unsupported argument {other:?}").into(),
                ));
            }
        })
    }
}

/// A statement's column names, shared by all its rows.
struct Columns {
    names: Vec<UStr>,
    index: Arc<sqlx_core::HashMap<UStr, usize>>,
}

impl Columns {
    fn of(statement: &rusqlite::Statement<'_>) -> Columns {
        let names: Vec<UStr> = statement
            .column_names()
            .into_iter()
            .map(UStr::new)
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(ordinal, name)| (name.clone(), ordinal))
            .collect();
        Columns {
            names,
            index: Arc::new(index),
        }
    }
}

fn any_row(row: &rusqlite::Row<'_>, columns: &Columns) -> StoreResult<AnyRow> {
    let mut out = AnyRow {
        column_names: Arc::clone(&columns.index),
        columns: Vec::with_capacity(columns.names.len()),
        values: Vec::with_capacity(columns.names.len()),
    };
    for (ordinal, name) in columns.names.iter().enumerate() {
        let (kind, type_kind) = match row.get_ref(ordinal).map_err(store_error)? {
            ValueRef::Null => (
                AnyValueKind::Null(AnyTypeInfoKind::Null),
                AnyTypeInfoKind::Null,
            ),
            ValueRef::Integer(v) => (AnyValueKind::BigInt(v), AnyTypeInfoKind::BigInt),
            ValueRef::Real(v) => (AnyValueKind::Double(v), AnyTypeInfoKind::Double),
            ValueRef::Text(v) => {
                let text = String::from_utf8(v.to_vec())
                    .map_err(|_| StoreError::Corrupt(format!("column {name} is not UTF-8")))?;
                (AnyValueKind::Text(Arc::new(text)), AnyTypeInfoKind::Text)
            }
            ValueRef::Blob(v) => (
                AnyValueKind::Blob(Arc::new(v.to_vec())),
                AnyTypeInfoKind::Blob,
            ),
        };
        out.columns.push(AnyColumn {
            ordinal,
            name: name.clone(),
            type_info: AnyTypeInfo { kind: type_kind },
        });
        out.values.push(AnyValue { kind });
    }
    Ok(out)
}

/// Maps SQLite's result codes as `StoreError::from(sqlx::Error)` does.
pub(super) fn store_error(error: rusqlite::Error) -> StoreError {
    let unique = matches!(
        &error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    if unique {
        return StoreError::Conflict(error.to_string());
    }
    let code = error.sqlite_error_code();
    let boxed = Box::new(error);
    match code {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(boxed),
        _ => StoreError::Database(boxed),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Arguments, Row};

    use super::*;

    fn arguments(values: &[&str]) -> Option<AnyArguments> {
        let mut arguments = AnyArguments::default();
        for value in values {
            arguments.add(value.to_string()).unwrap();
        }
        Some(arguments)
    }

    fn scratch() -> (tempfile::TempDir, SqliteConn) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            SqliteConn::open(&dir.path().join("t.db"), "PRAGMA journal_mode = WAL;").unwrap();
        conn.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, note TEXT)")
            .unwrap();
        (dir, conn)
    }

    #[test]
    fn arguments_bind_by_their_number_not_their_position() {
        let (_dir, conn) = scratch();
        let rows = conn
            .rows(
                "SELECT $2 AS second, $1 AS first",
                arguments(&["a", "b"]),
                1,
            )
            .unwrap();
        assert_eq!(rows[0].get::<String, _>("second"), "b");
        assert_eq!(rows[0].get::<String, _>("first"), "a");
        // The same statement again comes from the cache, with new arguments.
        let rows = conn
            .rows(
                "SELECT $2 AS second, $1 AS first",
                arguments(&["c", "d"]),
                1,
            )
            .unwrap();
        assert_eq!(rows[0].get::<String, _>("second"), "d");
    }

    #[test]
    fn rows_round_trip_integers_text_and_null() {
        let (_dir, conn) = scratch();
        let changed = conn
            .execute("INSERT INTO t (name) VALUES ($1)", arguments(&["x"]))
            .unwrap();
        assert_eq!(changed, 1);
        let rows = conn
            .rows("SELECT id, name, note FROM t", None, usize::MAX)
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<i64, _>("id"), 1);
        assert_eq!(rows[0].get::<String, _>("name"), "x");
        assert_eq!(rows[0].get::<Option<String>, _>("note"), None);
    }

    #[test]
    fn errors_map_like_sqlx_errors() {
        let (_dir, conn) = scratch();
        let insert = "INSERT INTO t (name) VALUES ($1)";
        conn.execute(insert, arguments(&["x"])).unwrap();
        assert!(matches!(
            conn.execute(insert, arguments(&["x"])),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            conn.execute("INSERT INTO t (name) VALUES ($1)", None),
            Err(StoreError::Database(_))
        ));
        assert!(matches!(
            conn.rows("SELECT nothing FROM nowhere", None, 1),
            Err(StoreError::Database(_))
        ));
    }

    #[tokio::test]
    async fn readers_cannot_write_and_are_bounded() {
        let (dir, _writer) = scratch();
        let settings = PoolSettings {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(50),
        };
        let readers = SqliteReaders::new(&dir.path().join("t.db"), settings);
        let reader = readers.take().await.unwrap();
        assert!(
            reader
                .conn()
                .execute("INSERT INTO t (name) VALUES ('y')", None)
                .is_err(),
            "query_only"
        );
        assert!(matches!(
            readers.take().await,
            Err(StoreError::Unavailable(_))
        ));
        drop(reader);
        let again = readers.take().await.unwrap();
        assert_eq!(again.conn().rows("SELECT 1", None, 1).unwrap().len(), 1);
    }
}
