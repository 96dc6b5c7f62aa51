//! The approval workflow: listing requests and approving or rejecting them.

use crate::codes::ErrorCode;
use std::collections::HashMap;

use crate::store::Conn;
use serde_json::json;

use super::orders::{LeafRequest, set_order_and_current_certificate};
use super::revoke::apply_revocation;
use super::revoke_batch::batchable_approval;
use super::{
    Context, RequestFilter, RequestSort, Service, ServiceError, ServiceResult, audit, blocked_keys,
};
use crate::ca::VerifiedCsr;
use crate::model::RevokedSerial;
use crate::model::{
    AuditAction, AuditObject, Certificate, CertificateStatus, NewRequest, Order, OrderStatus, Page,
    PendingRequest, Request, RequestStatus, RequestType, User, now,
};
use crate::store::{certificates, orders, requests, users};

/// Longest free-text comment accepted anywhere.
pub(crate) const MAX_COMMENT_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
}

impl Decision {
    /// The status a request so decided gets.
    pub(super) fn status(self) -> RequestStatus {
        match self {
            Decision::Approve => RequestStatus::Approved,
            Decision::Reject => RequestStatus::Rejected,
        }
    }
}

/// The audit entry of a decision on `request`, just recorded.
pub(super) fn record_decision(
    conn: &mut Conn,
    ctx: Context<'_>,
    request: &Request,
    decision: Decision,
    processor_comment: Option<&str>,
) -> ServiceResult<()> {
    let action = match decision {
        Decision::Approve => AuditAction::RequestApproved,
        Decision::Reject => AuditAction::RequestRejected,
    };
    audit::record(
        conn,
        Some(ctx),
        action,
        (AuditObject::Request, request.id),
        json!({"type": request.kind.as_str(), "processor_comment": processor_comment}),
    )
}

/// A request with the people and objects its details name.
pub(crate) struct RequestView {
    pub request: Request,
    pub requester: User,
    pub processor: Option<User>,
    pub order: Order,
    /// The certificate the request is about: a revoke's target, else the
    /// order's current certificate (none before a new order is issued).
    pub certificate: Option<Certificate>,
}

impl Service {
    pub(crate) async fn request_details(
        &self,
        ctx: Context<'_>,
        request_id: i64,
    ) -> ServiceResult<RequestView> {
        let mut conn = self.store.read().await?;
        let request = match requests::find(&mut conn, request_id).await? {
            Some(request) if ctx.is_admin() || request.requester_id == ctx.user_id() => request,
            _ => return Err(ServiceError::not_found(ErrorCode::NoSuchRequest)),
        };
        view(&mut conn, request).await
    }

    pub(crate) async fn list_requests(
        &self,
        ctx: Context<'_>,
        mut filter: RequestFilter,
        sort: RequestSort,
        page: Page,
    ) -> ServiceResult<(Vec<RequestView>, i64)> {
        filter.requester_id = ctx.visible_owner();
        let mut conn = self.store.read().await?;
        let (found, total) = requests::list(&mut conn, &filter, sort, page).await?;
        Ok((views(&mut conn, found).await?, total))
    }

