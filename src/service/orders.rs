//! Placing orders, issuing their certificates, reissues and cancellation.

use crate::codes::ErrorCode;
use crate::store::Conn;
use serde_json::json;

use super::requests::{
    Approval, Attempt, check_comments, check_no_pending_request, insert_request, new_request,
    not_pending, record_request_created, visible_order,
};
use super::{
    Context, Service, ServiceError, ServiceResult, audit, blocked_keys, names::checked_names,
};
use crate::ca::{IssuedCertificate, LeafProfile, VerifiedCsr};
use crate::model::{
    AuditAction, AuditObject, Certificate, CertificateStatus, NewRequest, Order, OrderStatus, Page,
    PendingRequest, Product, ReissueSpec, Request, RequestStatus, RequestType, now,
};
use crate::store::orders::{NewOrder, OrderFilter};
use crate::store::{certificates, orders, requests};

/// No certificate is valid for longer than this (CA/Browser Forum limit).
pub(super) const MAX_CERTIFICATE_DAYS: i64 = 397;
/// Longest order (multi-year plan); each certificate within it is still capped.
pub(super) const MAX_ORDER_DAYS: i64 = 6 * 365;
/// The only signature algorithm certd's ECDSA P-256 CA produces.
const CA_SIGNATURE_HASH: &str = "sha256";
const SECONDS_PER_DAY: i64 = 86_400;

pub(crate) struct OrderPlacement {
    pub product: Product,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub csr: String,
    pub signature_hash: Option<String>,
    pub validity_days: i64,
    pub skip_approval: bool,
    pub comments: Option<String>,
}

pub(crate) struct PlacedOrder {
    pub order_id: i64,
    pub certificate_id: Option<i64>,
    pub request_id: i64,
    pub request_status: RequestStatus,
}

pub(crate) struct ReissueInput {
    pub csr: String,
    pub common_name: Option<String>,
    pub dns_names: Option<Vec<String>>,
    pub signature_hash: Option<String>,
    pub skip_approval: bool,
    pub comments: Option<String>,
}

/// What to put into a new certificate.
pub(super) struct LeafRequest<'a> {
    pub csr: &'a VerifiedCsr,
    pub csr_pem: &'a str,
    pub common_name: &'a str,
    pub dns_names: &'a [String],
}

/// An order with its current certificate and its requests.
pub(crate) struct OrderView {
    pub order: Order,
    pub certificate: Option<Certificate>,
    pub requests: Vec<Request>,
}

/// certd signs with SHA-256 whatever the order asks for; the request may
/// still name any hash CertCentral accepts.
fn check_signature_hash(requested: Option<&str>) -> ServiceResult<String> {
    match requested {
        None => Ok(CA_SIGNATURE_HASH.into()),
        Some(hash)
            if ["sha256", "sha384", "sha512"]
                .iter()
                .any(|h| h.eq_ignore_ascii_case(hash)) =>
        {
            Ok(CA_SIGNATURE_HASH.into())
        }
        Some(hash) => Err(ServiceError::refused(
            ErrorCode::BadSignatureHash,
            format!("signature_hash {hash:?} is not one of sha256, sha384, sha512."),
        )),
    }
}

/// An order that passed every check (and, when approved at once, was
/// signed), ready to be written.
pub(super) struct PreparedOrder {
    product: Product,
    approval: Approval,
    common_name: String,
    dns_names: Vec<String>,
    csr: VerifiedCsr,
    csr_pem: String,
    signature_hash: String,
    validity_days: i64,
    comments: Option<String>,
    created_at: i64,
    issued: Option<IssuedCertificate>,
}

impl PreparedOrder {
    fn leaf(&self) -> LeafRequest<'_> {
        LeafRequest {
            csr: &self.csr,
            csr_pem: &self.csr_pem,
            common_name: &self.common_name,
            dns_names: &self.dns_names,
        }
    }
}

impl Service {
    /// Places an order. One approved at once (whose certificate is signed
    /// here) joins others in one transaction where `certd serve` batches
    /// them (see `issue_batch`).
    pub(crate) async fn place_order(
        &self,
        ctx: Context<'_>,
        placement: OrderPlacement,
    ) -> ServiceResult<PlacedOrder> {
        let prepared = self.prepare_order(ctx, placement)?;
        match self.issuance_batcher.get() {
            Some(batcher) if prepared.issued.is_some() => batcher.run(ctx, prepared).await,
            _ => self.place_prepared_order(ctx, &prepared).await,
        }
    }

