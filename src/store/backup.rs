//! Online backups of the embedded SQLite database, and their restore.
//!
//! A backup is one SQLite file. `VACUUM INTO` copies the live database in a
//! single read transaction: the copy is the database at one instant, however
//! much `certd serve` commits meanwhile (WAL keeps a reader's snapshot while
//! the writer goes on; SQLite's backup API instead starts its copy over
//! whenever another process writes, and may never finish under load). The
//! copy then gets one more table, [`TABLE`]: the CA directory's files and a
//! record of what was copied. Only once complete and flushed does the file
//! take its final name, so a crash or `kill -9` at any moment leaves either
//! no file under that name or a complete one, and the live database is only
//! ever read. See docs/decisions.md, "Backups".

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::audit::{self, ChainReport};
use super::sqlite::SqliteReaders;
use super::{Conn, PoolSettings, StoreError};

/// The table a backup adds beside certd's own. `kind` is `meta` (what was
/// copied: certd's version, when, from where, counts, the audit log's head)
/// or `ca_file` (a file of the CA directory, by name). A restore drops it.
pub(crate) const TABLE: &str = "certd_backup";
/// The layout of [`TABLE`]; a restore refuses any other.
const FORMAT: &str = "1";
/// A SQLite database file's first bytes.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// How long the copy waits for SQLite's locks (e.g. a WAL being recovered).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error(
        "certd backup copies the embedded SQLite database; on PostgreSQL back up with pg_dump \
         and a copy of the CA directory (README.md, \"Backups\")"
    )]
    Postgres,
    #[error("no database at {0}: give --data the server's data directory")]
    NoDatabase(PathBuf),
    #[error("{0} already exists: give --force to replace it")]
    Exists(PathBuf),
    #[error("another certd backup is writing {0}")]
    Busy(PathBuf),
    #[error("{path}: {message}")]
    Failed { path: PathBuf, message: String },
    #[error("{0} is not a certd backup: {1}")]
    NotABackup(PathBuf, String),
    #[error("{0} is damaged (truncated or corrupted): {1}")]
    Damaged(PathBuf, String),
    #[error(
        "the audit log in {path} is broken at entry {entry_id}: it or the entry before it was \
         edited or deleted (run `certd audit verify`)"
    )]
    ChainBroken { path: PathBuf, entry_id: i64 },
    #[error(
        "the audit log in {path} ({found}) is not the one the backup recorded ({recorded}): \
         the file was altered"
    )]
    Altered {
        path: PathBuf,
        found: String,
        recorded: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn failed(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |error| BackupError::Failed {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

fn sqlite_failed(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |error| BackupError::Failed {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

/// What a backup holds, counted in the copy itself.
#[derive(Debug, Clone)]
pub(crate) struct Contents {
    pub certificates: i64,
    pub revoked: i64,
    pub audit_entries: u64,
    /// The audit log's newest hash (see `audit`).
    pub audit_head: String,
}

/// A backup written.
#[derive(Debug)]
pub(crate) struct Written {
    pub bytes: u64,
    pub contents: Contents,
}

/// A backup's database restored, and what else the backup held.
#[derive(Debug)]
pub(crate) struct Restored {
    pub contents: Contents,
    /// The CA directory's files, name and contents.
    pub ca_files: Vec<(String, String)>,
    pub certd_version: String,
    /// When the backup was taken (RFC 3339).
    pub created_at: String,
    /// The database it was taken of.
    pub source: String,
}

/// The SQLite database file a server with this data directory and
/// `--database-url` uses; PostgreSQL has its own tools.
pub(crate) fn database_path(data: &Path, url: Option<&str>) -> Result<PathBuf, BackupError> {
    match url {
        None => Ok(data.join(super::SQLITE_FILE)),
        Some(url) if url.starts_with("postgres") => Err(BackupError::Postgres),
        Some(url) => SqliteConnectOptions::from_str(url)
            .map(|options| options.get_filename().to_owned())
            .map_err(|error| BackupError::Failed {
                path: PathBuf::from("--database-url"),
                message: error.to_string(),
            }),
    }
}

/// Writes a backup of the SQLite database at `database`, with `ca_files`,
/// to `out`; replaces an existing `out` only if `replace`. The work happens
/// in `out` + `.partial`, removed if anything fails (and by the next backup
/// if this one is killed).
pub(crate) async fn write(
    database: &Path,
    out: &Path,
    replace: bool,
    ca_files: &[(String, String)],
) -> Result<Written, BackupError> {
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database.to_owned()));
    }
    if !replace && fs::symlink_metadata(out).is_ok() {
        return Err(BackupError::Exists(out.to_owned()));
    }
    let out = absolute(out)?;
    let source = fs::canonicalize(database).map_err(failed(database))?;
    // `--force` must never rename a backup over the database it copies.
    let named = fs::canonicalize(&out).unwrap_or_else(|_| out.clone());
    if ["", "-wal", "-shm", "-journal"]
        .iter()
        .any(|suffix| named == sibling(&source, suffix))
    {
        return Err(BackupError::Failed {
            path: out,
            message: "that is the live database: give --out another file".into(),
        });
    }
    let partial = Partial::create(sibling(&out, ".partial"))?;

    // The snapshot is of a moment after this.
    let created_at = now_rfc3339();
    let (from, into) = (source.clone(), partial.path.clone());
    blocking(move || vacuum_into(&from, &into)).await??;
    let contents = summarize(&partial.path).await?;
    let mut rows = vec![
        meta("format", FORMAT),
        meta("certd_version", env!("CARGO_PKG_VERSION")),
        meta("created_at", &created_at),
        meta("source", &source.display().to_string()),
        meta("certificates", &contents.certificates.to_string()),
        meta("revoked_certificates", &contents.revoked.to_string()),
        meta("audit_entries", &contents.audit_entries.to_string()),
        meta("audit_head", &contents.audit_head),
    ];
    rows.extend(
        ca_files
            .iter()
            .map(|(name, contents)| ("ca_file", name.clone(), contents.clone())),
    );
    let into = partial.path.clone();
    blocking(move || add_table(&into, &rows)).await??;

    let bytes = partial.place(&out, replace)?;
    Ok(Written { bytes, contents })
}

/// Restores the database of the backup `backup` to `dest`, a new file: copies
/// it, checks the copy (SQLite's integrity check, the backup's table, the
/// audit chain against the backup's record) and drops the backup's table
/// from it. `backup` itself is only read. On an error `dest` may be left
/// behind: callers write it in a directory of their own.
pub(crate) async fn restore(backup: &Path, dest: &Path) -> Result<Restored, BackupError> {
    copy_new(backup, dest)?;
    let (from, shown) = (dest.to_owned(), backup.to_owned());
    let (meta, ca_files) = blocking(move || read_table(&from, &shown)).await??;
    let field = |name: &str| {
        meta.get(name).cloned().ok_or_else(|| {
            BackupError::NotABackup(backup.to_owned(), format!("its record has no {name}"))
        })
    };
    if field("format")? != FORMAT {
        return Err(BackupError::NotABackup(
            backup.to_owned(),
            format!(
                "its format is {}, this certd reads {FORMAT}",
                field("format")?
            ),
        ));
    }
    let contents = match summarize(dest).await {
        Err(BackupError::ChainBroken { entry_id, .. }) => {
            return Err(BackupError::ChainBroken {
                path: backup.to_owned(),
                entry_id,
            });
        }
        other => other?,
    };
    let recorded = format!(
        "{} entries, head {}",
        field("audit_entries")?,
        field("audit_head")?
    );
    let found = format!(
        "{} entries, head {}",
        contents.audit_entries, contents.audit_head
    );
    if found != recorded {
        return Err(BackupError::Altered {
            path: backup.to_owned(),
            found,
            recorded,
        });
    }
    let from = dest.to_owned();
    blocking(move || drop_table(&from)).await??;
    File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(failed(dest))?;
    Ok(Restored {
        contents,
        ca_files,
        certd_version: field("certd_version")?,
        created_at: field("created_at")?,
        source: field("source")?,
    })
}

/// Flushes a directory's entries (a rename into it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn meta(name: &str, value: &str) -> (&'static str, String, String) {
    ("meta", name.to_string(), value.to_string())
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// `out` made absolute, its directory resolved: SQLite would read a name
/// starting with `file:` as a URI, and the final rename stays in one
/// directory whatever symbolic links are on the way.
fn absolute(out: &Path) -> Result<PathBuf, BackupError> {
    let name = out.file_name().ok_or_else(|| BackupError::Failed {
        path: out.to_owned(),
        message: "not a file name".into(),
    })?;
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok(fs::canonicalize(dir).map_err(failed(dir))?.join(name))
}

/// Runs blocking SQLite work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Store(StoreError::Database(Box::new(e))))
}

/// `VACUUM INTO`: one read transaction on the live database (opened read
/// only: certd's checkpoints stay the server's), written into `out`, which
/// exists and is empty, as SQLite requires (so it keeps mode 0600).
fn vacuum_into(database: &Path, out: &Path) -> Result<(), BackupError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(database, flags).map_err(sqlite_failed(database))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite_failed(database))?;
    let into = out.to_str().ok_or_else(|| BackupError::Failed {
        path: out.to_owned(),
        message: "SQLite needs a UTF-8 file name".into(),
    })?;
    conn.execute("VACUUM INTO ?1", [into])
        .map_err(sqlite_failed(database))?;
    Ok(())
}

