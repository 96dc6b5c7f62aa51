//! What `certd serve` listens on beyond `--listen`: HTTPS (`--tls-cert` and
//! `--tls-key`, re-read on SIGHUP; or `--tls auto`, a certificate from
//! certd's own CA, renewed before it expires), and a plain-HTTP listener
//! for relying parties (`--publication-listen`) with the URL certificates
//! name for CRLs, OCSP and the issuer (`--publication-url`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::api::{ServerKey, Tls};
use crate::ca::CertificateAuthority;

/// How long a `--tls auto` certificate is valid.
const AUTO_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// How soon a failed `--tls auto` renewal is tried again.
const AUTO_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub(super) struct TlsArgs {
    /// Serve HTTPS with a certificate that certd issues itself from its own
    /// CA for the public URL's host, kept in memory and renewed when two
    /// thirds of its 30 days have passed (also on SIGHUP). Clients trust
    /// the root (`/ca/chain.pem`).
    #[arg(long, env = "CERTD_TLS", value_enum, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls: Option<TlsMode>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate
    /// first); re-read with --tls-key on SIGHUP.
    #[arg(long, env = "CERTD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, SEC1 or RSA, not encrypted) of --tls-cert.
    #[arg(long, env = "CERTD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a `--tls auto` certificate is valid (tests).
    #[arg(long, env = "CERTD_TLS_AUTO_VALIDITY_SECS", hide = true)]
    tls_auto_validity_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TlsMode {
    /// A certificate from certd's own CA.
    Auto,
}

/// The certificate and key files, read before anything else starts.
pub(super) struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    loaded: ServerKey,
}

impl TlsArgs {
    /// Whether certd serves HTTPS.
    pub(super) fn enabled(&self) -> bool {
        self.tls.is_some() || self.tls_cert.is_some()
    }

    /// `https` or `http`.
    pub(super) fn scheme(&self) -> &'static str {
        if self.enabled() { "https" } else { "http" }
    }

    /// Reads `--tls-cert` and `--tls-key` (if given): a bad file stops
    /// `serve` before it binds or touches the data directory.
    pub(super) fn read_files(&self) -> Result<Option<TlsFiles>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let loaded = ServerKey::from_files(cert, key)?;
        warn_if_expired(&loaded, &format!("--tls-cert {}", cert.display()));
        Ok(Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            loaded,
        }))
    }

    /// HTTPS as told, its certificate kept current by a task: the files
    /// re-read on SIGHUP, or `--tls auto`'s certificate issued for the host
    /// of `public_url` and renewed. `None`: plain HTTP.
    pub(super) fn start(
        &self,
        files: Option<TlsFiles>,
        ca: &Arc<CertificateAuthority>,
        public_url: &str,
    ) -> Result<Option<Tls>, String> {
        if self.enabled() && public_url.starts_with("http://") {
            tracing::warn!(
                %public_url,
                "certd serves HTTPS but the public URL is http://: ACME clients and links follow \
                 it; move it with --public-url https://... --change-public-url"
            );
        }
        if let Some(files) = files {
            let tls = Tls::new(files.loaded.clone())?;
            let hangups = hangups()?;
            tokio::spawn(reload_on_hangup(tls.clone(), files, hangups));
            return Ok(Some(tls));
        }
        if self.tls != Some(TlsMode::Auto) {
            return Ok(None);
        }
        let host = url::Url::parse(public_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
            .ok_or_else(|| format!("--tls auto: the public URL {public_url} names no host"))?;
        if host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
        {
            tracing::warn!(
                %public_url,
                "--tls auto certifies the public URL's host, which is no address clients \
                 connect to: give --public-url (with --change-public-url) the name or address \
                 clients use"
            );
        }
        let validity = self
            .tls_auto_validity_secs
            .map_or(AUTO_VALIDITY, |secs| Duration::from_secs(secs.max(3)));
        let auto = AutoCertificate {
            ca: Arc::clone(ca),
            host,
            validity,
        };
        let (key, renew_in) = auto
            .issue()
            .map_err(|e| format!("--tls auto: cannot issue a server certificate: {e}"))?;
        let tls = Tls::new(key)?;
        let hangups = hangups()?;
        tokio::spawn(auto.renew(tls.clone(), renew_in, hangups));
        Ok(Some(tls))
    }
}

/// SIGHUP, caught from now on (its default would stop certd).
fn hangups() -> Result<Signal, String> {
    signal(SignalKind::hangup()).map_err(|e| format!("cannot catch SIGHUP: {e}"))
}

