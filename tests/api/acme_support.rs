//! Real ACME clients driven against a `certd serve`: certbot (from PyPI,
//! pinned, installed once into a virtualenv under `target/acme-clients/`) and
//! lego (the Debian package, which `.ci/run` installs). Each client runs in its
//! own temp directory with a timeout; a failure shows the command, its
//! output and the client's own log.
//!
//! certd validates through a test DNS server that answers 127.0.0.1 for
//! every name (`--acme-dns-resolver`), and connects for http-01 to the port
//! the client's built-in responder listens on (`--acme-http01-port`), so the
//! clients need neither `/etc/hosts` nor port 80.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

pub(crate) use crate::test_dns::TestDns;

/// The certbot release the tests drive (ARI in `certbot renew` since 4.1).
pub const CERTBOT_VERSION: &str = "5.8.0";

/// Everything `pip install certbot==CERTBOT_VERSION` brings, pinned, so that
/// a fresh machine installs exactly what the tests were written against.
const CERTBOT_REQUIREMENTS: &[&str] = &[
    "certbot==5.8.0",
    "acme==5.8.0",
    "certifi==2026.10.19.post1",
    "cffi==2.1.1",
    "charset-normalizer==3.5.3",
    "ConfigArgParse==1.9.0",
    "configobj==5.0.9",
    "cryptography==50.0.2",
    "distro==1.9.0",
    "idna==3.20",
    "josepy==2.2.0",
    "parsedatetime==2.6",
    "pycparser==3.12",
    "pyOpenSSL==26.4.0",
    "pyRFC3339==2.1.1",
    "requests==2.34.2",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
];

/// Longest a single client command may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(75);

/// The `certbot` executable, installed on first use: once per machine
/// (a file lock serialises test processes, a `OnceLock` the tests of one).
pub fn certbot_bin() -> &'static Path {
    static BIN_PATH: OnceLock<PathBuf> = OnceLock::new();
    BIN_PATH.get_or_init(install_certbot)
}

fn install_certbot() -> PathBuf {
    let started = std::time::Instant::now();
    let venv = python_venv(&format!("certbot-{CERTBOT_VERSION}"), CERTBOT_REQUIREMENTS);
    eprintln!(
        "certbot {CERTBOT_VERSION} ready in {:?} ({})",
        started.elapsed(),
        venv.display()
    );
    venv.join("bin").join("certbot")
}

/// `lego` from PATH (Debian package `lego`).
pub fn lego_bin() -> &'static str {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let ok = std::process::Command::new("lego")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "lego is not installed: `apt-get install lego` (.ci/run does it)"
        );
    });
    "lego"
}

/// A TCP port free right now on 127.0.0.1 (for a client's http-01
/// responder), which no other test of this run gets. Taken below the
/// kernel's ephemeral range (32768 and up here): a port that bind(":0")
/// handed out and the test let go could be handed to a server of another
/// test before the client binds it again (seen in CI: certbot's "Could not
/// bind TCP port").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + (std::process::id() % 100) as u16 * 100) % (LAST - FIRST);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A name under `acme.test` no other test uses.
pub fn acme_name(prefix: &str) -> String {
    format!("{prefix}{}-{}.acme.test", unique(), std::process::id())
}

// ---------------------------------------------------------------------------
// A certd serving ACME, with its DNS and the clients' http-01 port
// ---------------------------------------------------------------------------

pub struct AcmeEnv {
    pub server: Server,
    /// The DNS server certd validates through (kept alive with the server).
    #[allow(dead_code)]
    pub dns: TestDns,
    /// The port certd connects to for http-01, where a client listens.
    pub http01_port: u16,
}

impl AcmeEnv {
    /// `certd serve --acme-http01-port P --acme-dns-resolver DNS` plus `extra`.
    pub fn start(extra: &[&str]) -> AcmeEnv {
        let dns = TestDns::start();
        let http01_port = free_port();
        let port = http01_port.to_string();
        let resolver = dns.addr().to_string();
        let mut args = vec![
            "--acme-http01-port",
            &port,
            "--acme-dns-resolver",
            &resolver,
        ];
        args.extend_from_slice(extra);
        let server = Server::start_with(&args);
        AcmeEnv {
            server,
            dns,
            http01_port,
        }
    }

    /// With `--auto-approve orders` (ACME orders issue at finalize).
    pub fn auto_approved() -> AcmeEnv {
        AcmeEnv::start(&["--auto-approve", "orders"])
    }

    pub fn directory(&self) -> String {
        self.server.url("/acme/directory")
    }

