//! Contract section 9: revocation campaigns. A selector and its dry run,
//! the two-person rule, holds, scheduling, the runner's batches (with an
//! audit entry per certificate naming the campaign, publication in CRLs and
//! OCSP), webhook events, bad input that changes nothing, a kill -9 in the
//! middle of a run, and two nodes sharing one campaign.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::acme_protocol_client::unix;
use crate::audit_chain::verify;
use crate::harness::*;
use crate::publication::{Certificate, lists_serial};
use crate::revocation_batches::audit_entries_of;
use crate::webhooks::Receiver;

/// Long enough for a debug build on a busy machine, short enough to fail.
const COMPLETED_WITHIN: Duration = Duration::from_secs(60);

/// `count` certificates issued at once by the administrator, named
/// `h<n>.<domain>` (with `www.h<n>.<domain>`): their ids, by id.
async fn issue_under(s: &Arc<Server>, domain: &str, count: usize) -> Vec<i64> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let s = Arc::clone(s);
        let cn = format!("h{}.{domain}", unique());
        tasks.spawn(async move {
            let r = s.place_order(s.admin(), &cn, true).await;
            r.ok(201);
            int(&r.json["certificate_id"])
        });
    }
    let mut ids = tasks.join_all().await;
    ids.sort_unstable();
    ids
}

/// A second administrator's key: the requester cannot approve.
fn other_admin(s: &Server) -> String {
    s.add_user("administrator", false)
}

async fn create(s: &Server, key: &str, body: Value) -> Resp {
    s.post(key, "/campaign", body).await
}

async fn set_status(s: &Server, key: &str, id: i64, status: &str) -> Resp {
    s.put(
        key,
        &format!("/campaign/{id}/status"),
        json!({"status": status, "comment": format!("{status} by test")}),
    )
    .await
}

pub(crate) async fn campaign(s: &Server, id: i64) -> Value {
    s.get(s.admin(), &format!("/campaign/{id}"))
        .await
        .ok(200)
        .json
        .clone()
}

