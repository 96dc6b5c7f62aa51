//! ACME External Account Binding credentials (RFC 8555 section 7.3.4;
//! contract section 8): a key id and an HMAC key that let one ACME account
//! register as the certd user the credential was made for. An
//! administrator makes them for any active user, any other user for
//! themself. The HMAC key is shown once, in the answer; it is kept until an
//! account binds the credential (to check the binding's MAC) and never
//! logged or audited.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;

use super::users::{UserRef, existing_user};
use super::{Context, Service, ServiceError, ServiceResult, audit};
use crate::codes::ErrorCode;
use crate::model::{AuditAction, AuditObject, UserStatus, now};
use crate::store::acme_eab;

/// A new credential, as its creator gets it (the only time the HMAC key is
/// shown).
#[derive(Debug, Clone)]
pub(crate) struct EabCredential {
    pub kid: String,
    /// 32 random bytes, base64url without padding.
    pub hmac_key: String,
    pub user_id: i64,
}

/// Random bytes, base64url without padding, never starting with `-`: a
/// value such as `-6g1Q...` given to a command line (`certbot
/// --eab-hmac-key -6g1Q...`) is taken for an option. Redrawing in that case
/// costs well under one bit of the 256.
fn random_base64url<const N: usize>() -> String {
    loop {
        let mut bytes = [0u8; N];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let text = URL_SAFE_NO_PAD.encode(bytes);
        if !text.starts_with('-') {
            return text;
        }
    }
}

impl Service {
    /// Makes a credential for `for_user` (absent: the caller). Naming
    /// another user needs an administrator; view-only keys make none.
    pub(crate) async fn create_eab_credential(
        &self,
        ctx: Context<'_>,
        for_user: Option<i64>,
    ) -> ServiceResult<EabCredential> {
        if ctx.caller.view_only {
            return Err(ServiceError::refused(
                ErrorCode::ViewOnlyKey,
                "This API key is view-only; it cannot create ACME credentials.",
            ));
        }
        let user_id = for_user.unwrap_or(ctx.user_id());
        if user_id != ctx.user_id() {
            ctx.require_admin("create ACME credentials for another user")?;
        }
        let mut tx = self.store.write().await?;
        let owner = existing_user(&mut tx, &UserRef::Id(user_id)).await?;
        if owner.status != UserStatus::Active {
            return Err(ServiceError::refused(
                ErrorCode::UserDisabled,
                format!(
                    "User {} is disabled; an ACME account bound to them could not act.",
                    owner.id
                ),
            ));
        }
        let credential = EabCredential {
            kid: format!("kid-{}", random_base64url::<16>()),
            hmac_key: random_base64url::<32>(),
            user_id: owner.id,
        };
        acme_eab::insert(
            &mut tx,
            &credential.kid,
            &credential.hmac_key,
            owner.id,
            now(),
        )
        .await?;
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::AcmeEabCreated,
            (AuditObject::User, owner.id),
            json!({"kid": credential.kid, "user_id": owner.id, "email": owner.email}),
        )?;
        tx.commit().await?;
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_random_base64url_without_padding() {
        let (a, b) = (random_base64url::<32>(), random_base64url::<32>());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        // One in 64 plain draws starts with '-'; none of these may.
        assert!((0..1000).all(|_| !random_base64url::<32>().starts_with('-')));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(random_base64url::<16>().len(), 22);
    }
}
