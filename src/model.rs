//! The domain vocabulary shared by the service and the store: users, orders,
//! certificates, requests and the audit log, with their statuses. Wire types
//! (the JSON of CertCentral) live in `api::wire` and are converted explicitly.

use std::fmt;

/// Seconds since the Unix epoch, UTC: how every time is stored.
pub(crate) type UnixTime = i64;

pub(crate) fn now() -> UnixTime {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `YYYY-MM-DDTHH:MM:SS+00:00`, as in the seed's examples: how every time
/// is written on the wire and in events.
pub(crate) fn date_time(unix: UnixTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch, for schedules finer than a second.
pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Declares a string-backed enum with `as_str` and a case-insensitive `parse`,
/// so that each status has exactly one spelling in the database and on the wire.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum $name { $($variant),+ }

        // Generated for every such enum; not every one needs all of it.
        #[allow(dead_code)]
        impl $name {
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),+];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Case-insensitive, as the contract requires for enum values.
            pub(crate) fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(text))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(Role { Administrator = "administrator", User = "user" });

string_enum!(
    /// What an audit log entry records. Stored as text; publication on
    /// SQLite finds other processes' revocations by `CertificateRevoked`,
    /// so a name here is part of the stored format: rename none.
    AuditAction {
        OrderCreated = "order_created",
        OrderCanceled = "order_canceled",
        ReissueCanceled = "reissue_canceled",
        OrderRevoked = "order_revoked",
        CertificateIssued = "certificate_issued",
        CertificateRevoked = "certificate_revoked",
        RequestCreated = "request_created",
        RequestApproved = "request_approved",
        RequestRejected = "request_rejected",
        UserCreated = "user_created",
        UserDisabled = "user_disabled",
        UserEnabled = "user_enabled",
        KeyCreated = "key_created",
        KeyRevoked = "key_revoked",
        PublicUrlChanged = "public_url_changed",
        // The base URL of CRLs, OCSP and the issuer certificate in new
        // certificates (`--publication-url`) changed.
        PublicationUrlChanged = "publication_url_changed",
        // A key was blocked after a keyCompromise revocation (object: the
        // certificate whose revocation blocked it).
        KeyBlocked = "key_blocked",
        // An ACME External Account Binding credential was made (object:
        // the user it is for; never the HMAC key).
        AcmeEabCreated = "acme_eab_created",
        AcmeAccountCreated = "acme_account_created",
        AcmeAccountDeactivated = "acme_account_deactivated",
        AcmeAccountKeyChanged = "acme_account_key_changed",
        // Revocation campaigns (object: the campaign). Each certificate a
        // campaign revokes has its own `certificate_revoked` entry naming it.
        CampaignCreated = "campaign_created",
        CampaignApproved = "campaign_approved",
        CampaignRejected = "campaign_rejected",
        CampaignCanceled = "campaign_canceled",
        CampaignCertificateHeld = "campaign_certificate_held",
        CampaignStarted = "campaign_started",
        CampaignCompleted = "campaign_completed",
    }
);

string_enum!(
    /// The kind of object an audit log entry is about.
    AuditObject {
        Order = "order",
        Certificate = "certificate",
        Request = "request",
        User = "user",
        ApiKey = "api_key",
        Setting = "setting",
        AcmeAccount = "acme_account",
        Campaign = "campaign",
    }
);

impl Role {
    /// CertCentral's numeric role ids.
    pub(crate) fn certcentral_id(self) -> i64 {
        match self {
            Role::Administrator => 1,
            Role::User => 2,
        }
    }

    pub(crate) fn from_certcentral_id(id: i64) -> Option<Role> {
        [Role::Administrator, Role::User]
            .into_iter()
            .find(|role| role.certcentral_id() == id)
    }
}

string_enum!(UserStatus { Active = "active", Disabled = "disabled" });

string_enum!(KeyStatus { Active = "active", Revoked = "revoked" });

string_enum!(OrderStatus {
    Pending = "pending",
    Issued = "issued",
    Rejected = "rejected",
    Revoked = "revoked",
    ReissuePending = "reissue_pending",
    Canceled = "canceled",
});

