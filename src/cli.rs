//! The command line: parses arguments and wires the layers together.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::api;
use crate::ca::CertificateAuthority;
use crate::model::Role;
use crate::service::{AutoApprove, NewUserInput, Service, create_user};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "certd",
    version,
    about = "Certificate revocation service speaking DigiCert CertCentral's API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with an API key and print only the key.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Directory for the embedded database and the CA keys.
    #[arg(long, env = "CERTD_DATA", default_value = "./certd-data")]
    data: PathBuf,
    /// Database URL; without it certd uses SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CERTD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Request types approved without an administrator, comma-separated.
    #[arg(long, env = "CERTD_AUTO_APPROVE", value_delimiter = ',')]
    auto_approve: Vec<AutoApproveKind>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
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
    }
}

async fn open_store(args: &DatabaseArgs) -> Result<Store, Box<dyn std::error::Error>> {
    create_private_dir(&args.data)?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => Store::sqlite_url(&args.data),
    };
    Ok(Store::open(&url).await?)
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
    let store = open_store(&args.database).await?;
    let ca = CertificateAuthority::open_or_create(&args.database.data.join("ca"))?;
    let auto_approve = AutoApprove {
        orders: args
            .auto_approve
            .iter()
            .any(|k| matches!(k, AutoApproveKind::Orders)),
        reissues: args
            .auto_approve
            .iter()
            .any(|k| matches!(k, AutoApproveKind::Reissues)),
        revokes: args
            .auto_approve
            .iter()
            .any(|k| matches!(k, AutoApproveKind::Revokes)),
    };
    let service = Arc::new(Service::new(store, ca, auto_approve));
    let mut stdout = std::io::stdout();
    if let Some(key) = service.create_first_admin().await? {
        writeln!(
            stdout,
            "Administrator API key (shown once, keep it safe): {key}"
        )?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    writeln!(
        stdout,
        "certd listening on http://{}",
        listener.local_addr()?
    )?;
    stdout.flush()?;
    axum::serve(listener, api::router(service))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
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
