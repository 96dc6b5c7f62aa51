//! Bad input to ACME (issue 20, "Bad input"): malformed, unsigned, weakly or
//! wrongly signed JWS, replayed and unknown nonces, a `url` or `kid` that
//! does not fit, oversized bodies, wrong media types, External Account
//! Bindings that do not bind, and payloads no resource takes. Each answer is
//! `application/problem+json` with an RFC 8555 error type, below 500, with
//! a fresh Replay-Nonce, and records nothing (audit log and request totals
//! unchanged). Then a proptest target over every ACME endpoint.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::acme_protocol_client::*;
use crate::harness::*;

/// A server that requires EAB, two users' accounts, and some objects of
/// the first account to aim at.
struct Fixture {
    env: Env,
    a: Account,
    b: Account,
    a_user: i64,
    order_url: String,
    order: Value,
    /// A certificate of `a` (fixtures with auto-approval only).
    cert: Option<Issued>,
}

async fn fixture() -> Fixture {
    fixture_with(&[]).await
}

async fn fixture_with(extra: &[&str]) -> Fixture {
    let env = Env::start(extra).await;
    let (_, a_user, _) = env.user().await;
    let eab = eab_for(&env.s, a_user).await;
    let a = env.acme.register(Key::p256(), Some(&eab)).await;
    let (_, b) = env.user_account(Key::p256()).await;
    let (order_url, order) = env
        .acme
        .new_order(&a, &[&format!("bad{}.acme.test", unique())])
        .await;
    let cert = if extra.contains(&"orders") {
        Some(
            env.issue(&a, &[&format!("bad{}.acme.test", unique())], &Key::p256())
                .await,
        )
    } else {
        None
    };
    Fixture {
        env,
        a,
        b,
        a_user,
        order_url,
        order,
        cert,
    }
}

impl Fixture {
    /// Asserts a refusal of one of `kinds` that changed nothing.
    #[track_caller]
    fn refused(&self, what: &str, r: &Resp, kinds: &[&str]) -> String {
        let kind = check_problem(r, kinds).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            r.header("replay-nonce").is_some_and(|n| !n.is_empty()),
            "{what}: an error answer carries a fresh Replay-Nonce (RFC 8555 §6.5)"
        );
        kind
    }

    fn newaccount(&self) -> String {
        self.env.acme.url("newAccount")
    }
}

/// A JWS over `protected` (any JSON) and `payload`, signed by `key`.
fn jws(key: &Key, protected: Value, payload: &[u8]) -> Value {
    flattened(key, &protected, payload)
}

