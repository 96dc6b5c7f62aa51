//! CA keys encrypted with a passphrase: created encrypted, refused without
//! or with a wrong passphrase (nothing rewritten), converted in place, read
//! by openssl, and backed up without the passphrase.

use std::path::Path;
use std::process::Command;

use super::*;

fn passphrase(text: &str) -> KeyProtection {
    KeyProtection::Passphrase(Passphrase::new(text.into()).expect("passphrase"))
}

fn urls() -> PublicUrls {
    PublicUrls::new("http://certd.test")
}

fn key_files(dir: &Path) -> [String; 2] {
    ["root.key", "intermediate.key"].map(|name| std::fs::read_to_string(dir.join(name)).unwrap())
}

fn refusal(result: Result<CertificateAuthority, CaError>) -> String {
    match result {
        Err(CaError::Internal(message)) => message,
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_ca_created_with_a_passphrase_has_only_encrypted_keys_and_needs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let keys = passphrase("correct horse battery staple");
    CertificateAuthority::open_or_create(&dir, urls(), &keys).expect("create");
    let files = key_files(&dir);
    for pem in &files {
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{pem}"
        );
    }
    let ca = CertificateAuthority::open_existing(&dir, urls(), &keys)
        .expect("open")
        .expect("a CA");
    assert!(!ca.root_pem().is_empty());

    let without = refusal(CertificateAuthority::open_or_create(
        &dir,
        urls(),
        &KeyProtection::Clear,
    ));
    assert!(
        without.contains("root.key is encrypted") && without.contains("--ca-key-passphrase-file"),
        "{without}"
    );
    let wrong = refusal(CertificateAuthority::open_or_create(
        &dir,
        urls(),
        &passphrase("wrong"),
    ));
    assert!(wrong.contains("wrong passphrase"), "{wrong}");
    assert_eq!(key_files(&dir), files, "a refused start rewrites nothing");
}

#[test]
fn openssl_reads_the_encrypted_key_with_the_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    CertificateAuthority::open_or_create(&dir, urls(), &passphrase("s3cret passphrase")).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkey",
            "-noout",
            "-text_pub",
            "-passin",
            "pass:s3cret passphrase",
            "-in",
        ])
        .arg(dir.join("intermediate.key"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("P-256"));
    let wrong = Command::new("openssl")
        .args(["pkey", "-noout", "-passin", "pass:nope", "-in"])
        .arg(dir.join("intermediate.key"))
        .output()
        .expect("openssl");
    assert!(!wrong.status.success());
}

#[test]
fn encrypt_keys_converts_a_clear_ca_once_and_checks_the_passphrase_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let clear = CertificateAuthority::open_or_create(&dir, urls(), &KeyProtection::Clear).unwrap();
    let root = clear.root_pem().to_string();
    let phrase = Passphrase::new("a long passphrase".into()).unwrap();
    let converted = CertificateAuthority::encrypt_keys(&dir, &phrase).expect("encrypt");
    assert_eq!(converted, ["root.key", "intermediate.key"]);
    let reopened =
        CertificateAuthority::open_existing(&dir, urls(), &passphrase("a long passphrase"))
            .unwrap()
            .unwrap();
    assert_eq!(reopened.root_pem(), root, "the same CA");

    assert!(
        CertificateAuthority::encrypt_keys(&dir, &phrase)
            .unwrap()
            .is_empty()
    );
    let before = key_files(&dir);
    let other = Passphrase::new("another one".into()).unwrap();
    match CertificateAuthority::encrypt_keys(&dir, &other) {
        Err(CaError::Internal(message)) => {
            assert!(message.contains("wrong passphrase"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(key_files(&dir), before);
}

#[test]
fn clear_key_files_with_a_passphrase_given_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    CertificateAuthority::open_or_create(&dir, urls(), &KeyProtection::Clear).unwrap();
    let message = refusal(CertificateAuthority::open_or_create(
        &dir,
        urls(),
        &passphrase("p"),
    ));
    assert!(
        message.contains("not encrypted") && message.contains("certd ca encrypt-keys"),
        "{message}"
    );
}

#[test]
fn an_encrypted_ca_is_backed_up_and_restored_without_its_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    CertificateAuthority::open_or_create(&dir, urls(), &passphrase("backup me")).unwrap();
    let files = CertificateAuthority::read_files(&dir)
        .unwrap()
        .expect("files");
    assert!(
        files
            .iter()
            .any(|(_, pem)| pem.contains("ENCRYPTED PRIVATE KEY"))
    );
    let restored = tmp.path().join("restored");
    CertificateAuthority::write_files(&restored, &files).expect("restore");
    CertificateAuthority::open_existing(&restored, urls(), &passphrase("backup me"))
        .unwrap()
        .expect("the restored CA opens");
}
