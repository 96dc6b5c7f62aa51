//! Test harness: starts a `certd serve` child on its own temp dir and offers small
//! helpers for the HTTP calls and assertions the tests repeat.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub use crate::database::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_certd");
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How soon a change made elsewhere (another node, a revocation's
/// publication) must be visible.
pub const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique number (for e-mail addresses and common names).
pub fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

pub struct Server {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (`https://` when serving TLS)
    pub base: String,
    /// `http://127.0.0.1:PORT` of `--publication-listen`, when given.
    pub publication_base: Option<String>,
    pub admin_key: String,
    /// Whether the latest start printed an administrator key line.
    pub last_start_printed_key: bool,
    /// The line that printed the administrator's key, if a start printed one.
    pub key_line: String,
    /// Extra `certd serve` arguments, kept across restarts.
    serve_args: Vec<String>,
    /// Extra environment of `certd serve` (a PKCS#11 module's configuration).
    serve_env: Vec<(String, String)>,
    /// `--listen`: any free port at first, then the one it got, so that a
    /// restart serves the stored public URL as an operator's restart would.
    listen: String,
    /// The PostgreSQL database, when the suite runs on PostgreSQL.
    pub postgres: Option<Arc<PgDatabase>>,
    client: reqwest::Client,
    /// A root certificate (PEM) the client trusts, for a server on HTTPS.
    trusted_root: Option<String>,
}

/// The harness's HTTP client, trusting `root` (PEM) if given.
fn client_trusting(root: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if let Some(root) = root {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The harness's HTTP client.
fn client() -> reqwest::Client {
    client_trusting(None)
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts with extra `certd serve` arguments (e.g. `--auto-approve`).
    pub fn start_with(serve_args: &[&str]) -> Server {
        let postgres = suite_on_postgres().then(|| Arc::new(PgDatabase::create()));
        Server::start_on(postgres, None, serve_args)
    }

    /// Starts with extra `certd serve` arguments and environment.
    pub fn start_with_env(serve_args: &[&str], serve_env: &[(String, String)]) -> Server {
        let postgres = suite_on_postgres().then(|| Arc::new(PgDatabase::create()));
        Server::start_full(postgres, None, serve_args, serve_env)
    }

    /// A server on the given database (`None`: SQLite in its own data
    /// directory), optionally sharing another node's data directory (the CA).
    pub fn start_on(
        postgres: Option<Arc<PgDatabase>>,
        shared_data: Option<&Server>,
        serve_args: &[&str],
    ) -> Server {
        Server::start_full(postgres, shared_data, serve_args, &[])
    }

    fn start_full(
        postgres: Option<Arc<PgDatabase>>,
        shared_data: Option<&Server>,
        serve_args: &[&str],
        serve_env: &[(String, String)],
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            dir,
            child: None,
            base: String::new(),
            publication_base: None,
            admin_key: String::new(),
            last_start_printed_key: false,
            key_line: String::new(),
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            serve_env: serve_env.to_vec(),
            listen: "127.0.0.1:0".into(),
            postgres,
            client: client(),
            trusted_root: None,
        };
        if let Some(other) = shared_data {
            std::os::unix::fs::symlink(other.data_dir(), s.data_dir()).unwrap();
        }
        let key = s.spawn();
        s.admin_key = match (key, shared_data) {
            (Some(key), _) => key,
            (None, Some(other)) => other.admin_key.clone(),
            (None, None) => s.fail("first start printed no administrator key"),
        };
        s
    }

    /// A server on a data directory made beforehand in `dir/data` (a
    /// restored backup, say), on `postgres` if given, whose administrator
    /// key is already known: a start on existing data prints none.
    pub fn start_in(
        dir: tempfile::TempDir,
        postgres: Option<Arc<PgDatabase>>,
        admin_key: &str,
    ) -> Server {
        let mut s = Server {
            dir,
            child: None,
            base: String::new(),
            publication_base: None,
            admin_key: admin_key.to_string(),
            last_start_printed_key: false,
            key_line: String::new(),
            serve_args: Vec::new(),
            serve_env: Vec::new(),
            listen: "127.0.0.1:0".into(),
            postgres,
            client: client(),
            trusted_root: None,
        };
        if s.spawn().is_some() {
            s.fail("a server on existing data printed a new administrator key");
        }
        s
    }

    /// The URL of the server's database, for tests that reach past the API.
    pub fn database_url(&self) -> String {
        match &self.postgres {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", self.data_dir().join("certd.db").display()),
        }
    }

    /// `--database-url URL` when the server runs on PostgreSQL.
    pub fn database_args(&self) -> Vec<String> {
        match &self.postgres {
            Some(db) => vec!["--database-url".into(), db.url.clone()],
            None => Vec::new(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- server log ---\n{}", tail(&self.logs(), 8000));
    }

    /// Starts the child on the data dir; returns the administrator key if printed.
    fn spawn(&mut self) -> Option<String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--listen")
            .arg(&self.listen)
            .arg("--data")
            .arg(self.data_dir())
            .args(self.database_args())
            .args(&self.serve_args)
            .envs(self.serve_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn certd serve");
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = mpsc::channel::<String>();
        // Keep draining stdout for the whole life of the child so it never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut key = None;
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => self.fail("certd serve did not print its listening line"),
            };
            if line.contains("Administrator API key") {
                let k = line.rsplit(": ").next().unwrap().trim().to_string();
                assert!(!k.is_empty(), "empty key in {line:?}");
                key = Some(k);
                self.key_line = line;
            } else if let Some(url) = line.trim().strip_prefix("certd listening on ") {
                self.base = url.trim().trim_end_matches('/').to_string();
                self.listen = self
                    .base
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .to_string();
                if !self.serve_args.iter().any(|a| a == "--publication-listen") {
                    break;
                }
            } else if let Some(url) = line.trim().strip_prefix("certd publishing on ") {
                self.publication_base = Some(url.trim().trim_end_matches('/').to_string());
                break;
            }
        }
        self.last_start_printed_key = key.is_some();
        key
    }

    fn kill_child(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL on Unix
            let _ = c.wait();
        }
    }

    /// Kill (SIGKILL) and start again on the same data dir and port.
    pub fn restart(&mut self) {
        self.kill_child();
        // Pooled connections led to the killed process on the same port.
        self.client = client_trusting(self.trusted_root.as_deref());
        let _ = self.spawn();
    }

    /// `kill -9` the child, nothing else.
    pub fn kill9(&mut self) {
        self.kill_child();
    }

    /// Stops the child as an operator would (SIGTERM) and waits until it
    /// has drained its connections and exited.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait for certd").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                self.fail("certd serve did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// For a server on HTTPS: fetches its CA's root (the last certificate
    /// of `/ca/chain.pem`, fetched without checking the server, as an
    /// operator copies it once) and trusts only it from now on; returns it.
    pub async fn trust_server_root(&mut self) -> String {
        let unchecked = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let chain = unchecked
            .get(self.url("/ca/chain.pem"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let root = pem_blocks(&chain).pop().expect("a root in /ca/chain.pem");
        self.trust_root(&root);
        root
    }

    /// Makes the harness's client trust only `root` (PEM), for a server on HTTPS.
    pub fn trust_root(&mut self, root: &str) {
        self.client = client_trusting(Some(root));
        self.trusted_root = Some(root.to_string());
    }

    // -----------------------------------------------------------------------
    // CLI
    // -----------------------------------------------------------------------

    /// `certd ARGS... --data DIR` (and `--database-url URL` on PostgreSQL):
    /// a command on this server's deployment, beside the server.
    pub fn certd_local(&self, args: &[&str]) -> Run {
        Run::of(
            certd_command()
                .args(args)
                .arg("--data")
                .arg(self.data_dir())
                .args(self.database_args()),
        )
    }

    /// `certd user add ...`; returns the printed key.
    pub fn add_user_named(
        &self,
        email: &str,
        first: &str,
        last: &str,
        role: &str,
        view_only: bool,
    ) -> String {
        let mut args = vec![
            "user",
            "add",
            "--email",
            email,
            "--first-name",
            first,
            "--last-name",
            last,
            "--role",
            role,
        ];
        if view_only {
            args.push("--view-only");
        }
        let out = self.certd_local(&args);
        let stdout = &out.ok().stdout;
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "user add must print only the key, got {stdout:?}"
        );
        lines[0].trim().to_string()
    }

    pub fn add_user(&self, role: &str, view_only: bool) -> String {
        let n = unique();
        self.add_user_named(
            &format!("u{n}@example.com"),
            &format!("First{n}"),
            &format!("Last{n}"),
            role,
            view_only,
        )
    }

    /// A new plain `user` key.
    pub fn user(&self) -> String {
        self.add_user("user", false)
    }

    // -----------------------------------------------------------------------
    // HTTP
    // -----------------------------------------------------------------------

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// URL under `/services/v2`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/services/v2{}", self.base, path)
    }

    /// A request builder for `/services/v2{path}` with the key (if any).
    pub fn rb(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, self.api(path));
        match key {
            Some(k) => rb.header("X-DC-DEVKEY", k),
            None => rb,
        }
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        match Server::try_send(rb).await {
            Ok(resp) => resp,
            Err(e) => self.fail(&format!("HTTP error: {e}")),
        }
    }

    /// Like `send`, but a transport error (the server died) is returned.
    pub async fn try_send(rb: reqwest::RequestBuilder) -> reqwest::Result<Resp> {
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await?.to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            bytes,
            json,
        })
    }

    /// The serving child's process id (to kill it from elsewhere).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The `/metrics` page as text.
    pub async fn metrics_text(&self) -> String {
        let answer = self.client.get(self.url("/metrics")).send().await.unwrap();
        answer.text().await.unwrap()
    }

    pub async fn get(&self, key: &str, path: &str) -> Resp {
        self.send(self.rb(Method::GET, path, Some(key))).await
    }

    pub async fn put(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(self.rb(Method::PUT, path, Some(key)).json(&body))
            .await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(self.rb(Method::POST, path, Some(key)).json(&body))
            .await
    }

    /// A raw body with an optional content type.
    pub async fn raw(
        &self,
        method: Method,
        key: Option<&str>,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> Resp {
        let mut rb = self.rb(method, path, key).body(body.into());
        if let Some(ct) = content_type {
            rb = rb.header("Content-Type", ct);
        }
        self.send(rb).await
    }

    // -----------------------------------------------------------------------
    // Domain helpers
    // -----------------------------------------------------------------------

    pub fn admin(&self) -> &str {
        &self.admin_key
    }

    pub async fn me(&self, key: &str) -> Value {
        self.get(key, "/user/me").await.ok(200).json.clone()
    }

    /// Asserts `key` is refused within a second. A change made outside
    /// this server (hand-written SQL, the command line, another node)
    /// reaches a PostgreSQL node's key cache through a notice, so it takes
    /// effect within moments rather than on the very next call.
    pub async fn assert_key_refused_soon(&self, key: &str) {
        self.assert_key_status_soon(key, 403).await;
        self.get(key, "/user/me")
            .await
            .error(403)
            .code("access_denied|access_denied_invalid_key");
    }

    /// Asserts `key` is accepted again within a second (see above).
    pub async fn assert_key_accepted_soon(&self, key: &str) {
        self.assert_key_status_soon(key, 200).await;
    }

    async fn assert_key_status_soon(&self, key: &str, status: u16) {
        let took = within_deadline("the key's new standing", || async {
            self.get(key, "/user/me").await.status == status
        })
        .await;
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }

    pub async fn place_order(&self, key: &str, cn: &str, skip_approval: bool) -> Resp {
        let body = json!({
            "certificate": {"common_name": cn, "dns_names": [format!("www.{cn}")], "csr": csr(cn)},
            "validity_years": 1,
            "skip_approval": skip_approval,
        });
        self.post(key, "/order/certificate/ssl_basic", body).await
    }

    /// Admin order with skip_approval: `(order_id, certificate_id)`.
    pub async fn issue_certificate(&self, key: &str) -> (i64, i64) {
        let cn = format!("c{}.example.com", unique());
        let r = self.place_order(key, &cn, true).await;
        r.ok(201);
        assert_eq!(r.json["requests"][0]["status"], "approved", "{}", r.text());
        (r.id(), int(&r.json["certificate_id"]))
    }

    /// Order placed by a (non-admin) user and approved by the administrator.
    pub async fn user_order_issued(&self, user_key: &str) -> (i64, i64) {
        let cn = format!("u{}.example.com", unique());
        let r = self.place_order(user_key, &cn, false).await;
        r.ok(201);
        assert_eq!(r.json["requests"][0]["status"], "pending", "{}", r.text());
        let order_id = r.id();
        self.approve(int(&r.json["requests"][0]["id"]))
            .await
            .ok(204);
        let o = self.order(order_id).await;
        assert_eq!(o["status"], "issued", "{o}");
        (order_id, int(&o["certificate"]["id"]))
    }

    pub async fn set_request_status(&self, key: &str, request_id: i64, status: &str) -> Resp {
        self.put(
            key,
            &format!("/request/{request_id}/status"),
            json!({"status": status}),
        )
        .await
    }

    pub async fn approve(&self, request_id: i64) -> Resp {
        self.set_request_status(&self.admin_key, request_id, "approved")
            .await
    }

    pub async fn reject(&self, request_id: i64) -> Resp {
        self.set_request_status(&self.admin_key, request_id, "rejected")
            .await
    }

    pub async fn revoke(&self, key: &str, cert: impl std::fmt::Display, body: Value) -> Resp {
        self.put(key, &format!("/certificate/{cert}/revoke"), body)
            .await
    }

    /// The administrator revokes `cert` at once (skip_approval) for `reason`.
    pub async fn revoke_now(&self, cert: i64, reason: &str) {
        let body = json!({"skip_approval": true, "revocation_reason": reason});
        self.revoke(self.admin(), cert, body).await.ok(204);
    }

    pub async fn revoke_order(
        &self,
        key: &str,
        order: impl std::fmt::Display,
        body: Value,
    ) -> Resp {
        self.put(key, &format!("/order/certificate/{order}/revoke"), body)
            .await
    }

    pub async fn reissue(&self, key: &str, order_id: i64, skip_approval: bool) -> Resp {
        let cn = format!("r{}.example.com", unique());
        let body = json!({"certificate": {"csr": csr(&cn)}, "skip_approval": skip_approval});
        self.post(key, &format!("/order/certificate/{order_id}/reissue"), body)
            .await
    }

    /// Revokes certificate `cert` both ways: asked for approval by `asker`,
    /// then at once (skip_approval) by the administrator; both answers.
    pub async fn revoke_both_ways(&self, asker: &str, cert: impl std::fmt::Display) -> [Resp; 2] {
        [
            self.revoke(asker, &cert, json!({})).await,
            self.revoke(self.admin(), &cert, json!({"skip_approval": true}))
                .await,
        ]
    }

    /// Revokes order `order` both ways, as [`Server::revoke_both_ways`].
    pub async fn revoke_order_both_ways(
        &self,
        asker: &str,
        order: impl std::fmt::Display,
    ) -> [Resp; 2] {
        [
            self.revoke_order(asker, &order, json!({})).await,
            self.revoke_order(self.admin(), &order, json!({"skip_approval": true}))
                .await,
        ]
    }

    /// Reissues order `order_id` both ways, as [`Server::revoke_both_ways`].
    pub async fn reissue_both_ways(&self, asker: &str, order_id: i64) -> [Resp; 2] {
        [
            self.reissue(asker, order_id, false).await,
            self.reissue(self.admin(), order_id, true).await,
        ]
    }

    /// Certificate details as the administrator (must exist).
    pub async fn cert(&self, id: i64) -> Value {
        self.get(&self.admin_key, &format!("/certificate/{id}"))
            .await
            .ok(200)
            .json
            .clone()
    }

    pub async fn cert_status(&self, id: i64) -> String {
        self.cert(id).await["status"]
            .as_str()
            .expect("certificate status")
            .to_string()
    }

    pub async fn order(&self, id: i64) -> Value {
        self.get(&self.admin_key, &format!("/order/certificate/{id}"))
            .await
            .ok(200)
            .json
            .clone()
    }

    pub async fn request(&self, id: i64) -> Value {
        self.get(&self.admin_key, &format!("/request/{id}"))
            .await
            .ok(200)
            .json
            .clone()
    }

    /// All requests visible to the administrator (limit 1000).
    pub async fn requests(&self) -> Vec<Value> {
        let r = self.get(&self.admin_key, "/request?limit=1000").await;
        r.ok(200);
        r.json["requests"]
            .as_array()
            .expect("requests array")
            .clone()
    }

    pub async fn requests_total(&self) -> i64 {
        int(&self.get(&self.admin_key, "/request").await.ok(200).json["page"]["total"])
    }

    pub async fn audit_total(&self) -> i64 {
        int(&self.get(&self.admin_key, "/audit-log").await.ok(200).json["page"]["total"])
    }

    pub async fn audit_entries(&self) -> Vec<Value> {
        let r = self.get(&self.admin_key, "/audit-log?limit=1000").await;
        r.ok(200);
        r.json["entries"].as_array().expect("entries array").clone()
    }

    /// State used as the "nothing changed" oracle.
    pub async fn snapshot(&self, certs: &[i64]) -> Snapshot {
        let mut statuses = Vec::new();
        for &c in certs {
            statuses.push(self.cert_status(c).await);
        }
        Snapshot {
            audit_total: self.audit_total().await,
            requests_total: self.requests_total().await,
            statuses,
        }
    }

    pub async fn assert_unchanged(&self, before: &Snapshot, certs: &[i64]) {
        let now = self.snapshot(certs).await;
        assert_eq!(
            &now, before,
            "state changed although the call should have changed nothing"
        );
    }

    /// The revoke request (any status) whose certificate is `cert_id`.
    pub async fn revoke_requests_for(&self, cert_id: i64) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| {
                r["type"] == "revoke" && r["order"]["certificate"]["id"].as_i64() == Some(cert_id)
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_child();
        if std::thread::panicking() {
            eprintln!(
                "--- certd server log ({}) ---\n{}",
                self.base,
                tail(&self.logs(), 8000)
            );
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub audit_total: i64,
    pub requests_total: i64,
    pub statuses: Vec<String>,
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut i = s.len() - n;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

// ---------------------------------------------------------------------------
// Responses and assertions
// ---------------------------------------------------------------------------

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Asserts the status code (printing the body otherwise).
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts an error answer: this status and a well-formed error list
    /// (each error a `family|detail` code and a non-empty message). The
    /// returned [`Refusal`] checks the first error's code, family or message.
    #[track_caller]
    pub fn error(&self, status: u16) -> Refusal<'_> {
        Refusal::new(self, status, String::new())
    }

    /// Asserts what a table row expects of this answer, naming the row
    /// (`what`) in any failure; true when the call was allowed.
    #[track_caller]
    pub fn check(&self, expect: Expect, what: &str) -> bool {
        match expect {
            Expect::Allowed(status) => {
                assert_eq!(
                    self.status,
                    status,
                    "{what}: unexpected status; body: {}",
                    self.text()
                );
                true
            }
            Expect::Refused(status) => {
                Refusal::new(self, status, format!("{what}: "));
                false
            }
            Expect::RefusedWith(status, code) => {
                Refusal::new(self, status, format!("{what}: ")).code(code);
                false
            }
        }
    }

    pub fn id(&self) -> i64 {
        int(&self.json["id"])
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// First request id in `requests`.
    pub fn request_id(&self) -> i64 {
        int(&self.json["requests"][0]["id"])
    }
}

#[track_caller]
pub fn int(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("expected an integer, got {v}"))
}

/// What a table row expects of an answer.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// This success status.
    Allowed(u16),
    /// This status and a well-formed error list, whatever the code.
    Refused(u16),
    /// This status, a well-formed error list and exactly this (first) code.
    RefusedWith(u16, &'static str),
}

/// An error answer whose status and error list [`Resp::error`] checked.
pub struct Refusal<'a> {
    resp: &'a Resp,
    /// Names the call in messages (empty, or ending in `": "`).
    what: String,
}

