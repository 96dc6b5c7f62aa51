//! `certd campaign ...`: revocation campaigns (contract section 9) from the
//! command line. Like the everyday commands, each one is a few
//! `/services/v2/campaign` calls, made to a running server (`--url`,
//! `--key`) or in-process on its database (`--data`, `--database-url`).
//! Nothing here revokes: a running `certd serve` does, once a campaign is
//! approved (in local mode its runner finds the approval within a second).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args, Subcommand};
use comfy_table::Table;
use indicatif::ProgressBar;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::backend::{Backend, CliError, CliResult, empty_answer};
use super::everyday::{TargetArgs, new_table, print_json, progress, shown, typed};

/// The API's largest request body (contract section 1): a campaign's
/// serial numbers must fit in one.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Rows of a dry run's sample in the table (`--json` has all the API's).
const SAMPLE_ROWS: usize = 20;
/// How often `show --watch` reads the campaign.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How long `show --watch` keeps trying a server it cannot reach (one
/// restarting, say: a campaign resumes after a restart).
const WATCH_UNREACHABLE_FOR: Duration = Duration::from_secs(60);

const REASON_HELP: &str = "The RFC 5280 reason every certificate is revoked with: \
unspecified, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn \
(snake_case and any letter case too). keyCompromise is refused: revoke compromised keys \
one by one (`certd cert revoke`), which also blocks them.";

#[derive(Debug, Subcommand)]
pub(super) enum CampaignCommand {
    /// Select certificates to revoke together; the campaign waits for
    /// another administrator's approval. With --dry-run: only count what
    /// the selector matches and show a sample.
    Create(CreateArgs),
    /// Approve a pending campaign (not one's own): the final approval
    /// freezes its selection, and `certd serve` revokes it at once or at
    /// its --revoke-at.
    Approve(DecisionArgs),
    /// Reject a pending campaign.
    Reject(DecisionArgs),
    /// Cancel a campaign that has not started.
    Cancel(DecisionArgs),
    /// Leave one certificate out of a campaign that has not started.
    Hold(HoldArgs),
    /// A campaign's status and counts; --watch follows it to its end.
    Show(ShowArgs),
    /// Every campaign, newest first.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("selector")
        .required(true)
        .multiple(true)
        .args(["domain", "user", "serials_file", "issued_after", "issued_before"])
))]
pub(super) struct CreateArgs {
    /// A name that tells the campaign apart.
    #[arg(long)]
    name: String,
    #[arg(long, help = REASON_HELP)]
    reason: String,
    /// Why, kept with the campaign.
    #[arg(long)]
    comments: Option<String>,
    /// Certificates whose common name or a DNS name is DOMAIN or ends in
    /// `.DOMAIN`. Selector options combine: a certificate must meet all.
    #[arg(long)]
    domain: Option<String>,
    /// The certificates of this user's orders.
    #[arg(long, value_name = "EMAIL")]
    user: Option<String>,
    /// A file of serial numbers (hex, colons allowed), one a line; blank
    /// lines and lines starting with `#` are skipped. One campaign takes
    /// about 1,500 (the API's 64 KiB request limit).
    #[arg(long, value_name = "FILE")]
    serials_file: Option<PathBuf>,
    /// Issued at or after DATE (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS+00:00).
    #[arg(long, value_name = "DATE")]
    issued_after: Option<String>,
    /// Issued before DATE (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS+00:00).
    #[arg(long, value_name = "DATE")]
    issued_before: Option<String>,
    /// Revoke at TIME (YYYY-MM-DDTHH:MM:SS+00:00, in the future) rather
    /// than at the final approval; until then the campaign is `scheduled`
    /// and may be canceled or have certificates held.
    #[arg(long, value_name = "TIME")]
    revoke_at: Option<String>,
    /// Count what the selector matches now and show a sample; record nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Args)]
pub(super) struct DecisionArgs {
    /// The campaign's id.
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    id: i64,
    /// A comment kept with the decision.
    #[arg(long)]
    comment: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Args)]
pub(super) struct HoldArgs {
    /// The campaign's id.
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    id: i64,
    /// The certificate to leave out: its id or serial number (hex).
    certificate: String,
    /// Why, kept with the hold.
    #[arg(long)]
    comments: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Args)]