/// Counts what the database at `path` holds and verifies its audit chain.
async fn summarize(path: &Path) -> Result<Contents, BackupError> {
    let readers = SqliteReaders::new(path, PoolSettings::default());
    let mut conn = Conn::sqlite_reader(readers.take().await?);
    let (audit_entries, audit_head) = match audit::verify_chain(&mut conn).await? {
        ChainReport::Intact { entries, head, .. } => (entries, head),
        ChainReport::Broken { entry_id, .. } => {
            return Err(BackupError::ChainBroken {
                path: path.to_owned(),
                entry_id,
            });
        }
    };
    let certificates = conn
        .scalar_one(sqlx::query_scalar("SELECT COUNT(*) FROM certificates"))
        .await?;
    let revoked = conn
        .scalar_one(sqlx::query_scalar(
            "SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL",
        ))
        .await?;
    Ok(Contents {
        certificates,
        revoked,
        audit_entries,
        audit_head,
    })
}

/// Adds [`TABLE`] with `rows` (kind, name, value) to the copy at `path`.
fn add_table(path: &Path, rows: &[(&str, String, String)]) -> Result<(), BackupError> {
    let run = || -> rusqlite::Result<()> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No journal: the file is nobody's until it is complete and renamed,
        // and a journal left by a kill could later be rolled back into the
        // next backup written under the same name.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN; \
             CREATE TABLE {TABLE} (kind TEXT NOT NULL CHECK (kind IN ('meta', 'ca_file')), \
             name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, name));"
        ))?;
        {
            let mut insert = conn.prepare(&format!(
                "INSERT INTO {TABLE} (kind, name, value) VALUES (?1, ?2, ?3)"
            ))?;
            for (kind, name, value) in rows {
                insert.execute((kind, name, value))?;
            }
        }
        conn.execute_batch("COMMIT")?;
        conn.close().map_err(|(_, error)| error)
    };
    run().map_err(sqlite_failed(path))
}

