//! The CA's files on disk: creating them crash-safely and reading them back.
//!
//! Layout of the CA directory (mode 0700):
//!   root.pem, intermediate.pem          certificates (0644)
//!   root.key, intermediate.key          PKCS#8 PEM private keys (0600 from creation)

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::CaError;
use super::issue::random_serial;

pub(crate) const ROOT_CERT: &str = "root.pem";
pub(crate) const ROOT_KEY: &str = "root.key";
pub(crate) const INTERMEDIATE_CERT: &str = "intermediate.pem";
pub(crate) const INTERMEDIATE_KEY: &str = "intermediate.key";
const FILES: [&str; 4] = [ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT, INTERMEDIATE_KEY];

const ROOT_CN: &str = "certd Root CA";
const INTERMEDIATE_CN: &str = "certd Issuing CA 1";
const ROOT_LIFETIME: Duration = Duration::days(7305); // 20 years incl. leap days
const INTERMEDIATE_LIFETIME: Duration = Duration::days(3653); // 10 years

/// The four PEM files' contents.
#[derive(Clone)]
pub(crate) struct Material {
    pub root_cert: String,
    pub root_key: String,
    pub intermediate_cert: String,
    pub intermediate_key: String,
}

impl Material {
    /// Each file's name and contents, in [`FILES`] order.
    pub(crate) fn files(&self) -> [(&'static str, &str); 4] {
        [
            (ROOT_CERT, &self.root_cert),
            (ROOT_KEY, &self.root_key),
            (INTERMEDIATE_CERT, &self.intermediate_cert),
            (INTERMEDIATE_KEY, &self.intermediate_key),
        ]
    }

    /// The material from files by name (a backup's copy of them): exactly
    /// [`FILES`], none missing and nothing else.
    pub(crate) fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Material, CaError> {
        let mut found: [Option<String>; 4] = Default::default();
        for (name, contents) in files {
            let slot = FILES
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| internal(format!("unknown CA file {name:?}")))?;
            found[slot] = Some(contents.to_string());
        }
        let missing: Vec<&str> = FILES
            .iter()
            .zip(&found)
            .filter(|(_, contents)| contents.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(internal(format!(
                "CA files missing: {}",
                missing.join(", ")
            )));
        }
        let [root_cert, root_key, intermediate_cert, intermediate_key] =
            found.map(Option::unwrap_or_default);
        Ok(Material {
            root_cert,
            root_key,
            intermediate_cert,
            intermediate_key,
        })
    }
}

fn internal(msg: impl Into<String>) -> CaError {
    CaError::Internal(msg.into())
}

fn sign_err(what: &'static str) -> impl Fn(rcgen::Error) -> CaError {
    move |e| internal(format!("generating {what}: {e}"))
}

/// Reads the CA directory. `Ok(None)` means "no CA yet" (absent or empty directory);
/// a directory holding only some of the files is an error, never silently replaced.
pub(crate) fn read(dir: &Path) -> Result<Option<Material>, CaError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(internal(format!(
                "cannot stat CA directory {}: {e}",
                dir.display()
            )));
        }
        Ok(m) if !m.is_dir() => {
            return Err(internal(format!(
                "CA path {} is not a directory",
                dir.display()
            )));
        }
        Ok(_) => {}
    }

    let mut contents = Vec::with_capacity(FILES.len());
    let mut missing = Vec::new();
    for name in FILES {
        match fs::read_to_string(dir.join(name)) {
            Ok(s) => contents.push(s),
            Err(e) if e.kind() == ErrorKind::NotFound => missing.push(name),
            Err(e) => {
                return Err(internal(format!(
                    "cannot read {}: {e}",
                    dir.join(name).display()
                )));
            }
        }
    }

    if missing.is_empty() {
        let mut it = contents.into_iter();
        let mut next = || it.next().unwrap_or_default();
        return Ok(Some(Material {
            root_cert: next(),
            root_key: next(),
            intermediate_cert: next(),
            intermediate_key: next(),
        }));
    }
    let empty = fs::read_dir(dir)
        .map_err(|e| internal(format!("cannot list CA directory {}: {e}", dir.display())))?
        .next()
        .is_none();
    if empty {
        return Ok(None);
    }
    Err(internal(format!(
        "CA directory {} exists but is incomplete (missing {}); refusing to create a new CA over it: \
         restore the missing files or remove the directory",
        dir.display(),
        missing.join(", ")
    )))
}