pub(super) struct ShowArgs {
    /// The campaign's id.
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    id: i64,
    /// Follow the campaign until it completes, is rejected or is canceled:
    /// a progress bar on stderr at a terminal, otherwise a line (with
    /// --json, the campaign as one line of JSON) each time it changes.
    /// Exits non-zero if it ends rejected or canceled.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub(super) async fn campaign(command: CampaignCommand) -> CliResult<()> {
    match command {
        CampaignCommand::Create(args) => create(args).await,
        CampaignCommand::Approve(args) => decide(args, "approved").await,
        CampaignCommand::Reject(args) => decide(args, "rejected").await,
        CampaignCommand::Cancel(args) => decide(args, "canceled").await,
        CampaignCommand::Hold(args) => hold(args).await,
        CampaignCommand::Show(args) => show(args).await,
        CampaignCommand::List { target } => list(target).await,
    }
}

/// `POST /campaign`'s body. Conditions not given are left out: the API
/// refuses an empty one.
#[derive(Debug, Serialize)]
struct NewCampaign<'a> {
    name: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comments: Option<&'a str>,
    selector: NewSelector<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_at: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
}

#[derive(Debug, Serialize)]
struct NewSelector<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    serials: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_after: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_before: Option<&'a str>,
}

async fn create(args: CreateArgs) -> CliResult<()> {
    let serials = args.serials_file.as_deref().map(read_serials).transpose()?;
    let listed = serials.as_ref().map_or(0, Vec::len);
    let body = NewCampaign {
        name: &args.name,
        reason: &args.reason,
        comments: args.comments.as_deref(),
        selector: NewSelector {
            serials,
            user_email: args.user.as_deref(),
            domain: args.domain.as_deref(),
            issued_after: args.issued_after.as_deref(),
            issued_before: args.issued_before.as_deref(),
        },
        revoke_at: args.revoke_at.as_deref(),
        dry_run: args.dry_run,
    };
    let body = serde_json::to_value(&body)
        .map_err(|e| CliError::Setup(format!("campaign request: {e}")))?;
    let size = body.to_string().len();
    if size > MAX_BODY_BYTES {
        return Err(CliError::InvalidArgument(match &args.serials_file {
            Some(file) => format!(
                "{} lists {listed} serial numbers, too many for one campaign: its request would \
                 be {size} bytes and the API takes at most 64 KiB (about 1,500 serial numbers); \
                 split the file into several campaigns, or select by --domain, --user or dates",
                file.display()
            ),
            None => format!(
                "the campaign request would be {size} bytes and the API takes at most 64 KiB: \
                 shorten --name or --comments"
            ),
        }));
    }
    let backend = args.target.backend().await?;
    let answer = backend
        .call(Method::POST, "/campaign", Some(body))
        .await?
        .ok_or_else(|| empty_answer("campaign creation"))?;
    if args.target.json() {
        print_json(&answer);
    } else if args.dry_run {
        print_dry_run(&answer);
    } else {
        println!("{}", created_sentence(&typed(&answer)));
    }
    Ok(())
}

/// The serial numbers a file lists, upper case without colons (as the API
/// stores them, so that a long list fits), each once. A line that is no
/// serial number is refused with its number: a typo must not shrink the
/// campaign unnoticed.
fn read_serials(file: &Path) -> CliResult<Vec<String>> {
    let contents = std::fs::read_to_string(file)
        .map_err(|e| CliError::Setup(format!("cannot read {}: {e}", file.display())))?;
    let mut seen = HashSet::new();
    let mut serials = Vec::new();
    for (number, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let serial = line.replace(':', "").to_ascii_uppercase();
        if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(CliError::InvalidArgument(format!(
                "line {} of {}: {line:?} is not a serial number (hex)",
                number + 1,
                file.display()
            )));
        }
        if seen.insert(serial.clone()) {
            serials.push(serial);
        }
    }
    if serials.is_empty() {
        return Err(CliError::InvalidArgument(format!(
            "{} lists no serial numbers",
            file.display()
        )));
    }
    Ok(serials)
}

fn print_dry_run(answer: &Value) {
    let dry_run: DryRun = typed(answer);
    println!(
        "dry run, nothing recorded: {} matched, {} already revoked",
        dry_run.matched, dry_run.already_revoked
    );
    if dry_run.sample.is_empty() {
        return;
    }
    let mut table = new_table(["ID", "ORDER", "COMMON NAME", "SERIAL", "VALID TILL"]);
    for certificate in dry_run.sample.iter().take(SAMPLE_ROWS) {
        table.add_row([
            certificate.id.to_string(),
            certificate.order_id.to_string(),
            certificate.common_name.clone(),
            certificate.serial_number.clone(),
            certificate.valid_till.clone(),
        ]);
    }
    println!("{table}");
    let shown = dry_run.sample.len().min(SAMPLE_ROWS) as i64;
    if shown < dry_run.matched {
        println!(
            "the first {shown} of {} by id (--json shows up to {})",
            dry_run.matched,
            dry_run.sample.len()
        );
    }
}

