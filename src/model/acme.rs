//! The ACME (RFC 8555) objects certd keeps beside its own: accounts bound to
//! certd users, orders that become certd orders at finalize, and the
//! authorizations and challenges that prove control of each name.

use std::fmt;

use super::UnixTime;

string_enum!(AccountStatus {
    Valid = "valid",
    Deactivated = "deactivated",
    Revoked = "revoked",
});

string_enum!(
    /// An ACME order's own status while it is pending or ready; from
    /// finalize on it follows its certd order's request (see
    /// `service::acme`), and only `invalid` is stored again.
    AcmeOrderStatus {
        Pending = "pending",
        Ready = "ready",
        Processing = "processing",
        Valid = "valid",
        Invalid = "invalid",
    }
);

string_enum!(AuthorizationStatus {
    Pending = "pending",
    Valid = "valid",
    Invalid = "invalid",
    Deactivated = "deactivated",
    Expired = "expired",
    Revoked = "revoked",
});

string_enum!(ChallengeStatus {
    Pending = "pending",
    Processing = "processing",
    Valid = "valid",
    Invalid = "invalid",
});

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: i64,
    pub key_thumbprint: String,
    /// The account's public key as a JWK (JSON text).
    pub jwk: String,
    /// The certd user the account acts as.
    pub user_id: i64,
    pub status: AccountStatus,
    pub contact: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AcmeOrder {
    pub id: i64,
    pub account_id: i64,
    pub status: AcmeOrderStatus,
    /// DNS names as the client asked for them (normalised).
    pub identifiers: Vec<String>,
    /// The certd order made at finalize.
    pub order_id: Option<i64>,
    pub replaces: Option<String>,
    /// The problem document (JSON text) that made it invalid.
    pub error: Option<String>,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub id: i64,
    pub account_id: i64,
    pub acme_order_id: i64,
    /// Without a wildcard's `*.`.
    pub name: String,
    pub wildcard: bool,
    pub status: AuthorizationStatus,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone)]
pub(crate) struct Challenge {
    pub id: i64,
    pub authorization_id: i64,
    /// `http-01`, `dns-01` or `tls-alpn-01`.
    pub kind: String,
    pub token: String,
    pub status: ChallengeStatus,
    /// When validation started (while processing) or succeeded (once valid).
    pub validated_at: Option<UnixTime>,
    /// The problem document (JSON text) of a failed validation.
    pub error: Option<String>,
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

/// RFC 9773's certificate identifier: the issuer's key identifier (the
/// certificate's Authority Key Identifier) and the serial number, each
/// base64url, joined by a dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertId {
    pub key_identifier: Vec<u8>,
    /// As certd stores serials: upper-case hex of the DER integer's bytes.
    pub serial_hex: String,
}

impl CertId {
    pub(crate) fn parse(text: &str) -> Option<CertId> {
        use base64::Engine;
        let decode = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
        };
        let (key_identifier, serial) = text.split_once('.')?;
        let key_identifier = decode(key_identifier)?;
        let serial = decode(serial)?;
        if key_identifier.is_empty() || serial.is_empty() || serial.len() > 32 {
            return None;
        }
        Some(CertId {
            key_identifier,
            serial_hex: hex::encode_upper(serial),
        })
    }
}
