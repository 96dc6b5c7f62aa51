//! certd: a certificate revocation service that speaks DigiCert CertCentral's
//! REST API and runs its own issuing CA.

mod api;
mod ca;
mod cli;
mod model;
mod service;
mod store;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("certd: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
