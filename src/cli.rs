//! The command line: parses arguments and wires the layers together.

mod acme;
mod backend;
mod backup;
mod ca;
mod campaign;
mod everyday;
mod listeners;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api;
use crate::ca::{CertificateAuthority, PublicUrls};
use crate::model::{Role, UserStatus};
use crate::publish::Publisher;
use crate::service::{
    AcmeSettings, ApprovalRules, AutoApprove, DeploymentUrls, EabPolicy, NewUserInput,
    RequestEvents, Service, UrlOptions, create_user, fill_missing_key_hashes, settle_urls,
    stored_public_url, stored_publication_url, warn_of_look_alike_users,
};
use crate::store::audit::ChainReport;
use crate::store::{PoolSettings, SQLITE_FILE, Store};
use crate::validation::{Validator, ValidatorConfig};
use crate::webhook::{self, Deliverer, WebhookConfig, WebhookError, WebhookSecret};

#[derive(Debug, Parser)]
#[command(
    name = "certd",
    version,
    about = "Certificate revocation service speaking DigiCert CertCentral's API"
)]
pub struct Cli {
    /// Log lines as text for people, or as one JSON object per line for log
    /// collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CERTD_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Sign the current CRL shards and write them to a directory
    /// (`N.crl`, DER), for operators who publish CRLs elsewhere.
    Crl(CrlArgs),
    /// Approval requests: list, approve, reject.
    Request {
        #[command(subcommand)]
        command: everyday::RequestCommand,
    },
    /// Certificates: revoke one, or every one listed in a file.
    Cert {
        #[command(subcommand)]
        command: everyday::CertCommand,
    },
    /// API keys: create, revoke, list.
    Key {
        #[command(subcommand)]
        command: everyday::KeyCommand,
    },
    /// Revocation campaigns: select many certificates, approve (another
    /// administrator), hold some back, follow the revocation.
    Campaign {
        #[command(subcommand)]
        command: campaign::CampaignCommand,
    },
    /// ACME: External Account Binding credentials for ACME clients.
    Acme {
        #[command(subcommand)]
        command: acme::AcmeCommand,
    },
    /// Write the database and the CA (private keys included) to one file,
    /// consistent at one instant, while `certd serve` runs (SQLite).
    Backup(backup::BackupArgs),
    /// Make a new data directory from a `certd backup` file.
    Restore(backup::RestoreArgs),
    /// The CA: create it (keys in clear, encrypted or in a PKCS#11 token),
    /// encrypt its key files, print its root certificate.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with an API key and print only the key.
    Add(UserAddArgs),
    /// Disable a user: their API keys stop working at once.
    Disable(everyday::UserStatusArgs),
    /// Enable a disabled user again.
    Enable(everyday::UserStatusArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the audit log's hash chain; report the first entry that
    /// was edited or deleted (exit status 1), or the head hash.
    Verify(DatabaseArgs),
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Directory for the embedded database and the CA keys.
    #[arg(long, env = "CERTD_DATA", default_value = "./certd-data")]
    data: PathBuf,
    /// Database URL; without it certd uses SQLite in the data directory.
    // Hidden in --help: the URL may hold a password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most database connections this process opens.
    #[arg(long, env = "CERTD_DB_MAX_CONNECTIONS", default_value_t = 16)]
    db_max_connections: u32,
    /// Seconds a request waits for a database connection before it answers 503.
    #[arg(long, env = "CERTD_DB_ACQUIRE_TIMEOUT", default_value_t = 5)]
    db_acquire_timeout: u64,
    #[command(flatten)]
    ca_keys: ca::CaKeyArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CERTD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL written into certificates for CRLs, OCSP and the issuer
    /// certificate (unless --publication-url), and of ACME. Stored on the
    /// first start; every later start, every other command and every node
    /// use the stored one [default: the stored URL, or on the first start
    /// http:// (https:// with TLS) and the listen address].
    #[arg(long, env = "CERTD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Move the deployment to a --public-url other than the stored one.
    /// Certificates issued before keep naming the old URL: keep it answering.
    #[arg(long, requires = "public_url")]
    change_public_url: bool,
    /// Request types approved without an administrator, comma-separated.
    #[arg(long, env = "CERTD_AUTO_APPROVE", value_delimiter = ',')]
    auto_approve: Vec<AutoApproveKind>,
    /// Administrators, other than the one who asked, who must approve a
    /// revocation campaign.
    #[arg(long, env = "CERTD_CAMPAIGN_APPROVALS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    campaign_approvals: u32,
    /// The two-person rule for ordinary requests too: nobody approves a
    /// request they made themselves.
    #[arg(long, env = "CERTD_DISTINCT_APPROVER")]
    distinct_approver: bool,
    /// Certificates a running campaign revokes per transaction: smaller
    /// batches let other writes in more often, larger ones finish sooner.
    #[arg(long, env = "CERTD_CAMPAIGN_BATCH_SIZE", default_value_t = crate::service::DEFAULT_CAMPAIGN_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    campaign_batch_size: u32,
    /// Seconds a request may take, reading its body included, before it is
    /// answered 408.
    #[arg(long, env = "CERTD_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// `/services/v2` calls a second per API key (bursts of as many); 0: no limit.
    #[arg(long, env = "CERTD_RATE_LIMIT", default_value_t = 1000)]
    rate_limit: u32,
    /// Seconds between the log's summaries of requests outside the API
    /// (OCSP, CRLs, CA certificates, health, metrics): one line per route
    /// with counts by status, instead of a line per request. 0: a line per
    /// request. Full lines are also logged at `debug` (`RUST_LOG=certd::access=debug`).
    #[arg(long, env = "CERTD_PUBLICATION_LOG_INTERVAL", default_value_t = 60)]
    publication_log_interval: u64,
    /// Milliseconds that requests in flight get to finish after SIGTERM or
    /// Ctrl-C; certd stops accepting connections at once.
    #[arg(long, env = "CERTD_SHUTDOWN_GRACE_MS", default_value_t = 2000)]
    shutdown_grace_ms: u64,
    #[command(flatten)]
    tls: listeners::TlsArgs,
    #[command(flatten)]
    publication: listeners::PublicationArgs,
    #[command(flatten)]
    webhook: WebhookArgs,
    #[command(flatten)]
    acme: AcmeArgs,
}

/// The ACME server (`/acme/directory`).
#[derive(Debug, Args)]
struct AcmeArgs {
    /// Whether new ACME accounts must carry an External Account Binding
    /// (`certd acme eab create`). `optional`: accounts without one order as
    /// the built-in user "ACME without external account".
    #[arg(long, env = "CERTD_ACME_EAB", value_enum, default_value = "required")]
    acme_eab: EabArg,
    /// The port http-01 validation connects to.
    #[arg(long, env = "CERTD_ACME_HTTP01_PORT", default_value_t = 80)]
    acme_http01_port: u16,
    /// The port tls-alpn-01 validation connects to.
    #[arg(long, env = "CERTD_ACME_TLS_ALPN01_PORT", default_value_t = 443)]
    acme_tls_alpn01_port: u16,
    /// DNS server (IP:PORT) for every lookup validation makes (A, AAAA and
    /// dns-01's TXT) [default: the system's resolver and /etc/hosts].
    #[arg(long, env = "CERTD_ACME_DNS_RESOLVER")]
    acme_dns_resolver: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EabArg {
    Required,
    Optional,
}

impl AcmeArgs {
    fn settings(&self, listening: &[SocketAddr]) -> AcmeSettings {
        let validator = ValidatorConfig {
            http01_port: self.acme_http01_port,
            tls_alpn01_port: self.acme_tls_alpn01_port,
            resolver: self.acme_dns_resolver,
            // Validation must never be turned against certd itself.
            forbidden: listening.to_vec(),
            ..ValidatorConfig::default()
        };
        AcmeSettings {
            eab: match self.acme_eab {
                EabArg::Required => EabPolicy::Required,
                EabArg::Optional => EabPolicy::Optional,
            },
            validator: Arc::new(Validator::new(validator)),
        }
    }
}

#[derive(Debug, Args)]
struct WebhookArgs {
    /// URL to POST request events to (a request created, approved or
    /// rejected), signed with the webhook secret.
    #[arg(long, env = "CERTD_WEBHOOK_URL", hide_env_values = true)]
    webhook_url: Option<String>,
    /// Key of the events' HMAC-SHA256 signatures. Prefer the environment
    /// variable or --webhook-secret-file: other local users can see arguments.
    #[arg(
        long,
        env = "CERTD_WEBHOOK_SECRET",
        hide_env_values = true,
        conflicts_with = "webhook_secret_file"
    )]
    webhook_secret: Option<WebhookSecret>,
    /// File holding the webhook secret.
    #[arg(long, env = "CERTD_WEBHOOK_SECRET_FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Milliseconds before the first retry, doubling with each (for tests).
    #[arg(long, env = "CERTD_WEBHOOK_RETRY_BASE_MS", hide = true)]
    webhook_retry_base_ms: Option<u64>,
}

