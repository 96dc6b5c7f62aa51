//! Bad input at the HTTP level: random JSON bodies and path ids
//! against the revoke, order and request endpoints, a bounded number of
//! cases per `cargo test` (`PROPTEST_CASES` raises it). Every answer is a
//! 2xx or a 4xx with the contract's error list, never a 5xx, and a refused
//! call changes nothing.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("keyCompromise"),
            Just("certificateHold"),
            Just("approved"),
            Just("rejected"),
            Just("canceled"),
            Just("superseded"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("comments".to_string()),
            Just("skip_approval".to_string()),
            Just("revocation_reason".to_string()),
            Just("status".to_string()),
            Just("processor_comment".to_string()),
            Just("certificate".to_string()),
            Just("csr".to_string()),
            Just("common_name".to_string()),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (1i64..50).prop_map(|i| i.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[0-9A-Fa-f:]{1,40}",
        "[^/?#]{1,20}".prop_map(|s| percent_encode(&s)),
    ]
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn random_bodies_and_ids_never_get_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s = Server::start_with(&["--rate-limit", "0"]);
    let user = s.user();
    let (cert, request) = runtime.block_on(async {
        let (_, cert) = s.user_order_issued(&user).await;
        let request = s.revoke(&user, cert, json!({})).await.ok(201).id();
        (cert, request)
    });
    let mut runner = TestRunner::new(Config::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(96),
    ));
    let endpoints = [
        (Method::PUT, "/certificate/{}/revoke"),
        (Method::PUT, "/order/certificate/{}/revoke"),
        (Method::PUT, "/request/{}/status"),
        (Method::POST, "/order/certificate/{}/reissue"),
        (Method::PUT, "/order/certificate/{}/status"),
        (Method::POST, "/order/certificate/{}"),
    ];
    let strategy = (0..endpoints.len(), any_id(), any_json(), any::<bool>());
    let cases = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(endpoint, id, body, as_admin)| {
            let (method, template) = &endpoints[endpoint];
            let path = template.replace("{}", &id);
            let key = if as_admin { s.admin() } else { user.as_str() };
            runtime.block_on(async {
                let before = s.snapshot(&[cert]).await;
                let pending_before = s.request(request).await["status"].clone();
                let r = s
                    .send(s.rb(method.clone(), &path, Some(key)).json(&body))
                    .await;
                prop_assert!(
                    r.status < 500,
                    "{method} {path} {body}: {} {}",
                    r.status,
                    r.text()
                );
                if r.status >= 400 {
                    r.error(r.status);
                    prop_assert_eq!(
                        s.snapshot(&[cert]).await,
                        before,
                        "a refused call changed state"
                    );
                    prop_assert_eq!(s.request(request).await["status"].clone(), pending_before);
                }
                Ok(())
            })?;
            cases.set(cases.get() + 1);
            Ok(())
        })
        .unwrap();
    eprintln!("{} random HTTP calls, none answered 5xx", cases.get());
}