    /// Approves or rejects a pending request. Of concurrent decisions on one
    /// request exactly one succeeds; the others get 409.
    pub(crate) async fn decide(
        &self,
        ctx: Context<'_>,
        request_id: i64,
        decision: Decision,
        processor_comment: Option<&str>,
    ) -> ServiceResult<()> {
        ctx.require_admin("approve or reject requests")?;
        check_comments("processor_comment", processor_comment)?;
        // A request never changes order, type or reason, so reading them
        // needs no transaction and stays out of the (on SQLite, single)
        // writer's turn.
        let asked = {
            let mut conn = self.store.read().await?;
            requests::find(&mut conn, request_id)
                .await?
                .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchRequest))?
        };
        if decision == Decision::Approve && self.approval_rules.distinct_approver {
            ctx.require_other_than(asked.requester_id, "approve this request")?;
        }
        if decision == Decision::Approve
            && let Some(batcher) = self.revocation_batcher.get()
            && let Some(certificate_id) = batchable_approval(&asked)
        {
            let comment = processor_comment.map(str::to_owned);
            return batcher.approve(ctx, asked, certificate_id, comment).await;
        }
        self.decide_alone(ctx, &asked, decision, processor_comment)
            .await
    }

    /// Approves or rejects `asked` in a transaction of its own.
    pub(super) async fn decide_alone(
        &self,
        ctx: Context<'_>,
        asked: &Request,
        decision: Decision,
        processor_comment: Option<&str>,
    ) -> ServiceResult<()> {
        // The order's lock first, as every writer of an order takes it (after
        // the key lock an approval needs, see `blocked_keys`); then the
        // request's state as it is under that lock.
        let mut tx = self.store.write().await?;
        if decision == Decision::Approve {
            blocked_keys::lock_for_approval(&mut tx, asked).await?;
        }
        orders::lock(&mut tx, asked.order_id).await?;
        let request = requests::find(&mut tx, asked.id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchRequest))?;
        if request.status != RequestStatus::Pending {
            return Err(not_pending(request.id, Some(request.status)));
        }
        if !requests::close(
            &mut tx,
            request.id,
            decision.status(),
            Some(ctx.user_id()),
            processor_comment,
            now(),
        )
        .await?
        {
            return Err(not_pending(request.id, None));
        }
        record_decision(&mut tx, ctx, &request, decision, processor_comment)?;
        let revoked = match decision {
            Decision::Approve => self.carry_out(&mut tx, ctx, &request).await?,
            Decision::Reject => {
                undo_pending_state(&mut tx, &request).await?;
                Vec::new()
            }
        };
        self.commit_with_request_event(tx, request.id).await?;
        self.revocation_committed(&revoked, request.revocation_reason);
        Ok(())
    }

    async fn carry_out(
        &self,
        conn: &mut Conn,
        ctx: Context<'_>,
        request: &Request,
    ) -> ServiceResult<Vec<RevokedSerial>> {
        match request.kind {
            RequestType::Revoke => apply_revocation(conn, Some(ctx), request, None).await,
            RequestType::NewRequest => {
                let order = visible_order(conn, ctx, request.order_id).await?;
                let csr = stored_csr(&order.csr)?;
                blocked_keys::refuse_blocked_key(conn, &csr, Some(request)).await?;
                let leaf = LeafRequest {
                    csr: &csr,
                    csr_pem: &order.csr,
                    common_name: &order.common_name,
                    dns_names: &order.dns_names,
                };
                self.issue_into(conn, Some(ctx), &order, leaf).await?;
                orders::set_status(conn, order.id, OrderStatus::Issued).await?;
                Ok(Vec::new())
            }
            RequestType::Reissue => {
                let order = visible_order(conn, ctx, request.order_id).await?;
                let spec = request.reissue.as_ref().ok_or_else(|| {
                    ServiceError::Internal(format!("reissue request {} has no CSR", request.id))
                })?;
                let csr = stored_csr(&spec.csr)?;
                blocked_keys::refuse_blocked_key(conn, &csr, Some(request)).await?;
                // The certificate being replaced stays valid unless revoked.
                set_order_and_current_certificate(
                    conn,
                    order.id,
                    OrderStatus::Issued,
                    CertificateStatus::Issued,
                )
                .await?;
                let leaf = LeafRequest {
                    csr: &csr,
                    csr_pem: &spec.csr,
                    common_name: &spec.common_name,
                    dns_names: &spec.dns_names,
                };
                self.issue_into(conn, Some(ctx), &order, leaf).await?;
                Ok(Vec::new())
            }
        }
    }
}

/// How a new request starts: waiting for an administrator, or approved at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Approval {
    Pending,
    /// By the operator's `--auto-approve` setting: no processor.
    Automatic,
    /// By its administrator requester's `skip_approval`: the requester is
    /// the processor.
    Skipped,
}

