//! Revocation reasons: every rule about them, in one place that the API,
//! the command line (local mode and its `--reason` help), the OpenAPI
//! document and the revocation service all read. The reasons themselves
//! (RFC 5280 names and codes, as stored and published) are
//! [`RevocationReason`]; what certd accepts, refuses and allows whom is here.

use super::{Context, ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::{Certificate, CertificateStatus, RevocationReason};

/// How a reason may be written, for help texts and the API document.
pub(crate) const REASON_HELP: &str = "An RFC 5280 reason name in camelCase or snake_case, any letter \
case (keyCompromise, key_compromise, affiliation_change, ...); default unspecified. \
Accepted: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, \
privilegeWithdrawn (administrators only). certificateHold, removeFromCRL, cACompromise and \
aACompromise are refused.";

/// Real RFC 5280 reasons certd refuses: the Baseline Requirements forbid
/// certificate holds, and a CA compromise is not a subscriber's reason.
const FORBIDDEN: [&str; 4] = [
    "certificateHold",
    "removeFromCRL",
    "cACompromise",
    "aACompromise",
];

/// Other spellings certd accepts: CertCentral's.
const ALIASES: [(&str, RevocationReason); 1] =
    [("affiliation_change", RevocationReason::AffiliationChanged)];

/// Spellings compared without case and without underscores, so that
/// `keyCompromise`, `key_compromise` and `KEYCOMPROMISE` are one name.
fn fold(name: &str) -> String {
    name.replace('_', "").to_ascii_lowercase()
}

/// A request's `revocation_reason`: absent is `unspecified`.
pub(crate) fn parse_reason(name: Option<&str>) -> ServiceResult<RevocationReason> {
    let Some(name) = name else {
        return Ok(RevocationReason::Unspecified);
    };
    let folded = fold(name);
    let accepted = RevocationReason::ALL
        .into_iter()
        .map(|reason| (reason.name(), reason))
        .chain(ALIASES)
        .find(|(spelling, _)| fold(spelling) == folded);
    if let Some((_, reason)) = accepted {
        return Ok(reason);
    }
    if FORBIDDEN.iter().any(|forbidden| fold(forbidden) == folded) {
        return Err(ServiceError::refused(
            ErrorCode::ForbiddenReason,
            format!(
                "Revocation reason {name:?} is not allowed: the CA/Browser Forum Baseline \
                 Requirements forbid certificate holds, and CA compromise is not a subscriber's \
                 reason."
            ),
        ));
    }
    Err(ServiceError::refused(
        ErrorCode::UnknownReason,
        format!(
            "Unknown revocation reason {name:?}; use one of {}.",
            RevocationReason::ALL.map(RevocationReason::name).join(", ")
        ),
    ))
}

/// privilegeWithdrawn says the subscriber misbehaved: only the CA's side,
/// an administrator, may say it.
pub(super) fn check_reason_permitted(
    ctx: Context<'_>,
    reason: RevocationReason,
) -> ServiceResult<()> {
    if reason == RevocationReason::PrivilegeWithdrawn {
        ctx.require_admin("revoke for privilegeWithdrawn")?;
    }
    Ok(())
}

/// A revoked certificate may only be revoked again to raise its reason to
/// keyCompromise (RFC 5280 and the Baseline Requirements allow that upgrade).
pub(super) fn check_revocable(
    certificate: &Certificate,
    reason: RevocationReason,
) -> ServiceResult<()> {
    if certificate.status != CertificateStatus::Revoked {
        return Ok(());
    }
    let current = certificate
        .revocation_reason
        .unwrap_or(RevocationReason::Unspecified);
    if reason == RevocationReason::KeyCompromise && current != RevocationReason::KeyCompromise {
        return Ok(());
    }
    Err(ServiceError::refused(
        ErrorCode::CertificateAlreadyRevoked,
        format!(
            "Certificate {} is already revoked (reason {}); only an upgrade to keyCompromise is \
             possible.",
            certificate.id,
            current.name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(name: &str) -> &'static str {
        match parse_reason(Some(name)) {
            Err(ServiceError::Refused { code, .. }) => code.as_str(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn reason_names_in_both_spellings() {
        for reason in RevocationReason::ALL {
            assert_eq!(parse_reason(Some(reason.name())).unwrap(), reason);
            let upper = reason.name().to_uppercase();
            assert_eq!(parse_reason(Some(&upper)).unwrap(), reason);
        }
        let reason = |name| parse_reason(Some(name)).unwrap();
        assert_eq!(reason("key_compromise"), RevocationReason::KeyCompromise);
        assert_eq!(
            reason("cessation_of_operation"),
            RevocationReason::CessationOfOperation
        );
        assert_eq!(
            reason("affiliation_change"),
            RevocationReason::AffiliationChanged
        );
        assert_eq!(parse_reason(None).unwrap(), RevocationReason::Unspecified);
        assert_eq!(
            code("certificateHold"),
            "invalid_revocation_reason|reason_not_allowed"
        );
        assert_eq!(
            code("remove_from_crl"),
            "invalid_revocation_reason|reason_not_allowed"
        );
        assert_eq!(code("stolen"), "invalid_revocation_reason|unknown_reason");
    }

    #[test]
    fn the_help_names_every_reason_accepted_or_refused() {
        let names = RevocationReason::ALL.map(RevocationReason::name);
        for name in names
            .iter()
            .chain(&FORBIDDEN)
            .chain(ALIASES.map(|a| a.0).iter())
        {
            assert!(REASON_HELP.contains(name), "{name}");
        }
    }
}