/// Waits until the campaign is `completed` and returns it.
async fn completed(s: &Server, id: i64) -> Value {
    let started = Instant::now();
    loop {
        let c = campaign(s, id).await;
        if c["status"] == "completed" {
            return c;
        }
        assert!(started.elapsed() < COMPLETED_WITHIN, "not completed: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The campaign's certificate ids in a state.
pub(crate) async fn listed(s: &Server, id: i64, status: &str) -> Vec<i64> {
    let r = s
        .get(
            s.admin(),
            &format!("/campaign/{id}/certificate?filters[status]={status}&limit=1000"),
        )
        .await;
    r.ok(200);
    r.json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| int(&c["id"]))
        .collect()
}

/// How many `certificate_revoked` entries name each certificate.
async fn revocation_entries(s: &Server) -> HashMap<i64, Vec<Value>> {
    let mut by_certificate: HashMap<i64, Vec<Value>> = HashMap::new();
    for entry in audit_entries_of(s, "certificate_revoked").await {
        by_certificate
            .entry(int(&entry["object"]["id"]))
            .or_default()
            .push(entry["details"].clone());
    }
    by_certificate
}

pub(crate) async fn campaign_count(s: &Server) -> i64 {
    int(&s.get(s.admin(), "/campaign").await.ok(200).json["page"]["total"])
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Select by domain (a dry run first), hold one, have another administrator
/// approve: the campaign revokes the rest in batches, each with its own
/// audit entry naming the campaign, and they show in the CRL and OCSP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_selects_by_domain_revokes_in_batches_and_publishes() {
    let s = Arc::new(Server::start_with(&["--campaign-batch-size", "3"]));
    let domain = format!("d{}.example", unique());
    let ids = issue_under(&s, &domain, 8).await;
    let elsewhere = issue_under(&s, "elsewhere.example", 2).await;
    s.revoke_now(ids[7], "superseded").await;
    let selector = json!({"domain": domain});

    let r = create(
        &s,
        s.admin(),
        json!({"name": "validation bug", "reason": "cessationOfOperation",
               "selector": selector, "dry_run": true}),
    )
    .await;
    r.ok(200);
    assert_eq!(r.json["matched"], 7, "{}", r.text());
    assert_eq!(r.json["already_revoked"], 1, "{}", r.text());
    let sample: Vec<i64> = r.json["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| int(&c["id"]))
        .collect();
    assert_eq!(sample, ids[..7]);
    assert_eq!(campaign_count(&s).await, 0, "a dry run records nothing");

    let r = create(
        &s,
        s.admin(),
        json!({"name": "validation bug", "reason": "cessationOfOperation",
               "comments": "ticket 42", "selector": selector}),
    )
    .await;
    r.ok(201);
    let id = r.id();
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["matched"], 7);
    assert_eq!(r.json["selector"], selector);
    assert_eq!(r.json["requester"]["email"], "admin@certd.localhost");
    assert_datetime(&r.json["date_created"]);

    let held = ids[2];
    let r = s
        .post(
            s.admin(),
            &format!("/campaign/{id}/hold"),
            json!({"certificate_id": held, "comments": "customer migrating"}),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["held"], 1);
    assert_eq!(listed(&s, id, "held").await, vec![held]);

    set_status(&s, s.admin(), id, "approved")
        .await
        .error(403)
        .code("access_denied|own_request");
    let approver = other_admin(&s);
    let r = set_status(&s, &approver, id, "approved").await;
    r.ok(200);
    assert!(
        ["approved", "running", "completed"].contains(&r.json["status"].as_str().unwrap()),
        "{}",
        r.text()
    );
    assert_eq!(r.json["approvals"].as_array().unwrap().len(), 1);

    let done = completed(&s, id).await;
    assert_eq!(done["matched"], 7, "{done}");
    assert_eq!(done["revoked"], 6, "{done}");
    assert_eq!(done["held"], 1, "{done}");
    assert_eq!(done["already_revoked"], 1, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    assert_datetime(&done["date_started"]);
    assert_datetime(&done["date_completed"]);

    let revoked: Vec<i64> = ids[..7].iter().copied().filter(|c| *c != held).collect();
    assert_eq!(listed(&s, id, "revoked").await, revoked);
    let entries = revocation_entries(&s).await;
    for &cert in &revoked {
        let c = s.cert(cert).await;
        assert_eq!(c["status"], "revoked", "{c}");
        assert_eq!(c["revocation_reason"], "cessationOfOperation", "{c}");
        let details = &entries[&cert];
        assert_eq!(details.len(), 1, "one entry for {cert}: {details:?}");
        assert_eq!(details[0]["campaign_id"], id);
    }
    for cert in [held].iter().chain(&elsewhere) {
        assert_eq!(s.cert_status(*cert).await, "issued");
    }
    for action in [
        "campaign_created",
        "campaign_approved",
        "campaign_certificate_held",
        "campaign_started",
        "campaign_completed",
    ] {
        let found = audit_entries_of(&s, action).await;
        assert!(
            found.iter().any(|e| e["object"]["id"] == id),
            "no {action} entry for the campaign"
        );
    }

    // Published: CRL and OCSP within the contract's five seconds.
    let first = Certificate::download(&s, revoked[0]).await;
    let last = Certificate::download(&s, revoked[5]).await;
    let kept = Certificate::download(&s, held).await;
    let deadline = Instant::now() + VISIBLE_WITHIN;
    loop {
        let crl = first.crl_text_on(&s).await;
        let ocsp = last.ocsp(&s.url("/ocsp"));
        if lists_serial(&crl, &first.serial) && ocsp.contains("Cert Status: revoked") {
            assert!(ocsp.contains("cessationOfOperation"), "{ocsp}");
            break;
        }
        assert!(Instant::now() < deadline, "not published: {ocsp}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(kept.ocsp(&s.url("/ocsp")).contains("Cert Status: good"));
    let (ok, report) = verify(&s);
    assert!(ok, "{report}");
}

/// `--campaign-approvals 2`: two administrators other than the requester,
/// each once. With a `revoke_at` ahead the approved campaign waits as
/// `scheduled` (holds still possible on its frozen selection), then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_freeze_the_selection_and_a_schedule_waits() {
    let s = Arc::new(Server::start_with(&["--campaign-approvals", "2"]));
    let ids = issue_under(&s, "scheduled.example", 4).await;
    let revoke_at = time::OffsetDateTime::now_utc().unix_timestamp() + 6;
    let revoke_at_text = time::OffsetDateTime::from_unix_timestamp(revoke_at)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = create(
        &s,
        s.admin(),
        json!({"name": "tenant leaves", "reason": "affiliationChanged",
               "selector": {"certificate_ids": ids[..3]}, "revoke_at": revoke_at_text}),
    )
    .await;
    r.ok(201);
    let id = r.id();
    assert_eq!(r.json["approvals_required"], 2);

    let (b, c) = (other_admin(&s), other_admin(&s));
    let r = set_status(&s, &b, id, "approved").await;
    r.ok(200);
    assert_eq!(r.json["status"], "pending", "one of two approvals");
    set_status(&s, &b, id, "approved")
        .await
        .error(409)
        .code("duplicate_approval|already_approved");
    // Certificates issued before the final approval and matching are in.
    let r = set_status(&s, &c, id, "approved").await;
    r.ok(200);
    assert_eq!(r.json["status"], "scheduled", "{}", r.text());
    assert_eq!(r.json["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["revoke_at"], revoke_at_text.replace('Z', "+00:00"));

    // The selection is frozen: holds apply to it; outside it, refused.
    let r = s
        .post(
            s.admin(),
            &format!("/campaign/{id}/hold"),
            json!({"serial": s.cert(ids[1]).await["serial_number"], "comments": "later"}),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["held"], 1);
    s.post(
        s.admin(),
        &format!("/campaign/{id}/hold"),
        json!({"certificate_id": ids[3]}),
    )
    .await
    .error(400)
    .code("invalid_hold|not_in_campaign");
    assert_eq!(listed(&s, id, "selected").await, vec![ids[0], ids[2]]);
    assert_eq!(
        s.cert_status(ids[0]).await,
        "issued",
        "not before revoke_at"
    );
    // Revoked by someone else while the campaign waits: it leaves the
    // selection for already_revoked, keeping its own reason.
    s.revoke_now(ids[2], "superseded").await;

    let done = completed(&s, id).await;
    assert!(
        unix(&done["date_started"]) >= revoke_at,
        "started before revoke_at: {done}"
    );
    let counts = ["matched", "revoked", "held", "already_revoked", "failed"].map(|n| int(&done[n]));
    assert_eq!(counts, [2, 1, 1, 1, 0], "{done}");
    assert_eq!(listed(&s, id, "already_revoked").await, vec![ids[2]]);
    assert_eq!(s.cert(ids[2]).await["revocation_reason"], "superseded");
    assert_eq!(s.cert_status(ids[0]).await, "revoked");
    assert_eq!(s.cert_status(ids[1]).await, "issued");
    assert_eq!(s.cert_status(ids[3]).await, "issued");

    // Too late now.
    set_status(&s, s.admin(), id, "canceled")
        .await
        .error(409)
        .code("invalid_campaign_status|started");
    s.post(
        s.admin(),
        &format!("/campaign/{id}/hold"),
        json!({"certificate_id": ids[2]}),
    )
    .await
    .error(409)
    .code("invalid_campaign_status|started");
}

/// Rejected and canceled campaigns never run; the list is newest first.
#[tokio::test]
async fn rejected_and_canceled_campaigns_revoke_nothing() {
    let s = Arc::new(Server::start());
    let ids = issue_under(&s, "stopped.example", 2).await;
    let body = json!({"name": "n", "reason": "superseded", "selector": {"certificate_ids": ids}});
    let first = create(&s, s.admin(), body.clone()).await.ok(201).id();
    let second = create(&s, s.admin(), body).await.ok(201).id();
    let r = set_status(&s, s.admin(), first, "rejected").await;
    r.ok(200);
    assert_eq!(r.json["status"], "rejected");
    assert_eq!(r.json["processor_comment"], "rejected by test");
    let approver = other_admin(&s);
    set_status(&s, &approver, first, "approved")
        .await
        .error(409)
        .code("invalid_campaign_status|status");
    let r = set_status(&s, s.admin(), second, "canceled").await;
    r.ok(200);
    assert_eq!(r.json["status"], "canceled");
    let r = s.get(s.admin(), "/campaign").await;
    r.ok(200);
    let listed: Vec<i64> = r.json["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| int(&c["id"]))
        .collect();
    assert_eq!(listed, vec![second, first]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for id in ids {
        assert_eq!(s.cert_status(id).await, "issued");
    }
}

/// Every refusal is a clear 4xx, and nothing is recorded.
#[tokio::test]
async fn bad_campaigns_are_refused_and_change_nothing() {
    let s = Arc::new(Server::start_with(&["--campaign-approvals", "2"]));
    let ids = issue_under(&s, "refused.example", 2).await;
    let user = s.user();
    let audit_before = s.audit_total().await;
    let refused = |body: Value, status: u16, code: &'static str| {
        let s = Arc::clone(&s);
        async move {
            let r = create(&s, s.admin(), body.clone()).await;
            r.error(status).code(code);
            assert!(!r.json["errors"][0]["message"].as_str().unwrap().is_empty());
        }
    };
    let named =
        |selector: Value| json!({"name": "n", "reason": "superseded", "selector": selector});
    refused(named(json!({})), 400, "invalid_selector|selector").await;
    refused(
        named(json!({"domian": "x.example"})),
        400,
        "bad_request_format|invalid_field",
    )
    .await;
    refused(
        json!({"name": "n", "reason": "superseded", "selector": {"certificate_ids": ids},
               "revokeAt": "2030-01-01"}),
        400,
        "bad_request_format|invalid_field",
    )
    .await;
    refused(
        named(json!({"serials": []})),
        400,
        "invalid_selector|selector",
    )
    .await;
    refused(
        named(json!({"serials": ["zz-not-hex"]})),
        400,
        "invalid_selector|selector",
    )
    .await;
    refused(
        named(json!({"certificate_ids": [0]})),
        400,
        "invalid_selector|selector",
    )
    .await;
    refused(
        named(json!({"domain": " "})),
        400,
        "invalid_selector|selector",
    )
    .await;
    refused(
        named(json!({"public_key_sha256": "abc"})),
        400,
        "invalid_selector|selector",
    )
    .await;
    refused(
        named(json!({"issued_after": "2026-02-01", "issued_before": "2026-01-01"})),
        400,
        "invalid_date|date",
    )
    .await;
    refused(
        named(json!({"issued_after": "yesterday"})),
        400,
        "invalid_date|date",
    )
    .await;
    refused(
        named(json!({"domain": "nothing-issued-here.example"})),
        400,
        "invalid_selector|matches_nothing",
    )
    .await;
    refused(
        json!({"name": "n", "reason": "superseded", "selector": {"certificate_ids": ids},
               "revoke_at": "2020-01-01T00:00:00+00:00"}),
        400,
        "invalid_date|revoke_at_past",
    )
    .await;
    refused(
        json!({"name": "n", "reason": "keyCompromise", "selector": {"certificate_ids": ids}}),
        400,
        "invalid_revocation_reason|reason_not_allowed",
    )
    .await;
    refused(
        json!({"name": "n", "reason": "stolen", "selector": {"certificate_ids": ids}}),
        400,
        "invalid_revocation_reason|unknown_reason",
    )
    .await;
    refused(
        json!({"name": "", "reason": "superseded", "selector": {"certificate_ids": ids}}),
        400,
        "invalid_name|campaign_name",
    )
    .await;
    // A dry run matching nothing is an answer, not an error.
    let r = create(
        &s,
        s.admin(),
        json!({"name": "n", "reason": "superseded", "dry_run": true,
               "selector": {"domain": "nothing-issued-here.example"}}),
    )
    .await;
    r.ok(200);
    assert_eq!(r.json["matched"], 0);
    // Only administrators.
    create(&s, &user, named(json!({"certificate_ids": ids})))
        .await
        .error(403)
        .code("access_denied|missing_permission");
    assert_eq!(campaign_count(&s).await, 0);
    assert_eq!(s.audit_total().await, audit_before, "nothing audited");

    // On a real campaign: the requester's approval, a bad status, a hold
    // outside it, unknown ids.
    let id = create(&s, s.admin(), named(json!({"certificate_ids": [ids[0]]})))
        .await
        .ok(201)
        .id();
    let before = campaign(&s, id).await;
    set_status(&s, s.admin(), id, "approved")
        .await
        .error(403)
        .code("access_denied|own_request");
    set_status(&s, s.admin(), id, "running")
        .await
        .error(400)
        .code("invalid_status|status");
    s.post(
        s.admin(),
        &format!("/campaign/{id}/hold"),
        json!({"certificate_id": ids[1]}),
    )
    .await
    .error(400)
    .code("invalid_hold|not_in_campaign");
    s.post(s.admin(), &format!("/campaign/{id}/hold"), json!({}))
        .await
        .error(400);
    s.post(
        s.admin(),
        &format!("/campaign/{id}/hold"),
        json!({"certificate_id": 999_999}),
    )
    .await
    .error(404)
    .code("not_found|certificate");
    set_status(&s, &user, id, "approved").await.error(403);
    s.get(s.admin(), "/campaign/999999")
        .await
        .error(404)
        .code("not_found|campaign");
    s.get(s.admin(), "/campaign/abc")
        .await
        .error(404)
        .code("not_found|campaign");
    s.get(
        s.admin(),
        &format!("/campaign/{id}/certificate?filters[status]=gone"),
    )
    .await
    .error(400);
    assert_eq!(campaign(&s, id).await, before, "nothing changed");
    assert_eq!(listed(&s, id, "selected").await, vec![ids[0]]);
}

/// `--distinct-approver`: nobody approves a request they made themselves.
#[tokio::test]
async fn distinct_approver_applies_the_two_person_rule_to_requests() {
    let s = Server::start_with(&["--distinct-approver"]);
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let r = s
        .revoke(s.admin(), cert, json!({"revocation_reason": "superseded"}))
        .await;
    r.ok(201);
    let request = r.id();
    s.approve(request)
        .await
        .error(403)
        .code("access_denied|own_request");
    assert_eq!(s.request(request).await["status"], "pending");
    let other = other_admin(&s);
    s.set_request_status(&other, request, "approved")
        .await
        .ok(204);
    assert_eq!(s.cert_status(cert).await, "revoked");
}

/// The webhook hears of a campaign's creation, approval and completion,
/// and each owner of a scheduled certificate hears when it will go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_tell_owners_before_a_scheduled_campaign_runs() {
    let receiver = Receiver::start().await;
    let s = Arc::new(Server::start_with(&receiver.serve_args(&[])));
    let user_key = s.user();
    let owner = s.me(&user_key).await;
    let (_, user_cert) = s.user_order_issued(&user_key).await;
    let (_, admin_cert) = s.issue_certificate(s.admin()).await;
    let revoke_at = time::OffsetDateTime::now_utc().unix_timestamp() + 3;
    let revoke_at_text = time::OffsetDateTime::from_unix_timestamp(revoke_at)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('Z', "+00:00");
    let id = create(
        &s,
        s.admin(),
        json!({"name": "notify", "reason": "superseded", "revoke_at": revoke_at_text,
               "selector": {"certificate_ids": [user_cert, admin_cert]}}),
    )
    .await
    .ok(201)
    .id();
    set_status(&s, &other_admin(&s), id, "approved")
        .await
        .ok(200);
    for kind in [
        "campaign.created",
        "campaign.approved",
        "campaign.completed",
    ] {
        let d = receiver
            .wait_for(kind, |d| {
                d.json()["type"] == kind && d.json()["campaign"]["id"] == id
            })
            .await;
        assert_eq!(d.json()["campaign"]["name"], "notify");
    }
    let scheduled = receiver
        .wait_for("the user's notice", |d| {
            d.json()["type"] == "certificate.revocation_scheduled"
                && d.json()["certificate"]["id"] == user_cert
        })
        .await
        .json();
    assert_eq!(scheduled["owner"]["email"], owner["email"]);
    assert_eq!(scheduled["campaign_id"], id);
    assert_eq!(scheduled["revoke_at"], revoke_at_text);
    let notices = receiver
        .deliveries()
        .iter()
        .filter(|d| d.json()["type"] == "certificate.revocation_scheduled")
        .count();
    assert_eq!(notices, 2, "one notice per certificate");
}

/// A kill -9 in the middle of a run: after the restart the campaign resumes
/// and completes, each certificate revoked once, the counts exact, the
/// audit chain whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_killed_mid_run_resumes_and_revokes_each_certificate_once() {
    let mut shared = Arc::new(Server::start_with(&["--campaign-batch-size", "2"]));
    let ids = issue_under(&shared, "killed.example", 300).await;
    let s = Arc::get_mut(&mut shared).expect("no other owner");
    let id = create(
        s,
        s.admin(),
        json!({"name": "crash", "reason": "superseded", "selector": {"domain": "killed.example"}}),
    )
    .await
    .ok(201)
    .id();
    set_status(s, &other_admin(s), id, "approved").await.ok(200);
    // Kill it once some, not all, are revoked.
    let started = Instant::now();
    let at_kill = loop {
        let c = campaign(s, id).await;
        if int(&c["revoked"]) > 0 {
            s.kill9();
            break c;
        }
        assert!(started.elapsed() < COMPLETED_WITHIN, "never started: {c}");
    };
    assert!(
        int(&at_kill["revoked"]) < 300,
        "finished before the kill: {at_kill}"
    );
    s.restart();
    let done = completed(s, id).await;
    assert_eq!(int(&done["revoked"]), 300, "{done}");
    assert_eq!(int(&done["matched"]), 300, "{done}");
    assert_eq!(
        int(&done["already_revoked"]) + int(&done["failed"]),
        0,
        "{done}"
    );
    let entries = revocation_entries(s).await;
    for cert in &ids {
        assert_eq!(entries[cert].len(), 1, "certificate {cert} revoked once");
    }
    let (ok, report) = verify(s);
    assert!(ok, "{report}");
}

/// Two nodes on one PostgreSQL database run the same campaign: their
/// runners take its batches one after the other (each batch locks the
/// campaign's row), so no certificate is revoked twice and the counts are
/// exact. Always on PostgreSQL, like the other multi-node tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_a_campaign_and_revoke_each_certificate_once() {
    let db = Arc::new(PgDatabase::create());
    let small_batches = ["--campaign-batch-size", "3"];
    let a = Arc::new(Server::start_on(
        Some(Arc::clone(&db)),
        None,
        &small_batches,
    ));
    let b = Server::start_on(Some(db), Some(&a), &small_batches);
    let ids = issue_under(&a, "two-nodes.example", 150).await;
    let id = create(
        &a,
        a.admin(),
        json!({"name": "shared", "reason": "superseded",
               "selector": {"domain": "two-nodes.example"}}),
    )
    .await
    .ok(201)
    .id();
    // Approved on node B; both nodes' runners look for it.
    set_status(&b, &other_admin(&a), id, "approved")
        .await
        .ok(200);
    let done = completed(&a, id).await;
    assert_eq!(int(&done["revoked"]), 150, "{done}");
    assert_eq!(
        int(&done["already_revoked"]) + int(&done["failed"]),
        0,
        "{done}"
    );
    let entries = revocation_entries(&a).await;
    for cert in &ids {
        assert_eq!(entries[cert].len(), 1, "certificate {cert} revoked once");
    }
    let (ok, report) = verify(&a);
    assert!(ok, "{report}");
}
