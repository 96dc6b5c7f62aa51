//! Contract section 3: orders, certificates, downloads, reissues.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn order_and_certificate_details_shape() {
    let s = Server::start();
    let r = s.place_order(s.admin(), "shape.example.com", true).await;
    r.ok(201);
    let (order_id, cert_id) = (r.id(), int(&r.json["certificate_id"]));
    assert!(r.request_id() > 0);

    let o = s.order(order_id).await;
    assert_eq!(int(&o["id"]), order_id);
    assert_eq!(o["status"], "issued");
    assert_datetime(&o["date_created"]);
    assert_eq!(o["product"]["name_id"], "ssl_basic", "{o}");
    let c = &o["certificate"];
    assert_eq!(int(&c["id"]), cert_id);
    assert_eq!(c["common_name"], "shape.example.com");
    let dns: Vec<&str> = c["dns_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(dns.contains(&"www.shape.example.com"), "{dns:?}");
    let serial = c["serial_number"].as_str().unwrap();
    assert!(
        !serial.is_empty()
            && serial
                .chars()
                .all(|ch| ch.is_ascii_digit() || ('A'..='F').contains(&ch)),
        "{serial}"
    );
    assert_eq!(c["status"], "issued");
    assert_date(&c["valid_from"]);
    assert_date(&c["valid_till"]);
    assert!(c["valid_from"].as_str() < c["valid_till"].as_str());
    assert!(
        c["signature_hash"].as_str().is_some_and(|h| !h.is_empty()),
        "{c}"
    );
    let reqs = o["requests"].as_array().expect("requests");
    assert_eq!(reqs.len(), 1, "{o}");
    assert_eq!(int(&reqs[0]["id"]), r.request_id());
    assert_eq!(reqs[0]["type"], "new_request");
    assert_eq!(reqs[0]["status"], "approved");
    assert_datetime(&reqs[0]["date"]);
    assert!(reqs[0].as_object().unwrap().contains_key("comments"), "{o}");

    let d = s.cert(cert_id).await;
    assert_eq!(int(&d["order_id"]), order_id);
    for f in [
        "id",
        "common_name",
        "dns_names",
        "serial_number",
        "status",
        "valid_from",
        "valid_till",
        "signature_hash",
    ] {
        assert_eq!(d[f], c[f], "certificate.{f}");
    }
}

#[tokio::test]
async fn user_order_waits_for_approval() {
    let s = Server::start();
    let user = s.user();
    let r = s.place_order(&user, "wait.example.com", false).await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "pending");
    assert!(
        r.json["certificate_id"].is_null(),
        "no certificate before approval: {}",
        r.text()
    );
    let o = s
        .get(&user, &format!("/order/certificate/{}", r.id()))
        .await
        .ok(200)
        .json
        .clone();
    assert_eq!(o["status"], "pending", "{o}");
    assert_eq!(s.request(r.request_id()).await["type"], "new_request");

    s.approve(r.request_id()).await.ok(204);
    let o = s
        .get(&user, &format!("/order/certificate/{}", r.id()))
        .await
        .ok(200)
        .json
        .clone();
    assert_eq!(o["status"], "issued");
    assert_eq!(s.cert_status(int(&o["certificate"]["id"])).await, "issued");

    // A rejected order stays without certificate.
    let r = s
        .place_order(&user, "nope.example.com", false)
        .await
        .ok(201)
        .json
        .clone();
    s.reject(int(&r["requests"][0]["id"])).await.ok(204);
    assert_eq!(s.order(int(&r["id"])).await["status"], "rejected");

    // An administrator's order without skip_approval also waits.
    let r = s.place_order(s.admin(), "adm.example.com", false).await;
    r.ok(201);
    assert_eq!(r.json["requests"][0]["status"], "pending");
    assert_eq!(s.order(r.id()).await["status"], "pending");
}

#[tokio::test]
async fn user_cannot_skip_order_approval() {
    let s = Server::start();
    let user = s.user();
    let before = s.requests_total().await;
    s.place_order(&user, "x.example.com", true)
        .await
        .error(403)
        .code("access_denied|missing_permission");
    assert_eq!(s.requests_total().await, before);
}

