//! The served OpenAPI document (`GET /services/v2/openapi.json`) against real
//! answers: a realistic sequence of calls, each answer's status must be
//! documented for its operation and its JSON body must validate against the
//! documented schema, with no undocumented fields. Every documented operation
//! must be exercised with a success, so an operation added to the document is
//! added here too.

use std::collections::BTreeSet;

use reqwest::Method;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::harness::*;

const V2: &str = "/services/v2";

/// The served document and what the sequence has exercised of it.
struct Spec {
    doc: Value,
    /// Schemas made strict for responses: objects allow no undocumented fields.
    strict_components: Value,
    succeeded: BTreeSet<(String, String)>,
}

impl Spec {
    async fn fetch(s: &Server) -> Spec {
        let r = s.send(s.rb(Method::GET, "/openapi.json", None)).await;
        r.ok(200);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let doc = r.json.clone();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "not OpenAPI 3.1: {}",
            doc["openapi"]
        );
        let mut strict_components = json!({"schemas": doc["components"]["schemas"].clone()});
        forbid_undocumented_fields(&mut strict_components);
        let mut spec = Spec {
            doc,
            strict_components,
            succeeded: BTreeSet::new(),
        };
        spec.check(&Method::GET, "/services/v2/openapi.json", &r)
            .unwrap();
        spec
    }

    fn operation(&self, method: &Method, template: &str) -> Result<&Value, String> {
        let item = self.doc["paths"]
            .get(template)
            .ok_or_else(|| format!("path {template} is not documented"))?;
        item.get(method.as_str().to_ascii_lowercase())
            .ok_or_else(|| format!("{method} {template} is not documented"))
    }

    /// `Err` when the answer's status is not documented for the operation or
    /// its body does not match the documented content.
    fn check(&mut self, method: &Method, template: &str, r: &Resp) -> Result<(), String> {
        let operation = self.operation(method, template)?;
        let status = r.status.to_string();
        let mut response = operation["responses"]
            .get(&status)
            .ok_or_else(|| {
                format!(
                    "{method} {template} answered {status}, which is not documented; body: {}",
                    r.text()
                )
            })?
            .clone();
        if let Some(reference) = response["$ref"].as_str() {
            response = self.resolve(reference)?.clone();
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if !r.bytes.is_empty() {
                return Err(format!(
                    "{method} {template} {status}: documented without a body, got {}",
                    r.text()
                ));
            }
            return self.record(method, template, r);
        };
        let content_type = r.header("content-type").unwrap_or_default();
        let (_, media) = content
            .iter()
            .find(|(documented, _)| essence(documented) == essence(&content_type))
            .ok_or_else(|| {
                format!(
                    "{method} {template} {status}: content type {content_type:?} is not documented"
                )
            })?;
        if essence(&content_type) == "application/json" {
            let body: Value = serde_json::from_slice(&r.bytes)
                .map_err(|e| format!("{method} {template} {status}: not JSON ({e})"))?;
            self.validate(&media["schema"], &body)
                .map_err(|e| format!("{method} {template} {status}: {e}; body: {body}"))?;
        }
        self.record(method, template, r)
    }

    fn record(&mut self, method: &Method, template: &str, r: &Resp) -> Result<(), String> {
        if (200..300).contains(&r.status) {
            self.succeeded
                .insert((method.to_string(), template.to_string()));
        }
        Ok(())
    }

    fn resolve(&self, reference: &str) -> Result<&Value, String> {
        reference
            .strip_prefix('#')
            .and_then(|pointer| self.doc.pointer(pointer))
            .ok_or_else(|| format!("unresolvable $ref {reference}"))
    }

    fn validate(&self, schema: &Value, body: &Value) -> Result<(), String> {
        let root = json!({"allOf": [schema], "components": self.strict_components});
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the documented schema does not compile: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Sends `method path` (a full path; `template` is its documented form)
    /// and checks the answer, which it returns.
    async fn call(
        &mut self,
        s: &Server,
        key: Option<&str>,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = reqwest::Client::new().request(method.clone(), s.url(path));
        if let Some(key) = key {
            rb = rb.header("X-DC-DEVKEY", key);
        }
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        let r = s.send(rb).await;
        self.check(&method, template, &r).unwrap();
        r
    }

    /// A method the path does not support: 405 with the error list, and an
    /// `Allow` header naming exactly the documented methods.
    async fn unsupported(&self, s: &Server, method: Method, template: &str, path: &str) {
        assert!(
            self.operation(&method, template).is_err(),
            "{method} {template} is documented"
        );
        let rb = reqwest::Client::new()
            .request(method.clone(), s.url(path))
            .header("X-DC-DEVKEY", s.admin());
        let r = s.send(rb).await;
        assert_any_error(&r, 405);
        self.validate(&json!({"$ref": "#/components/schemas/ErrorList"}), &r.json)
            .unwrap();
        let allowed: BTreeSet<String> = r
            .header(ALLOW.as_str())
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| m != "head")
            .collect();
        let documented: BTreeSet<String> = self.doc["paths"][template]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(allowed, documented, "Allow of {path}");
    }

    /// Every documented operation answered a success at least once.
    fn assert_all_exercised(&self) {
        let documented: BTreeSet<(String, String)> = self.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(|method| (method.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let missing: Vec<_> = documented.difference(&self.succeeded).collect();
        assert!(missing.is_empty(), "never answered 2xx: {missing:?}");
    }
}

/// The media type without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn forbid_undocumented_fields(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(forbid_undocumented_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_undocumented_fields),
        _ => {}
    }
}