    /// Writes a prepared order in a transaction of its own.
    pub(super) async fn place_prepared_order(
        &self,
        ctx: Context<'_>,
        prepared: &PreparedOrder,
    ) -> ServiceResult<PlacedOrder> {
        let mut tx = self.store.write().await?;
        let placed = write_order(&mut tx, ctx, prepared).await?;
        self.commit_with_request_event(tx, placed.request_id)
            .await?;
        Ok(placed)
    }

    /// Every check of a new order, and its signature when it is approved at
    /// once: done before the write starts, since on SQLite the writer's turn
    /// is shared by everyone and none of this needs the database.
    pub(super) fn prepare_order(
        &self,
        ctx: Context<'_>,
        placement: OrderPlacement,
    ) -> ServiceResult<PreparedOrder> {
        let approval = Approval::of(ctx, placement.skip_approval, self.auto_approve.orders)?;
        check_comments("comments", placement.comments.as_deref())?;
        let signature_hash = check_signature_hash(placement.signature_hash.as_deref())?;
        if !(1..=MAX_ORDER_DAYS).contains(&placement.validity_days) {
            return Err(ServiceError::refused(
                ErrorCode::BadValidity,
                format!(
                    "The order validity must be between 1 day and {} years.",
                    MAX_ORDER_DAYS / 365
                ),
            ));
        }
        let (common_name, dns_names) = checked_names(
            placement.product,
            &placement.common_name,
            &placement.dns_names,
        )?;
        let csr = VerifiedCsr::parse_pem(&placement.csr)?;
        let created_at = now();
        let issued = approval
            .approved()
            .then(|| {
                let leaf = LeafRequest {
                    csr: &csr,
                    csr_pem: &placement.csr,
                    common_name: &common_name,
                    dns_names: &dns_names,
                };
                self.sign_leaf(created_at, placement.validity_days, &leaf)
            })
            .transpose()?;
        Ok(PreparedOrder {
            product: placement.product,
            approval,
            common_name,
            dns_names,
            csr,
            csr_pem: placement.csr,
            signature_hash,
            validity_days: placement.validity_days,
            comments: placement.comments,
            created_at,
            issued,
        })
    }

    /// Signs a certificate for `order` and stores it; returns its id.
    pub(super) async fn issue_into(
        &self,
        conn: &mut Conn,
        ctx: Option<Context<'_>>,
        order: &Order,
        leaf: LeafRequest<'_>,
    ) -> ServiceResult<i64> {
        let issued = self.sign_leaf(order.created_at, order.validity_days, &leaf)?;
        store_leaf(conn, ctx, order, &leaf, &issued).await
    }

    /// Signs a certificate for an order placed at `order_created_at`, valid
    /// to the end of the order or the longest a certificate may be.
    fn sign_leaf(
        &self,
        order_created_at: i64,
        validity_days: i64,
        leaf: &LeafRequest<'_>,
    ) -> ServiceResult<IssuedCertificate> {
        let issued_at = now();
        let order_end = order_created_at + validity_days * SECONDS_PER_DAY;
        let not_after = order_end.min(issued_at + MAX_CERTIFICATE_DAYS * SECONDS_PER_DAY);
        if not_after <= issued_at {
            return Err(ServiceError::refused(
                ErrorCode::OrderExpired,
                "The order has reached the end of its validity; place a new order.",
            ));
        }
        let profile = LeafProfile {
            common_name: leaf.common_name.to_string(),
            dns_names: leaf.dns_names.to_vec(),
            not_before: unix_to_offset(issued_at)?,
            not_after: unix_to_offset(not_after)?,
        };
        Ok(self.ca.issue(leaf.csr, &profile)?)
    }

    pub(crate) async fn order_details(
        &self,
        ctx: Context<'_>,
        order_id: i64,
    ) -> ServiceResult<OrderView> {
        let mut conn = self.store.read().await?;
        let order = visible_order(&mut conn, ctx, order_id).await?;
        let certificate = certificates::current_for_order(&mut conn, order_id).await?;
        let requests = requests::list_for_order(&mut conn, order_id).await?;
        Ok(OrderView {
            order,
            certificate,
            requests,
        })
    }

