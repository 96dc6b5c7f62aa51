//! The `orders` table.

use sqlx::AssertSqlSafe;

use std::collections::HashMap;

use serde_json::json;

use super::json_rows::{Column, insert_rows};
use super::{
    Bind, Conditions, Conn, StoreResult, fetch_by_ids, names_from_json, names_to_json, parse_stored,
};
use crate::model::{Order, OrderStatus, Page, PendingRequest, Product, RequestType, UnixTime};

const COLUMNS: &str = "o.id, o.user_id, o.product, o.status, o.common_name, o.dns_names, o.csr, \
                       o.signature_hash, o.validity_days, o.created_at";

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    product: String,
    status: String,
    common_name: String,
    dns_names: String,
    csr: String,
    signature_hash: String,
    validity_days: i64,
    created_at: i64,
}

impl OrderRow {
    fn into_order(self) -> StoreResult<Order> {
        Ok(Order {
            id: self.id,
            user_id: self.user_id,
            product: parse_stored(&self.product, Product::parse)?,
            status: parse_stored(&self.status, OrderStatus::parse)?,
            common_name: self.common_name,
            dns_names: names_from_json(&self.dns_names)?,
            csr: self.csr,
            signature_hash: self.signature_hash,
            validity_days: self.validity_days,
            created_at: self.created_at,
        })
    }
}

pub(crate) struct NewOrder<'a> {
    pub user_id: i64,
    pub product: Product,
    pub status: OrderStatus,
    pub common_name: &'a str,
    pub dns_names: &'a [String],
    pub csr: &'a str,
    pub signature_hash: &'a str,
    pub validity_days: i64,
    pub created_at: UnixTime,
}

