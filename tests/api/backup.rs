//! Backups. `certd backup` copies a running server's SQLite database and CA
//! into one file, consistent at one instant; `certd restore` makes a new
//! data directory from it that a server starts on. A killed backup never
//! leaves a partial file under the backup's name. On PostgreSQL the
//! documented procedure (pg_dump, pg_restore and a copy of the CA directory)
//! is run for real.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::*;
use crate::publication::{Certificate, lists_serial};

/// `certd ARGS...`, with no certd setting from the outer environment.
fn certd<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Run::of(certd_command().args(args))
}

fn backup_args(data: &Path, out: &Path) -> Vec<PathBuf> {
    ["backup", "--data"]
        .into_iter()
        .map(PathBuf::from)
        .chain([data.to_owned(), "--out".into(), out.to_owned()])
        .collect()
}

fn backup(s: &Server, out: &Path) -> Run {
    certd(backup_args(&s.data_dir(), out))
}

fn restore(file: &Path, data: &Path) -> Run {
    certd([
        OsStr::new("restore"),
        file.as_os_str(),
        OsStr::new("--data"),
        data.as_os_str(),
    ])
}

/// A server on SQLite whatever the suite's backend: `certd backup` is for SQLite.
fn sqlite_server() -> Server {
    Server::start_on(None, None, &[])
}

/// A fresh directory for a restored server: `restore` fills its `data`.
fn restore_target() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// Every serial number in the server's 64 CRL shards (uppercase hex), as
/// this server serves them: a restored server's CRLs name the deployment's
/// public URL, which is the original server's.
async fn crl_serials(s: &Server) -> HashSet<String> {
    let index = s.send(reqwest::Client::new().get(s.url("/crl/"))).await;
    let mut serials = HashSet::new();
    for crl in index.ok(200).json["crls"].as_array().unwrap() {
        let url = crl["url"].as_str().unwrap();
        let der = reqwest::get(s.url(&url[url.find("/crl/").unwrap()..]))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_crl(&der).expect("a DER CRL");
        serials.extend(
            parsed
                .iter_revoked_certificates()
                .map(|entry| hex::encode_upper(entry.raw_serial())),
        );
    }
    serials
}

/// Each certificate in the server's database: id → (serial, revoked).
async fn certificates_in_database(s: &Server) -> HashMap<i64, (String, bool)> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, serial_number, revoked_at FROM certificates")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(id, serial, revoked_at)| (id, (serial, revoked_at.is_some())))
        .collect()
}

