//! Contract section 10, CA keys: key files encrypted with a passphrase, and
//! keys inside a PKCS#11 token (SoftHSM2, which `.ci/run` installs), with
//! the real `certd` binary and `openssl` checking what the token signed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{Run, Server, certd_command};
use crate::publication::{Certificate, lists_serial};

const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234";

/// A private SoftHSM2 token store with one token, labelled `certd`.
struct SoftToken {
    dir: tempfile::TempDir,
}

impl SoftToken {
    fn new() -> SoftToken {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let token = SoftToken { dir };
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", token.conf())
            .args(["--init-token", "--free", "--label", "certd", "--pin", PIN])
            .args(["--so-pin", "87654321"])
            .output()
            .expect("softhsm2-util (Debian's softhsm2, which .ci/run installs)");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        token
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("SOFTHSM2_CONF".into(), self.conf().display().to_string())]
    }

    /// `--pkcs11-*` options naming this token, with `pin_file` for the PIN.
    fn options_with_pin(&self, pin_file: &Path) -> Vec<String> {
        [
            "--pkcs11-module",
            SOFTHSM_MODULE,
            "--pkcs11-token",
            "certd",
            "--pkcs11-pin-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([pin_file.display().to_string()])
        .collect()
    }

    fn options(&self) -> Vec<String> {
        self.options_with_pin(&self.dir.path().join("pin"))
    }
}

fn strings(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Every file under `dir`, path and bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

/// What private key material looks like, as PEM or DER: a PEM label, the
/// start of a P-256 ECPrivateKey (RFC 5915) and of a PKCS#8 EC key.
fn holds_private_key(bytes: &[u8]) -> bool {
    let patterns: [&[u8]; 3] = [
        b"PRIVATE KEY",
        &[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20],
        &[
            0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
        ],
    ];
    patterns
        .iter()
        .any(|p| bytes.windows(p.len()).any(|w| w == *p))
}

/// The database's contents as bytes to search: the SQLite files are in the
/// data directory already; PostgreSQL's come from `pg_dump`.
fn database_dump(s: &Server) -> Vec<u8> {
    if s.postgres.is_none() {
        return Vec::new();
    }
    let out = Command::new("pg_dump")
        .args(["--data-only", &s.database_url()])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[tokio::test]
async fn with_keys_in_a_token_every_signature_verifies_and_no_private_key_is_stored() {
    let token = SoftToken::new();
    let s = Server::start_with_env(&strings(&token.options()), &token.env());
    let (_, cert) = s.issue_certificate(&s.admin_key).await;
    let good = Certificate::download(&s, cert).await;
    assert!(
        good.verify_chain(),
        "the token-signed leaf chains to the root"
    );
    s.revoke_now(cert, "key_compromise").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ocsp = good.ocsp(&s.url("/ocsp"));
    assert!(
        ocsp.contains("Response verify OK") && ocsp.contains("revoked"),
        "{ocsp}"
    );
    // Fetched and its signature checked against the root by openssl.
    let crl = good.crl_text_on(&s).await;
    assert!(lists_serial(&crl, &good.serial), "{crl}");

    for (path, bytes) in files_under(&s.data_dir()) {
        assert!(
            !holds_private_key(&bytes),
            "{} holds a private key",
            path.display()
        );
    }
    assert!(
        !holds_private_key(&database_dump(&s)),
        "the database holds a private key"
    );
    assert!(s.data_dir().join("ca/keys-in-token.txt").exists());
    assert!(!s.data_dir().join("ca/intermediate.key").exists());
}

#[test]
fn ca_init_makes_the_keys_in_the_token_and_serve_needs_the_token() {
    let token = SoftToken::new();
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], with_token: bool| {
        let mut command = certd_command();
        command.args(args).arg("--data").arg(data.path());
        if with_token {
            command.args(token.options()).envs(token.env());
        }
        Run::of(&mut command)
    };
    let init = run(&["ca", "init"], true);
    init.ok();
    assert!(
        init.stdout.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        init.stdout
    );
    assert_eq!(run(&["ca", "root"], false).ok().stdout, init.stdout);
    run(&["ca", "init"], true).fails_with("a CA already exists");
    // Without the token the keys cannot be found: one line says what to give.
    run(&["serve", "--listen", "127.0.0.1:0"], false).refused_start("--pkcs11-module");
}

#[test]
fn a_token_that_cannot_be_used_stops_serve_with_one_clear_line() {
    let token = SoftToken::new();
    let data = tempfile::tempdir().unwrap();
    let serve = |options: Vec<String>| {
        Run::of(
            certd_command()
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(data.path())
                .args(options)
                .envs(token.env()),
        )
    };
    let wrong_pin = token.dir.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "9999").unwrap();
    serve(token.options_with_pin(&wrong_pin)).refused_start("PIN");
    let mut no_module = token.options();
    no_module[1] = "/nonexistent/libpkcs11.so".into();
    serve(no_module).refused_start("cannot load PKCS#11 module");
    let mut other_label = token.options();
    other_label[3] = "elsewhere".into();
    serve(other_label).refused_start("no PKCS#11 token labelled \"elsewhere\"");
    serve(token.options_with_pin(&token.dir.path().join("absent")))
        .refused_start("--pkcs11-pin-file");
    assert!(
        !data.path().join("ca").exists(),
        "a refused start creates no CA"
    );
}

