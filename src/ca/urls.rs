//! Where relying parties find what certd publishes: the URLs written into
//! every leaf (CRL distribution point, OCSP, CA issuers) and served by `api`.

/// Number of CRL shards. A certificate's shard is fixed at issuance from its
/// (random) serial number, so shards fill evenly: at 1,000,000 revoked
/// certificates a shard holds about 15,600 entries (≈ 800 KB), under 1 MiB.
/// Changing this only affects certificates issued afterwards, because each
/// certificate's shard is stored with it.
pub const CRL_SHARDS: u16 = 64;

/// The public base URL (`--public-url`) and the paths under it; CRLs, OCSP
/// and the issuer certificate may live under another base, the publication
/// URL (`--publication-url`), which relying parties fetch over plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrls {
    base: String,
    /// Where CRLs, OCSP and the issuer certificate are: `base` unless told.
    publication: String,
}

impl PublicUrls {
    /// `base` such as `http://127.0.0.1:8080` or `https://pki.example.com/certd`.
    pub(crate) fn new(base: &str) -> PublicUrls {
        let base = base.trim_end_matches('/').to_string();
        PublicUrls {
            publication: base.clone(),
            base,
        }
    }

    /// The same, with CRLs, OCSP and the issuer certificate under
    /// `publication` (when given) instead of the public base.
    pub(crate) fn with_publication(self, publication: Option<&str>) -> PublicUrls {
        match publication {
            Some(publication) => PublicUrls {
                publication: publication.trim_end_matches('/').to_string(),
                ..self
            },
            None => self,
        }
    }

    pub(crate) fn crl(&self, shard: u16) -> String {
        format!("{}/crl/{shard}.crl", self.publication)
    }

    /// An ACME resource: `path` such as `/directory`.
    pub(crate) fn acme(&self, path: &str) -> String {
        format!("{}/acme{path}", self.base)
    }

    pub(crate) fn ocsp(&self) -> String {
        format!("{}/ocsp", self.publication)
    }

    /// The issuing intermediate in DER, as RFC 5280 asks of caIssuers URLs.
    pub(crate) fn issuer_certificate(&self) -> String {
        format!("{}/ca/issuer.der", self.publication)
    }
}

/// The CRL shard of a serial number: its last two bytes, modulo the shard count.
pub fn crl_shard_of(serial: &[u8]) -> u16 {
    let tail = match serial {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        [b] => u16::from(*b),
        [] => 0,
    };
    tail % CRL_SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_have_no_double_slash() {
        let urls = PublicUrls::new("http://pki.example.com/");
        assert_eq!(urls.crl(7), "http://pki.example.com/crl/7.crl");
        assert_eq!(urls.ocsp(), "http://pki.example.com/ocsp");
        assert_eq!(
            urls.issuer_certificate(),
            "http://pki.example.com/ca/issuer.der"
        );
    }

    #[test]
    fn publication_urls_may_have_their_own_base() {
        let urls = PublicUrls::new("https://pki.example.com")
            .with_publication(Some("http://crl.example.com/pki/"));
        assert_eq!(urls.crl(7), "http://crl.example.com/pki/crl/7.crl");
        assert_eq!(urls.ocsp(), "http://crl.example.com/pki/ocsp");
        assert_eq!(
            urls.issuer_certificate(),
            "http://crl.example.com/pki/ca/issuer.der"
        );
        assert_eq!(
            urls.acme("/directory"),
            "https://pki.example.com/acme/directory"
        );
    }

    #[test]
    fn shards_are_in_range_and_spread() {
        let mut seen = std::collections::HashSet::new();
        for i in 0u16..4096 {
            let shard = crl_shard_of(&[0x12, (i >> 8) as u8, i as u8]);
            assert!(shard < CRL_SHARDS);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), usize::from(CRL_SHARDS));
    }
}