/// Re-reads the files on each SIGHUP; keeps the current certificate when
/// they are unusable (a half-written renewal, say).
async fn reload_on_hangup(tls: Tls, files: TlsFiles, mut hangups: Signal) {
    while hangups.recv().await.is_some() {
        let (cert, key) = (files.cert.clone(), files.key.clone());
        let read = tokio::task::spawn_blocking(move || ServerKey::from_files(&cert, &key)).await;
        match read {
            Ok(Ok(loaded)) => {
                warn_if_expired(&loaded, &format!("--tls-cert {}", files.cert.display()));
                tls.replace(loaded);
                tracing::info!(
                    cert = %files.cert.display(),
                    "SIGHUP: new connections get the TLS certificate just read"
                );
            }
            Ok(Err(error)) => tracing::warn!(
                %error,
                "SIGHUP: kept the TLS certificate in use"
            ),
            Err(error) => tracing::warn!(%error, "SIGHUP: kept the TLS certificate in use"),
        }
    }
}

/// Logs a warning when the certificate has expired or is not valid yet.
fn warn_if_expired(key: &ServerKey, what: &str) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(key.leaf()) else {
        return;
    };
    if !cert.validity().is_valid() {
        tracing::warn!(
            not_before = %cert.validity().not_before,
            not_after = %cert.validity().not_after,
            "the certificate of {what} is not valid now: clients will refuse it"
        );
    }
}

/// `--tls auto`'s certificate: what it is issued for.
struct AutoCertificate {
    ca: Arc<CertificateAuthority>,
    host: String,
    validity: Duration,
}

impl AutoCertificate {
    /// A new certificate and key, and when to renew it: once two thirds of
    /// its lifetime have passed.
    fn issue(&self) -> Result<(ServerKey, Duration), String> {
        let issued = self
            .ca
            .issue_server_certificate(&self.host, self.validity)
            .map_err(|e| e.to_string())?;
        let key = ServerKey::from_pem_chain(&issued.chain_pem, issued.key.serialize_der())?;
        let left = issued.not_after - time::OffsetDateTime::now_utc();
        let renew_in = Duration::try_from(left * 2 / 3).unwrap_or(Duration::ZERO);
        tracing::info!(
            host = %self.host,
            serial = %issued.serial_hex,
            not_after = %issued.not_after,
            "serving HTTPS with a server certificate from certd's CA"
        );
        Ok((key, renew_in))
    }

    /// Renews the certificate when it is due, or at once on SIGHUP; a
    /// failure (a token that does not answer) is retried shortly, the
    /// current certificate served meanwhile.
    async fn renew(self, tls: Tls, mut renew_in: Duration, mut hangups: Signal) {
        let auto = Arc::new(self);
        let mut hangups_open = true;
        loop {
            tokio::select! {
                () = tokio::time::sleep(renew_in) => {}
                hangup = hangups.recv(), if hangups_open => {
                    if hangup.is_none() {
                        hangups_open = false;
                        continue;
                    }
                    tracing::info!("SIGHUP: renewing the server certificate");
                }
            }
            let issuing = Arc::clone(&auto);
            renew_in = match tokio::task::spawn_blocking(move || issuing.issue()).await {
                Ok(Ok((key, next))) => {
                    tls.replace(key);
                    next
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot renew the server certificate; retrying soon");
                    AUTO_RETRY
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot renew the server certificate; retrying soon");
                    AUTO_RETRY
                }
            };
        }
    }
}

/// Where relying parties fetch CRLs, OCSP and the CA's certificates.
#[derive(Debug, Args)]
pub(super) struct PublicationArgs {
    /// Also serve CRLs, OCSP and /ca/* (nothing else) over plain HTTP on
    /// this address (port 0 picks a free port), as relying parties fetch
    /// them.
    #[arg(long, env = "CERTD_PUBLICATION_LISTEN")]
    pub(super) publication_listen: Option<SocketAddr>,
    /// Base URL written into certificates for their CRL distribution point
    /// and AIA (OCSP, CA issuers) instead of the public URL, e.g. the
    /// --publication-listen address's. Stored on the first start like the
    /// public URL [default: the stored URL, or the public URL].
    #[arg(long, env = "CERTD_PUBLICATION_URL")]
    pub(super) publication_url: Option<String>,
    /// Move the deployment to a --publication-url other than the one
    /// certificates name. Certificates issued before keep naming the old
    /// URL: keep it answering.
    #[arg(long, requires = "publication_url")]
    pub(super) change_publication_url: bool,
}