    /// A new certd user (role `user`) and an EAB credential bound to them,
    /// made with `certd acme eab create --json` beside the server.
    pub fn user_with_eab(&self) -> EabUser {
        let email = format!("acme{}@example.com", unique());
        let key = self
            .server
            .add_user_named(&email, "Acme", "Client", "user", false);
        let eab = self
            .server
            .certd_local(&["acme", "eab", "create", "--user", &email, "--json"])
            .ok()
            .json();
        EabUser::from_json(email, key, &eab)
    }

    /// A credential for an existing user, through the API as the administrator.
    pub async fn eab_via_api(&self, user_id: i64) -> Value {
        self.server
            .post(
                self.server.admin(),
                "/acme/eab",
                json!({ "user_id": user_id }),
            )
            .await
            .ok(201)
            .json
            .clone()
    }

    /// certd's chain as `openssl verify` takes it: (root, intermediate) files
    /// in `dir`.
    pub async fn chain_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let pem = reqwest::get(self.server.url("/ca/chain.pem"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let blocks = pem_blocks(&pem);
        assert_eq!(blocks.len(), 2, "/ca/chain.pem: {pem}");
        let (root, inter) = (dir.join("root.pem"), dir.join("intermediate.pem"));
        std::fs::write(&inter, &blocks[0]).unwrap();
        std::fs::write(&root, &blocks[1]).unwrap();
        (root, inter)
    }

    /// `openssl verify` of a leaf (PEM file) against `/ca/chain.pem`.
    pub async fn verify(&self, leaf: &Path) {
        let dir = tempfile::tempdir().unwrap();
        let (root, inter) = self.chain_files(dir.path()).await;
        let out = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&root)
            .arg("-untrusted")
            .arg(&inter)
            .arg(leaf)
            .output()
            .expect("run openssl verify");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains(": OK"),
            "openssl verify {}: {text}",
            leaf.display()
        );
    }

    /// The certd order (list item) holding the certificate in `pem_file`, as
    /// `key` sees it, or None when `key` cannot see it.
    pub async fn order_of(&self, key: &str, pem_file: &Path) -> Option<Value> {
        let serial = serial_of(pem_file);
        let r = self
            .server
            .get(
                key,
                &format!("/order/certificate?filters[serial_number]={serial}"),
            )
            .await;
        r.ok(200);
        let orders = r.json["orders"].as_array().cloned().unwrap_or_default();
        assert!(orders.len() <= 1, "{}", r.text());
        orders.into_iter().next()
    }

    /// The certd certificate id of the certificate in `pem_file`
    /// (administrator's view).
    pub async fn certificate_id(&self, pem_file: &Path) -> i64 {
        let order = self
            .order_of(self.server.admin(), pem_file)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no order holds serial {} ({})",
                    serial_of(pem_file),
                    pem_file.display()
                )
            });
        let id = int(&order["id"]);
        let full = self.server.order(id).await;
        // The order's current certificate may be a later one (a reissue);
        // find the one with this serial.
        let serial = serial_of(pem_file);
        if full["certificate"]["serial_number"]
            .as_str()
            .is_some_and(|s| same_serial(s, &serial))
        {
            return int(&full["certificate"]["id"]);
        }
        panic!("order {id} does not name serial {serial} as its certificate: {full}");
    }
}

/// An EAB credential and the certd user it belongs to.
#[derive(Clone)]
pub struct EabUser {
    pub email: String,
    /// The user's API key (`/services/v2`).
    pub key: String,
    pub user_id: i64,
    pub kid: String,
    pub hmac: String,
}

impl EabUser {
    pub fn from_json(email: String, key: String, eab: &Value) -> EabUser {
        let kid = eab["kid"].as_str().expect("kid").to_string();
        let hmac = eab["hmac_key"].as_str().expect("hmac_key").to_string();
        assert!(!kid.is_empty() && !hmac.is_empty(), "{eab}");
        EabUser {
            email,
            key,
            user_id: int(&eab["user_id"]),
            kid,
            hmac,
        }
    }
}

/// The certificate's serial as certd spells it: uppercase hex, no colons,
/// no leading zero bytes.
pub fn serial_of(pem_file: &Path) -> String {
    let pem = std::fs::read_to_string(pem_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", pem_file.display()));
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = p.parse_x509().expect("X.509");
    let raw = cert.raw_serial();
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len() - 1);
    hex::encode_upper(&raw[start..])
}

fn same_serial(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.replace(':', "")
            .trim_start_matches('0')
            .to_ascii_uppercase()
    };
    norm(a) == norm(b)
}