/// The restored server works: its audit log verifies, its CA is the
/// original's, and it issues and revokes, publishing the revocation.
async fn assert_serves_normally(restored: &Server, original: &Server) {
    let (intact, report) = crate::audit_chain::verify(restored);
    assert!(intact, "audit log of the restored server: {report}");
    let chain = |s: &Server| reqwest::get(s.url("/ca/chain.pem"));
    let restored_chain = chain(restored).await.unwrap().text().await.unwrap();
    let original_chain = chain(original).await.unwrap().text().await.unwrap();
    assert_eq!(restored_chain, original_chain, "the CA was not restored");

    let (_, cert) = restored.issue_certificate(restored.admin()).await;
    restored.revoke_now(cert, "keyCompromise").await;
    let relying_party = Certificate::download(restored, cert).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lists_serial(
        &relying_party.crl_text_on(restored).await,
        &relying_party.serial,
    ) {
        assert!(
            Instant::now() < deadline,
            "the restored server's CRL never listed a new revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A skip_approval revocation through the API, and when it was asked and answered.
struct Revocation {
    cert: i64,
    started: Instant,
    answered: Instant,
    status: u16,
}

/// Orders a certificate and revokes it at once, again and again, until `stop`.
async fn write_load(s: Arc<Server>, stop: Arc<AtomicBool>, log: Arc<Mutex<Vec<Revocation>>>) {
    while !stop.load(Ordering::Relaxed) {
        let (_, cert) = s.issue_certificate(s.admin()).await;
        let body = json!({"skip_approval": true, "revocation_reason": "keyCompromise"});
        let request = s
            .rb(
                Method::PUT,
                &format!("/certificate/{cert}/revoke"),
                Some(s.admin()),
            )
            .json(&body);
        let started = Instant::now();
        let answer = s.send(request).await;
        log.lock().unwrap().push(Revocation {
            cert,
            started,
            answered: Instant::now(),
            status: answer.status,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_restores_the_database_of_one_instant() {
    let s = Arc::new(sqlite_server());
    // Some history the load does not touch: a pending request, a valid certificate.
    let (_, pending) = s.issue_certificate(s.admin()).await;
    s.revoke(s.admin(), pending, json!({"comments": "pending"}))
        .await
        .ok(201);
    s.issue_certificate(s.admin()).await;
    // Enough data that the load runs on while the backup copies it.
    add_ballast(&s, 4000).await;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(write_load(
                Arc::clone(&s),
                Arc::clone(&stop),
                Arc::clone(&log),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let file = s.dir.path().join("under-load.certd-backup");
    let (data, out) = (s.data_dir(), file.clone());
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || certd(backup_args(&data, &out)))
        .await
        .unwrap();
    let finished = Instant::now();
    run.ok();
    eprintln!("backup under load: {}", run.stdout.trim());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    let before: Vec<i64> = log
        .iter()
        .filter(|r| r.answered < started && r.status == 204)
        .map(|r| r.cert)
        .collect();
    let after: Vec<i64> = log
        .iter()
        .filter(|r| r.started > finished)
        .map(|r| r.cert)
        .collect();
    assert!(
        log.iter().all(|r| r.status == 204),
        "a revocation under load failed"
    );
    let during = log
        .iter()
        .filter(|r| r.started > started && r.answered < finished)
        .count();
    assert!(
        !before.is_empty() && !after.is_empty() && during > 0,
        "the load must run before, during and after the backup \
         ({} before, {during} during, {} after)",
        before.len(),
        after.len()
    );

    let (dir, restored_data) = restore_target();
    let restored_run = restore(&file, &restored_data);
    restored_run.ok();
    assert!(
        restored_run.stdout.starts_with("restored "),
        "{}",
        restored_run.stdout
    );
    let restored = Server::start_in(dir, None, s.admin());

    let in_database = certificates_in_database(&restored).await;
    let revoked_in_database: HashSet<String> = in_database
        .values()
        .filter(|(_, revoked)| *revoked)
        .map(|(serial, _)| serial.clone())
        .collect();
    let listed = crl_serials(&restored).await;
    assert_eq!(
        listed, revoked_in_database,
        "the restored CRLs and the restored database disagree"
    );
    for cert in &before {
        let (serial, revoked) = in_database
            .get(cert)
            .unwrap_or_else(|| panic!("certificate {cert}, revoked before the backup, is missing"));
        assert!(
            *revoked && listed.contains(serial),
            "revocation of {cert} lost"
        );
    }
    for cert in &after {
        if let Some((serial, revoked)) = in_database.get(cert) {
            assert!(
                !*revoked && !listed.contains(serial),
                "certificate {cert}, revoked after the backup, is revoked in it"
            );
        }
    }
    eprintln!(
        "{} revocations: {} before the backup, {during} during, {} after; \
         {} revoked in the backup",
        log.len(),
        before.len(),
        after.len(),
        revoked_in_database.len()
    );
    assert_eq!(
        restored.cert_status(pending).await,
        "issued",
        "the pending request's certificate"
    );
    assert_serves_normally(&restored, &s).await;
}

#[tokio::test]
async fn backup_and_restore_refuse_what_they_cannot_do_safely() {
    let s = sqlite_server();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    s.revoke_now(cert, "superseded").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("certd.backup");

    // No database in the data directory: nothing is created.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    certd(backup_args(&empty, &file)).fails_with("no database at");
    assert!(!file.exists() && !empty.join("certd.db").exists());

    // PostgreSQL: pointed to the documented procedure, nothing contacted.
    let mut args = backup_args(&s.data_dir(), &file);
    args.extend([
        "--database-url".into(),
        "postgres://127.0.0.1:1/none".into(),
    ]);
    certd(args).fails_with("pg_dump");

    // A backup: mode 0600, one line saying what it wrote.
    let run = backup(&s, &file);
    let line = run.ok().stdout.trim().to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(&format!("wrote {}", file.display()))
            && line.contains("1 certificate (1 revoked)")
            && line.contains("audit entries")
            && line.contains("private keys"),
        "{line}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Never over an existing file without --force.
    let first = std::fs::read(&file).unwrap();
    backup(&s, &file).fails_with("already exists");
    assert_eq!(std::fs::read(&file).unwrap(), first);
    let mut force = backup_args(&s.data_dir(), &file);
    force.push("--force".into());
    certd(force).ok();
    let mut over_live = backup_args(&s.data_dir(), &s.data_dir().join("certd.db"));
    over_live.push("--force".into());
    certd(over_live).fails_with("that is the live database");

    // Never into a live data directory: nothing in it changes, nothing is
    // left beside it.
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (live, beside) = (listing(&s.data_dir()), listing(s.dir.path()));
    let ca_before = std::fs::read(s.data_dir().join("ca/intermediate.key")).unwrap();
    restore(&file, &s.data_dir()).fails_with("already holds a database");
    assert_eq!(listing(&s.data_dir()), live);
    assert_eq!(listing(s.dir.path()), beside);
    assert_eq!(
        std::fs::read(s.data_dir().join("ca/intermediate.key")).unwrap(),
        ca_before
    );
    // A directory holding only a CA is someone's too.
    let ca_only = work.path().join("ca-only");
    std::fs::create_dir_all(ca_only.join("ca")).unwrap();
    std::fs::write(ca_only.join("ca/root.pem"), "x").unwrap();
    restore(&file, &ca_only).fails_with("already holds a CA");

    // Damaged files: refused, no data directory made, nothing left behind.
    let target = work.path().join("target");
    let bytes = std::fs::read(&file).unwrap();
    let truncated = work.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    restore(&truncated, &target).fails_with("is damaged (truncated or corrupted)");
    let garbage = work.path().join("garbage.backup");
    std::fs::write(&garbage, b"certainly not a database").unwrap();
    restore(&garbage, &target).fails_with("not a SQLite file");
    let database_only = work.path().join("database-only.backup");
    vacuum_into(&s.database_url(), &database_only).await;
    restore(&database_only, &target).fails_with("no certd_backup table");
    // A backup whose last audit entry was cut off: the chain still
    // verifies, but not to the head the backup recorded.
    let cut = work.path().join("cut.backup");
    std::fs::copy(&file, &cut).unwrap();
    sql(
        &format!("sqlite://{}", cut.display()),
        "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
    )
    .await;
    restore(&cut, &target).fails_with("not the one the backup recorded");
    restore(&work.path().join("missing.backup"), &target).fails_with("no such backup file");
    assert!(!target.exists());
    let left: Vec<String> = listing(work.path())
        .into_iter()
        .filter(|name| name.contains("restore"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A directory holding other files (but no database or CA) is fine.
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("notes.txt"), "ops notes").unwrap();
    restore(&file, &shared).ok();
    assert_eq!(listing(&shared), ["ca", "certd.db", "notes.txt"]);
    for (name, mode) in [
        ("ca", 0o700),
        ("ca/root.key", 0o600),
        ("ca/intermediate.key", 0o600),
        ("ca/root.pem", 0o644),
        ("certd.db", 0o600),
    ] {
        let found = std::fs::metadata(shared.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(found & 0o777, mode, "{name}");
    }
    restore(&file, &shared).fails_with("already holds a database");
}

/// Runs one statement on a database.
async fn sql(url: &str, statement: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Adds `pages` pages of incompressible bulk beside certd's tables.
async fn add_ballast(s: &Server, pages: u32) {
    let statement = format!(
        "CREATE TABLE ballast (data BLOB NOT NULL); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {pages}) \
         INSERT INTO ballast SELECT randomblob(4000) FROM n"
    );
    sql(&s.database_url(), &statement).await;
}

/// A plain copy of a SQLite database, as any tool would make one.
async fn vacuum_into(url: &str, out: &Path) {
    let statement = format!("VACUUM INTO '{}'", out.display());
    sql(url, &statement).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_no_partial_file_under_its_name() {
    let s = sqlite_server();
    let mut revoked = Vec::new();
    for i in 0..6 {
        let (_, cert) = s.issue_certificate(s.admin()).await;
        if i % 2 == 0 {
            s.revoke_now(cert, "keyCompromise").await;
            revoked.push(cert);
        }
    }
    // Enough data that a backup takes long enough to be killed in the middle.
    add_ballast(&s, 12000).await;

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("killed.backup");
    let partial = work.path().join("killed.backup.partial");
    let mut outcomes = Vec::new();
    for delay_ms in [0, 5, 20, 50, 200, 400] {
        let _ = std::fs::remove_file(&file);
        let mut child = Command::new(BIN)
            .args(backup_args(&s.data_dir(), &file))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let outcome = if file.exists() {
            // Whatever is under the name is a whole backup.
            let (_dir, data) = restore_target();
            let run = restore(&file, &data);
            assert!(
                run.success,
                "killed after {delay_ms} ms ({status}): {} does not restore: {}",
                file.display(),
                run.stderr
            );
            "complete"
        } else if partial.exists() {
            "absent, partial file left"
        } else {
            "absent"
        };
        outcomes.push(format!("{delay_ms} ms: {outcome}"));
        // The server never noticed.
        let (_, cert) = s.issue_certificate(s.admin()).await;
        s.revoke_now(cert, "superseded").await;
    }
    eprintln!("killed backups: {}", outcomes.join(", "));

    // A later backup clears any leftover and completes.
    let leftover = partial.exists();
    let _ = std::fs::remove_file(&file);
    let run = backup(&s, &file);
    eprintln!(
        "backup with ballast (a killed one's partial file left: {leftover}): {}",
        run.ok().stdout.trim()
    );
    assert!(!partial.exists(), "a partial file was left behind");
    let (intact, report) = crate::audit_chain::verify(&s);
    assert!(intact, "{report}");

    let (dir, data) = restore_target();
    restore(&file, &data).ok();
    let restored = Server::start_in(dir, None, s.admin());
    let in_database = certificates_in_database(&restored).await;
    for cert in revoked {
        assert!(in_database[&cert].1, "revocation of {cert} missing");
    }
    assert_serves_normally(&restored, &s).await;
}

/// A PostgreSQL client tool, which the documented procedure needs.
fn pg_tool(name: &str) -> &str {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "{name} is not installed: the PostgreSQL backup test needs postgresql-client \
         (.ci/run installs it)"
    );
    name
}

#[track_caller]
fn run_tool(command: &mut Command) {
    let out = command.output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// README.md, "Backups", on PostgreSQL: pg_dump and a copy of the CA
/// directory; createdb, pg_restore and the CA directory back. Needs
/// PostgreSQL whatever the suite's backend.
#[tokio::test]
async fn postgres_backup_with_pg_dump_and_the_ca_directory_restores() {
    let (dump, restore_tool, create) = (
        pg_tool("pg_dump"),
        pg_tool("pg_restore"),
        pg_tool("createdb"),
    );
    let db = Arc::new(PgDatabase::create());
    let s = Server::start_on(Some(Arc::clone(&db)), None, &[]);
    let mut revoked = HashSet::new();
    for i in 0..6 {
        let (_, cert) = s.issue_certificate(s.admin()).await;
        if i % 2 == 0 {
            s.revoke_now(cert, "keyCompromise").await;
            revoked.insert(
                s.cert(cert).await["serial_number"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }

    // The backup: a dump of the database and a copy of the CA directory.
    let work = tempfile::tempdir().unwrap();
    let dump_file = work.path().join("certd.dump");
    run_tool(
        Command::new(dump)
            .args(["-Fc", "-f"])
            .arg(&dump_file)
            .arg(&db.url),
    );
    run_tool(
        Command::new("cp")
            .arg("-a")
            .arg(s.data_dir().join("ca"))
            .arg(work.path().join("ca")),
    );

    // The restore: a new database, the dump into it, the CA directory back.
    let name = format!("{}_restored", db.name);
    run_tool(
        Command::new(create)
            .arg(format!("--maintenance-db={}", postgres_admin_url()))
            .arg(&name),
    );
    let base = db.url.rsplit_once('/').unwrap().0;
    let restored_db = Arc::new(PgDatabase {
        url: format!("{base}/{name}"),
        name,
    });
    run_tool(
        Command::new(restore_tool)
            .args(["--no-owner", "-d", &restored_db.url])
            .arg(&dump_file),
    );
    let (dir, data) = restore_target();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    run_tool(
        Command::new("cp")
            .arg("-a")
            .arg(work.path().join("ca"))
            .arg(data.join("ca")),
    );

    let restored = Server::start_in(dir, Some(restored_db), s.admin());
    assert_eq!(crl_serials(&restored).await, revoked);
    assert_serves_normally(&restored, &s).await;
}