impl Approval {
    /// `skip_approval` is for administrators only (the one place that says
    /// so); without it, `auto_approved` (the operator's setting for this kind
    /// of request) decides.
    pub(super) fn of(
        ctx: Context<'_>,
        skip_approval: bool,
        auto_approved: bool,
    ) -> ServiceResult<Approval> {
        if skip_approval {
            ctx.require_admin("use skip_approval")?;
            return Ok(Approval::Skipped);
        }
        Ok(if auto_approved {
            Approval::Automatic
        } else {
            Approval::Pending
        })
    }

    pub(super) fn approved(self) -> bool {
        self != Approval::Pending
    }
}

/// A request record made by `ctx`, of the kind `NewRequest` unless the
/// caller says otherwise.
pub(super) fn new_request(ctx: Context<'_>, order_id: i64, approval: Approval) -> NewRequest {
    NewRequest {
        kind: RequestType::NewRequest,
        status: if approval.approved() {
            RequestStatus::Approved
        } else {
            RequestStatus::Pending
        },
        order_id,
        certificate_id: None,
        requester_id: ctx.user_id(),
        processor_id: (approval == Approval::Skipped).then_some(ctx.user_id()),
        comments: None,
        revocation_reason: None,
        reissue: None,
        created_at: now(),
    }
}

/// What a caller is starting on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    Revoke,
    Reissue,
}

/// An order carries one request at a time: a revoke or a reissue waits until
/// the pending request is decided (or, for a reissue, canceled).
pub(super) fn check_no_pending_request(
    order_id: i64,
    pending: Option<&PendingRequest>,
    attempt: Attempt,
) -> ServiceResult<()> {
    let Some(pending) = pending else {
        return Ok(());
    };
    let id = pending.id;
    Err(match (pending.kind, attempt) {
        (RequestType::Revoke, Attempt::Revoke) => ServiceError::refused(
            ErrorCode::RevokeRequestPending,
            format!(
                "Revoke request {id} for order {order_id} is already pending; approve or reject it."
            ),
        ),
        (RequestType::Revoke, Attempt::Reissue) => ServiceError::refused(
            ErrorCode::RevokeRequestPending,
            format!(
                "Revoke request {id} for order {order_id} is pending; approve or reject it before \
                 reissuing."
            ),
        ),
        (RequestType::Reissue, Attempt::Revoke) => ServiceError::refused(
            ErrorCode::ReissuePending,
            format!(
                "Order {order_id} has a pending reissue (request {id}); cancel the reissue or \
                 revoke after it completes."
            ),
        ),
        (RequestType::Reissue, Attempt::Reissue) => ServiceError::refused(
            ErrorCode::ReissuePending,
            format!("Reissue request {id} for order {order_id} is already pending."),
        ),
        (RequestType::NewRequest, _) => ServiceError::refused(
            ErrorCode::OrderRequestPending,
            format!("Order {order_id} is waiting for approval (request {id})."),
        ),
    })
}

pub(super) fn check_comments(field: &str, comments: Option<&str>) -> ServiceResult<()> {
    match comments {
        Some(text) if text.chars().count() > MAX_COMMENT_CHARS => Err(ServiceError::refused(
            ErrorCode::CommentTooLong,
            format!("{field} may have at most {MAX_COMMENT_CHARS} characters."),
        )),
        _ => Ok(()),
    }
}

/// `status`: the state the request was found in, when it was read in the
/// same transaction (`None`: it changed under a racing decision).
pub(super) fn not_pending(request_id: i64, status: Option<RequestStatus>) -> ServiceError {
    let message = match status {
        Some(status) => format!(
            "Request {request_id} is {} already; only a pending request can be decided.",
            status.as_str()
        ),
        None => format!(
            "Request {request_id} is no longer pending; it was approved, rejected or canceled already."
        ),
    };
    ServiceError::refused(ErrorCode::RequestNotPending, message)
}

/// Stores a request with its audit entry; returns it as stored.
pub(super) async fn insert_request(
    conn: &mut Conn,
    ctx: Context<'_>,
    request: &NewRequest,
) -> ServiceResult<Request> {
    let stored = requests::insert(conn, request).await?;
    record_request_created(conn, ctx, &stored)?;
    Ok(stored)
}

