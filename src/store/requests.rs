//! The `requests` table: the approval workflow's new order, reissue and revoke requests.

use serde_json::json;
use sqlx::AssertSqlSafe;

use super::{
    Bind, Conditions, Conn, StoreError, StoreResult, names_from_json, names_to_json, parse_stored,
};
use crate::model::{
    NewRequest, Page, ReissueSpec, Request, RequestStatus, RequestType, RevocationReason, UnixTime,
};

const COLUMNS: &str = "id, type, status, order_id, certificate_id, requester_id, processor_id, comments, \
                       processor_comment, revocation_reason, csr, common_name, dns_names, signature_hash, \
                       created_at, processed_at";

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: i64,
    #[sqlx(rename = "type")]
    kind: String,
    status: String,
    order_id: i64,
    certificate_id: Option<i64>,
    requester_id: i64,
    processor_id: Option<i64>,
    comments: Option<String>,
    processor_comment: Option<String>,
    revocation_reason: Option<i64>,
    csr: Option<String>,
    common_name: Option<String>,
    dns_names: Option<String>,
    signature_hash: Option<String>,
    created_at: i64,
    processed_at: Option<i64>,
}

impl RequestRow {
    fn into_request(self) -> StoreResult<Request> {
        let reissue = match (
            self.csr,
            self.common_name,
            self.dns_names,
            self.signature_hash,
        ) {
            (Some(csr), Some(common_name), Some(dns_names), Some(signature_hash)) => {
                Some(ReissueSpec {
                    csr,
                    common_name,
                    dns_names: names_from_json(&dns_names)?,
                    signature_hash,
                })
            }
            _ => None,
        };
        let revocation_reason = self
            .revocation_reason
            .map(|code| {
                RevocationReason::from_code(code)
                    .ok_or_else(|| StoreError::Corrupt(format!("revocation reason code {code}")))
            })
            .transpose()?;
        Ok(Request {
            id: self.id,
            kind: parse_stored(&self.kind, RequestType::parse)?,
            status: parse_stored(&self.status, RequestStatus::parse)?,
            order_id: self.order_id,
            certificate_id: self.certificate_id,
            requester_id: self.requester_id,
            processor_id: self.processor_id,
            comments: self.comments,
            processor_comment: self.processor_comment,
            revocation_reason,
            reissue,
            created_at: self.created_at,
            processed_at: self.processed_at,
        })
    }
}

/// Stores a new request and returns it as stored.
pub(crate) async fn insert(conn: &mut Conn, request: &NewRequest) -> StoreResult<Request> {
    let mut stored = insert_many(conn, std::slice::from_ref(request)).await?;
    stored
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a request inserted, no id returned".into()))
}

/// When a request written with this status was processed: a request is
/// born processed when it is approved (or rejected) as it is made.
fn processed_at(request: &NewRequest) -> Option<UnixTime> {
    (request.status != RequestStatus::Pending).then_some(request.created_at)
}

/// The request `request` became, stored with `id`.
fn stored(id: i64, request: &NewRequest) -> Request {
    Request {
        id,
        kind: request.kind,
        status: request.status,
        order_id: request.order_id,
        certificate_id: request.certificate_id,
        requester_id: request.requester_id,
        processor_id: request.processor_id,
        comments: request.comments.clone(),
        processor_comment: None,
        revocation_reason: request.revocation_reason,
        reissue: request.reissue.clone(),
        created_at: request.created_at,
        processed_at: processed_at(request),
    }
}

/// Stores new requests, in one statement; returns them as stored, in the
/// same order (every column is what was just written: nothing is read
/// back).
pub(crate) async fn insert_many(
    conn: &mut Conn,
    requests: &[NewRequest],
) -> StoreResult<Vec<Request>> {
    use super::json_rows::{Column, insert_rows};
    let columns = [
        Column::text("type"),
        Column::text("status"),
        Column::int("order_id"),
        Column::int("certificate_id"),
        Column::int("requester_id"),
        Column::int("processor_id"),
        Column::text("comments"),
        Column::int("revocation_reason"),
        Column::text("csr"),
        Column::text("common_name"),
        Column::text("dns_names"),
        Column::text("signature_hash"),
        Column::int("created_at"),
        Column::int("processed_at"),
    ];
    let rows = requests.iter().map(|request| {
        let reissue = request.reissue.as_ref();
        json!({
            "type": request.kind.as_str(),
            "status": request.status.as_str(),
            "order_id": request.order_id,
            "certificate_id": request.certificate_id,
            "requester_id": request.requester_id,
            "processor_id": request.processor_id,
            "comments": request.comments,
            "revocation_reason": request.revocation_reason.map(RevocationReason::code),
            "csr": reissue.map(|r| r.csr.as_str()),
            "common_name": reissue.map(|r| r.common_name.as_str()),
            "dns_names": reissue.map(|r| names_to_json(&r.dns_names)),
            "signature_hash": reissue.map(|r| r.signature_hash.as_str()),
            "created_at": request.created_at,
            "processed_at": processed_at(request),
        })
    });
    let ids = insert_rows(conn, "requests", &columns, rows.collect()).await?;
    Ok(ids
        .into_iter()
        .zip(requests)
        .map(|(id, request)| stored(id, request))
        .collect())
}

