//! ACME (RFC 8555, RFC 9773, RFC 8737) spoken by a small hand-written client
//! (`acme_protocol_client`): accounts, the three challenge types, approval,
//! the three ways of revokeCert, blocked keys, renewal information,
//! keyChange and deactivation. Each test starts its own server with its own
//! DNS server and challenge responders.

use serde_json::{Value, json};

use crate::acme_protocol_client::*;
use crate::harness::*;

fn name(label: &str) -> String {
    format!("{label}{}.acme.test", unique())
}

/// The REST requests of an ACME order (its comment names it).
async fn new_request_of(s: &Server, order_url: &str) -> Value {
    let marker = format!("ACME order {} ", last_segment(order_url));
    let found: Vec<Value> = s
        .requests()
        .await
        .into_iter()
        .filter(|r| {
            r["type"] == "new_request"
                && r["comments"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(&marker))
        })
        .collect();
    assert_eq!(found.len(), 1, "one new_request for {order_url}: {found:?}");
    found[0].clone()
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn new_account_answers_201_then_200_and_only_return_existing() {
    let env = Env::start(&[]).await;
    let acme = &env.acme;
    let dir = &acme.dir;
    for member in [
        "newNonce",
        "newAccount",
        "newOrder",
        "revokeCert",
        "keyChange",
        "renewalInfo",
    ] {
        assert!(
            dir[member]
                .as_str()
                .is_some_and(|u| u.starts_with(&env.s.base)),
            "{member}: {dir}"
        );
    }
    assert_eq!(dir["meta"]["externalAccountRequired"], true, "{dir}");

    // newNonce: HEAD 200, GET 204, each with a fresh nonce and no caching.
    let head = Server::try_send(acme.http.head(acme.url("newNonce")))
        .await
        .unwrap();
    head.ok(200);
    let get = acme.get(&acme.url("newNonce")).await;
    get.ok(204);
    let (n1, n2) = (
        head.header("replay-nonce").unwrap(),
        get.header("replay-nonce").unwrap(),
    );
    assert_ne!(n1, n2);
    assert!(
        n1.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{n1}"
    );
    assert_eq!(get.header("cache-control").as_deref(), Some("no-store"));

    let (user_key, user_id, _) = env.user().await;
    let eab = eab_self(&env.s, &user_key).await;
    assert_eq!(eab.user_id, user_id);

    let key = Key::p256();
    let first = acme.new_account_resp(&key, Some(&eab)).await;
    first.ok(201);
    let location = first.header("location").expect("Location");
    assert!(location.starts_with(&acme.acme("/acct/")), "{location}");
    assert_eq!(first.json["status"], "valid");
    let index = format!(
        "<{}>;rel=\"index\"",
        acme.url("newNonce").replace("new-nonce", "directory")
    );
    assert!(
        first
            .headers
            .get_all("link")
            .iter()
            .any(|l| l.to_str().unwrap().replace(' ', "") == index),
        "Link rel=index (RFC 8555 §7.1): {:?}",
        first.headers
    );
    assert_eq!(first.json["contact"], json!(["mailto:acme@example.com"]));
    assert!(
        first.json["orders"]
            .as_str()
            .is_some_and(|o| o.starts_with(&location)),
        "{}",
        first.text()
    );

    // The same key again: 200 and the same account, whatever else is asked
    // (the spent EAB is not looked at).
    let again = acme.new_account_resp(&key, Some(&eab)).await;
    again.ok(200);
    assert_eq!(again.header("location").as_deref(), Some(location.as_str()));
    let existing = acme
        .signed(
            &key,
            By::Jwk,
            &acme.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    existing.ok(200);
    assert_eq!(
        existing.header("location").as_deref(),
        Some(location.as_str())
    );

    // onlyReturnExisting with an unknown key: accountDoesNotExist, and no account made.
    let stranger = Key::p256();
    let before = env.s.snapshot(&[]).await;
    let r = acme
        .signed(
            &stranger,
            By::Jwk,
            &acme.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    problem(&r, "accountDoesNotExist");
    env.s.assert_unchanged(&before, &[]).await;

    // The account reads itself; its order list is empty.
    let account = Account {
        key,
        url: location.clone(),
    };
    let me = acme.fetch(&account, &location).await;
    assert_eq!(me.json["status"], "valid");
    let orders = acme
        .fetch(&account, me.json["orders"].as_str().unwrap())
        .await;
    assert_eq!(orders.json["orders"], json!([]));

    // A contact update.
    let r = acme
        .post(
            &account,
            &location,
            Some(&json!({"contact": ["mailto:other@example.com"]})),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["contact"], json!(["mailto:other@example.com"]));

    // Every algorithm of the contract makes an account and signs with it.
    for key in [Key::p384(), Key::ed25519(), Key::rsa(2048)] {
        let alg = key.alg();
        let eab = eab_for(&env.s, user_id).await;
        let account = acme.register(key, Some(&eab)).await;
        let me = acme.fetch(&account, &account.url).await;
        assert_eq!(me.json["status"], "valid", "{alg}");
        let (_, order) = acme.new_order(&account, &[&name("alg")]).await;
        assert_eq!(
            order["authorizations"].as_array().unwrap().len(),
            1,
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------
// Orders and challenges
// ---------------------------------------------------------------------------

#[tokio::test]
async fn http01_order_issues_a_certificate_the_eab_user_sees_through_rest() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (user_key, account) = env.user_account(Key::p256()).await;
    let (a, b) = (name("www"), name("api"));
    let (order_url, order) = acme.new_order(&account, &[&a, &b]).await;
    assert_eq!(
        order["identifiers"],
        json!([{"type": "dns", "value": a}, {"type": "dns", "value": b}])
    );
    assert!(
        order["expires"]
            .as_str()
            .is_some_and(|e| unix(&json!(e)) > now()),
        "{order}"
    );
    let authzs = order["authorizations"].as_array().unwrap().clone();
    assert_eq!(authzs.len(), 2);

    // Each authorization offers the three challenges, pending.
    let authz = acme.fetch(&account, authzs[0].as_str().unwrap()).await;
    assert_eq!(authz.json["status"], "pending");
    assert_eq!(authz.json["identifier"], json!({"type": "dns", "value": a}));
    let mut kinds: Vec<&str> = authz.json["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "pending", "{c}");
            assert!(c["token"].as_str().is_some_and(|t| t.len() >= 22), "{c}");
            c["type"].as_str().unwrap()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["dns-01", "http-01", "tls-alpn-01"]);

    // Finalize before the order is ready: orderNotReady.
    let key = Key::p256();
    let early = acme
        .finalize(&account, &order, &csr_der(&key, &[&a, &b]))
        .await;
    problem(&early, "orderNotReady");

    acme.authorize(&account, &authzs, "http-01", &env.http01_answer())
        .await;
    assert!(env.http01.hits.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    let (_, challenge) = acme
        .challenge(&account, authzs[0].as_str().unwrap(), "http-01")
        .await;
    assert_eq!(challenge["status"], "valid", "{challenge}");
    assert!(challenge["validated"].is_string(), "{challenge}");
    let ready = acme.poll(&account, &order_url, &["ready"]).await;

    // A CSR for other names than the order's: badCSR, the order still ready.
    let wrong = acme
        .finalize(&account, &ready.json, &csr_der(&key, &[&a]))
        .await;
    problem(&wrong, "badCSR");
    let r = acme.fetch(&account, &order_url).await;
    assert_eq!(r.json["status"], "ready");

    let fin = acme
        .finalize(&account, &ready.json, &csr_der(&key, &[&a, &b]))
        .await;
    fin.ok(200);
    assert_eq!(fin.header("location").as_deref(), Some(order_url.as_str()));
    let valid = acme.poll(&account, &order_url, &["valid"]).await;
    let cert_url = valid.json["certificate"].as_str().unwrap().to_string();
    let chain = acme.download(&account, &cert_url).await.text();
    let issued = Issued::new(order_url.clone(), cert_url.clone(), chain.clone());
    openssl_verify(&env.s, &chain).await;
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).unwrap();
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(
        sans.contains(&format!("DNSName({a})")) && sans.contains(&format!("DNSName({b})")),
        "{sans:?}"
    );
    let life = issued.not_after - issued.not_before;
    assert!(
        (80 * 86_400..=100 * 86_400).contains(&life),
        "ACME certificates live 90 days: {life}"
    );

    // Finalizing again: the order is no longer ready.
    let again = acme
        .finalize(&account, &ready.json, &csr_der(&key, &[&a, &b]))
        .await;
    problem(&again, "orderNotReady");

    // The account's order list names it.
    let me = acme.fetch(&account, &account.url).await;
    let list = acme
        .fetch(&account, me.json["orders"].as_str().unwrap())
        .await;
    assert_eq!(list.json["orders"], json!([order_url]));

    // The certd order and certificate are the EAB user's, through /services/v2.
    let rest = env
        .s
        .get(&user_key, &format!("/certificate/{}", issued.id()))
        .await;
    rest.ok(200);
    assert_eq!(rest.json["status"], "issued", "{}", rest.text());
    assert_eq!(
        rest.json["serial_number"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase(),
        issued.serial_hex
    );
    let orders = env.s.get(&user_key, "/order/certificate").await;
    orders.ok(200);
    let mine: Vec<&Value> = orders.json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["certificate"]["id"].as_i64() == Some(issued.id()))
        .collect();
    assert_eq!(mine.len(), 1, "{}", orders.text());
    assert_eq!(mine[0]["status"], "issued");
    assert_eq!(mine[0]["certificate"]["common_name"], a.as_str());
    assert_eq!(mine[0]["product"]["name_id"], "ssl_multi_domain");
    // Another user sees neither.
    let other = env.s.user();
    let r = env
        .s
        .get(&other, &format!("/certificate/{}", issued.id()))
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.text());

    // Another account may not read this account's order or certificate.
    let (_, stranger) = env.user_account(Key::p256()).await;
    for url in [
        &order_url,
        &cert_url,
        authzs[0].as_str().unwrap(),
        &account.url,
    ] {
        let r = acme.post(&stranger, url, None).await;
        assert!(r.status == 404 || r.status == 403, "{url}: {}", r.text());
        assert_problem_document(&r);
    }
}

#[tokio::test]
async fn dns01_proves_a_wildcard_name() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (user_key, account) = env.user_account(Key::ed25519()).await;
    let base = name("wild");
    let wildcard = format!("*.{base}");
    let (order_url, order) = acme.new_order(&account, &[&wildcard, &base]).await;
    let authzs = order["authorizations"].as_array().unwrap().clone();
    let mut wildcard_authz = None;
    for authz in &authzs {
        let a = acme
            .fetch(&account, authz.as_str().unwrap())
            .await
            .json
            .clone();
        assert_eq!(a["identifier"]["value"], base.as_str(), "{a}");
        if a["wildcard"] == true {
            wildcard_authz = Some(a);
        }
    }
    let wildcard_authz = wildcard_authz.expect("an authorization with wildcard: true");
    let kinds: Vec<&Value> = wildcard_authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["type"])
        .collect();
    assert_eq!(
        kinds,
        [&json!("dns-01")],
        "a wildcard is proved in DNS only"
    );

    acme.authorize(&account, &authzs, "dns-01", &env.dns01_answer())
        .await;
    let ready = acme.poll(&account, &order_url, &["ready"]).await;
    let key = Key::p384();
    acme.finalize(&account, &ready.json, &csr_der(&key, &[&wildcard, &base]))
        .await
        .ok(200);
    let valid = acme.poll(&account, &order_url, &["valid"]).await;
    let cert_url = valid.json["certificate"].as_str().unwrap();
    let issued = Issued::new(
        order_url.clone(),
        cert_url.to_string(),
        acme.download(&account, cert_url).await.text(),
    );
    openssl_verify(&env.s, &issued.chain).await;
    let rest = env
        .s
        .get(&user_key, &format!("/certificate/{}", issued.id()))
        .await;
    rest.ok(200);
    let names: Vec<&str> = rest.json["dns_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&wildcard.as_str()) || rest.json["common_name"] == wildcard.as_str(),
        "{}",
        rest.text()
    );
}

#[tokio::test]
async fn tls_alpn01_proves_a_name() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let host = name("alpn");
    let (order_url, order) = acme.new_order(&account, &[&host]).await;
    let authzs = order["authorizations"].as_array().unwrap().clone();
    acme.authorize(&account, &authzs, "tls-alpn-01", &env.tls_alpn01_answer())
        .await;
    let ready = acme.poll(&account, &order_url, &["ready"]).await;
    acme.finalize(&account, &ready.json, &csr_der(&Key::p256(), &[&host]))
        .await
        .ok(200);
    let valid = acme.poll(&account, &order_url, &["valid"]).await;
    let chain = acme
        .download(&account, valid.json["certificate"].as_str().unwrap())
        .await
        .text();
    openssl_verify(&env.s, &chain).await;
}

#[tokio::test]
async fn a_failed_challenge_makes_the_authorization_and_order_invalid() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let (order_url, order) = acme.new_order(&account, &[&name("fail")]).await;
    let authz = order["authorizations"][0].as_str().unwrap().to_string();
    // http-01 with nothing published: the responder answers 404.
    let (_, challenge) = acme.challenge(&account, &authz, "http-01").await;
    let r = acme
        .post(
            &account,
            challenge["url"].as_str().unwrap(),
            Some(&json!({})),
        )
        .await;
    r.ok(200);
    let link = r
        .headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert!(
        link.iter()
            .any(|l| l.contains(&authz) && l.contains("rel=\"up\"")),
        "{link:?}"
    );
    let a = acme.poll(&account, &authz, &["valid", "invalid"]).await;
    assert_eq!(a.json["status"], "invalid", "{}", a.text());
    let failed = a.json["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    assert_eq!(failed["status"], "invalid", "{failed}");
    assert!(
        failed["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("404")),
        "{failed}"
    );
    let o = acme.fetch(&account, &order_url).await;
    assert_eq!(o.json["status"], "invalid", "{}", o.text());
    assert!(
        o.json["error"]["type"]
            .as_str()
            .is_some_and(|t| t.starts_with(URN)),
        "{}",
        o.text()
    );
    // Finalizing an invalid order: orderNotReady.
    let fin = acme
        .finalize(&account, &o.json, &csr_der(&Key::p256(), &[&name("x")]))
        .await;
    problem_any(&fin, &["orderNotReady", "badCSR"]);
    // The challenge's error is a problem document (RFC 8555 §7.1.5, §8):
    // its type is an ACME error URN, here unauthorized (the responder
    // answered 404).
    assert_eq!(
        failed["error"]["type"],
        format!("{URN}unauthorized"),
        "{failed}"
    );
}

#[tokio::test]
async fn an_order_waits_in_processing_until_an_administrator_approves_it() {
    let env = Env::start(&[]).await;
    let acme = &env.acme;
    let (user_key, account) = env.user_account(Key::p256()).await;
    let host = name("wait");
    let (order_url, order) = env.ready_order(&account, &[&host]).await;
    let fin = acme
        .finalize(&account, &order, &csr_der(&Key::p256(), &[&host]))
        .await;
    fin.ok(200);
    assert_eq!(fin.json["status"], "processing", "{}", fin.text());
    let retry: u64 = fin
        .header("retry-after")
        .expect("Retry-After while processing")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let still = acme.fetch(&account, &order_url).await;
    assert_eq!(still.json["status"], "processing");
    assert!(still.header("retry-after").is_some());
    assert!(still.json.get("certificate").is_none(), "{}", still.text());

    // The same new_request as a REST order, pending, requested by the EAB user.
    let request = new_request_of(&env.s, &order_url).await;
    assert_eq!(request["status"], "pending", "{request}");
    let me = env.s.me(&user_key).await;
    assert_eq!(request["requester"]["email"], me["email"], "{request}");
    env.s.approve(int(&request["id"])).await.ok(204);

    let valid = acme.poll(&account, &order_url, &["valid"]).await;
    assert!(valid.header("retry-after").is_none());
    let chain = acme
        .download(&account, valid.json["certificate"].as_str().unwrap())
        .await
        .text();
    openssl_verify(&env.s, &chain).await;
}

#[tokio::test]
async fn a_rejected_order_is_invalid_with_the_rejection_comment() {
    let env = Env::start(&[]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let host = name("rej");
    let (order_url, order) = env.ready_order(&account, &[&host]).await;
    acme.finalize(&account, &order, &csr_der(&Key::p256(), &[&host]))
        .await
        .ok(200);
    let request = new_request_of(&env.s, &order_url).await;
    let comment = "Team unknown: ask the platform group first";
    env.s
        .put(
            env.s.admin(),
            &format!("/request/{}/status", request["id"]),
            json!({"status": "rejected", "processor_comment": comment}),
        )
        .await
        .ok(204);
    let invalid = acme.poll(&account, &order_url, &["invalid", "valid"]).await;
    assert_eq!(invalid.json["status"], "invalid", "{}", invalid.text());
    let error = &invalid.json["error"];
    assert!(
        error["type"].as_str().is_some_and(|t| t.starts_with(URN)),
        "{error}"
    );
    let detail = error["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(comment),
        "the error names the rejection: {error}"
    );
    assert!(detail.contains("rejected"), "{error}");
    assert!(invalid.json.get("certificate").is_none());
}

// ---------------------------------------------------------------------------
// revokeCert
// ---------------------------------------------------------------------------

/// A revokeCert payload.
fn revocation(issued: &Issued, reason: Option<i64>) -> Value {
    let mut payload = json!({"certificate": b64(&issued.der)});
    if let Some(reason) = reason {
        payload["reason"] = json!(reason);
    }
    payload
}

/// The one revoke request of a certificate, approved.
async fn approved_revoke_request(s: &Server, cert: i64) -> Value {
    let requests = s.revoke_requests_for(cert).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = requests[0].clone();
    assert_eq!(request["status"], "approved", "{request}");
    request
}

#[tokio::test]
async fn revoke_cert_by_the_owning_account() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (user_key, account) = env.user_account(Key::p256()).await;
    let me = env.s.me(&user_key).await;
    let first = env.issue(&account, &[&name("rv")], &Key::p256()).await;
    let second = env.issue(&account, &[&name("rv")], &Key::p256()).await;
    let revoke_url = acme.url("revokeCert");

    // Refused reasons change nothing.
    let before = env.s.snapshot(&[first.id(), second.id()]).await;
    for reason in [6, 2, 7, 8, 10, 11, -1, 1_000] {
        let r = acme
            .post(
                &account,
                &revoke_url,
                Some(&revocation(&second, Some(reason))),
            )
            .await;
        problem(&r, "badRevocationReason");
    }
    env.s
        .assert_unchanged(&before, &[first.id(), second.id()])
        .await;

    // superseded: revoked at once, 200 with an empty body.
    let r = acme
        .post(&account, &revoke_url, Some(&revocation(&first, Some(4))))
        .await;
    r.ok(200);
    let cert = env.s.cert(first.id()).await;
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert_eq!(cert["revocation_reason"], "superseded", "{cert}");
    let request = approved_revoke_request(&env.s, first.id()).await;
    assert_eq!(request["revocation_reason"], "superseded", "{request}");
    assert_eq!(request["requester"]["email"], me["email"], "{request}");
    assert_eq!(request["requester"]["id"], me["id"], "{request}");
    // The user sees it through their own key too.
    env.s
        .get(&user_key, &format!("/request/{}", request["id"]))
        .await
        .ok(200);
    // OCSP and the CRL say so (the publisher works within 5 s).
    wait_for_crl_listing(&first).await;

    // Again: alreadyRevoked, nothing recorded.
    let before = env.s.snapshot(&[first.id(), second.id()]).await;
    let r = acme
        .post(&account, &revoke_url, Some(&revocation(&first, Some(4))))
        .await;
    problem(&r, "alreadyRevoked");
    let r = acme
        .post(&account, &revoke_url, Some(&revocation(&first, None)))
        .await;
    problem(&r, "alreadyRevoked");
    env.s
        .assert_unchanged(&before, &[first.id(), second.id()])
        .await;

    // No reason: unspecified.
    acme.post(&account, &revoke_url, Some(&revocation(&second, None)))
        .await
        .ok(200);
    let cert = env.s.cert(second.id()).await;
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert!(
        cert["revocation_reason"].is_null() || cert["revocation_reason"] == "unspecified",
        "{cert}"
    );

    // A certificate certd never issued (same serial, other bytes) is not found.
    let mut forged = first.der.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let r = acme
        .post(
            &account,
            &revoke_url,
            Some(&json!({"certificate": b64(&forged)})),
        )
        .await;
    assert!(r.status == 404 || r.status == 400, "{}", r.text());
    assert_problem_document(&r);
}

#[tokio::test]
async fn revoke_cert_refuses_an_administrator_reason_as_bad_revocation_reason() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let issued = env.issue(&account, &[&name("pw")], &Key::p256()).await;
    let before = env.s.snapshot(&[issued.id()]).await;
    // privilegeWithdrawn (9) is an administrator's reason, which this user's
    // REST revoke refuses; contract section 8: "refused reason:
    // badRevocationReason" (RFC 8555 §7.6: "The revocation reason provided
    // is not allowed by the server").
    let r = acme
        .post(
            &account,
            &acme.url("revokeCert"),
            Some(&revocation(&issued, Some(9))),
        )
        .await;
    problem(&r, "badRevocationReason");
    env.s.assert_unchanged(&before, &[issued.id()]).await;
}

/// Waits until the CRL shard the certificate names (its distribution
/// point) lists it (5 s at most).
async fn wait_for_crl_listing(issued: &Issued) {
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).unwrap();
    let url = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::CRLDistributionPoints(points) => {
                points.iter().find_map(|p| match &p.distribution_point {
                    Some(x509_parser::extensions::DistributionPointName::FullName(names)) => {
                        names.iter().find_map(|n| match n {
                            x509_parser::extensions::GeneralName::URI(uri) => Some(uri.to_string()),
                            _ => None,
                        })
                    }
                    _ => None,
                })
            }
            _ => None,
        })
        .expect("a CRL distribution point");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&bytes).expect("a DER CRL");
        if crl.iter_revoked_certificates().any(|c| {
            hex::encode(c.raw_serial()).trim_start_matches('0')
                == issued.serial_hex.trim_start_matches('0')
        }) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} does not list {} after 5 s",
            issued.serial_hex
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn revoke_cert_by_an_account_holding_authorizations_for_every_name() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, owner) = env.user_account(Key::p256()).await;
    let (a, b) = (name("ra"), name("rb"));
    let issued = env.issue(&owner, &[&a, &b], &Key::p256()).await;
    let revoke_url = acme.url("revokeCert");

    // Another user's account with no authorization: unauthorized.
    let (other_key, other) = env.user_account(Key::p384()).await;
    let before = env.s.snapshot(&[issued.id()]).await;
    let r = acme
        .post(&other, &revoke_url, Some(&revocation(&issued, Some(4))))
        .await;
    problem(&r, "unauthorized");
    // With an authorization for one of the two names only: still unauthorized.
    env.ready_order(&other, &[&a]).await;
    let r = acme
        .post(&other, &revoke_url, Some(&revocation(&issued, Some(4))))
        .await;
    problem(&r, "unauthorized");
    // A pending (not yet valid) authorization for the other name does not count.
    acme.new_order(&other, &[&b]).await;
    let r = acme
        .post(&other, &revoke_url, Some(&revocation(&issued, None)))
        .await;
    problem(&r, "unauthorized");
    env.s.assert_unchanged(&before, &[issued.id()]).await;

    // Valid authorizations for both: revoked, recorded as cessationOfOperation
    // whatever was asked, by the other account's user.
    env.ready_order(&other, &[&b]).await;
    let r = acme
        .post(&other, &revoke_url, Some(&revocation(&issued, Some(4))))
        .await;
    r.ok(200);
    let cert = env.s.cert(issued.id()).await;
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert_eq!(cert["revocation_reason"], "cessationOfOperation", "{cert}");
    let request = approved_revoke_request(&env.s, issued.id()).await;
    assert_eq!(
        request["revocation_reason"], "cessationOfOperation",
        "{request}"
    );
    let other_me = env.s.me(&other_key).await;
    assert_eq!(
        request["requester"]["email"], other_me["email"],
        "{request}"
    );
}

