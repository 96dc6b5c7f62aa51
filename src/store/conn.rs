//! `Conn`: the connection every store function runs its queries on.
//!
//! Queries are built with sqlx (`query`, `query_as`, `query_scalar`) and run
//! through `Conn`'s methods, which send them either to sqlx (PostgreSQL, bulk
//! reads) or to one of SQLite's synchronous connections (see `sqlite`).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, AnyConnection, AssertSqlSafe, Execute, FromRow, SqlStr, Transaction};

use super::audit::{self, NewAuditEntry};
use super::group_commit::Member;
use super::sqlite::{PooledReader, SqliteConn};
use super::{StoreError, StoreResult};

pub(crate) struct Conn {
    inner: Inner,
    /// A write transaction's audit entries, appended when it commits.
    audit: Vec<NewAuditEntry>,
    /// Whether it changed what an API key lookup returns (see `key_cache`).
    credentials_changed: bool,
}

enum Inner {
    /// From sqlx's pool, for reads outside any transaction.
    Pooled(PoolConnection<Any>),
    /// A SQLite reader connection.
    SqliteReader(PooledReader),
    /// A PostgreSQL write transaction.
    Transaction(Transaction<'static, Any>),
    /// One writer's turn on SQLite's writer connection.
    Writer(Member),
}

/// Where a query goes.
enum Target<'a> {
    Sqlx(&'a mut AnyConnection),
    Sqlite(&'a SqliteConn),
}

impl Conn {
    fn new(inner: Inner) -> Conn {
        Conn {
            inner,
            audit: Vec::new(),
            credentials_changed: false,
        }
    }

    pub(super) fn pooled(conn: PoolConnection<Any>) -> Conn {
        Conn::new(Inner::Pooled(conn))
    }

    pub(super) fn sqlite_reader(reader: PooledReader) -> Conn {
        Conn::new(Inner::SqliteReader(reader))
    }

    pub(super) fn transaction(tx: Transaction<'static, Any>) -> Conn {
        Conn::new(Inner::Transaction(tx))
    }

    pub(super) fn writer(member: Member) -> Conn {
        Conn::new(Inner::Writer(member))
    }

    /// See [`audit::queue`]: only a write transaction keeps entries.
    pub(super) fn queue_audit(&mut self, entry: NewAuditEntry) -> StoreResult<()> {
        match self.inner {
            Inner::Transaction(_) | Inner::Writer(_) => {
                self.audit.push(entry);
                Ok(())
            }
            Inner::Pooled(_) | Inner::SqliteReader(_) => Err(StoreError::Database(
                "an audit entry was recorded outside a write transaction".into(),
            )),
        }
    }

    pub(super) fn has_audit_entries(&self) -> bool {
        !self.audit.is_empty()
    }

    /// Called by every write to a key or user that changes what an API key
    /// lookup returns: this server's cache of them is emptied on commit
    /// (other servers learn it from the database's notice).
    pub(super) fn mark_credentials_changed(&mut self) {
        self.credentials_changed = true;
    }

    pub(super) fn changes_credentials(&self) -> bool {
        self.credentials_changed
    }

    /// Appends the queued audit entries and makes a write transaction
    /// durable; a read connection has nothing to do.
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let entries = std::mem::take(&mut self.audit);
        if !entries.is_empty() {
            audit::append_all(&mut self, &entries).await?;
        }
        match self.inner {
            Inner::Pooled(_) | Inner::SqliteReader(_) => Ok(()),
            Inner::Transaction(tx) => Ok(tx.commit().await?),
            Inner::Writer(member) => member.commit().await,
        }
    }

    /// For the few statements whose SQL differs between the backends.
    pub(crate) fn is_postgres(&self) -> bool {
        match &self.inner {
            Inner::Pooled(conn) => conn.backend_name() == "PostgreSQL",
            Inner::Transaction(tx) => tx.backend_name() == "PostgreSQL",
            Inner::SqliteReader(_) | Inner::Writer(_) => false,
        }
    }

    fn target(&mut self) -> Target<'_> {
        match &mut self.inner {
            Inner::Pooled(conn) => Target::Sqlx(conn),
            Inner::Transaction(tx) => Target::Sqlx(tx),
            Inner::SqliteReader(reader) => Target::Sqlite(reader.conn()),
            Inner::Writer(member) => Target::Sqlite(member.conn()),
        }
    }