/// SHA-256 of the SubjectPublicKeyInfo of a certificate (PEM file), hex.
pub fn spki_sha256_of(pem_file: &Path) -> String {
    use sha2::Digest;
    let pem = std::fs::read_to_string(pem_file).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = p.parse_x509().expect("X.509");
    hex::encode(sha2::Sha256::digest(cert.public_key().raw))
}

// ---------------------------------------------------------------------------
// Running a client
// ---------------------------------------------------------------------------

/// What a client run printed, and the context to show when it is wrong.
pub struct ClientRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    command: String,
    /// The client's own log after the run (certbot's debug log).
    pub log: String,
}

impl ClientRun {
    /// stdout and stderr together.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn explain(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- client log (tail) ---\n{}",
            self.command,
            self.stdout,
            self.stderr,
            tail(&self.log, 12000)
        )
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success, "client failed: {}", self.explain());
        self
    }

    /// Asserts a failure caused by the server's ACME problem of `kind`
    /// (`urn:ietf:params:acme:error:KIND` in the client's output or log:
    /// certbot prints only the problem's detail, its log the whole problem).
    #[track_caller]
    pub fn fails_with_problem(&self, kind: &str) -> &Self {
        self.fails_with(&format!("urn:ietf:params:acme:error:{kind}"))
    }

    /// Asserts failure, with `what` in stdout, stderr or the client's log.
    #[track_caller]
    pub fn fails_with(&self, what: &str) -> &Self {
        assert!(!self.success, "client succeeded: {}", self.explain());
        assert!(
            self.output().contains(what) || self.log.contains(what),
            "the client's failure does not name {what:?}: {}",
            self.explain()
        );
        self
    }
}

/// The last `n` bytes of `s` (at a character boundary).
fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

async fn run_client(
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    log_file: Option<&Path>,
) -> ClientRun {
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
    let out = match tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let log = log_file
                .and_then(|f| std::fs::read_to_string(f).ok())
                .unwrap_or_default();
            panic!(
                "{command} did not finish within {CLIENT_TIMEOUT:?}\n--- client log (tail) ---\n{}",
                tail(&log, 12000)
            );
        }
    };
    let log = log_file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    ClientRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command,
        log,
    }
}

// ---------------------------------------------------------------------------
// certbot
// ---------------------------------------------------------------------------

/// One certbot installation state (config, work and logs dirs in a temp
/// dir), pointed at one certd.
pub struct Certbot {
    pub dir: tempfile::TempDir,
    directory: String,
    port: u16,
    pub email: String,
}

