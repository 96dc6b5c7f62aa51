//! The `certd` binary: logging set-up, then the command line.

use std::io::IsTerminal;

use certd::cli::{Cli, LogFormat};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            // PostgreSQL's notices (such as "relation _sqlx_migrations already
            // exists, skipping" at every start) are not news to an operator.
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal who has not asked for
        // none (https://no-color.org), never in log files.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // Fields at the top level, so collectors index `status` and `route`.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match certd::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("certd: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