#[tokio::test]
async fn revoke_cert_signed_with_the_certificate_key_blocks_the_key() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let cert_key = Key::p256();
    let issued = env.issue(&account, &[&name("kc")], &cert_key).await;
    // A second certificate with the same key, and one with another key.
    let sibling = env.issue(&account, &[&name("kc")], &cert_key).await;
    let unrelated = env.issue(&account, &[&name("kc")], &Key::p256()).await;
    let revoke_url = acme.url("revokeCert");

    // Signed with a key that is not the certificate's: unauthorized.
    let before = env.s.snapshot(&[issued.id(), sibling.id()]).await;
    let r = acme
        .signed(
            &Key::p256(),
            By::Jwk,
            &revoke_url,
            Some(&revocation(&issued, Some(1))),
        )
        .await;
    problem(&r, "unauthorized");
    // Signed with the account key but given as jwk: not the certificate's either.
    let r = acme
        .signed(
            &account.key,
            By::Jwk,
            &revoke_url,
            Some(&revocation(&issued, Some(1))),
        )
        .await;
    problem(&r, "unauthorized");
    env.s
        .assert_unchanged(&before, &[issued.id(), sibling.id()])
        .await;

    // Signed with the certificate's key, asking for superseded: keyCompromise.
    let r = acme
        .signed(
            &cert_key,
            By::Jwk,
            &revoke_url,
            Some(&revocation(&issued, Some(4))),
        )
        .await;
    r.ok(200);
    let cert = env.s.cert(issued.id()).await;
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert_eq!(cert["revocation_reason"], "keyCompromise", "{cert}");
    let request = approved_revoke_request(&env.s, issued.id()).await;
    assert_eq!(request["revocation_reason"], "keyCompromise", "{request}");
    let requester = format!(
        "{} {}",
        request["requester"]["first_name"]
            .as_str()
            .unwrap_or_default(),
        request["requester"]["last_name"]
            .as_str()
            .unwrap_or_default()
    );
    assert_eq!(requester, "holder of the certificate key", "{request}");

    // The key is blocked, and listed.
    let blocked = env.s.get(env.s.admin(), "/blocked-key").await;
    blocked.ok(200);
    let list = blocked.json["blocked_keys"].as_array().unwrap();
    assert!(
        list.iter()
            .any(|k| k["spki_sha256"] == cert_key.spki_sha256().as_str()
                && k["certificate_id"] == issued.id()),
        "{}",
        blocked.text()
    );
    // The sibling is revoked keyCompromise within 5 s; the unrelated one stays.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let c = env.s.cert(sibling.id()).await;
        if c["status"] == "revoked" {
            assert_eq!(c["revocation_reason"], "keyCompromise", "{c}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sibling not revoked after 5 s: {c}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(env.s.cert_status(unrelated.id()).await, "issued");

    // Again with the key: alreadyRevoked.
    let r = acme
        .signed(
            &cert_key,
            By::Jwk,
            &revoke_url,
            Some(&revocation(&issued, Some(1))),
        )
        .await;
    problem(&r, "alreadyRevoked");

    // A new order for the blocked key: badPublicKey at finalize, and
    // nothing recorded.
    let host = name("kc");
    let (order_url, order) = env.ready_order(&account, &[&host]).await;
    let before = env.s.snapshot(&[]).await;
    let r = acme
        .finalize(&account, &order, &csr_der(&cert_key, &[&host]))
        .await;
    problem(&r, "badPublicKey");
    env.s.assert_unchanged(&before, &[]).await;
    let o = acme.fetch(&account, &order_url).await;
    assert_eq!(
        o.json["status"],
        "ready",
        "a refused finalize leaves the order ready: {}",
        o.text()
    );
    // Another key still works.
    acme.finalize(&account, &order, &csr_der(&Key::p256(), &[&host]))
        .await
        .ok(200);
    // The REST API refuses it too.
    let rest_csr = {
        let der = csr_der(&cert_key, &[&host]);
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN CERTIFICATE REQUEST-----\n{b}\n-----END CERTIFICATE REQUEST-----\n")
    };
    let r = env
        .s
        .post(
            env.s.admin(),
            "/order/certificate/ssl_basic",
            json!({"certificate": {"common_name": host, "csr": rest_csr}, "validity_years": 1}),
        )
        .await;
    r.error(400).code("invalid_csr|key_blocked");
}

use base64::Engine as _;

// ---------------------------------------------------------------------------
// Renewal information (RFC 9773)
// ---------------------------------------------------------------------------

async fn renewal_info(acme: &Acme, cert_id: &str) -> Resp {
    acme.get(&format!("{}/{cert_id}", acme.url("renewalInfo")))
        .await
}

/// A certificate an approved campaign will revoke (here scheduled a day
/// ahead) gets a window that is over already, so ARI clients renew at once;
/// one the campaign holds back keeps its ordinary window.
#[tokio::test]
async fn renewal_info_says_renew_now_for_a_certificate_a_campaign_will_revoke() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let doomed = env.issue(&account, &[&name("ari")], &Key::p256()).await;
    let held = env.issue(&account, &[&name("ari")], &Key::p256()).await;
    let window = |r: &Resp| {
        (
            unix(&r.json["suggestedWindow"]["start"]),
            unix(&r.json["suggestedWindow"]["end"]),
        )
    };
    let (start, _) = window(&renewal_info(acme, &doomed.cert_id).await);
    assert!(start > now(), "not due yet before the campaign");

    let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let revoke_at = tomorrow
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = env
        .s
        .post(
            env.s.admin(),
            "/campaign",
            json!({"name": "ari", "reason": "superseded", "revoke_at": revoke_at,
                   "selector": {"certificate_ids": [doomed.id(), held.id()]}}),
        )
        .await;
    r.ok(201);
    let campaign = r.id();
    env.s
        .post(
            env.s.admin(),
            &format!("/campaign/{campaign}/hold"),
            json!({"certificate_id": held.id()}),
        )
        .await
        .ok(200);
    // Pending: nothing is decided yet.
    let (start, _) = window(&renewal_info(acme, &doomed.cert_id).await);
    assert!(start > now(), "a pending campaign changes no window");
    let approver = env.s.add_user("administrator", false);
    let r = env
        .s
        .put(
            &approver,
            &format!("/campaign/{campaign}/status"),
            json!({"status": "approved"}),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["status"], "scheduled");

    let r = renewal_info(acme, &doomed.cert_id).await;
    r.ok(200);
    let (start, end) = window(&r);
    assert!(start < end && end <= now(), "renew now: {}", r.text());
    let (start, _) = window(&renewal_info(acme, &held.cert_id).await);
    assert!(start > now(), "the held certificate keeps its window");
}

