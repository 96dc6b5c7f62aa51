//! The CA's files on disk: creating them crash-safely and reading them back.
//!
//! Layout of the CA directory (mode 0700):
//!   root.pem, intermediate.pem          certificates (0644)
//!   root.key, intermediate.key          PKCS#8 PEM private keys, in clear or
//!                                       encrypted (0600 from creation)
//! or, when the keys live in a PKCS#11 token, instead of the two key files:
//!   keys-in-token.txt                   which token holds them (for people;
//!                                       certd finds each key by its certificate)

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyUsagePurpose,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::CaError;
use super::issue::random_serial;
use super::keys::{CaKey, signing_error};

pub(crate) const ROOT_CERT: &str = "root.pem";
pub(crate) const ROOT_KEY: &str = "root.key";
pub(crate) const INTERMEDIATE_CERT: &str = "intermediate.pem";
pub(crate) const INTERMEDIATE_KEY: &str = "intermediate.key";
pub(crate) const KEYS_IN_TOKEN: &str = "keys-in-token.txt";
const KEY_FILES: [&str; 2] = [ROOT_KEY, INTERMEDIATE_KEY];

const ROOT_CN: &str = "certd Root CA";
const INTERMEDIATE_CN: &str = "certd Issuing CA 1";
const ROOT_LIFETIME: Duration = Duration::days(7305); // 20 years incl. leap days
const INTERMEDIATE_LIFETIME: Duration = Duration::days(3653); // 10 years

/// Where the private keys are, as the directory shows it.
#[derive(Clone)]
pub(crate) enum StoredKeys {
    /// PEM files (PKCS#8), in clear or encrypted.
    Files { root: String, intermediate: String },
    /// In a PKCS#11 token; the text says which, for people.
    Token(String),
}

/// The CA directory's contents.
#[derive(Clone)]
pub(crate) struct Material {
    pub root_cert: String,
    pub intermediate_cert: String,
    pub keys: StoredKeys,
}

impl Material {
    /// Each file's name and contents.
    pub(crate) fn files(&self) -> Vec<(&'static str, &str)> {
        let mut files = vec![
            (ROOT_CERT, self.root_cert.as_str()),
            (INTERMEDIATE_CERT, self.intermediate_cert.as_str()),
        ];
        match &self.keys {
            StoredKeys::Files { root, intermediate } => {
                files.push((ROOT_KEY, root));
                files.push((INTERMEDIATE_KEY, intermediate));
            }
            StoredKeys::Token(text) => files.push((KEYS_IN_TOKEN, text)),
        }
        files
    }

    /// The material from files by name (a backup's copy of them): the two
    /// certificates and either both key files or the token note, none
    /// missing and nothing else.
    pub(crate) fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Material, CaError> {
        let mut found = std::collections::BTreeMap::new();
        for (name, contents) in files {
            if ![
                ROOT_CERT,
                INTERMEDIATE_CERT,
                ROOT_KEY,
                INTERMEDIATE_KEY,
                KEYS_IN_TOKEN,
            ]
            .contains(&name)
            {
                return Err(internal(format!("unknown CA file {name:?}")));
            }
            found.insert(name, contents.to_string());
        }
        let in_token = found.contains_key(KEYS_IN_TOKEN);
        if in_token && KEY_FILES.iter().any(|name| found.contains_key(name)) {
            return Err(internal(format!(
                "CA files hold both key files and {KEYS_IN_TOKEN}"
            )));
        }
        Material::assemble(in_token, |name| found.remove(name))
            .map_err(|missing| internal(format!("CA files missing: {}", missing.0.join(", "))))
    }

    /// Builds the material from a lookup of each file's contents (`None`:
    /// absent), naming every missing file at once.
    fn assemble(
        in_token: bool,
        mut contents: impl FnMut(&str) -> Option<String>,
    ) -> Result<Material, Missing> {
        let wanted: &[&str] = if in_token {
            &[ROOT_CERT, INTERMEDIATE_CERT, KEYS_IN_TOKEN]
        } else {
            &[ROOT_CERT, INTERMEDIATE_CERT, ROOT_KEY, INTERMEDIATE_KEY]
        };
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for name in wanted {
            match contents(name) {
                Some(text) => values.push(text),
                None => missing.push(*name),
            }
        }
        if !missing.is_empty() {
            return Err(Missing(missing));
        }
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or_default();
        let (root_cert, intermediate_cert) = (next(), next());
        let keys = if in_token {
            StoredKeys::Token(next())
        } else {
            StoredKeys::Files {
                root: next(),
                intermediate: next(),
            }
        };
        Ok(Material {
            root_cert,
            intermediate_cert,
            keys,
        })
    }
}

/// Files a CA needs and lacks.
struct Missing(Vec<&'static str>);

fn internal(msg: impl Into<String>) -> CaError {
    CaError::Internal(msg.into())
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

    let in_token = dir.join(KEYS_IN_TOKEN).exists();
    let mut unreadable = None;
    let material = Material::assemble(in_token, |name| match fs::read_to_string(dir.join(name)) {
        Ok(text) => Some(text),
        Err(e) => {
            if e.kind() != ErrorKind::NotFound {
                unreadable.get_or_insert(format!("cannot read {}: {e}", dir.join(name).display()));
            }
            None
        }
    });
    if let Some(message) = unreadable {
        return Err(internal(message));
    }
    let missing = match material {
        Ok(material) => return Ok(Some(material)),
        Err(Missing(missing)) => missing,
    };
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

/// Makes the root and intermediate certificates for these two keys: the
/// root self-signed, the intermediate signed by the root. Returns their PEM.
pub(crate) fn certify(root_key: &CaKey, int_key: &CaKey) -> Result<(String, String), CaError> {
    // Backdate a little so clients with a slightly slow clock accept the chain at once.
    let now = super::now_whole_seconds() - Duration::hours(1);

    let mut root = ca_params(ROOT_CN, now, now + ROOT_LIFETIME, 1);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root
        .self_signed(root_key)
        .map_err(|e| signing_error("the root certificate", e))?;

    let mut int = ca_params(INTERMEDIATE_CN, now, now + INTERMEDIATE_LIFETIME, 0);
    int.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    int.use_authority_key_identifier_extension = true;
    let int_cert = int
        .signed_by(int_key, &Issuer::from_params(&root, root_key))
        .map_err(|e| signing_error("the intermediate certificate", e))?;
    Ok((root_cert.pem(), int_cert.pem()))
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
    for (name, contents) in m.files() {
        let mode = if KEY_FILES.contains(&name) {
            0o600
        } else {
            0o644
        };
        write_file(&tmp.join(name), contents, mode)?;
    }
    sync_dir(tmp)
}

/// Replaces one key file by a new version (`certd ca encrypt-keys`): written
/// beside it, flushed, then renamed over it, so the file is always whole.
pub(crate) fn replace_key_file(dir: &Path, name: &str, contents: &str) -> Result<(), CaError> {
    let tmp = dir.join(format!(".{name}.new"));
    let _ = fs::remove_file(&tmp);
    write_file(&tmp, contents, 0o600)?;
    fs::rename(&tmp, dir.join(name))
        .map_err(|e| internal(format!("cannot replace {}: {e}", dir.join(name).display())))?;
    sync_dir(dir)
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