impl Certbot {
    pub fn new(env: &AcmeEnv) -> Certbot {
        let _ = certbot_bin();
        Certbot {
            dir: tempfile::tempdir().unwrap(),
            directory: env.directory(),
            port: env.http01_port,
            email: format!("certbot{}@example.com", unique()),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log_file(&self) -> PathBuf {
        self.path("logs").join("letsencrypt.log")
    }

    /// `certbot SUBCOMMAND ARGS` with this instance's dirs, the server, and
    /// no questions asked.
    pub async fn run(&self, subcommand: &str, args: &[&str]) -> ClientRun {
        let mut all: Vec<String> = vec![subcommand.into()];
        for (flag, dir) in [
            ("--config-dir", "config"),
            ("--work-dir", "work"),
            ("--logs-dir", "logs"),
        ] {
            all.push(flag.into());
            all.push(self.path(dir).display().to_string());
        }
        all.extend(
            [
                "--server",
                &self.directory,
                "--non-interactive",
                "--agree-tos",
                "--email",
                &self.email,
                "--no-eff-email",
                // Each run's whole debug log (certbot keeps backups otherwise).
                "--max-log-backups",
                "0",
            ]
            .map(String::from),
        );
        all.extend(args.iter().map(|a| a.to_string()));
        // A fresh log per run: what the failure message shows is this run's.
        let _ = std::fs::remove_file(self.log_file());
        run_client(certbot_bin(), &all, &[], Some(&self.log_file())).await
    }

    /// `certbot register` with the EAB credential.
    pub async fn register_eab(&self, eab: &EabUser) -> ClientRun {
        self.run(
            "register",
            &[
                &format!("--eab-kid={}", eab.kid),
                &format!("--eab-hmac-key={}", eab.hmac),
            ],
        )
        .await
    }

    /// `certbot certonly --standalone` for `names` (the first names the
    /// lineage), answering http-01 on 127.0.0.1:P, plus `extra`.
    pub async fn certonly(&self, names: &[&str], extra: &[&str]) -> ClientRun {
        let port = self.port.to_string();
        let mut args = vec![
            "--standalone",
            "--http-01-port",
            &port,
            "--http-01-address",
            "127.0.0.1",
            "--cert-name",
            names[0],
        ];
        for n in names {
            args.push("--domain");
            args.push(n);
        }
        args.extend_from_slice(extra);
        self.run("certonly", &args).await
    }

    /// `certbot renew` (no random sleep) plus `extra`.
    pub async fn renew(&self, extra: &[&str]) -> ClientRun {
        let mut args = vec!["--no-random-sleep-on-renew"];
        args.extend_from_slice(extra);
        self.run("renew", &args).await
    }

    /// `certbot revoke --cert-path FILE --reason REASON` plus `extra`
    /// (`--key-path KEY` revokes with the certificate's key).
    pub async fn revoke(&self, cert: &Path, reason: &str, extra: &[&str]) -> ClientRun {
        let cert = cert.display().to_string();
        let mut args = vec![
            "--cert-path",
            &cert,
            "--reason",
            reason,
            "--no-delete-after-revoke",
        ];
        args.extend_from_slice(extra);
        self.run("revoke", &args).await
    }

    /// `live/NAME/FILE` (`cert.pem`, `chain.pem`, `fullchain.pem`,
    /// `privkey.pem`): the lineage's current version.
    pub fn live(&self, name: &str, file: &str) -> PathBuf {
        self.path("config").join("live").join(name).join(file)
    }

    /// A copy of the lineage's current certificate and key, kept as they
    /// are now (renewals move `live/`).
    pub fn keep_copy(&self, name: &str, label: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            self.path(&format!("{label}.cert.pem")),
            self.path(&format!("{label}.key.pem")),
        );
        std::fs::copy(self.live(name, "cert.pem"), &cert).unwrap();
        std::fs::copy(self.live(name, "privkey.pem"), &key).unwrap();
        (cert, key)
    }
}

// ---------------------------------------------------------------------------
// lego
// ---------------------------------------------------------------------------

/// One lego `--path` (accounts and certificates), pointed at one certd.
///
/// lego 4.9 checks `meta.externalAccountRequired` before every command, not
/// only when it registers, so its EAB flags go with every command once set.
pub struct Lego {
    pub dir: tempfile::TempDir,
    directory: String,
    port: u16,
    pub email: String,
    /// `--eab --kid K --hmac H`, when given.
    eab: Vec<String>,
}

impl Lego {
    pub fn new(env: &AcmeEnv) -> Lego {
        let _ = lego_bin();
        Lego {
            dir: tempfile::tempdir().unwrap(),
            directory: env.directory(),
            port: env.http01_port,
            email: format!("lego{}@example.com", unique()),
            eab: Vec::new(),
        }
    }

    /// With an EAB credential (`--eab --kid --hmac` on every command).
    pub fn with_eab(mut self, eab: &EabUser) -> Lego {
        self.eab = vec![
            "--eab".into(),
            format!("--kid={}", eab.kid),
            format!("--hmac={}", eab.hmac),
        ];
        self
    }

    /// `lego GLOBAL... COMMAND ARGS` with this instance's path, the server,
    /// the EAB credential, the http-01 responder on 127.0.0.1:P and the
    /// domains.
    pub async fn run(&self, names: &[&str], command: &str, args: &[&str]) -> ClientRun {
        let mut all: Vec<String> = [
            "--server",
            &self.directory,
            "--path",
            &self.dir.path().display().to_string(),
            "--email",
            &self.email,
            "--accept-tos",
            "--http",
            "--http.port",
            &format!("127.0.0.1:{}", self.port),
        ]
        .map(String::from)
        .to_vec();
        all.extend(self.eab.iter().cloned());
        for n in names {
            all.push("--domains".into());
            all.push(n.to_string());
        }
        all.push(command.into());
        all.extend(args.iter().map(|a| a.to_string()));
        run_client(Path::new(lego_bin()), &all, &[], None).await
    }

    /// `lego run`: register (the first time) and get a certificate.
    pub async fn obtain(&self, names: &[&str]) -> ClientRun {
        self.run(names, "run", &[]).await
    }

    /// `lego renew` now, whatever the certificate's remaining days.
    pub async fn renew(&self, names: &[&str], extra: &[&str]) -> ClientRun {
        let mut args = vec!["--days", "36500", "--no-random-sleep"];
        args.extend_from_slice(extra);
        self.run(names, "renew", &args).await
    }

    /// `lego revoke --reason N` (RFC 5280 reason code), keeping the files.
    pub async fn revoke(&self, names: &[&str], reason: u8) -> ClientRun {
        self.run(
            names,
            "revoke",
            &["--keep", "--reason", &reason.to_string()],
        )
        .await
    }

