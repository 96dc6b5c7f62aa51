//! `certd campaign ...` (contract section 9's command line), run as the real
//! binary in both modes against a real server: remote (`--url`, `--key`)
//! and local (`--data` / `--database-url`, beside the running server, whose
//! runner revokes what the command line approved).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::campaigns::{campaign, campaign_count, listed};
use crate::harness::*;

/// Long enough for a debug build on a busy machine, short enough to fail.
const ENDS_WITHIN: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Mode {
    Remote,
    Local,
}

const MODES: [Mode; 2] = [Mode::Remote, Mode::Local];

/// An administrator as each mode names them: remotely by key, locally by
/// email (`--as`).
struct Admin {
    key: String,
    email: String,
}

/// The administrator the server made at its first start.
fn first_admin(s: &Server) -> Admin {
    Admin {
        key: s.admin().to_string(),
        email: "admin@certd.localhost".into(),
    }
}

/// Another administrator: the two-person rule's approver.
fn second_admin(s: &Server) -> Admin {
    let email = format!("a{}@example.com", unique());
    let key = s.add_user_named(&email, "Ada", "Second", "administrator", false);
    Admin { key, email }
}

/// The arguments of `certd ARGS...` as `who`, in `mode`.
fn arguments(s: &Server, mode: Mode, who: &Admin, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    match mode {
        Mode::Remote => all.extend([
            "--url".into(),
            s.base.clone(),
            "--key".into(),
            who.key.clone(),
        ]),
        Mode::Local => {
            all.extend(["--as".into(), who.email.clone(), "--data".into()]);
            all.push(s.data_dir().to_str().unwrap().to_string());
            all.extend(s.database_args());
        }
    }
    all
}

fn certd(s: &Server, mode: Mode, who: &Admin, args: &[&str]) -> Run {
    Run::of(certd_command().args(arguments(s, mode, who, args)))
}

