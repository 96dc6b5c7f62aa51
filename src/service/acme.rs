//! ACME's rules (RFC 8555, RFC 9773) over certd's own: an account acts as
//! the certd user its External Account Binding names, an ACME order becomes
//! a certd order at finalize (with the same checks, approval workflow and
//! audit), and revokeCert is a certd revocation. Nothing here knows JWS or
//! HTTP: the front door (`crate::acme`) proves who signed, this decides.

use std::sync::Arc;

use rand::RngCore;
use serde_json::json;

use super::blocked_keys::lock_for_key_compromise;
use super::orders::OrderPlacement;
use super::reasons::{check_reason_permitted, check_revocable};
use super::requests::insert_request;
use super::revoke::apply_revocation;
use super::{Caller, Context, Service, ServiceError, ServiceResult, audit, checked_acme_names};
use crate::codes::ErrorCode;
use crate::model::acme::{
    Account, AccountStatus, AcmeOrder, AcmeOrderStatus, Authorization, AuthorizationStatus, CertId,
    Challenge, ChallengeStatus,
};
use crate::model::{
    AuditAction, AuditObject, Certificate, CertificateStatus, NewRequest, OrderStatus, Product,
    RequestStatus, RequestType, RevocationReason, Role, User, UserStatus, now,
};
use crate::store::acme::{self as acme_store, NewAccount, NewAuthorization};
use crate::store::{campaigns, certificates, orders, requests, users};
use crate::validation::{ChallengeKind, ValidationFailure, Validator};

/// How long a new order (and its authorizations) may wait for its
/// challenges and finalize, as Boulder's pending authorizations do.
const ORDER_LIFETIME_SECONDS: i64 = 7 * 86_400;
/// ACME certificates live 90 days, as Let's Encrypt's do: ACME clients
/// renew on their own, so short lives cost nothing.
pub(crate) const ACME_VALIDITY_DAYS: i64 = 90;
/// A validation under way longer than this was left by a stopped process
/// (each takes at most the validator's 10 s limit).
const STALLED_VALIDATION_SECONDS: i64 = 60;
/// The most identifiers one order may name (the REST API's limit).
const MAX_IDENTIFIERS: usize = 100;

/// Whether new accounts must carry an External Account Binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EabPolicy {
    Required,
    /// Accounts without one act as the built-in "ACME without external
    /// account" user (see [`UNBOUND_USER`]).
    Optional,
}

/// What `certd serve` configures for ACME.
pub(crate) struct AcmeSettings {
    pub eab: EabPolicy,
    pub validator: Arc<Validator>,
}

/// A built-in user: a requester the REST API has no key for.
struct BuiltinUser {
    email: &'static str,
    first_name: &'static str,
    last_name: &'static str,
    status: UserStatus,
}

/// Owner of the orders of accounts registered without External Account
/// Binding (`--acme-eab optional`): an ordinary user with no API key, whose
/// orders administrators see and approve like anyone's.
const UNBOUND_USER: BuiltinUser = BuiltinUser {
    email: "acme-without-external-account@certd.invalid",
    first_name: "ACME",
    last_name: "without external account",
    status: UserStatus::Active,
};

/// The requester of revocations proved with the certificate's own key
/// (RFC 8555 §7.6): whoever holds it, not any user. Disabled, so it can
/// never act through the REST API.
const KEY_HOLDER: BuiltinUser = BuiltinUser {
    email: "certificate-key-holder@certd.invalid",
    first_name: "holder of the",
    last_name: "certificate key",
    status: UserStatus::Disabled,
};

/// A new account: its key (already proved by the front door) and contact.
pub(crate) struct NewAccountInput {
    pub key_thumbprint: String,
    pub jwk: String,
    pub contact: Vec<String>,
    /// The External Account Binding's key id, its MAC already checked
    /// against [`Service::acme_eab_key`].
    pub eab_kid: Option<String>,
}

/// An order as the ACME client sees it now.
pub(crate) struct AcmeOrderView {
    pub order: AcmeOrder,
    pub status: AcmeOrderStatus,
    pub authorizations: Vec<i64>,
    /// Set once valid.
    pub certificate_id: Option<i64>,
    /// Why it is invalid: (problem type code, detail).
    pub error: Option<(ErrorCode, String)>,
}

/// Who signed a revokeCert.
pub(crate) enum AcmeRevoker {
    Account(Account),
    /// The certificate's own key signed the request.
    KeyHolder,
}

/// RFC 9773's suggested renewal window, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RenewalWindow {
    pub start: i64,
    pub end: i64,
}

impl Service {
    /// ACME's settings; the front door is only routed where they are set.
    fn acme(&self) -> ServiceResult<&AcmeSettings> {
        self.acme
            .as_ref()
            .ok_or_else(|| ServiceError::Internal("ACME is not configured".into()))
    }

    /// Serves ACME from now on.
    pub(crate) fn with_acme(mut self, settings: AcmeSettings) -> Service {
        self.acme = Some(settings);
        self
    }

    pub(crate) fn acme_eab_required(&self) -> bool {
        self.acme
            .as_ref()
            .is_none_or(|settings| settings.eab == EabPolicy::Required)
    }

