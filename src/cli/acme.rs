//! `certd acme ...`: what operators do for ACME clients from the command
//! line, through the API like the everyday commands (remotely, or
//! in-process on the database while `certd serve` runs).

use clap::Subcommand;

use super::backend::CliResult;
use super::everyday::{TargetArgs, print_json};

#[derive(Debug, Subcommand)]
pub(super) enum AcmeCommand {
    /// External Account Binding credentials, which ACME accounts need to
    /// register (certbot's --eab-kid and --eab-hmac-key).
    Eab {
        #[command(subcommand)]
        command: EabCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum EabCommand {
    /// Create a credential for a user: prints the key id, then the HMAC key
    /// (base64url), one a line; `--json` prints `{"kid","hmac_key","user_id"}`.
    /// The HMAC key is shown this once.
    Create {
        /// The user (email or id) whose orders the bound ACME account places.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

pub(super) async fn acme(command: AcmeCommand) -> CliResult<()> {
    let AcmeCommand::Eab {
        command: EabCommand::Create { user, target },
    } = command;
    let created = target.backend().await?.create_eab_credential(&user).await?;
    if target.json() {
        print_json(&created);
    } else {
        // Exactly two lines, so that scripts can read them.
        let field = |name: &str| created[name].as_str().unwrap_or_default().to_string();
        println!("{}\n{}", field("kid"), field("hmac_key"));
    }
    Ok(())
}