#[tokio::test]
async fn malformed_and_badly_signed_jws_are_problems_and_record_nothing() {
    let f = fixture().await;
    let acme = &f.env.acme;
    let s = &f.env.s;
    let before = s.snapshot(&[]).await;
    let new_account = f.newaccount();
    let new_order = acme.url("newOrder");
    let key = Key::p256();
    let payload = body(&json!({"termsOfServiceAgreed": true}));
    let order_payload = body(&json!({"identifiers": [{"type": "dns", "value": "x.acme.test"}]}));

    // Bodies that are no flattened JWS.
    let nonce = acme.nonce().await;
    let good = jws(
        &key,
        header(&key, By::Jwk, Some(&nonce), &new_account),
        &payload,
    );
    let compact = format!(
        "{}.{}.{}",
        good["protected"].as_str().unwrap(),
        good["payload"].as_str().unwrap(),
        good["signature"].as_str().unwrap()
    );
    let mut no_signature = good.clone();
    no_signature.as_object_mut().unwrap().remove("signature");
    let mut extra_member = good.clone();
    extra_member["header"] = json!({"kid": "x"});
    let mut signatures = good.clone();
    signatures["signatures"] = json!([{"signature": good["signature"]}]);
    for (what, bytes) in [
        ("malformed JSON", b"{\"protected\": ".to_vec()),
        ("not JSON", b"hello".to_vec()),
        ("empty body", Vec::new()),
        ("JSON array", b"[]".to_vec()),
        ("JSON string", b"\"x\"".to_vec()),
        ("compact serialization", compact.into_bytes()),
        ("no signature", body(&no_signature)),
        ("unprotected header", body(&extra_member)),
        ("general serialization", body(&signatures)),
        (
            "members not strings",
            body(&json!({"protected": 1, "payload": [], "signature": null})),
        ),
    ] {
        let r = acme
            .post_raw(&new_account, Some("application/jose+json"), bytes)
            .await;
        f.refused(what, &r, &["malformed"]);
    }

    // Encodings.
    let protected = b64(header(&key, By::Jwk, Some(&acme.nonce().await), &new_account).to_string());
    let encoded = b64(&payload);
    for (what, p, pl) in [
        (
            "padded protected",
            format!("{protected}=="),
            encoded.clone(),
        ),
        (
            "standard base64 payload",
            protected.clone(),
            format!("{encoded}+/"),
        ),
        ("protected not JSON", b64("not json"), encoded.clone()),
        ("protected a JSON array", b64("[1]"), encoded.clone()),
    ] {
        let r = acme
            .post_jws(&new_account, &flattened_raw(&key, &p, &pl))
            .await;
        f.refused(what, &r, &["malformed"]);
    }

    // Signatures: empty, of something else, made by another key.
    let sign_with = |signature: Vec<u8>, nonce: &str| {
        let mut j = jws(
            &key,
            header(&key, By::Jwk, Some(nonce), &new_account),
            &payload,
        );
        j["signature"] = json!(b64(signature));
        j
    };
    for (what, signature) in [
        ("empty signature", Vec::new()),
        ("signature of other bytes", key.sign(b"other")),
        ("signature by another key", Key::p256().sign(b"x")),
        ("random signature", vec![7u8; 64]),
    ] {
        let r = acme
            .post_jws(&new_account, &sign_with(signature, &acme.nonce().await))
            .await;
        f.refused(what, &r, &["malformed", "unauthorized"]);
    }

    // Algorithms: none, MACs, unknown, the wrong one for the key, weak RSA.
    for alg in [
        "none", "HS256", "HS512", "ES512", "PS256", "XYZ", "", "es256",
    ] {
        let mut h = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
        h["alg"] = json!(alg);
        let p = b64(h.to_string());
        let pl = b64(&payload);
        let signature = match alg {
            "none" => String::new(),
            "HS256" | "HS512" => {
                use hmac::Mac as _;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
                mac.update(format!("{p}.{pl}").as_bytes());
                b64(mac.finalize().into_bytes())
            }
            _ => b64(key.sign(format!("{p}.{pl}").as_bytes())),
        };
        let r = acme
            .post_jws(
                &new_account,
                &json!({"protected": p, "payload": pl, "signature": signature}),
            )
            .await;
        f.refused(&format!("alg {alg:?}"), &r, &["badSignatureAlgorithm"]);
        let algorithms = r.json["algorithms"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0);
        assert!(
            algorithms >= 4,
            "badSignatureAlgorithm lists the algorithms (RFC 8555 §6.2): {}",
            r.text()
        );
    }
    for (what, h) in [
        ("alg not a string", {
            let mut h = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
            h["alg"] = json!(256);
            h
        }),
        ("no alg", {
            let mut h = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
            h.as_object_mut().unwrap().remove("alg");
            h
        }),
    ] {
        let r = acme.post_jws(&new_account, &jws(&key, h, &payload)).await;
        f.refused(what, &r, &["malformed", "badSignatureAlgorithm"]);
    }
    // ES384 named for a P-256 key.
    let mut h = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
    h["alg"] = json!("ES384");
    let r = acme.post_jws(&new_account, &jws(&key, h, &payload)).await;
    f.refused("ES384 with a P-256 key", &r, &["badSignatureAlgorithm"]);
    // RS256 with a 1024-bit key, correctly signed.
    let weak = Key::rsa(1024);
    let r = acme
        .signed(
            &weak,
            By::Jwk,
            &new_account,
            Some(&json!({"termsOfServiceAgreed": true})),
        )
        .await;
    f.refused(
        "RS256 with RSA 1024",
        &r,
        &["badPublicKey", "badSignatureAlgorithm"],
    );

    // Keys: private members, unknown types, wrong sizes, both jwk and kid.
    let public = key.jwk();
    let mut with_d = public.clone();
    with_d["d"] = json!(b64([1u8; 32]));
    let mut short_x = public.clone();
    short_x["x"] = json!(b64([1u8; 31]));
    let mut off_curve = public.clone();
    off_curve["y"] = json!(b64([1u8; 32]));
    for (what, jwk, kinds) in [
        (
            "private member d",
            with_d,
            &["badPublicKey", "malformed"][..],
        ),
        (
            "symmetric key",
            json!({"kty": "oct", "k": b64(b"secret")}),
            &["badPublicKey", "malformed"][..],
        ),
        ("short x", short_x, &["badPublicKey", "malformed"][..]),
        (
            "unknown curve",
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            &["badPublicKey", "malformed"][..],
        ),
        (
            "jwk a string",
            json!("key"),
            &["badPublicKey", "malformed"][..],
        ),
        (
            "point not on the curve",
            off_curve,
            &["badPublicKey", "malformed"][..],
        ),
    ] {
        let mut h = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
        h["jwk"] = jwk;
        let r = acme.post_jws(&new_account, &jws(&key, h, &payload)).await;
        f.refused(what, &r, kinds);
    }
    let mut both = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
    both["kid"] = json!(f.a.url);
    let r = acme
        .post_jws(&new_account, &jws(&key, both, &payload))
        .await;
    f.refused("jwk and kid", &r, &["malformed"]);
    let r = acme.post(&f.a, &new_account, Some(&json!({}))).await;
    f.refused("kid on newAccount", &r, &["malformed"]);
    let r = acme
        .signed(
            &f.a.key,
            By::Jwk,
            &new_order,
            Some(&json!({"identifiers": []})),
        )
        .await;
    f.refused("jwk on newOrder", &r, &["malformed"]);
    let mut crit = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
    crit["crit"] = json!(["b64"]);
    crit["b64"] = json!(false);
    let r = acme
        .post_jws(&new_account, &jws(&key, crit, &payload))
        .await;
    f.refused("crit", &r, &["malformed"]);

    // Nonces: missing, unknown, not a string, replayed.
    let r = acme
        .post_jws(
            &new_account,
            &jws(&key, header(&key, By::Jwk, None, &new_account), &payload),
        )
        .await;
    f.refused("no nonce", &r, &["badNonce"]);
    for nonce in ["unknown-nonce", "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = acme
            .post_jws(
                &new_account,
                &jws(
                    &key,
                    header(&key, By::Jwk, Some(nonce), &new_account),
                    &payload,
                ),
            )
            .await;
        f.refused(&format!("nonce {nonce:?}"), &r, &["badNonce"]);
    }
    let mut numeric = header(&key, By::Jwk, None, &new_account);
    numeric["nonce"] = json!(42);
    let r = acme
        .post_jws(&new_account, &jws(&key, numeric, &payload))
        .await;
    f.refused("nonce not a string", &r, &["badNonce", "malformed"]);
    // A nonce used once (by A reading itself, which records nothing) is spent.
    let used = acme.nonce().await;
    let read = jws(
        &f.a.key,
        header(&f.a.key, By::Kid(&f.a.url), Some(&used), &f.a.url),
        b"",
    );
    acme.post_jws(&f.a.url, &read).await.ok(200);
    let read = jws(
        &f.a.key,
        header(&f.a.key, By::Kid(&f.a.url), Some(&used), &f.a.url),
        b"",
    );
    let r = acme.post_jws(&f.a.url, &read).await;
    f.refused("replayed nonce", &r, &["badNonce"]);
    let fresh = r.header("replay-nonce").unwrap();
    assert_ne!(fresh, used);
    // The fresh one works, once.
    let read = jws(
        &f.a.key,
        header(&f.a.key, By::Kid(&f.a.url), Some(&fresh), &f.a.url),
        b"",
    );
    acme.post_jws(&f.a.url, &read).await.ok(200);
    // A failed request does not spend a nonce it could not prove it owned:
    // a forged request with a good nonce leaves it usable (the nonce is checked last).
    let nonce = acme.nonce().await;
    let mut forged = jws(
        &f.a.key,
        header(&f.a.key, By::Kid(&f.a.url), Some(&nonce), &f.a.url),
        b"",
    );
    forged["signature"] = json!(b64(Key::p256().sign(b"x")));
    f.refused(
        "forged signature",
        &acme.post_jws(&f.a.url, &forged).await,
        &["malformed", "unauthorized"],
    );
    let read = jws(
        &f.a.key,
        header(&f.a.key, By::Kid(&f.a.url), Some(&nonce), &f.a.url),
        b"",
    );
    acme.post_jws(&f.a.url, &read).await.ok(200);

    // url: another resource's, another host's, missing, not a string.
    for url in [
        new_order.clone(),
        new_account.replace("127.0.0.1", "localhost"),
        format!("{new_account}/"),
        format!("{new_account}?x=1"),
        "https://evil.example/acme/new-account".to_string(),
    ] {
        let r = acme
            .post_jws(
                &new_account,
                &jws(
                    &key,
                    header(&key, By::Jwk, Some(&acme.nonce().await), &url),
                    &payload,
                ),
            )
            .await;
        f.refused(&format!("url {url}"), &r, &["unauthorized", "malformed"]);
    }
    let mut no_url = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
    no_url.as_object_mut().unwrap().remove("url");
    f.refused(
        "no url",
        &acme
            .post_jws(&new_account, &jws(&key, no_url, &payload))
            .await,
        &["malformed"],
    );
    let mut url_number = header(&key, By::Jwk, Some(&acme.nonce().await), &new_account);
    url_number["url"] = json!(1);
    f.refused(
        "url a number",
        &acme
            .post_jws(&new_account, &jws(&key, url_number, &payload))
            .await,
        &["malformed"],
    );

    // kid: another account's (signed by A's key), unknown, foreign.
    let r = acme
        .signed(
            &f.a.key,
            By::Kid(&f.b.url),
            &new_order,
            Some(&json!({"identifiers": [{"type": "dns", "value": "x.acme.test"}]})),
        )
        .await;
    f.refused("kid of another account", &r, &["malformed", "unauthorized"]);
    for kid in [
        acme.acme("/acct/999999"),
        acme.acme("/acct/0"),
        acme.acme("/acct/-1"),
        acme.acme("/acct/x"),
        "https://evil.example/acme/acct/1".to_string(),
        f.a.url.replace("127.0.0.1", "localhost"),
    ] {
        let r = acme
            .post_jws(
                &new_order,
                &jws(
                    &f.a.key,
                    header(
                        &f.a.key,
                        By::Kid(&kid),
                        Some(&acme.nonce().await),
                        &new_order,
                    ),
                    &order_payload,
                ),
            )
            .await;
        f.refused(
            &format!("kid {kid}"),
            &r,
            &["accountDoesNotExist", "malformed", "unauthorized"],
        );
    }

    // Media types and sizes.
    let good = jws(
        &key,
        header(&key, By::Jwk, Some(&acme.nonce().await), &new_account),
        &payload,
    );
    for ct in [
        Some("application/json"),
        Some("text/plain"),
        None,
        Some("application/jose"),
    ] {
        let r = acme.post_raw(&new_account, ct, body(&good)).await;
        assert_eq!(r.status, 415, "content type {ct:?}: {}", r.text());
        f.refused(&format!("content type {ct:?}"), &r, &["malformed"]);
    }
    let big = json!({"termsOfServiceAgreed": true, "padding": "p".repeat(70 * 1024)});
    let r = acme.signed(&key, By::Jwk, &new_account, Some(&big)).await;
    assert_eq!(r.status, 413, "{}", r.text());
    f.refused("payload over 64 KiB", &r, &["malformed", "rateLimited"]);
    let r = acme
        .post_raw(
            &new_account,
            Some("application/jose+json"),
            vec![b' '; 100 * 1024],
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    f.refused("body over 64 KiB", &r, &["malformed"]);

    // Methods and paths.
    for (what, r) in [
        ("GET newAccount", acme.get(&new_account).await),
        ("GET an account", acme.get(&f.a.url).await),
        ("GET an order", acme.get(&f.order_url).await),
        (
            "PUT newOrder",
            Server::try_send(acme.http.put(&new_order).body("{}"))
                .await
                .unwrap(),
        ),
        (
            "DELETE an account",
            Server::try_send(acme.http.delete(&f.a.url)).await.unwrap(),
        ),
        (
            "POST directory",
            acme.post_raw(
                &acme.url("newNonce").replace("new-nonce", "directory"),
                Some("application/jose+json"),
                body(&good),
            )
            .await,
        ),
        (
            "unknown resource",
            acme.get(&acme.acme("/nothing-here")).await,
        ),
        (
            "unknown resource, POST",
            acme.post_raw(
                &acme.acme("/nothing/here"),
                Some("application/jose+json"),
                body(&good),
            )
            .await,
        ),
        ("/acme", acme.get(&format!("{}/acme", acme.base)).await),
    ] {
        assert!(r.status == 404 || r.status == 405, "{what}: {}", r.text());
        f.refused(what, &r, &["malformed"]);
    }
    s.assert_unchanged(&before, &[]).await;
}

#[tokio::test]
async fn the_acme_root_with_a_slash_is_a_problem_document() {
    // `GET /acme/` is under /acme like every other unknown path; it is
    // answered with the REST API's JSON error list instead of a problem.
    let f = fixture().await;
    let r = f.env.acme.get(&format!("{}/acme/", f.env.acme.base)).await;
    assert_eq!(r.status, 404, "{}", r.text());
    f.refused("GET /acme/", &r, &["malformed"]);
}

#[tokio::test]
async fn bad_external_account_bindings_are_refused_and_bind_nothing() {
    let f = fixture().await;
    let acme = &f.env.acme;
    let s = &f.env.s;
    let url = f.newaccount();
    let credential = eab_for(s, f.a_user).await;
    let before = s.snapshot(&[]).await;
    let key = Key::p256();
    let new_account = |eab: Option<Value>, contact: Option<Value>| {
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some(eab) = eab {
            payload["externalAccountBinding"] = eab;
        }
        if let Some(contact) = contact {
            payload["contact"] = contact;
        }
        payload
    };

    // No EAB where one is required.
    let r = acme
        .signed(&key, By::Jwk, &url, Some(&new_account(None, None)))
        .await;
    f.refused("no EAB", &r, &["externalAccountRequired"]);
    // The MAC made with another key.
    let wrong = eab_jws(&credential.kid, &[9u8; 32], &key.jwk(), &url);
    let r = acme
        .signed(&key, By::Jwk, &url, Some(&new_account(Some(wrong), None)))
        .await;
    f.refused("EAB MAC with the wrong key", &r, &["unauthorized"]);
    // A binding of another account key.
    let other = Key::p256();
    let theirs = eab_jws(&credential.kid, &credential.hmac_key, &other.jwk(), &url);
    let r = acme
        .signed(&key, By::Jwk, &url, Some(&new_account(Some(theirs), None)))
        .await;
    f.refused("EAB for another key", &r, &["unauthorized", "malformed"]);
    // Unknown key id.
    let unknown = eab_jws("no-such-kid", &credential.hmac_key, &key.jwk(), &url);
    let r = acme
        .signed(&key, By::Jwk, &url, Some(&new_account(Some(unknown), None)))
        .await;
    f.refused("EAB with an unknown kid", &r, &["unauthorized"]);
    // Made for another URL.
    let elsewhere = eab_jws(
        &credential.kid,
        &credential.hmac_key,
        &key.jwk(),
        &acme.url("newOrder"),
    );
    let r = acme
        .signed(
            &key,
            By::Jwk,
            &url,
            Some(&new_account(Some(elsewhere), None)),
        )
        .await;
    f.refused("EAB for another URL", &r, &["unauthorized", "malformed"]);
    // Not a MAC, a nonce in it, not a JWS at all.
    let good = eab_jws(&credential.kid, &credential.hmac_key, &key.jwk(), &url);
    let with_header = |change: &dyn Fn(&mut Value)| {
        let mut h: Value =
            serde_json::from_slice(&unb64(good["protected"].as_str().unwrap())).unwrap();
        change(&mut h);
        let protected = b64(h.to_string());
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&credential.hmac_key).unwrap();
        mac.update(format!("{protected}.{}", good["payload"].as_str().unwrap()).as_bytes());
        json!({"protected": protected, "payload": good["payload"], "signature": b64(mac.finalize().into_bytes())})
    };
    for (what, eab) in [
        ("EAB alg ES256", with_header(&|h| h["alg"] = json!("ES256"))),
        ("EAB alg none", with_header(&|h| h["alg"] = json!("none"))),
        (
            "EAB with a nonce",
            with_header(&|h| h["nonce"] = json!("abc")),
        ),
        ("EAB with a jwk", with_header(&|h| h["jwk"] = key.jwk())),
        (
            "EAB without kid",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("kid");
            }),
        ),
        ("EAB a string", json!("eab")),
        (
            "EAB without signature",
            json!({"protected": good["protected"], "payload": good["payload"]}),
        ),
        ("EAB payload not a key", {
            let mut e = good.clone();
            e["payload"] = json!(b64("{}"));
            e
        }),
    ] {
        let r = acme
            .signed(&key, By::Jwk, &url, Some(&new_account(Some(eab), None)))
            .await;
        f.refused(what, &r, &["malformed", "unauthorized"]);
    }
    // Contacts RFC 8555 §7.3 refuses with its own types.
    for (contact, kind) in [
        (json!(["tel:+15551234567"]), "unsupportedContact"),
        (json!(["mailto:not an address"]), "invalidContact"),
    ] {
        let eab = eab_jws(&credential.kid, &credential.hmac_key, &key.jwk(), &url);
        let r = acme
            .signed(
                &key,
                By::Jwk,
                &url,
                Some(&new_account(Some(eab), Some(contact.clone()))),
            )
            .await;
        f.refused(&format!("contact {contact}"), &r, &[kind, "malformed"]);
    }
    s.assert_unchanged(&before, &[]).await;

    // The credential binds one account; reusing it for another key is unauthorized.
    let eab = eab_jws(&credential.kid, &credential.hmac_key, &key.jwk(), &url);
    let r = acme
        .signed(&key, By::Jwk, &url, Some(&new_account(Some(eab), None)))
        .await;
    r.ok(201);
    let before = s.snapshot(&[]).await;
    let again = Key::p256();
    let eab = eab_jws(&credential.kid, &credential.hmac_key, &again.jwk(), &url);
    let r = acme
        .signed(&again, By::Jwk, &url, Some(&new_account(Some(eab), None)))
        .await;
    f.refused("EAB reused", &r, &["unauthorized"]);
    s.assert_unchanged(&before, &[]).await;
}

