//! `certd backup` and `certd restore`: one file holding the SQLite database
//! and the CA directory, written while the server runs, and a new data
//! directory made from it. The database work is `store::backup`'s, the CA
//! files `ca`'s; this module puts the directories in place.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use rand::RngCore;

use super::{CA_DIR, CliResult, create_private_dir};
use crate::ca::CertificateAuthority;
use crate::store::SQLITE_FILE;
use crate::store::backup::{self, Contents, sync_dir};

#[derive(Debug, Args)]
pub(super) struct BackupArgs {
    /// The backup file to write (mode 0600: it holds the CA's private keys).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// The server's data directory: its database and its CA.
    #[arg(long, env = "CERTD_DATA", default_value = "./certd-data")]
    data: PathBuf,
    /// The server's database URL, if not SQLite in the data directory
    /// (PostgreSQL is backed up with pg_dump: see README.md, "Backups").
    // Hidden in --help: the URL may hold a password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct RestoreArgs {
    /// A file written by `certd backup`.
    file: PathBuf,
    /// The data directory to create: it must not hold a database or a CA.
    #[arg(long, env = "CERTD_DATA", default_value = "./certd-data")]
    data: PathBuf,
}

pub(super) async fn backup(args: BackupArgs) -> CliResult {
    let database = backup::database_path(&args.data, args.database_url.as_deref())?;
    if !database.is_file() {
        return Err(backup::BackupError::NoDatabase(database).into());
    }
    let ca_dir = args.data.join(CA_DIR);
    let ca_files = CertificateAuthority::read_files(&ca_dir)?.ok_or_else(|| {
        format!(
            "no CA in {}: give --data the server's data directory",
            ca_dir.display()
        )
    })?;
    let started = Instant::now();
    let written = backup::write(&database, &args.out, args.force, &ca_files).await?;
    println!(
        "wrote {} ({} bytes, mode 0600: it holds the CA's private keys) in {} ms: {}",
        args.out.display(),
        written.bytes,
        started.elapsed().as_millis(),
        describe(&written.contents)
    );
    Ok(())
}

pub(super) async fn restore(args: RestoreArgs) -> CliResult {
    let dir = &args.data;
    refuse_live(dir)?;
    if !args.file.is_file() {
        return Err(format!("{}: no such backup file", args.file.display()).into());
    }
    let placement = Placement::choose(dir)?;
    let result = async {
        let restored = backup::restore(&args.file, &placement.tmp.join(SQLITE_FILE)).await?;
        CertificateAuthority::write_files(&placement.tmp.join(CA_DIR), &restored.ca_files)?;
        sync_dir(&placement.tmp)?;
        placement.finish()?;
        Ok::<_, Box<dyn std::error::Error>>(restored)
    }
    .await;
    // Left only by a failure: nothing of it reached the data directory.
    if placement.tmp.exists() {
        let _ = fs::remove_dir_all(&placement.tmp);
    }
    let restored = result?;
    println!(
        "restored {} (taken {} by certd {} of {}) into {}, CA keys mode 0600: {}",
        args.file.display(),
        restored.created_at,
        restored.certd_version,
        restored.source,
        dir.display(),
        describe(&restored.contents)
    );
    Ok(())
}

/// "3 certificates (1 revoked), 12 audit entries (head ...)".
fn describe(contents: &Contents) -> String {
    let certificates = match contents.certificates {
        1 => "1 certificate".to_string(),
        n => format!("{n} certificates"),
    };
    let entries = match contents.audit_entries {
        1 => "1 audit entry".to_string(),
        n => format!("{n} audit entries"),
    };
    format!(
        "{certificates} ({} revoked), {entries} (head {})",
        contents.revoked, contents.audit_head
    )
}

/// Refuses a data directory that holds a database or a CA: a restore never
/// replaces a live server's data.
fn refuse_live(dir: &Path) -> Result<(), String> {
    let refuse = |what: &str| {
        format!(
            "{} already holds {what}: restore into a new or empty directory (nothing was changed)",
            dir.display()
        )
    };
    match fs::metadata(dir) {
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(format!("{}: {error}", dir.display())),
        Ok(meta) if !meta.is_dir() => return Err(format!("{} is not a directory", dir.display())),
        Ok(_) => {}
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let name = format!("{SQLITE_FILE}{suffix}");
        if fs::symlink_metadata(dir.join(&name)).is_ok() {
            return Err(refuse(&format!("a database ({name})")));
        }
    }
    let ca = dir.join(CA_DIR);
    let ca_empty = match fs::read_dir(&ca) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) => error.kind() == ErrorKind::NotFound,
    };
    if !ca_empty {
        return Err(refuse(&format!("a CA ({CA_DIR}/)")));
    }
    Ok(())
}

/// Where a restore builds the new data directory, and how it moves it in.
struct Placement {
    /// The directory being built (0700).
    tmp: PathBuf,
    dir: PathBuf,
    /// Renamed onto `dir` in one step (`dir` absent, or an empty directory
    /// on its parent's file system); otherwise built inside `dir` and its
    /// two parts moved in.
    whole: bool,
}

impl Placement {
    fn choose(dir: &Path) -> Result<Placement, Box<dyn std::error::Error>> {
        let name = dir
            .file_name()
            .ok_or_else(|| format!("{}: not a directory name", dir.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let whole = match fs::symlink_metadata(dir) {
            Err(_) => {
                create_private_dir(&parent)?;
                true
            }
            Ok(meta) => {
                meta.is_dir()
                    && fs::read_dir(dir)?.next().is_none()
                    && fs::metadata(&parent)?.dev() == meta.dev()
            }
        };
        let mut suffix = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut suffix);
        let tag = format!("restore-{}-{}", std::process::id(), hex::encode(suffix));
        let tmp = if whole {
            parent.join(format!(".{name}.{tag}"))
        } else {
            dir.join(format!(".certd-{tag}"))
        };
        fs::DirBuilder::new().mode(0o700).create(&tmp)?;
        Ok(Placement {
            tmp,
            dir: dir.to_owned(),
            whole,
        })
    }

    /// Moves the finished directory in and flushes the renames to disk.
    fn finish(&self) -> std::io::Result<()> {
        if self.whole {
            // rename(2) replaces an empty directory in the same step.
            fs::rename(&self.tmp, &self.dir)?;
            let parent = self.dir.parent().filter(|p| !p.as_os_str().is_empty());
            return sync_dir(parent.unwrap_or(Path::new(".")));
        }
        // The CA first: killed between the two, the directory holds a CA and
        // no database, which a new restore refuses and `certd serve` would
        // start an empty database on; the other way round it would make a
        // new CA beside certificates the old one signed.
        fs::rename(self.tmp.join(CA_DIR), self.dir.join(CA_DIR))?;
        fs::rename(self.tmp.join(SQLITE_FILE), self.dir.join(SQLITE_FILE))?;
        sync_dir(&self.dir)?;
        fs::remove_dir(&self.tmp)
    }
}