impl<'a> Refusal<'a> {
    #[track_caller]
    fn new(resp: &'a Resp, status: u16, what: String) -> Refusal<'a> {
        let body = resp.text();
        assert_eq!(resp.status, status, "{what}unexpected status; body: {body}");
        let errors = resp.json["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}no errors list in {body}"));
        assert!(!errors.is_empty(), "{what}empty errors list");
        for e in errors {
            let code = e["code"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}error without code: {e}"));
            assert!(
                code.contains('|'),
                "{what}code {code:?} is not family|detail"
            );
            let msg = e["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}error without message: {e}"));
            assert!(!msg.trim().is_empty(), "{what}empty message in {e}");
        }
        Refusal { resp, what }
    }

    /// The first error's code, `family|detail`.
    pub fn first_code(&self) -> &'a str {
        self.resp.json["errors"][0]["code"].as_str().unwrap()
    }

    /// The first error's message.
    pub fn message(&self) -> &'a str {
        self.resp.json["errors"][0]["message"].as_str().unwrap()
    }

    /// Asserts the full code of the first error.
    #[track_caller]
    pub fn code(&self, code: &str) -> &Self {
        assert_eq!(
            self.first_code(),
            code,
            "{}error code; body: {}",
            self.what,
            self.resp.text()
        );
        self
    }

    /// Asserts the family (the part before `|`) of the first error's code.
    #[track_caller]
    pub fn family(&self, family: &str) -> &Self {
        let first = self.first_code().split('|').next().unwrap();
        assert_eq!(
            first,
            family,
            "{}error family; body: {}",
            self.what,
            self.resp.text()
        );
        self
    }

    /// Asserts that the first error's message contains `part`.
    #[track_caller]
    pub fn message_contains(&self, part: &str) -> &Self {
        assert!(
            self.message().contains(part),
            "{}the message does not name {part:?}; body: {}",
            self.what,
            self.resp.text()
        );
        self
    }
}