#[tokio::test]
async fn contacts_are_refused_with_the_rfc_8555_types() {
    // RFC 8555 §7.3: an unsupported scheme MUST be unsupportedContact, a
    // supported scheme with an invalid value MUST be invalidContact.
    let f = fixture().await;
    let acme = &f.env.acme;
    let url = f.newaccount();
    let credential = eab_for(&f.env.s, f.a_user).await;
    let key = Key::p256();
    for (contact, kind) in [
        (json!(["tel:+15551234567"]), "unsupportedContact"),
        (json!(["mailto:not an address"]), "invalidContact"),
    ] {
        let eab = eab_jws(&credential.kid, &credential.hmac_key, &key.jwk(), &url);
        let payload = json!({"contact": contact, "externalAccountBinding": eab});
        let r = acme.signed(&key, By::Jwk, &url, Some(&payload)).await;
        f.refused(&format!("contact {contact}"), &r, &[kind]);
    }
    // The same on an account update.
    let r = acme
        .post(
            &f.a,
            &f.a.url,
            Some(&json!({"contact": ["tel:+15551234567"]})),
        )
        .await;
    f.refused(
        "account update with a tel: contact",
        &r,
        &["unsupportedContact"],
    );
}

#[tokio::test]
async fn payloads_no_resource_takes_are_problems_and_record_nothing() {
    let f = fixture().await;
    let acme = &f.env.acme;
    let s = &f.env.s;
    let new_order = acme.url("newOrder");
    let authz = f.order["authorizations"][0].as_str().unwrap().to_string();
    let (_, challenge) = acme.challenge(&f.a, &authz, "http-01").await;
    let chall = challenge["url"].as_str().unwrap().to_string();
    let before = s.snapshot(&[]).await;
    let a = &f.a;
    let raw = |url: &str, payload: &[u8]| {
        let url = url.to_string();
        let payload = payload.to_vec();
        async move {
            let nonce = acme.nonce().await;
            let protected = header(&a.key, By::Kid(&a.url), Some(&nonce), &url);
            acme.post_jws(&url, &flattened(&a.key, &protected, &payload))
                .await
        }
    };
    let cases: Vec<(&str, String, Vec<u8>, &[&str])> = vec![
        (
            "newOrder not JSON",
            new_order.clone(),
            b"identifiers".to_vec(),
            &["malformed"],
        ),
        (
            "newOrder POST-as-GET",
            new_order.clone(),
            Vec::new(),
            &["malformed"],
        ),
        (
            "newOrder no identifiers",
            new_order.clone(),
            body(&json!({})),
            &["malformed"],
        ),
        (
            "newOrder empty identifiers",
            new_order.clone(),
            body(&json!({"identifiers": []})),
            &["malformed", "rejectedIdentifier"],
        ),
        (
            "newOrder ip identifier",
            new_order.clone(),
            body(&json!({"identifiers": [{"type": "ip", "value": "192.0.2.1"}]})),
            &["unsupportedIdentifier"],
        ),
        (
            "newOrder bad name",
            new_order.clone(),
            body(&json!({"identifiers": [{"type": "dns", "value": "bad_name!.test"}]})),
            &["rejectedIdentifier", "malformed"],
        ),
        (
            "newOrder name with a port",
            new_order.clone(),
            body(&json!({"identifiers": [{"type": "dns", "value": "a.test:80"}]})),
            &["rejectedIdentifier", "malformed"],
        ),
        (
            "newOrder 101 names",
            new_order.clone(),
            body(
                &json!({"identifiers": (0..101).map(|i| json!({"type": "dns", "value": format!("n{i}.acme.test")})).collect::<Vec<_>>()}),
            ),
            &["malformed", "rejectedIdentifier"],
        ),
        (
            "newOrder notAfter",
            new_order.clone(),
            body(
                &json!({"identifiers": [{"type": "dns", "value": "a.acme.test"}], "notAfter": "2030-01-01T00:00:00Z"}),
            ),
            &["malformed"],
        ),
        (
            "newOrder identifiers a string",
            new_order.clone(),
            body(&json!({"identifiers": "a.acme.test"})),
            &["malformed"],
        ),
        (
            "finalize csr not base64url",
            f.order["finalize"].as_str().unwrap().to_string(),
            body(&json!({"csr": "!!!"})),
            &["badCSR", "malformed"],
        ),
        (
            "finalize csr garbage",
            f.order["finalize"].as_str().unwrap().to_string(),
            body(&json!({"csr": b64(b"garbage")})),
            &["badCSR", "malformed", "orderNotReady"],
        ),
        (
            "finalize no csr",
            f.order["finalize"].as_str().unwrap().to_string(),
            body(&json!({})),
            &["malformed", "badCSR"],
        ),
        (
            "authz set valid",
            authz.clone(),
            body(&json!({"status": "valid"})),
            &["malformed"],
        ),
        (
            "authz payload not an object",
            authz.clone(),
            body(&json!([1])),
            &["malformed"],
        ),
        (
            "challenge payload an array",
            chall.clone(),
            body(&json!([])),
            &["malformed"],
        ),
        (
            "account status valid",
            f.a.url.clone(),
            body(&json!({"status": "valid"})),
            &["malformed"],
        ),
        (
            "account contact not a list",
            f.a.url.clone(),
            body(&json!({"contact": "mailto:a@example.com"})),
            &["malformed"],
        ),
        (
            "revoke certificate not base64url",
            acme.url("revokeCert"),
            body(&json!({"certificate": "%%%"})),
            &["malformed"],
        ),
        (
            "revoke certificate garbage",
            acme.url("revokeCert"),
            body(&json!({"certificate": b64(b"garbage")})),
            &["malformed", "badCSR"],
        ),
        (
            "revoke reason a string",
            acme.url("revokeCert"),
            body(&json!({"certificate": b64(b"garbage"), "reason": "keyCompromise"})),
            &["malformed", "badRevocationReason"],
        ),
        (
            "keyChange not a JWS",
            acme.url("keyChange"),
            body(&json!({"account": f.a.url})),
            &["malformed"],
        ),
        (
            "another account's orders",
            format!("{}/orders", f.b.url),
            Vec::new(),
            &["unauthorized", "malformed"],
        ),
        (
            "another account",
            f.b.url.clone(),
            Vec::new(),
            &["unauthorized", "malformed"],
        ),
    ];
    for (what, url, payload, kinds) in cases {
        let r = raw(&url, &payload).await;
        f.refused(what, &r, kinds);
        s.assert_unchanged(&before, &[]).await;
    }
    // Objects of other accounts, or none: 404 problems.
    for url in [
        acme.acme("/order/999999"),
        acme.acme("/order/0"),
        acme.acme("/order/abc"),
        acme.acme("/authz/999999"),
        acme.acme("/chall/999999"),
        acme.acme("/cert/999999"),
    ] {
        let r = raw(&url, b"").await;
        assert_eq!(r.status, 404, "{url}: {}", r.text());
        f.refused(&url, &r, &["malformed"]);
    }
    let r = acme.post(&f.b, &f.order_url, None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    f.refused(
        "another account's order",
        &r,
        &["malformed", "unauthorized"],
    );
    let r = acme.post(&f.b, &chall, Some(&json!({}))).await;
    f.refused(
        "another account's challenge",
        &r,
        &["malformed", "unauthorized"],
    );
    s.assert_unchanged(&before, &[]).await;
}

// ---------------------------------------------------------------------------
// proptest over every ACME endpoint
// ---------------------------------------------------------------------------

const PATHS: [&str; 14] = [
    "/new-account",
    "/new-order",
    "/acct/{}",
    "/acct/{}/orders",
    "/key-change",
    "/order/{}",
    "/order/{}/finalize",
    "/authz/{}",
    "/chall/{}",
    "/cert/{}",
    "/revoke-cert",
    "/new-nonce",
    "/directory",
    "/renewal-info/{}",
];

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1i64..6).prop_map(|i| i.to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => "[0-9]{20,30}",
        1 => "[A-Za-z0-9_-]{0,30}",
        1 => ".{1,12}".prop_filter("not a dot segment", |s| s != "." && s != "..").prop_map(|s| percent_encode(&s)),
    ]
}