impl WebhookArgs {
    /// The webhook, if one is configured, checked before anything starts.
    fn config(&self) -> Result<Option<WebhookConfig>, WebhookError> {
        let secret = match (&self.webhook_secret, &self.webhook_secret_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(path)) => Some(webhook::read_secret_file(path)?),
            (None, None) => None,
        };
        let retry_base = self
            .webhook_retry_base_ms
            .map_or(webhook::DEFAULT_RETRY_BASE, Duration::from_millis);
        match (&self.webhook_url, secret) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(WebhookError::SecretWithoutUrl),
            (Some(_), None) => Err(WebhookError::MissingSecret),
            (Some(url), Some(secret)) => WebhookConfig::new(url, secret, retry_base).map(Some),
        }
    }
}

#[derive(Debug, Args)]
struct CrlArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Directory to write the CRLs to (created if missing).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AutoApproveKind {
    Orders,
    Reissues,
    Revokes,
}

#[derive(Debug, Args)]
struct UserAddArgs {
    #[command(flatten)]
    remote: everyday::RemoteArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(long)]
    email: String,
    #[arg(long)]
    first_name: String,
    #[arg(long)]
    last_name: String,
    #[arg(long, value_parser = ["administrator", "user"])]
    role: String,
    /// Restrict the key to GET calls.
    #[arg(long)]
    view_only: bool,
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

