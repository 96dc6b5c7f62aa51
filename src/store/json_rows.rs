//! Lists of values and of rows passed to a statement as one JSON parameter.
//!
//! A statement with a placeholder per value (`IN ($1, $2, ...)`, `VALUES
//! ($1, $2), ($3, $4), ...`) has a different text for each list length, so
//! the database parses and plans it afresh at every call and no connection
//! can keep it prepared. On PostgreSQL that planning cost about 140 µs of
//! server CPU per batched revocation, a fifth of all the server did
//! (docs/benchmarks.md). With the list as one JSON parameter a statement has
//! one text whatever the length: prepared once per connection, planned once.

use serde_json::Value;
use sqlx::AssertSqlSafe;

use super::{Conn, StoreError, StoreResult};

/// The SQL type of a value read out of JSON.
#[derive(Debug, Clone, Copy)]
pub(super) enum SqlType {
    Int,
    Text,
}

/// A column of [`rows_of`]: its name and type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column(&'static str, SqlType);

impl Column {
    pub(super) fn int(name: &'static str) -> Column {
        Column(name, SqlType::Int)
    }

    pub(super) fn text(name: &'static str) -> Column {
        Column(name, SqlType::Text)
    }
}

impl SqlType {
    fn postgres(self) -> &'static str {
        match self {
            SqlType::Int => "bigint",
            SqlType::Text => "text",
        }
    }
}

/// `column` is one of the values of parameter `$param`, a JSON array of
/// numbers or strings as `kind` says. On PostgreSQL as
/// `= ANY(ARRAY(...))`, which (unlike `IN (subquery)`) an index can answer
/// on either side of an `OR`.
pub(super) fn is_one_of(conn: &Conn, column: &str, param: usize, kind: SqlType) -> String {
    if !conn.is_postgres() {
        return format!("{column} IN (SELECT value FROM json_each(${param}))");
    }
    format!(
        "{column} = ANY(ARRAY(SELECT value::{} FROM json_array_elements_text(${param}::json)))",
        kind.postgres()
    )
}

/// A table `v` with `columns`, one row per object of parameter `$param`, a
/// JSON array of objects keyed by the columns' names (a missing key or
/// `null` is NULL): for `FROM`.
pub(super) fn rows_of(conn: &Conn, param: usize, columns: &[Column]) -> String {
    if conn.is_postgres() {
        let typed: Vec<String> = columns
            .iter()
            .map(|Column(name, kind)| format!("{name} {}", kind.postgres()))
            .collect();
        return format!(
            "json_to_recordset(${param}::json) AS v({})",
            typed.join(", ")
        );
    }
    let extracted: Vec<String> = columns
        .iter()
        .map(|Column(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
        .collect();
    format!(
        "(SELECT {} FROM json_each(${param})) AS v",
        extracted.join(", ")
    )
}

/// The parameter for [`is_one_of`] or [`rows_of`].
pub(super) fn param(values: impl IntoIterator<Item = Value>) -> String {
    Value::Array(values.into_iter().collect()).to_string()
}

/// Inserts `rows` (JSON objects keyed by the columns' names) into `table`
/// with one statement; returns their new ids in the order of `rows`.
pub(super) async fn insert_rows(
    conn: &mut Conn,
    table: &str,
    columns: &[Column],
    rows: Vec<Value>,
) -> StoreResult<Vec<i64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let count = rows.len();
    let mut with_n = vec![Column::int("n")];
    with_n.extend_from_slice(columns);
    let names: Vec<&str> = columns.iter().map(|Column(name, _)| *name).collect();
    let names = names.join(", ");
    let sql = format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM {} ORDER BY n RETURNING id",
        rows_of(conn, 1, &with_n)
    );
    let rows = param(rows.into_iter().enumerate().map(|(n, mut row)| {
        row["n"] = Value::from(n);
        row
    }));
    let returned: Vec<(i64,)> = conn
        .fetch_all(sqlx::query_as(AssertSqlSafe(sql)).bind(rows))
        .await?;
    if returned.len() != count {
        return Err(StoreError::Corrupt(format!(
            "{count} rows inserted into {table}, {} ids returned",
            returned.len()
        )));
    }
    // Rows get their ids in the order of `n`; RETURNING's own order is not
    // promised.
    let mut ids: Vec<i64> = returned.into_iter().map(|(id,)| id).collect();
    ids.sort_unstable();
    Ok(ids)
}