pub(crate) async fn find(conn: &mut Conn, id: i64) -> StoreResult<Option<Request>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE id = $1");
    let row: Option<RequestRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(RequestRow::into_request).transpose()
}

/// The pending request of an order, if any (the schema allows at most one).
pub(crate) async fn find_pending_for_order(
    conn: &mut Conn,
    order_id: i64,
) -> StoreResult<Option<Request>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE order_id = $1 AND status = 'pending'");
    let row: Option<RequestRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(order_id))
        .await?;
    row.map(RequestRow::into_request).transpose()
}

/// Every request of an order, oldest first.
pub(crate) async fn list_for_order(conn: &mut Conn, order_id: i64) -> StoreResult<Vec<Request>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE order_id = $1 ORDER BY id");
    let rows: Vec<RequestRow> = conn
        .fetch_all(sqlx::query_as(AssertSqlSafe(sql)).bind(order_id))
        .await?;
    rows.into_iter().map(RequestRow::into_request).collect()
}

/// Moves a pending request to its final status. Returns false when the request
/// was no longer pending: the conditional UPDATE is what makes two concurrent
/// approvals produce exactly one winner, on any backend.
/// Approves waiting requests, `(id, processor_id, processor_comment)` each,
/// with one statement. Fails unless every one of them was still pending.
pub(crate) async fn approve_many(
    conn: &mut Conn,
    approvals: &[(i64, i64, Option<String>)],
    at: UnixTime,
) -> StoreResult<()> {
    use super::json_rows::{Column, param, rows_of};
    if approvals.is_empty() {
        return Ok(());
    }
    let source = rows_of(
        conn,
        1,
        &[
            Column::int("id"),
            Column::int("processor_id"),
            Column::text("comment"),
        ],
    );
    let sql = format!(
        "UPDATE requests SET status = 'approved', processor_id = v.processor_id, \
         processor_comment = v.comment, processed_at = $2 FROM {source} \
         WHERE requests.id = v.id AND requests.status = 'pending'"
    );
    let rows = param(approvals.iter().map(|(id, processor_id, comment)| {
        json!({"id": id, "processor_id": processor_id, "comment": comment})
    }));
    let changed = conn
        .execute(sqlx::query(AssertSqlSafe(sql)).bind(rows).bind(at))
        .await?;
    if changed != approvals.len() as u64 {
        return Err(StoreError::Conflict(format!(
            "{} of {} requests approved: the others were no longer pending",
            changed,
            approvals.len()
        )));
    }
    Ok(())
}

pub(crate) async fn close(
    conn: &mut Conn,
    id: i64,
    status: RequestStatus,
    processor_id: Option<i64>,
    processor_comment: Option<&str>,
    at: UnixTime,
) -> StoreResult<bool> {
    let changed = conn.execute(sqlx::query(
        "UPDATE requests SET status = $1, processor_id = $2, processor_comment = $3, processed_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(processor_id)
    .bind(processor_comment)
    .bind(at)
    .bind(id))
    .await?;
    Ok(changed == 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestSort {
    IdAscending,
    IdDescending,
    DateAscending,
    DateDescending,
}

impl RequestSort {
    fn order_by(self) -> &'static str {
        match self {
            RequestSort::IdAscending => "id ASC",
            RequestSort::IdDescending => "id DESC",
            RequestSort::DateAscending => "created_at ASC, id ASC",
            RequestSort::DateDescending => "created_at DESC, id DESC",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RequestFilter {
    /// Restricts to one requester (non-administrators see only their own).
    pub requester_id: Option<i64>,
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestType>,
}

/// How many requests wait for an administrator (for `/metrics`).
pub(crate) async fn count_pending(conn: &mut Conn) -> StoreResult<i64> {
    conn.scalar_one(sqlx::query_scalar(
        "SELECT COUNT(*) FROM requests WHERE status = 'pending'",
    ))
    .await
}

pub(crate) async fn list(
    conn: &mut Conn,
    filter: &RequestFilter,
    sort: RequestSort,
    page: Page,
) -> StoreResult<(Vec<Request>, i64)> {
    let mut conditions = Conditions::default();
    if let Some(requester_id) = filter.requester_id {
        conditions.push("requester_id = {}", Bind::Int(requester_id));
    }
    if let Some(status) = filter.status {
        conditions.push("status = {}", Bind::Text(status.as_str().into()));
    }
    if let Some(kind) = filter.kind {
        conditions.push("type = {}", Bind::Text(kind.as_str().into()));
    }
    let (rows, total): (Vec<RequestRow>, i64) = conditions
        .fetch_page(conn, COLUMNS, "requests", sort.order_by(), page)
        .await?;
    let requests = rows
        .into_iter()
        .map(RequestRow::into_request)
        .collect::<StoreResult<_>>()?;
    Ok((requests, total))
}
