//! Revocation: of one certificate (the seed endpoint) or of a whole order.

use crate::codes::ErrorCode;
use crate::store::Conn;
use serde_json::json;

use super::reasons::{check_reason_permitted, check_revocable};
use super::requests::{
    Approval, Attempt, check_comments, check_no_pending_request, insert_request, new_request,
};
use super::revoke_batch;
use super::{Context, RequestView, Service, ServiceError, ServiceResult, audit, blocked_keys};
use crate::model::{
    AuditAction, AuditObject, Certificate, CertificateRef, CertificateStatus, NewRequest, Order,
    OrderStatus, PendingRequest, Request, RequestType, RevocationReason, RevokedSerial, now,
};
use crate::store::{certificates, feed, orders};

#[derive(Debug, Clone)]
pub(crate) enum RevokeTarget {
    Certificate(CertificateRef),
    Order(i64),
}

#[derive(Clone)]
pub(crate) struct RevokeInput {
    pub comments: Option<String>,
    pub skip_approval: bool,
    pub reason: RevocationReason,
}

pub(crate) enum RevokeOutcome {
    /// A request was recorded (201): pending, or approved by the operator's
    /// auto-approval setting.
    Requested(Box<RequestView>),
    /// Revoked at once (204).
    Revoked,
}

impl Service {
    pub(crate) async fn certificate(
        &self,
        ctx: Context<'_>,
        reference: &CertificateRef,
    ) -> ServiceResult<Certificate> {
        let mut conn = self.store.read().await?;
        Ok(visible_certificate(&mut conn, ctx, reference).await?.0)
    }

    /// Revokes a certificate or an order, or records a request to. A
    /// revocation of one certificate (what incident scripts send by the
    /// thousand) joins others in one transaction where `certd serve`
    /// batches them (see `revoke_batch`).
    pub(crate) async fn revoke(
        &self,
        ctx: Context<'_>,
        target: RevokeTarget,
        input: RevokeInput,
    ) -> ServiceResult<RevokeOutcome> {
        check_comments("comments", input.comments.as_deref())?;
        match target {
            RevokeTarget::Certificate(reference) if revoke_batch::batchable(&input) => {
                match self.revocation_batcher.get() {
                    Some(batcher) => batcher.revoke(ctx, reference, input).await,
                    None => {
                        self.revoke_alone(ctx, RevokeTarget::Certificate(reference), input)
                            .await
                    }
                }
            }
            target => self.revoke_alone(ctx, target, input).await,
        }
    }

    /// One revocation in a transaction of its own.
    pub(super) async fn revoke_alone(
        &self,
        ctx: Context<'_>,
        target: RevokeTarget,
        input: RevokeInput,
    ) -> ServiceResult<RevokeOutcome> {
        let mut tx = self.store.write().await?;
        if input.reason == RevocationReason::KeyCompromise {
            // Before the order's lock: blocking the key may lock others.
            blocked_keys::lock_for_key_compromise(&mut tx).await?;
        }
        let (order, certificate, pending) = revocation_target(&mut tx, ctx, &target).await?;
        let approval = check_revocation(
            ctx,
            &input,
            self.auto_approve.revokes,
            &order,
            certificate.as_ref(),
            pending.as_ref(),
        )?;
        let request = revoke_request(ctx, order.id, certificate.as_ref(), input, approval);
        let stored = insert_request(&mut tx, ctx, &request).await?;
        let revoked = if approval.approved() {
            apply_revocation(&mut tx, Some(ctx), &stored, certificate.clone()).await?
        } else {
            Vec::new()
        };
        self.commit_with_request_events(tx, &[stored.id]).await?;
        self.revocation_committed(&revoked, stored.revocation_reason);
        // An administrator's skip is the seed's 204; an operator's auto-approval
        // still answers with the (already approved) request, as clients that
        // never send skip_approval expect a 201 request object.
        if approval == Approval::Skipped {
            return Ok(RevokeOutcome::Revoked);
        }
        Ok(RevokeOutcome::Requested(Box::new(RequestView {
            request: stored,
            requester: ctx.caller.user.clone(),
            processor: None,
            order,
            certificate,
        })))
    }
}

/// The rules a revocation must pass, on the state read under the order's
/// lock (`certificate` is `None` for a whole order): returns how it is
/// approved.
pub(super) fn check_revocation(
    ctx: Context<'_>,
    input: &RevokeInput,
    auto_approved: bool,
    order: &Order,
    certificate: Option<&Certificate>,
    pending: Option<&PendingRequest>,
) -> ServiceResult<Approval> {
    let approval = Approval::of(ctx, input.skip_approval, auto_approved)?;
    check_reason_permitted(ctx, input.reason)?;
    match certificate {
        Some(certificate) => check_revocable(certificate, input.reason)?,
        None => check_order_revocable(order)?,
    }
    check_no_pending_request(order.id, pending, Attempt::Revoke)?;
    Ok(approval)
}

/// The revoke request a revocation records.
pub(super) fn revoke_request(
    ctx: Context<'_>,
    order_id: i64,
    certificate: Option<&Certificate>,
    input: RevokeInput,
    approval: Approval,
) -> NewRequest {
    NewRequest {
        kind: RequestType::Revoke,
        certificate_id: certificate.map(|c| c.id),
        comments: input.comments,
        revocation_reason: Some(input.reason),
        ..new_request(ctx, order_id, approval)
    }
}