/// One line for a new campaign: its id first.
fn created_sentence(campaign: &CampaignLine) -> String {
    let mut sentence = format!(
        "campaign {} {}: {:?} selects {}",
        campaign.id,
        campaign.status,
        campaign.name,
        certificates(campaign.matched)
    );
    if campaign.already_revoked > 0 {
        sentence.push_str(&format!(
            " ({} more revoked already)",
            campaign.already_revoked
        ));
    }
    sentence.push_str(&format!(", reason {}", campaign.reason));
    let needed = campaign.approvals_required - campaign.approvals.len() as i64;
    sentence.push_str(&format!(
        "; it needs {needed} approval{} by another administrator",
        plural(needed)
    ));
    if let Some(at) = &campaign.revoke_at {
        sentence.push_str(&format!(" and revokes at {at}"));
    }
    sentence
}

async fn decide(args: DecisionArgs, status: &str) -> CliResult<()> {
    let backend = args.target.backend().await?;
    let body = json!({"status": status, "comment": args.comment});
    let answer = backend
        .call(
            Method::PUT,
            &format!("/campaign/{}/status", args.id),
            Some(body),
        )
        .await?
        .ok_or_else(|| empty_answer("the campaign's status change"))?;
    if args.target.json() {
        print_json(&answer);
        return Ok(());
    }
    let campaign: CampaignLine = typed(&answer);
    let id = campaign.id;
    let sentence = match campaign.status.as_str() {
        "pending" => format!(
            "campaign {id}: approval recorded ({} of {}); it waits for another administrator",
            campaign.approvals.len(),
            campaign.approvals_required
        ),
        "approved" => format!(
            "campaign {id} approved: certd serve revokes its {} now (follow it with \
             `certd campaign show {id} --watch`)",
            certificates(campaign.to_revoke())
        ),
        "scheduled" => format!(
            "campaign {id} scheduled: certd serve revokes its {} at {}",
            certificates(campaign.to_revoke()),
            shown(campaign.revoke_at.as_deref())
        ),
        other => format!("campaign {id} {other}"),
    };
    println!("{sentence}");
    Ok(())
}

async fn hold(args: HoldArgs) -> CliResult<()> {
    // The same rule as the API's paths: short all-digit text is an id.
    let certificate = args.certificate.trim();
    let is_id = !certificate.is_empty()
        && certificate.len() <= 18
        && certificate.bytes().all(|b| b.is_ascii_digit());
    let mut body = match certificate.parse::<i64>() {
        Ok(id) if is_id => json!({"certificate_id": id}),
        _ => json!({"serial": certificate}),
    };
    if let Some(comments) = &args.comments {
        body["comments"] = json!(comments);
    }
    let backend = args.target.backend().await?;
    let answer = backend
        .call(
            Method::POST,
            &format!("/campaign/{}/hold", args.id),
            Some(body),
        )
        .await?
        .ok_or_else(|| empty_answer("the hold"))?;
    if args.target.json() {
        print_json(&answer);
    } else {
        let campaign: CampaignLine = typed(&answer);
        println!(
            "certificate {certificate} held out of campaign {} ({} held, {} to revoke)",
            campaign.id,
            campaign.held,
            campaign.to_revoke()
        );
    }
    Ok(())
}

async fn show(args: ShowArgs) -> CliResult<()> {
    let backend = args.target.backend().await?;
    if args.watch {
        return watch(&backend, args.id, args.target.json()).await;
    }
    let answer = fetch(&backend, args.id).await?;
    if args.target.json() {
        print_json(&answer);
    } else {
        println!("{}", details_table(&typed(&answer)));
    }
    Ok(())
}

async fn fetch(backend: &Backend, id: i64) -> CliResult<Value> {
    backend
        .call(Method::GET, &format!("/campaign/{id}"), None)
        .await?
        .ok_or_else(|| empty_answer("the campaign"))
}

/// What `--watch` tells apart: a change in any of it is news.
#[derive(Debug, PartialEq, Eq)]
struct Progress {
    status: String,
    approvals: usize,
    matched: i64,
    revoked: i64,
    held: i64,
    already_revoked: i64,
    failed: i64,
}