#[tokio::test]
async fn renewal_info_windows_and_replaces() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let valid = env.issue(&account, &[&name("ari")], &Key::p256()).await;
    let revoked = env.issue(&account, &[&name("ari")], &Key::p256()).await;
    let blocked_key = Key::p256();
    let compromised = env.issue(&account, &[&name("ari")], &blocked_key).await;
    let blocked = env.issue(&account, &[&name("ari")], &blocked_key).await;

    // Valid: the window lies in the last third of the validity.
    let r = renewal_info(acme, &valid.cert_id).await;
    r.ok(200);
    assert!(
        r.header("retry-after")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "Retry-After"
    );
    let (start, end) = (
        unix(&r.json["suggestedWindow"]["start"]),
        unix(&r.json["suggestedWindow"]["end"]),
    );
    let life = valid.not_after - valid.not_before;
    assert!(start < end, "{}", r.text());
    assert!(
        start >= valid.not_before + life * 2 / 3 - 1,
        "{} vs {life}",
        r.text()
    );
    assert!(end <= valid.not_after, "{}", r.text());

    // Revoked: the window ends before the revocation.
    acme.post(
        &account,
        &acme.url("revokeCert"),
        Some(&revocation(&revoked, Some(4))),
    )
    .await
    .ok(200);
    let revoked_at = unix(&env.s.cert(revoked.id()).await["date_revoked"]);
    let r = renewal_info(acme, &revoked.cert_id).await;
    r.ok(200);
    let (start, end) = (
        unix(&r.json["suggestedWindow"]["start"]),
        unix(&r.json["suggestedWindow"]["end"]),
    );
    assert!(
        start < end && end <= revoked_at && end <= now(),
        "{} (revoked at {revoked_at})",
        r.text()
    );

    // Key blocked (the other certificate with the key revoked keyCompromise):
    // the window is over already.
    acme.signed(
        &blocked_key,
        By::Jwk,
        &acme.url("revokeCert"),
        Some(&revocation(&compromised, None)),
    )
    .await
    .ok(200);
    let r = renewal_info(acme, &blocked.cert_id).await;
    r.ok(200);
    let end = unix(&r.json["suggestedWindow"]["end"]);
    assert!(end <= now(), "{}", r.text());

    // Unknown certificates: 404 problems; garbage: 400 malformed.
    let (aki, serial) = valid.cert_id.split_once('.').unwrap();
    for unknown in [
        format!(
            "{aki}.{}",
            b64([0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07])
        ),
        format!("{}.{serial}", b64([9u8; 20])),
    ] {
        let r = renewal_info(acme, &unknown).await;
        assert_eq!(r.status, 404, "{unknown}: {}", r.text());
        assert_problem_document(&r);
    }
    for garbage in [
        "garbage",
        "a.b.c",
        "%2e%2e%2e",
        "....",
        "AAAA.",
        ".AAAA",
        "!!!.???",
        "AAAA=.AAAA",
    ] {
        let r = renewal_info(acme, garbage).await;
        assert!(
            r.status == 400 || r.status == 404,
            "{garbage}: {}",
            r.text()
        );
        assert_problem_document(&r);
        if r.status == 400 {
            problem(&r, "malformed");
        }
    }
    problem(&renewal_info(acme, "garbage").await, "malformed");
    // POST is not how renewalInfo is asked.
    let r = acme
        .post_raw(
            &format!("{}/{}", acme.url("renewalInfo"), valid.cert_id),
            Some("application/jose+json"),
            b"{}".to_vec(),
        )
        .await;
    assert!(r.status == 405 || r.status == 400, "{}", r.text());
    assert_problem_document(&r);

    // replaces: the account's own certificate is accepted and echoed.
    let r = acme
        .new_order_resp(&account, &[&name("ari")], Some(&valid.cert_id))
        .await;
    r.ok(201);
    assert_eq!(r.json["replaces"], valid.cert_id.as_str(), "{}", r.text());
    // Another user's certificate, or an unknown one, is refused, nothing recorded.
    let (_, other) = env.user_account(Key::p256()).await;
    let before = env.s.snapshot(&[]).await;
    let r = acme
        .new_order_resp(&other, &[&name("ari")], Some(&valid.cert_id))
        .await;
    problem_any(&r, &["malformed", "unauthorized"]);
    let unknown = format!("{aki}.{}", b64([0x7f, 1, 2, 3]));
    let r = acme
        .new_order_resp(&account, &[&name("ari")], Some(&unknown))
        .await;
    problem_any(&r, &["malformed", "unauthorized"]);
    let r = acme
        .new_order_resp(&account, &[&name("ari")], Some("garbage"))
        .await;
    problem(&r, "malformed");
    env.s.assert_unchanged(&before, &[]).await;
}