/// The CA's directory inside the data directory.
const CA_DIR: &str = "ca";

pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User {
            command: UserCommand::Add(args),
        } => add_user(args).await,
        Command::Crl(args) => write_crls(args).await,
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => verify_audit_log(args).await,
        Command::User {
            command: UserCommand::Disable(args),
        } => Ok(everyday::set_user_status(args, UserStatus::Disabled).await?),
        Command::User {
            command: UserCommand::Enable(args),
        } => Ok(everyday::set_user_status(args, UserStatus::Active).await?),
        Command::Request { command } => Ok(everyday::request(command).await?),
        Command::Cert { command } => Ok(everyday::cert(command).await?),
        Command::Key { command } => Ok(everyday::key(command).await?),
        Command::Campaign { command } => Ok(campaign::campaign(command).await?),
        Command::Acme { command } => Ok(acme::acme(command).await?),
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::Ca { command } => ca::run(command),
    }
}

/// The database of a deployment that `certd serve` made. Never creates a
/// data directory or a database: a command pointed at the wrong directory
/// must say so, not start a second CA there.
async fn open_existing_store(args: &DatabaseArgs) -> Result<Store, String> {
    if args.database_url.is_none() && !args.data.join(SQLITE_FILE).is_file() {
        return Err(no_deployment_in(&args.data));
    }
    connect(args).await
}