/// Meta fields and CA files read from a backup's copy at `path`, after
/// SQLite's integrity check. `shown` is the backup's name, for errors.
#[allow(clippy::type_complexity)]
fn read_table(
    path: &Path,
    shown: &Path,
) -> Result<(BTreeMap<String, String>, Vec<(String, String)>), BackupError> {
    let damaged =
        |error: rusqlite::Error| BackupError::Damaged(shown.to_owned(), error.to_string());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(damaged)?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check(5)")
        .and_then(|mut check| check.query_map([], |row| row.get(0))?.collect())
        .map_err(damaged)?;
    if problems != ["ok"] {
        return Err(BackupError::Damaged(shown.to_owned(), problems.join("; ")));
    }
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [TABLE],
            |row| row.get(0),
        )
        .map_err(damaged)?;
    if tables == 0 {
        return Err(BackupError::NotABackup(
            shown.to_owned(),
            format!("it has no {TABLE} table (a database copied some other way?)"),
        ));
    }
    let rows: Vec<(String, String, String)> = conn
        .prepare(&format!(
            "SELECT kind, name, value FROM {TABLE} ORDER BY name"
        ))
        .and_then(|mut select| {
            select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .map_err(damaged)?;
    let mut meta = BTreeMap::new();
    let mut files = Vec::new();
    for (kind, name, value) in rows {
        if kind == "meta" {
            meta.insert(name, value);
        } else {
            files.push((name, value));
        }
    }
    Ok((meta, files))
}

/// Removes [`TABLE`] from a restored database, its pages overwritten: the
/// CA keys belong in the CA directory only.
fn drop_table(path: &Path) -> Result<(), BackupError> {
    let run = || -> rusqlite::Result<()> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No journal, for the reason `add_table` gives, and so that the keys
        // are not copied into one either.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA secure_delete = ON; DROP TABLE {TABLE};"
        ))?;
        conn.close().map_err(|(_, error)| error)
    };
    run().map_err(sqlite_failed(path))
}

