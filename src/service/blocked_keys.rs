//! Blocked keys (contract section 8, on every path): a certificate revoked
//! for keyCompromise blocks its public key, identified by the SHA-256 of its
//! SubjectPublicKeyInfo. In the same transaction every other unexpired
//! certificate with that key is revoked for keyCompromise too (each with its
//! own audit entry naming the certificate that blocked the key), and from
//! then on no order, reissue, approval or ACME finalize certifies the key.
//!
//! Locks, on PostgreSQL (SQLite has one writer at a time, so none are
//! needed there). Blocking a key writes to certificates of other orders, so
//! it takes those orders' locks, which every writer of an order takes; a
//! transaction holding one order's lock must then not wait for another's
//! while a second blocker waits the other way round. And an issuance that
//! checked the key just before the block committed must not slip through.
//! Both come from one advisory lock ([`store::blocked_keys::lock`]), taken
//! before any order's lock: exclusive by a keyCompromise revocation, shared
//! by every transaction that may issue a certificate. Blockers therefore
//! take turns, and while one runs nothing issues; the order locks it then
//! waits for are held only by writers that wait for nothing it holds.

use serde_json::json;

use super::{Context, Service, ServiceError, ServiceResult, audit};
use crate::ca::{VerifiedCsr, spki_sha256_of_pem};
use crate::codes::ErrorCode;
use crate::model::{
    AuditAction, AuditObject, Certificate, Page, Request, RequestType, RevocationReason,
    RevokedSerial,
};
use crate::store::blocked_keys::{self, BlockedKey};
use crate::store::{Conn, Store, certificates, feed, orders};

/// Takes the lock every transaction that may issue a certificate holds
/// (shared), before any order's lock. [`check_keys_not_blocked`] takes it too.
pub(crate) async fn lock_for_issuance(conn: &mut Conn) -> ServiceResult<()> {
    Ok(blocked_keys::lock(conn, false).await?)
}

/// Takes the lock a keyCompromise revocation holds (exclusive), before any
/// order's lock: call it first in a transaction that may revoke for
/// keyCompromise ([`super::revoke::apply_revocation`] takes it again, which
/// is harmless, but taken only there it could deadlock on PostgreSQL).
pub(crate) async fn lock_for_key_compromise(conn: &mut Conn) -> ServiceResult<()> {
    Ok(blocked_keys::lock(conn, true).await?)
}

/// The locks an approval of `request` needs before its order's lock.
pub(super) async fn lock_for_approval(conn: &mut Conn, request: &Request) -> ServiceResult<()> {
    match request.kind {
        RequestType::NewRequest | RequestType::Reissue => lock_for_issuance(conn).await,
        RequestType::Revoke
            if request.revocation_reason == Some(RevocationReason::KeyCompromise) =>
        {
            lock_for_key_compromise(conn).await
        }
        RequestType::Revoke => Ok(()),
    }
}

/// Checks each CSR's key: a blocked one is refused with 400
/// `invalid_csr|key_blocked`; the outcome of each, in their order (an `Err`
/// of the whole means the transaction failed). Takes the issuance lock
/// first (see the module's documentation), so call it before taking any
/// order's lock, in the transaction that will write the certificates or the
/// orders. Every new order goes through it, from REST or ACME.
pub(super) async fn check_keys_not_blocked(
    conn: &mut Conn,
    csrs: &[&VerifiedCsr],
) -> ServiceResult<Vec<ServiceResult<()>>> {
    lock_for_issuance(conn).await?;
    let keys: Vec<String> = csrs.iter().map(|csr| csr.spki_sha256()).collect();
    let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
    let blocked = blocked_keys::find_many(conn, &wanted).await?;
    Ok(keys
        .iter()
        .map(
            |key| match blocked.iter().find(|block| &block.spki_sha256 == key) {
                Some(block) => Err(key_blocked(block, None)),
                None => Ok(()),
            },
        )
        .collect())
}

/// [`check_keys_not_blocked`] for one CSR, in a transaction that took the issuance lock
/// already; `request`: the request being approved, which the message names.
pub(super) async fn refuse_blocked_key(
    conn: &mut Conn,
    csr: &VerifiedCsr,
    request: Option<&Request>,
) -> ServiceResult<()> {
    match blocked_keys::find(conn, &csr.spki_sha256()).await? {
        Some(block) => Err(key_blocked(&block, request)),
        None => Ok(()),
    }
}

/// The refusal of a CSR (of `request`, if given) whose key `block` blocks.
fn key_blocked(block: &BlockedKey, request: Option<&Request>) -> ServiceError {
    let why = format!(
        "revoked for key compromise (certificate {}) and is blocked: certd will not certify it \
         again",
        block.certificate_id
    );
    let message = match request {
        None => format!("This CSR's public key was {why}. Make a new key and a new CSR."),
        Some(request) => format!(
            "Request {} cannot be approved: its CSR's public key was {why}. Reject it; a new \
             order or reissue needs a new key.",
            request.id
        ),
    };
    ServiceError::refused(ErrorCode::KeyBlocked, message)
}