    /// Has the rest of a PostgreSQL transaction plan with index scans only
    /// (nothing on SQLite). For statements that read a few rows through an
    /// index of a table that grows fast (the audit sealer's, the campaign
    /// runner's): planned from statistics taken while the table was small (a
    /// new deployment, a campaign's rows just inserted, autovacuum not yet
    /// round or off), PostgreSQL scans the whole table for them instead, a
    /// cost growing with it: 2 ms a sealer pass at 2,400 audit entries, seen
    /// under load. (It rules out sequential scans, not bitmap scans: the
    /// campaign runner also needs fresh statistics, see
    /// `campaigns::freeze_selection`.)
    pub(crate) async fn plan_with_indexes_only(&mut self) -> StoreResult<()> {
        if self.is_postgres() {
            self.execute(sqlx::query("SET LOCAL enable_seqscan = off"))
                .await?;
        }
        Ok(())
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) async fn execute(
        &mut self,
        query: Query<'_, Any, AnyArguments>,
    ) -> StoreResult<u64> {
        match self.target() {
            Target::Sqlx(conn) => Ok(query.execute(conn).await?.rows_affected()),
            Target::Sqlite(sqlite) => {
                let (sql, arguments) = split(query)?;
                sqlite.execute(sql.as_str(), arguments)
            }
        }
    }

    /// Runs an INSERT, written without a RETURNING clause, and returns the new
    /// row's `id`. SQLite carries out RETURNING through a temporary table,
    /// which costs its single writer about as much again as the insert
    /// itself; there the id comes from `last_insert_rowid`. PostgreSQL gets
    /// `RETURNING id`.
    pub(crate) async fn insert_returning_id(
        &mut self,
        insert: Query<'_, Any, AnyArguments>,
    ) -> StoreResult<i64> {
        let (sql, arguments) = split(insert)?;
        match self.target() {
            Target::Sqlx(conn) => {
                let sql = format!("{} RETURNING id", sql.as_str());
                let query =
                    sqlx::query_scalar_with(AssertSqlSafe(sql), arguments.unwrap_or_default());
                Ok(query.fetch_one(conn).await?)
            }
            Target::Sqlite(sqlite) => sqlite.insert(sql.as_str(), arguments),
        }
    }

    pub(crate) async fn fetch_optional<O>(
        &mut self,
        query: QueryAs<'_, Any, O, AnyArguments>,
    ) -> StoreResult<Option<O>>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        match self.target() {
            Target::Sqlx(conn) => Ok(query.fetch_optional(conn).await?),
            Target::Sqlite(sqlite) => sqlite_rows(sqlite, query, 1)?
                .first()
                .map(decode)
                .transpose(),
        }
    }

    pub(crate) async fn fetch_all<O>(
        &mut self,
        query: QueryAs<'_, Any, O, AnyArguments>,
    ) -> StoreResult<Vec<O>>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        match self.target() {
            Target::Sqlx(conn) => Ok(query.fetch_all(conn).await?),
            Target::Sqlite(sqlite) => sqlite_rows(sqlite, query, usize::MAX)?
                .iter()
                .map(decode)
                .collect(),
        }
    }

    pub(crate) async fn scalar_optional<O>(
        &mut self,
        query: QueryScalar<'_, Any, O, AnyArguments>,
    ) -> StoreResult<Option<O>>
    where
        (O,): for<'r> FromRow<'r, AnyRow>,
        O: Send + Unpin,
    {
        match self.target() {
            Target::Sqlx(conn) => Ok(query.fetch_optional(conn).await?),
            Target::Sqlite(sqlite) => sqlite_rows(sqlite, query, 1)?
                .first()
                .map(decode_scalar)
                .transpose(),
        }
    }

    pub(crate) async fn scalar_one<O>(
        &mut self,
        query: QueryScalar<'_, Any, O, AnyArguments>,
    ) -> StoreResult<O>
    where
        (O,): for<'r> FromRow<'r, AnyRow>,
        O: Send + Unpin,
    {
        self.scalar_optional(query)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound.into())
    }
}

fn split<'q>(mut query: impl Execute<'q, Any>) -> StoreResult<(SqlStr, Option<AnyArguments>)> {
    let arguments = query
        .take_arguments()
        .map_err(|e| StoreError::Database(format!("binding arguments: {e}").into()))?;
    Ok((query.sql(), arguments))
}

fn sqlite_rows<'q>(
    sqlite: &SqliteConn,
    query: impl Execute<'q, Any>,
    limit: usize,
) -> StoreResult<Vec<AnyRow>> {
    let (sql, arguments) = split(query)?;
    sqlite.rows(sql.as_str(), arguments, limit)
}

fn decode<O: for<'r> FromRow<'r, AnyRow>>(row: &AnyRow) -> StoreResult<O> {
    Ok(O::from_row(row)?)
}

/// A `query_scalar`'s value: the first column, decoded as sqlx does.
fn decode_scalar<O>(row: &AnyRow) -> StoreResult<O>
where
    (O,): for<'r> FromRow<'r, AnyRow>,
{
    decode::<(O,)>(row).map(|(value,)| value)
}
