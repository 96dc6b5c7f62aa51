//! Contract 4.4: the approval workflow.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::*;

async fn list(s: &Server, key: &str, query: &str) -> (Vec<Value>, Value) {
    let r = s.get(key, &format!("/request{query}")).await;
    r.ok(200);
    (
        r.json["requests"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text()))
            .clone(),
        r.json["page"].clone(),
    )
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|r| int(&r["id"])).collect()
}

fn id_set(items: &[Value]) -> BTreeSet<i64> {
    ids(items).into_iter().collect()
}

#[tokio::test]
async fn list_filters_paging_and_sort() {
    let s = Server::start();
    let admin = s.admin().to_string();
    let (_, c1) = s.issue_certificate(&admin).await;
    let (_, c2) = s.issue_certificate(&admin).await;
    let (_, c3) = s.issue_certificate(&admin).await;
    let r1 = s.revoke(&admin, c1, json!({})).await.ok(201).id();
    let r2 = s.revoke(&admin, c2, json!({})).await.ok(201).id();
    let r3 = s.revoke(&admin, c3, json!({})).await.ok(201).id();
    s.reject(r3).await.ok(204);
    let user = s.user();
    let new_req = s
        .place_order(&user, "p.example.com", false)
        .await
        .ok(201)
        .request_id();

    let (all, page) = list(&s, &admin, "").await;
    assert_eq!(int(&page["total"]), all.len() as i64);
    assert_eq!(
        all.len(),
        7,
        "3 orders + 3 revokes + 1 pending order: {all:?}"
    );
    assert_eq!(int(&page["offset"]), 0);
    assert_eq!(int(&page["limit"]), 1000, "default limit");
    for r in &all {
        assert_datetime(&r["date"]);
        assert!(
            ["new_request", "revoke", "reissue"].contains(&r["type"].as_str().unwrap()),
            "{r}"
        );
    }

    let expect = |q: &'static str, want: Vec<i64>| {
        let s = &s;
        let admin = &admin;
        async move {
            let (items, page) = list(s, admin, q).await;
            assert_eq!(id_set(&items), want.into_iter().collect(), "query {q}");
            assert_eq!(int(&page["total"]), items.len() as i64, "query {q}");
            items
        }
    };
    for r in expect("?filters[status]=pending", vec![r1, r2, new_req]).await {
        assert_eq!(r["status"], "pending");
    }
    expect("?filters%5Bstatus%5D=pending", vec![r1, r2, new_req]).await;
    for r in expect("?filters[type]=revoke", vec![r1, r2, r3]).await {
        assert_eq!(r["type"], "revoke");
    }
    expect("?filters%5Btype%5D=revoke", vec![r1, r2, r3]).await;
    expect(
        "?filters[type]=revoke&filters[status]=pending",
        vec![r1, r2],
    )
    .await;
    expect("?filters%5Bstatus%5D=rejected", vec![r3]).await;

    // Sorting.
    let (asc, _) = list(&s, &admin, "?sort=id").await;
    let asc_ids = ids(&asc);
    let mut sorted = asc_ids.clone();
    sorted.sort();
    assert_eq!(asc_ids, sorted, "sort=id ascending");
    let (desc, _) = list(&s, &admin, "?sort=-id").await;
    let mut rev = sorted.clone();
    rev.reverse();
    assert_eq!(ids(&desc), rev, "sort=-id descending");
    let dates = |v: &[Value]| {
        v.iter()
            .map(|r| r["date"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (by_date, _) = list(&s, &admin, "?sort=date").await;
    assert!(
        dates(&by_date).windows(2).all(|w| w[0] <= w[1]),
        "sort=date"
    );
    let (by_date_desc, _) = list(&s, &admin, "?sort=-date").await;
    assert!(
        dates(&by_date_desc).windows(2).all(|w| w[0] >= w[1]),
        "sort=-date"
    );

    // Paging.
    let (page_items, page) = list(&s, &admin, "?sort=id&offset=1&limit=2").await;
    assert_eq!(ids(&page_items), sorted[1..3].to_vec());
    assert_eq!(
        int(&page["total"]),
        7,
        "total counts all matches, not the page"
    );
    assert_eq!(int(&page["limit"]), 2);
    assert_eq!(int(&page["offset"]), 1);
    let (tail, _) = list(&s, &admin, "?sort=id&offset=6&limit=5").await;
    assert_eq!(ids(&tail), sorted[6..].to_vec());
    let (none, page) = list(&s, &admin, "?offset=100").await;
    assert!(none.is_empty());
    assert_eq!(int(&page["total"]), 7);
}

#[tokio::test]
async fn users_see_only_their_own_requests() {
    let s = Server::start();
    let (a, b) = (s.user(), s.user());
    let (me_a, me_b) = (s.me(&a).await, s.me(&b).await);
    let (_, ca) = s.user_order_issued(&a).await;
    let (_, cb) = s.user_order_issued(&b).await;
    let ra = s.revoke(&a, ca, json!({})).await.ok(201).id();
    let rb = s.revoke(&b, cb, json!({})).await.ok(201).id();

    let (items_a, page_a) = list(&s, &a, "").await;
    assert!(!items_a.is_empty());
    assert_eq!(int(&page_a["total"]), items_a.len() as i64);
    assert!(
        items_a.iter().all(|r| r["requester"]["id"] == me_a["id"]),
        "{items_a:?}"
    );
    assert!(id_set(&items_a).contains(&ra) && !id_set(&items_a).contains(&rb));

    let (items_b, _) = list(&s, &b, "?filters[type]=revoke").await;
    assert_eq!(ids(&items_b), vec![rb]);
    assert_eq!(items_b[0]["requester"]["id"], me_b["id"]);

    s.get(&a, &format!("/request/{rb}"))
        .await
        .error(404)
        .code("not_found|request");
    s.get(&a, &format!("/request/{ra}")).await.ok(200);

    let all = id_set(&s.requests().await);
    assert!(
        all.contains(&ra) && all.contains(&rb),
        "administrator sees all"
    );
}

#[tokio::test]
async fn approve_revokes_and_reject_keeps_certificate_valid() {
    let s = Server::start();
    let user = s.user();
    let admin_me = s.me(s.admin()).await;
    let (order1, c1) = s.user_order_issued(&user).await;
    let (_, c2) = s.user_order_issued(&user).await;
    let r1 = s
        .revoke(&user, c1, json!({"comments": "please"}))
        .await
        .ok(201)
        .id();
    let r2 = s.revoke(&user, c2, json!({})).await.ok(201).id();

    let resp = s
        .put(
            s.admin(),
            &format!("/request/{r1}/status"),
            json!({"status": "approved", "processor_comment": "ok by me"}),
        )
        .await;
    resp.ok(204);
    assert!(resp.bytes.is_empty());
    assert_eq!(s.cert_status(c1).await, "revoked");
    let d = s.request(r1).await;
    assert_eq!(d["status"], "approved");
    assert_eq!(d["type"], "revoke");
    assert_eq!(d["comments"], "please");
    assert_eq!(d["processor"]["id"], admin_me["id"], "{d}");
    assert_eq!(d["processor_comment"], "ok by me", "{d}");
    assert_datetime(&d["date_processed"]);
    assert_eq!(int(&d["order"]["id"]), order1);
    let c = &d["order"]["certificate"];
    assert_eq!(int(&c["id"]), c1);
    assert!(
        c["common_name"].is_string() && c["serial_number"].is_string(),
        "{d}"
    );

    s.reject(r2).await.ok(204);
    assert_eq!(s.cert_status(c2).await, "issued");
    let d = s.request(r2).await;
    assert_eq!(d["status"], "rejected");
    assert_eq!(d["processor"]["id"], admin_me["id"]);

    // After a rejection a new revoke request may be made.
    s.revoke(&user, c2, json!({})).await.ok(201);
}

#[tokio::test]
async fn deciding_a_decided_request_is_409() {
    let s = Server::start();
    let (_, c1) = s.issue_certificate(s.admin()).await;
    let (_, c2) = s.issue_certificate(s.admin()).await;
    let r1 = s.revoke(s.admin(), c1, json!({})).await.ok(201).id();
    let r2 = s.revoke(s.admin(), c2, json!({})).await.ok(201).id();
    s.approve(r1).await.ok(204);
    s.reject(r2).await.ok(204);

    let before = s.snapshot(&[c1, c2]).await;
    for (id, status) in [
        (r1, "approved"),
        (r1, "rejected"),
        (r2, "approved"),
        (r2, "rejected"),
    ] {
        s.set_request_status(s.admin(), id, status)
            .await
            .error(409)
            .family("request_not_pending");
    }
    s.assert_unchanged(&before, &[c1, c2]).await;
    assert_eq!(before.statuses, vec!["revoked", "issued"]);
    assert_eq!(s.request(r1).await["status"], "approved");
    assert_eq!(s.request(r2).await["status"], "rejected");
}

#[tokio::test]
async fn non_admin_cannot_approve_or_reject() {
    let s = Server::start();
    let user = s.user();
    let (_, cert) = s.user_order_issued(&user).await;
    let r = s.revoke(&user, cert, json!({})).await.ok(201).id();
    let before = s.snapshot(&[cert]).await;
    for status in ["approved", "rejected"] {
        s.set_request_status(&user, r, status)
            .await
            .error(403)
            .code("access_denied|missing_permission");
    }
    s.assert_unchanged(&before, &[cert]).await;
    assert_eq!(s.request(r).await["status"], "pending");
}

#[tokio::test]
async fn status_values_are_checked() {
    let s = Server::start();
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let r = s.revoke(s.admin(), cert, json!({})).await.ok(201).id();
    let before = s.snapshot(&[cert]).await;
    for bad in ["canceled", "pending", "submitted", "yes"] {
        s.set_request_status(s.admin(), r, bad)
            .await
            .error(400)
            .family("invalid_status");
    }
    s.put(s.admin(), &format!("/request/{r}/status"), json!({}))
        .await
        .error(400);
    s.assert_unchanged(&before, &[cert]).await;
    s.set_request_status(s.admin(), 999999, "approved")
        .await
        .error(404)
        .code("not_found|request");
    s.get(s.admin(), "/request/999999")
        .await
        .error(404)
        .code("not_found|request");

    // Enum values match case-insensitively.
    s.set_request_status(s.admin(), r, "APPROVED").await.ok(204);
    assert_eq!(s.cert_status(cert).await, "revoked");
}
