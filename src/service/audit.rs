//! Writing and reading the audit log.

use crate::store::Conn;
use serde_json::Value;

use super::{Context, Service, ServiceResult};
use crate::model::{AuditAction, AuditEntry, AuditObject, Page, now};
use crate::store::audit::{self, NewAuditEntry};

/// Records one entry in the caller's write transaction; it is written when
/// the transaction commits, so the change and its record commit together or
/// not at all.
pub(super) fn record(
    conn: &mut Conn,
    ctx: Option<Context<'_>>,
    action: AuditAction,
    object: (AuditObject, i64),
    details: Value,
) -> ServiceResult<()> {
    let entry = NewAuditEntry {
        actor_id: ctx.map(|c| c.user_id()),
        action,
        object_type: object.0,
        object_id: object.1,
        request_id: ctx.and_then(|c| c.request_id).map(str::to_string),
        details,
        created_at: now(),
    };
    audit::queue(conn, entry)?;
    Ok(())
}

impl Service {
    pub(crate) async fn audit_log(
        &self,
        ctx: Context<'_>,
        action: Option<&str>,
        page: Page,
    ) -> ServiceResult<(Vec<AuditEntry>, i64)> {
        ctx.require_admin("read the audit log")?;
        let mut conn = self.store.read().await?;
        Ok(audit::list(&mut conn, action, page).await?)
    }
}