/// What to say when a command finds no deployment where it was pointed.
fn no_deployment_in(data: &Path) -> String {
    format!(
        "no certd data in {}: give --data (CERTD_DATA) the directory `certd serve` runs with \
         (and --database-url if it uses PostgreSQL), or --url and --key to work through a \
         running server",
        data.display()
    )
}

async fn connect(args: &DatabaseArgs) -> Result<Store, String> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => Store::sqlite_url(&args.data),
    };
    let settings = PoolSettings {
        max_connections: args.db_max_connections.max(1),
        acquire_timeout: std::time::Duration::from_secs(args.db_acquire_timeout),
    };
    Store::open(&url, settings)
        .await
        .map_err(|e| match &args.database_url {
            // The URL may hold a password: never repeat it.
            Some(_) => format!("cannot open the database of --database-url (DATABASE_URL): {e}"),
            None => format!(
                "cannot open the database {}: {e}: check that this user may read and write {}",
                args.data.join(SQLITE_FILE).display(),
                args.data.display()
            ),
        })
}

/// A directory for keys (and its parents): only its owner may enter it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// `serve`'s data directory, made if missing.
fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "{} is not a directory: give --data (CERTD_DATA) a directory for the database and \
             the CA keys (it is made if missing)",
            dir.display()
        ));
    }
    create_private_dir(dir).map_err(|e| {
        format!(
            "cannot make the data directory {}: {e}: give --data (CERTD_DATA) a directory \
                 this user may write",
            dir.display()
        )
    })
}

/// Binds `--listen` (or another listening option, named by `option`),
/// saying what to do when it cannot.
async fn listen(address: SocketAddr, option: &str) -> Result<tokio::net::TcpListener, String> {
    use std::io::ErrorKind;
    tokio::net::TcpListener::bind(address).await.map_err(|e| {
        let hint = match e.kind() {
            ErrorKind::AddrInUse => {
                "another program (another certd?) listens there: stop it, or choose another \
                 address with"
            }
            ErrorKind::PermissionDenied => {
                "this user may not listen there (ports below 1024 need privileges): choose \
                 another port with"
            }
            ErrorKind::AddrNotAvailable => {
                "this machine has no such address: use 127.0.0.1, 0.0.0.0 or one of its own \
                 addresses with"
            }
            _ => "choose another address with",
        };
        format!("cannot listen on {address}: {e}: {hint} {option}")
    })
}