/// Reads the campaign until it ends. At a terminal a bar on stderr, then
/// the campaign as `show` prints it; elsewhere one line a change.
async fn watch(backend: &Backend, id: i64, as_json: bool) -> CliResult<()> {
    let at_terminal = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let mut last: Option<Progress> = None;
    let mut unreachable_since: Option<Instant> = None;
    let (answer, campaign) = loop {
        let answer = match fetch(backend, id).await {
            Ok(answer) => answer,
            Err(CliError::Unreachable(why)) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= WATCH_UNREACHABLE_FOR {
                    return Err(CliError::Unreachable(why));
                }
                tokio::time::sleep(WATCH_INTERVAL).await;
                continue;
            }
            Err(other) => return Err(other),
        };
        unreachable_since = None;
        let campaign: CampaignLine = typed(&answer);
        let now = campaign.progress();
        if last.as_ref() != Some(&now) {
            if at_terminal {
                let length = campaign.to_revoke().max(0) as u64;
                let message = format!("campaign {id} {}", campaign.status);
                let bar = bar.get_or_insert_with(|| progress(length, &message));
                bar.set_message(message);
                bar.set_length(length);
                bar.set_position((campaign.revoked + campaign.failed).max(0) as u64);
            } else if as_json {
                println!("{answer}");
            } else {
                println!("{}", progress_line(&campaign));
            }
            last = Some(now);
        }
        if campaign.has_ended() {
            break (answer, campaign);
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
        if as_json {
            print_json(&answer);
        } else {
            println!("{}", details_table(&campaign));
        }
    }
    match campaign.status.as_str() {
        "completed" => Ok(()),
        status => {
            let mut why = format!("campaign {id} was {status}");
            if let Some(processor) = &campaign.processor {
                why.push_str(&format!(" by {}", processor.email));
            }
            if let Some(comment) = &campaign.processor_comment {
                why.push_str(&format!(": {comment}"));
            }
            Err(CliError::NotCompleted(format!("{why}; it revoked nothing")))
        }
    }
}

/// `--watch`'s line: the status, then the counts.
fn progress_line(campaign: &CampaignLine) -> String {
    let mut line = format!("campaign {} {}", campaign.id, campaign.status);
    match campaign.status.as_str() {
        "pending" => line.push_str(&format!(
            " ({} of {} approvals)",
            campaign.approvals.len(),
            campaign.approvals_required
        )),
        "scheduled" => line.push_str(&format!(
            " (revokes at {})",
            shown(campaign.revoke_at.as_deref())
        )),
        _ => {}
    }
    line.push_str(&format!(
        ": {} of {} revoked, {} held, {} already revoked, {} failed",
        campaign.revoked,
        campaign.to_revoke(),
        campaign.held,
        campaign.already_revoked,
        campaign.failed
    ));
    if let Some(processor) = &campaign.processor {
        line.push_str(&format!("; by {}", processor.email));
    }
    if let Some(comment) = &campaign.processor_comment {
        line.push_str(&format!(": {comment}"));
    }
    line
}

