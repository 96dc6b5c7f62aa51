//! The everyday commands: approval requests, revocations, API keys and
//! users, against a running server (`--url`, `--key`) or the database
//! (`--data`, `--database-url`). Human tables by default, the API's JSON with
//! `--json`; progress bars on stderr, and only on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::DatabaseArgs;
use super::backend::{Backend, CliError, CliResult, Local, Remote, Revoked};
use crate::api::wire::VIEW_ONLY_ROLE_ID;
use crate::model::{RequestStatus, RequestType, UserStatus};
use crate::service::Decision;

/// A running certd to work through instead of the database.
#[derive(Debug, Args)]
pub(super) struct RemoteArgs {
    /// Base URL of a running certd: the command then uses its HTTP API with
    /// `--key` instead of opening the database.
    #[arg(long, env = "CERTD_URL")]
    url: Option<String>,
    /// An administrator's API key, for `--url`.
    #[arg(long, env = "CERTD_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A CA certificate (PEM) to trust for `--url` besides the system's
    /// roots: the root of a certd serving `--tls auto` (`certd ca root`).
    #[arg(long, env = "CERTD_CA_CERT", requires = "url")]
    ca_cert: Option<std::path::PathBuf>,
}

impl RemoteArgs {
    /// The server's API when `--url` is given, `None` for the database.
    pub(super) fn remote(&self) -> CliResult<Option<Remote>> {
        match (&self.url, &self.key) {
            (Some(url), Some(key)) => Ok(Some(Remote::new(url, key, self.ca_cert.as_deref())?)),
            (Some(_), None) => Err(CliError::Setup(
                "--url needs --key (or CERTD_API_KEY): an administrator's API key".into(),
            )),
            (None, _) => Ok(None),
        }
    }
}

/// Where a command runs, and how it answers.
#[derive(Debug, Args)]
pub(super) struct TargetArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Without `--url`: the administrator (email) the audit log records
    /// [default: the first active administrator].
    #[arg(long = "as", env = "CERTD_AS", value_name = "EMAIL")]
    acting_as: Option<String>,
    /// Print the API's JSON instead of tables and sentences.
    #[arg(long)]
    json: bool,
}

impl TargetArgs {
    pub(super) async fn backend(&self) -> CliResult<Backend> {
        match self.remote.remote()? {
            Some(remote) => Ok(Backend::Remote(remote)),
            None => Ok(Backend::Local(Box::new(
                Local::open(&self.database, self.acting_as.as_deref()).await?,
            ))),
        }
    }

