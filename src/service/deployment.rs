//! Settings of the whole deployment, which every command and every node must
//! agree on. Today those are the public URL and the publication URL:
//! certificates name them for their CRLs, OCSP and issuer, and each CRL names
//! its URL as its scope, so a CRL signed with another URL does not cover the
//! certificates (openssl: "different CRL scope"). They are stored once, by
//! the first `certd serve`, and changed only when an operator says so.

use serde_json::json;

use super::audit;
use crate::model::{AuditAction, AuditObject};
use crate::store::settings::{self, PUBLIC_URL};
use crate::store::{Conn, Store, StoreError};

/// The base URL of CRLs, OCSP and the issuer certificate in certificates
/// (`--publication-url`), when it is not the public URL.
const PUBLICATION_URL: &str = "publication_url";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error(
        "{given:?} is not a usable URL: give {option} an http:// or https:// URL with a \
         host and no query, such as https://pki.example.com"
    )]
    InvalidPublicUrl { given: String, option: &'static str },
    #[error(
        "this deployment's public URL is {stored}, and certificates already issued name it for \
         their CRLs and OCSP; --public-url {given} differs. Start without --public-url (or with \
         {stored}), or add --change-public-url to move to {given} (certificates issued before \
         keep naming {stored}: keep it answering)"
    )]
    PublicUrlDiffers { stored: String, given: String },
    #[error(
        "certificates already issued name {current} for their CRLs, OCSP and issuer; \
         --publication-url {given} differs. Start without --publication-url (or with {current}), \
         or add --change-publication-url to move to {given} (certificates issued before keep \
         naming {current}: keep it answering)"
    )]
    PublicationUrlDiffers { current: String, given: String },
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

/// What `certd serve` was told of the URLs certificates name.
pub(crate) struct UrlOptions<'a> {
    /// `--public-url`.
    pub public: Option<&'a str>,
    /// The public URL of a first start without `--public-url`.
    pub default_public: &'a str,
    /// `--change-public-url`.
    pub change_public: bool,
    /// `--publication-url`.
    pub publication: Option<&'a str>,
    /// `--change-publication-url`.
    pub change_publication: bool,
}

/// The URLs certificates name, as stored.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentUrls {
    /// The public URL: the API, the console, ACME.
    pub public: String,
    /// The base of CRLs, OCSP and the issuer certificate when it is not the
    /// public URL.
    pub publication: Option<String>,
}

/// The URLs `certd serve` runs with. The public URL is the stored one, or
/// the given one (else the default) on the first start, which stores it.
/// The publication URL is the stored one, or the given one, which is stored
/// on the first start (or when it equals the public URL that certificates
/// name already). A given URL other than the one certificates name is
/// refused unless its change flag is set; a change is logged and audited.
pub(crate) async fn settle_urls(
    store: &Store,
    options: &UrlOptions<'_>,
) -> Result<DeploymentUrls, SettingsError> {
    let given = options
        .public
        .map(|url| normalise_url(url, "--public-url"))
        .transpose()?;
    let given_publication = options
        .publication
        .map(|url| normalise_url(url, "--publication-url"))
        .transpose()?;
    let mut tx = store.write().await?;
    let stored = settings::get(&mut tx, PUBLIC_URL).await?;
    let first_start = stored.is_none();
    let public = match (stored, given) {
        (None, given) => {
            let wanted = given.unwrap_or_else(|| options.default_public.to_string());
            settings::insert_if_missing(&mut tx, PUBLIC_URL, &wanted).await?
        }
        (Some(stored), None) => stored,
        (Some(stored), Some(given)) if stored == given => stored,
        (Some(stored), Some(given)) if options.change_public => {
            record_change(&mut tx, PUBLIC_URL, &stored, &given).await?;
            given
        }
        (Some(stored), Some(given)) => {
            return Err(SettingsError::PublicUrlDiffers { stored, given });
        }
    };
    let publication = match (
        settings::get(&mut tx, PUBLICATION_URL).await?,
        given_publication,
    ) {
        (stored, None) => stored,
        (Some(stored), Some(given)) if stored == given => Some(stored),
        (None, Some(given)) if first_start || given == public => {
            Some(settings::insert_if_missing(&mut tx, PUBLICATION_URL, &given).await?)
        }
        (stored, Some(given)) => {
            let current = stored.unwrap_or_else(|| public.clone());
            if !options.change_publication {
                return Err(SettingsError::PublicationUrlDiffers { current, given });
            }
            record_change(&mut tx, PUBLICATION_URL, &current, &given).await?;
            Some(given)
        }
    };
    tx.commit().await?;
    Ok(DeploymentUrls {
        public,
        publication,
    })
}

/// Stores setting `name`'s new value, audited and logged.
async fn record_change(
    tx: &mut Conn,
    name: &'static str,
    from: &str,
    to: &str,
) -> Result<(), SettingsError> {
    settings::set(tx, name, to).await?;
    let (action, what) = if name == PUBLIC_URL {
        (AuditAction::PublicUrlChanged, "public URL")
    } else {
        (AuditAction::PublicationUrlChanged, "publication URL")
    };
    audit::record(
        tx,
        None,
        action,
        (AuditObject::Setting, 0),
        json!({"from": from, "to": to}),
    )?;
    tracing::warn!(%from, %to, "{what} changed");
    Ok(())
}

/// The stored public URL, for every command but `serve`.
pub(crate) async fn stored_public_url(store: &Store) -> Result<String, SettingsError> {
    let mut conn = store.read().await?;
    settings::get(&mut conn, PUBLIC_URL)
        .await?
        .ok_or(SettingsError::NoPublicUrl)
}

/// The stored publication URL, for every command but `serve`; `None`:
/// certificates name the public URL.
pub(crate) async fn stored_publication_url(store: &Store) -> Result<Option<String>, SettingsError> {
    let mut conn = store.read().await?;
    Ok(settings::get(&mut conn, PUBLICATION_URL).await?)
}

/// `https://PKI.example.com:443/certd/` → `https://pki.example.com/certd`:
/// one spelling per URL, so that equal URLs compare equal. `option` names
/// the option that gave it.
fn normalise_url(given: &str, option: &'static str) -> Result<String, SettingsError> {
    let invalid = || SettingsError::InvalidPublicUrl {
        given: given.to_string(),
        option,
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
        let same =
            |a: &str, b: &str| assert_eq!(normalise_url(a, "--public-url").unwrap(), b, "{a}");
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
            assert!(normalise_url(bad, "--public-url").is_err(), "{bad}");
        }
    }
}
