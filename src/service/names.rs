//! Validation of the DNS names a certificate will carry.

use super::{ServiceError, ServiceResult};
use crate::codes::ErrorCode;
use crate::model::Product;

/// More names than this in one certificate is refused (a limit on list sizes,
/// and well above what any browser-trusted product allows).
pub(super) const MAX_DNS_NAMES: usize = 100;

/// Lower-cases and checks `common_name` and `dns_names`, and returns the full
/// SAN list: the common name first, then the other names without repeats.
pub(super) fn checked_names(
    product: Product,
    common_name: &str,
    dns_names: &[String],
) -> ServiceResult<(String, Vec<String>)> {
    if dns_names.len() > MAX_DNS_NAMES {
        return Err(ServiceError::refused(
            ErrorCode::TooManyDnsNames,
            format!(
                "At most {MAX_DNS_NAMES} dns_names are allowed, {} were given.",
                dns_names.len()
            ),
        ));
    }
    let common_name = checked_name(product, common_name)?;
    let mut names = vec![common_name.clone()];
    for name in dns_names {
        let name = checked_name(product, name)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok((common_name, names))
}

/// The names of an ACME order, checked as the REST API checks an order's:
/// the product is whichever the names need (a wildcard one if any name is).
pub(super) fn checked_acme_names(names: &[String]) -> ServiceResult<Vec<String>> {
    let product = if names.iter().any(|n| normalise_name(n).starts_with("*.")) {
        Product::SslWildcard
    } else {
        Product::SslMultiDomain
    };
    let (first, rest) = names.split_first().ok_or_else(|| {
        ServiceError::refused(
            ErrorCode::InvalidDnsName,
            "An order must name at least one name.",
        )
    })?;
    Ok(checked_names(product, first, rest)?.1)
}

/// A DNS name as stored and compared: trimmed, without the root's trailing
/// dot, lower case; orders and the order list's filter both use it.
pub(crate) fn normalise_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn checked_name(product: Product, name: &str) -> ServiceResult<String> {
    let name = normalise_name(name);
    let (wildcard, host) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name.as_str()),
    };
    if wildcard && product != Product::SslWildcard {
        return Err(ServiceError::refused(
            ErrorCode::WildcardNotOrdered,
            format!("{name:?} is a wildcard name; order the ssl_wildcard product for it."),
        ));
    }
    if !is_hostname(host) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidDnsName,
            format!("{name:?} is not a valid DNS name."),
        ));
    }
    Ok(name)
}

/// RFC 1123 host name with at least two labels.
fn is_hostname(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_comes_first_and_names_are_deduplicated() {
        let (cn, names) = checked_names(
            Product::SslBasic,
            "Example.COM",
            &["www.example.com".into(), "example.com".into()],
        )
        .unwrap();
        assert_eq!(cn, "example.com");
        assert_eq!(names, vec!["example.com", "www.example.com"]);
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "localhost",
            "-a.example.com",
            "a..example.com",
            "a b.example.com",
            "*.*.example.com",
        ] {
            assert!(
                checked_names(Product::SslWildcard, bad, &[]).is_err(),
                "{bad:?}"
            );
        }
        assert!(checked_names(Product::SslBasic, "*.example.com", &[]).is_err());
        assert!(checked_names(Product::SslWildcard, "*.example.com", &[]).is_ok());
    }
}