string_enum!(CertificateStatus {
    Pending = "pending",
    Issued = "issued",
    Revoked = "revoked",
    ReissuePending = "reissue_pending",
});

string_enum!(RequestType { NewRequest = "new_request", Reissue = "reissue", Revoke = "revoke" });

string_enum!(RequestStatus {
    Submitted = "submitted",
    Pending = "pending",
    Approved = "approved",
    Rejected = "rejected",
});

string_enum!(
    /// The products certd sells; they differ only in name here.
    #[allow(clippy::enum_variant_names)] // CertCentral's product ids all start with ssl_
    Product {
        SslBasic = "ssl_basic",
        SslPlus = "ssl_plus",
        SslMultiDomain = "ssl_multi_domain",
        SslWildcard = "ssl_wildcard",
    }
);

/// How a client names a certificate in a path: its numeric id, or its serial
/// number in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CertificateRef {
    Id(i64),
    Serial(String),
}

impl CertificateRef {
    /// Short all-digit strings are ids; other hex strings are serial numbers.
    /// (A 128-bit serial is 32 hex digits; ids have at most 18 digits.)
    pub(crate) fn parse(text: &str) -> Option<CertificateRef> {
        if text.len() <= 18 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .ok()
                .filter(|id| *id > 0)
                .map(CertificateRef::Id);
        }
        let hex = CertificateRef::normalise_serial(text);
        (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(CertificateRef::Serial(hex))
    }

    /// A serial number as stored: hex without colons, upper case, so that
    /// `0a:1b` and `0A1B` are one serial wherever a client writes one.
    pub(crate) fn normalise_serial(text: &str) -> String {
        text.replace(':', "").to_ascii_uppercase()
    }
}

/// RFC 5280 CRLReason values that a subscriber or administrator may choose.
/// `certificateHold` and `removeFromCRL` are deliberately absent: the CA/Browser
/// Forum Baseline Requirements forbid suspending TLS certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub(crate) const ALL: [RevocationReason; 6] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 camelCase name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The RFC 5280 CRLReason code, as stored and as written in CRLs and OCSP.
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::PrivilegeWithdrawn => 9,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: UnixTime,
}

impl User {
    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Administrator
    }
}

/// An API key as certd keeps it: never the key itself, nor its hash.
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    /// CertCentral restriction 102: GET calls only.
    pub view_only: bool,
    pub status: KeyStatus,
    pub created_at: UnixTime,
    /// Given at creation to tell keys apart.
    pub name: Option<String>,
    /// Updated at most once a minute (see `service::users`).
    pub last_used_at: Option<UnixTime>,
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    pub user_id: i64,
    pub product: Product,
    pub status: OrderStatus,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub csr: String,
    pub signature_hash: String,
    pub validity_days: i64,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone)]
pub(crate) struct Certificate {
    pub id: i64,
    pub order_id: i64,
    pub serial_number: String,
    pub status: CertificateStatus,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub csr: String,
    pub signature_hash: String,
    pub pem: String,
    pub valid_from: UnixTime,
    pub valid_till: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub revocation_reason: Option<RevocationReason>,
    /// The CRL shard that lists it once revoked.
    pub crl_shard: u16,
    /// SHA-256 (lower-case hex) of its SubjectPublicKeyInfo; `None` when
    /// certd could not read the key (see `service::blocked_keys`).
    pub spki_sha256: Option<String>,
}

/// An order's pending request (at most one, by the schema), as the guards
/// against a second one need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingRequest {
    pub id: i64,
    pub kind: RequestType,
}

/// A certificate that has just been revoked, as publication needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevokedSerial {
    /// Uppercase hex, as stored.
    pub serial_number: String,
    pub crl_shard: u16,
}

/// What a reissue request will issue when it is approved.
#[derive(Debug, Clone)]
pub(crate) struct ReissueSpec {
    pub csr: String,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub signature_hash: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: i64,
    pub kind: RequestType,
    pub status: RequestStatus,
    pub order_id: i64,
    /// The certificate a revoke request targets; `None` for a whole-order revoke.
    pub certificate_id: Option<i64>,
    pub requester_id: i64,
    pub processor_id: Option<i64>,
    pub comments: Option<String>,
    pub processor_comment: Option<String>,
    pub revocation_reason: Option<RevocationReason>,
    pub reissue: Option<ReissueSpec>,
    pub created_at: UnixTime,
    pub processed_at: Option<UnixTime>,
}

