//! Settings of the whole deployment, which every command and every node must
//! agree on. Today that is the public URL: certificates name it for their
//! CRLs, OCSP and issuer, and each CRL names it as its scope, so a CRL signed
//! with another URL does not cover the certificates (openssl: "different CRL
//! scope"). It is stored once, by the first `certd serve`, and changed only
//! when an operator says so.

use serde_json::json;

use super::audit;
use crate::model::{AuditAction, AuditObject};
use crate::store::settings::{self, PUBLIC_URL};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error(
        "{given:?} is not a public URL: give --public-url an http:// or https:// URL with a \
         host and no query, such as https://pki.example.com"
    )]
    InvalidPublicUrl { given: String },
    #[error(
        "this deployment's public URL is {stored}, and certificates already issued name it for \
         their CRLs and OCSP; --public-url {given} differs. Start without --public-url (or with \
         {stored}), or add --change-public-url to move to {given} (certificates issued before \
         keep naming {stored}: keep it answering)"
    )]
    PublicUrlDiffers { stored: String, given: String },
    #[error(
        "no public URL is stored in this database yet: start `certd serve --public-url URL` on \
         it once, and every command uses that URL"
    )]
    NoPublicUrl,
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Service(#[from] super::ServiceError),
}

/// The URL `certd serve` runs with: the stored one, or `given` (else
/// `default`) on the first start, which stores it. A `given` URL other than
/// the stored one is refused unless `change` is set; a change is logged and
/// audited.
pub(crate) async fn settle_public_url(
    store: &Store,
    given: Option<&str>,
    default: &str,
    change: bool,
) -> Result<String, SettingsError> {
    let given = given.map(normalise_public_url).transpose()?;
    let mut tx = store.write().await?;
    let url = match (settings::get(&mut tx, PUBLIC_URL).await?, given) {
        (None, given) => {
            let wanted = given.unwrap_or_else(|| default.to_string());
            settings::insert_if_missing(&mut tx, PUBLIC_URL, &wanted).await?
        }
        (Some(stored), None) => stored,
        (Some(stored), Some(given)) if stored == given => stored,
        (Some(stored), Some(given)) if change => {
            settings::set(&mut tx, PUBLIC_URL, &given).await?;
            audit::record(
                &mut tx,
                None,
                AuditAction::PublicUrlChanged,
                (AuditObject::Setting, 0),
                json!({"from": stored, "to": given}),
            )?;
            tracing::warn!(from = %stored, to = %given, "public URL changed");
            given
        }
        (Some(stored), Some(given)) => {
            return Err(SettingsError::PublicUrlDiffers { stored, given });
        }
    };
    tx.commit().await?;
    Ok(url)
}

/// The stored public URL, for every command but `serve`.
pub(crate) async fn stored_public_url(store: &Store) -> Result<String, SettingsError> {
    let mut conn = store.read().await?;
    settings::get(&mut conn, PUBLIC_URL)
        .await?
        .ok_or(SettingsError::NoPublicUrl)
}

/// `https://PKI.example.com:443/certd/` → `https://pki.example.com/certd`:
/// one spelling per URL, so that equal URLs compare equal.
fn normalise_public_url(given: &str) -> Result<String, SettingsError> {
    let invalid = || SettingsError::InvalidPublicUrl {
        given: given.to_string(),
    };
    let url = url::Url::parse(given.trim()).map_err(|_| invalid())?;
    let usable = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !usable {
        return Err(invalid());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_have_one_spelling() {
        let same = |a: &str, b: &str| assert_eq!(normalise_public_url(a).unwrap(), b, "{a}");
        same("http://127.0.0.1:8080", "http://127.0.0.1:8080");
        same("http://127.0.0.1:8080/", "http://127.0.0.1:8080");
        same(
            " https://PKI.Example.com:443/certd/ ",
            "https://pki.example.com/certd",
        );
        for bad in [
            "pki.example.com",
            "ftp://pki.example.com",
            "https://pki.example.com/?a=1",
            "https://pki.example.com/#x",
            "https://user:pw@pki.example.com",
            "",
        ] {
            assert!(normalise_public_url(bad).is_err(), "{bad}");
        }
    }
}
