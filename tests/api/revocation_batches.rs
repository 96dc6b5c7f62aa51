//! Batched revocations (`service::revoke_batch`): under `certd serve`, an
//! administrator's `skip_approval` revocations of single certificates that
//! arrive together share one transaction, yet each is answered, recorded
//! and audited exactly as it would have been alone. Revocations the batches
//! leave alone (a non-administrator's skip, keyCompromise) behave as before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// What a single revocation of a revoked certificate answers (see `revoke.rs`).
const ALREADY_REVOKED: &str = "already_revoked|certificate_already_revoked";
/// What a revocation of an unknown certificate answers.
const NO_SUCH_CERTIFICATE: &str = "not_found|certificate";

/// The reasons the burst's revocations give, in turn (none is keyCompromise,
/// which is never batched).
const REASONS: [&str; 5] = [
    "unspecified",
    "superseded",
    "cessationOfOperation",
    "affiliationChanged",
    "privilegeWithdrawn",
];

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// The samples of `name` on a `/metrics` page: (labels, value).
pub(crate) fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            if !(labels.is_empty() || labels.starts_with('{')) {
                return None;
            }
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The counters a burst of revocations moves.
#[derive(Debug, Clone, Default)]
struct Counters {
    /// `certd_batched_revocations_total`
    batched: f64,
    /// `certd_revocation_batches_total`
    batches: f64,
    /// `certd_revocations_total` by reason.
    by_reason: HashMap<String, f64>,
}