#[tokio::test]
async fn products_and_ignored_fields() {
    let s = Server::start();
    for (product, cn) in [
        ("ssl_basic", "b.example.com"),
        ("ssl_plus", "p.example.com"),
        ("ssl_multi_domain", "m.example.com"),
        ("ssl_wildcard", "*.w.example.com"),
    ] {
        let body = json!({
            "certificate": {"common_name": cn, "csr": csr(cn), "signature_hash": "sha256", "server_platform": {"id": 45}},
            "order_validity": {"years": 1},
            "organization": {"id": 123456},
            "payment_method": "balance",
            "skip_approval": true,
            "comments": "product test",
        });
        let r = s
            .post(s.admin(), &format!("/order/certificate/{product}"), body)
            .await;
        assert_eq!(r.status, 201, "{product}: {}", r.text());
        let o = s.order(r.id()).await;
        assert_eq!(o["product"]["name_id"], product);
        assert_eq!(o["certificate"]["common_name"], cn);
        assert_eq!(o["status"], "issued");
    }

    let before = s.requests_total().await;
    let body = json!({"certificate": {"common_name": "x.example.com", "csr": csr("x.example.com")}, "skip_approval": true});
    s.post(s.admin(), "/order/certificate/ssl_gold_plated", body)
        .await
        .error(400)
        .family("invalid_product");
    assert_eq!(s.requests_total().await, before);
}

#[tokio::test]
async fn bad_csrs_are_refused() {
    let s = Server::start();
    let before = s.requests_total().await;
    let good = csr("bad.example.com");
    // Flip one base64 character inside the signature part.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let n = lines.len() - 2;
    let mut chars: Vec<char> = lines[n].chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    lines[n] = chars.into_iter().collect();
    let tampered = lines.join("\n") + "\n";
    let weak = openssl_csr(s.dir.path(), "weak.example.com", 1024);

    for bad in [
        "not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        tampered.as_str(),
        weak.as_str(),
    ] {
        let body = json!({"certificate": {"common_name": "bad.example.com", "csr": bad}, "skip_approval": true});
        let r = s
            .post(s.admin(), "/order/certificate/ssl_basic", body)
            .await;
        r.error(400).family("invalid_csr");
    }
    assert_eq!(s.requests_total().await, before);
}

#[tokio::test]
async fn list_orders_paging_and_filters() {
    let s = Server::start();
    let mut ids = Vec::new();
    for cn in ["la.example.com", "lb.example.com", "lc.example.com"] {
        ids.push(s.place_order(s.admin(), cn, true).await.ok(201).id());
    }
    s.revoke_order(s.admin(), ids[2], json!({"skip_approval": true}))
        .await
        .ok(204);
    let serial_a = s.order(ids[0]).await["certificate"]["serial_number"]
        .as_str()
        .unwrap()
        .to_string();

    let sr = &s;
    let list = |q: String| async move {
        let r = sr.get(sr.admin(), &format!("/order/certificate{q}")).await;
        r.ok(200);
        let orders = r.json["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text()))
            .clone();
        let set: BTreeSet<i64> = orders.iter().map(|o| int(&o["id"])).collect();
        (set, r.json["page"].clone())
    };
    let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();

    let (all, page) = list(String::new()).await;
    assert_eq!(all, set(&ids));
    assert_eq!(int(&page["total"]), 3);
    let (one, page) = list("?offset=1&limit=1".into()).await;
    assert_eq!(one.len(), 1);
    assert_eq!(
        (
            int(&page["total"]),
            int(&page["limit"]),
            int(&page["offset"])
        ),
        (3, 1, 1)
    );
    let (none, _) = list("?offset=3".into()).await;
    assert!(none.is_empty());

    assert_eq!(
        list("?filters[status]=revoked".into()).await.0,
        set(&ids[2..])
    );
    assert_eq!(
        list("?filters%5Bstatus%5D=issued".into()).await.0,
        set(&ids[..2])
    );
    assert_eq!(
        list("?filters[common_name]=lb.example.com".into()).await.0,
        set(&ids[1..2])
    );
    assert_eq!(
        list(format!("?filters[serial_number]={serial_a}")).await.0,
        set(&ids[..1])
    );
    assert_eq!(
        list("?filters%5Bstatus%5D=revoked&filters%5Bcommon_name%5D=la.example.com".into())
            .await
            .0,
        set(&[])
    );

    for q in [
        "?filters[bogus]=x",
        "?filters%5Bbogus%5D=x",
        "?filters[status]=issued&filters[colour]=red",
    ] {
        s.get(s.admin(), &format!("/order/certificate{q}"))
            .await
            .error(400)
            .family("invalid_filter");
    }
}

#[tokio::test]
async fn download_formats() {
    let s = Server::start();
    let r = s.place_order(s.admin(), "dl.example.com", true).await;
    r.ok(201);
    let cert = int(&r.json["certificate_id"]);
    let sr = &s;
    let dl = |fmt: &'static str| async move {
        let r = sr
            .get(
                sr.admin(),
                &format!("/certificate/{cert}/download/format/{fmt}"),
            )
            .await;
        r.ok(200);
        r.text()
    };

    let all = pem_blocks(&dl("pem_all").await);
    assert_eq!(all.len(), 3, "pem_all is leaf, intermediate, root: {all:?}");
    assert!(
        all.iter()
            .all(|b| b.starts_with("-----BEGIN CERTIFICATE-----"))
    );
    let (leaf_sub, leaf_iss) = subject_issuer(&all[0]);
    let (int_sub, int_iss) = subject_issuer(&all[1]);
    let (root_sub, root_iss) = subject_issuer(&all[2]);
    assert!(
        leaf_sub.contains("dl.example.com"),
        "leaf first: {leaf_sub}"
    );
    assert_eq!(leaf_iss, int_sub, "intermediate issued the leaf");
    assert_eq!(int_iss, root_sub, "root issued the intermediate");
    assert_eq!(root_sub, root_iss, "root is self-signed");
    assert_ne!(int_sub, root_sub);

    let noroot = pem_blocks(&dl("pem_noroot").await);
    assert_eq!(noroot, all[..2].to_vec());
    assert_eq!(
        pem_blocks(
            &s.get(
                s.admin(),
                &format!("/certificate/{cert}/download/platform/45")
            )
            .await
            .ok(200)
            .text()
        ),
        all
    );

    let zip = s
        .send(
            s.rb(
                Method::GET,
                &format!("/certificate/{cert}/download/format/pem_all"),
                Some(s.admin()),
            )
            .header("Accept", "application/zip"),
        )
        .await;
    zip.ok(200);
    assert!(zip.bytes.starts_with(b"PK"), "a ZIP archive");
    let names = String::from_utf8_lossy(&zip.bytes).into_owned();
    for n in ["certificate.pem", "intermediate.pem", "root.pem"] {
        assert!(names.contains(n), "zip holds {n}");
    }

    s.get(
        s.admin(),
        &format!("/certificate/{cert}/download/format/docx"),
    )
    .await
    .error(400);
    s.get(s.admin(), "/certificate/999999/download/format/pem_all")
        .await
        .error(404)
        .code("not_found|certificate");

    // Still downloadable once revoked.
    s.revoke(s.admin(), cert, json!({"skip_approval": true}))
        .await
        .ok(204);
    assert_eq!(pem_blocks(&dl("pem_all").await), all);
}