async fn serve(args: ServeArgs) -> CliResult {
    let webhook = args.webhook.config()?;
    // Certificate files next, so that a bad one is the only thing said.
    let tls_files = args.tls.read_files()?;
    // Bind first: a port in use must not leave a new data directory behind,
    // and with port 0 the public URL's default needs the real port.
    let listener = listen(args.listen, "--listen (CERTD_LISTEN)").await?;
    let local = listener.local_addr()?;
    let publication_listener = match args.publication.publication_listen {
        Some(address) => {
            Some(listen(address, "--publication-listen (CERTD_PUBLICATION_LISTEN)").await?)
        }
        None => None,
    };
    let mut listening = vec![local];
    if let Some(publication) = &publication_listener {
        listening.push(publication.local_addr()?);
    }
    let scheme = args.tls.scheme();
    prepare_data_dir(&args.database.data)?;
    let mut store = connect(&args.database).await?;
    store.start_audit_sealer();
    store.start_key_cache();
    let store = Arc::new(store);
    let urls = settle_urls(
        &store,
        &UrlOptions {
            public: args.public_url.as_deref(),
            default_public: &format!("{scheme}://{local}"),
            change_public: args.change_public_url,
            publication: args.publication.publication_url.as_deref(),
            change_publication: args.publication.change_publication_url,
        },
    )
    .await?;
    let public_url = urls.public.clone();
    tracing::info!(%public_url, "certificates and CRLs name this public URL");
    if let Some(publication_url) = &urls.publication {
        tracing::info!(%publication_url, "certificates name this URL for CRLs, OCSP and the issuer");
    } else if args.tls.enabled() && public_url.starts_with("https://") {
        tracing::warn!(
            %public_url,
            "certificates name an https:// URL for their CRLs and OCSP, which relying parties \
             usually fetch over plain HTTP: see --publication-listen and --publication-url"
        );
    }
    warn_of_look_alike_users(&store).await?;
    record_key_hashes(&store).await?;
    let ca_dir = args.database.data.join(CA_DIR);
    let keys = args.database.ca_keys.protection()?;
    let ca = CertificateAuthority::open_or_create(&ca_dir, public_urls(&urls), &keys)
        .map_err(|e| format!("the CA in {}: {e}", ca_dir.display()))?;
    let ca = Arc::new(ca);
    let tls = args.tls.start(tls_files, &ca, &public_url)?;
    let publisher = Publisher::start(Arc::clone(&store), Arc::clone(&ca)).await?;
    let auto_approve = AutoApprove {
        orders: args.auto_approve.contains(&AutoApproveKind::Orders),
        reissues: args.auto_approve.contains(&AutoApproveKind::Reissues),
        revokes: args.auto_approve.contains(&AutoApproveKind::Revokes),
    };
    let approval_rules = ApprovalRules {
        campaign_approvals: args.campaign_approvals,
        distinct_approver: args.distinct_approver,
        campaign_batch_size: args.campaign_batch_size,
    };
    let mut service = Service::new(Arc::clone(&store), ca, publisher, auto_approve)
        .with_approval_rules(approval_rules)
        .with_acme(args.acme.settings(&listening));
    if let Some(config) = webhook {
        let committed = Arc::new(tokio::sync::Notify::new());
        Deliverer::start(store, config, Arc::clone(&committed))?;
        service = service.with_request_events(RequestEvents::new(
            api::request_json,
            api::campaign_json,
            committed,
        ));
    }
    let service = Arc::new(service);
    service.start_batching();
    service.start_campaign_runner();
    let stalled = service.acme_fail_stalled_validations().await?;
    if stalled > 0 {
        tracing::warn!(
            stalled,
            "failed ACME validations that a stopped certd left under way"
        );
    }
    let mut stdout = std::io::stdout();
    if let Some((admin, key)) = service.create_first_admin().await? {
        writeln!(
            stdout,
            "Administrator API key for {} (shown once, keep it safe): {key}",
            admin.email
        )?;
    }
    writeln!(stdout, "certd listening on {scheme}://{local}")?;
    if let Some(publication) = &publication_listener {
        writeln!(
            stdout,
            "certd publishing on http://{}",
            publication.local_addr()?
        )?;
    }
    stdout.flush()?;
    let limits = api::Limits {
        rate_limit: api::RateLimit::per_second(args.rate_limit),
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
    };
    let access_log = api::AccessLog::start(Duration::from_secs(args.publication_log_interval));
    let grace = Duration::from_millis(args.shutdown_grace_ms);
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let publication = match publication_listener {
        Some(listener) => {
            let app =
                api::publication_router(Arc::clone(&service), &limits, Arc::clone(&access_log));
            let serving = api::serve(listener, app, None, until_stopped(stopped.clone()), grace);
            Some(tokio::spawn(serving))
        }
        None => None,
    };
    let app = api::router(service, limits, Arc::clone(&access_log));
    api::serve(listener, app, tls, until_stopped(stopped), grace).await?;
    if let Some(publication) = publication {
        publication.await??;
    }
    // What was counted since the last summary would be lost otherwise.
    access_log.summarise();
    Ok(())
}

/// Records the key hash of certificates issued before certd kept it (for
/// blocked keys), before serving: a keyCompromise revocation must find
/// every certificate sharing the key.
async fn record_key_hashes(store: &Store) -> CliResult {
    let done = fill_missing_key_hashes(store).await?;
    if done.filled > 0 {
        tracing::info!(
            certificates = done.filled,
            "recorded the public key hash of certificates issued before certd kept it"
        );
    }
    if done.unreadable > 0 {
        tracing::warn!(
            certificates = done.unreadable,
            "certificates whose PEM could not be read: their keys cannot be blocked"
        );
    }
    Ok(())
}