/// Copies `from` to the new file `to` (mode 0600: a backup holds the CA's
/// keys), flushed to disk. Refuses anything but a SQLite file.
fn copy_new(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut source = File::open(from).map_err(failed(from))?;
    let mut magic = [0u8; 16];
    let read = source.read(&mut magic).map_err(failed(from))?;
    if read < magic.len() || &magic != SQLITE_MAGIC {
        return Err(BackupError::NotABackup(
            from.to_owned(),
            "it is not a SQLite file".into(),
        ));
    }
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(failed(to))?;
    io::Write::write_all(&mut target, &magic).map_err(failed(to))?;
    io::copy(&mut source, &mut target).map_err(failed(to))?;
    target.sync_all().map_err(failed(to))
}

/// The backup under construction: `OUT.partial`, mode 0600, locked (flock)
/// for as long as this process works on it, so that a later backup can tell
/// a leftover of a killed one (unlocked: removed) from one still running
/// (locked: refused). Removed when dropped unless it was moved into place.
struct Partial {
    path: PathBuf,
    file: File,
    placed: bool,
}

impl Partial {
    fn create(path: PathBuf) -> Result<Partial, BackupError> {
        // A few rounds: each either wins, refuses, or removed a leftover.
        for _ in 0..8 {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match created {
                Ok(file) => {
                    // Another backup may take a new file for a leftover
                    // before this one locks it: then it removes it, and
                    // this one goes round again.
                    if owns(&file, &path).map_err(failed(&path))? {
                        return Ok(Partial {
                            path,
                            file,
                            placed: false,
                        });
                    }
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    let file = match File::open(&path) {
                        Ok(file) => file,
                        Err(error) if error.kind() == ErrorKind::NotFound => continue,
                        Err(error) => return Err(failed(&path)(error)),
                    };
                    match file.try_lock() {
                        Ok(()) => {}
                        Err(TryLockError::WouldBlock) => return Err(BackupError::Busy(path)),
                        Err(TryLockError::Error(error)) => return Err(failed(&path)(error)),
                    }
                    if same_file(&file, &path).map_err(failed(&path))? {
                        remove_with_sidecars(&path).map_err(failed(&path))?;
                    }
                }
                Err(error) => return Err(failed(&path)(error)),
            }
        }
        Err(BackupError::Busy(path))
    }

