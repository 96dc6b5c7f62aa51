//! Every error code certd answers with, in one typed list: the contract's
//! `family|detail` string, the HTTP status it goes with, and the sentence to
//! use when the one who refuses has nothing more precise to say. The service
//! names a code; the API turns it into an answer (`api::error`); the command
//! line prints the same code. A code written in one place cannot drift
//! between the front doors that answer with it (Pebble keeps its wire errors
//! in `acme/problems.go` for the same reason).

macro_rules! error_codes {
    ($($variant:ident = ($status:literal, $code:literal, $message:literal),)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            #[cfg(test)]
            pub(crate) const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The contract's `family|detail` string.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            /// The HTTP status of an answer with this code.
            pub(crate) fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }

            /// The sentence when nothing more precise is said.
            pub(crate) fn default_message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message),+ }
            }
        }
    };
}

error_codes! {
    // Requests certd cannot read.
    BadRequest = (400, "bad_request_format|http", "The request could not be handled."),
    MalformedJson = (400, "bad_request_format|malformed_json", "The body is not valid JSON."),
    NotAnObject = (400, "bad_request_format|not_an_object", "The body must be a JSON object."),
    InvalidField = (400, "bad_request_format|invalid_field", "A field of the body has the wrong type or value."),
    UnreadableBody = (400, "bad_request_format|unreadable_body", "The body could not be read."),
    BadQuery = (400, "bad_request_format|query", "The query string could not be read."),
    UnknownFilter = (400, "invalid_filter|unknown_filter", "This list has no such filter."),
    BadFilterValue = (400, "invalid_filter|value", "A filter's value is not one this list knows."),
    BadStatusFilter = (400, "invalid_filter|status", "The status filter names no status."),
    BadPaging = (400, "invalid_paging|paging", "offset and limit must be whole numbers in range."),
    BadSort = (400, "invalid_sort|sort", "This list cannot be sorted that way."),
    BadStatus = (400, "invalid_status|status", "That status cannot be set here."),
    UnknownProduct = (400, "invalid_product|product_name_id", "certd does not offer that product."),
    UnknownFormat = (400, "invalid_format|format", "certd does not offer that download format."),
    BadRestriction = (400, "invalid_restriction|restricted_to_role_id", "restricted_to_role_id must be 0 or 102."),
    BadRole = (400, "invalid_role|access_roles", "access_roles must hold one role: 1 administrator or 2 user."),
    // Input certd can read but refuses.
    InvalidCsr = (400, "invalid_csr|csr", "The CSR is unusable."),
    KeyBlocked = (400, "invalid_csr|key_blocked", "The CSR's key was revoked for key compromise; make a new key and a new CSR."),
    InvalidDnsName = (400, "invalid_dns_names|syntax", "A name is not a valid DNS name."),
    TooManyDnsNames = (400, "invalid_dns_names|too_many", "Too many dns_names."),
    WildcardNotOrdered = (400, "invalid_dns_names|wildcard", "Wildcard names need the ssl_wildcard product."),
    BadSignatureHash = (400, "invalid_signature_hash|signature_hash", "signature_hash must be sha256, sha384 or sha512."),
    BadValidity = (400, "invalid_validity|validity", "The order validity is out of range."),
    CommentTooLong = (400, "invalid_comments|too_long", "A comment is too long."),
    ForbiddenReason = (400, "invalid_revocation_reason|reason_not_allowed", "That revocation reason is not allowed."),
    UnknownReason = (400, "invalid_revocation_reason|unknown_reason", "Unknown revocation reason."),
    InvalidEmail = (400, "invalid_email|email", "That is not an email address."),
    KeyNameTooLong = (400, "invalid_name|key_name", "A key's name is too long."),
    BadCampaignName = (400, "invalid_name|campaign_name", "A campaign needs a name of 1 to 200 characters."),
    BadSelector = (400, "invalid_selector|selector", "The selector is empty or has a condition certd cannot read."),
    SelectorMatchesNothing = (400, "invalid_selector|matches_nothing", "The selector matches no issued, unexpired certificate."),
    BadDate = (400, "invalid_date|date", "A date is not YYYY-MM-DDTHH:MM:SS+00:00 or YYYY-MM-DD, or the dates are the wrong way round."),
    RevokeAtPast = (400, "invalid_date|revoke_at_past", "revoke_at is in the past."),
    NotInCampaign = (400, "invalid_hold|not_in_campaign", "The certificate is not among the campaign's."),
    // Who may do what.
    InvalidKey = (403, "access_denied|access_denied_invalid_key", "The X-DC-DEVKEY header is missing or does not name an active API key."),
    MissingPermission = (403, "access_denied|missing_permission", "This API key may not do that."),
    OwnRequest = (403, "access_denied|own_request", "The two-person rule: another administrator must approve what you asked for."),
    ViewOnlyKey = (403, "access_denied|view_only_key", "This API key is view-only: it may only make GET calls."),
    // What does not exist (or is not the caller's to see).
    NoSuchRoute = (404, "not_found|route", "No such endpoint."),
    NoSuchCertificate = (404, "not_found|certificate", "No such certificate."),
    NoSuchOrder = (404, "not_found|order", "No such order."),
    NoSuchRequest = (404, "not_found|request", "No such request."),
    NoSuchUser = (404, "not_found|user", "No such user."),
    NoSuchKey = (404, "not_found|key", "No such key."),
    NoSuchCampaign = (404, "not_found|campaign", "No such campaign."),
    NoSuchCrl = (404, "not_found|crl", "No such CRL."),
    MethodNotAllowed = (405, "method_not_allowed|method", "This endpoint does not support that HTTP method; the Allow header lists those it does."),
    RequestTimeout = (408, "request_timeout|timeout", "The request took too long and was abandoned; nothing was changed."),
    // States that forbid the change.
    CertificateAlreadyRevoked = (409, "already_revoked|certificate_already_revoked", "The certificate is already revoked."),
    OrderAlreadyRevoked = (409, "already_revoked|order_already_revoked", "The order is already revoked."),
    KeyAlreadyRevoked = (409, "already_revoked|key_already_revoked", "The key is already revoked."),
    RevokeRequestPending = (409, "duplicate_request|revoke_request_pending", "A revoke request for this order is already pending."),
    OrderRequestPending = (409, "duplicate_request|order_request_pending", "The order is waiting for approval."),
    PendingRequestExists = (409, "duplicate_request|pending_request_exists", "Another request for this order is already pending."),
    ReissuePending = (409, "reissue_pending|reissue_request_pending", "A reissue of this order is pending."),
    RequestNotPending = (409, "request_not_pending|request_already_processed", "The request is no longer pending."),
    OrderNotIssued = (409, "invalid_order_status|not_issued", "The order is not issued."),
    NothingToCancel = (409, "invalid_order_status|nothing_to_cancel", "The order has nothing pending to cancel."),
    OrderRevoked = (409, "order_revoked|order_is_revoked", "A revoked order cannot be reissued."),
    OrderExpired = (409, "order_expired|order_validity_ended", "The order's validity has ended."),
    CampaignNotPending = (409, "invalid_campaign_status|status", "The campaign's status does not allow that."),
    CampaignStarted = (409, "invalid_campaign_status|started", "The campaign runs already; it can no longer be canceled or held."),
    AlreadyApproved = (409, "duplicate_approval|already_approved", "You approved this campaign already; it needs another administrator."),
    AlreadyHeld = (409, "duplicate_hold|already_held", "The certificate is held already."),
    UserUnchanged = (409, "invalid_user_status|unchanged", "The user already has that status."),
    CannotDisableSelf = (409, "invalid_user_status|cannot_disable_self", "An administrator cannot disable themselves."),
    UserDisabled = (409, "invalid_user_status|user_disabled", "The user is disabled."),
    LastAdminKey = (409, "last_admin_key|would_lock_out", "That would leave no usable administrator key."),
    DuplicateUser = (409, "duplicate_user|email", "A user has this email address already."),
    RequestTooLarge = (413, "request_too_large|body_over_64_kib", "The request body is larger than 64 KiB."),
    RateLimited = (429, "request_limit_exceeded|rate_limit", "Too many calls a second with this API key; see Retry-After."),
    Internal = (500, "internal_error|internal", "An internal error occurred; it has been logged."),
    DatabaseUnavailable = (503, "service_unavailable|database", "The database is unavailable; try again shortly."),
    SignerUnavailable = (503, "service_unavailable|signer", "The CA's signing key (its PKCS#11 token) is unavailable; try again shortly."),
    // ACME (src/acme answers these as RFC 8555 problem documents; see
    // `acme::problems` for the problem type of each).
    AcmeMalformed = (400, "acme|malformed", "The ACME request is malformed."),
    ExternalAccountRequired = (400, "acme|external_account_required", "New ACME accounts need an External Account Binding; ask an administrator for a credential (certd acme eab create)."),
    EabUnknown = (403, "acme|eab_unknown", "The External Account Binding names no credential."),
    EabAlreadyBound = (403, "acme|eab_already_bound", "This External Account Binding credential is bound to another account already."),
    AcmeAccountMissing = (400, "acme|account_does_not_exist", "No ACME account has this key."),
    AcmeAccountNotValid = (403, "acme|account_not_valid", "The ACME account is deactivated."),
    AcmeKeyInUse = (409, "acme|key_in_use", "Another ACME account has this key."),
    NoSuchAcmeObject = (404, "not_found|acme_object", "No such ACME object."),
    AcmeOrderNotReady = (403, "acme|order_not_ready", "The order is not ready to be finalized."),
    CsrNamesMismatch = (400, "invalid_csr|names_mismatch", "The CSR names other names than the order."),
    BadReplaces = (409, "acme|bad_replaces", "replaces names no certificate of this account that can be replaced."),
    NotAuthorizedToRevoke = (403, "acme|not_authorized_to_revoke", "This account may not revoke that certificate."),
}

impl ErrorCode {
    /// What a `not_found|...` code says is missing (`certificate`, ...).
    pub(crate) fn detail(self) -> &'static str {
        let code = self.as_str();
        &code[code.find('|').map_or(0, |bar| bar + 1)..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_written_once_as_family_and_detail() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            let (family, detail) = text.split_once('|').expect("family|detail");
            let snake = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            };
            assert!(snake(family) && snake(detail), "{text}");
            assert!((400..600).contains(&code.status()), "{text}");
            assert!(code.default_message().ends_with('.'), "{text}");
        }
        assert_eq!(ErrorCode::NoSuchOrder.detail(), "order");
    }
}