fn v2(path: &str) -> String {
    format!("{V2}{path}")
}

#[tokio::test]
async fn served_document_describes_real_answers() {
    let s = Server::start();
    let mut spec = Spec::fetch(&s).await;
    let admin = s.admin().to_string();
    let user = s.user();
    let viewer = s.add_user("user", true);
    let a = Some(admin.as_str());
    let u = Some(user.as_str());
    use Method as M;

    // The caller's account.
    let me = "/services/v2/user/me";
    spec.call(&s, a, M::GET, me, me, None).await;
    spec.call(&s, Some(&viewer), M::GET, me, me, None).await;
    spec.call(&s, None, M::GET, me, me, None).await;
    spec.call(&s, Some("0123"), M::GET, me, me, None).await;

    // Orders: at once, pending, refused.
    let place = "/services/v2/order/certificate/{id}";
    let ssl_basic = v2("/order/certificate/ssl_basic");
    let order_body = |cn: &str, skip: bool| {
        json!({"certificate": {"common_name": cn, "dns_names": [format!("www.{cn}")], "csr": csr(cn)},
               "validity_years": 1, "skip_approval": skip, "comments": "for the shop"})
    };
    let issued = spec
        .call(
            &s,
            a,
            M::POST,
            place,
            &ssl_basic,
            Some(order_body("a.example.com", true)),
        )
        .await;
    let (order_a, cert_a) = (issued.id(), int(&issued.json["certificate_id"]));
    let pending = spec
        .call(
            &s,
            u,
            M::POST,
            place,
            &ssl_basic,
            Some(order_body("b.example.com", false)),
        )
        .await;
    let (order_b, new_request_b) = (pending.id(), pending.request_id());
    spec.call(
        &s,
        u,
        M::POST,
        place,
        &v2("/order/certificate/ssl_gold"),
        Some(order_body("c.example.com", false)),
    )
    .await
    .error(400);
    spec.call(
        &s,
        u,
        M::POST,
        place,
        &ssl_basic,
        Some(order_body("c.example.com", true)),
    )
    .await
    .error(403);
    spec.call(
        &s,
        Some(&viewer),
        M::POST,
        place,
        &ssl_basic,
        Some(order_body("c.example.com", false)),
    )
    .await
    .error(403);
    spec.call(
        &s,
        a,
        M::POST,
        place,
        &ssl_basic,
        Some(json!({"certificate": {"common_name": "x.example.com", "csr": "junk"}})),
    )
    .await
    .error(400);

    // The documented examples work as they are.
    let example = |schema: &str| spec.doc["components"]["schemas"][schema]["example"].clone();
    let (order_example, reissue_example) = (example("OrderBody"), example("ReissueBody"));
    let placed = spec
        .call(&s, u, M::POST, place, &ssl_basic, Some(order_example))
        .await;
    placed.ok(201);
    s.approve(placed.request_id()).await.ok(204);
    let reissue_placed = v2(&format!("/order/certificate/{}/reissue", placed.id()));
    spec.call(
        &s,
        u,
        M::POST,
        "/services/v2/order/certificate/{order_id}/reissue",
        &reissue_placed,
        Some(reissue_example),
    )
    .await
    .ok(201);

    // Order details before and after issuance, and lists.
    spec.call(
        &s,
        a,
        M::GET,
        place,
        &v2(&format!("/order/certificate/{order_b}")),
        None,
    )
    .await;
    spec.call(
        &s,
        u,
        M::GET,
        place,
        &v2(&format!("/order/certificate/{order_a}")),
        None,
    )
    .await;
    spec.call(&s, a, M::GET, place, &v2("/order/certificate/abc"), None)
        .await;
    let orders = "/services/v2/order/certificate";
    spec.call(&s, a, M::GET, orders, orders, None).await;
    spec.call(
        &s,
        u,
        M::GET,
        orders,
        &format!("{orders}?filters%5Bstatus%5D=pending&limit=5"),
        None,
    )
    .await;
    spec.call(
        &s,
        a,
        M::GET,
        orders,
        &format!("{orders}?filters[common_name]=a.example.com"),
        None,
    )
    .await;
    spec.call(
        &s,
        a,
        M::GET,
        orders,
        &format!("{orders}?filters[organization_id]=7"),
        None,
    )
    .await;
    spec.call(
        &s,
        a,
        M::GET,
        orders,
        &format!("{orders}?filters[colour]=red"),
        None,
    )
    .await
    .error(400);

    // The approval workflow on the pending order.
    let requests = "/services/v2/request";
    let request = "/services/v2/request/{request_id}";
    let decide = "/services/v2/request/{request_id}/status";
    spec.call(
        &s,
        a,
        M::GET,
        requests,
        &format!("{requests}?filters[status]=pending&sort=-date"),
        None,
    )
    .await;
    spec.call(
        &s,
        u,
        M::GET,
        requests,
        &format!("{requests}?filters[type]=new_request"),
        None,
    )
    .await;
    spec.call(
        &s,
        a,
        M::GET,
        requests,
        &format!("{requests}?sort=colour"),
        None,
    )
    .await
    .error(400);
    let new_request_path = v2(&format!("/request/{new_request_b}"));
    spec.call(&s, u, M::GET, request, &new_request_path, None)
        .await;
    let decide_b = format!("{new_request_path}/status");
    spec.call(
        &s,
        u,
        M::PUT,
        decide,
        &decide_b,
        Some(json!({"status": "approved"})),
    )
    .await
    .error(403);
    spec.call(
        &s,
        a,
        M::PUT,
        decide,
        &decide_b,
        Some(json!({"status": "maybe"})),
    )
    .await
    .error(400);
    spec.call(
        &s,
        a,
        M::PUT,
        decide,
        &decide_b,
        Some(json!({"status": "APPROVED", "processor_comment": "ok"})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        a,
        M::PUT,
        decide,
        &decide_b,
        Some(json!({"status": "rejected"})),
    )
    .await
    .error(409);
    spec.call(&s, a, M::GET, request, &new_request_path, None)
        .await;
    spec.call(&s, a, M::GET, request, &v2("/request/999999"), None)
        .await;
    let cert_b = int(&s.order(order_b).await["certificate"]["id"]);

    // Certificates: details by id and serial, downloads.
    let certificate = "/services/v2/certificate/{certificate_id}";
    let details = spec
        .call(
            &s,
            u,
            M::GET,
            certificate,
            &v2(&format!("/certificate/{cert_b}")),
            None,
        )
        .await;
    let serial = details.json["serial_number"].as_str().unwrap().to_string();
    spec.call(
        &s,
        u,
        M::GET,
        certificate,
        &v2(&format!("/certificate/{serial}")),
        None,
    )
    .await;
    spec.call(
        &s,
        u,
        M::GET,
        certificate,
        &v2(&format!("/certificate/{cert_a}")),
        None,
    )
    .await;
    let format = "/services/v2/certificate/{certificate_id}/download/format/{format}";
    spec.call(
        &s,
        u,
        M::GET,
        format,
        &v2(&format!("/certificate/{cert_b}/download/format/pem_all")),
        None,
    )
    .await;
    spec.call(
        &s,
        u,
        M::GET,
        format,
        &v2(&format!("/certificate/{cert_b}/download/format/pem_jpeg")),
        None,
    )
    .await;
    let zip = s
        .send(
            reqwest::Client::new()
                .get(s.api(&format!("/certificate/{cert_b}/download/format/pem_noroot")))
                .header("X-DC-DEVKEY", &user)
                .header(ACCEPT, "application/zip"),
        )
        .await;
    spec.check(&M::GET, format, &zip).unwrap();
    let platform = "/services/v2/certificate/{certificate_id}/download/platform/{platform_id}";
    spec.call(
        &s,
        u,
        M::GET,
        platform,
        &v2(&format!("/certificate/{cert_b}/download/platform/45")),
        None,
    )
    .await;

    // Revoke with approval: request, duplicate, details, rejection.
    let revoke = "/services/v2/certificate/{certificate_id}/revoke";
    let revoke_b = v2(&format!("/certificate/{cert_b}/revoke"));
    let asked = spec
        .call(
            &s,
            u,
            M::PUT,
            revoke,
            &revoke_b,
            Some(json!({"comments": "lost laptop", "revocation_reason": "key_compromise"})),
        )
        .await;
    asked.ok(201);
    spec.call(&s, u, M::PUT, revoke, &revoke_b, None)
        .await
        .error(409);
    let revoke_request = v2(&format!("/request/{}", asked.id()));
    spec.call(&s, a, M::GET, request, &revoke_request, None)
        .await;
    spec.call(
        &s,
        a,
        M::PUT,
        decide,
        &format!("{revoke_request}/status"),
        Some(json!({"status": "rejected"})),
    )
    .await
    .ok(204);
    spec.call(&s, a, M::GET, request, &revoke_request, None)
        .await;
    for body in [
        json!({"revocation_reason": "certificateHold"}),
        json!({"comments": 5}),
        json!({"comments": "x".repeat(1001)}),
    ] {
        spec.call(&s, u, M::PUT, revoke, &revoke_b, Some(body))
            .await
            .error(400);
    }
    spec.call(
        &s,
        u,
        M::PUT,
        revoke,
        &revoke_b,
        Some(json!({"skip_approval": true})),
    )
    .await
    .error(403);
    spec.call(&s, Some(&viewer), M::PUT, revoke, &revoke_b, None)
        .await
        .error(403);
    spec.call(
        &s,
        u,
        M::PUT,
        revoke,
        &v2(&format!("/certificate/{cert_a}/revoke")),
        None,
    )
    .await
    .error(404);
    let big = s
        .raw(
            M::PUT,
            u,
            &format!("/certificate/{cert_b}/revoke"),
            Some("application/json"),
            vec![b' '; 70 * 1024],
        )
        .await;
    spec.check(&M::PUT, revoke, &big).unwrap();
    assert_any_error(&big, 413);

    // Revoke at once; the revoked certificate's details; a second revoke.
    spec.call(
        &s,
        a,
        M::PUT,
        revoke,
        &v2(&format!("/certificate/{cert_a}/revoke")),
        Some(json!({"skip_approval": true, "revocation_reason": "superseded"})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        a,
        M::GET,
        certificate,
        &v2(&format!("/certificate/{cert_a}")),
        None,
    )
    .await;
    spec.call(
        &s,
        a,
        M::PUT,
        revoke,
        &v2(&format!("/certificate/{cert_a}/revoke")),
        Some(json!({"skip_approval": true})),
    )
    .await
    .error(409);

    // Reissue, a revoke that meets it, cancellation.
    let reissue = "/services/v2/order/certificate/{order_id}/reissue";
    let cancel = "/services/v2/order/certificate/{order_id}/status";
    let reissue_b = v2(&format!("/order/certificate/{order_b}/reissue"));
    spec.call(
        &s,
        u,
        M::POST,
        reissue,
        &reissue_b,
        Some(json!({"certificate": {"csr": csr("b.example.com")}})),
    )
    .await
    .ok(201);
    spec.call(
        &s,
        a,
        M::GET,
        place,
        &v2(&format!("/order/certificate/{order_b}")),
        None,
    )
    .await;
    spec.call(&s, u, M::PUT, revoke, &revoke_b, None)
        .await
        .error(409);
    spec.call(
        &s,
        u,
        M::POST,
        reissue,
        &reissue_b,
        Some(json!({"certificate": {"csr": csr("b.example.com")}})),
    )
    .await
    .error(409);
    spec.call(
        &s,
        u,
        M::POST,
        reissue,
        &v2("/order/certificate/999999/reissue"),
        Some(json!({"certificate": {"csr": csr("b.example.com")}})),
    )
    .await
    .error(404);
    let cancel_b = v2(&format!("/order/certificate/{order_b}/status"));
    spec.call(
        &s,
        u,
        M::PUT,
        cancel,
        &cancel_b,
        Some(json!({"status": "issued"})),
    )
    .await
    .error(400);
    spec.call(
        &s,
        u,
        M::PUT,
        cancel,
        &cancel_b,
        Some(json!({"status": "canceled", "note": "wrong key"})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        u,
        M::PUT,
        cancel,
        &cancel_b,
        Some(json!({"status": "canceled"})),
    )
    .await
    .error(409);
    spec.call(
        &s,
        u,
        M::PUT,
        cancel,
        &v2("/order/certificate/999999/status"),
        Some(json!({"status": "canceled"})),
    )
    .await
    .error(404);
    spec.call(
        &s,
        a,
        M::POST,
        reissue,
        &v2(&format!("/order/certificate/{order_a}/reissue")),
        Some(json!({"certificate": {"csr": csr("a.example.com")}, "skip_approval": true})),
    )
    .await
    .ok(201);

    // Revoke the whole order, with approval, then reissue the revoked order.
    let revoke_order = "/services/v2/order/certificate/{order_id}/revoke";
    let revoke_b_order = v2(&format!("/order/certificate/{order_b}/revoke"));
    let asked = spec
        .call(
            &s,
            u,
            M::PUT,
            revoke_order,
            &revoke_b_order,
            Some(json!({"comments": "shop closed", "revocation_reason": "cessationOfOperation"})),
        )
        .await;
    asked.ok(201);
    spec.call(&s, u, M::PUT, revoke_order, &revoke_b_order, None)
        .await
        .error(409);
    spec.call(
        &s,
        a,
        M::PUT,
        decide,
        &v2(&format!("/request/{}/status", asked.id())),
        Some(json!({"status": "approved"})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        u,
        M::GET,
        place,
        &v2(&format!("/order/certificate/{order_b}")),
        None,
    )
    .await;
    spec.call(
        &s,
        u,
        M::POST,
        reissue,
        &reissue_b,
        Some(json!({"certificate": {"csr": csr("b.example.com")}})),
    )
    .await
    .error(409);
    spec.call(
        &s,
        a,
        M::PUT,
        revoke_order,
        &v2(&format!("/order/certificate/{order_a}/revoke")),
        Some(json!({"skip_approval": true})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        a,
        M::PUT,
        revoke_order,
        &v2("/order/certificate/999999/revoke"),
        None,
    )
    .await
    .error(404);
    spec.call(&s, a, M::GET, requests, requests, None).await;

    // The audit log.
    let audit = "/services/v2/audit-log";
    spec.call(&s, a, M::GET, audit, audit, None).await;
    spec.call(
        &s,
        a,
        M::GET,
        audit,
        &format!("{audit}?filters[action]=revoke&limit=2&offset=1"),
        None,
    )
    .await;
    spec.call(&s, u, M::GET, audit, audit, None).await;
    spec.call(&s, a, M::GET, audit, &format!("{audit}?limit=none"), None)
        .await
        .error(400);

    // Users and API keys, administrators only.
    let users = "/services/v2/user";
    let a_user = "/services/v2/user/{user_id}";
    let user_status = "/services/v2/user/{user_id}/status";
    let keys = "/services/v2/key";
    let create_key = "/services/v2/key/user/{user_id}";
    let key_status = "/services/v2/key/{key_id}/status";
    let user_id = s.me(&user).await["id"].as_i64().unwrap();
    spec.call(
        &s,
        a,
        M::GET,
        users,
        &format!("{users}?limit=2&offset=1"),
        None,
    )
    .await
    .ok(200);
    spec.call(&s, u, M::GET, users, users, None)
        .await
        .error(403);
    let new_user = |email: &str| {
        Some(
            json!({"first_name": "Ana", "last_name": "Lima", "email": email,
                    "access_roles": [{"id": 2}], "restricted_to_role_id": 102}),
        )
    };
    let email = format!("openapi{}@example.com", unique());
    spec.call(&s, a, M::POST, users, users, new_user(&email))
        .await
        .ok(201);
    spec.call(
        &s,
        a,
        M::POST,
        users,
        users,
        new_user(&email.to_uppercase()),
    )
    .await
    .error(409);
    spec.call(&s, a, M::POST, users, users, new_user("ana@"))
        .await
        .error(400);
    spec.call(&s, u, M::POST, users, users, new_user("bo@example.com"))
        .await
        .error(403);
    let user_path = v2(&format!("/user/{user_id}"));
    spec.call(&s, a, M::GET, a_user, &user_path, None)
        .await
        .ok(200);
    spec.call(&s, a, M::GET, a_user, &v2("/user/999999"), None)
        .await
        .error(404);
    let created = spec
        .call(
            &s,
            a,
            M::POST,
            create_key,
            &v2(&format!("/key/user/{user_id}")),
            Some(json!({"name": "deploy", "restricted_to_role_id": 102})),
        )
        .await;
    created.ok(201);
    let key_id = created.json["id"].as_i64().unwrap();
    spec.call(
        &s,
        a,
        M::POST,
        create_key,
        &v2(&format!("/key/user/{user_id}")),
        Some(json!({"restricted_to_role_id": 7})),
    )
    .await
    .error(400);
    spec.call(
        &s,
        a,
        M::GET,
        keys,
        &format!("{keys}?filters[user_id]={user_id}"),
        None,
    )
    .await
    .ok(200);
    let key_path = v2(&format!("/key/{key_id}/status"));
    let revoked = Some(json!({"status": "revoked"}));
    spec.call(&s, a, M::PUT, key_status, &key_path, revoked.clone())
        .await
        .ok(204);
    spec.call(&s, a, M::PUT, key_status, &key_path, revoked)
        .await
        .error(409);
    let status_path = v2(&format!("/user/{user_id}/status"));
    spec.call(
        &s,
        a,
        M::PUT,
        user_status,
        &status_path,
        Some(json!({"status": "gone"})),
    )
    .await
    .error(400);
    spec.call(
        &s,
        a,
        M::PUT,
        user_status,
        &status_path,
        Some(json!({"status": "disabled"})),
    )
    .await
    .ok(204);
    spec.call(
        &s,
        a,
        M::POST,
        create_key,
        &v2(&format!("/key/user/{user_id}")),
        Some(json!({})),
    )
    .await
    .error(409);
    spec.call(
        &s,
        a,
        M::PUT,
        user_status,
        &status_path,
        Some(json!({"status": "active"})),
    )
    .await
    .ok(204);

    // Methods a path does not support.
    spec.unsupported(
        &s,
        M::DELETE,
        certificate,
        &v2(&format!("/certificate/{cert_a}")),
    )
    .await;
    spec.unsupported(&s, M::GET, revoke, &revoke_b).await;
    spec.unsupported(&s, M::PATCH, requests, requests).await;
    spec.unsupported(
        &s,
        M::POST,
        "/services/v2/openapi.json",
        "/services/v2/openapi.json",
    )
    .await;

    // Publication, outside /services/v2 and without a key.
    spec.call(&s, None, M::GET, "/health", "/health", None)
        .await;
    spec.call(&s, None, M::GET, "/crl/", "/crl/", None).await;
    spec.call(&s, None, M::GET, "/crl/{file}", "/crl/0.crl", None)
        .await;
    spec.call(&s, None, M::GET, "/crl/{file}", "/crl/nine.crl", None)
        .await;
    spec.call(&s, None, M::GET, "/ca/chain.pem", "/ca/chain.pem", None)
        .await;
    spec.call(&s, None, M::GET, "/ca/issuer.der", "/ca/issuer.der", None)
        .await;
    spec.call(&s, None, M::GET, "/ocsp/{request}", "/ocsp/AAAA", None)
        .await;
    let ocsp = reqwest::Client::new()
        .post(s.url("/ocsp"))
        .header(CONTENT_TYPE, "application/ocsp-request")
        .body(vec![0x30, 0x00]);
    let r = s.send(ocsp).await;
    spec.check(&M::POST, "/ocsp", &r).unwrap();
    spec.call(&s, None, M::GET, "/metrics", "/metrics", None)
        .await;

    spec.assert_all_exercised();
}

/// The checks above can fail: a document that lost a field, or a status,
/// no longer matches the same real answers.
#[tokio::test]
async fn drifted_document_is_caught() {
    let s = Server::start();
    let mut spec = Spec::fetch(&s).await;
    let (_, cert) = s.issue_certificate(s.admin()).await;
    let revoke = "/services/v2/certificate/{certificate_id}/revoke";
    let asked = s.revoke(s.admin(), cert, json!({})).await;
    asked.ok(201);
    spec.check(&Method::PUT, revoke, &asked).unwrap();

    let mut lost_field = Spec::fetch(&s).await;
    let properties = &mut lost_field.strict_components["schemas"]["RequestObject"]["properties"];
    properties.as_object_mut().unwrap().remove("comments");
    let error = lost_field.check(&Method::PUT, revoke, &asked).unwrap_err();
    assert!(error.contains("comments"), "{error}");

    let mut lost_status = Spec::fetch(&s).await;
    let responses = lost_status.doc["paths"][revoke]["put"]["responses"]
        .as_object_mut()
        .unwrap();
    responses.remove("201");
    let error = lost_status.check(&Method::PUT, revoke, &asked).unwrap_err();
    assert!(error.contains("201"), "{error}");

    let other_id = s.revoke(s.admin(), cert, json!({})).await;
    let mut wrong_type = Spec::fetch(&s).await;
    wrong_type.strict_components["schemas"]["ErrorItem"]["properties"]["code"] =
        json!({"type": "integer"});
    assert!(
        wrong_type.check(&Method::PUT, revoke, &other_id).is_err(),
        "a 409 error list validated against a wrong ErrorItem"
    );
}