    /// `--json`: the API's JSON instead of tables and sentences.
    pub(super) fn json(&self) -> bool {
        self.json
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum RequestCommand {
    /// List requests (all of them, oldest first).
    List {
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        #[arg(long = "type", value_enum)]
        kind: Option<TypeFilter>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Approve a pending request (a revoke request revokes at once).
    Approve(DecisionArgs),
    /// Reject a pending request.
    Reject(DecisionArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum StatusFilter {
    Submitted,
    Pending,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum TypeFilter {
    NewRequest,
    Reissue,
    Revoke,
}

#[derive(Debug, Args)]
pub(super) struct DecisionArgs {
    /// The request's id.
    id: i64,
    /// The processor comment kept with the decision.
    #[arg(long)]
    comment: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Subcommand)]
pub(super) enum CertCommand {
    /// Revoke a certificate by id or serial number, or every one listed in a file.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub(super) struct RevokeArgs {
    /// The certificate's id or serial number (hex).
    #[arg(required_unless_present = "from_file", conflicts_with = "from_file")]
    certificate: Option<String>,
    /// A file with one certificate id or serial number a line (blank lines and
    /// lines starting with `#` are skipped).
    #[arg(long)]
    from_file: Option<PathBuf>,
    #[arg(long, help = crate::service::REASON_HELP)]
    reason: String,
    /// Why, kept with the request (the API's `comments`).
    #[arg(long)]
    comment: Option<String>,
    /// Revoke at once instead of creating a request that waits for approval.
    #[arg(long)]
    skip_approval: bool,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Subcommand)]
pub(super) enum KeyCommand {
    /// Create an API key for a user and print only the key.
    Create {
        /// The user's id or email.
        #[arg(long)]
        user: String,
        /// Restrict the key to GET calls.
        #[arg(long)]
        view_only: bool,
        /// A name to tell the key apart in `certd key list`.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Revoke an API key: calls with it are refused from now on.
    Revoke {
        /// The key's id (see `certd key list`).
        id: i64,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List API keys (never the keys themselves).
    List {
        /// Only this user's keys (id or email).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Debug, Args)]
pub(super) struct UserStatusArgs {
    /// The user's id or email.
    user: String,
    #[command(flatten)]
    target: TargetArgs,
}

pub(super) async fn request(command: RequestCommand) -> CliResult<()> {
    match command {
        RequestCommand::List {
            status,
            kind,
            target,
        } => {
            let status = status.map(|s| match s {
                StatusFilter::Submitted => RequestStatus::Submitted,
                StatusFilter::Pending => RequestStatus::Pending,
                StatusFilter::Approved => RequestStatus::Approved,
                StatusFilter::Rejected => RequestStatus::Rejected,
            });
            let kind = kind.map(|k| match k {
                TypeFilter::NewRequest => RequestType::NewRequest,
                TypeFilter::Reissue => RequestType::Reissue,
                TypeFilter::Revoke => RequestType::Revoke,
            });
            let requests = target.backend().await?.requests(status, kind).await?;
            if target.json {
                print_json(&json!({ "requests": requests }));
            } else {
                println!("{}", request_table(&requests));
            }
            Ok(())
        }
        RequestCommand::Approve(args) => decide(args, Decision::Approve).await,
        RequestCommand::Reject(args) => decide(args, Decision::Reject).await,
    }
}

async fn decide(args: DecisionArgs, decision: Decision) -> CliResult<()> {
    let backend = args.target.backend().await?;
    backend
        .decide(args.id, decision, args.comment.as_deref())
        .await?;
    let status = match decision {
        Decision::Approve => RequestStatus::Approved,
        Decision::Reject => RequestStatus::Rejected,
    };
    report(
        args.target.json,
        json!({"id": args.id, "status": status.as_str()}),
        format!("request {} {status}", args.id),
    );
    Ok(())
}

fn request_table(requests: &[Value]) -> Table {
    let mut table = new_table([
        "ID",
        "TYPE",
        "STATUS",
        "DATE",
        "REQUESTER",
        "ORDER",
        "CERTIFICATE",
        "SERIAL",
        "REASON",
        "COMMENTS",
    ]);
    for request in requests.iter().map(typed::<RequestLine>) {
        let certificate = request.order.certificate.unwrap_or_default();
        table.add_row([
            request.id.to_string(),
            request.kind,
            request.status,
            request.date,
            request.requester.email,
            request.order.id.to_string(),
            shown(certificate.id),
            shown(certificate.serial_number),
            shown(request.revocation_reason),
            shown(request.comments),
        ]);
    }
    table
}

/// The fields of the API's answers that tables and sentences show: the
/// `--json` output is the API's JSON itself, these only read it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestLine {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    date: String,
    requester: Person,
    order: OrderLine,
    revocation_reason: Option<String>,
    comments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Person {
    id: i64,
    email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrderLine {
    id: i64,
    certificate: Option<CertificateLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CertificateLine {
    id: Option<i64>,
    serial_number: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyLine {
    id: i64,
    name: Option<String>,
    user: Person,
    status: String,
    restricted_to_role_id: i64,
    date_created: String,
    last_used_date: Option<String>,
    /// Only in the answer to a key's creation.
    api_key: String,
}

/// What a table or sentence needs of an answer; a field the answer lacks
/// is shown empty.
pub(super) fn typed<T: DeserializeOwned + Default>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// An optional field as a table cell: empty when absent.
pub(super) fn shown(value: Option<impl std::fmt::Display>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub(super) async fn cert(command: CertCommand) -> CliResult<()> {
    let CertCommand::Revoke(args) = command;
    let backend = args.target.backend().await?;
    match (&args.certificate, &args.from_file) {
        (Some(certificate), _) => {
            let outcome = revoke_one(&backend, &args, certificate).await?;
            let (json, sentence) = revoke_result(certificate, &outcome);
            report(args.target.json, json, sentence);
            Ok(())
        }
        (None, Some(file)) => revoke_from_file(&backend, &args, file).await,
        (None, None) => Err(CliError::Setup(
            "name a certificate or give --from-file".into(),
        )),
    }
}

async fn revoke_one(backend: &Backend, args: &RevokeArgs, certificate: &str) -> CliResult<Revoked> {
    backend
        .revoke(
            certificate,
            &args.reason,
            args.comment.as_deref(),
            args.skip_approval,
        )
        .await
}

/// The JSON and the sentence for one revoke's outcome.
fn revoke_result(certificate: &str, outcome: &Revoked) -> (Value, String) {
    match outcome {
        Revoked::Now => (
            json!({"certificate": certificate, "result": "revoked"}),
            format!("certificate {certificate} revoked"),
        ),
        Revoked::Requested(request) => {
            let line = typed::<RequestLine>(request);
            (
                json!({"certificate": certificate, "result": "requested", "request": request}),
                format!(
                    "revoke request {} for certificate {certificate} is {}",
                    line.id, line.status
                ),
            )
        }
    }
}

/// Revokes every certificate a file lists, going on after failures: one
/// line of output per failure, a summary, exit status 1 if any failed.
async fn revoke_from_file(backend: &Backend, args: &RevokeArgs, file: &Path) -> CliResult<()> {
    let contents = std::fs::read_to_string(file)
        .map_err(|e| CliError::Setup(format!("cannot read {}: {e}", file.display())))?;
    let lines: Vec<(usize, &str)> = contents
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let bar = progress(lines.len() as u64, "revoking");
    let (mut results, mut revoked, mut requested, mut failed) = (Vec::new(), 0, 0, 0);
    for (line, certificate) in lines {
        let mut result = match revoke_one(backend, args, certificate).await {
            Ok(outcome) => {
                match outcome {
                    Revoked::Now => revoked += 1,
                    Revoked::Requested(_) => requested += 1,
                }
                revoke_result(certificate, &outcome).0
            }
            Err(error) => {
                failed += 1;
                bar.suspend(|| eprintln!("line {line}: {certificate}: {error}"));
                json!({"certificate": certificate, "result": "failed",
                       "error": {"code": error.code(), "message": error.message()}})
            }
        };
        result["line"] = json!(line);
        results.push(result);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report(
        args.target.json,
        json!({"results": results, "revoked": revoked, "requested": requested, "failed": failed}),
        format!("{revoked} revoked, {requested} requested, {failed} failed"),
    );
    if failed > 0 {
        return Err(CliError::PartlyFailed { failed });
    }
    Ok(())
}

pub(super) async fn key(command: KeyCommand) -> CliResult<()> {
    match command {
        KeyCommand::Create {
            user,
            view_only,
            name,
            target,
        } => {
            let created = target
                .backend()
                .await?
                .create_key(&user, view_only, name.as_deref())
                .await?;
            // Like `user add`: only the key, so that scripts can capture it.
            let key_only = typed::<KeyLine>(&created).api_key;
            report(target.json, created, key_only);
            Ok(())
        }
        KeyCommand::Revoke { id, target } => {
            target.backend().await?.revoke_key(id).await?;
            report(
                target.json,
                json!({"id": id, "status": "revoked"}),
                format!("key {id} revoked"),
            );
            Ok(())
        }
        KeyCommand::List { user, target } => {
            let keys = target.backend().await?.keys(user.as_deref()).await?;
            if target.json {
                print_json(&json!({ "keys": keys }));
            } else {
                let mut table = new_table([
                    "ID",
                    "NAME",
                    "USER",
                    "EMAIL",
                    "STATUS",
                    "VIEW ONLY",
                    "CREATED",
                    "LAST USED",
                ]);
                for key in keys.iter().map(typed::<KeyLine>) {
                    let view_only = key.restricted_to_role_id == VIEW_ONLY_ROLE_ID;
                    table.add_row([
                        key.id.to_string(),
                        shown(key.name),
                        key.user.id.to_string(),
                        key.user.email,
                        key.status,
                        if view_only { "yes" } else { "no" }.to_string(),
                        key.date_created,
                        shown(key.last_used_date),
                    ]);
                }
                println!("{table}");
            }
            Ok(())
        }
    }
}

/// `certd user disable` and `certd user enable`.
pub(super) async fn set_user_status(args: UserStatusArgs, status: UserStatus) -> CliResult<()> {
    let user = args
        .target
        .backend()
        .await?
        .set_user_status(&args.user, status)
        .await?;
    let Person { id, email } = typed(&user);
    let sentence = match status {
        UserStatus::Disabled => {
            format!("user {id} ({email}) disabled; their API keys no longer work")
        }
        UserStatus::Active => format!("user {id} ({email}) enabled"),
    };
    report(args.target.json, user, sentence);
    Ok(())
}

/// A progress bar on stderr when it is a terminal; hidden otherwise, so that
/// scripts and logs get clean output.
pub(super) fn progress(length: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub(super) fn new_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_header(header);
    table
}

fn report(as_json: bool, json: Value, sentence: String) {
    if as_json {
        print_json(&json);
    } else {
        println!("{sentence}");
    }
}

pub(super) fn print_json(value: &Value) {
    println!("{value:#}");
}
