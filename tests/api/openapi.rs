//! The served OpenAPI document (`GET /services/v2/openapi.json`) against real
//! answers: a realistic sequence of calls, each answer's status must be
//! documented for its operation and its JSON body must validate against the
//! documented schema, with no undocumented fields. Every documented operation
//! must be exercised with a success, so an operation added to the document is
//! added here too.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::harness::*;

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

    /// Makes the case's call and checks its answer against the document
    /// and against the case's expectation; returns the answer.
    async fn one(&mut self, calls: &Calls<'_>, case: &Case) -> Resp {
        let s = calls.server;
        let path = calls.fill(case.path);
        let what = format!("{:?} {} {path}", case.who, case.method);
        let mut rb = reqwest::Client::new().request(case.method.clone(), s.url(&path));
        if let Some(key) = calls.key(case.who) {
            rb = rb.header("X-DC-DEVKEY", key);
        }
        if let Some(accept) = case.accept {
            rb = rb.header(ACCEPT, accept);
        }
        rb = match case.body {
            Body::Empty => rb,
            Body::Raw(content_type, bytes) => rb.header(CONTENT_TYPE, content_type).body(bytes),
            _ => rb.json(&calls.body(case.body, &self.doc)),
        };
        let r = s.send(rb).await;
        if let Err(e) = self.check(&case.method, case.template, &r) {
            panic!("{what}: {e}");
        }
        r.check(case.expect, &what);
        r
    }

    /// Makes every case's call, in order.
    async fn run(&mut self, calls: &Calls<'_>, cases: &[Case]) {
        for case in cases {
            self.one(calls, case).await;
        }
    }

    /// A method the path does not support: 405 with the error list, and an
    /// `Allow` header naming exactly the documented methods.
    async fn unsupported(&self, calls: &Calls<'_>, method: &Method, template: &str, path: &str) {
        let (s, path) = (calls.server, calls.fill(path));
        assert!(
            self.operation(method, template).is_err(),
            "{method} {template} is documented"
        );
        let rb = reqwest::Client::new()
            .request(method.clone(), s.url(&path))
            .header("X-DC-DEVKEY", s.admin());
        let r = s.send(rb).await;
        r.error(405);
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

// ---------------------------------------------------------------------------
// The sequence as data
// ---------------------------------------------------------------------------

/// Who makes a call.
#[derive(Clone, Copy, Debug)]
enum Who {
    Admin,
    /// A plain user, who places the orders the sequence works on.
    User,
    /// A view-only key.
    Viewer,
    /// A second administrator (campaigns need one other than the requester).
    Approver,
    NoKey,
    /// A key that was never issued.
    BadKey,
}

/// What a call sends.
#[derive(Clone, Copy, Debug)]
enum Body {
    Empty,
    /// This JSON text.
    Json(&'static str),
    /// This JSON text with each `{name}` of a value replaced by the value.
    Filled(&'static str),
    /// An order (`comments` "for the shop") of this common name with a fresh
    /// CSR, and `skip_approval` as given.
    Order(&'static str, bool),
    /// A reissue with a fresh CSR of this common name; `true` adds
    /// `"skip_approval": true`.
    Reissue(&'static str, bool),
    /// The example the document gives for this schema, as it is.
    Example(&'static str),
    /// A new user with this e-mail address (`{email}` is a unique one,
    /// `{EMAIL}` the same in upper case).
    NewUser(&'static str),
    /// Revoke comments of this many characters.
    Comments(usize),
    /// These bytes as this content type.
    Raw(&'static str, &'static [u8]),
}

/// One call and what its answer must be.
struct Case {
    who: Who,
    method: Method,
    /// The documented path.
    template: &'static str,
    /// The path called; `{name}` stands for a value an earlier answer gave.
    path: &'static str,
    body: Body,
    /// Besides a documented status and a body that matches the document.
    expect: Expect,
    accept: Option<&'static str>,
}

const fn case(
    who: Who,
    method: Method,
    template: &'static str,
    path: &'static str,
    body: Body,
    expect: Expect,
) -> Case {
    Case {
        who,
        method,
        template,
        path,
        body,
        expect,
        accept: None,
    }
}

impl Case {
    const fn accept(mut self, media_type: &'static str) -> Case {
        self.accept = Some(media_type);
        self
    }
}

/// The server, the callers' keys and the values earlier answers gave.
struct Calls<'a> {
    server: &'a Server,
    user: String,
    viewer: String,
    approver: String,
    values: BTreeMap<&'static str, String>,
}

impl Calls<'_> {
    fn key(&self, who: Who) -> Option<&str> {
        match who {
            Who::Admin => Some(self.server.admin()),
            Who::User => Some(&self.user),
            Who::Viewer => Some(&self.viewer),
            Who::Approver => Some(&self.approver),
            Who::NoKey => None,
            Who::BadKey => Some("0123"),
        }
    }

    fn set(&mut self, name: &'static str, value: impl ToString) {
        self.values.insert(name, value.to_string());
    }

    /// `text` with each `{name}` replaced by its value.
    fn fill(&self, text: &str) -> String {
        let mut filled = text.to_string();
        for (name, value) in &self.values {
            filled = filled.replace(&format!("{{{name}}}"), value);
        }
        assert!(!filled.contains('{'), "a value is missing in {text}");
        filled
    }

    fn body(&self, body: Body, doc: &Value) -> Value {
        match body {
            Body::Empty | Body::Raw(..) => unreachable!("not JSON"),
            Body::Json(text) => serde_json::from_str(text).unwrap(),
            Body::Filled(text) => {
                let mut filled = text.to_string();
                for (name, value) in &self.values {
                    filled = filled.replace(&format!("{{{name}}}"), value);
                }
                // A `{name}` left unfilled is no JSON.
                serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{filled}: {e}"))
            }
            Body::Order(cn, skip) => json!({
                "certificate": {"common_name": cn, "dns_names": [format!("www.{cn}")], "csr": csr(cn)},
                "validity_years": 1, "skip_approval": skip, "comments": "for the shop",
            }),
            Body::Reissue(cn, false) => json!({"certificate": {"csr": csr(cn)}}),
            Body::Reissue(cn, true) => {
                json!({"certificate": {"csr": csr(cn)}, "skip_approval": true})
            }
            Body::Example(schema) => {
                let example = doc["components"]["schemas"][schema]["example"].clone();
                assert!(!example.is_null(), "{schema} has no example");
                example
            }
            Body::NewUser(email) => json!({
                "first_name": "Ana", "last_name": "Lima", "email": self.fill(email),
                "access_roles": [{"id": 2}], "restricted_to_role_id": 102,
            }),
            Body::Comments(length) => json!({"comments": "x".repeat(length)}),
        }
    }
}

use Body::{Comments, Empty, Example, Filled, Json, NewUser, Order, Raw, Reissue};
use Expect::{Allowed, Refused};
use Who::{Admin, Approver, BadKey, NoKey, User, Viewer};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;

// The documented paths.
const OPENAPI: &str = "/services/v2/openapi.json";
const ME: &str = "/services/v2/user/me";
const PLACE: &str = "/services/v2/order/certificate/{id}";
const ORDERS: &str = "/services/v2/order/certificate";
const REISSUE: &str = "/services/v2/order/certificate/{order_id}/reissue";
const CANCEL: &str = "/services/v2/order/certificate/{order_id}/status";
const REVOKE_ORDER: &str = "/services/v2/order/certificate/{order_id}/revoke";
const REQUESTS: &str = "/services/v2/request";
const REQUEST: &str = "/services/v2/request/{request_id}";
const DECIDE: &str = "/services/v2/request/{request_id}/status";
const CERTIFICATE: &str = "/services/v2/certificate/{certificate_id}";
const FORMAT: &str = "/services/v2/certificate/{certificate_id}/download/format/{format}";
const PLATFORM: &str = "/services/v2/certificate/{certificate_id}/download/platform/{platform_id}";
const REVOKE: &str = "/services/v2/certificate/{certificate_id}/revoke";
const AUDIT: &str = "/services/v2/audit-log";
const USERS: &str = "/services/v2/user";
const A_USER: &str = "/services/v2/user/{user_id}";
const USER_STATUS: &str = "/services/v2/user/{user_id}/status";
const KEYS: &str = "/services/v2/key";
const CREATE_KEY: &str = "/services/v2/key/user/{user_id}";
const KEY_STATUS: &str = "/services/v2/key/{key_id}/status";
const BLOCKED: &str = "/services/v2/blocked-key";
const EAB: &str = "/services/v2/acme/eab";
const CAMPAIGNS: &str = "/services/v2/campaign";
const CAMPAIGN: &str = "/services/v2/campaign/{campaign_id}";
const CAMPAIGN_STATUS: &str = "/services/v2/campaign/{campaign_id}/status";
const CAMPAIGN_HOLD: &str = "/services/v2/campaign/{campaign_id}/hold";
const CAMPAIGN_CERTIFICATES: &str = "/services/v2/campaign/{campaign_id}/certificate";

const SSL_BASIC: &str = "/services/v2/order/certificate/ssl_basic";

/// The caller's account.
#[rustfmt::skip]
const ACCOUNT: &[Case] = &[
    case(Admin,  GET, ME, ME, Empty, Allowed(200)),
    case(Viewer, GET, ME, ME, Empty, Allowed(200)),
    case(NoKey,  GET, ME, ME, Empty, Refused(403)),
    case(BadKey, GET, ME, ME, Empty, Refused(403)),
];

/// Orders refused, after `{order_a}` (issued at once) and `{order_b}`
/// (pending) were placed.
#[rustfmt::skip]
const REFUSED_ORDERS: &[Case] = &[
    case(User,   POST, PLACE, "/services/v2/order/certificate/ssl_gold", Order("c.example.com", false), Refused(400)),
    case(User,   POST, PLACE, SSL_BASIC, Order("c.example.com", true), Refused(403)),
    case(Viewer, POST, PLACE, SSL_BASIC, Order("c.example.com", false), Refused(403)),
    case(Admin,  POST, PLACE, SSL_BASIC,
         Json(r#"{"certificate": {"common_name": "x.example.com", "csr": "junk"}}"#), Refused(400)),
];

/// The documented reissue example on the approved order placed from the
/// order example; order details before and after issuance, lists; the
/// approval workflow on the pending order `{order_b}`.
#[rustfmt::skip]
const ORDERS_AND_APPROVAL: &[Case] = &[
    case(User,  POST, REISSUE, "/services/v2/order/certificate/{placed}/reissue", Example("ReissueBody"), Allowed(201)),
    case(Admin, GET, PLACE, "/services/v2/order/certificate/{order_b}", Empty, Allowed(200)),
    case(User,  GET, PLACE, "/services/v2/order/certificate/{order_a}", Empty, Refused(404)),
    case(Admin, GET, PLACE, "/services/v2/order/certificate/abc", Empty, Refused(404)),
    case(Admin, GET, ORDERS, ORDERS, Empty, Allowed(200)),
    case(User,  GET, ORDERS, "/services/v2/order/certificate?filters%5Bstatus%5D=pending&limit=5", Empty, Allowed(200)),
    case(Admin, GET, ORDERS, "/services/v2/order/certificate?filters[common_name]=a.example.com", Empty, Allowed(200)),
    case(Admin, GET, ORDERS, "/services/v2/order/certificate?filters[organization_id]=7", Empty, Allowed(200)),
    case(Admin, GET, ORDERS, "/services/v2/order/certificate?filters[colour]=red", Empty, Refused(400)),
    case(Admin, GET, REQUESTS, "/services/v2/request?filters[status]=pending&sort=-date", Empty, Allowed(200)),
    case(User,  GET, REQUESTS, "/services/v2/request?filters[type]=new_request", Empty, Allowed(200)),
    case(Admin, GET, REQUESTS, "/services/v2/request?sort=colour", Empty, Refused(400)),
    case(User,  GET, REQUEST, "/services/v2/request/{request_b}", Empty, Allowed(200)),
    case(User,  PUT, DECIDE, "/services/v2/request/{request_b}/status", Json(r#"{"status": "approved"}"#), Refused(403)),
    case(Admin, PUT, DECIDE, "/services/v2/request/{request_b}/status", Json(r#"{"status": "maybe"}"#), Refused(400)),
    case(Admin, PUT, DECIDE, "/services/v2/request/{request_b}/status",
         Json(r#"{"status": "APPROVED", "processor_comment": "ok"}"#), Allowed(204)),
    case(Admin, PUT, DECIDE, "/services/v2/request/{request_b}/status", Json(r#"{"status": "rejected"}"#), Refused(409)),
    case(Admin, GET, REQUEST, "/services/v2/request/{request_b}", Empty, Allowed(200)),
    case(Admin, GET, REQUEST, "/services/v2/request/999999", Empty, Refused(404)),
];

/// Certificate details by serial number and of another's certificate,
/// downloads, after `{cert_b}` (of `{order_b}`) was issued.
#[rustfmt::skip]
const CERTIFICATES: &[Case] = &[
    case(User, GET, CERTIFICATE, "/services/v2/certificate/{serial}", Empty, Allowed(200)),
    case(User, GET, CERTIFICATE, "/services/v2/certificate/{cert_a}", Empty, Refused(404)),
    case(User, GET, FORMAT, "/services/v2/certificate/{cert_b}/download/format/pem_all", Empty, Allowed(200)),
    case(User, GET, FORMAT, "/services/v2/certificate/{cert_b}/download/format/pem_jpeg", Empty, Refused(400)),
    case(User, GET, FORMAT, "/services/v2/certificate/{cert_b}/download/format/pem_noroot", Empty, Allowed(200))
        .accept("application/zip"),
    case(User, GET, PLATFORM, "/services/v2/certificate/{cert_b}/download/platform/45", Empty, Allowed(200)),
];

/// After the user asked to revoke `{cert_b}` (request `{revoke_request}`):
/// duplicate, details, rejection, bodies refused; revoke `{cert_a}` at once,
/// its details, a second revoke; reissue `{order_b}`, a revoke that meets
/// it, cancellation; reissue `{order_a}` at once.
#[rustfmt::skip]
const REVOKE_AND_REISSUE: &[Case] = &[
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Empty, Refused(409)),
    case(Admin,  GET, REQUEST, "/services/v2/request/{revoke_request}", Empty, Allowed(200)),
    case(Admin,  PUT, DECIDE, "/services/v2/request/{revoke_request}/status", Json(r#"{"status": "rejected"}"#), Allowed(204)),
    case(Admin,  GET, REQUEST, "/services/v2/request/{revoke_request}", Empty, Allowed(200)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Json(r#"{"revocation_reason": "certificateHold"}"#), Refused(400)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Json(r#"{"comments": 5}"#), Refused(400)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Comments(1001), Refused(400)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Json(r#"{"skip_approval": true}"#), Refused(403)),
    case(Viewer, PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Empty, Refused(403)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_a}/revoke", Empty, Refused(404)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Raw("application/json", &[b' '; 70 * 1024]), Refused(413)),
    case(Admin,  PUT, REVOKE, "/services/v2/certificate/{cert_a}/revoke",
         Json(r#"{"skip_approval": true, "revocation_reason": "superseded"}"#), Allowed(204)),
    case(Admin,  GET, CERTIFICATE, "/services/v2/certificate/{cert_a}", Empty, Allowed(200)),
    case(Admin,  PUT, REVOKE, "/services/v2/certificate/{cert_a}/revoke", Json(r#"{"skip_approval": true}"#), Refused(409)),
    case(User,   POST, REISSUE, "/services/v2/order/certificate/{order_b}/reissue", Reissue("b.example.com", false), Allowed(201)),
    case(Admin,  GET, PLACE, "/services/v2/order/certificate/{order_b}", Empty, Allowed(200)),
    case(User,   PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke", Empty, Refused(409)),
    case(User,   POST, REISSUE, "/services/v2/order/certificate/{order_b}/reissue", Reissue("b.example.com", false), Refused(409)),
    case(User,   POST, REISSUE, "/services/v2/order/certificate/999999/reissue", Reissue("b.example.com", false), Refused(404)),
    case(User,   PUT, CANCEL, "/services/v2/order/certificate/{order_b}/status", Json(r#"{"status": "issued"}"#), Refused(400)),
    case(User,   PUT, CANCEL, "/services/v2/order/certificate/{order_b}/status",
         Json(r#"{"status": "canceled", "note": "wrong key"}"#), Allowed(204)),
    case(User,   PUT, CANCEL, "/services/v2/order/certificate/{order_b}/status", Json(r#"{"status": "canceled"}"#), Refused(409)),
    case(User,   PUT, CANCEL, "/services/v2/order/certificate/999999/status", Json(r#"{"status": "canceled"}"#), Refused(404)),
    case(Admin,  POST, REISSUE, "/services/v2/order/certificate/{order_a}/reissue", Reissue("a.example.com", true), Allowed(201)),
];

/// After the user asked to revoke the whole order `{order_b}` (request
/// `{order_revoke_request}`): approval, then a reissue of the revoked order;
/// `{order_a}` revoked at once; the audit log.
#[rustfmt::skip]
const ORDER_REVOKE_AND_AUDIT: &[Case] = &[
    case(User,  PUT, REVOKE_ORDER, "/services/v2/order/certificate/{order_b}/revoke", Empty, Refused(409)),
    case(Admin, PUT, DECIDE, "/services/v2/request/{order_revoke_request}/status", Json(r#"{"status": "approved"}"#), Allowed(204)),
    case(User,  GET, PLACE, "/services/v2/order/certificate/{order_b}", Empty, Allowed(200)),
    case(User,  POST, REISSUE, "/services/v2/order/certificate/{order_b}/reissue", Reissue("b.example.com", false), Refused(409)),
    case(Admin, PUT, REVOKE_ORDER, "/services/v2/order/certificate/{order_a}/revoke", Json(r#"{"skip_approval": true}"#), Allowed(204)),
    case(Admin, PUT, REVOKE_ORDER, "/services/v2/order/certificate/999999/revoke", Empty, Refused(404)),
    case(Admin, GET, REQUESTS, REQUESTS, Empty, Allowed(200)),
    case(Admin, GET, AUDIT, AUDIT, Empty, Allowed(200)),
    case(Admin, GET, AUDIT, "/services/v2/audit-log?filters[action]=revoke&limit=2&offset=1", Empty, Allowed(200)),
    case(User,  GET, AUDIT, AUDIT, Empty, Refused(403)),
    case(Admin, GET, AUDIT, "/services/v2/audit-log?limit=none", Empty, Refused(400)),
];

/// `{serial}` (of `{cert_b}`, revoked with its order) raised to
/// keyCompromise, which blocks its key; the blocked keys; ACME credentials
/// (user 1 is the administrator).
#[rustfmt::skip]
const BLOCKED_KEYS_AND_EAB: &[Case] = &[
    case(Admin,  PUT, REVOKE, "/services/v2/certificate/{serial}/revoke",
         Json(r#"{"skip_approval": true, "revocation_reason": "keyCompromise"}"#), Allowed(204)),
    case(Admin,  GET, BLOCKED, "/services/v2/blocked-key?limit=5", Empty, Allowed(200)),
    case(User,   GET, BLOCKED, BLOCKED, Empty, Refused(403)),
    case(Admin,  GET, BLOCKED, "/services/v2/blocked-key?offset=-1", Empty, Refused(400)),
    case(Admin,  POST, EAB, EAB, Json("{}"), Allowed(201)),
    case(User,   POST, EAB, EAB, Empty, Allowed(201)),
    case(User,   POST, EAB, EAB, Json(r#"{"user_id": 1}"#), Refused(403)),
    case(Viewer, POST, EAB, EAB, Json("{}"), Refused(403)),
    case(Admin,  POST, EAB, EAB, Json(r#"{"user_id": 999999}"#), Refused(404)),
    case(Admin,  POST, EAB, EAB, Json(r#"{"user_id": "me"}"#), Refused(400)),
];

/// Users, administrators only (`{user_id}` is the plain user).
#[rustfmt::skip]
const USER_ADMIN: &[Case] = &[
    case(Admin, GET, USERS, "/services/v2/user?limit=2&offset=1", Empty, Allowed(200)),
    case(User,  GET, USERS, USERS, Empty, Refused(403)),
    case(Admin, POST, USERS, USERS, NewUser("{email}"), Allowed(201)),
    case(Admin, POST, USERS, USERS, NewUser("{EMAIL}"), Refused(409)),
    case(Admin, POST, USERS, USERS, NewUser("ana@"), Refused(400)),
    case(User,  POST, USERS, USERS, NewUser("bo@example.com"), Refused(403)),
    case(Admin, GET, A_USER, "/services/v2/user/{user_id}", Empty, Allowed(200)),
    case(Admin, GET, A_USER, "/services/v2/user/999999", Empty, Refused(404)),
];

/// API keys, after `{key_id}` was made for `{user_id}`; a disabled user
/// gets no new key.
#[rustfmt::skip]
const API_KEYS: &[Case] = &[
    case(Admin, POST, CREATE_KEY, "/services/v2/key/user/{user_id}", Json(r#"{"restricted_to_role_id": 7}"#), Refused(400)),
    case(Admin, GET, KEYS, "/services/v2/key?filters[user_id]={user_id}", Empty, Allowed(200)),
    case(Admin, PUT, KEY_STATUS, "/services/v2/key/{key_id}/status", Json(r#"{"status": "revoked"}"#), Allowed(204)),
    case(Admin, PUT, KEY_STATUS, "/services/v2/key/{key_id}/status", Json(r#"{"status": "revoked"}"#), Refused(409)),
    case(Admin, PUT, USER_STATUS, "/services/v2/user/{user_id}/status", Json(r#"{"status": "gone"}"#), Refused(400)),
    case(Admin, PUT, USER_STATUS, "/services/v2/user/{user_id}/status", Json(r#"{"status": "disabled"}"#), Allowed(204)),
    case(Admin, POST, CREATE_KEY, "/services/v2/key/user/{user_id}", Json("{}"), Refused(409)),
    case(Admin, PUT, USER_STATUS, "/services/v2/user/{user_id}/status", Json(r#"{"status": "active"}"#), Allowed(204)),
];

/// A campaign over `{cert_a}`, scheduled far ahead, held, approved by the
/// second administrator, then canceled before it could run.
#[rustfmt::skip]
const CAMPAIGN_CASES: &[Case] = &[
    case(Admin, POST, CAMPAIGNS, CAMPAIGNS, Filled(r#"{"name": "n", "reason": "superseded", "selector": {"certificate_ids": [{cert_a}]}, "dry_run": true}"#), Allowed(200)),
    case(Admin, POST, CAMPAIGNS, CAMPAIGNS, Json(r#"{"name": "n", "reason": "superseded", "selector": {}}"#), Refused(400)),
    case(User,  POST, CAMPAIGNS, CAMPAIGNS, Filled(r#"{"name": "n", "reason": "superseded", "selector": {"certificate_ids": [{cert_a}]}}"#), Refused(403)),
    case(Admin, GET, CAMPAIGNS, "/services/v2/campaign?limit=5", Empty, Allowed(200)),
    case(User,  GET, CAMPAIGNS, CAMPAIGNS, Empty, Refused(403)),
    case(Admin, GET, CAMPAIGN, "/services/v2/campaign/{campaign_id}", Empty, Allowed(200)),
    case(Admin, GET, CAMPAIGN, "/services/v2/campaign/999999", Empty, Refused(404)),
    case(Admin, GET, CAMPAIGN_CERTIFICATES, "/services/v2/campaign/{campaign_id}/certificate?filters[status]=selected", Empty, Allowed(200)),
    case(Admin, GET, CAMPAIGN_CERTIFICATES, "/services/v2/campaign/{campaign_id}/certificate?filters[status]=gone", Empty, Refused(400)),
    case(Admin, PUT, CAMPAIGN_STATUS, "/services/v2/campaign/{campaign_id}/status", Json(r#"{"status": "approved"}"#), Refused(403)),
    case(Approver, PUT, CAMPAIGN_STATUS, "/services/v2/campaign/{campaign_id}/status", Json(r#"{"status": "approved", "comment": "checked"}"#), Allowed(200)),
    case(Approver, PUT, CAMPAIGN_STATUS, "/services/v2/campaign/{campaign_id}/status", Json(r#"{"status": "paused"}"#), Refused(400)),
    case(Admin, POST, CAMPAIGN_HOLD, "/services/v2/campaign/{campaign_id}/hold", Filled(r#"{"certificate_id": {cert_a}, "comments": "still needed"}"#), Allowed(200)),
    case(Admin, POST, CAMPAIGN_HOLD, "/services/v2/campaign/{campaign_id}/hold", Filled(r#"{"certificate_id": {cert_a}}"#), Refused(409)),
    case(Admin, POST, CAMPAIGN_HOLD, "/services/v2/campaign/{campaign_id}/hold", Json(r#"{"certificate_id": 999999}"#), Refused(404)),
    case(Admin, PUT, CAMPAIGN_STATUS, "/services/v2/campaign/{campaign_id}/status", Json(r#"{"status": "canceled"}"#), Allowed(200)),
    case(Admin, PUT, CAMPAIGN_STATUS, "/services/v2/campaign/{campaign_id}/status", Json(r#"{"status": "canceled"}"#), Refused(409)),
];

#[rustfmt::skip]
const CREATE_CAMPAIGN: Case = case(Admin, POST, CAMPAIGNS, CAMPAIGNS,
    Filled(r#"{"name": "far ahead", "reason": "superseded", "revoke_at": "2099-01-01T00:00:00+00:00", "selector": {"certificate_ids": [{cert_a}]}}"#), Allowed(201));

/// Methods a path does not support: (method, documented path, path).
#[rustfmt::skip]
const UNSUPPORTED: &[(Method, &str, &str)] = &[
    (Method::DELETE, CERTIFICATE, "/services/v2/certificate/{cert_a}"),
    (GET, REVOKE, "/services/v2/certificate/{cert_b}/revoke"),
    (Method::PATCH, REQUESTS, REQUESTS),
    (POST, OPENAPI, OPENAPI),
];

/// Publication, outside /services/v2 and without a key.
#[rustfmt::skip]
const PUBLICATION: &[Case] = &[
    case(NoKey, GET, "/health", "/health", Empty, Allowed(200)),
    case(NoKey, GET, "/crl/", "/crl/", Empty, Allowed(200)),
    case(NoKey, GET, "/crl/{file}", "/crl/0.crl", Empty, Allowed(200)),
    case(NoKey, GET, "/crl/{file}", "/crl/nine.crl", Empty, Refused(404)),
    case(NoKey, GET, "/ca/chain.pem", "/ca/chain.pem", Empty, Allowed(200)),
    case(NoKey, GET, "/ca/issuer.der", "/ca/issuer.der", Empty, Allowed(200)),
    case(NoKey, GET, "/ocsp/{request}", "/ocsp/AAAA", Empty, Allowed(200)),
    case(NoKey, POST, "/ocsp", "/ocsp", Raw("application/ocsp-request", &[0x30, 0x00]), Allowed(200)),
    case(NoKey, GET, "/metrics", "/metrics", Empty, Allowed(200)),
];

// The steps whose answers give values that later cases use.
#[rustfmt::skip]
const ORDER_A: Case = case(Admin, POST, PLACE, SSL_BASIC, Order("a.example.com", true), Allowed(201));
#[rustfmt::skip]
const ORDER_B: Case = case(User, POST, PLACE, SSL_BASIC, Order("b.example.com", false), Allowed(201));
#[rustfmt::skip]
const ORDER_EXAMPLE: Case = case(User, POST, PLACE, SSL_BASIC, Example("OrderBody"), Allowed(201));
#[rustfmt::skip]
const CERTIFICATE_B: Case = case(User, GET, CERTIFICATE, "/services/v2/certificate/{cert_b}", Empty, Allowed(200));
#[rustfmt::skip]
const ASK_REVOKE_B: Case = case(User, PUT, REVOKE, "/services/v2/certificate/{cert_b}/revoke",
    Json(r#"{"comments": "lost laptop", "revocation_reason": "key_compromise"}"#), Allowed(201));
#[rustfmt::skip]
const ASK_REVOKE_ORDER_B: Case = case(User, PUT, REVOKE_ORDER, "/services/v2/order/certificate/{order_b}/revoke",
    Json(r#"{"comments": "shop closed", "revocation_reason": "cessationOfOperation"}"#), Allowed(201));
#[rustfmt::skip]
const KEY_FOR_USER: Case = case(Admin, POST, CREATE_KEY, "/services/v2/key/user/{user_id}",
    Json(r#"{"name": "deploy", "restricted_to_role_id": 102}"#), Allowed(201));

#[tokio::test]
async fn served_document_describes_real_answers() {
    let s = Server::start();
    let mut spec = Spec::fetch(&s).await;
    let mut calls = Calls {
        server: &s,
        user: s.user(),
        viewer: s.add_user("user", true),
        approver: s.add_user("administrator", false),
        values: BTreeMap::new(),
    };
    spec.run(&calls, ACCOUNT).await;

    // Orders: at once, pending, refused.
    let issued = spec.one(&calls, &ORDER_A).await;
    calls.set("order_a", issued.id());
    calls.set("cert_a", int(&issued.json["certificate_id"]));
    let pending = spec.one(&calls, &ORDER_B).await;
    calls.set("order_b", pending.id());
    calls.set("request_b", pending.request_id());
    spec.run(&calls, REFUSED_ORDERS).await;

    // The documented examples work as they are: an order, approved, reissued.
    let placed = spec.one(&calls, &ORDER_EXAMPLE).await;
    s.approve(placed.request_id()).await.ok(204);
    calls.set("placed", placed.id());
    spec.run(&calls, ORDERS_AND_APPROVAL).await;

    // Certificates: details by id and serial, downloads.
    let issued_b = s.order(pending.id()).await;
    calls.set("cert_b", int(&issued_b["certificate"]["id"]));
    let details = spec.one(&calls, &CERTIFICATE_B).await;
    calls.set("serial", details.json["serial_number"].as_str().unwrap());
    spec.run(&calls, CERTIFICATES).await;

    // A campaign over cert_a, canceled before it runs.
    let created = spec.one(&calls, &CREATE_CAMPAIGN).await;
    calls.set("campaign_id", created.id());
    spec.run(&calls, CAMPAIGN_CASES).await;

    // Revoke with approval, at once; reissue, cancellation.
    let asked = spec.one(&calls, &ASK_REVOKE_B).await;
    calls.set("revoke_request", asked.id());
    spec.run(&calls, REVOKE_AND_REISSUE).await;

    // Revoke the whole order with approval; the audit log.
    let asked = spec.one(&calls, &ASK_REVOKE_ORDER_B).await;
    calls.set("order_revoke_request", asked.id());
    spec.run(&calls, ORDER_REVOKE_AND_AUDIT).await;

    // A key blocked; ACME credentials.
    spec.run(&calls, BLOCKED_KEYS_AND_EAB).await;

    // Users and API keys, administrators only.
    calls.set("user_id", int(&s.me(&calls.user).await["id"]));
    let email = format!("openapi{}@example.com", unique());
    calls.set("EMAIL", email.to_uppercase());
    calls.set("email", email);
    spec.run(&calls, USER_ADMIN).await;
    let created = spec.one(&calls, &KEY_FOR_USER).await;
    calls.set("key_id", int(&created.json["id"]));
    spec.run(&calls, API_KEYS).await;

    for (method, template, path) in UNSUPPORTED {
        spec.unsupported(&calls, method, template, path).await;
    }
    spec.run(&calls, PUBLICATION).await;

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