// ---------------------------------------------------------------------------
// keyChange and deactivation
// ---------------------------------------------------------------------------

/// The keyChange request of RFC 8555 §7.3.5: the inner JWS by `new_key`.
fn key_change_inner(account: &Account, new_key: &Key, url: &str) -> Value {
    let protected = json!({"alg": new_key.alg(), "jwk": new_key.jwk(), "url": url});
    let payload = json!({"account": account.url, "oldKey": account.key.jwk()});
    flattened(new_key, &protected, &body(&payload))
}

#[tokio::test]
async fn key_change_rolls_the_account_key() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let (_, other) = env.user_account(Key::p256()).await;
    let url = acme.url("keyChange");
    let new_key = Key::ed25519();

    // Refused rollovers change nothing.
    let before = env.s.snapshot(&[]).await;
    // Inner JWS not signed by the key it names.
    let mut forged = key_change_inner(&account, &new_key, &url);
    forged["signature"] = json!(b64(Key::ed25519().sign(b"x")));
    problem(&acme.post(&account, &url, Some(&forged)).await, "malformed");
    // Inner JWS for another URL.
    let inner = key_change_inner(&account, &new_key, &acme.url("newOrder"));
    problem_any(
        &acme.post(&account, &url, Some(&inner)).await,
        &["malformed", "unauthorized"],
    );
    // Naming the wrong old key.
    let wrong_old = Account {
        key: Key::p256(),
        url: account.url.clone(),
    };
    let inner = key_change_inner(&wrong_old, &new_key, &url);
    problem_any(
        &acme.post(&account, &url, Some(&inner)).await,
        &["malformed", "unauthorized"],
    );
    // Naming another account.
    let wrong_account = Account {
        key: Key::p256(),
        url: other.url.clone(),
    };
    let mut inner = key_change_inner(&wrong_account, &new_key, &url);
    let payload = json!({"account": other.url, "oldKey": account.key.jwk()});
    inner = {
        let _ = inner;
        flattened(
            &new_key,
            &json!({"alg": new_key.alg(), "jwk": new_key.jwk(), "url": url}),
            &body(&payload),
        )
    };
    problem_any(
        &acme.post(&account, &url, Some(&inner)).await,
        &["malformed", "unauthorized"],
    );
    // To a key another account has: 409 with that account's Location.
    let inner = key_change_inner(&account, &other.key, &url);
    let r = acme.post(&account, &url, Some(&inner)).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_problem_document(&r);
    assert_eq!(r.header("location").as_deref(), Some(other.url.as_str()));
    env.s.assert_unchanged(&before, &[]).await;

    // The real rollover.
    let r = acme
        .post(
            &account,
            &url,
            Some(&key_change_inner(&account, &new_key, &url)),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["status"], "valid", "{}", r.text());

    // The old key no longer signs for the account (its ES256 signature is
    // checked against the account's Ed25519 key now).
    let r = acme.post(&account, &account.url, None).await;
    problem_any(&r, &["malformed", "unauthorized", "badSignatureAlgorithm"]);
    let r = acme
        .signed(
            &account.key,
            By::Jwk,
            &acme.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    problem(&r, "accountDoesNotExist");
    // The new one does, and finds the same account.
    let rolled = Account {
        key: new_key,
        url: account.url.clone(),
    };
    acme.fetch(&rolled, &rolled.url).await;
    let r = acme
        .signed(
            &rolled.key,
            By::Jwk,
            &acme.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    r.ok(200);
    assert_eq!(r.header("location").as_deref(), Some(account.url.as_str()));
    // Challenges are answered with the new key's thumbprint.
    env.issue(&rolled, &[&name("kch")], &Key::p256()).await;
}

#[tokio::test]
async fn a_deactivated_account_can_do_nothing() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, account) = env.user_account(Key::p256()).await;
    let issued = env.issue(&account, &[&name("deact")], &Key::p256()).await;
    let (order_url, _) = acme.new_order(&account, &[&name("deact")]).await;

    // Only "deactivated" is a status a client may set.
    let r = acme
        .post(&account, &account.url, Some(&json!({"status": "revoked"})))
        .await;
    problem(&r, "malformed");

    let r = acme
        .post(
            &account,
            &account.url,
            Some(&json!({"status": "deactivated"})),
        )
        .await;
    r.ok(200);
    assert_eq!(r.json["status"], "deactivated", "{}", r.text());

    let before = env.s.snapshot(&[issued.id()]).await;
    for (url, payload) in [
        (account.url.clone(), None),
        (account.url.clone(), Some(json!({"status": "deactivated"}))),
        (
            acme.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": name("deact")}]})),
        ),
        (order_url.clone(), None),
        (issued.cert_url.clone(), None),
        (acme.url("revokeCert"), Some(revocation(&issued, Some(4)))),
    ] {
        let r = acme.post(&account, &url, payload.as_ref()).await;
        problem(&r, "unauthorized");
        assert_eq!(r.status, 403, "{url}: {}", r.text());
    }
    env.s.assert_unchanged(&before, &[issued.id()]).await;
    // newAccount with the key finds the deactivated account? RFC 8555 §7.3.6:
    // the server must not accept further requests signed with it.
    let r = acme
        .signed(
            &account.key,
            By::Jwk,
            &acme.url("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    assert!(
        r.status >= 400 || r.json["status"] == "deactivated",
        "{}",
        r.text()
    );
    if r.status >= 400 {
        problem_any(&r, &["unauthorized", "accountDoesNotExist"]);
    }
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_requests_keep_the_acme_invariants() {
    let env = Env::start(&["--auto-approve", "orders"]).await;
    let acme = &env.acme;
    let (_, user_id, _) = env.user().await;
    let (_, account) = env.user_account(Key::p256()).await;

    // One nonce sent eight times at once: exactly one request gets through.
    let nonce = acme.nonce().await;
    let read = flattened(
        &account.key,
        &header(
            &account.key,
            By::Kid(&account.url),
            Some(&nonce),
            &account.url,
        ),
        b"",
    );
    let answers =
        futures::future::join_all((0..8).map(|_| acme.post_jws(&account.url, &read))).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "a nonce is good once: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        problem(r, "badNonce");
    }

    // One EAB credential offered by eight keys at once: one account.
    let credential = eab_for(&env.s, user_id).await;
    let keys: Vec<Key> = (0..8).map(|_| Key::p256()).collect();
    let answers = futures::future::join_all(
        keys.iter()
            .map(|k| acme.new_account_resp(k, Some(&credential))),
    )
    .await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 201) {
        problem(r, "unauthorized");
    }

    // One ready order finalized twice at once: one certd order.
    let host = name("race");
    let (order_url, order) = env.ready_order(&account, &[&host]).await;
    let csrs = [
        csr_der(&Key::p256(), &[&host]),
        csr_der(&Key::p256(), &[&host]),
    ];
    let answers =
        futures::future::join_all(csrs.iter().map(|c| acme.finalize(&account, &order, c))).await;
    assert!(
        answers.iter().any(|r| r.status == 200),
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        problem(r, "orderNotReady");
    }
    new_request_of(&env.s, &order_url).await;
    let valid = acme.poll(&account, &order_url, &["valid"]).await;
    assert!(valid.json["certificate"].is_string());
}

#[tokio::test]
async fn concurrent_new_accounts_with_one_key_all_answer_that_account() {
    let env = Env::start(&[]).await;
    let acme = &env.acme;
    let (_, user_id, _) = env.user().await;
    // One key registered sixteen times at once (each with its own credential):
    // one account, and every answer names it (RFC 8555 §7.3.1: an existing
    // key gets 200 and its account).
    let key = Key::p256();
    let mut credentials = Vec::new();
    for _ in 0..16 {
        credentials.push(eab_for(&env.s, user_id).await);
    }
    let answers = futures::future::join_all(
        credentials
            .iter()
            .map(|c| acme.new_account_resp(&key, Some(c))),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    let locations: std::collections::HashSet<Option<String>> =
        answers.iter().map(|r| r.header("location")).collect();
    assert_eq!(
        locations.len(),
        1,
        "{locations:?} {:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    // The credentials of the losers bind nothing: one still registers a new key.
    let unused = credentials
        .iter()
        .zip(&answers)
        .find(|(_, r)| r.status != 201)
        .map(|(c, _)| c.clone())
        .unwrap();
    acme.register(Key::p256(), Some(&unused)).await;
}