/// The audit entry of a request just stored.
pub(super) fn record_request_created(
    conn: &mut Conn,
    ctx: Context<'_>,
    request: &Request,
) -> ServiceResult<()> {
    audit::record(
        conn,
        Some(ctx),
        AuditAction::RequestCreated,
        (AuditObject::Request, request.id),
        json!({
            "type": request.kind.as_str(),
            "status": request.status.as_str(),
            "order_id": request.order_id,
            "certificate_id": request.certificate_id,
            "revocation_reason": request.revocation_reason.map(|r| r.name()),
        }),
    )
}

/// The order, if it exists and the caller may see it.
pub(super) async fn visible_order(
    conn: &mut Conn,
    ctx: Context<'_>,
    order_id: i64,
) -> ServiceResult<Order> {
    ctx.visible(
        orders::find(conn, order_id).await?,
        |order| order.user_id,
        ErrorCode::NoSuchOrder,
    )
}

/// Rejection returns the order to where it was before the request.
async fn undo_pending_state(conn: &mut Conn, request: &Request) -> ServiceResult<()> {
    match request.kind {
        RequestType::Revoke => Ok(()),
        RequestType::NewRequest => {
            Ok(orders::set_status(conn, request.order_id, OrderStatus::Rejected).await?)
        }
        RequestType::Reissue => {
            set_order_and_current_certificate(
                conn,
                request.order_id,
                OrderStatus::Issued,
                CertificateStatus::Issued,
            )
            .await
        }
    }
}

/// CSRs were verified when the request was made; failing now means the
/// database holds something certd did not write.
fn stored_csr(pem: &str) -> ServiceResult<VerifiedCsr> {
    VerifiedCsr::parse_pem(pem)
        .map_err(|e| ServiceError::Internal(format!("stored CSR unusable: {e}")))
}

/// One request with the people and objects its details name.
pub(super) async fn view(conn: &mut Conn, request: Request) -> ServiceResult<RequestView> {
    let id = request.id;
    views(conn, vec![request])
        .await?
        .pop()
        .ok_or_else(|| ServiceError::Internal(format!("request {id} has no view")))
}

/// Requests with the people and objects their details name, read in a few
/// queries for the whole page: one per item would cost a round trip each on
/// PostgreSQL (a page of 25 pending requests took 5–9 ms that way).
async fn views(conn: &mut Conn, requests: Vec<Request>) -> ServiceResult<Vec<RequestView>> {
    let order_ids: Vec<i64> = requests.iter().map(|r| r.order_id).collect();
    let named: Vec<i64> = requests.iter().filter_map(|r| r.certificate_id).collect();
    let unnamed: Vec<i64> = requests
        .iter()
        .filter(|r| r.certificate_id.is_none())
        .map(|r| r.order_id)
        .collect();
    let orders = orders::find_many(conn, &order_ids).await?;
    let named = certificates::find_many(conn, &named).await?;
    let current = certificates::current_for_orders(conn, &unnamed).await?;
    let mut people = HashMap::new();
    let mut views = Vec::with_capacity(requests.len());
    for request in requests {
        let requester = person(conn, &mut people, request.requester_id).await?;
        let processor = match request.processor_id {
            Some(id) => Some(person(conn, &mut people, id).await?),
            None => None,
        };
        let order = orders.get(&request.order_id).cloned().ok_or_else(|| {
            ServiceError::Internal(format!("request {} names a missing order", request.id))
        })?;
        let certificate = match request.certificate_id {
            Some(id) => named.get(&id).cloned(),
            None => current.get(&request.order_id).cloned(),
        };
        views.push(RequestView {
            request,
            requester,
            processor,
            order,
            certificate,
        });
    }
    Ok(views)
}

async fn person(conn: &mut Conn, people: &mut HashMap<i64, User>, id: i64) -> ServiceResult<User> {
    if let Some(user) = people.get(&id) {
        return Ok(user.clone());
    }
    let user = users::find(conn, id)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("user {id} is missing")))?;
    people.insert(id, user.clone());
    Ok(user)
}