    /// A page of orders, each with its current certificate.
    pub(crate) async fn list_orders(
        &self,
        ctx: Context<'_>,
        mut filter: OrderFilter,
        page: Page,
    ) -> ServiceResult<(Vec<(Order, Option<Certificate>)>, i64)> {
        filter.user_id = ctx.visible_owner();
        let mut conn = self.store.read().await?;
        let (orders, total) = orders::list(&mut conn, &filter, page).await?;
        let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
        let mut current = certificates::current_for_orders(&mut conn, &ids).await?;
        let items = orders
            .into_iter()
            .map(|order| {
                let certificate = current.remove(&order.id);
                (order, certificate)
            })
            .collect();
        Ok((items, total))
    }

    pub(crate) async fn reissue(
        &self,
        ctx: Context<'_>,
        order_id: i64,
        input: ReissueInput,
    ) -> ServiceResult<(i64, RequestStatus)> {
        check_comments("comments", input.comments.as_deref())?;
        let signature_hash = check_signature_hash(input.signature_hash.as_deref())?;
        let csr = VerifiedCsr::parse_pem(&input.csr)?;
        let mut tx = self.store.write().await?;
        // The key lock before the order's (see `blocked_keys`).
        blocked_keys::lock_for_issuance(&mut tx).await?;
        orders::lock(&mut tx, order_id).await?;
        // Existence before permission: someone else's order is a 404 whatever the body says.
        let order = visible_order(&mut tx, ctx, order_id).await?;
        let approval = Approval::of(ctx, input.skip_approval, self.auto_approve.reissues)?;
        let common_name = input.common_name.as_deref().unwrap_or(&order.common_name);
        let dns_names = input.dns_names.as_deref().unwrap_or(&order.dns_names);
        let (common_name, dns_names) = checked_names(order.product, common_name, dns_names)?;
        check_reissuable(&order)?;
        let pending = requests::find_pending_for_order(&mut tx, order_id)
            .await?
            .map(|r| PendingRequest {
                id: r.id,
                kind: r.kind,
            });
        check_no_pending_request(order_id, pending.as_ref(), Attempt::Reissue)?;
        blocked_keys::refuse_blocked_key(&mut tx, &csr, None).await?;
        if approval.approved() {
            let leaf = LeafRequest {
                csr: &csr,
                csr_pem: &input.csr,
                common_name: &common_name,
                dns_names: &dns_names,
            };
            self.issue_into(&mut tx, Some(ctx), &order, leaf).await?;
        } else {
            set_order_and_current_certificate(
                &mut tx,
                order_id,
                OrderStatus::ReissuePending,
                CertificateStatus::ReissuePending,
            )
            .await?;
        }
        let request = NewRequest {
            kind: RequestType::Reissue,
            comments: input.comments,
            reissue: Some(ReissueSpec {
                csr: input.csr,
                common_name,
                dns_names,
                signature_hash,
            }),
            ..new_request(ctx, order_id, approval)
        };
        let request_id = insert_request(&mut tx, ctx, &request).await?.id;
        self.commit_with_request_event(tx, request_id).await?;
        Ok((request_id, request.status))
    }

    /// `PUT .../status {"status":"canceled"}`: withdraws a pending order or a
    /// pending reissue (its request becomes `rejected`).
    pub(crate) async fn cancel_order(
        &self,
        ctx: Context<'_>,
        order_id: i64,
        note: Option<&str>,
    ) -> ServiceResult<()> {
        check_comments("note", note)?;
        let mut tx = self.store.write().await?;
        orders::lock(&mut tx, order_id).await?;
        visible_order(&mut tx, ctx, order_id).await?;
        let pending = requests::find_pending_for_order(&mut tx, order_id).await?;
        let (request, action) = match pending {
            Some(request) if request.kind == RequestType::Reissue => {
                (request, AuditAction::ReissueCanceled)
            }
            Some(request) if request.kind == RequestType::NewRequest => {
                (request, AuditAction::OrderCanceled)
            }
            _ => {
                return Err(ServiceError::refused(
                    ErrorCode::NothingToCancel,
                    format!("Order {order_id} has no pending order or reissue to cancel."),
                ));
            }
        };
        if !requests::close(
            &mut tx,
            request.id,
            RequestStatus::Rejected,
            Some(ctx.user_id()),
            note,
            now(),
        )
        .await?
        {
            return Err(not_pending(request.id, None));
        }
        if request.kind == RequestType::Reissue {
            set_order_and_current_certificate(
                &mut tx,
                order_id,
                OrderStatus::Issued,
                CertificateStatus::Issued,
            )
            .await?;
        } else {
            orders::set_status(&mut tx, order_id, OrderStatus::Canceled).await?;
        }
        audit::record(
            &mut tx,
            Some(ctx),
            action,
            (AuditObject::Order, order_id),
            json!({"request_id": request.id, "note": note}),
        )?;
        self.commit_with_request_event(tx, request.id).await?;
        Ok(())
    }
}