/// What a revocation works on, read under the order's lock: the order, the
/// certificate (none when the whole order is revoked) and the order's
/// pending request, if the caller may see them.
async fn revocation_target(
    conn: &mut Conn,
    ctx: Context<'_>,
    target: &RevokeTarget,
) -> ServiceResult<(Order, Option<Certificate>, Option<PendingRequest>)> {
    // Take the order's lock first, then read its state afresh under it.
    let (certificate, order_id, missing) = match target {
        RevokeTarget::Certificate(reference) => {
            certificates::lock_order_of(conn, reference).await?;
            let certificate = find_certificate(conn, reference)
                .await?
                .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))?;
            let order_id = certificate.order_id;
            (Some(certificate), order_id, ErrorCode::NoSuchCertificate)
        }
        RevokeTarget::Order(order_id) => {
            orders::lock(conn, *order_id).await?;
            (None, *order_id, ErrorCode::NoSuchOrder)
        }
    };
    let (order, pending) = ctx.visible(
        orders::find_with_pending(conn, order_id).await?,
        |(order, _)| order.user_id,
        missing,
    )?;
    Ok((order, certificate, pending))
}

async fn find_certificate(
    conn: &mut Conn,
    reference: &CertificateRef,
) -> ServiceResult<Option<Certificate>> {
    Ok(match reference {
        CertificateRef::Id(id) => certificates::find(conn, *id).await?,
        CertificateRef::Serial(serial) => certificates::find_by_serial(conn, serial).await?,
    })
}

/// The certificate and its order, if the caller may see them.
async fn visible_certificate(
    conn: &mut Conn,
    ctx: Context<'_>,
    reference: &CertificateRef,
) -> ServiceResult<(Certificate, Order)> {
    let certificate = find_certificate(conn, reference)
        .await?
        .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))?;
    let order = ctx.visible(
        orders::find(conn, certificate.order_id).await?,
        |order| order.user_id,
        ErrorCode::NoSuchCertificate,
    )?;
    Ok((certificate, order))
}

fn check_order_revocable(order: &Order) -> ServiceResult<()> {
    match order.status {
        OrderStatus::Issued | OrderStatus::ReissuePending => Ok(()),
        OrderStatus::Revoked => Err(ServiceError::refused(
            ErrorCode::OrderAlreadyRevoked,
            format!("Order {} is already revoked.", order.id),
        )),
        other => Err(ServiceError::refused(
            ErrorCode::OrderNotIssued,
            format!(
                "Order {} is {other} and has no certificate to revoke.",
                order.id
            ),
        )),
    }
}

/// The reissue guard and the duplicate-request guard: nothing may be pending
/// on the order. (The schema enforces the same with a unique index.)
/// Carries out an approved revoke request: the certificate (or every
/// unrevoked certificate of the order) is revoked, with its audit entries.
/// For keyCompromise the key of each is blocked and every other certificate
/// with it revoked too (see `blocked_keys`; on PostgreSQL a transaction that
/// may revoke for keyCompromise takes `blocked_keys::lock_for_key_compromise`
/// before any order's lock). Returns what changed, for publication once the
/// transaction commits. `certificate` is the request's certificate when the
/// caller has just read it under the order's lock (it is read here
/// otherwise).
/// The audit entry of a certificate revoked by request `request_id`; returns
/// the notice its publication needs.
pub(super) fn record_revoked(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    certificate: &Certificate,
    reason: RevocationReason,
    request_id: i64,
) -> ServiceResult<RevokedSerial> {
    audit::record(
        conn,
        ctx,
        AuditAction::CertificateRevoked,
        (AuditObject::Certificate, certificate.id),
        json!({"reason": reason.name(), "request_id": request_id}),
    )?;
    Ok(RevokedSerial {
        serial_number: certificate.serial_number.clone(),
        crl_shard: certificate.crl_shard,
    })
}

pub(super) async fn apply_revocation(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    request: &Request,
    certificate: Option<Certificate>,
) -> ServiceResult<Vec<RevokedSerial>> {
    let reason = request
        .revocation_reason
        .unwrap_or(RevocationReason::Unspecified);
    let at = now();
    let targets = match (request.certificate_id, certificate) {
        (Some(id), Some(certificate)) if certificate.id == id => vec![certificate],
        (Some(certificate_id), _) => certificates::find(conn, certificate_id)
            .await?
            .into_iter()
            .collect::<Vec<_>>(),
        (None, _) => {
            orders::set_status(conn, request.order_id, OrderStatus::Revoked).await?;
            audit::record(
                conn,
                ctx,
                AuditAction::OrderRevoked,
                (AuditObject::Order, request.order_id),
                json!({"request_id": request.id}),
            )?;
            certificates::list_for_order(conn, request.order_id)
                .await?
                .into_iter()
                .filter(|c| c.status != CertificateStatus::Revoked)
                .collect()
        }
    };
    if request.certificate_id.is_some() {
        // Revoked while the request waited (its key blocked by another
        // certificate's compromise, or by ACME): 409 unless this raises the
        // reason to keyCompromise; the request stays pending, to reject.
        for certificate in &targets {
            check_revocable(certificate, reason)?;
        }
    }
    let mut revoked = Vec::with_capacity(targets.len());
    let mut compromised = Vec::new();
    for certificate in targets {
        certificates::revoke(conn, certificate.id, at, reason).await?;
        let notice = record_revoked(conn, ctx, &certificate, reason, request.id)?;
        feed::announce(conn, std::slice::from_ref(&notice)).await?;
        revoked.push(notice);
        if reason == RevocationReason::KeyCompromise {
            compromised.push(certificate);
        }
    }
    for certificate in &compromised {
        let sharing_the_key =
            blocked_keys::block_key_of(conn, ctx, certificate, request.id, at).await?;
        revoked.extend(sharing_the_key);
    }
    Ok(revoked)
}