impl Counters {
    async fn read(s: &Server) -> Counters {
        let text = s.metrics_text().await;
        let total = |name: &str| -> f64 { samples(&text, name).iter().map(|(_, v)| v).sum() };
        let mut by_reason = HashMap::new();
        for (labels, value) in samples(&text, "certd_revocations_total") {
            let reason = labels
                .split("reason=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("certd_revocations_total without reason: {labels}"));
            *by_reason.entry(reason.to_string()).or_default() += value;
        }
        Counters {
            batched: total("certd_batched_revocations_total"),
            batches: total("certd_revocation_batches_total"),
            by_reason,
        }
    }

    fn reason(&self, reason: &str) -> f64 {
        self.by_reason.get(reason).copied().unwrap_or(0.0)
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// An issued certificate: its id and serial number (upper-case hex).
#[derive(Debug, Clone)]
struct Issued {
    id: i64,
    serial: String,
}

/// `n` certificates issued to the administrator, all at once.
async fn issue_many(s: &Server, n: usize) -> Vec<Issued> {
    let issued = futures::future::join_all((0..n).map(|_| s.issue_certificate(s.admin()))).await;
    let mut out = Vec::with_capacity(n);
    for (_, id) in issued {
        let details = s.cert(id).await;
        assert_eq!(details["status"], "issued", "{details}");
        let serial = details["serial_number"]
            .as_str()
            .unwrap_or_else(|| panic!("no serial number: {details}"))
            .to_string();
        assert!(
            serial.len() > 18 && serial.bytes().any(|b| b.is_ascii_alphabetic()),
            "a serial number the path cannot take for an id: {serial}"
        );
        out.push(Issued { id, serial });
    }
    out
}

/// What a call of the burst names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The `i`th of the certificates to revoke.
    Valid(usize),
    /// No certificate.
    Unknown,
    /// The `i`th of the certificates revoked before the burst.
    Revoked(usize),
}

/// One `PUT /certificate/{reference}/revoke` with `skip_approval`.
#[derive(Debug, Clone)]
struct Call {
    reference: String,
    target: Target,
    reason: &'static str,
    comments: String,
    /// The call's `X-Request-ID`, which its audit entries record.
    request_id: String,
}

impl Call {
    fn path(&self) -> String {
        format!("/certificate/{}/revoke", self.reference)
    }
}

/// Sends every call at once: each group of calls from a task of its own
/// (the group's calls side by side), the tasks released together by a
/// barrier. The answers, in the calls' order.
async fn send_at_once(s: &Arc<Server>, groups: &[Vec<Call>]) -> Vec<Resp> {
    let gate = Arc::new(tokio::sync::Barrier::new(groups.len()));
    let tasks: Vec<_> = groups
        .iter()
        .map(|group| {
            let requests: Vec<_> = group
                .iter()
                .map(|call| {
                    let body = json!({
                        "skip_approval": true,
                        "revocation_reason": call.reason,
                        "comments": call.comments,
                    });
                    s.rb(Method::PUT, &call.path(), Some(s.admin()))
                        .header("X-Request-ID", &call.request_id)
                        .json(&body)
                })
                .collect();
            let (s, gate) = (Arc::clone(s), Arc::clone(&gate));
            tokio::spawn(async move {
                gate.wait().await;
                futures::future::join_all(requests.into_iter().map(|r| s.send(r))).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.expect("a revocation task panicked"));
    }
    answers
}

/// Audit entries of one action (all of them: fewer than a page).
pub(crate) async fn audit_entries_of(s: &Server, action: &str) -> Vec<Value> {
    let r = s
        .get(
            s.admin(),
            &format!("/audit-log?limit=1000&filters[action]={action}"),
        )
        .await;
    r.ok(200);
    assert!(
        int(&r.json["page"]["total"]) < 1000,
        "more {action} entries than a page"
    );
    r.json["entries"].as_array().expect("entries").clone()
}

/// Audit entries of one action about requests of one type.
async fn audit_entries_of_type(s: &Server, action: &str, kind: &str) -> Vec<Value> {
    audit_entries_of(s, action)
        .await
        .into_iter()
        .filter(|e| e["details"]["type"] == kind)
        .collect()
}

/// Sends every request at once, each from a task of its own, the tasks
/// released together by a barrier. The answers, in the requests' order.
pub(crate) async fn send_together(
    s: &Arc<Server>,
    requests: Vec<reqwest::RequestBuilder>,
) -> Vec<Resp> {
    let gate = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let (s, gate) = (Arc::clone(s), Arc::clone(&gate));
            tokio::spawn(async move {
                gate.wait().await;
                s.send(request).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a request task panicked"));
    }
    answers
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// 64 `skip_approval` revocations at once: 40 certificates (20 named by
/// serial number, 20 by id), 8 of them named a second time (by the other
/// kind of reference or the same), 8 unknown serial numbers and 8
/// certificates revoked before. Each certificate is revoked exactly once,
/// by one 204 whose request, reason, comments and X-Request-ID are the ones
/// recorded; every other call gets what it would get alone and changes
/// nothing; the metrics count the 40 batched revocations; the chain holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_skip_approval_revocations_revokes_each_certificate_once() {
    let s = Arc::new(Server::start());
    let admin_id = int(&s.me(s.admin()).await["id"]);
    let all = issue_many(&s, 48).await;
    let (valid, revoked) = all.split_at(40);

    // Revoked before the burst (through batches of their own).
    for certificate in revoked {
        s.revoke_now(certificate.id, "superseded").await;
    }
    let revoked_before: HashMap<i64, Value> = audit_entries_of(&s, "certificate_revoked")
        .await
        .into_iter()
        .map(|e| (int(&e["object"]["id"]), e))
        .collect();
    assert_eq!(revoked_before.len(), 8, "{revoked_before:?}");

    // The burst.
    let run = unique();
    let mut calls = Vec::new();
    let mut call = |reference: String, target: Target, reason: &'static str| {
        let k = calls.len();
        calls.push(Call {
            reference,
            target,
            reason,
            comments: format!("burst {run} call {k}"),
            request_id: format!("burst-{run}-{k}"),
        });
    };
    for (i, certificate) in valid.iter().enumerate() {
        let reference = match i {
            // By serial number, upper or lower case.
            0..20 if i % 2 == 0 => certificate.serial.clone(),
            0..20 => certificate.serial.to_lowercase(),
            _ => certificate.id.to_string(),
        };
        call(reference, Target::Valid(i), REASONS[i % REASONS.len()]);
    }
    // Named again: by the other kind of reference, and by the same one.
    for i in [0, 1, 2, 3, 20, 21, 22, 23] {
        let certificate = &valid[i];
        let reference = match i {
            0 | 1 => certificate.id.to_string(),
            2 => certificate.serial.clone(),
            3 => certificate.serial.to_lowercase(),
            20 | 21 => certificate.serial.clone(),
            _ => certificate.id.to_string(),
        };
        call(
            reference,
            Target::Valid(i),
            REASONS[(i + 1) % REASONS.len()],
        );
    }
    for k in 0..8u64 {
        let reference = format!("0BADC0DE{:08X}{:016X}", run as u32, k);
        call(reference, Target::Unknown, "unspecified");
    }
    for (j, certificate) in revoked.iter().enumerate() {
        let reference = if j % 2 == 0 {
            certificate.id.to_string()
        } else {
            certificate.serial.clone()
        };
        call(reference, Target::Revoked(j), REASONS[j % REASONS.len()]);
    }
    assert_eq!(calls.len(), 64);
    // Mixed, but six of the eight second calls are sent side by side with
    // the first naming the same certificate, so that the two likely meet in
    // one batch (by id and by serial number at once, or twice by the same
    // reference); the other two (certificates 3 and 23) apart.
    let mut groups: Vec<Vec<Call>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for call in calls {
        match call.target {
            Target::Valid(i) if i != 3 && i != 23 && group_of.contains_key(&i) => {
                groups[group_of[&i]].push(call)
            }
            target => {
                if let Target::Valid(i) = target {
                    group_of.entry(i).or_insert(groups.len());
                }
                groups.push(vec![call]);
            }
        }
    }
    assert_eq!(groups.len(), 58);
    // 23 is prime to 58: a permutation of the groups.
    let groups: Vec<Vec<Call>> = (0..58).map(|g| groups[(g * 23) % 58].clone()).collect();
    let calls: Vec<Call> = groups.concat();
    assert_eq!(calls.len(), 64);

    let counters_before = Counters::read(&s).await;
    let audit_before = s.audit_total().await;
    let requests_before = s.requests_total().await;
    let answers = send_at_once(&s, &groups).await;
    let counters_after = Counters::read(&s).await;

    // The answers: one 204 per certificate, each other call what it gets
    // alone.
    let mut winners: HashMap<usize, &Call> = HashMap::new();
    let mut refused = Vec::new();
    for (call, answer) in calls.iter().zip(&answers) {
        let what = format!("{} ({:?})", call.path(), call.target);
        assert!(
            answer.status < 500,
            "{what}: {} {}",
            answer.status,
            answer.text()
        );
        match call.target {
            Target::Valid(i) if answer.status == 204 => {
                assert!(answer.bytes.is_empty(), "{what}: 204 with a body");
                if let Some(other) = winners.insert(i, call) {
                    panic!(
                        "certificate {} revoked twice: by {} and {}",
                        valid[i].id,
                        other.path(),
                        call.path()
                    );
                }
            }
            Target::Valid(_) | Target::Revoked(_) => {
                answer.check(Expect::RefusedWith(409, ALREADY_REVOKED), &what);
                refused.push((call, answer));
            }
            Target::Unknown => {
                answer.check(Expect::RefusedWith(404, NO_SUCH_CERTIFICATE), &what);
                refused.push((call, answer));
            }
        }
    }
    let unrevoked: Vec<i64> = (0..40)
        .filter(|i| !winners.contains_key(i))
        .map(|i| valid[i].id)
        .collect();
    assert!(
        unrevoked.is_empty(),
        "no 204 for certificates {unrevoked:?}"
    );
    assert_eq!(refused.len(), 24, "8 duplicates, 8 unknown, 8 revoked");

    // The metrics: the 40 revocations went through batches.
    assert_eq!(
        counters_after.batched - counters_before.batched,
        40.0,
        "certd_batched_revocations_total: {counters_before:?} -> {counters_after:?}"
    );
    let batches = counters_after.batches - counters_before.batches;
    eprintln!("40 revocations in {batches} batches");
    assert!(
        (1.0..=40.0).contains(&batches),
        "certd_revocation_batches_total grew by {batches}"
    );
    for reason in REASONS {
        let expected = winners.values().filter(|c| c.reason == reason).count() as f64;
        assert_eq!(
            counters_after.reason(reason) - counters_before.reason(reason),
            expected,
            "certd_revocations_total{{reason=\"{reason}\"}}"
        );
    }

    // The certificates: revoked for the winner's reason; those revoked
    // before keep theirs.
    for (i, certificate) in valid.iter().enumerate() {
        let details = s.cert(certificate.id).await;
        assert_eq!(details["status"], "revoked", "{details}");
        assert_eq!(
            details["revocation_reason"], winners[&i].reason,
            "certificate {}: {details}",
            certificate.id
        );
        assert!(details["date_revoked"].is_string(), "{details}");
    }
    for certificate in revoked {
        let details = s.cert(certificate.id).await;
        assert_eq!(details["status"], "revoked", "{details}");
        assert_eq!(details["revocation_reason"], "superseded", "{details}");
    }

    // One approved revoke request per certificate, the winner's.
    let mut revoke_requests: HashMap<i64, Vec<Value>> = HashMap::new();
    for request in s.requests().await {
        if request["type"] == "revoke" {
            let certificate = int(&request["order"]["certificate"]["id"]);
            revoke_requests
                .entry(certificate)
                .or_default()
                .push(request);
        }
    }
    assert_eq!(revoke_requests.len(), 48, "{revoke_requests:?}");
    let mut request_of: HashMap<i64, i64> = HashMap::new();
    for (i, certificate) in valid.iter().enumerate() {
        let winner = winners[&i];
        let found = &revoke_requests[&certificate.id];
        assert_eq!(found.len(), 1, "certificate {}: {found:?}", certificate.id);
        let request = &found[0];
        assert_eq!(request["status"], "approved", "{request}");
        assert_eq!(int(&request["requester"]["id"]), admin_id, "{request}");
        assert_eq!(int(&request["processor"]["id"]), admin_id, "{request}");
        assert_eq!(request["comments"], winner.comments.as_str(), "{request}");
        assert_eq!(request["revocation_reason"], winner.reason, "{request}");
        assert_datetime(&request["date_processed"]);
        request_of.insert(certificate.id, int(&request["id"]));
    }
    for certificate in revoked {
        let found = &revoke_requests[&certificate.id];
        assert_eq!(found.len(), 1, "certificate {}: {found:?}", certificate.id);
        assert_eq!(found[0]["revocation_reason"], "superseded", "{}", found[0]);
    }
    assert_eq!(s.requests_total().await - requests_before, 40);

    // The audit log: one certificate_revoked entry per certificate, naming
    // its own revoke request and the winning call.
    let mut revocations: HashMap<i64, Vec<Value>> = HashMap::new();
    for entry in audit_entries_of(&s, "certificate_revoked").await {
        assert_eq!(entry["object"]["type"], "certificate", "{entry}");
        let certificate = int(&entry["object"]["id"]);
        revocations.entry(certificate).or_default().push(entry);
    }
    assert_eq!(revocations.len(), 48, "{revocations:?}");
    let mut named_requests = HashSet::new();
    for (i, certificate) in valid.iter().enumerate() {
        let winner = winners[&i];
        let found = &revocations[&certificate.id];
        assert_eq!(found.len(), 1, "certificate {}: {found:?}", certificate.id);
        let entry = &found[0];
        let request_id = int(&entry["details"]["request_id"]);
        assert_eq!(
            request_id, request_of[&certificate.id],
            "certificate {}'s entry names another request: {entry}",
            certificate.id
        );
        assert!(named_requests.insert(request_id), "{entry}");
        assert_eq!(entry["details"]["reason"], winner.reason, "{entry}");
        assert_eq!(entry["request_id"], winner.request_id.as_str(), "{entry}");
        assert_eq!(int(&entry["actor"]["id"]), admin_id, "{entry}");
    }
    assert_eq!(named_requests.len(), 40);
    for certificate in revoked {
        let found = &revocations[&certificate.id];
        assert_eq!(found.len(), 1, "certificate {}: {found:?}", certificate.id);
        assert_eq!(
            found[0], revoked_before[&certificate.id],
            "an entry from before the burst changed"
        );
    }
    // ... and one request_created entry per new request, of the winning call.
    let winner_of_request: HashMap<i64, &Call> = (0..40)
        .map(|i| (request_of[&valid[i].id], winners[&i]))
        .collect();
    let mut created = HashMap::new();
    for entry in audit_entries_of(&s, "request_created").await {
        let request = int(&entry["object"]["id"]);
        if let Some(winner) = winner_of_request.get(&request) {
            assert_eq!(entry["object"]["type"], "request", "{entry}");
            assert_eq!(entry["details"]["type"], "revoke", "{entry}");
            assert_eq!(entry["details"]["status"], "approved", "{entry}");
            assert_eq!(
                entry["details"]["revocation_reason"], winner.reason,
                "{entry}"
            );
            assert_eq!(entry["request_id"], winner.request_id.as_str(), "{entry}");
            let Target::Valid(i) = winner.target else {
                unreachable!()
            };
            assert_eq!(int(&entry["details"]["certificate_id"]), valid[i].id);
            *created.entry(request).or_insert(0) += 1;
        }
    }
    assert_eq!(created.len(), 40, "{created:?}");
    assert!(created.values().all(|&n| n == 1), "{created:?}");
    // Those two entries per revocation and nothing else.
    assert_eq!(s.audit_total().await - audit_before, 80);

    // Each refused call, sent again alone (unbatched without skip_approval,
    // batched alone with it), gets the very same answer and changes nothing.
    let audit_now = s.audit_total().await;
    let requests_now = s.requests_total().await;
    for (call, answer) in &refused {
        for skip in [false, true] {
            let body = json!({
                "skip_approval": skip,
                "revocation_reason": call.reason,
                "comments": "alone",
            });
            let alone = s.put(s.admin(), &call.path(), body).await;
            assert_eq!(
                (alone.status, &alone.json),
                (answer.status, &answer.json),
                "{} (skip_approval {skip}) alone vs in the burst",
                call.path()
            );
        }
    }
    assert_eq!(s.audit_total().await, audit_now);
    assert_eq!(s.requests_total().await, requests_now);

    // Every entry chained (on PostgreSQL, `certd audit verify` seals first).
    let entries = s.audit_total().await;
    let (ok, out) = crate::audit_chain::verify(&s);
    assert!(ok, "certd audit verify: {out}");
    assert!(
        out.contains(&format!("audit log intact: {entries} entries, head ")),
        "{entries} entries: {out}"
    );
    assert!(!out.contains("not chained yet"), "{out}");
}

/// What batches refuse or leave alone behaves as before, even beside a
/// batch: a non-administrator's `skip_approval` is refused (403, nothing
/// recorded),
/// and an administrator's keyCompromise `skip_approval` revokes at once and
/// blocks the key, revoking the other certificate with it (neither counted
/// as batched).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unbatched_skip_approvals_behave_as_before() {
    let s = Arc::new(Server::start());
    let user = s.user();
    let (_, users) = s.user_order_issued(&user).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let compromised =
        int(&order_with(&s, s.admin(), &key, true).await.ok(201).json["certificate_id"]);
    let sharing = int(&order_with(&s, s.admin(), &key, true).await.ok(201).json["certificate_id"]);
    let (_, plain) = s.issue_certificate(s.admin()).await;

    // The user's skip alone, as in `revoke.rs`.
    let before = s.snapshot(&[users]).await;
    let counters_before = Counters::read(&s).await;
    let refused = s.revoke(&user, users, json!({"skip_approval": true})).await;
    assert_skip_approval_refused(&refused);
    s.assert_unchanged(&before, &[users]).await;

    // Again, beside a keyCompromise and a batched revocation.
    let (again, key_compromise, batched) = tokio::join!(
        s.revoke(&user, users, json!({"skip_approval": true})),
        s.revoke(
            s.admin(),
            compromised,
            json!({"skip_approval": true, "revocation_reason": "keyCompromise"}),
        ),
        s.revoke(
            s.admin(),
            plain,
            json!({"skip_approval": true, "revocation_reason": "superseded"}),
        ),
    );
    assert_eq!(
        (again.status, &again.json),
        (refused.status, &refused.json),
        "the user's skip_approval beside a batch"
    );
    key_compromise.ok(204);
    batched.ok(204);
    let counters_after = Counters::read(&s).await;

    assert_eq!(s.cert_status(users).await, "issued");
    assert!(s.revoke_requests_for(users).await.is_empty());
    for certificate in [compromised, sharing] {
        let details = s.cert(certificate).await;
        assert_eq!(details["status"], "revoked", "{details}");
        assert_eq!(details["revocation_reason"], "keyCompromise", "{details}");
    }
    assert_eq!(s.cert(plain).await["revocation_reason"], "superseded");
    let blocked = s.get(s.admin(), "/blocked-key").await;
    let blocked = &blocked.ok(200).json;
    assert_eq!(blocked["page"]["total"], 1, "{blocked}");
    assert_eq!(blocked["blocked_keys"][0]["certificate_id"], compromised);
    let cascaded: Vec<Value> = audit_entries_of(&s, "certificate_revoked")
        .await
        .into_iter()
        .filter(|e| int(&e["object"]["id"]) == sharing)
        .collect();
    assert_eq!(cascaded.len(), 1, "{cascaded:?}");
    assert_eq!(
        cascaded[0]["details"]["key_blocked_by_certificate"], compromised,
        "{}",
        cascaded[0]
    );
    // The key is refused from now on.
    order_with(&s, s.admin(), &key, true)
        .await
        .error(400)
        .code("invalid_csr|key_blocked");

    // Only the superseded revocation went through a batch.
    assert_eq!(
        counters_after.batched - counters_before.batched,
        1.0,
        "certd_batched_revocations_total: {counters_before:?} -> {counters_after:?}"
    );
    assert_eq!(counters_after.batches - counters_before.batches, 1.0);
    assert_eq!(
        counters_after.reason("keyCompromise") - counters_before.reason("keyCompromise"),
        2.0
    );
    assert_eq!(
        counters_after.reason("superseded") - counters_before.reason("superseded"),
        1.0
    );
}

/// Requests to revoke that wait for approval, and their approvals, share
/// batches too, and answer as alone: 14 requests at once, 12 from a user for
/// their certificates and two from the administrator for the two
/// certificates of one order. Each of the user's gets its pending request
/// (201, its X-Request-ID recorded), the certificate unrevoked until
/// approved; of the two for one order exactly one is recorded, the other
/// refused as alone (409, a request is pending). Then 16 approvals at once,
/// four of them a second approval of the same request: each request is
/// approved once and revokes its certificate once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_to_revoke_and_their_approvals_arriving_together_answer_as_alone() {
    let s = Arc::new(Server::start());
    let user = s.user();
    let mut certificates = Vec::new();
    for _ in 0..12 {
        certificates.push(s.user_order_issued(&user).await.1);
    }
    let (order, first) = s.issue_certificate(s.admin()).await;
    s.reissue(s.admin(), order, true).await.ok(201);
    let second = int(&s.order(order).await["certificate"]["id"]);
    assert_ne!(first, second);

    let run = unique();
    let mut calls: Vec<(String, i64, String)> = certificates
        .iter()
        .map(|&c| (user.clone(), c, format!("wait-{run}-{c}")))
        .collect();
    for c in [first, second] {
        calls.push((s.admin().to_string(), c, format!("wait-{run}-{c}")));
    }
    let counters_before = Counters::read(&s).await;
    let requests = calls
        .iter()
        .map(|(key, certificate, request_id)| {
            let body = json!({"revocation_reason": "superseded", "comments": request_id});
            s.rb(
                Method::PUT,
                &format!("/certificate/{certificate}/revoke"),
                Some(key),
            )
            .header("X-Request-ID", request_id)
            .json(&body)
        })
        .collect();
    let answers = send_together(&s, requests).await;
    let counters_after = Counters::read(&s).await;

    let mut waiting = HashMap::new();
    for ((_, certificate, request_id), answer) in calls.iter().take(12).zip(&answers) {
        answer.ok(201);
        assert_eq!(answer.json["status"], "pending", "{}", answer.text());
        assert_eq!(
            answer.json["comments"],
            request_id.as_str(),
            "{}",
            answer.text()
        );
        assert_eq!(s.cert_status(*certificate).await, "issued");
        waiting.insert(*certificate, (answer.id(), request_id.clone()));
    }
    let (one, other) = (&answers[12], &answers[13]);
    let (recorded, refused) = if one.status == 201 {
        (one, other)
    } else {
        (other, one)
    };
    recorded.ok(201);
    refused
        .error(409)
        .code("duplicate_request|revoke_request_pending")
        .message_contains(&recorded.id().to_string());
    assert_eq!(
        counters_after.batched - counters_before.batched,
        0.0,
        "nothing revoked yet: {counters_before:?} -> {counters_after:?}"
    );

    // Each request recorded once, with its call's X-Request-ID.
    let created = audit_entries_of_type(&s, "request_created", "revoke").await;
    assert_eq!(created.len(), 13, "{created:?}");
    for (request, request_id) in waiting.values() {
        let entries: Vec<&Value> = created
            .iter()
            .filter(|e| int(&e["object"]["id"]) == *request)
            .collect();
        assert_eq!(entries.len(), 1, "request {request}: {entries:?}");
        assert_eq!(entries[0]["request_id"], request_id.as_str());
        assert_eq!(entries[0]["details"]["status"], "pending");
    }

    // Approved all at once, four of them twice: each approval revokes its
    // certificate once, and the second approval of a request is refused as
    // alone (409, no longer pending).
    let mut approvals: Vec<(i64, i64)> = waiting
        .iter()
        .map(|(certificate, (request, _))| (*certificate, *request))
        .collect();
    approvals.extend(approvals.clone().into_iter().take(4));
    let requests = approvals
        .iter()
        .map(|(_, request)| {
            s.rb(
                Method::PUT,
                &format!("/request/{request}/status"),
                Some(s.admin()),
            )
            .json(&json!({"status": "approved"}))
        })
        .collect();
    let answers = send_together(&s, requests).await;
    let mut approved: HashMap<i64, usize> = HashMap::new();
    for (answer, (_, request)) in answers.iter().zip(&approvals) {
        if answer.status == 204 {
            *approved.entry(*request).or_default() += 1;
        } else {
            answer
                .error(409)
                .code("request_not_pending|request_already_processed");
        }
    }
    assert_eq!(approved.len(), 12, "{approved:?}");
    assert!(approved.values().all(|&n| n == 1), "{approved:?}");
    let counters_approved = Counters::read(&s).await;
    assert_eq!(
        counters_approved.reason("superseded") - counters_after.reason("superseded"),
        12.0
    );
    for (certificate, (request, _)) in &waiting {
        let details = s.cert(*certificate).await;
        assert_eq!(details["status"], "revoked", "{details}");
        assert_eq!(details["revocation_reason"], "superseded", "{details}");
        let request = s.request(*request).await;
        assert_eq!(request["status"], "approved", "{request}");
        assert_datetime(&request["date_processed"]);
        let revoked: Vec<Value> = audit_entries_of(&s, "certificate_revoked")
            .await
            .into_iter()
            .filter(|e| int(&e["object"]["id"]) == *certificate)
            .collect();
        assert_eq!(revoked.len(), 1, "{revoked:?}");
        assert_eq!(revoked[0]["details"]["request_id"], request["id"]);
    }
    let approved_entries = audit_entries_of_type(&s, "request_approved", "revoke").await;
    assert_eq!(approved_entries.len(), 12, "{approved_entries:?}");
    let (ok, out) = crate::audit_chain::verify(&s);
    assert!(ok, "certd audit verify: {out}");
}
