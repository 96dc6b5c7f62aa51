//! The web console at `/console/`: its headers and markup (plain HTTP), and
//! an administrator's session in headless Chromium (`console/test/drive.mjs`)
//! whose approvals, rejections and revocations are then checked through the API
//! and OCSP; and a revocation campaign that three administrators preview,
//! create, hold, approve and follow on the Campaigns page
//! (`console/test/campaigns.mjs`), checked the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::*;
use crate::publication::Certificate;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn fetch(s: &Server, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.url(path))
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn console_files_are_served_with_strict_headers() {
    let s = Server::start();
    let redirect = fetch(&s, "/console").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(header(&redirect, "location"), "/console/");

    for (path, content_type) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
    ] {
        let r = fetch(&s, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        let body = r.text().await.unwrap();
        // Nothing from elsewhere: no CDN, no fonts, no network at run time.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} names another site"
        );
    }
    let r = fetch(&s, "/console/nothing.js").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn console_markup_runs_no_inline_code() {
    let s = Server::start();
    let html = fetch(&s, "/console/").await.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 1, "one script");
    assert!(html.contains(r#"<script type="module" src="console.js"></script>"#));
    for inline in [
        "<style",
        " style=",
        " onclick=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(inline), "inline code or style: {inline}");
    }
    // Every input, select and textarea has a label.
    for id in element_ids(&html, &["<input", "<select", "<textarea"]) {
        assert!(
            html.contains(&format!(r#"for="{id}""#)),
            "#{id} has no label"
        );
    }
    let js = fetch(&s, "/console/console.js").await.text().await.unwrap();
    assert!(
        !js.contains("innerHTML") && !js.contains("insertAdjacentHTML"),
        "data is rendered as text only"
    );
}

/// The `id`s of the elements that open with one of `tags`.
fn element_ids(html: &str, tags: &[&str]) -> Vec<String> {
    tags.iter()
        .flat_map(|tag| html.match_indices(tag))
        .map(|(at, _)| {
            let element = &html[at..at + html[at..].find('>').unwrap()];
            let id = element.split(r#"id=""#).nth(1).expect("element has an id");
            id[..id.find('"').unwrap()].to_string()
        })
        .collect()
}

#[tokio::test]
async fn console_never_puts_the_key_in_a_url_or_a_cookie() {
    let s = Server::start();
    let html = fetch(&s, "/console/").await.text().await.unwrap();
    // A field without a name is never submitted, and the form posts: even
    // if the script did not run, the key would not end up in a URL.
    let key_field = &html[html.find(r#"<input id="api-key""#).unwrap()..];
    let key_field = &key_field[..key_field.find('>').unwrap()];
    assert!(!key_field.contains("name="), "{key_field}");
    assert!(key_field.contains(r#"type="password""#), "{key_field}");
    assert!(html.contains(r#"<form id="signin-form" method="post""#));

    let js = fetch(&s, "/console/console.js").await.text().await.unwrap();
    for storage in [
        "document.cookie",
        "localStorage",
        "location.search",
        "location.hash",
    ] {
        assert!(!js.contains(storage), "console.js uses {storage}");
    }
    // The key leaves sessionStorage for one place only: the request header.
    let reads: Vec<_> = js.match_indices("getItem(KEY_STORAGE)").collect();
    assert_eq!(
        reads.len(),
        2,
        "one read for calls, one to resume a session"
    );
    assert!(js.contains("'X-DC-DEVKEY': sessionStorage.getItem(KEY_STORAGE)"));
}

#[tokio::test]
async fn api_allows_no_cross_origin_calls() {
    let s = Server::start();
    let client = reqwest::Client::new();
    let simple = client
        .get(s.api("/user/me"))
        .header("Origin", "https://evil.example")
        .header("X-DC-DEVKEY", s.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    let preflight = client
        .request(reqwest::Method::OPTIONS, s.api("/user/me"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-dc-devkey")
        .send()
        .await
        .unwrap();
    assert!(!preflight.status().is_success(), "{}", preflight.status());
    for r in [&simple, &preflight] {
        for h in r.headers().keys() {
            assert!(
                !h.as_str().starts_with("access-control-"),
                "CORS header {h} lets other sites call certd with a key"
            );
        }
    }
}

/// What the browser test needs, or why it cannot run here.
fn browser_setup() -> Result<(PathBuf, String), String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("console/test");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("no node in PATH (apt-get install nodejs npm)".into());
    }
    if !folder.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "no playwright-core (npm ci in {})",
            folder.display()
        ));
    }
    Ok((folder, chromium))
}

/// The id of a certificate for `common_name` that `user` ordered and the
/// administrator approved.
async fn user_certificate(s: &Server, user: &str, common_name: &str) -> i64 {
    let order = s.place_order(user, common_name, false).await;
    s.approve(order.ok(201).request_id()).await.ok(204);
    int(&s.order(order.id()).await["certificate"]["id"])
}

/// The driver's folder and Chromium, or `None` where the test does not run:
/// on PostgreSQL (the console does not depend on the backend), or without a
/// browser outside CI (in CI a missing browser fails the test).
fn chromium_for(test: &str) -> Option<(PathBuf, String)> {
    if suite_on_postgres() {
        eprintln!("{test}: skipped on PostgreSQL (the console does not depend on the backend)");
        return None;
    }
    match browser_setup() {
        Ok(setup) => Some(setup),
        Err(missing) if std::env::var_os("CI").is_some() => panic!("{missing}"),
        Err(missing) => {
            eprintln!("{test}: SKIPPED, {missing}");
            None
        }
    }
}

#[tokio::test]
async fn console_approves_rejects_and_revokes_in_chromium() {
    let Some((folder, chromium)) = chromium_for("console_approves_rejects_and_revokes_in_chromium")
    else {
        return;
    };
    let s = Server::start();
    let user = s.add_user_named("ana.lima@example.com", "Ana", "Lima", "user", false);
    let approved = user_certificate(&s, &user, "shop.example.com").await;
    let rejected = user_certificate(&s, &user, "mail.example.com").await;
    let revoked_at_once = user_certificate(&s, &user, "legacy.example.com").await;
    let ask = |cert, comments, reason| {
        s.revoke(
            &user,
            cert,
            json!({"comments": comments, "revocation_reason": reason}),
        )
    };
    let approve_request = ask(approved, "Key left on a lost laptop.", "keyCompromise")
        .await
        .ok(201)
        .id();
    let reject_request = ask(rejected, "Moving to a new host.", "superseded")
        .await
        .ok(201)
        .id();

    // Async, so that the runtime keeps serving the harness's pooled
    // connections meanwhile (certd closes idle ones after 10 s; a blocked
    // runtime would not notice and reuse a closed one).
    let out = tokio::process::Command::new("node")
        .arg(folder.join("drive.mjs"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CERTD_URL", &s.base)
        .env("CERTD_ADMIN_KEY", s.admin())
        .env("CERTD_APPROVE_REQUEST", approve_request.to_string())
        .env("CERTD_REJECT_REQUEST", reject_request.to_string())
        .env("CERTD_REVOKE_COMMON_NAME", "legacy.example.com")
        .env("CERTD_USER_KEY", &user)
        .env("CERTD_USER_COMMON_NAME", "mail.example.com")
        .env("CHROMIUM", chromium)
        .output()
        .await
        .expect("run node");
    assert!(
        out.status.success(),
        "drive.mjs failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let ocsp = s.url("/ocsp");
    for (cert, status, reason) in [
        (approved, "revoked", Some("keyCompromise")),
        (rejected, "issued", None),
        (revoked_at_once, "revoked", Some("cessationOfOperation")),
    ] {
        assert_eq!(s.cert_status(cert).await, status, "certificate {cert}");
        let answer = Certificate::download(&s, cert).await.ocsp(&ocsp);
        match reason {
            Some(reason) => assert!(
                answer.contains(": revoked") && answer.contains(&format!("Reason: {reason}")),
                "{answer}"
            ),
            None => assert!(answer.contains(": good"), "{answer}"),
        }
    }
    let request = s.request(approve_request).await;
    assert_eq!(request["status"], "approved", "{request}");
    assert_eq!(request["processor"]["id"], s.me(s.admin()).await["id"]);
    assert_eq!(s.request(reject_request).await["status"], "rejected");
    // The user asked again in the console; that request waits.
    let asked = s.revoke_requests_for(rejected).await;
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[1]["status"], "pending", "{asked:?}");
    assert_eq!(asked[1]["revocation_reason"], "affiliationChanged");
}

/// An issued certificate for `common_name`, ordered by the administrator
/// with skip approval: its id and serial number.
async fn issued(s: &Server, common_name: &str) -> (i64, String) {
    let r = s.place_order(s.admin(), common_name, true).await;
    let id = int(&r.ok(201).json["certificate_id"]);
    let serial = s.cert(id).await["serial_number"]
        .as_str()
        .unwrap()
        .to_string();
    (id, serial)
}

#[tokio::test]
async fn console_runs_a_revocation_campaign_in_chromium() {
    let Some((folder, chromium)) = chromium_for("console_runs_a_revocation_campaign_in_chromium")
    else {
        return;
    };
    // Two administrators other than the requester must approve.
    let s = Server::start_with(&["--campaign-approvals", "2"]);
    let second = s.add_user_named(
        "bea.santos@example.com",
        "Bea",
        "Santos",
        "administrator",
        false,
    );
    let third = s.add_user_named(
        "carl.jung@example.com",
        "Carl",
        "Jung",
        "administrator",
        false,
    );
    let (shop, _) = issued(&s, "shop.example.org").await;
    let (mail, _) = issued(&s, "mail.example.org").await;
    let (vpn, vpn_serial) = issued(&s, "vpn.example.org").await;
    let (legacy, _) = issued(&s, "legacy.example.org").await;
    s.revoke_now(legacy, "superseded").await;
    let (outside, _) = issued(&s, "keep.example.net").await;

    let out = tokio::process::Command::new("node")
        .arg(folder.join("campaigns.mjs"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CERTD_URL", &s.base)
        .env("CERTD_ADMIN_KEY", s.admin())
        .env("CERTD_SECOND_ADMIN_KEY", &second)
        .env("CERTD_THIRD_ADMIN_KEY", &third)
        .env("CERTD_CAMPAIGN_DOMAIN", "example.org")
        .env(
            "CERTD_CAMPAIGN_COMMON_NAMES",
            "shop.example.org,mail.example.org,vpn.example.org",
        )
        .env("CERTD_ALREADY_REVOKED", "1")
        .env("CERTD_HOLD_COMMON_NAME", "vpn.example.org")
        .env("CERTD_OUTSIDE_CERTIFICATE", outside.to_string())
        .env("CHROMIUM", chromium)
        .output()
        .await
        .expect("run node");
    assert!(
        out.status.success(),
        "campaigns.mjs failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the page did, as certd tells it.
    let list = s.get(s.admin(), "/campaign").await.ok(200).json.clone();
    let campaigns = list["campaigns"].as_array().unwrap();
    let named = |name: &str| {
        campaigns
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no campaign {name:?}: {list}"))
    };
    let retire = named("Retire the example.org estate");
    assert_eq!(retire["status"], "completed", "{retire}");
    assert_eq!(retire["reason"], "cessationOfOperation", "{retire}");
    assert_eq!(
        retire["selector"],
        json!({"domain": "example.org"}),
        "{retire}"
    );
    let counts =
        ["matched", "revoked", "held", "already_revoked", "failed"].map(|n| int(&retire[n]));
    assert_eq!(counts, [3, 2, 1, 1, 0], "{retire}");
    assert_eq!(retire["requester"]["id"], s.me(s.admin()).await["id"]);
    let approvers: Vec<_> = retire["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"]["id"].clone())
        .collect();
    assert_eq!(
        approvers,
        [
            s.me(&second).await["id"].clone(),
            s.me(&third).await["id"].clone()
        ]
    );
    let held = s
        .get(
            s.admin(),
            &format!(
                "/campaign/{}/certificate?filters[status]=held",
                retire["id"]
            ),
        )
        .await
        .ok(200)
        .json
        .clone();
    assert_eq!(held["certificates"][0]["id"], vpn, "{held}");
    assert_eq!(
        held["certificates"][0]["serial_number"],
        vpn_serial.as_str()
    );
    assert_eq!(
        held["certificates"][0]["hold_comments"],
        "Still serving the VPN until the migration on Friday."
    );
    let mistaken = named("Mistaken selection");
    assert_eq!(mistaken["status"], "canceled", "{mistaken}");
    assert_eq!(mistaken["processor"]["id"], s.me(s.admin()).await["id"]);
    assert_eq!(
        mistaken["processor_comment"],
        "Wrong certificate; asked again."
    );
    assert_eq!(mistaken["revoke_at"], "2099-01-01T00:00:00+00:00");
    assert_eq!(mistaken["selector"], json!({"certificate_ids": [outside]}));
    let unwanted = named("Not agreed");
    assert_eq!(unwanted["status"], "rejected", "{unwanted}");
    assert_eq!(unwanted["processor"]["id"], s.me(&second).await["id"]);

    // The certificates: the campaign's revoked, the held one and the one
    // outside it untouched, the one revoked before kept its own reason.
    for (cert, status, reason) in [
        (shop, "revoked", Some("cessationOfOperation")),
        (mail, "revoked", Some("cessationOfOperation")),
        (vpn, "issued", None),
        (legacy, "revoked", Some("superseded")),
        (outside, "issued", None),
    ] {
        let details = s.cert(cert).await;
        assert_eq!(details["status"], status, "certificate {cert}: {details}");
        assert_eq!(
            details["revocation_reason"].as_str(),
            reason,
            "certificate {cert}: {details}"
        );
    }
    let ocsp = s.url("/ocsp");
    let revoked = Certificate::download(&s, shop).await;
    within_deadline("the campaign's revocation in OCSP", || async {
        let answer = revoked.ocsp(&ocsp);
        answer.contains(": revoked") && answer.contains("Reason: cessationOfOperation")
    })
    .await;
    let kept = Certificate::download(&s, vpn).await.ocsp(&ocsp);
    assert!(kept.contains(": good"), "{kept}");
}