/// The CA beside an existing deployment's database, with its stored public
/// URL, for the commands other than `serve`; never creates one.
async fn open_existing_ca(
    database: &DatabaseArgs,
    store: &Store,
) -> Result<CertificateAuthority, String> {
    let urls = DeploymentUrls {
        public: stored_public_url(store).await.map_err(|e| e.to_string())?,
        publication: stored_publication_url(store)
            .await
            .map_err(|e| e.to_string())?,
    };
    let ca_dir = database.data.join(CA_DIR);
    let keys = database.ca_keys.protection()?;
    CertificateAuthority::open_existing(&ca_dir, public_urls(&urls), &keys)
        .map_err(|e| format!("the CA in {}: {e}", ca_dir.display()))?
        .ok_or_else(|| {
            format!(
                "no CA in {}: give --data (CERTD_DATA) the directory `certd serve` runs with, \
                 or --url and --key to work through a running server",
                ca_dir.display()
            )
        })
}

/// The URLs the CA writes into what it signs.
fn public_urls(urls: &DeploymentUrls) -> PublicUrls {
    PublicUrls::new(&urls.public).with_publication(urls.publication.as_deref())
}

async fn verify_audit_log(args: DatabaseArgs) -> CliResult {
    let store = open_existing_store(&args).await?;
    match store.verify_audit_chain().await? {
        ChainReport::Intact {
            entries,
            head,
            unsealed,
        } => {
            println!("audit log intact: {entries} entries, head {head}");
            if unsealed > 0 {
                println!(
                    "{unsealed} newer entries are not chained yet (written since the check began)"
                );
            }
            Ok(())
        }
        ChainReport::Broken { entry_id, checked } => Err(format!(
            "audit log broken at entry {entry_id}: it or the entry before it was edited or \
             deleted ({checked} entries before it verified)"
        )
        .into()),
    }
}

async fn write_crls(args: CrlArgs) -> CliResult {
    let store = Arc::new(open_existing_store(&args.database).await?);
    let ca = Arc::new(open_existing_ca(&args.database, &store).await?);
    let started = std::time::Instant::now();
    let bar = everyday::progress(u64::from(crate::ca::CRL_SHARDS), "signing CRLs");
    let publisher = Publisher::build_reporting(store, ca, &|_| bar.inc(1)).await?;
    bar.finish_and_clear();
    let signed = started.elapsed();
    std::fs::create_dir_all(&args.out)?;
    let crls = publisher.crls();
    for crl in &crls {
        std::fs::write(args.out.join(format!("{}.crl", crl.shard)), &crl.der)?;
    }
    let entries: usize = crls.iter().map(|c| c.entries).sum();
    let largest = crls.iter().map(|c| c.der.len()).max().unwrap_or(0);
    println!(
        "wrote {} CRLs ({entries} entries, largest {largest} bytes) to {} in {} ms",
        crls.len(),
        args.out.display(),
        signed.as_millis()
    );
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

/// Prints only the new key, so that scripts can capture it.
async fn add_user(args: UserAddArgs) -> CliResult {
    let input = NewUserInput {
        first_name: args.first_name,
        last_name: args.last_name,
        email: args.email,
        role: Role::parse(&args.role).ok_or("unknown role")?,
        view_only: args.view_only,
    };
    let key = match args.remote.remote()? {
        Some(remote) => backend::Backend::Remote(remote).add_user(&input).await?,
        // Needs only the database, not the CA: it works on a node whose
        // PostgreSQL database is given with --database-url.
        None => {
            let store = open_existing_store(&args.database).await?;
            create_user(&store, &input).await?.1
        }
    };
    println!("{key}");
    Ok(())
}