    /// The HMAC key of an unbound External Account Binding credential.
    pub(crate) async fn acme_eab_key(&self, kid: &str) -> ServiceResult<Vec<u8>> {
        let mut conn = self.store.read().await?;
        let credential = crate::store::acme_eab::find(&mut conn, kid)
            .await?
            .ok_or_else(|| {
                ServiceError::refused(
                    ErrorCode::EabUnknown,
                    format!("No External Account Binding credential has the key id {kid:?}."),
                )
            })?;
        match credential.hmac_key {
            Some(key) if credential.account_id.is_none() => base64_url(&key).ok_or_else(|| {
                ServiceError::Internal(format!("EAB credential {kid} holds a malformed key"))
            }),
            _ => Err(ServiceError::refused(
                ErrorCode::EabAlreadyBound,
                format!(
                    "The External Account Binding credential {kid:?} is bound to another account already."
                ),
            )),
        }
    }

    pub(crate) async fn acme_account_by_key(
        &self,
        thumbprint: &str,
    ) -> ServiceResult<Option<Account>> {
        let mut conn = self.store.read().await?;
        Ok(acme_store::find_account_by_key(&mut conn, thumbprint).await?)
    }

    /// The account a `kid` names; a deactivated one may no longer act.
    pub(crate) async fn acme_account(&self, id: i64) -> ServiceResult<Account> {
        let mut conn = self.store.read().await?;
        let account = acme_store::find_account(&mut conn, id)
            .await?
            .ok_or_else(|| {
                ServiceError::refused(
                    ErrorCode::AcmeAccountMissing,
                    format!("There is no ACME account {id}."),
                )
            })?;
        if account.status != AccountStatus::Valid {
            return Err(ServiceError::refused(
                ErrorCode::AcmeAccountNotValid,
                format!("ACME account {id} is {}.", account.status),
            ));
        }
        Ok(account)
    }