#[tokio::test]
async fn a_token_gone_while_serving_fails_new_signatures_with_503_and_changes_nothing() {
    let token = SoftToken::new();
    let mut s = Server::start_with_env(&strings(&token.options()), &token.env());
    let (_, earlier) = s.issue_certificate(&s.admin_key).await;
    let earlier = Certificate::download(&s, earlier).await;
    // Let the signer-ahead answer for the earlier certificate be made.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let away = token.dir.path().join("tokens.away");
    std::fs::rename(token.tokens(), &away).unwrap();
    let orders_before = s.get(&s.admin_key, "/order/certificate").await;
    let refused = s.place_order(&s.admin_key, "gone.example.com", true).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(
        refused.json["errors"][0]["code"],
        "service_unavailable|signer"
    );
    let orders_after = s.get(&s.admin_key, "/order/certificate").await;
    assert_eq!(
        orders_after.json, orders_before.json,
        "nothing half-written"
    );
    // OCSP keeps answering from what was signed before.
    let ocsp = earlier.ocsp(&s.url("/ocsp"));
    assert!(
        ocsp.contains("Response verify OK") && ocsp.contains(": good"),
        "{ocsp}"
    );

    // SoftHSM2 does not take back, within one process, a token whose store
    // vanished (its login then fails for good): a restart does
    // (docs/security.md).
    std::fs::rename(&away, token.tokens()).unwrap();
    s.restart();
    let placed = s.place_order(&s.admin_key, "back.example.com", true).await;
    assert_eq!(placed.status, 201, "{}", placed.text());
}

#[tokio::test]
async fn serve_with_a_passphrase_keeps_the_keys_encrypted_and_needs_the_passphrase() {
    let secrets = tempfile::tempdir().unwrap();
    let passphrase = secrets.path().join("passphrase");
    std::fs::write(&passphrase, "a passphrase for the CA\n").unwrap();
    let mut s = Server::start_with(&["--ca-key-passphrase-file", passphrase.to_str().unwrap()]);
    let (_, cert) = s.issue_certificate(&s.admin_key).await;
    assert!(Certificate::download(&s, cert).await.verify_chain());
    let ca = s.data_dir().join("ca");
    let keys =
        || ["root.key", "intermediate.key"].map(|k| std::fs::read_to_string(ca.join(k)).unwrap());
    for pem in keys() {
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    }
    s.terminate();
    let before = keys();
    let serve = |extra: &[&str], env: &[(&str, &str)]| {
        Run::of(
            certd_command()
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(s.data_dir())
                .args(s.database_args())
                .args(extra)
                .envs(env.iter().copied()),
        )
    };
    serve(&[], &[]).refused_start("root.key is encrypted");
    serve(&[], &[("CERTD_CA_KEY_PASSPHRASE", "not it")]).refused_start("wrong passphrase");
    assert_eq!(keys(), before, "a refused start rewrites nothing");
    s.restart();
    assert_eq!(s.cert_status(cert).await, "issued");
}

#[tokio::test]
async fn ca_encrypt_keys_protects_an_existing_deployment() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(&s.admin_key).await;
    let secrets = tempfile::tempdir().unwrap();
    let passphrase = secrets.path().join("passphrase");
    std::fs::write(&passphrase, "converted later").unwrap();
    let file = passphrase.to_str().unwrap();
    s.certd_local(&["ca", "encrypt-keys"])
        .fails_with("--ca-key-passphrase-file");
    let converted = s.certd_local(&["ca", "encrypt-keys", "--ca-key-passphrase-file", file]);
    assert!(
        converted
            .ok()
            .stdout
            .contains("Encrypted root.key and intermediate.key")
    );
    let again = s.certd_local(&["ca", "encrypt-keys", "--ca-key-passphrase-file", file]);
    assert!(again.ok().stdout.contains("already encrypted"));
    // Other commands that sign open the keys with the passphrase too.
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    s.certd_local(&["crl", "--out", out])
        .fails_with("is encrypted");
    s.certd_local(&["crl", "--out", out, "--ca-key-passphrase-file", file])
        .ok();
    assert!(Path::new(out).join("0.crl").exists());
    assert_eq!(s.cert_status(cert).await, "issued");
}