async fn list(target: TargetArgs) -> CliResult<()> {
    let campaigns = target
        .backend()
        .await?
        .all_pages("/campaign", "campaigns", &[])
        .await?;
    if target.json() {
        print_json(&json!({ "campaigns": campaigns }));
        return Ok(());
    }
    let mut table = new_table([
        "ID",
        "NAME",
        "STATUS",
        "REASON",
        "MATCHED",
        "REVOKED",
        "HELD",
        "ALREADY REVOKED",
        "FAILED",
        "APPROVALS",
        "REQUESTER",
        "CREATED",
    ]);
    for campaign in campaigns.iter().map(typed::<CampaignLine>) {
        table.add_row([
            campaign.id.to_string(),
            campaign.name.clone(),
            campaign.status.clone(),
            campaign.reason.clone(),
            campaign.matched.to_string(),
            campaign.revoked.to_string(),
            campaign.held.to_string(),
            campaign.already_revoked.to_string(),
            campaign.failed.to_string(),
            format!(
                "{}/{}",
                campaign.approvals.len(),
                campaign.approvals_required
            ),
            campaign.requester.email.clone(),
            campaign.date_created.clone(),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `show`: one field a row.
fn details_table(campaign: &CampaignLine) -> Table {
    let approvals = campaign
        .approvals
        .iter()
        .map(|a| format!("{} ({})", a.user.email, a.date))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = vec![
        ("id", campaign.id.to_string()),
        ("name", campaign.name.clone()),
        ("status", campaign.status.clone()),
        ("reason", campaign.reason.clone()),
        ("selector", selector_text(&campaign.selector)),
        ("revoke at", shown(campaign.revoke_at.as_deref())),
        ("matched", campaign.matched.to_string()),
        ("revoked", campaign.revoked.to_string()),
        ("held", campaign.held.to_string()),
        ("already revoked", campaign.already_revoked.to_string()),
        ("failed", campaign.failed.to_string()),
        ("requester", campaign.requester.email.clone()),
        (
            "approvals",
            format!(
                "{} of {}{}{approvals}",
                campaign.approvals.len(),
                campaign.approvals_required,
                if approvals.is_empty() { "" } else { ": " }
            ),
        ),
        ("comments", shown(campaign.comments.as_deref())),
        ("created", campaign.date_created.clone()),
        ("started", shown(campaign.date_started.as_deref())),
        ("completed", shown(campaign.date_completed.as_deref())),
    ];
    if let Some(processor) = &campaign.processor {
        rows.push((
            if campaign.status == "canceled" {
                "canceled by"
            } else {
                "rejected by"
            },
            processor.email.clone(),
        ));
    }
    if let Some(comment) = &campaign.processor_comment {
        rows.push(("decision comment", comment.clone()));
    }
    let mut table = new_table(["FIELD", "VALUE"]);
    for (field, value) in rows {
        table.add_row([field.to_string(), value]);
    }
    table
}

/// The selector's conditions, `name=value` each; lists by their length.
fn selector_text(selector: &serde_json::Map<String, Value>) -> String {
    selector
        .iter()
        .map(|(name, value)| match value {
            Value::String(text) => format!("{name}={text}"),
            Value::Array(items) => format!("{name}=({} listed)", items.len()),
            other => format!("{name}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fields of a campaign object that sentences and tables show; the
/// `--json` output is the API's JSON itself.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CampaignLine {
    id: i64,
    name: String,
    status: String,
    reason: String,
    comments: Option<String>,
    selector: serde_json::Map<String, Value>,
    revoke_at: Option<String>,
    matched: i64,
    revoked: i64,
    held: i64,
    already_revoked: i64,
    failed: i64,
    requester: Person,
    approvals: Vec<Approval>,
    approvals_required: i64,
    processor: Option<Person>,
    processor_comment: Option<String>,
    date_created: String,
    date_started: Option<String>,
    date_completed: Option<String>,
}

impl CampaignLine {
    /// The certificates it revokes (or revoked): those selected, less the held.
    fn to_revoke(&self) -> i64 {
        self.matched - self.held
    }

    fn has_ended(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "rejected" | "canceled")
    }

    fn progress(&self) -> Progress {
        Progress {
            status: self.status.clone(),
            approvals: self.approvals.len(),
            matched: self.matched,
            revoked: self.revoked,
            held: self.held,
            already_revoked: self.already_revoked,
            failed: self.failed,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Person {
    email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Approval {
    user: Person,
    date: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DryRun {
    matched: i64,
    already_revoked: i64,
    sample: Vec<SampleLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SampleLine {
    id: i64,
    order_id: i64,
    common_name: String,
    serial_number: String,
    valid_till: String,
}

fn plural(count: i64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// `1 certificate`, `2 certificates`.
fn certificates(count: i64) -> String {
    format!("{count} certificate{}", plural(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_files_skip_comments_and_blank_lines_and_name_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serials.txt");
        std::fs::write(&file, "# lab\n\n 0a:1b \n0A1B\nFFEE\n").unwrap();
        assert_eq!(read_serials(&file).unwrap(), ["0A1B", "FFEE"]);
        std::fs::write(&file, "0A1B\nnot-hex\n").unwrap();
        let error = read_serials(&file).unwrap_err().to_string();
        assert!(error.starts_with("line 2 of "), "{error}");
        std::fs::write(&file, "# nothing\n\n").unwrap();
        assert!(
            read_serials(&file)
                .unwrap_err()
                .to_string()
                .contains("lists no serial")
        );
    }

    #[test]
    fn selectors_read_as_conditions() {
        let selector = json!({"domain": "example.com", "serials": ["0A", "0B"]});
        let Value::Object(selector) = selector else {
            unreachable!()
        };
        assert_eq!(
            selector_text(&selector),
            "domain=example.com serials=(2 listed)"
        );
    }
}
