//! The caller of an operation and what they may see.

use super::{ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::User;

/// A user authenticated by an API key.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: User,
    /// CertCentral restriction 102: the key may only read.
    pub view_only: bool,
}

/// Who acts, and the `X-Request-ID` that the audit log records with the change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub caller: &'a Caller,
    pub request_id: Option<&'a str>,
}

impl Context<'_> {
    pub(crate) fn is_admin(&self) -> bool {
        self.caller.user.is_admin()
    }

    pub(crate) fn user_id(&self) -> i64 {
        self.caller.user.id
    }

    /// Objects owned by someone else answer "not found", exactly as if they did
    /// not exist, so ids leak nothing.
    pub(crate) fn can_see(&self, owner_id: i64) -> bool {
        self.is_admin() || owner_id == self.user_id()
    }

    /// `found`, if the caller may see it (its owner is `owner_of` it);
    /// otherwise, existing or not, "not found" with `missing`.
    pub(crate) fn visible<T>(
        &self,
        found: Option<T>,
        owner_of: impl FnOnce(&T) -> i64,
        missing: ErrorCode,
    ) -> ServiceResult<T> {
        match found {
            Some(found) if self.can_see(owner_of(&found)) => Ok(found),
            _ => Err(ServiceError::not_found(missing)),
        }
    }

    /// The owner filter of list calls: `None` (everything) for administrators.
    pub(crate) fn visible_owner(&self) -> Option<i64> {
        (!self.is_admin()).then_some(self.user_id())
    }

    /// The two-person rule: what `requester_id` asked for needs someone else.
    pub(crate) fn require_other_than(&self, requester_id: i64, action: &str) -> ServiceResult<()> {
        if requester_id != self.user_id() {
            return Ok(());
        }
        Err(ServiceError::refused(
            ErrorCode::OwnRequest,
            format!("You asked for this yourself: another administrator must {action}."),
        ))
    }

    pub(crate) fn require_admin(&self, action: &str) -> ServiceResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ServiceError::MissingPermission(format!(
                "Only an administrator's API key may {action}."
            )))
        }
    }
}
