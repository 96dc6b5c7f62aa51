//! Contract section 8 with real ACME clients: certbot and lego register with
//! External Account Binding, get certificates over http-01, renew and revoke
//! them (by account key and by certificate key) against a real `certd serve`;
//! certbot waits for an administrator's approval and follows renewal
//! information. The relying party's view is checked with `openssl`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::acme_support::*;
use crate::harness::*;
use crate::publication::Certificate;

/// Longest time a revocation may take to show in the CRL and OCSP.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

/// Polls OCSP and the CRL shard of `cert_file` until both say revoked with
/// `reason` (as `openssl ocsp` prints it); fails 5 s after `since`.
async fn assert_published_revoked(
    env: &AcmeEnv,
    cert_file: &Path,
    reason: &str,
    since: Instant,
) -> i64 {
    let s = &env.server;
    let id = env.certificate_id(cert_file).await;
    let cert = Certificate::download(s, id).await;
    let serial = serial_of(cert_file);
    let (mut ocsp, mut in_crl) = (String::new(), false);
    while since.elapsed() <= VISIBLE_WITHIN {
        ocsp = cert.ocsp(&s.url("/ocsp"));
        in_crl = cert
            .crl_serials_on(s)
            .await
            .iter()
            .any(|listed| listed.trim_start_matches('0') == serial.trim_start_matches('0'));
        if ocsp.contains(": revoked") && in_crl {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ocsp.contains(": revoked") && in_crl,
        "certificate {id} not revoked in OCSP and CRL within {VISIBLE_WITHIN:?} \
         (in CRL: {in_crl}); OCSP: {ocsp}"
    );
    assert!(
        ocsp.contains(&format!("Reason: {reason}")),
        "OCSP reason is not {reason}: {ocsp}"
    );
    assert_eq!(s.cert_status(id).await, "revoked");
    id
}

/// The revoke requests for certificate `cert_id` that `key` sees.
async fn revoke_requests(s: &Server, key: &str, cert_id: i64) -> Vec<Value> {
    let r = s.get(key, "/request?filters[type]=revoke").await;
    r.ok(200);
    r.json["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["order"]["certificate"]["id"].as_i64() == Some(cert_id))
        .cloned()
        .collect()
}

/// The one approved revoke request of `cert_id`, as the owner sees it.
async fn assert_approved_revoke_request(
    s: &Server,
    key: &str,
    cert_id: i64,
    reason: &str,
) -> Value {
    let found = revoke_requests(s, key, cert_id).await;
    assert_eq!(found.len(), 1, "revoke requests of {cert_id}: {found:?}");
    let q = found[0].clone();
    assert_eq!(q["status"], "approved", "{q}");
    assert_eq!(q["revocation_reason"], reason, "{q}");
    q
}

/// Asserts the certificate in `file` belongs to `user`: the user sees its
/// order through `/services/v2` and another user does not.
async fn assert_visible_to(env: &AcmeEnv, user: &EabUser, file: &Path) -> Value {
    let order = env.order_of(&user.key, file).await.unwrap_or_else(|| {
        panic!(
            "{} does not see the order of serial {}",
            user.email,
            serial_of(file)
        )
    });
    let other = env.server.user();
    assert!(
        env.order_of(&other, file).await.is_none(),
        "another user sees the ACME order"
    );
    let full = env.server.order(int(&order["id"])).await;
    assert_eq!(full["status"], "issued", "{full}");
    order
}

// ---------------------------------------------------------------------------
// certbot
// ---------------------------------------------------------------------------

#[tokio::test]
async fn certbot_registers_with_eab_issues_renews_and_revokes_by_account_key() {
    let env = AcmeEnv::auto_approved();
    let user = env.user_with_eab();
    let name = acme_name("cb");

    // Without EAB: refused. certbot reads `externalAccountRequired` in the
    // directory's meta and says so before it sends newAccount.
    let bare = Certbot::new(&env);
    bare.run("register", &[])
        .await
        .fails_with("external account binding");

    // A key id certd never issued, and a MAC made with the wrong key: the
    // server refuses (an ACME error, not a client-side check).
    let forged = EabUser {
        kid: format!("{}x", user.kid),
        ..user.clone()
    };
    bare.register_eab(&forged)
        .await
        .fails_with_problem("unauthorized");
    let wrong_mac = EabUser {
        hmac: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U".into(),
        ..user.clone()
    };
    bare.register_eab(&wrong_mac)
        .await
        .fails_with_problem("unauthorized");

    let certbot = Certbot::new(&env);
    certbot.register_eab(&user).await.ok();
    // A credential binds one account.
    let again = Certbot::new(&env);
    again
        .register_eab(&user)
        .await
        .fails_with_problem("unauthorized");

    certbot.certonly(&[&name], &[]).await.ok();
    let first = certbot.keep_copy(&name, "first").0;
    env.verify(&first).await;
    assert_visible_to(&env, &user, &first).await;

    // Renewal: a new certificate, the same user's.
    certbot.renew(&["--force-renewal"]).await.ok();
    let second = certbot.keep_copy(&name, "second").0;
    assert_ne!(
        serial_of(&first),
        serial_of(&second),
        "renewal kept the serial"
    );
    env.verify(&second).await;
    assert_visible_to(&env, &user, &second).await;

    // Revocation with the account key, for a reason the user may give.
    certbot.revoke(&second, "superseded", &[]).await.ok();
    let id = assert_published_revoked(&env, &second, "superseded", Instant::now()).await;
    let q = assert_approved_revoke_request(&env.server, &user.key, id, "superseded").await;
    assert_eq!(q["requester"]["email"], user.email.as_str(), "{q}");
    // The first certificate is untouched.
    let first_id = env.certificate_id(&first).await;
    assert_eq!(env.server.cert_status(first_id).await, "issued");
}

#[tokio::test]
async fn certbot_revokes_by_certificate_key_which_blocks_the_key_everywhere() {
    let env = AcmeEnv::auto_approved();
    let user = env.user_with_eab();
    let name = acme_name("kc");
    let certbot = Certbot::new(&env);
    certbot.register_eab(&user).await.ok();
    certbot.certonly(&[&name], &[]).await.ok();
    let (first, key) = certbot.keep_copy(&name, "first");
    // A second certificate with the same key.
    certbot
        .renew(&["--force-renewal", "--reuse-key"])
        .await
        .ok();
    let (second, key2) = certbot.keep_copy(&name, "second");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        std::fs::read(&key2).unwrap(),
        "--reuse-key changed the key"
    );
    assert_ne!(serial_of(&first), serial_of(&second));
    let spki = spki_sha256_of(&first);

    // Revoke the first with its own key (a JWK-signed revokeCert).
    let key_arg = key.display().to_string();
    certbot
        .revoke(&first, "keycompromise", &["--key-path", &key_arg])
        .await
        .ok();
    let revoked = Instant::now();
    let first_id = assert_published_revoked(&env, &first, "keyCompromise", revoked).await;
    let admin = env.server.admin().to_string();
    let q = assert_approved_revoke_request(&env.server, &admin, first_id, "keyCompromise").await;
    // Not the account's user: whoever holds the key (docs/decisions.md).
    assert_eq!(
        q["requester"]["email"], "certificate-key-holder@certd.invalid",
        "{q}"
    );

    // The key is blocked ...
    let blocked = env.server.get(&admin, "/blocked-key").await;
    blocked.ok(200);
    let entry = blocked.json["blocked_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["spki_sha256"].as_str().map(str::to_ascii_lowercase) == Some(spki.clone()))
        .unwrap_or_else(|| panic!("{spki} not blocked: {}", blocked.text()))
        .clone();
    assert_eq!(int(&entry["certificate_id"]), first_id, "{entry}");
    // ... the other certificate with it is revoked keyCompromise within 5 s ...
    assert_published_revoked(&env, &second, "keyCompromise", revoked).await;
    // ... and no new certificate gets it: not through ACME ...
    certbot
        .renew(&["--force-renewal", "--reuse-key"])
        .await
        .fails_with_problem("badPublicKey");
    // ... nor through the REST API.
    let csr = csr_for_key(certbot.dir.path(), &key, &acme_name("rest"));
    let r = env
        .server
        .post(
            &user.key,
            "/order/certificate/ssl_basic",
            json!({"certificate": {"common_name": acme_name("rest"), "csr": csr}, "validity_years": 1}),
        )
        .await;
    r.error(400).code("invalid_csr|key_blocked");
}

/// A CSR for `key` (PEM private key file) made with `openssl req`.
fn csr_for_key(dir: &Path, key: &Path, cn: &str) -> String {
    let out = dir.join(format!("{cn}.csr"));
    let st = std::process::Command::new("openssl")
        .args(["req", "-new", "-subj", &format!("/CN={cn}"), "-key"])
        .arg(key)
        .arg("-out")
        .arg(&out)
        .status()
        .expect("run openssl req");
    assert!(st.success(), "openssl req failed");
    std::fs::read_to_string(out).unwrap()
}

/// The pending `new_request` requests, newest first (administrator's view).
async fn pending_new_requests(s: &Server) -> Vec<Value> {
    let r = s
        .get(
            s.admin(),
            "/request?filters[status]=pending&filters[type]=new_request&sort=-id",
        )
        .await;
    r.ok(200);
    r.json["requests"].as_array().unwrap().clone()
}

/// Waits (up to 30 s) for the pending new_request of the order for `name`
/// (or the only pending one, if requests do not name their order's names).
async fn wait_for_pending_request(s: &Server, name: &str) -> i64 {
    let started = Instant::now();
    loop {
        let pending = pending_new_requests(s).await;
        if let Some(q) = pending.iter().find(|q| q.to_string().contains(name)) {
            return int(&q["id"]);
        }
        if pending.len() == 1 {
            return int(&pending[0]["id"]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pending new_request for {name}: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_waits_for_approval_and_reports_a_rejection() {
    // Every order needs an administrator.
    let env = AcmeEnv::start(&[]);
    let user = env.user_with_eab();
    let certbot = std::sync::Arc::new(Certbot::new(&env));
    certbot.register_eab(&user).await.ok();

    // Approved: certbot polls the `processing` order until it is valid.
    let name = acme_name("ap");
    let run = {
        let (certbot, name) = (certbot.clone(), name.clone());
        tokio::spawn(async move {
            certbot
                .certonly(&[&name], &["--issuance-timeout", "60"])
                .await
        })
    };
    let request = wait_for_pending_request(&env.server, &name).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!run.is_finished(), "certbot did not wait for the approval");
    env.server.approve(request).await.ok(204);
    run.await.unwrap().ok();
    let cert = certbot.live(&name, "cert.pem");
    env.verify(&cert).await;
    assert_visible_to(&env, &user, &cert).await;

    // Rejected: the order becomes invalid and certbot says why.
    let name = acme_name("rj");
    let run = {
        let (certbot, name) = (certbot.clone(), name.clone());
        tokio::spawn(async move {
            certbot
                .certonly(&[&name], &["--issuance-timeout", "60"])
                .await
        })
    };
    let request = wait_for_pending_request(&env.server, &name).await;
    let comment = format!("no certificates for {name} this quarter");
    env.server
        .put(
            env.server.admin(),
            &format!("/request/{request}/status"),
            json!({"status": "rejected", "processor_comment": comment}),
        )
        .await
        .ok(204);
    run.await.unwrap().fails_with(&comment);
}

#[tokio::test]
async fn certbot_renew_follows_renewal_information_of_a_revoked_certificate() {
    let env = AcmeEnv::auto_approved();
    let user = env.user_with_eab();
    let name = acme_name("ari");
    let certbot = Certbot::new(&env);
    certbot.register_eab(&user).await.ok();
    certbot.certonly(&[&name], &[]).await.ok();
    let first = certbot.keep_copy(&name, "first").0;

    // A valid certificate's window lies in the last third of its life:
    // nothing to do yet.
    let quiet = certbot.renew(&[]).await;
    quiet.ok();
    assert!(
        quiet.log.contains("/renewalInfo/") || quiet.log.contains("renewalInfo"),
        "certbot did not ask for renewal information: {}",
        quiet.log
    );
    assert!(
        quiet.output().contains("not yet due"),
        "certbot renewed a fresh certificate: {}",
        quiet.output()
    );
    assert_eq!(
        serial_of(&certbot.live(&name, "cert.pem")),
        serial_of(&first)
    );
    // certbot asks again only after the Retry-After it was given; forget it.
    forget_ari_retry_after(&certbot, &name);

    // Revoked: the window ends before now, so `certbot renew` renews at
    // once, decided by renewal information (certbot asks OCSP only when
    // ARI did not already say renew).
    let id = env.certificate_id(&first).await;
    env.server.revoke_now(id, "superseded").await;
    let renewed = certbot.renew(&[]).await;
    renewed.ok();
    let second = certbot.live(&name, "cert.pem");
    assert_ne!(
        serial_of(&second),
        serial_of(&first),
        "not renewed: {}",
        renewed.output()
    );
    assert!(
        renewed.log.contains("renewalInfo"),
        "no renewal information asked: {}",
        renewed.log
    );
    assert!(
        !renewed.log.contains("OCSP certificate status"),
        "certbot decided on OCSP, not renewal information: {}",
        renewed.log
    );
    assert_eq!(
        env.server
            .cert_status(env.certificate_id(&second).await)
            .await,
        "issued"
    );
}

/// Removes `[acme_renewal_info]` (`ari_retry_after`) from the lineage's
/// renewal configuration, so that the next `certbot renew` asks again.
fn forget_ari_retry_after(certbot: &Certbot, name: &str) {
    let conf = certbot
        .dir
        .path()
        .join("config/renewal")
        .join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    let mut kept = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            skipping = line.trim() == "[acme_renewal_info]";
        }
        if !skipping {
            kept.push(line);
        }
    }
    std::fs::write(&conf, kept.join("\n") + "\n").unwrap();
}

// ---------------------------------------------------------------------------
// lego
// ---------------------------------------------------------------------------

#[tokio::test]
async fn lego_registers_with_eab_issues_renews_and_revokes() {
    let env = AcmeEnv::auto_approved();
    let name = acme_name("lg");
    // A user whose credential comes from the API (administrator, for them).
    let email = format!("lego{}@example.com", unique());
    let key = env
        .server
        .add_user_named(&email, "Lego", "Client", "user", false);
    let user_id = int(&env.server.me(&key).await["id"]);
    let eab = env.eab_via_api(user_id).await;
    let user = EabUser::from_json(email, key, &eab);
    assert_eq!(user.user_id, user_id);

    // Without EAB: refused. lego reads `externalAccountRequired` in the
    // directory's meta and says so before it sends newAccount.
    let bare = Lego::new(&env);
    bare.obtain(&[&name])
        .await
        .fails_with("Server requires External Account Binding");

    let lego = Lego::new(&env).with_eab(&user);
    lego.obtain(&[&name]).await.ok();
    let first = lego.leaf(&name, "first");
    env.verify(&first).await;
    assert_visible_to(&env, &user, &first).await;

    lego.renew(&[&name], &[]).await.ok();
    let second = lego.leaf(&name, "second");
    assert_ne!(
        serial_of(&first),
        serial_of(&second),
        "renewal kept the serial"
    );
    env.verify(&second).await;
    assert_visible_to(&env, &user, &second).await;

    // RFC 5280 reason 4: superseded.
    lego.revoke(&[&name], 4).await.ok();
    let id = assert_published_revoked(&env, &second, "superseded", Instant::now()).await;
    let q = assert_approved_revoke_request(&env.server, &user.key, id, "superseded").await;
    assert_eq!(q["requester"]["email"], user.email.as_str(), "{q}");
}

// ---------------------------------------------------------------------------
// dehydrated
// ---------------------------------------------------------------------------

#[tokio::test]
async fn dehydrated_registers_with_eab_issues_renews_and_revokes() {
    let env = AcmeEnv::auto_approved();
    let user = env.user_with_eab();
    let name = acme_name("dh");

    // Without EAB: refused (dehydrated reads the directory's meta).
    Dehydrated::new(&env, None)
        .register()
        .await
        .fails_with("requires an external account");

    let dehydrated = Dehydrated::new(&env, Some(&user));
    dehydrated.register().await.ok();
    dehydrated.issue(&name, &[]).await.ok();
    let first = dehydrated.keep_cert(&name, "first");
    env.verify(&first).await;
    assert_visible_to(&env, &user, &first).await;

    // Not due: nothing happens; forced: a new certificate.
    dehydrated.issue(&name, &[]).await.ok();
    assert_eq!(
        serial_of(&dehydrated.keep_cert(&name, "same")),
        serial_of(&first)
    );
    // dehydrated names its files by the second; a renewal in the same
    // second would overwrite the first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    dehydrated.issue(&name, &["--force"]).await.ok();
    let second = dehydrated.keep_cert(&name, "second");
    assert_ne!(
        serial_of(&first),
        serial_of(&second),
        "renewal kept the serial"
    );
    env.verify(&second).await;

    // Revocation by the account, no reason given: unspecified (no reason
    // code in OCSP or the CRL entry).
    dehydrated.revoke(&second).await.ok();
    let id = env.certificate_id(&second).await;
    let started = Instant::now();
    while env.server.cert_status(id).await != "revoked" {
        assert!(
            started.elapsed() < VISIBLE_WITHIN,
            "certificate {id} not revoked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_approved_revoke_request(&env.server, &user.key, id, "unspecified").await;
    assert_eq!(
        env.server
            .cert_status(env.certificate_id(&first).await)
            .await,
        "issued"
    );
}