fn acme_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-2i64..12).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        "[A-Za-z0-9_-]{0,64}".prop_map(Value::from),
        prop_oneof![
            Just("deactivated"),
            Just("valid"),
            Just("dns"),
            Just("ip"),
            Just("fuzz.acme.test"),
            Just("*.fuzz.acme.test"),
            Just("mailto:a@example.com"),
            Just("ES256"),
            Just(""),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        let keys = prop_oneof![
            Just("identifiers".to_string()),
            Just("type".to_string()),
            Just("value".to_string()),
            Just("csr".to_string()),
            Just("certificate".to_string()),
            Just("reason".to_string()),
            Just("status".to_string()),
            Just("contact".to_string()),
            Just("onlyReturnExisting".to_string()),
            Just("termsOfServiceAgreed".to_string()),
            Just("externalAccountBinding".to_string()),
            Just("replaces".to_string()),
            Just("account".to_string()),
            Just("oldKey".to_string()),
            Just("protected".to_string()),
            Just("payload".to_string()),
            Just("signature".to_string()),
            "[a-zA-Z]{1,10}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How a fuzzed JWS names its signer.
#[derive(Debug, Clone)]
enum Signer {
    Kid,
    OtherKid,
    RandomKid(String),
    Jwk,
    RandomJwk(Value),
    Both,
    Neither,
}

#[derive(Debug, Clone)]
enum Nonce {
    Fresh,
    Random(String),
    Missing,
    Json(Value),
}

#[derive(Debug, Clone)]
enum Url {
    Right,
    Other(usize),
    Random(String),
    Missing,
}

#[derive(Debug, Clone)]
// Test inputs, made a few hundred times: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Body {
    Bytes(Vec<u8>),
    Json(Value),
    Jws {
        alg: Option<Value>,
        signer: Signer,
        nonce: Nonce,
        url: Url,
        extra: Option<(String, Value)>,
        payload: Option<Value>,
        plausible: Option<Plausible>,
        raw_payload: Option<Vec<u8>>,
        tamper: bool,
    },
}

/// The ingredients of a payload shaped like what the resource takes.
#[derive(Debug, Clone)]
struct Plausible {
    name: String,
    reason: i64,
    real: bool,
    flag: bool,
    extra: Option<(String, Value)>,
}

fn any_plausible() -> impl Strategy<Value = Plausible> {
    let name = prop_oneof![
        "[a-z0-9-]{1,20}\\.acme\\.test",
        "\\*\\.[a-z]{1,10}\\.test",
        "[a-z.]{0,12}",
        ".{0,30}",
    ];
    let extra = prop_oneof![
        3 => Just(None),
        1 => ("[a-zA-Z]{1,12}", acme_json()).prop_map(Some),
    ];
    (
        name,
        -2i64..12,
        prop::bool::weighted(0.7),
        any::<bool>(),
        extra,
    )
        .prop_map(|(name, reason, real, flag, extra)| Plausible {
            name,
            reason,
            real,
            flag,
            extra,
        })
}

/// A payload for `path` built from `p` (real objects of the fixture where
/// `p.real`): what a client might send, give or take.
fn plausible_payload(f: &Fixture, path: &str, p: &Plausible) -> Value {
    let acme = &f.env.acme;
    let cert = f.cert.as_ref().unwrap();
    let mut v = if path == "/new-account" {
        let mut v = json!({"termsOfServiceAgreed": true, "contact": [format!("mailto:{}@example.com", p.name.len())]});
        if p.flag {
            v["onlyReturnExisting"] = json!(true);
        } else {
            let key = Key::p256();
            v["externalAccountBinding"] =
                eab_jws(&p.name, &[1u8; 32], &key.jwk(), &acme.url("newAccount"));
        }
        v
    } else if path == "/new-order" {
        let mut v = json!({"identifiers": [{"type": "dns", "value": p.name}]});
        if p.flag {
            v["replaces"] = json!(if p.real {
                cert.cert_id.clone()
            } else {
                p.name.clone()
            });
        }
        v
    } else if path.ends_with("/finalize") {
        let csr = if p.real {
            b64(csr_der(
                &Key::p256(),
                &[f.order["identifiers"][0]["value"].as_str().unwrap()],
            ))
        } else {
            b64(&p.name)
        };
        json!({"csr": csr})
    } else if path.starts_with("/acct/") {
        json!({"contact": [format!("mailto:{}", p.name)]})
    } else if path.starts_with("/authz/") {
        json!({"status": if p.flag { "deactivated" } else { "valid" }})
    } else if path == "/revoke-cert" {
        let certificate = if p.real { b64(&cert.der) } else { b64(&p.name) };
        json!({"certificate": certificate, "reason": p.reason})
    } else if path == "/key-change" {
        // Never a real rollover: the old key named is not the account's.
        let new_key = Key::p256();
        let account = if p.real {
            f.a.url.clone()
        } else {
            p.name.clone()
        };
        let inner =
            json!({"alg": new_key.alg(), "jwk": new_key.jwk(), "url": acme.url("keyChange")});
        flattened(
            &new_key,
            &inner,
            &body(&json!({"account": account, "oldKey": Key::p256().jwk()})),
        )
    } else {
        json!({})
    };
    if let Some((k, extra)) = &p.extra {
        v[k.as_str()] = extra.clone();
    }
    v
}

fn any_body() -> impl Strategy<Value = Body> {
    let signer = prop_oneof![
        24 => Just(Signer::Kid),
        1 => Just(Signer::OtherKid),
        1 => ".{0,40}".prop_map(Signer::RandomKid),
        4 => Just(Signer::Jwk),
        1 => acme_json().prop_map(Signer::RandomJwk),
        1 => Just(Signer::Both),
        1 => Just(Signer::Neither),
    ];
    let nonce = prop_oneof![
        24 => Just(Nonce::Fresh),
        1 => ".{0,40}".prop_map(Nonce::Random),
        1 => Just(Nonce::Missing),
        1 => acme_json().prop_map(Nonce::Json),
    ];
    let url = prop_oneof![
        24 => Just(Url::Right),
        1 => (0..PATHS.len()).prop_map(Url::Other),
        1 => ".{0,40}".prop_map(Url::Random),
        1 => Just(Url::Missing),
    ];
    let alg = prop_oneof![
        24 => Just(None),
        1 => prop_oneof![
            Just("none"), Just("HS256"), Just("RS256"), Just("ES384"), Just("EdDSA"), Just("ES512"), Just("")
        ].prop_map(|a| Some(Value::from(a))),
        1 => acme_json().prop_map(Some),
    ];
    let extra = prop_oneof![
        24 => Just(None),
        1 => ("crit|b64|typ|cty|x5u|jku|[a-z]{1,6}", acme_json()).prop_map(|(k, v)| Some((k, v))),
    ];
    let jws = (
        alg,
        signer,
        nonce,
        url,
        extra,
        prop::option::of(acme_json()),
        prop_oneof![1 => Just(None), 2 => any_plausible().prop_map(Some)],
        prop_oneof![24 => Just(None), 1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Some)],
        prop::bool::weighted(0.03),
    )
        .prop_map(|(alg, signer, nonce, url, extra, payload, plausible, raw_payload, tamper)| Body::Jws {
            alg,
            signer,
            nonce,
            url,
            extra,
            payload,
            plausible,
            raw_payload,
            tamper,
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        1 => acme_json().prop_map(Body::Json),
        12 => jws,
    ]
}

fn any_content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        30 => Just(Some("application/jose+json")),
        1 => prop_oneof![
            Just(None),
            Just(Some("application/json")),
            Just(Some("text/plain")),
            Just(Some("application/jose+json; charset=utf-8")),
            Just(Some("APPLICATION/JOSE+JSON")),
            Just(Some("")),
        ],
    ]
}