    /// Registers an account (RFC 8555 §7.3). The External Account Binding
    /// names the certd user it acts as; the credential binds this account
    /// only, decided by one conditional update so two racing registrations
    /// cannot both bind it.
    /// Returns the account and whether it is new: a concurrent newAccount
    /// with the same key may have registered it first.
    pub(crate) async fn acme_register(
        &self,
        input: NewAccountInput,
    ) -> ServiceResult<(Account, bool)> {
        let settings = self.acme()?;
        let unbound = match (&input.eab_kid, settings.eab) {
            (None, EabPolicy::Optional) => Some(self.builtin_user(&UNBOUND_USER).await?.id),
            _ => None,
        };
        let mut tx = self.store.write().await?;
        // Read in the transaction: on SQLite it sees a concurrent
        // registration that shares this group commit, and committing then
        // waits for that registration to be durable before answering.
        if let Some(existing) =
            acme_store::find_account_by_key(&mut tx, &input.key_thumbprint).await?
        {
            tx.commit().await?;
            return Ok((existing, false));
        }
        let user_id = match &input.eab_kid {
            Some(kid) => {
                let credential = crate::store::acme_eab::find(&mut tx, kid)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::refused(
                            ErrorCode::EabUnknown,
                            format!(
                                "No External Account Binding credential has the key id {kid:?}."
                            ),
                        )
                    })?;
                credential.user_id
            }
            None => unbound.ok_or_else(|| {
                ServiceError::refused(
                    ErrorCode::ExternalAccountRequired,
                    ErrorCode::ExternalAccountRequired.default_message(),
                )
            })?,
        };
        let user = users::find(&mut tx, user_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("user {user_id} is missing")))?;
        if user.status != UserStatus::Active {
            return Err(ServiceError::refused(
                ErrorCode::UserDisabled,
                format!(
                    "The user {} of this External Account Binding is disabled.",
                    user.email
                ),
            ));
        }
        let created_at = now();
        let id = acme_store::insert_account(
            &mut tx,
            &NewAccount {
                key_thumbprint: &input.key_thumbprint,
                jwk: &input.jwk,
                user_id,
                eab_kid: input.eab_kid.as_deref(),
                contact: &input.contact,
                created_at,
            },
        )
        .await
        .map_err(|error| match error {
            crate::store::StoreError::Conflict(_) => ServiceError::refused(
                ErrorCode::AcmeKeyInUse,
                "Another ACME account registered this key at the same moment; look it up again.",
            ),
            other => other.into(),
        })?;
        if let Some(kid) = &input.eab_kid
            && !crate::store::acme_eab::bind(&mut tx, kid, id).await?
        {
            return Err(ServiceError::refused(
                ErrorCode::EabAlreadyBound,
                format!(
                    "The External Account Binding credential {kid:?} is bound to another account already."
                ),
            ));
        }
        let caller = Caller {
            user,
            view_only: false,
        };
        let ctx = Context {
            caller: &caller,
            request_id: None,
        };
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::AcmeAccountCreated,
            (AuditObject::AcmeAccount, id),
            json!({"eab_kid": input.eab_kid, "key_thumbprint": input.key_thumbprint}),
        )?;
        tx.commit().await?;
        let mut conn = self.store.read().await?;
        let account = acme_store::find_account(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("ACME account {id} vanished")))?;
        Ok((account, true))
    }

    /// Updates an account's contact or deactivates it (RFC 8555 §7.3.2, §7.3.6).
    pub(crate) async fn acme_update_account(
        &self,
        account: &Account,
        contact: Option<Vec<String>>,
        deactivate: bool,
    ) -> ServiceResult<Account> {
        let mut tx = self.store.write().await?;
        if let Some(contact) = contact {
            acme_store::set_account_contact(&mut tx, account.id, &contact).await?;
        }
        if deactivate {
            acme_store::deactivate_account(&mut tx, account.id).await?;
            let caller = self.acme_caller(&mut tx, account).await?;
            audit::record(
                &mut tx,
                Some(Context {
                    caller: &caller,
                    request_id: None,
                }),
                AuditAction::AcmeAccountDeactivated,
                (AuditObject::AcmeAccount, account.id),
                json!({}),
            )?;
        }
        tx.commit().await?;
        let mut conn = self.store.read().await?;
        acme_store::find_account(&mut conn, account.id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("ACME account {} vanished", account.id)))
    }

    /// Rolls an account over to a new key (RFC 8555 §7.3.5), both keys
    /// already proved by the front door.
    pub(crate) async fn acme_change_key(
        &self,
        account: &Account,
        thumbprint: &str,
        jwk: &str,
    ) -> ServiceResult<()> {
        let mut tx = self.store.write().await?;
        if let Some(other) = acme_store::find_account_by_key(&mut tx, thumbprint).await? {
            return Err(ServiceError::refused(
                ErrorCode::AcmeKeyInUse,
                format!("ACME account {} has this key already.", other.id),
            ));
        }
        if !acme_store::change_account_key(&mut tx, account.id, thumbprint, jwk).await? {
            return Err(ServiceError::refused(
                ErrorCode::AcmeAccountNotValid,
                format!("ACME account {} is not valid.", account.id),
            ));
        }
        let caller = self.acme_caller(&mut tx, account).await?;
        audit::record(
            &mut tx,
            Some(Context {
                caller: &caller,
                request_id: None,
            }),
            AuditAction::AcmeAccountKeyChanged,
            (AuditObject::AcmeAccount, account.id),
            json!({"key_thumbprint": thumbprint}),
        )?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn acme_order_ids(&self, account: &Account) -> ServiceResult<Vec<i64>> {
        let mut conn = self.store.read().await?;
        Ok(acme_store::order_ids_of_account(&mut conn, account.id, 1000).await?)
    }

    /// newOrder (RFC 8555 §7.4): one authorization per name, each offering
    /// the challenges that can prove it. Names pass the REST API's rules.
    pub(crate) async fn acme_new_order(
        &self,
        account: &Account,
        identifiers: Vec<String>,
        replaces: Option<String>,
    ) -> ServiceResult<AcmeOrderView> {
        if identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS {
            return Err(ServiceError::refused(
                ErrorCode::AcmeMalformed,
                format!("An order names between 1 and {MAX_IDENTIFIERS} identifiers."),
            ));
        }
        let names = checked_acme_names(&identifiers)?;
        let mut tx = self.store.write().await?;
        if let Some(replaces) = &replaces {
            self.check_replaces(&mut tx, account, replaces).await?;
        }
        let created_at = now();
        let expires_at = created_at + ORDER_LIFETIME_SECONDS;
        let order_id = acme_store::insert_order(
            &mut tx,
            account.id,
            &names,
            replaces.as_deref(),
            expires_at,
            created_at,
        )
        .await?;
        let mut authorizations = Vec::with_capacity(names.len());
        for name in &names {
            let (wildcard, base) = match name.strip_prefix("*.") {
                Some(base) => (true, base),
                None => (false, name.as_str()),
            };
            let id = acme_store::insert_authorization(
                &mut tx,
                &NewAuthorization {
                    account_id: account.id,
                    acme_order_id: order_id,
                    name: base,
                    wildcard,
                    expires_at,
                    created_at,
                },
            )
            .await?;
            // A wildcard is proved in DNS only (RFC 8555 §7.1.3).
            let kinds: &[ChallengeKind] = if wildcard {
                &[ChallengeKind::Dns01]
            } else {
                &[
                    ChallengeKind::Http01,
                    ChallengeKind::Dns01,
                    ChallengeKind::TlsAlpn01,
                ]
            };
            for kind in kinds {
                acme_store::insert_challenge(&mut tx, id, kind.as_str(), &new_token()).await?;
            }
            authorizations.push(id);
        }
        tx.commit().await?;
        let mut conn = self.store.read().await?;
        let order = acme_store::find_order(&mut conn, order_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("ACME order {order_id} vanished")))?;
        Ok(AcmeOrderView {
            status: order.status,
            order,
            authorizations,
            certificate_id: None,
            error: None,
        })
    }

    /// An order of this account, with its status as it is now: from
    /// finalize on, that of its certd order's request.
    pub(crate) async fn acme_order(
        &self,
        account: &Account,
        id: i64,
    ) -> ServiceResult<AcmeOrderView> {
        let mut conn = self.store.read().await?;
        let order = acme_store::find_order(&mut conn, id)
            .await?
            .filter(|o| o.account_id == account.id)
            .ok_or_else(acme_not_found)?;
        let authorizations = acme_store::authorizations_of_order(&mut conn, id)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let mut view = AcmeOrderView {
            status: order.status,
            order,
            authorizations,
            certificate_id: None,
            error: None,
        };
        match (view.order.status, view.order.order_id) {
            (AcmeOrderStatus::Processing, Some(order_id)) => {
                follow_certd_order(&mut conn, &mut view, order_id).await?
            }
            (AcmeOrderStatus::Invalid, _) => {
                view.error = Some((
                    ErrorCode::AcmeMalformed,
                    view.order
                        .error
                        .clone()
                        .unwrap_or_else(|| "The order is invalid.".into()),
                ));
            }
            (AcmeOrderStatus::Pending | AcmeOrderStatus::Ready, _)
                if view.order.expires_at <= now() =>
            {
                view.status = AcmeOrderStatus::Invalid;
                view.error = Some((
                    ErrorCode::AcmeMalformed,
                    "The order expired before it was finalized.".into(),
                ));
            }
            _ => {}
        }
        Ok(view)
    }

    /// An authorization of this account with its challenges.
    pub(crate) async fn acme_authorization(
        &self,
        account: &Account,
        id: i64,
    ) -> ServiceResult<(Authorization, Vec<Challenge>)> {
        let mut conn = self.store.read().await?;
        let authorization = acme_store::find_authorization(&mut conn, id)
            .await?
            .filter(|a| a.account_id == account.id)
            .ok_or_else(acme_not_found)?;
        let challenges = acme_store::challenges_of(&mut conn, &[id]).await?;
        Ok((authorization, challenges))
    }

    /// Deactivates an authorization at its account's request (RFC 8555 §7.5.2).
    pub(crate) async fn acme_deactivate_authorization(
        &self,
        account: &Account,
        id: i64,
    ) -> ServiceResult<()> {
        let mut tx = self.store.write().await?;
        let authorization = acme_store::find_authorization(&mut tx, id)
            .await?
            .filter(|a| a.account_id == account.id)
            .ok_or_else(acme_not_found)?;
        for from in [AuthorizationStatus::Pending, AuthorizationStatus::Valid] {
            if acme_store::move_authorization(
                &mut tx,
                authorization.id,
                from,
                AuthorizationStatus::Deactivated,
            )
            .await?
            {
                break;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A challenge of this account and the authorization it belongs to.
    pub(crate) async fn acme_challenge(
        &self,
        account: &Account,
        id: i64,
    ) -> ServiceResult<(Challenge, Authorization)> {
        let mut conn = self.store.read().await?;
        let challenge = acme_store::find_challenge(&mut conn, id)
            .await?
            .ok_or_else(acme_not_found)?;
        let authorization = acme_store::find_authorization(&mut conn, challenge.authorization_id)
            .await?
            .filter(|a| a.account_id == account.id)
            .ok_or_else(acme_not_found)?;
        Ok((challenge, authorization))
    }

    /// The client says a challenge is ready (RFC 8555 §7.5.1): certd
    /// validates it in the background and the client polls. A challenge
    /// already under way or decided is answered as it is.
    pub(crate) async fn acme_start_challenge(
        self: &Arc<Self>,
        account: &Account,
        id: i64,
    ) -> ServiceResult<(Challenge, Authorization)> {
        let (challenge, authorization) = self.acme_challenge(account, id).await?;
        if challenge.status != ChallengeStatus::Pending
            || authorization.status != AuthorizationStatus::Pending
        {
            return Ok((challenge, authorization));
        }
        if authorization.expires_at <= now() {
            return Err(ServiceError::refused(
                ErrorCode::AcmeMalformed,
                "The authorization has expired.",
            ));
        }
        let kind = ChallengeKind::parse(&challenge.kind)
            .ok_or_else(|| ServiceError::Internal(format!("challenge {id} has an unknown type")))?;
        let mut tx = self.store.write().await?;
        let started = acme_store::move_challenge(
            &mut tx,
            id,
            ChallengeStatus::Pending,
            ChallengeStatus::Processing,
            Some(now()),
            None,
        )
        .await?;
        tx.commit().await?;
        if started {
            let service = Arc::clone(self);
            let key_authorization = format!("{}.{}", challenge.token, account.key_thumbprint);
            let validator = Arc::clone(&self.acme()?.validator);
            let name = authorization.name.clone();
            let token = challenge.token.clone();
            tokio::spawn(async move {
                let outcome = validator
                    .validate(kind, &name, &token, &key_authorization)
                    .await;
                if let Err(error) = service.acme_challenge_decided(id, outcome).await {
                    tracing::warn!(challenge = id, %error, "recording an ACME validation failed");
                }
            });
        }
        // Answered as the client's POST left it: under way (or, if a racing
        // POST started it, as that one did).
        let status = if started {
            ChallengeStatus::Processing
        } else {
            self.acme_challenge(account, id).await?.0.status
        };
        Ok((
            Challenge {
                status,
                ..challenge
            },
            authorization,
        ))
    }

    /// Fails the validations that a stopped process left under way (their
    /// clients would otherwise poll for ever): `certd serve` calls it at
    /// start. Another node's validation under way is younger than this.
    pub(crate) async fn acme_fail_stalled_validations(&self) -> ServiceResult<usize> {
        let started_before = now() - STALLED_VALIDATION_SECONDS;
        let stalled = {
            let mut conn = self.store.read().await?;
            acme_store::stalled_challenges(&mut conn, started_before).await?
        };
        for &id in &stalled {
            let failure = ValidationFailure::new(
                "connection",
                "certd stopped while validating this challenge; place a new order",
            );
            self.acme_challenge_decided(id, Err(failure)).await?;
        }
        Ok(stalled.len())
    }

    /// Records a validation's outcome: the challenge, its authorization,
    /// and the order, which is ready once every authorization is valid and
    /// invalid as soon as one fails.
    async fn acme_challenge_decided(
        &self,
        id: i64,
        outcome: Result<(), ValidationFailure>,
    ) -> ServiceResult<()> {
        let result = match &outcome {
            Ok(()) => "valid",
            Err(failure) => failure.problem,
        };
        metrics::counter!("certd_acme_validations_total", "result" => result).increment(1);
        let mut tx = self.store.write().await?;
        let challenge = acme_store::find_challenge(&mut tx, id)
            .await?
            .ok_or_else(acme_not_found)?;
        let authorization = acme_store::find_authorization(&mut tx, challenge.authorization_id)
            .await?
            .ok_or_else(acme_not_found)?;
        match outcome {
            Ok(()) => {
                acme_store::move_challenge(
                    &mut tx,
                    id,
                    ChallengeStatus::Processing,
                    ChallengeStatus::Valid,
                    Some(now()),
                    None,
                )
                .await?;
                acme_store::move_authorization(
                    &mut tx,
                    authorization.id,
                    AuthorizationStatus::Pending,
                    AuthorizationStatus::Valid,
                )
                .await?;
                let all = acme_store::authorizations_of_order(&mut tx, authorization.acme_order_id)
                    .await?;
                if all.iter().all(|a| a.status == AuthorizationStatus::Valid) {
                    acme_store::move_order(
                        &mut tx,
                        authorization.acme_order_id,
                        AcmeOrderStatus::Pending,
                        AcmeOrderStatus::Ready,
                        None,
                    )
                    .await?;
                }
            }
            Err(failure) => {
                let problem =
                    json!({"type": failure.problem, "detail": failure.detail}).to_string();
                acme_store::move_challenge(
                    &mut tx,
                    id,
                    ChallengeStatus::Processing,
                    ChallengeStatus::Invalid,
                    None,
                    Some(&problem),
                )
                .await?;
                acme_store::move_authorization(
                    &mut tx,
                    authorization.id,
                    AuthorizationStatus::Pending,
                    AuthorizationStatus::Invalid,
                )
                .await?;
                let detail = format!("Validation of {authorization} failed: {}", failure.detail);
                acme_store::move_order(
                    &mut tx,
                    authorization.acme_order_id,
                    AcmeOrderStatus::Pending,
                    AcmeOrderStatus::Invalid,
                    Some(&detail),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// finalize (RFC 8555 §7.4): the CSR goes through the REST API's order
    /// checks and becomes a certd order of the account's user, approved
    /// at once only where the operator's `--auto-approve orders` says so.
    /// The certd order and the ACME order's move to `processing` commit
    /// together, so a retried finalize can never make a second order.
    pub(crate) async fn acme_finalize(
        &self,
        account: &Account,
        id: i64,
        csr_der: &[u8],
    ) -> ServiceResult<AcmeOrderView> {
        let csr_names = crate::ca::csr_requested_names(csr_der)?;
        let csr_pem = crate::ca::csr_pem_of_der(csr_der);
        let order = {
            let mut conn = self.store.read().await?;
            acme_store::find_order(&mut conn, id)
                .await?
                .filter(|o| o.account_id == account.id)
                .ok_or_else(acme_not_found)?
        };
        if order.status != AcmeOrderStatus::Ready || order.expires_at <= now() {
            return Err(ServiceError::refused(
                ErrorCode::AcmeOrderNotReady,
                format!(
                    "Order {id} is {}; only a ready order can be finalized.",
                    order.status
                ),
            ));
        }
        check_csr_names(&order.identifiers, &csr_names)?;
        let product = if order.identifiers.iter().any(|n| n.starts_with("*.")) {
            Product::SslWildcard
        } else if order.identifiers.len() > 1 {
            Product::SslMultiDomain
        } else {
            Product::SslBasic
        };
        let caller = self
            .acme_caller(&mut self.store.read().await?, account)
            .await?;
        let ctx = Context {
            caller: &caller,
            request_id: None,
        };
        let placement = OrderPlacement {
            product,
            common_name: order.identifiers[0].clone(),
            dns_names: order.identifiers[1..].to_vec(),
            csr: csr_pem,
            signature_hash: None,
            validity_days: ACME_VALIDITY_DAYS,
            skip_approval: false,
            comments: Some(format!("ACME order {id} of account {}", account.id)),
        };
        // Checked and (when approved at once) signed before the write starts,
        // as a REST order is.
        let prepared = self.prepare_order(ctx, placement)?;
        let mut tx = self.store.write().await?;
        let placed = super::orders::write_order(&mut tx, ctx, &prepared).await?;
        if !acme_store::finalize_order(&mut tx, id, placed.order_id).await? {
            return Err(ServiceError::refused(
                ErrorCode::AcmeOrderNotReady,
                format!("Order {id} was finalized already."),
            ));
        }
        self.commit_with_request_event(tx, placed.request_id)
            .await?;
        self.acme_order(account, id).await
    }

    /// A certificate of this account's user, for download (RFC 8555 §7.4.2).
    pub(crate) async fn acme_certificate(
        &self,
        account: &Account,
        id: i64,
    ) -> ServiceResult<Certificate> {
        let mut conn = self.store.read().await?;
        let certificate = certificates::find(&mut conn, id)
            .await?
            .ok_or_else(acme_not_found)?;
        match orders::find(&mut conn, certificate.order_id).await? {
            Some(order) if order.user_id == account.user_id => Ok(certificate),
            _ => Err(acme_not_found()),
        }
    }

    /// The certificate a revokeCert presents, if certd issued exactly
    /// these bytes (a certificate merely carrying one of certd's serials
    /// proves nothing).
    pub(crate) async fn acme_presented_certificate(
        &self,
        der: &[u8],
    ) -> ServiceResult<Certificate> {
        let presented = crate::ca::read_presented_certificate(der).map_err(|_| {
            ServiceError::refused(
                ErrorCode::AcmeMalformed,
                "certificate is not a DER X.509 certificate.",
            )
        })?;
        let mut conn = self.store.read().await?;
        certificates::find_by_serial(&mut conn, &presented.serial_hex)
            .await?
            .filter(|stored| crate::ca::der_of_pem_certificate(&stored.pem).as_deref() == Some(der))
            .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))
    }

    /// The certificate an RFC 9773 certID names, if certd's CA issued it.
    pub(crate) async fn acme_certificate_by_cert_id(
        &self,
        cert_id: &str,
    ) -> ServiceResult<Certificate> {
        let mut conn = self.store.read().await?;
        self.certificate_of_cert_id(&mut conn, cert_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))
    }

    async fn certificate_of_cert_id(
        &self,
        conn: &mut crate::store::Conn,
        cert_id: &str,
    ) -> ServiceResult<Option<Certificate>> {
        let Some(id) = CertId::parse(cert_id) else {
            return Err(ServiceError::refused(
                ErrorCode::AcmeMalformed,
                format!(
                    "{cert_id:?} is not an RFC 9773 certificate identifier (base64url key identifier, a dot, base64url serial)."
                ),
            ));
        };
        if self.ca.key_identifier().as_deref() != Some(id.key_identifier.as_slice()) {
            return Ok(None);
        }
        Ok(certificates::find_by_serial(conn, &id.serial_hex).await?)
    }

    /// `replaces` (RFC 9773 §5) must name a certificate of this account's user.
    async fn check_replaces(
        &self,
        conn: &mut crate::store::Conn,
        account: &Account,
        cert_id: &str,
    ) -> ServiceResult<()> {
        let refused = || {
            ServiceError::refused(
                ErrorCode::BadReplaces,
                format!("replaces {cert_id:?} names no certificate of this account."),
            )
        };
        let certificate = self
            .certificate_of_cert_id(conn, cert_id)
            .await?
            .ok_or_else(refused)?;
        match orders::find(conn, certificate.order_id).await? {
            Some(order) if order.user_id == account.user_id => Ok(()),
            _ => Err(refused()),
        }
    }

    /// revokeCert (RFC 8555 §7.6): revoked at once, as an approved revoke
    /// request, by (a) the account whose user owns the certificate, with
    /// the reasons the REST API allows that user; (b) another account that
    /// holds valid authorizations for every name in it (recorded as
    /// cessationOfOperation); (c) whoever holds the certificate's key
    /// (recorded as keyCompromise, which blocks the key).
    pub(crate) async fn acme_revoke(
        &self,
        revoker: AcmeRevoker,
        certificate_id: i64,
        asked: Option<RevocationReason>,
    ) -> ServiceResult<()> {
        let key_holder = match revoker {
            AcmeRevoker::KeyHolder => Some(self.builtin_user(&KEY_HOLDER).await?),
            AcmeRevoker::Account(_) => None,
        };
        let mut tx = self.store.write().await?;
        if matches!(revoker, AcmeRevoker::KeyHolder)
            || asked == Some(RevocationReason::KeyCompromise)
        {
            // Before the order's lock, as every keyCompromise revocation does.
            lock_for_key_compromise(&mut tx).await?;
        }
        certificates::lock_order_of(&mut tx, &crate::model::CertificateRef::Id(certificate_id))
            .await?;
        let certificate = certificates::find(&mut tx, certificate_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))?;
        let order = orders::find(&mut tx, certificate.order_id)
            .await?
            .ok_or_else(|| {
                ServiceError::Internal(format!("certificate {certificate_id} has no order"))
            })?;
        let (caller, reason, how) = match &revoker {
            AcmeRevoker::KeyHolder => {
                let user = key_holder.ok_or_else(|| {
                    ServiceError::Internal("the key holder's user is missing".into())
                })?;
                (
                    Caller {
                        user,
                        view_only: false,
                    },
                    RevocationReason::KeyCompromise,
                    "signed with the certificate's key",
                )
            }
            AcmeRevoker::Account(account) => {
                let caller = self.acme_caller(&mut tx, account).await?;
                if order.user_id == account.user_id {
                    let reason = asked.unwrap_or(RevocationReason::Unspecified);
                    // ACME refuses a reason as badRevocationReason (RFC 8555 §7.6).
                    check_reason_permitted(
                        Context {
                            caller: &caller,
                            request_id: None,
                        },
                        reason,
                    )
                    .map_err(|refusal| {
                        ServiceError::refused(ErrorCode::ForbiddenReason, refusal.to_string())
                    })?;
                    (caller, reason, "by the account that ordered it")
                } else if holds_every_name(&mut tx, account, &certificate.dns_names).await? {
                    (
                        caller,
                        RevocationReason::CessationOfOperation,
                        "by an account authorized for all its names",
                    )
                } else {
                    return Err(ServiceError::refused(
                        ErrorCode::NotAuthorizedToRevoke,
                        format!(
                            "ACME account {} did not order this certificate and holds no valid authorization for all of its names.",
                            account.id
                        ),
                    ));
                }
            }
        };
        let ctx = Context {
            caller: &caller,
            request_id: None,
        };
        check_revocable(&certificate, reason)?;
        let request = NewRequest {
            kind: RequestType::Revoke,
            status: RequestStatus::Approved,
            order_id: order.id,
            certificate_id: Some(certificate.id),
            requester_id: caller.user.id,
            processor_id: None,
            comments: Some(format!("ACME revokeCert, {how}")),
            revocation_reason: Some(reason),
            reissue: None,
            created_at: now(),
        };
        let stored = insert_request(&mut tx, ctx, &request).await?;
        let revoked = apply_revocation(&mut tx, Some(ctx), &stored, Some(certificate)).await?;
        self.commit_with_request_event(tx, stored.id).await?;
        self.revocation_committed(&revoked, Some(reason));
        Ok(())
    }

    /// RFC 9773's suggested renewal window for a certificate: the last third
    /// of its life while it stands; a window already over once it is
    /// revoked, its key is blocked or an approved campaign is to revoke it,
    /// so that clients renew at once.
    pub(crate) async fn acme_renewal_window(
        &self,
        certificate: &Certificate,
    ) -> ServiceResult<RenewalWindow> {
        let mut conn = self.store.read().await?;
        let now = now();
        let over_at = match (certificate.status, certificate.revoked_at) {
            (CertificateStatus::Revoked, Some(at)) => Some(at.min(now)),
            _ if super::key_is_blocked(&mut conn, certificate).await? => Some(now),
            // An approved campaign will revoke it (at its revoke_at, or as
            // soon as the runner reaches it): renew now, before it goes.
            _ if campaigns::awaits_campaign(&mut conn, certificate.id).await? => Some(now),
            _ => None,
        };
        Ok(renewal_window(
            certificate.valid_from,
            certificate.valid_till,
            over_at,
        ))
    }

    /// The built-in user, made the first time it is needed, in a
    /// transaction of its own: callers racing to make it all get the one
    /// that won (on PostgreSQL the losers' inserts break the unique email).
    async fn builtin_user(&self, builtin: &BuiltinUser) -> ServiceResult<User> {
        if let Some(user) =
            users::find_by_email(&mut self.store.read().await?, builtin.email).await?
        {
            return Ok(user);
        }
        let mut tx = self.store.write().await?;
        // On SQLite this sees a racing insert that shares the group commit.
        if let Some(user) = users::find_by_email(&mut tx, builtin.email).await? {
            tx.commit().await?;
            return Ok(user);
        }
        let new_user = users::NewUser {
            first_name: builtin.first_name,
            last_name: builtin.last_name,
            email: builtin.email,
            role: Role::User,
        };
        match users::insert(&mut tx, &new_user, now()).await {
            Ok(id) => {
                if builtin.status != UserStatus::Active {
                    users::set_status(&mut tx, id, builtin.status).await?;
                }
                tx.commit().await?;
            }
            Err(crate::store::StoreError::Conflict(_)) => drop(tx),
            Err(other) => return Err(other.into()),
        }
        users::find_by_email(&mut self.store.read().await?, builtin.email)
            .await?
            .ok_or_else(|| ServiceError::Internal("built-in user vanished".into()))
    }

    /// The account's user as the caller of what the account does; a
    /// disabled user's accounts can do nothing.
    async fn acme_caller(
        &self,
        conn: &mut crate::store::Conn,
        account: &Account,
    ) -> ServiceResult<Caller> {
        let user = users::find(conn, account.user_id).await?.ok_or_else(|| {
            ServiceError::Internal(format!("user {} is missing", account.user_id))
        })?;
        if user.status != UserStatus::Active {
            return Err(ServiceError::refused(
                ErrorCode::AcmeAccountNotValid,
                format!(
                    "The certd user {} of ACME account {} is disabled.",
                    user.email, account.id
                ),
            ));
        }
        Ok(Caller {
            user,
            view_only: false,
        })
    }
}

/// The window of RFC 9773: the last third of the validity (starting at two
/// thirds, ending at five sixths, so clients spread over it and still have
/// a sixth of the life left), or, for a certificate whose life is over at
/// `over_at`, an hour that ended just before it.
pub(crate) fn renewal_window(
    valid_from: i64,
    valid_till: i64,
    over_at: Option<i64>,
) -> RenewalWindow {
    match over_at {
        Some(at) => RenewalWindow {
            start: at - 3600,
            end: at - 1,
        },
        None => {
            let life = (valid_till - valid_from).max(0);
            RenewalWindow {
                start: valid_from + life * 2 / 3,
                end: valid_from + life * 5 / 6,
            }
        }
    }
}

/// The CSR must ask for exactly the order's names (RFC 8555 §7.4).
fn check_csr_names(ordered: &[String], requested: &[String]) -> ServiceResult<()> {
    let mut ordered: Vec<String> = ordered.to_vec();
    let mut requested: Vec<String> = requested.iter().map(|n| super::normalise_name(n)).collect();
    ordered.sort();
    ordered.dedup();
    requested.sort();
    requested.dedup();
    if ordered == requested {
        return Ok(());
    }
    Err(ServiceError::refused(
        ErrorCode::CsrNamesMismatch,
        format!(
            "The CSR names {} but the order names {}.",
            requested.join(", "),
            ordered.join(", ")
        ),
    ))
}

/// Whether `account` holds a valid authorization for every name.
async fn holds_every_name(
    conn: &mut crate::store::Conn,
    account: &Account,
    names: &[String],
) -> ServiceResult<bool> {
    let at = now();
    for name in names {
        let (exact, parent) = match name.strip_prefix("*.") {
            // A wildcard name is proved by the wildcard's authorization only.
            Some(base) => ("", Some(base)),
            None => (
                name.as_str(),
                name.split_once('.').map(|(_, parent)| parent),
            ),
        };
        if !acme_store::holds_valid_authorization(conn, account.id, exact, parent, at).await? {
            return Ok(false);
        }
    }
    Ok(!names.is_empty())
}

/// Follows a finalized order through its certd order: waiting while its
/// request is pending, valid once issued, invalid once rejected.
async fn follow_certd_order(
    conn: &mut crate::store::Conn,
    view: &mut AcmeOrderView,
    order_id: i64,
) -> ServiceResult<()> {
    let Some(order) = orders::find(conn, order_id).await? else {
        return Err(ServiceError::Internal(format!(
            "ACME order {} names missing order {order_id}",
            view.order.id
        )));
    };
    match order.status {
        OrderStatus::Pending => {}
        OrderStatus::Rejected | OrderStatus::Canceled => {
            view.status = AcmeOrderStatus::Invalid;
            let request = requests::list_for_order(conn, order_id)
                .await?
                .into_iter()
                .find(|r| r.kind == RequestType::NewRequest);
            let because = request
                .and_then(|r| r.processor_comment)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            view.error = Some((
                ErrorCode::AcmeMalformed,
                format!(
                    "The certificate request was {} by an administrator{because}",
                    if order.status == OrderStatus::Rejected {
                        "rejected"
                    } else {
                        "canceled"
                    }
                ),
            ));
        }
        _ => {
            let first = certificates::list_for_order(conn, order_id)
                .await?
                .into_iter()
                .min_by_key(|c| c.id);
            if let Some(certificate) = first {
                view.status = AcmeOrderStatus::Valid;
                view.certificate_id = Some(certificate.id);
            }
        }
    }
    Ok(())
}

fn acme_not_found() -> ServiceError {
    ServiceError::not_found(ErrorCode::NoSuchAcmeObject)
}

/// A challenge token: 128 bits of randomness, base64url (RFC 8555 §8.1).
fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_window_lies_in_the_last_third_or_is_over() {
        let window = renewal_window(0, 90 * 86_400, None);
        assert_eq!(window.start, 60 * 86_400);
        assert_eq!(window.end, 75 * 86_400);
        let over = renewal_window(0, 90 * 86_400, Some(10 * 86_400));
        assert!(over.end < 10 * 86_400 && over.start < over.end);
    }

    #[test]
    fn csr_names_must_match_the_order() {
        let order = vec!["a.example".to_string(), "b.example".to_string()];
        assert!(check_csr_names(&order, &["B.example".into(), "a.example".into()]).is_ok());
        assert!(check_csr_names(&order, &["a.example".into()]).is_err());
        assert!(
            check_csr_names(
                &order,
                &["a.example".into(), "b.example".into(), "c.example".into()]
            )
            .is_err()
        );
    }
}
