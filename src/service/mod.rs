//! The rules of certd: who may do what, the approval workflow, the reissue
//! guard, revocation reasons. Knows the store and the CA, never HTTP.

mod access;
mod acme;
mod audit;
mod batch;
pub(crate) mod blocked_keys;
mod campaigns;
mod deployment;
mod eab;
mod events;
mod issue_batch;
mod keys;
mod names;
mod orders;
mod reasons;
mod requests;
mod revoke;
mod revoke_batch;
mod users;

pub(crate) use crate::model::CertificateRef;
pub(crate) use access::{Caller, Context};
pub(crate) use acme::{
    AcmeOrderView, AcmeRevoker, AcmeSettings, EabPolicy, NewAccountInput, RenewalWindow,
};
pub(crate) use blocked_keys::{fill_missing_key_hashes, key_is_blocked};
pub(crate) use campaigns::{
    ApprovalRules, CampaignCreated, CampaignDecision, CampaignInput, CampaignView,
    DEFAULT_BATCH as DEFAULT_CAMPAIGN_BATCH,
};
pub(crate) use deployment::{
    DeploymentUrls, UrlOptions, settle_urls, stored_public_url, stored_publication_url,
};
pub(crate) use eab::EabCredential;
pub(crate) use events::RequestEvents;
pub(crate) use keys::KeyView;
use names::checked_acme_names;
pub(crate) use names::normalise_name;
pub(crate) use orders::{OrderPlacement, ReissueInput};
pub(crate) use reasons::{REASON_HELP, parse_reason};
#[cfg(test)]
pub(crate) use requests::MAX_COMMENT_CHARS;
pub(crate) use requests::{Decision, RequestView};
pub(crate) use revoke::{RevokeInput, RevokeOutcome, RevokeTarget};
pub(crate) use users::UserRef;
pub(crate) use users::{NewUserInput, create_user, warn_of_look_alike_users};

pub(crate) use crate::store::campaigns::CampaignCertificate;
pub(crate) use crate::store::orders::OrderFilter;
pub(crate) use crate::store::requests::{RequestFilter, RequestSort};

use crate::codes::ErrorCode;
use std::sync::Arc;

use crate::ca::{CaError, CertificateAuthority};
use crate::publish::Publisher;
use crate::store::{Store, StoreError};

/// Which request types are approved as soon as they are made (`--auto-approve`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AutoApprove {
    pub orders: bool,
    pub reissues: bool,
    pub revokes: bool,
}

pub(crate) struct Service {
    store: Arc<Store>,
    ca: Arc<CertificateAuthority>,
    /// Told of every revocation once it has committed.
    publisher: Arc<Publisher>,
    auto_approve: AutoApprove,
    /// Set when a webhook is configured; otherwise no event is written.
    events: Option<RequestEvents>,
    /// Set where ACME is served (`certd serve`).
    acme: Option<AcmeSettings>,
    /// Set where revocations are batched (`certd serve`).
    revocation_batcher: std::sync::OnceLock<revoke_batch::RevocationBatcher>,
    issuance_batcher: std::sync::OnceLock<issue_batch::IssuanceBatcher>,
    /// Who must approve what (`--campaign-approvals`, `--distinct-approver`).
    approval_rules: ApprovalRules,
    /// Wakes the campaign runner when a campaign is approved.
    campaign_wake: tokio::sync::Notify,
}

impl Service {
    pub(crate) fn new(
        store: Arc<Store>,
        ca: Arc<CertificateAuthority>,
        publisher: Arc<Publisher>,
        auto_approve: AutoApprove,
    ) -> Service {
        Service {
            store,
            ca,
            publisher,
            auto_approve,
            events: None,
            acme: None,
            revocation_batcher: std::sync::OnceLock::new(),
            issuance_batcher: std::sync::OnceLock::new(),
            approval_rules: ApprovalRules::default(),
            campaign_wake: tokio::sync::Notify::new(),
        }
    }

    /// Who must approve what, from now on.
    pub(crate) fn with_approval_rules(mut self, rules: ApprovalRules) -> Service {
        self.approval_rules = rules;
        self
    }

    pub(crate) fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The signed CRLs and OCSP answers, for the publication endpoints.
    pub(crate) fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Requests waiting for an administrator.
    pub(crate) async fn pending_request_count(&self) -> ServiceResult<i64> {
        let mut conn = self.store.read().await?;
        Ok(crate::store::requests::count_pending(&mut conn).await?)
    }

    /// After a revocation commits: publish it and count it.
    fn revocation_committed(
        &self,
        revoked: &[crate::model::RevokedSerial],
        reason: Option<crate::model::RevocationReason>,
    ) {
        if revoked.is_empty() {
            return;
        }
        self.publisher.revoked(revoked);
        let reason = reason.unwrap_or(crate::model::RevocationReason::Unspecified);
        metrics::counter!("certd_revocations_total", "reason" => reason.name())
            .increment(revoked.len() as u64);
    }

    /// SQLite's group commit counts (`None` on PostgreSQL).
    pub(crate) fn group_commit_stats(&self) -> Option<crate::store::GroupCommitStats> {
        self.store.group_commit_stats()
    }

    /// Audit entries waiting to be chained and the `created_at` of the
    /// oldest (PostgreSQL chains them shortly after they commit).
    pub(crate) async fn unsealed_audit_entries(
        &self,
    ) -> ServiceResult<(i64, Option<crate::model::UnixTime>)> {
        Ok(self.store.unsealed_audit_entries().await?)
    }

    /// True once the database answers.
    pub(crate) async fn healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ServiceError {
    #[error("the API key is missing, unknown or disabled")]
    InvalidKey,
    #[error("{0}")]
    MissingPermission(String),
    /// `code` names the kind of object (`not_found|order`), `by` what it
    /// was looked up by (`id`, `email`).
    #[error("{} not found by {by}", code.detail())]
    NotFound { code: ErrorCode, by: &'static str },
    /// Invalid input, or a state that forbids the action: the code says
    /// which (and its HTTP status).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("the database is unavailable")]
    Unavailable,
    /// The token holding the CA's keys does not answer; nothing was signed.
    #[error("the CA's signing key is unavailable")]
    SignerUnavailable,
    /// Details go to the log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }

    fn not_found(code: ErrorCode) -> Self {
        ServiceError::NotFound { code, by: "id" }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            // A failed group COMMIT stored nothing: the client may retry.
            StoreError::Unavailable(_) | StoreError::CommitFailed(_) => ServiceError::Unavailable,
            // The one unique constraint a caller can hit is "one pending request per
            // order": two callers raced and the other one won.
            StoreError::Conflict(_) => ServiceError::refused(
                ErrorCode::PendingRequestExists,
                "Another request for this order is already pending.",
            ),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<CaError> for ServiceError {
    fn from(error: CaError) -> Self {
        match error {
            CaError::InvalidCsr(message) => ServiceError::refused(ErrorCode::InvalidCsr, message),
            CaError::SignerUnavailable(message) => {
                tracing::warn!(%message, "the CA's signing key is unavailable");
                ServiceError::SignerUnavailable
            }
            CaError::Internal(message) => ServiceError::Internal(message),
        }
    }
}

pub(crate) type ServiceResult<T> = Result<T, ServiceError>;