/// What the fuzz cases aim at: a fixture's accounts and objects.
async fn build_jws(f: &Fixture, path: &str, body: &Body) -> Vec<u8> {
    let acme = &f.env.acme;
    let url = format!("{}/acme{path}", acme.base);
    match body {
        Body::Bytes(bytes) => bytes.clone(),
        Body::Json(value) => serde_json::to_vec(value).unwrap(),
        Body::Jws {
            alg,
            signer,
            nonce,
            url: url_case,
            extra,
            payload,
            plausible,
            raw_payload,
            tamper,
        } => {
            let key = &f.a.key;
            let mut h = json!({"alg": alg.clone().unwrap_or_else(|| json!(key.alg()))});
            match signer {
                Signer::Kid => h["kid"] = json!(f.a.url),
                Signer::OtherKid => h["kid"] = json!(f.b.url),
                Signer::RandomKid(kid) => h["kid"] = json!(kid),
                Signer::Jwk => h["jwk"] = key.jwk(),
                Signer::RandomJwk(jwk) => h["jwk"] = jwk.clone(),
                Signer::Both => {
                    h["kid"] = json!(f.a.url);
                    h["jwk"] = key.jwk();
                }
                Signer::Neither => {}
            }
            match nonce {
                Nonce::Fresh => h["nonce"] = json!(acme.nonce().await),
                Nonce::Random(n) => h["nonce"] = json!(n),
                Nonce::Missing => {}
                Nonce::Json(v) => h["nonce"] = v.clone(),
            }
            match url_case {
                Url::Right => h["url"] = json!(url),
                Url::Other(i) => h["url"] = json!(acme.acme(&PATHS[*i].replace("{}", "1"))),
                Url::Random(u) => h["url"] = json!(u),
                Url::Missing => {}
            }
            if let Some((k, v)) = extra {
                h[k.as_str()] = v.clone();
            }
            let payload_bytes = match (raw_payload, plausible, payload) {
                (Some(raw), _, _) => raw.clone(),
                (None, Some(p), _) => body_bytes(&plausible_payload(f, path, p)),
                (None, None, Some(p)) => body_bytes(p),
                (None, None, None) => Vec::new(),
            };
            let mut jws = flattened(key, &h, &payload_bytes);
            if *tamper {
                jws["signature"] = json!(b64(key.sign(b"tampered")));
            }
            serde_json::to_vec(&jws).unwrap()
        }
    }
}