/// Writes a prepared order, its certificate when it was signed, its request
/// and their audit entries; the caller commits.
pub(super) async fn write_order(
    tx: &mut Conn,
    ctx: Context<'_>,
    prepared: &PreparedOrder,
) -> ServiceResult<PlacedOrder> {
    let mut written = write_orders(tx, &[(ctx, prepared)]).await?;
    written.pop().unwrap_or_else(|| {
        Err(ServiceError::Internal(
            "an order written, none placed".into(),
        ))
    })
}

/// [`write_order`] for many orders, a statement per table for them all. An
/// order whose key is blocked is refused (its place in the answer holds the
/// refusal) and writes nothing; the others are written. An `Err` of the
/// whole means the transaction failed.
pub(super) async fn write_orders(
    tx: &mut Conn,
    orders: &[(Context<'_>, &PreparedOrder)],
) -> ServiceResult<Vec<ServiceResult<PlacedOrder>>> {
    // Also before any order's lock the ACME finalize may take.
    let csrs: Vec<&VerifiedCsr> = orders.iter().map(|(_, prepared)| &prepared.csr).collect();
    let checked = blocked_keys::check_keys_not_blocked(tx, &csrs).await?;
    let accepted: Vec<&(Context<'_>, &PreparedOrder)> = orders
        .iter()
        .zip(&checked)
        .filter(|(_, checked)| checked.is_ok())
        .map(|(order, _)| order)
        .collect();
    let new_orders: Vec<NewOrder<'_>> = accepted
        .iter()
        .map(|(ctx, prepared)| new_order(*ctx, prepared))
        .collect();
    let stored = orders::insert_many(tx, &new_orders).await?;
    for ((ctx, prepared), order) in accepted.iter().zip(&stored) {
        audit::record(
            tx,
            Some(*ctx),
            AuditAction::OrderCreated,
            (AuditObject::Order, order.id),
            json!({"product": prepared.product.as_str(), "common_name": prepared.common_name}),
        )?;
    }
    let certificate_ids = store_leaves(tx, &accepted, &stored).await?;
    let new_requests: Vec<NewRequest> = accepted
        .iter()
        .zip(&stored)
        .map(|((ctx, prepared), order)| NewRequest {
            kind: RequestType::NewRequest,
            comments: prepared.comments.clone(),
            ..new_request(*ctx, order.id, prepared.approval)
        })
        .collect();
    let stored_requests = requests::insert_many(tx, &new_requests).await?;
    let mut placed = Vec::with_capacity(accepted.len());
    for (((ctx, _), order), (request, certificate_id)) in accepted
        .iter()
        .zip(&stored)
        .zip(stored_requests.iter().zip(certificate_ids))
    {
        record_request_created(tx, *ctx, request)?;
        placed.push(PlacedOrder {
            order_id: order.id,
            certificate_id,
            request_id: request.id,
            request_status: request.status,
        });
    }
    // Back in the callers' order: the accepted ones were written in it.
    let mut placed = placed.into_iter();
    Ok(checked
        .into_iter()
        .map(|checked| {
            checked.and_then(|()| {
                placed
                    .next()
                    .ok_or_else(|| ServiceError::Internal("an order left unplaced".into()))
            })
        })
        .collect())
}

/// The order row of a prepared order.
fn new_order<'a>(ctx: Context<'_>, prepared: &'a PreparedOrder) -> NewOrder<'a> {
    NewOrder {
        user_id: ctx.user_id(),
        product: prepared.product,
        status: if prepared.approval.approved() {
            OrderStatus::Issued
        } else {
            OrderStatus::Pending
        },
        common_name: &prepared.common_name,
        dns_names: &prepared.dns_names,
        csr: &prepared.csr_pem,
        signature_hash: &prepared.signature_hash,
        validity_days: prepared.validity_days,
        created_at: prepared.created_at,
    }
}

/// Stores the certificates signed for `prepared` orders (now `stored`) with
/// their audit entries; returns each order's certificate id, if it has one.
async fn store_leaves(
    tx: &mut Conn,
    prepared: &[&(Context<'_>, &PreparedOrder)],
    stored: &[Order],
) -> ServiceResult<Vec<Option<i64>>> {
    let signed: Vec<(Context<'_>, &Order, LeafRequest<'_>, &IssuedCertificate)> = prepared
        .iter()
        .zip(stored)
        .filter_map(|((ctx, prepared), order)| {
            let issued = prepared.issued.as_ref()?;
            Some((*ctx, order, prepared.leaf(), issued))
        })
        .collect();
    let new: Vec<_> = signed
        .iter()
        .map(|(_, order, leaf, issued)| new_certificate(order, leaf, issued))
        .collect();
    let ids = certificates::insert_many(tx, &new).await?;
    for ((ctx, order, leaf, issued), id) in signed.iter().zip(&ids) {
        record_issued(tx, Some(*ctx), order, leaf, issued, *id)?;
    }
    let mut ids = ids.into_iter();
    Ok(prepared
        .iter()
        .map(|(_, prepared)| prepared.issued.as_ref().and_then(|_| ids.next()))
        .collect())
}

/// Stores a signed certificate of `order` with its audit entry; returns its id.
async fn store_leaf(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    order: &Order,
    leaf: &LeafRequest<'_>,
    issued: &IssuedCertificate,
) -> ServiceResult<i64> {
    let new = new_certificate(order, leaf, issued);
    let id = certificates::insert_many(conn, std::slice::from_ref(&new))
        .await?
        .pop()
        .ok_or_else(|| ServiceError::Internal("a certificate stored, no id returned".into()))?;
    record_issued(conn, ctx, order, leaf, issued, id)?;
    Ok(id)
}

/// The certificate row of a certificate signed for `order`.
fn new_certificate<'a>(
    order: &'a Order,
    leaf: &LeafRequest<'a>,
    issued: &'a IssuedCertificate,
) -> certificates::NewCertificate<'a> {
    certificates::NewCertificate {
        order_id: order.id,
        serial_number: &issued.serial_hex,
        common_name: leaf.common_name,
        dns_names: leaf.dns_names,
        csr: leaf.csr_pem,
        signature_hash: &order.signature_hash,
        pem: &issued.pem,
        valid_from: issued.not_before,
        valid_till: issued.not_after,
        crl_shard: issued.crl_shard,
        spki_sha256: &issued.spki_sha256,
        created_at: issued.not_before,
    }
}

/// The audit entry of certificate `certificate_id`, just stored.
fn record_issued(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    order: &Order,
    leaf: &LeafRequest<'_>,
    issued: &IssuedCertificate,
    certificate_id: i64,
) -> ServiceResult<()> {
    audit::record(
        conn,
        ctx,
        AuditAction::CertificateIssued,
        (AuditObject::Certificate, certificate_id),
        json!({"order_id": order.id, "serial_number": issued.serial_hex, "key": leaf.csr.key_description()}),
    )
}

/// A reissue needs an issued order.
fn check_reissuable(order: &Order) -> ServiceResult<()> {
    match order.status {
        OrderStatus::Issued | OrderStatus::ReissuePending => Ok(()),
        OrderStatus::Revoked => Err(ServiceError::refused(
            ErrorCode::OrderRevoked,
            format!(
                "Order {} is revoked; a revoked order cannot be reissued.",
                order.id
            ),
        )),
        other => Err(ServiceError::refused(
            ErrorCode::OrderNotIssued,
            format!(
                "Order {} is {other}; only an issued order can be reissued.",
                order.id
            ),
        )),
    }
}

/// Moves the order and its current certificate together (reissue start/end).
pub(super) async fn set_order_and_current_certificate(
    conn: &mut Conn,
    order_id: i64,
    order_status: OrderStatus,
    certificate_status: CertificateStatus,
) -> ServiceResult<()> {
    orders::set_status(conn, order_id, order_status).await?;
    if let Some(current) = certificates::current_for_order(conn, order_id).await?
        && current.status != CertificateStatus::Revoked
    {
        certificates::set_status(conn, current.id, certificate_status).await?;
    }
    Ok(())
}

fn unix_to_offset(time: i64) -> ServiceResult<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(time)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}