#[tokio::test]
async fn openssl_rsa_csr_certificate_verifies_against_chain() {
    let s = Server::start();
    let dir = s.dir.path().to_path_buf();
    let cn = "ossl.example.com";
    let body = json!({
        "certificate": {"common_name": cn, "dns_names": [cn], "csr": openssl_csr(&dir, cn, 2048)},
        "validity_years": 1,
        "skip_approval": true,
    });
    let r = s
        .post(s.admin(), "/order/certificate/ssl_basic", body)
        .await;
    r.ok(201);
    let cert = int(&r.json["certificate_id"]);
    let pem = s
        .get(
            s.admin(),
            &format!("/certificate/{cert}/download/format/pem_all"),
        )
        .await
        .ok(200)
        .text();
    let blocks = pem_blocks(&pem);
    assert_eq!(blocks.len(), 3);
    for (name, b) in ["leaf.pem", "intermediate.pem", "root.pem"]
        .iter()
        .zip(&blocks)
    {
        std::fs::write(dir.join(name), b).unwrap();
    }
    let out = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
            "leaf.pem",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("leaf.pem: OK"),
        "openssl verify: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("openssl")
        .current_dir(&dir)
        .args(["x509", "-in", "leaf.pem", "-noout", "-text"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("DNS:{cn}")),
        "SAN carries the name: {text}"
    );
    assert!(
        text.contains("rsaEncryption"),
        "the CSR's RSA key is certified"
    );
}

#[tokio::test]
async fn reissue_workflow() {
    let s = Server::start();
    let user = s.user();
    let (order_id, old) = s.user_order_issued(&user).await;

    // Approved reissue: new certificate, order back to issued, old one still valid.
    let r = s.reissue(&user, order_id, false).await;
    r.ok(201);
    assert_eq!(int(&r.json["id"]), order_id);
    assert_eq!(r.json["requests"][0]["status"], "pending");
    assert_eq!(s.order(order_id).await["status"], "reissue_pending");
    assert_eq!(s.request(r.request_id()).await["type"], "reissue");
    s.approve(r.request_id()).await.ok(204);
    let o = s.order(order_id).await;
    assert_eq!(o["status"], "issued");
    let new = int(&o["certificate"]["id"]);
    assert_ne!(new, old);
    assert_eq!(s.cert_status(new).await, "issued");
    assert_eq!(s.cert_status(old).await, "issued");

    // Rejected reissue: nothing new.
    let r = s.reissue(&user, order_id, false).await.ok(201).json.clone();
    s.reject(int(&r["requests"][0]["id"])).await.ok(204);
    let o = s.order(order_id).await;
    assert_eq!(o["status"], "issued");
    assert_eq!(int(&o["certificate"]["id"]), new);

    // A user cannot skip approval of a reissue.
    s.reissue(&user, order_id, true)
        .await
        .error(403)
        .code("access_denied|missing_permission");
}