fn body_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn fuzzed_requests_to_every_acme_endpoint_never_get_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = runtime.block_on(fixture_with(&["--auto-approve", "orders"]));
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let started = std::time::Instant::now();

    // POSTs of random bodies to every path.
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = (0..PATHS.len(), any_id(), any_body(), any_content_type());
    let count = std::cell::Cell::new(0);
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    runner
        .run(&strategy, |(path, id, body, content_type)| {
            let template = PATHS[path];
            let path = template.replace("{}", &id);
            runtime.block_on(async {
                let bytes = build_jws(&f, &path, &body).await;
                let before = f.env.s.snapshot(&[]).await;
                let url = format!("{}/acme{path}", f.env.acme.base);
                let r = f.env.acme.post_raw(&url, content_type, bytes).await;
                prop_assert!(
                    r.status < 500,
                    "POST {path} {body:?}: {} {}",
                    r.status,
                    r.text()
                );
                let outcome = if r.status >= 400 {
                    let checked = check_problem_document(&r);
                    prop_assert!(checked.is_ok(), "POST {path} {body:?}: {:?}", checked);
                    prop_assert_eq!(
                        f.env.s.snapshot(&[]).await,
                        before,
                        "POST {} refused ({}) yet recorded something",
                        path,
                        r.text()
                    );
                    format!(
                        "{} {}",
                        r.status,
                        r.json["type"].as_str().unwrap().trim_start_matches(URN)
                    )
                } else {
                    r.status.to_string()
                };
                *outcomes
                    .borrow_mut()
                    .entry(format!(
                        "{template} {outcome} {}",
                        if std::env::var("FUZZ_DEBUG").is_ok() {
                            r.json["detail"]
                                .as_str()
                                .unwrap_or("")
                                .chars()
                                .take(70)
                                .collect::<String>()
                        } else {
                            String::new()
                        }
                    ))
                    .or_default() += 1;
                Ok(())
            })?;
            count.set(count.get() + 1);
            Ok(())
        })
        .unwrap();

    // GETs of random certIDs under renewal-info.
    let valid_cert_ids = prop_oneof![
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
        "[A-Za-z0-9_=.+/-]{0,60}",
        ".{1,30}"
            .prop_filter("not a dot segment", |s| s != "." && s != "..")
            .prop_map(|s| percent_encode(&s)),
        (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..30)
        )
            .prop_map(|(a, s)| format!("{}.{}", b64(a), b64(s))),
    ];
    let mut runner = TestRunner::new(Config::with_cases(cases / 2));
    runner
        .run(&valid_cert_ids, |cert_id| {
            runtime.block_on(async {
                let url = format!("{}/{cert_id}", f.env.acme.url("renewalInfo"));
                let r = f.env.acme.get(&url).await;
                prop_assert!(r.status < 500, "GET {url}: {} {}", r.status, r.text());
                if r.status >= 400 {
                    let checked = check_problem_document(&r);
                    prop_assert!(checked.is_ok(), "GET {url}: {:?}", checked);
                }
                Ok(())
            })?;
            count.set(count.get() + 1);
            Ok(())
        })
        .unwrap();

    runtime.block_on(async {
        let health = f.env.acme.get(&f.env.s.url("/health")).await;
        health.ok(200);
        // And ACME still answers.
        f.env.acme.nonce().await;
        f.env.acme.fetch(&f.b, &f.b.url).await;
    });
    eprintln!(
        "{} fuzzed ACME requests in {:?}, none answered 5xx; outcomes:",
        count.get(),
        started.elapsed()
    );
    for (outcome, n) in outcomes.borrow().iter() {
        eprintln!("{n:5} {outcome}");
    }
}

#[tokio::test]
async fn revoke_cert_with_a_certificate_that_is_not_der_is_malformed() {
    // RFC 8555 §6.7: badCSR is "The CSR is unacceptable"; revokeCert carries
    // no CSR, and a certificate that does not parse is a malformed request
    // (Boulder: malformed).
    let f = fixture().await;
    let acme = &f.env.acme;
    let before = f.env.s.snapshot(&[]).await;
    for certificate in [
        b64(b"garbage"),
        b64([0x30, 0x03, 0x02, 0x01, 0x01]),
        String::new(),
    ] {
        let r = acme
            .post(
                &f.a,
                &acme.url("revokeCert"),
                Some(&json!({"certificate": certificate})),
            )
            .await;
        f.refused(&format!("certificate {certificate:?}"), &r, &["malformed"]);
    }
    f.env.s.assert_unchanged(&before, &[]).await;
}
