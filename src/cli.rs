//! The command line: parses arguments and wires the layers together.

mod backend;
mod backup;
mod everyday;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api;
use crate::ca::{CaError, CertificateAuthority, PublicUrls};
use crate::model::{Role, UserStatus};
use crate::publish::Publisher;
use crate::service::{AutoApprove, NewUserInput, RequestEvents, Service, create_user};
use crate::store::audit::ChainReport;
use crate::store::{PoolSettings, Store};
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
    /// Write the database and the CA (private keys included) to one file,
    /// consistent at one instant, while `certd serve` runs (SQLite).
    Backup(backup::BackupArgs),
    /// Make a new data directory from a `certd backup` file.
    Restore(backup::RestoreArgs),
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

/// `--public-url` of the commands that use the CA beside a server: it must be
/// the one the server runs with.
#[derive(Debug, Args)]
struct ServedPublicUrl {
    /// The public base URL `certd serve` runs with: names each CRL shard in
    /// its issuing distribution point, and goes into certificates that an
    /// approval issues.
    #[arg(
        long,
        env = "CERTD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    public_url: String,
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
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CERTD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL written into certificates for CRLs, OCSP and the issuer
    /// certificate [default: http:// and the listen address].
    #[arg(long, env = "CERTD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Request types approved without an administrator, comma-separated.
    #[arg(long, env = "CERTD_AUTO_APPROVE", value_delimiter = ',')]
    auto_approve: Vec<AutoApproveKind>,
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
    #[command(flatten)]
    webhook: WebhookArgs,
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
    #[command(flatten)]
    public_url: ServedPublicUrl,
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
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
    }
}

async fn open_store(args: &DatabaseArgs) -> Result<Store, Box<dyn std::error::Error>> {
    create_private_dir(&args.data)?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => Store::sqlite_url(&args.data),
    };
    let settings = PoolSettings {
        max_connections: args.db_max_connections.max(1),
        acquire_timeout: std::time::Duration::from_secs(args.db_acquire_timeout),
    };
    Ok(Store::open(&url, settings).await?)
}

/// The data directory holds keys: only its owner may enter it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

async fn serve(args: ServeArgs) -> CliResult {
    let webhook = args.webhook.config()?;
    let store = Arc::new(open_store(&args.database).await?);
    // Bind first: with port 0 the public URL default needs the real port.
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let ca = Arc::new(open_ca(&args.database, &public_url)?);
    let publisher = Publisher::start(Arc::clone(&store), Arc::clone(&ca)).await?;
    let auto_approve = AutoApprove {
        orders: args.auto_approve.contains(&AutoApproveKind::Orders),
        reissues: args.auto_approve.contains(&AutoApproveKind::Reissues),
        revokes: args.auto_approve.contains(&AutoApproveKind::Revokes),
    };
    let mut service = Service::new(Arc::clone(&store), ca, publisher, auto_approve);
    if let Some(config) = webhook {
        let committed = Arc::new(tokio::sync::Notify::new());
        Deliverer::start(store, config, Arc::clone(&committed))?;
        service = service.with_request_events(RequestEvents::new(api::request_json, committed));
    }
    let service = Arc::new(service);
    let mut stdout = std::io::stdout();
    if let Some(key) = service.create_first_admin().await? {
        writeln!(
            stdout,
            "Administrator API key (shown once, keep it safe): {key}"
        )?;
    }
    writeln!(stdout, "certd listening on http://{local}")?;
    stdout.flush()?;
    let limits = api::Limits {
        rate_limit: api::RateLimit::per_second(args.rate_limit),
        request_timeout: std::time::Duration::from_secs(args.request_timeout.max(1)),
    };
    let access_log = api::AccessLog::start(Duration::from_secs(args.publication_log_interval));
    let app = api::router(service, limits, Arc::clone(&access_log));
    api::serve(listener, app, shutdown_signal()).await?;
    // What was counted since the last summary would be lost otherwise.
    access_log.summarise();
    Ok(())
}

fn open_ca(database: &DatabaseArgs, public_url: &str) -> Result<CertificateAuthority, CaError> {
    CertificateAuthority::open_or_create(&database.data.join("ca"), PublicUrls::new(public_url))
}

async fn verify_audit_log(args: DatabaseArgs) -> CliResult {
    let store = open_store(&args).await?;
    match store.verify_audit_chain().await? {
        ChainReport::Intact { entries, head } => {
            println!("audit log intact: {entries} entries, head {head}");
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
    let store = Arc::new(open_store(&args.database).await?);
    let ca = Arc::new(open_ca(&args.database, &args.public_url.public_url)?);
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

async fn add_user(args: UserAddArgs) -> CliResult {
    let store = open_store(&args.database).await?;
    let input = NewUserInput {
        first_name: args.first_name,
        last_name: args.last_name,
        email: args.email,
        role: Role::parse(&args.role).ok_or("unknown role")?,
        view_only: args.view_only,
    };
    let (_, key) = create_user(&store, &input).await?;
    println!("{key}");
    Ok(())
}