/// A request about to be inserted.
#[derive(Debug, Clone)]
pub(crate) struct NewRequest {
    pub kind: RequestType,
    pub status: RequestStatus,
    pub order_id: i64,
    pub certificate_id: Option<i64>,
    pub requester_id: i64,
    pub processor_id: Option<i64>,
    pub comments: Option<String>,
    pub revocation_reason: Option<RevocationReason>,
    pub reissue: Option<ReissueSpec>,
    pub created_at: UnixTime,
}

string_enum!(
    /// A revocation campaign's life: `pending` until enough approvals, then
    /// `approved` (runs at once) or `scheduled` (waits for `revoke_at`),
    /// `running`, `completed`; or `rejected` / `canceled` before it runs.
    CampaignStatus {
        Pending = "pending",
        Approved = "approved",
        Scheduled = "scheduled",
        Running = "running",
        Completed = "completed",
        Rejected = "rejected",
        Canceled = "canceled",
    }
);

string_enum!(
    /// What became of one certificate of a campaign: `selected` (waiting
    /// to be revoked), `held` (excluded by a hold), `revoked`,
    /// `already_revoked` (by someone else before the campaign reached it),
    /// `failed` (not revoked: it expired before the campaign reached it).
    CampaignCertificateStatus {
        Selected = "selected",
        Held = "held",
        Revoked = "revoked",
        AlreadyRevoked = "already_revoked",
        Failed = "failed",
    }
);

/// Which certificates a campaign selects: every condition given must hold.
/// A list given empty matches nothing (never everything). Stored as JSON
/// with the campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Selector {
    /// Upper-case hex, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serials: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ids: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Lower case: the common name or a DNS name is it or ends in `.domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// On the certificate's `valid_from`: at or after, and before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_after: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UnixTime>,
    /// Lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_sha256: Option<String>,
}

impl Selector {
    /// True when it names no condition at all.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Selector::default()
    }
}

/// A revocation campaign as stored.
#[derive(Debug, Clone)]
pub(crate) struct Campaign {
    pub id: i64,
    pub name: String,
    pub reason: RevocationReason,
    pub comments: Option<String>,
    pub selector: Selector,
    pub revoke_at: Option<UnixTime>,
    pub status: CampaignStatus,
    pub requester_id: i64,
    pub approvals_required: i64,
    pub counts: CampaignCounts,
    pub processor_id: Option<i64>,
    pub processor_comment: Option<String>,
    pub created_at: UnixTime,
    pub started_at: Option<UnixTime>,
    pub completed_at: Option<UnixTime>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CampaignCounts {
    pub matched: i64,
    pub revoked: i64,
    pub held: i64,
    pub already_revoked: i64,
    pub failed: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AuditEntry {
    pub id: i64,
    pub created_at: UnixTime,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: i64,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// Paging of list calls: the window asked for and the total that matched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub offset: i64,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_refs() {
        assert_eq!(CertificateRef::parse("42"), Some(CertificateRef::Id(42)));
        assert_eq!(CertificateRef::parse("0"), None);
        assert_eq!(CertificateRef::parse("-1"), None);
        assert_eq!(CertificateRef::parse("abc!"), None);
        assert_eq!(
            CertificateRef::parse("0a:1b"),
            Some(CertificateRef::Serial("0A1B".into()))
        );
        assert_eq!(
            CertificateRef::parse("99999999999999999999999"),
            Some(CertificateRef::Serial("99999999999999999999999".into()))
        );
    }

    #[test]
    fn reason_codes_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
        }
    }

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(
            RequestStatus::parse("APPROVED"),
            Some(RequestStatus::Approved)
        );
        assert_eq!(OrderStatus::parse("Canceled"), Some(OrderStatus::Canceled));
        assert_eq!(OrderStatus::parse("cancelled"), None);
    }
}

pub(crate) mod acme;