/// `certd campaign show ID --watch` started in the background, its stdout
/// (not a terminal) read line by line as it comes.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    fn start(s: &Server, mode: Mode, who: &Admin, id: i64) -> Watcher {
        let id = id.to_string();
        let mut child = certd_command()
            .args(arguments(
                s,
                mode,
                who,
                &["campaign", "show", &id, "--watch"],
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start certd campaign show --watch");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line it prints.
    fn next_line(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(ENDS_WITHIN)
            .unwrap_or_else(|_| panic!("no line from the watcher; so far: {:?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// Waits for it to end: every line it printed, and its stderr.
    fn finish(mut self) -> Run {
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > ENDS_WITHIN {
                self.child.kill().unwrap();
                panic!("the watcher did not end; it printed {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        Run {
            success: self.child.wait().unwrap().success(),
            stdout: self.seen.join("\n"),
            stderr,
        }
    }
}

/// `certd campaign show ID --watch` to its end.
fn watch(s: &Server, mode: Mode, who: &Admin, id: i64) -> Run {
    Watcher::start(s, mode, who, id).finish()
}

/// `count` certificates issued under `domain`, by id.
async fn issue_under(s: &Server, domain: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let r = s
            .place_order(s.admin(), &format!("h{}.{domain}", unique()), true)
            .await;
        r.ok(201);
        ids.push(int(&r.json["certificate_id"]));
    }
    ids
}

fn new_domain() -> String {
    format!("d{}.example", unique())
}

/// The id a create printed: `campaign ID pending: ...`, one line.
#[track_caller]
fn created_id(out: &Run) -> i64 {
    let stdout = out.ok().stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let mut words = stdout.split_whitespace();
    assert_eq!(words.next(), Some("campaign"), "{stdout}");
    let id = words.next().and_then(|w| w.parse().ok());
    let id = id.unwrap_or_else(|| panic!("no campaign id: {stdout}"));
    assert_eq!(words.next(), Some("pending:"), "{stdout}");
    id
}

/// A pending campaign over `domain`, made with the command line.
fn create_over(s: &Server, mode: Mode, domain: &str, extra: &[&str]) -> i64 {
    let name = format!("campaign {}", unique());
    let mut args = vec![
        "campaign",
        "create",
        "--name",
        &name,
        "--reason",
        "superseded",
        "--domain",
        domain,
    ];
    args.extend(extra);
    created_id(&certd(s, mode, &first_admin(s), &args))
}

async fn serial_of(s: &Server, id: i64) -> String {
    s.cert(id).await["serial_number"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// A dry run, then the campaign; the requester's own approval is refused,
/// another administrator's lets `certd serve` revoke, and `show --watch`
/// (without a terminal) prints a line per change until it completes.
#[tokio::test]
async fn dry_run_create_approve_and_watch_in_both_modes() {
    let s = Server::start();
    let admin = first_admin(&s);
    let second = second_admin(&s);
    for mode in MODES {
        let domain = new_domain();
        let ids = issue_under(&s, &domain, 3).await;
        let (_, outside) = s.issue_certificate(s.admin()).await;
        s.revoke_now(ids[2], "superseded").await;
        let before = campaign_count(&s).await;

        let dry_run = [
            "campaign",
            "create",
            "--name",
            "Validation bug",
            "--reason",
            "cessationOfOperation",
            "--domain",
            &domain,
            "--dry-run",
        ];
        let answer = certd(&s, mode, &admin, &[&dry_run[..], &["--json"]].concat())
            .ok()
            .json();
        assert_eq!(answer["matched"], 2, "{mode:?} {answer}");
        assert_eq!(answer["already_revoked"], 1, "{answer}");
        let sample: Vec<i64> = answer["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| int(&c["id"]))
            .collect();
        assert_eq!(sample, ids[..2]);
        let out = certd(&s, mode, &admin, &dry_run);
        let stdout = &out.ok().stdout;
        assert!(
            stdout.starts_with("dry run, nothing recorded: 2 matched, 1 already revoked\n"),
            "{stdout}"
        );
        for id in &ids[..2] {
            assert!(
                stdout.lines().any(|l| l.starts_with(&format!("| {id} "))),
                "a row for {id}: {stdout}"
            );
        }
        assert_eq!(
            campaign_count(&s).await,
            before,
            "a dry run records nothing"
        );

        let create = [
            "campaign",
            "create",
            "--name",
            "Validation bug",
            "--reason",
            "cessationOfOperation",
            "--domain",
            &domain,
            "--comments",
            "Names not validated.",
        ];
        let id = created_id(&certd(&s, mode, &admin, &create));
        let created = campaign(&s, id).await;
        assert_eq!(created["status"], "pending", "{created}");
        assert_eq!(created["matched"], 2);
        assert_eq!(created["already_revoked"], 1);
        assert_eq!(created["reason"], "cessationOfOperation");
        assert_eq!(created["comments"], "Names not validated.");
        assert_eq!(created["selector"]["domain"], domain.as_str());
        assert_eq!(created["requester"]["email"], admin.email.as_str());
        let id_text = id.to_string();
        let shown = certd(&s, mode, &admin, &["campaign", "show", &id_text, "--json"]);
        assert_eq!(shown.ok().json(), created, "--json prints the API's JSON");
        let table = certd(&s, mode, &admin, &["campaign", "show", &id_text]);
        assert!(
            table
                .ok()
                .stdout
                .lines()
                .any(|l| l.starts_with("| status ") && l.contains("pending")),
            "{}",
            table.stdout
        );

        // The two-person rule: the requester's approval is refused.
        certd(&s, mode, &admin, &["campaign", "approve", &id_text])
            .fails_with("access_denied|own_request");
        assert_eq!(campaign(&s, id).await["status"], "pending");

        let mut watcher = Watcher::start(&s, mode, &admin, id);
        let first = watcher.next_line();
        assert_eq!(
            first,
            format!(
                "campaign {id} pending (0 of 1 approvals): 0 of 2 revoked, 0 held, \
                 1 already revoked, 0 failed"
            ),
            "{mode:?}"
        );
        let approve = ["campaign", "approve", &id_text, "--comment", "Checked."];
        let out = certd(&s, mode, &second, &approve);
        assert!(
            out.ok()
                .stdout
                .starts_with(&format!("campaign {id} approved: ")),
            "{}",
            out.stdout
        );
        let watched = watcher.finish();
        watched.ok();
        let lines: Vec<&str> = watched.stdout.lines().collect();
        assert_eq!(
            *lines.last().unwrap(),
            format!("campaign {id} completed: 2 of 2 revoked, 0 held, 1 already revoked, 0 failed"),
            "{mode:?}: {lines:?}"
        );
        assert!(
            lines.windows(2).all(|pair| pair[0] != pair[1]),
            "a line per change: {lines:?}"
        );
        assert!(
            !watched.stderr.contains("revoked"),
            "no progress bar off a terminal: {}",
            watched.stderr
        );

        for cert in &ids[..2] {
            let details = s.cert(*cert).await;
            assert_eq!(details["status"], "revoked", "{mode:?} {cert}");
            assert_eq!(details["revocation_reason"], "cessationOfOperation");
        }
        assert_eq!(s.cert_status(outside).await, "issued");
        let done = campaign(&s, id).await;
        assert_eq!(done["status"], "completed");
        assert_eq!(done["revoked"], 2);
        assert_eq!(done["approvals"][0]["user"]["email"], second.email.as_str());

        // Watching a completed campaign prints its one line and succeeds.
        let again = watch(&s, mode, &admin, id);
        assert_eq!(again.ok().stdout, *lines.last().unwrap());

        let listed = certd(&s, mode, &admin, &["campaign", "list", "--json"]);
        let campaigns = listed.ok().json()["campaigns"].as_array().unwrap().clone();
        assert_eq!(int(&campaigns[0]["id"]), id, "newest first");
        assert_eq!(campaigns[0]["status"], "completed");
        let table = certd(&s, mode, &admin, &["campaign", "list"]);
        let row = table
            .ok()
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {id} ")))
            .unwrap_or_else(|| panic!("no row for {id}: {}", table.stdout))
            .to_string();
        assert!(
            row.contains("Validation bug") && row.contains("completed"),
            "{row}"
        );
    }
}

/// A hold by serial number leaves one certificate out; rejecting and
/// canceling (a scheduled campaign) revoke nothing, and watching a campaign
/// that ended so fails.
#[tokio::test]
async fn hold_by_serial_reject_and_cancel_in_both_modes() {
    let s = Server::start();
    let admin = first_admin(&s);
    let second = second_admin(&s);
    for mode in MODES {
        let domain = new_domain();
        let ids = issue_under(&s, &domain, 3).await;
        let (_, outside) = s.issue_certificate(s.admin()).await;
        let id = create_over(&s, mode, &domain, &[]);
        let id_text = id.to_string();

        // Any case, with colons: as the API takes serial numbers.
        let serial = serial_of(&s, ids[1]).await.to_lowercase();
        let with_colons = serial
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        let hold = [
            "campaign",
            "hold",
            &id_text,
            &with_colons,
            "--comments",
            "Still in use.",
        ];
        let out = certd(&s, mode, &admin, &hold);
        assert_eq!(
            out.ok().stdout.trim(),
            format!("certificate {with_colons} held out of campaign {id} (1 held, 2 to revoke)"),
            "{mode:?}"
        );
        assert_eq!(listed(&s, id, "held").await, vec![ids[1]]);
        certd(&s, mode, &admin, &["campaign", "hold", &id_text, &serial])
            .fails_with("duplicate_hold|already_held");
        let outside_text = outside.to_string();
        let out = certd(
            &s,
            mode,
            &admin,
            &["campaign", "hold", &id_text, &outside_text, "--json"],
        );
        out.fails_with("invalid_hold|not_in_campaign");

        certd(&s, mode, &second, &["campaign", "approve", &id_text]).ok();
        let watched = watch(&s, mode, &admin, id);
        assert!(
            watched
                .ok()
                .stdout
                .lines()
                .last()
                .unwrap()
                .ends_with("completed: 2 of 2 revoked, 1 held, 0 already revoked, 0 failed"),
            "{}",
            watched.stdout
        );
        assert_eq!(s.cert_status(ids[0]).await, "revoked");
        assert_eq!(s.cert_status(ids[1]).await, "issued", "held");
        assert_eq!(s.cert_status(ids[2]).await, "revoked");
        assert_eq!(s.cert_status(outside).await, "issued");
        // Too late to hold or cancel.
        certd(&s, mode, &admin, &["campaign", "cancel", &id_text])
            .fails_with("invalid_campaign_status");

        // Rejected by the second administrator, with a comment.
        let domain = new_domain();
        let rejected_cert = issue_under(&s, &domain, 1).await[0];
        let rejected = create_over(&s, mode, &domain, &[]);
        let rejected_text = rejected.to_string();
        let reject = [
            "campaign",
            "reject",
            &rejected_text,
            "--comment",
            "Too broad.",
        ];
        let out = certd(&s, mode, &second, &reject);
        assert_eq!(
            out.ok().stdout.trim(),
            format!("campaign {rejected} rejected")
        );
        let details = campaign(&s, rejected).await;
        assert_eq!(details["status"], "rejected");
        assert_eq!(details["processor_comment"], "Too broad.");
        assert_eq!(details["processor"]["email"], second.email.as_str());
        let watched = watch(&s, mode, &admin, rejected);
        assert!(!watched.success, "a rejected campaign revoked nothing");
        assert!(
            watched
                .stdout
                .ends_with(&format!("; by {}: Too broad.", second.email)),
            "{}",
            watched.stdout
        );
        assert!(
            watched.stderr.contains(&format!(
                "campaign {rejected} was rejected by {}",
                second.email
            )),
            "{}",
            watched.stderr
        );
        assert_eq!(s.cert_status(rejected_cert).await, "issued");

        // Scheduled, then canceled by its requester before it runs.
        let domain = new_domain();
        let canceled_cert = issue_under(&s, &domain, 1).await[0];
        let later = ["--revoke-at", "2099-01-01T00:00:00+00:00"];
        let canceled = create_over(&s, mode, &domain, &later);
        let canceled_text = canceled.to_string();
        let out = certd(&s, mode, &second, &["campaign", "approve", &canceled_text]);
        assert_eq!(
            out.ok().stdout.trim(),
            format!(
                "campaign {canceled} scheduled: certd serve revokes its 1 certificate at \
                 2099-01-01T00:00:00+00:00"
            )
        );
        let out = certd(
            &s,
            mode,
            &admin,
            &["campaign", "cancel", &canceled_text, "--json"],
        );
        let answer = out.ok().json();
        assert_eq!(answer["status"], "canceled", "{answer}");
        assert_eq!(answer, campaign(&s, canceled).await);
        watch(&s, mode, &admin, canceled).fails_with("was canceled");
        assert_eq!(s.cert_status(canceled_cert).await, "issued");
    }
}

/// `--serials-file`: the serial numbers it lists (comments and blank lines
/// skipped), no others; a bad line or too many for one request are refused
/// before anything is sent.
#[tokio::test]
async fn serials_file_selects_what_it_lists_in_both_modes() {
    let s = Server::start();
    let admin = first_admin(&s);
    let second = second_admin(&s);
    for mode in MODES {
        let ids = issue_under(&s, &new_domain(), 3).await;
        let first = serial_of(&s, ids[0]).await;
        let second_serial = serial_of(&s, ids[1]).await.to_lowercase();
        let file = s.dir.path().join(format!("serials-{mode:?}.txt"));
        std::fs::write(
            &file,
            format!("# leaked\n{first}\n\n   {second_serial}  \n# the end\n"),
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let create = [
            "campaign",
            "create",
            "--name",
            "Leaked keys",
            "--reason",
            "privilegeWithdrawn",
            "--serials-file",
            file,
        ];
        let dry_run = certd(
            &s,
            mode,
            &admin,
            &[&create[..], &["--dry-run", "--json"]].concat(),
        );
        let answer = dry_run.ok().json();
        assert_eq!(answer["matched"], 2, "{mode:?} {answer}");
        let sample: Vec<i64> = answer["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| int(&c["id"]))
            .collect();
        assert_eq!(sample, ids[..2]);

        let id = created_id(&certd(&s, mode, &admin, &create));
        let selector = &campaign(&s, id).await["selector"];
        assert_eq!(
            selector["serials"].as_array().unwrap().len(),
            2,
            "{selector}"
        );
        certd(&s, mode, &second, &["campaign", "approve", &id.to_string()]).ok();
        watch(&s, mode, &admin, id).ok();
        assert_eq!(s.cert_status(ids[0]).await, "revoked");
        assert_eq!(s.cert_status(ids[1]).await, "revoked");
        assert_eq!(s.cert_status(ids[2]).await, "issued");
        assert_eq!(
            s.cert(ids[0]).await["revocation_reason"],
            "privilegeWithdrawn"
        );
    }

    let before = campaign_count(&s).await;
    for mode in MODES {
        let bad = s.dir.path().join("bad.txt");
        std::fs::write(&bad, "# two\n0A1B2C\nnot-a-serial\n").unwrap();
        let bad = bad.to_str().unwrap();
        let args = [
            "campaign",
            "create",
            "--name",
            "Typo",
            "--reason",
            "superseded",
            "--serials-file",
            bad,
        ];
        certd(&s, mode, &admin, &args).fails_with(&format!(
            "line 3 of {bad}: \"not-a-serial\" is not a serial number"
        ));

        let many = s.dir.path().join("many.txt");
        let listing: String = (0..2_000).map(|n| format!("{n:040X}\n")).collect();
        std::fs::write(&many, listing).unwrap();
        let many = many.to_str().unwrap();
        let args = [
            "campaign",
            "create",
            "--name",
            "Too many",
            "--reason",
            "superseded",
            "--serials-file",
            many,
        ];
        certd(&s, mode, &admin, &args).fails_with("lists 2000 serial numbers, too many");
    }
    assert_eq!(campaign_count(&s).await, before, "nothing recorded");
}

/// Dates pass through as the API takes them; the API's refusals (dates the
/// wrong way round, not a date, no such campaign, not an administrator)
/// come out as its message and code, with a non-zero exit.
#[tokio::test]
async fn dates_and_refusals_in_both_modes() {
    let s = Server::start();
    let admin = first_admin(&s);
    let (_, cert) = s.issue_certificate(s.admin()).await;
    for mode in MODES {
        let create = [
            "campaign",
            "create",
            "--name",
            "Dated",
            "--reason",
            "superseded",
        ];
        let both_forms = [
            "--issued-after",
            "2000-01-01",
            "--issued-before",
            "2099-01-01T00:00:00+00:00",
            "--dry-run",
            "--json",
        ];
        let answer = certd(&s, mode, &admin, &[&create[..], &both_forms].concat())
            .ok()
            .json();
        assert_eq!(answer["matched"], 1, "{mode:?} {answer}");
        assert_eq!(int(&answer["sample"][0]["id"]), cert);

        let reversed = [
            "--issued-after",
            "2030-01-01",
            "--issued-before",
            "2020-01-01",
        ];
        certd(&s, mode, &admin, &[&create[..], &reversed].concat()).fails_with(
            "selector.issued_after must be before selector.issued_before. (invalid_date|date)",
        );
        let not_a_date = ["--issued-after", "01/02/2020"];
        certd(&s, mode, &admin, &[&create[..], &not_a_date].concat())
            .fails_with("invalid_date|date");
        let past = [
            "--domain",
            "example.com",
            "--revoke-at",
            "2001-01-01T00:00:00+00:00",
        ];
        certd(&s, mode, &admin, &[&create[..], &past].concat())
            .fails_with("invalid_date|revoke_at_past");
        let key_compromise = [
            "campaign",
            "create",
            "--name",
            "K",
            "--reason",
            "keyCompromise",
        ];
        certd(
            &s,
            mode,
            &admin,
            &[&key_compromise[..], &["--domain", "example.com"]].concat(),
        )
        .fails_with("invalid_revocation_reason");
        certd(&s, mode, &admin, &["campaign", "show", "987654"]).fails_with("not_found|campaign");
        certd(&s, mode, &admin, &["campaign", "approve", "987654"])
            .fails_with("not_found|campaign");

        // No selector at all: a usage error before anything is sent.
        let out = certd(&s, mode, &admin, &create);
        assert!(!out.success);
        assert!(out.stderr.contains("--domain"), "{}", out.stderr);
    }

    // Remotely, a user's key may not create campaigns.
    let user = Admin {
        key: s.user(),
        email: String::new(),
    };
    let args = [
        "campaign",
        "create",
        "--name",
        "Mine",
        "--reason",
        "superseded",
        "--domain",
        "example.com",
    ];
    certd(&s, Mode::Remote, &user, &args).fails_with("access_denied|missing_permission");
    assert_eq!(campaign_count(&s).await, 0, "nothing recorded");
    assert_eq!(s.cert_status(cert).await, "issued");
}