/// Whether the key of `certificate` is blocked (RFC 9773 renewal
/// information tells its holder to renew at once).
pub(crate) async fn key_is_blocked(
    conn: &mut Conn,
    certificate: &Certificate,
) -> ServiceResult<bool> {
    Ok(match certificate.spki_sha256.as_deref() {
        Some(spki_sha256) => blocked_keys::find(conn, spki_sha256).await?.is_some(),
        None => false,
    })
}

/// Blocks the key of `certificate`, which the caller has just revoked for
/// keyCompromise in this transaction (request `request_id`), and revokes
/// every other unexpired certificate with that key for keyCompromise, each
/// audited; returns those, for publication once the transaction commits.
pub(super) async fn block_key_of(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    certificate: &Certificate,
    request_id: i64,
    at: i64,
) -> ServiceResult<Vec<RevokedSerial>> {
    let Some(spki_sha256) = certificate.spki_sha256.as_deref() else {
        tracing::warn!(
            certificate_id = certificate.id,
            "revoked for keyCompromise, but its key is unknown (its PEM could not be read): \
             no key blocked"
        );
        return Ok(Vec::new());
    };
    lock_for_key_compromise(conn).await?;
    let key = BlockedKey {
        spki_sha256: spki_sha256.to_string(),
        certificate_id: certificate.id,
        created_at: at,
    };
    // A key compromised before keeps its first block, which the revocations
    // below name.
    let block = if blocked_keys::insert(conn, &key).await? {
        audit::record(
            conn,
            ctx,
            AuditAction::KeyBlocked,
            (AuditObject::Certificate, certificate.id),
            json!({"spki_sha256": spki_sha256, "request_id": request_id}),
        )?;
        key
    } else {
        blocked_keys::find(conn, spki_sha256).await?.unwrap_or(key)
    };

    // Every writer of an order holds its lock: take those of the orders
    // whose certificates change, in ascending order, then read the
    // certificates again under them.
    let mut sharing =
        certificates::compromised_by_key(conn, spki_sha256, certificate.id, at).await?;
    if sharing.is_empty() {
        return Ok(Vec::new());
    }
    if conn.is_postgres() {
        let mut order_ids: Vec<i64> = sharing.iter().map(|c| c.order_id).collect();
        order_ids.sort_unstable();
        order_ids.dedup();
        for order_id in order_ids {
            orders::lock(conn, order_id).await?;
        }
        sharing = certificates::compromised_by_key(conn, spki_sha256, certificate.id, at).await?;
    }
    let reason = RevocationReason::KeyCompromise;
    let mut revoked = Vec::with_capacity(sharing.len());
    for other in sharing {
        // One revoked earlier for another reason keeps its time and takes
        // keyCompromise (contract 4.3).
        certificates::revoke(conn, other.id, at, reason).await?;
        audit::record(
            conn,
            ctx,
            AuditAction::CertificateRevoked,
            (AuditObject::Certificate, other.id),
            json!({
                "reason": reason.name(),
                "key_blocked_by_certificate": block.certificate_id,
                "spki_sha256": spki_sha256,
                "request_id": request_id,
            }),
        )?;
        let notice = RevokedSerial {
            serial_number: other.serial_number,
            crl_shard: other.crl_shard,
        };
        feed::announce(conn, std::slice::from_ref(&notice)).await?;
        revoked.push(notice);
    }
    tracing::info!(
        certificate_id = block.certificate_id,
        revoked = revoked.len(),
        "key blocked: revoked the other certificates with the same key for keyCompromise"
    );
    Ok(revoked)
}

impl Service {
    /// `GET /blocked-key`: administrators only, newest first.
    pub(crate) async fn blocked_keys(
        &self,
        ctx: Context<'_>,
        page: Page,
    ) -> ServiceResult<(Vec<BlockedKey>, i64)> {
        ctx.require_admin("list blocked keys")?;
        let mut conn = self.store.read().await?;
        Ok(blocked_keys::list(&mut conn, page).await?)
    }
}

/// Certificates a pass of [`fill_missing_key_hashes`] reads and updates at once.
const FILL_BATCH: i64 = 500;

/// What [`fill_missing_key_hashes`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilledKeyHashes {
    pub filled: u64,
    /// Certificates whose PEM could not be read: marked `''`, a key no
    /// certificate matches.
    pub unreadable: u64,
}

/// Records the key hash of certificates issued before certd kept it
/// (`certd serve` calls this at start-up, before it serves), in batches of
/// their own transactions; one indexed lookup when there are none.
pub(crate) async fn fill_missing_key_hashes(store: &Store) -> ServiceResult<FilledKeyHashes> {
    let mut done = FilledKeyHashes::default();
    let mut after = 0;
    loop {
        let batch = {
            let mut conn = store.read_bulk().await?;
            certificates::missing_spki(&mut conn, after, FILL_BATCH).await?
        };
        let Some(&(last, _)) = batch.last() else {
            return Ok(done);
        };
        after = last;
        let hashes: Vec<(i64, String)> = batch
            .into_iter()
            .map(|(id, pem)| match spki_sha256_of_pem(&pem) {
                Ok(hash) => {
                    done.filled += 1;
                    (id, hash)
                }
                Err(_) => {
                    done.unreadable += 1;
                    (id, String::new())
                }
            })
            .collect();
        let mut tx = store.write().await?;
        certificates::set_spki_many(&mut tx, &hashes).await?;
        tx.commit().await?;
    }
}
