//! The approval workflow: listing requests and approving or rejecting them.

use std::collections::HashMap;

use crate::store::Conn;
use serde_json::json;

use super::orders::{LeafRequest, not_pending, set_order_and_current_certificate, visible_order};
use super::revoke::apply_revocation;
use super::{Context, RequestFilter, RequestSort, Service, ServiceError, ServiceResult, audit};
use crate::ca::VerifiedCsr;
use crate::model::RevokedSerial;
use crate::model::{
    AuditAction, AuditObject, Certificate, CertificateStatus, Order, OrderStatus, Page, Request,
    RequestStatus, RequestType, User, now,
};
use crate::store::{certificates, orders, requests, users};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// A request with the people and objects its details name.
pub struct RequestView {
    pub request: Request,
    pub requester: User,
    pub processor: Option<User>,
    pub order: Order,
    /// The certificate the request is about: a revoke's target, else the
    /// order's current certificate (none before a new order is issued).
    pub certificate: Option<Certificate>,
}

impl Service {
    pub async fn request_details(
        &self,
        ctx: Context<'_>,
        request_id: i64,
    ) -> ServiceResult<RequestView> {
        let mut conn = self.store.read().await?;
        let request = match requests::find(&mut conn, request_id).await? {
            Some(request) if ctx.is_admin() || request.requester_id == ctx.user_id() => request,
            _ => return Err(ServiceError::not_found("request")),
        };
        view(&mut conn, &mut HashMap::new(), request).await
    }

    pub async fn list_requests(
        &self,
        ctx: Context<'_>,
        mut filter: RequestFilter,
        sort: RequestSort,
        page: Page,
    ) -> ServiceResult<(Vec<RequestView>, i64)> {
        filter.requester_id = ctx.visible_owner();
        let mut conn = self.store.read().await?;
        let (found, total) = requests::list(&mut conn, &filter, sort, page).await?;
        let mut people = HashMap::new();
        let mut views = Vec::with_capacity(found.len());
        for request in found {
            views.push(view(&mut conn, &mut people, request).await?);
        }
        Ok((views, total))
    }

    /// Approves or rejects a pending request. Of concurrent decisions on one
    /// request exactly one succeeds; the others get 409.
    pub async fn decide(
        &self,
        ctx: Context<'_>,
        request_id: i64,
        decision: Decision,
        processor_comment: Option<&str>,
    ) -> ServiceResult<()> {
        ctx.require_admin("approve or reject requests")?;
        super::orders::check_comments("processor_comment", processor_comment)?;
        // A request never changes order, so finding its order needs no
        // transaction and stays out of the (on SQLite, single) writer's turn.
        let order_id = {
            let mut conn = self.store.read().await?;
            requests::find(&mut conn, request_id)
                .await?
                .ok_or_else(|| ServiceError::not_found("request"))?
                .order_id
        };
        // The order's lock first, as every writer of an order takes it; then
        // the request's state as it is under that lock.
        let mut tx = self.store.write().await?;
        orders::lock(&mut tx, order_id).await?;
        let request = requests::find(&mut tx, request_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("request"))?;
        let (status, action) = match decision {
            Decision::Approve => (RequestStatus::Approved, AuditAction::RequestApproved),
            Decision::Reject => (RequestStatus::Rejected, AuditAction::RequestRejected),
        };
        if request.status != RequestStatus::Pending {
            return Err(not_pending(request.id, Some(request.status)));
        }
        if !requests::close(
            &mut tx,
            request.id,
            status,
            Some(ctx.user_id()),
            processor_comment,
            now(),
        )
        .await?
        {
            return Err(not_pending(request.id, None));
        }
        audit::record(
            &mut tx,
            Some(ctx),
            action,
            (AuditObject::Request, request.id),
            json!({"type": request.kind.as_str(), "processor_comment": processor_comment}),
        )?;
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

    /// What approval of each request type does; returns the certificates it
    /// revoked.
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
                // The certificate being replaced stays valid unless revoked.
                set_order_and_current_certificate(
                    conn,
                    order.id,
                    OrderStatus::Issued,
                    CertificateStatus::Issued,
                )
                .await?;
                let csr = stored_csr(&spec.csr)?;
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

pub(super) async fn view(
    conn: &mut Conn,
    people: &mut HashMap<i64, User>,
    request: Request,
) -> ServiceResult<RequestView> {
    let requester = person(conn, people, request.requester_id).await?;
    let processor = match request.processor_id {
        Some(id) => Some(person(conn, people, id).await?),
        None => None,
    };
    let order = orders::find(conn, request.order_id).await?.ok_or_else(|| {
        ServiceError::Internal(format!("request {} names a missing order", request.id))
    })?;
    let certificate = match request.certificate_id {
        Some(id) => certificates::find(conn, id).await?,
        None => certificates::current_for_order(conn, order.id).await?,
    };
    Ok(RequestView {
        request,
        requester,
        processor,
        order,
        certificate,
    })
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