    /// `certificates/NAME.crt` (leaf then issuer), `.key`, `.issuer.crt`.
    pub fn file(&self, name: &str, ext: &str) -> PathBuf {
        self.dir
            .path()
            .join("certificates")
            .join(format!("{name}.{ext}"))
    }

    /// The leaf alone, copied out of lego's bundle to `label.pem`.
    pub fn leaf(&self, name: &str, label: &str) -> PathBuf {
        let bundle = std::fs::read_to_string(self.file(name, "crt")).unwrap();
        let blocks = pem_blocks(&bundle);
        assert!(!blocks.is_empty(), "{bundle}");
        let out = self.dir.path().join(format!("{label}.pem"));
        std::fs::write(&out, &blocks[0]).unwrap();
        out
    }
}

// ---------------------------------------------------------------------------
// dehydrated
// ---------------------------------------------------------------------------

/// One dehydrated `BASEDIR` (account, certificates) and config file, pointed
/// at one certd. dehydrated answers http-01 by writing files into
/// `WELLKNOWN`; a static web server (`python3 -m http.server`) serves them on
/// the http-01 port for as long as this lives.
pub struct Dehydrated {
    pub dir: tempfile::TempDir,
    config: PathBuf,
    responder: std::process::Child,
}

impl Dehydrated {
    /// With the EAB credential in its config (`EAB_KID`, `EAB_HMAC_KEY`), if any.
    pub fn new(env: &AcmeEnv, eab: Option<&EabUser>) -> Dehydrated {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        let wellknown = www.join(".well-known").join("acme-challenge");
        std::fs::create_dir_all(&wellknown).unwrap();
        std::fs::create_dir_all(dir.path().join("base")).unwrap();
        let mut config = format!(
            "CA=\"{}\"\nBASEDIR=\"{}\"\nWELLKNOWN=\"{}\"\nCONTACT_EMAIL=\"dehydrated{}@example.com\"\n\
             KEY_ALGO=prime256v1\nCHALLENGETYPE=http-01\n",
            env.directory(),
            dir.path().join("base").display(),
            wellknown.display(),
            unique(),
        );
        if let Some(eab) = eab {
            config.push_str(&format!(
                "EAB_KID=\"{}\"\nEAB_HMAC_KEY=\"{}\"\n",
                eab.kid, eab.hmac
            ));
        }
        let config_file = dir.path().join("config");
        std::fs::write(&config_file, config).unwrap();
        let responder = std::process::Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(&www)
            .arg(env.http01_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", env.http01_port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the http-01 web server did not listen on {}",
                env.http01_port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dehydrated {
            dir,
            config: config_file,
            responder,
        }
    }

    /// `dehydrated --config CONFIG ARGS`.
    pub async fn run(&self, args: &[&str]) -> ClientRun {
        static CHECKED: OnceLock<()> = OnceLock::new();
        CHECKED.get_or_init(|| {
            assert!(
                Path::new("/usr/bin/dehydrated").exists(),
                "dehydrated is not installed: `apt-get install dehydrated` (.ci/run does it)"
            );
        });
        let mut all = vec!["--config".to_string(), self.config.display().to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        run_client(Path::new("/usr/bin/dehydrated"), &all, &[], None).await
    }

    /// `--register --accept-terms`.
    pub async fn register(&self) -> ClientRun {
        self.run(&["--register", "--accept-terms"]).await
    }

    /// `--cron --domain NAME` (a certificate, or a renewal when due) plus `extra`
    /// (`--force` renews now).
    pub async fn issue(&self, name: &str, extra: &[&str]) -> ClientRun {
        let mut args = vec!["--cron", "--domain", name];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    /// `certs/NAME/cert.pem` copied to `label.pem` (dehydrated relinks it on renewal).
    pub fn keep_cert(&self, name: &str, label: &str) -> PathBuf {
        let out = self.dir.path().join(format!("{label}.pem"));
        let live = self
            .dir
            .path()
            .join("base")
            .join("certs")
            .join(name)
            .join("cert.pem");
        std::fs::copy(&live, &out).unwrap_or_else(|e| panic!("copy {}: {e}", live.display()));
        out
    }

    /// `--revoke FILE` (dehydrated sends no reason). dehydrated renames the
    /// file it revoked, so it gets a copy.
    pub async fn revoke(&self, cert: &Path) -> ClientRun {
        let copy = self.dir.path().join("to-revoke.pem");
        std::fs::copy(cert, &copy).unwrap();
        self.run(&["--revoke", &copy.display().to_string()]).await
    }
}

impl Drop for Dehydrated {
    fn drop(&mut self) {
        let _ = self.responder.kill();
        let _ = self.responder.wait();
    }
}
