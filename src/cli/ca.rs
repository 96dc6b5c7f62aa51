//! `certd ca`: creating the CA, protecting its keys, printing its root; and
//! the options that say where the CA's keys are kept, for every command
//! that opens the CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{CA_DIR, CliResult, DatabaseArgs, prepare_data_dir};
use crate::ca::{CertificateAuthority, KeyProtection, Passphrase, PublicUrls, TokenConfig};

/// The environment variable that may hold the CA key passphrase itself.
/// There is no option for it: other local users can see a process's
/// arguments.
const PASSPHRASE_VARIABLE: &str = "CERTD_CA_KEY_PASSPHRASE";

/// Where the CA's private keys are kept. Without any of these, in clear
/// files (mode 0600) in the data directory.
#[derive(Debug, Args)]
pub(super) struct CaKeyArgs {
    /// File holding the passphrase of the CA's encrypted key files.
    #[arg(
        long,
        env = "CERTD_CA_KEY_PASSPHRASE_FILE",
        conflicts_with = "pkcs11_module"
    )]
    ca_key_passphrase_file: Option<PathBuf>,
    /// PKCS#11 module (the HSM vendor's library) holding the CA's keys.
    #[arg(long, env = "CERTD_PKCS11_MODULE", requires_all = ["pkcs11_token", "pkcs11_pin_file"])]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token.
    #[arg(long, env = "CERTD_PKCS11_TOKEN", requires = "pkcs11_module")]
    pkcs11_token: Option<String>,
    /// File holding the token's user PIN.
    #[arg(long, env = "CERTD_PKCS11_PIN_FILE", requires = "pkcs11_module")]
    pkcs11_pin_file: Option<PathBuf>,
}

impl CaKeyArgs {
    /// The protection these options ask for; secrets are read from their
    /// files here, with one clear line when they cannot be.
    pub(super) fn protection(&self) -> Result<KeyProtection, String> {
        if let (Some(module), Some(label), Some(pin_file)) = (
            &self.pkcs11_module,
            &self.pkcs11_token,
            &self.pkcs11_pin_file,
        ) {
            return Ok(KeyProtection::Token(TokenConfig {
                module: module.clone(),
                label: label.clone(),
                pin: read_secret(pin_file, "--pkcs11-pin-file")?,
            }));
        }
        let from_environment = std::env::var(PASSPHRASE_VARIABLE).ok().map(Zeroizing::new);
        let passphrase = match (&self.ca_key_passphrase_file, from_environment) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "give the CA key passphrase once: --ca-key-passphrase-file or \
                     {PASSPHRASE_VARIABLE}, not both"
                ));
            }
            (Some(file), None) => read_secret(file, "--ca-key-passphrase-file")?,
            (None, Some(text)) => text,
            (None, None) => return Ok(KeyProtection::Clear),
        };
        Passphrase::new(passphrase.to_string()).map(KeyProtection::Passphrase)
    }

    fn passphrase(&self) -> Result<Passphrase, String> {
        match self.protection()? {
            KeyProtection::Passphrase(passphrase) => Ok(passphrase),
            _ => Err("give the passphrase: --ca-key-passphrase-file FILE or \
                      CERTD_CA_KEY_PASSPHRASE"
                .into()),
        }
    }
}

/// A secret from a file, without the line break editors add.
fn read_secret(path: &Path, option: &str) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {option} {}: {e}", path.display()))?,
    );
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(format!("{option} {} is empty", path.display()));
    }
    Ok(Zeroizing::new(secret.to_string()))
}

#[derive(Debug, Subcommand)]
pub(super) enum CaCommand {
    /// Create the CA in the data directory, its keys in clear files, in
    /// files encrypted with a passphrase, or inside a PKCS#11 token; prints
    /// the root certificate.
    Init(DatabaseArgs),
    /// Encrypt an existing CA's key files in place with a passphrase.
    EncryptKeys(DatabaseArgs),
    /// Print the root certificate (PEM), the trust anchor for clients.
    Root(DatabaseArgs),
    /// Measure how many signatures a second the CA's key makes where it is
    /// kept (in memory, or in the PKCS#11 token): for sizing a token.
    SigningRate(SigningRateArgs),
}

#[derive(Debug, Args)]
pub(super) struct SigningRateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// How long to sign for.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Threads signing at once (each with its own token session).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

pub(super) fn run(command: CaCommand) -> CliResult {
    match command {
        CaCommand::Init(args) => init(&args),
        CaCommand::EncryptKeys(args) => encrypt_keys(&args),
        CaCommand::Root(args) => print_root(&args),
        CaCommand::SigningRate(args) => signing_rate(&args),
    }
}

fn init(args: &DatabaseArgs) -> CliResult {
    let keys = args.ca_keys.protection()?;
    prepare_data_dir(&args.data)?;
    let dir = args.data.join(CA_DIR);
    if CertificateAuthority::root_pem_in(&dir)
        .map_err(|e| in_dir(&dir, e))?
        .is_some()
    {
        return Err(format!("a CA already exists in {}", dir.display()).into());
    }
    CertificateAuthority::create(&dir, &keys).map_err(|e| in_dir(&dir, e))?;
    print_root(args)
}

fn encrypt_keys(args: &DatabaseArgs) -> CliResult {
    let passphrase = args.ca_keys.passphrase()?;
    let dir = args.data.join(CA_DIR);
    let converted =
        CertificateAuthority::encrypt_keys(&dir, &passphrase).map_err(|e| in_dir(&dir, e))?;
    if converted.is_empty() {
        println!("The CA's keys in {} were already encrypted.", dir.display());
    } else {
        println!(
            "Encrypted {} in {}.",
            converted.join(" and "),
            dir.display()
        );
    }
    Ok(())
}

fn print_root(args: &DatabaseArgs) -> CliResult {
    let dir = args.data.join(CA_DIR);
    let root = CertificateAuthority::root_pem_in(&dir)
        .map_err(|e| in_dir(&dir, e))?
        .ok_or_else(|| format!("no CA in {}", dir.display()))?;
    print!("{root}");
    Ok(())
}

fn signing_rate(args: &SigningRateArgs) -> CliResult {
    let keys = args.database.ca_keys.protection()?;
    let dir = args.database.data.join(CA_DIR);
    // Nothing signed here leaves the process: the URLs are never used.
    let ca = CertificateAuthority::open_existing(&dir, PublicUrls::new("http://localhost"), &keys)
        .map_err(|e| in_dir(&dir, e))?
        .ok_or_else(|| format!("no CA in {}", dir.display()))?;
    let duration = Duration::from_secs(args.seconds.max(1));
    let made = ca
        .measure_signing(duration, args.threads)
        .map_err(|e| in_dir(&dir, e))?;
    println!(
        "{} ECDSA P-256 signatures/s ({made} in {} s, {} threads, {})",
        made / duration.as_secs(),
        duration.as_secs(),
        args.threads.max(1),
        match keys {
            KeyProtection::Token(_) => "key in the PKCS#11 token, each signature verified",
            _ => "key in memory",
        }
    );
    Ok(())
}

fn in_dir(dir: &Path, error: impl std::fmt::Display) -> String {
    format!("the CA in {}: {error}", dir.display())
}