/// Generates a fresh root + intermediate pair.
pub(crate) fn generate() -> Result<Material, CaError> {
    // Backdate a little so clients with a slightly slow clock accept the chain at once.
    let now = super::now_whole_seconds() - Duration::hours(1);

    let root_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(sign_err("root key"))?;
    let mut root = ca_params(ROOT_CN, now, now + ROOT_LIFETIME, 1);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root
        .self_signed(&root_key)
        .map_err(sign_err("root certificate"))?;

    let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(sign_err("intermediate key"))?;
    let mut int = ca_params(INTERMEDIATE_CN, now, now + INTERMEDIATE_LIFETIME, 0);
    int.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    int.use_authority_key_identifier_extension = true;
    let int_cert = int
        .signed_by(&int_key, &Issuer::from_params(&root, &root_key))
        .map_err(sign_err("intermediate certificate"))?;

    Ok(Material {
        root_cert: root_cert.pem(),
        root_key: root_key.serialize_pem(),
        intermediate_cert: int_cert.pem(),
        intermediate_key: int_key.serialize_pem(),
    })
}

/// CA certificate params; rcgen adds SKI automatically for `IsCa::Ca`.
fn ca_params(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    path_len: u8,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params
}

/// Writes the material into a fresh temp directory beside `dir`, then renames it onto
/// `dir` in one step, so a crash never leaves a half-written CA at `dir`.
///
/// rename(2) also atomically replaces an existing *empty* directory. If it fails because
/// `dir` meanwhile got contents (another process won the race), that is not an error
/// here: the caller reads `dir` back and loads whatever complete CA is there.
pub(crate) fn install(dir: &Path, m: &Material) -> Result<(), CaError> {
    let name = dir
        .file_name()
        .ok_or_else(|| internal(format!("CA path {} has no final component", dir.display())))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|e| internal(format!("cannot create {}: {e}", parent.display())))?;

    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        hex::encode(suffix)
    ));

    let result = write_new_dir(&tmp, m).and_then(|()| match fs::rename(&tmp, dir) {
        Ok(()) => sync_dir(&parent),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(internal(format!(
            "cannot move new CA into place at {} (a mount point cannot be replaced; \
             point the CA directory at a subdirectory of it): {e}",
            dir.display()
        ))),
    });
    // Only left behind if the rename did not happen (failure or lost race).
    if tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Creates `dir` (0700; it must not exist) and writes the material into it
/// with the modes above, flushed to disk. Not atomic by itself: callers build
/// it under a temporary name and rename it into place.
pub(crate) fn write_new_dir(dir: &Path, m: &Material) -> Result<(), CaError> {
    DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| internal(format!("cannot create {}: {e}", dir.display())))?;
    write_all_files(dir, m)
}

fn write_all_files(tmp: &Path, m: &Material) -> Result<(), CaError> {
    write_file(&tmp.join(ROOT_KEY), &m.root_key, 0o600)?;
    write_file(&tmp.join(INTERMEDIATE_KEY), &m.intermediate_key, 0o600)?;
    write_file(&tmp.join(ROOT_CERT), &m.root_cert, 0o644)?;
    write_file(&tmp.join(INTERMEDIATE_CERT), &m.intermediate_cert, 0o644)?;
    sync_dir(tmp)
}

/// Creates the file with its final mode (no window where a key is world-readable)
/// and flushes it to disk before the directory rename makes it visible.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), CaError> {
    let io_err = |e: std::io::Error| internal(format!("cannot write {}: {e}", path.display()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err)?;
    f.write_all(contents.as_bytes()).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

fn sync_dir(dir: &Path) -> Result<(), CaError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| internal(format!("cannot sync directory {}: {e}", dir.display())))
}