    /// Flushes the file and gives it its final name `out`, then flushes the
    /// directory; returns the file's size.
    fn place(mut self, out: &Path, replace: bool) -> Result<u64, BackupError> {
        self.file.sync_all().map_err(failed(&self.path))?;
        if replace {
            fs::rename(&self.path, out).map_err(failed(out))?;
            self.placed = true;
        } else {
            // A hard link never replaces an existing file, unlike rename.
            match fs::hard_link(&self.path, out) {
                Ok(()) => {
                    self.placed = true;
                    // Killed before this, the next backup removes the extra name.
                    fs::remove_file(&self.path).map_err(failed(&self.path))?;
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    return Err(BackupError::Exists(out.to_owned()));
                }
                // A file system without hard links: the check at the start.
                Err(_) => {
                    if fs::symlink_metadata(out).is_ok() {
                        return Err(BackupError::Exists(out.to_owned()));
                    }
                    fs::rename(&self.path, out).map_err(failed(out))?;
                    self.placed = true;
                }
            }
        }
        let dir = out.parent().unwrap_or(Path::new("."));
        sync_dir(dir).map_err(failed(dir))?;
        Ok(self.file.metadata().map_err(failed(out))?.len())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.placed {
            // Still locked: the lock goes with `file`, after this.
            let _ = remove_with_sidecars(&self.path);
        }
    }
}

/// Takes `file`'s lock if it is free, and checks that `path` still names it.
fn owns(file: &File, path: &Path) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => same_file(file, path),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(error)) => Err(error),
    }
}

fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let ours = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(named) => Ok(named.dev() == ours.dev() && named.ino() == ours.ino()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Removes a file and the journal files SQLite may keep beside it.
fn remove_with_sidecars(path: &Path) -> io::Result<()> {
    for suffix in ["-journal", "-wal", "-shm"] {
        match fs::remove_file(sibling(path, suffix)) {
            Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_files() -> Vec<(String, String)> {
        vec![("root.pem".into(), "-----BEGIN CERTIFICATE-----".into())]
    }

    async fn live_store() -> (tempfile::TempDir, super::super::Store) {
        crate::store::test_store("CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB)").await
    }

    #[tokio::test]
    async fn a_backup_is_mode_0600_in_rollback_mode_and_restores_without_its_table() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = live_store().await;
        let out = dir.path().join("backup.db");
        let written = write(&dir.path().join("certd.db"), &out, false, &ca_files())
            .await
            .unwrap();
        let file = fs::metadata(&out).unwrap();
        assert_eq!(file.permissions().mode() & 0o777, 0o600);
        assert_eq!(file.len(), written.bytes);
        assert!(!sibling(&out, ".partial").exists());
        // Not WAL: a backup is one file, readable without its -wal.
        let header = fs::read(&out).unwrap();
        assert_eq!((header[18], header[19]), (1, 1));

        let dest = dir.path().join("restored.db");
        let restored = restore(&out, &dest).await.unwrap();
        assert_eq!(restored.ca_files, ca_files());
        assert_eq!(restored.certd_version, env!("CARGO_PKG_VERSION"));
        let conn = Connection::open(&dest).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = ?1",
                [TABLE],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        let restored_bytes = fs::read(&dest).unwrap();
        assert!(
            !restored_bytes
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----"),
            "the CA's files stay in the restored database's free pages"
        );
    }

    #[tokio::test]
    async fn a_leftover_partial_is_removed_and_a_locked_one_refused() {
        let (dir, _store) = live_store().await;
        let database = dir.path().join("certd.db");
        let out = dir.path().join("backup.db");
        let partial = sibling(&out, ".partial");
        fs::write(&partial, b"half a backup").unwrap();
        fs::write(sibling(&partial, "-journal"), b"stale journal").unwrap();
        write(&database, &out, false, &ca_files()).await.unwrap();
        assert!(!partial.exists());
        assert!(!sibling(&partial, "-journal").exists());

        let held = File::create(&partial).unwrap();
        held.lock().unwrap();
        let again = write(&database, &out, true, &ca_files()).await;
        assert!(matches!(again, Err(BackupError::Busy(_))), "{again:?}");
        assert!(matches!(
            write(&database, &out, false, &ca_files()).await,
            Err(BackupError::Exists(_))
        ));
    }
}