/// Stores new orders with one statement; returns them as stored, in the
/// same order (nothing is read back).
pub(crate) async fn insert_many(conn: &mut Conn, new: &[NewOrder<'_>]) -> StoreResult<Vec<Order>> {
    let columns = [
        Column::int("user_id"),
        Column::text("product"),
        Column::text("status"),
        Column::text("common_name"),
        Column::text("dns_names"),
        Column::text("csr"),
        Column::text("signature_hash"),
        Column::int("validity_days"),
        Column::int("created_at"),
    ];
    let rows = new.iter().map(|order| {
        json!({
            "user_id": order.user_id,
            "product": order.product.as_str(),
            "status": order.status.as_str(),
            "common_name": order.common_name,
            "dns_names": names_to_json(order.dns_names),
            "csr": order.csr,
            "signature_hash": order.signature_hash,
            "validity_days": order.validity_days,
            "created_at": order.created_at,
        })
    });
    let ids = insert_rows(conn, "orders", &columns, rows.collect()).await?;
    Ok(ids
        .into_iter()
        .zip(new)
        .map(|(id, order)| Order {
            id,
            user_id: order.user_id,
            product: order.product,
            status: order.status,
            common_name: order.common_name.to_owned(),
            dns_names: order.dns_names.to_vec(),
            csr: order.csr.to_owned(),
            signature_hash: order.signature_hash.to_owned(),
            validity_days: order.validity_days,
            created_at: order.created_at,
        })
        .collect())
}

pub(crate) async fn find(conn: &mut Conn, id: i64) -> StoreResult<Option<Order>> {
    let sql = format!("SELECT {COLUMNS} FROM orders o WHERE o.id = $1");
    let row: Option<OrderRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(OrderRow::into_order).transpose()
}

/// The orders with these ids, by id: one query for a page of them.
pub(crate) async fn find_many(conn: &mut Conn, ids: &[i64]) -> StoreResult<HashMap<i64, Order>> {
    let sql = format!("SELECT {COLUMNS} FROM orders o WHERE {{ids}}");
    let rows: Vec<OrderRow> = fetch_by_ids(conn, &sql, "o.id", ids).await?;
    rows.into_iter()
        .map(|row| row.into_order().map(|order| (order.id, order)))
        .collect()
}

#[derive(sqlx::FromRow)]
struct OrderPendingRow {
    #[sqlx(flatten)]
    order: OrderRow,
    pending_id: Option<i64>,
    pending_type: Option<String>,
}

/// The order and its pending request, if any, in one read: a revocation's
/// checks need both, and on SQLite every statement is time in the single
/// writer's turn.
pub(crate) async fn find_with_pending(
    conn: &mut Conn,
    id: i64,
) -> StoreResult<Option<(Order, Option<PendingRequest>)>> {
    let sql = format!(
        "SELECT {COLUMNS}, r.id AS pending_id, r.type AS pending_type FROM orders o \
         LEFT JOIN requests r ON r.order_id = o.id AND r.status = 'pending' WHERE o.id = $1"
    );
    let row: Option<OrderPendingRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(OrderPendingRow::into_parts).transpose()
}

impl OrderPendingRow {
    fn into_parts(self) -> StoreResult<(Order, Option<PendingRequest>)> {
        let pending = match (self.pending_id, self.pending_type) {
            (Some(id), Some(kind)) => Some(PendingRequest {
                id,
                kind: parse_stored(&kind, RequestType::parse)?,
            }),
            _ => None,
        };
        Ok((self.order.into_order()?, pending))
    }
}

/// [`find_with_pending`] for many orders at once, by id.
pub(crate) async fn find_many_with_pending(
    conn: &mut Conn,
    ids: &[i64],
) -> StoreResult<HashMap<i64, (Order, Option<PendingRequest>)>> {
    let sql = format!(
        "SELECT {COLUMNS}, r.id AS pending_id, r.type AS pending_type FROM orders o \
         LEFT JOIN requests r ON r.order_id = o.id AND r.status = 'pending' WHERE {{ids}}"
    );
    let rows: Vec<OrderPendingRow> = fetch_by_ids(conn, &sql, "o.id", ids).await?;
    rows.into_iter()
        .map(|row| {
            let (order, pending) = row.into_parts()?;
            Ok((order.id, (order, pending)))
        })
        .collect()
}

/// Locks an order's row until the transaction ends, so that writers of one
/// order take turns across nodes: every check a writer makes after this stays
/// true until it commits. On SQLite the write transaction (`BEGIN IMMEDIATE`)
/// already excludes every other writer, so there is nothing to do.
pub(crate) async fn lock(conn: &mut Conn, id: i64) -> StoreResult<()> {
    if conn.is_postgres() {
        conn.execute(sqlx::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE").bind(id))
            .await?;
    }
    Ok(())
}

pub(crate) async fn set_status(conn: &mut Conn, id: i64, status: OrderStatus) -> StoreResult<()> {
    conn.execute(
        sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Filters of the order list; `None` means "any".
#[derive(Debug, Default)]
pub(crate) struct OrderFilter {
    /// Restricts to one user's orders (non-administrators).
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
    pub common_name: Option<String>,
    /// Orders that hold a certificate with this serial (uppercase hex).
    pub serial_number: Option<String>,
}

/// One page of orders, newest first, and the total that matched.
pub(crate) async fn list(
    conn: &mut Conn,
    filter: &OrderFilter,
    page: Page,
) -> StoreResult<(Vec<Order>, i64)> {
    let mut conditions = Conditions::default();
    if let Some(user_id) = filter.user_id {
        conditions.push("o.user_id = {}", Bind::Int(user_id));
    }
    if let Some(status) = filter.status {
        conditions.push("o.status = {}", Bind::Text(status.as_str().into()));
    }
    if let Some(name) = &filter.common_name {
        conditions.push("o.common_name = {}", Bind::Text(name.clone()));
    }
    if let Some(serial) = &filter.serial_number {
        conditions.push(
            "EXISTS (SELECT 1 FROM certificates c WHERE c.order_id = o.id AND c.serial_number = {})",
            Bind::Text(serial.clone()),
        );
    }
    let (rows, total): (Vec<OrderRow>, i64) = conditions
        .fetch_page(conn, COLUMNS, "orders o", "o.id DESC", page)
        .await?;
    let orders = rows
        .into_iter()
        .map(OrderRow::into_order)
        .collect::<StoreResult<_>>()?;
    Ok((orders, total))
}