fn matches_pattern(s: &str, pat: &str) -> bool {
    s.len() == pat.len()
        && s.chars()
            .zip(pat.chars())
            .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p })
}

/// `YYYY-MM-DDTHH:MM:SS+00:00`
#[track_caller]
pub fn assert_datetime(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a date string, got {v}"));
    assert!(
        matches_pattern(s, "dddd-dd-ddTdd:dd:dd+00:00"),
        "bad datetime {s:?}"
    );
}

/// `YYYY-MM-DD`
#[track_caller]
pub fn assert_date(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a date string, got {v}"));
    assert!(matches_pattern(s, "dddd-dd-dd"), "bad date {s:?}");
}

/// Asserts the 201 revoke request object of the seed, field by field.
#[track_caller]
pub fn assert_revoke_request_object(r: &Resp, me: &Value, comments: Option<&str>) {
    r.ok(201);
    let j = &r.json;
    assert!(j["id"].as_i64().is_some_and(|i| i > 0), "id: {j}");
    assert_datetime(&j["date"]);
    assert_eq!(j["type"], "revoke", "{j}");
    assert_eq!(j["status"], "pending", "{j}");
    for f in ["id", "first_name", "last_name", "email"] {
        assert!(!j["requester"][f].is_null(), "requester.{f} missing: {j}");
        assert_eq!(j["requester"][f], me[f], "requester.{f}");
    }
    match comments {
        Some(c) => assert_eq!(j["comments"], c, "{j}"),
        None => {
            assert!(
                j.as_object().unwrap().contains_key("comments"),
                "comments key missing: {j}"
            );
            assert!(j["comments"].is_null(), "comments should be null: {j}");
        }
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/// `certd` with no certd setting from the outer environment (no `CERTD_*`
/// variable, no `DATABASE_URL`): a test's arguments alone choose the mode,
/// the data directory, the database and the key.
pub fn certd_command() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("CERTD_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command
}

/// A command that has run to its end: whether it succeeded and what it said.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Runs `command` to its end.
    pub fn of(command: &mut Command) -> Run {
        command.output().expect("run a command").into()
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(
            self.success,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts a failure explained in one line of stderr that says `what`.
    #[track_caller]
    pub fn fails_with(&self, what: &str) -> &Self {
        assert!(!self.success, "command succeeded: {}", self.stdout);
        assert!(
            self.stderr.contains(what),
            "stderr does not say {what:?}: {}",
            self.stderr
        );
        assert_eq!(
            self.stderr.trim().lines().count(),
            1,
            "one line: {}",
            self.stderr
        );
        self
    }

    /// Asserts that `certd serve` refused to start: its start-up log may
    /// come first, then one line, the last, says `what`.
    #[track_caller]
    pub fn refused_start(&self, what: &str) -> &Self {
        assert!(!self.success, "certd serve started: {}", self.stdout);
        let last = self.stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("certd: ") && last.contains(what),
            "the last line does not say {what:?}: {}",
            self.stderr
        );
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

// ---------------------------------------------------------------------------
// CSRs and PEM
// ---------------------------------------------------------------------------

/// A P-256 CSR made with rcgen.
pub fn csr(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// An RSA CSR made with `openssl req -newkey rsa:BITS` in `dir`.
pub fn openssl_csr(dir: &Path, cn: &str, bits: u32) -> String {
    let key = dir.join(format!("{cn}.key"));
    let out = dir.join(format!("{cn}.csr"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success(), "openssl req failed");
    std::fs::read_to_string(out).unwrap()
}

/// The PEM blocks (each `-----BEGIN ...-----END ...-----`) in order.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(cur.take());
        }
    }
    blocks
}

/// (subject, issuer) of a PEM certificate.
pub fn subject_issuer(pem: &str) -> (String, String) {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = p.parse_x509().expect("X.509");
    (cert.subject().to_string(), cert.issuer().to_string())
}

/// Reads all files below `dir` (for "keys are not stored in clear").
pub fn read_tree(dir: &Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            read_tree(&p, out);
        } else if let Ok(mut f) = std::fs::File::open(&p) {
            let _ = f.read_to_end(out);
        }
    }
}

/// A CSR for `cn` with `key`, so that several orders share one key.
pub fn csr_of(key: &rcgen::KeyPair, cn: &str) -> String {
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.serialize_request(key).unwrap().pem().unwrap()
}

/// An order for a fresh name with `key`'s CSR.
pub async fn order_with(s: &Server, who: &str, key: &rcgen::KeyPair, skip_approval: bool) -> Resp {
    let cn = format!("k{}.example.com", unique());
    let body = json!({
        "certificate": {"common_name": cn, "csr": csr_of(key, &cn)},
        "skip_approval": skip_approval,
    });
    s.post(who, "/order/certificate/ssl_basic", body).await
}

/// A non-administrator's `skip_approval` refused: 403 missing_permission,
/// with a message that says why.
pub fn assert_skip_approval_refused(r: &Resp) {
    let message = r
        .error(403)
        .code("access_denied|missing_permission")
        .message()
        .to_lowercase();
    assert!(
        message.contains("skip_approval") || message.contains("admin"),
        "{message}"
    );
}

/// Polls until `check` holds, at most `VISIBLE_WITHIN`; returns how long it took.
pub async fn within_deadline<F, Fut>(what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within_deadline_from(Instant::now(), what, check).await
}

/// Polls until `check` holds, at most `VISIBLE_WITHIN` after `started`.
pub async fn within_deadline_from<F, Fut>(started: Instant, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while !check().await {
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "{what}: not within {VISIBLE_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Cargo's target directory (the one holding the `certd` binary under test).
pub fn target_dir() -> PathBuf {
    Path::new(BIN)
        .ancestors()
        .nth(2)
        .expect("target dir above target/debug/certd")
        .to_path_buf()
}

/// A Python virtualenv under target/ with `requirements` (pinned) from PyPI,
/// made once per machine and `name`: a file lock serialises test processes,
/// and the install is marked complete last, so an interrupted one is redone.
/// Returns the virtualenv's directory.
pub fn python_venv(name: &str, requirements: &[&str]) -> PathBuf {
    let dir = target_dir().join("python-venvs");
    std::fs::create_dir_all(&dir).unwrap();
    let venv = dir.join(name);
    let marker = venv.join("installed");
    if marker.exists() {
        return venv;
    }
    let script = r#"set -e
venv=$1 marker=$2; shift 2
if [ ! -f "$marker" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
    touch "$marker"
fi"#;
    let out = Command::new("flock")
        .arg(dir.join(format!("{name}.lock")))
        .args(["bash", "-c", script, "python-venv"])
        .arg(&venv)
        .arg(&marker)
        .args(requirements)
        .stdin(Stdio::null())
        .output()
        .expect("run flock/bash to make a Python virtualenv");
    assert!(
        out.status.success() && marker.exists(),
        "installing {requirements:?} into {} failed (needs python3 with venv, Debian package \
         python3-venv, and PyPI; .ci/run installs python3-venv)\nstdout: {}\nstderr: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    venv
}
