//! Contract sections 1–4 and docs/decisions.md "Visibility and permissions" as
//! one table: every `/services/v2` endpoint × every kind of caller, with the
//! exact status (and, for errors, the exact error code) of each cell.
//!
//! Callers: the administrator, the user who owns the objects, another user,
//! a view-only key of the owner, no key and an unknown key. Read rows share one
//! set of objects; every write cell gets objects of its own, so no cell sees
//! the effect of another, and a refused write must leave them unchanged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Owner,
    Other,
    ViewOnly,
    NoKey,
    UnknownKey,
}

/// The columns of every row, in this order.
const WHO: [Who; 6] = [
    Who::Admin,
    Who::Owner,
    Who::Other,
    Who::ViewOnly,
    Who::NoKey,
    Who::UnknownKey,
];

// A cell: `Allowed(status)`, after which the row's own checks look at the
// body and at the state the call should have changed, or `RefusedWith(status,
// code)`, exactly this (first) error code, and a refused write changes nothing.
use Expect::{Allowed, RefusedWith};

const OK200: Expect = Allowed(200);
const OK201: Expect = Allowed(201);
const OK204: Expect = Allowed(204);
const INVALID_KEY: Expect = RefusedWith(403, "access_denied|access_denied_invalid_key");
const VIEW_ONLY: Expect = RefusedWith(403, "access_denied|view_only_key");
const NO_PERMISSION: Expect = RefusedWith(403, "access_denied|missing_permission");
const NO_ORDER: Expect = RefusedWith(404, "not_found|order");
const NO_CERTIFICATE: Expect = RefusedWith(404, "not_found|certificate");
const NO_REQUEST: Expect = RefusedWith(404, "not_found|request");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    UserMe,
    AuditLog,
    ListOrders,
    OrderDetails,
    PlaceOrder,
    PlaceOrderSkip,
    Reissue,
    ReissueSkip,
    CancelOrder,
    RevokeOrder,
    RevokeOrderSkip,
    CertificateDetails,
    RevokeCertificate,
    RevokeCertificateSkip,
    DownloadFormat,
    DownloadPlatform,
    ListRequests,
    RequestDetails,
    ApproveRequest,
    RejectRequest,
    BlockedKeys,
    /// An ACME EAB credential for the caller (empty body).
    CreateEab,
    /// An ACME EAB credential naming the owner.
    CreateEabForOwner,
    ListCampaigns,
    CampaignDetails,
    CampaignCertificates,
    /// A campaign over the owner's certificate.
    CreateCampaign,
    DryRunCampaign,
    /// A campaign another administrator asked for.
    ApproveCampaign,
    RejectCampaign,
    CancelCampaign,
    HoldCampaignCertificate,
}

impl Endpoint {
    fn method(self) -> Method {
        use Endpoint::*;
        match self {
            UserMe | AuditLog | ListOrders | OrderDetails | CertificateDetails | DownloadFormat
            | DownloadPlatform | ListRequests | RequestDetails | BlockedKeys | ListCampaigns
            | CampaignDetails | CampaignCertificates => Method::GET,
            PlaceOrder
            | PlaceOrderSkip
            | Reissue
            | ReissueSkip
            | CreateEab
            | CreateEabForOwner
            | CreateCampaign
            | DryRunCampaign
            | HoldCampaignCertificate => Method::POST,
            CancelOrder
            | RevokeOrder
            | RevokeOrderSkip
            | RevokeCertificate
            | RevokeCertificateSkip
            | ApproveRequest
            | RejectRequest
            | ApproveCampaign
            | RejectCampaign
            | CancelCampaign => Method::PUT,
        }
    }

    /// The route, and what the body says when that matters to the cell.
    fn describe(self) -> &'static str {
        use Endpoint::*;
        match self {
            UserMe => "/user/me",
            AuditLog => "/audit-log",
            ListOrders => "/order/certificate",
            OrderDetails => "/order/certificate/{order_id}",
            PlaceOrder => "/order/certificate/{product} (no skip_approval)",
            PlaceOrderSkip => "/order/certificate/{product} (skip_approval)",
            Reissue => "/order/certificate/{order_id}/reissue (no skip_approval)",
            ReissueSkip => "/order/certificate/{order_id}/reissue (skip_approval)",
            CancelOrder => "/order/certificate/{order_id}/status (canceled)",
            RevokeOrder => "/order/certificate/{order_id}/revoke (no skip_approval)",
            RevokeOrderSkip => "/order/certificate/{order_id}/revoke (skip_approval)",
            CertificateDetails => "/certificate/{certificate_id}",
            RevokeCertificate => "/certificate/{certificate_id}/revoke (no skip_approval)",
            RevokeCertificateSkip => "/certificate/{certificate_id}/revoke (skip_approval)",
            DownloadFormat => "/certificate/{certificate_id}/download/format/pem_all",
            DownloadPlatform => "/certificate/{certificate_id}/download/platform/{platform_id}",
            ListRequests => "/request",
            RequestDetails => "/request/{request_id}",
            ApproveRequest => "/request/{request_id}/status (approved)",
            RejectRequest => "/request/{request_id}/status (rejected)",
            BlockedKeys => "/blocked-key",
            CreateEab => "/acme/eab (for the caller)",
            CreateEabForOwner => "/acme/eab (user_id: the owner)",
            ListCampaigns => "/campaign",
            CampaignDetails => "/campaign/{campaign_id}",
            CampaignCertificates => "/campaign/{campaign_id}/certificate",
            CreateCampaign => "/campaign (the owner's certificate)",
            DryRunCampaign => "/campaign (dry_run)",
            ApproveCampaign => "/campaign/{campaign_id}/status (approved; another administrator's)",
            RejectCampaign => "/campaign/{campaign_id}/status (rejected)",
            CancelCampaign => "/campaign/{campaign_id}/status (canceled)",
            HoldCampaignCertificate => "/campaign/{campaign_id}/hold",
        }
    }
}

struct Row {
    endpoint: Endpoint,
    /// One expectation per caller, in the order of [`WHO`].
    cells: [Expect; 6],
}

const fn row(endpoint: Endpoint, cells: [Expect; 6]) -> Row {
    Row { endpoint, cells }
}

/// Every endpoint × every caller. Reads change nothing and act on objects
/// the owner placed; each write cell acts on fresh objects of the owner.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                    admin  owner          other           view-only      no key       unknown key
    // Reads. "Another user" gets 200 on lists (without the owner's objects)
    // and 404 on the owner's objects, exactly as if they did not exist.
    row(Endpoint::UserMe,                [OK200, OK200,         OK200,          OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::AuditLog,              [OK200, NO_PERMISSION, NO_PERMISSION,  NO_PERMISSION, INVALID_KEY, INVALID_KEY]),
    row(Endpoint::ListOrders,            [OK200, OK200,         OK200,          OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::OrderDetails,          [OK200, OK200,         NO_ORDER,       OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CertificateDetails,    [OK200, OK200,         NO_CERTIFICATE, OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::DownloadFormat,        [OK200, OK200,         NO_CERTIFICATE, OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::DownloadPlatform,      [OK200, OK200,         NO_CERTIFICATE, OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::ListRequests,          [OK200, OK200,         OK200,          OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RequestDetails,        [OK200, OK200,         NO_REQUEST,     OK200,         INVALID_KEY, INVALID_KEY]),
    row(Endpoint::BlockedKeys,           [OK200, NO_PERMISSION, NO_PERMISSION,  NO_PERMISSION, INVALID_KEY, INVALID_KEY]),
    // Revocation campaigns are administrators' alone, reads included: a
    // campaign names many users' certificates.
    row(Endpoint::ListCampaigns,         [OK200, NO_PERMISSION, NO_PERMISSION,  NO_PERMISSION, INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CampaignDetails,       [OK200, NO_PERMISSION, NO_PERMISSION,  NO_PERMISSION, INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CampaignCertificates,  [OK200, NO_PERMISSION, NO_PERMISSION,  NO_PERMISSION, INVALID_KEY, INVALID_KEY]),
    // Writes. Approving and rejecting answer 403 `access_denied|missing_permission`
    // to every non-administrator, whoever made the request: the answer does not
    // depend on the request's existence, so it reveals nothing (docs/decisions.md).
    row(Endpoint::PlaceOrder,            [OK201, OK201,         OK201,          VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::PlaceOrderSkip,        [OK201, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::Reissue,               [OK201, OK201,         NO_ORDER,       VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::ReissueSkip,           [OK201, NO_PERMISSION, NO_ORDER,       VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CancelOrder,           [OK204, OK204,         NO_ORDER,       VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RevokeOrder,           [OK201, OK201,         NO_ORDER,       VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RevokeOrderSkip,       [OK204, NO_PERMISSION, NO_ORDER,       VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RevokeCertificate,     [OK201, OK201,         NO_CERTIFICATE, VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RevokeCertificateSkip, [OK204, NO_PERMISSION, NO_CERTIFICATE, VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::ApproveRequest,        [OK204, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RejectRequest,         [OK204, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    // ACME credentials: anyone for themself; naming another user needs an administrator.
    row(Endpoint::CreateEab,             [OK201, OK201,         OK201,          VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CreateEabForOwner,     [OK201, OK201,         NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CreateCampaign,        [OK201, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::DryRunCampaign,        [OK200, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::ApproveCampaign,       [OK200, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::RejectCampaign,        [OK200, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::CancelCampaign,        [OK200, NO_PERMISSION, NO_PERMISSION,  VIEW_ONLY,     INVALID_KEY, INVALID_KEY]),
    row(Endpoint::HoldCampaignCertificate, [OK200, NO_PERMISSION, NO_PERMISSION, VIEW_ONLY,    INVALID_KEY, INVALID_KEY]),
];

impl Endpoint {
    /// A read row (the rest are writes).
    fn reads(self) -> bool {
        self.method() == Method::GET
    }
}

/// The rows of the reads (`true`) or of the writes.
fn rows(reads: bool) -> Vec<&'static Row> {
    MATRIX
        .iter()
        .filter(|r| r.endpoint.reads() == reads)
        .collect()
}

// ---------------------------------------------------------------------------
// Callers
// ---------------------------------------------------------------------------

struct Callers {
    admin: String,
    /// Another administrator, who asks for the campaigns the cells decide.
    second_admin: String,
    owner: String,
    other: String,
    view_only: String,
    unknown: String,
    /// `GET /user/me` of the administrator, the owner and the other user.
    admin_me: Value,
    owner_me: Value,
    other_me: Value,
}

impl Callers {
    async fn new(s: &Server) -> Callers {
        let admin = s.admin().to_string();
        let second_admin = s.add_user("administrator", false);
        let owner = s.user();
        let other = s.user();
        let (admin_me, owner_me, other_me) =
            (s.me(&admin).await, s.me(&owner).await, s.me(&other).await);
        let view_only = add_view_only_key(s, int(&owner_me["id"])).await;
        // Well-formed (64 hex characters, like a real key) but never issued.
        let unknown = hex::encode_upper(rand::random::<[u8; 32]>());
        Callers {
            admin,
            second_admin,
            owner,
            other,
            view_only,
            unknown,
            admin_me,
            owner_me,
            other_me,
        }
    }

    fn key(&self, who: Who) -> Option<&str> {
        match who {
            Who::Admin => Some(&self.admin),
            Who::Owner => Some(&self.owner),
            Who::Other => Some(&self.other),
            Who::ViewOnly => Some(&self.view_only),
            Who::NoKey => None,
            Who::UnknownKey => Some(&self.unknown),
        }
    }

    /// The user a key acts as (a view-only key acts as its owner).
    fn me(&self, who: Who) -> &Value {
        match who {
            Who::Admin => &self.admin_me,
            Who::Owner | Who::ViewOnly => &self.owner_me,
            Who::Other => &self.other_me,
            Who::NoKey | Who::UnknownKey => panic!("{who:?} is nobody"),
        }
    }
}

/// A second API key of an existing user, restricted to view only (CertCentral
/// restriction 102). `certd user add` makes one key per new user, so the key
/// goes into the database directly, hashed as certd hashes keys.
async fn add_view_only_key(s: &Server, user_id: i64) -> String {
    use sha2::Digest;
    use sqlx::Connection;
    let key = hex::encode_upper(rand::random::<[u8; 32]>());
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.database_url())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO api_keys (user_id, key_hash, view_only, status, created_at) \
         VALUES ($1, $2, 1, 'active', $3)",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    key
}

// ---------------------------------------------------------------------------
// Running a cell
// ---------------------------------------------------------------------------

async fn call(
    s: &Server,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let mut rb = s.rb(method, path, key);
    if let Some(body) = body {
        rb = rb.json(body);
    }
    s.send(rb).await
}

fn cell_name(endpoint: Endpoint, who: Who) -> String {
    format!("{} {} as {who:?}", endpoint.method(), endpoint.describe())
}

fn ids(list: &Value, cell: &str) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("{cell}: not a list: {list}"))
        .iter()
        .map(|item| int(&item["id"]))
        .collect()
}

// ---------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------

/// The owner's issued order (placed by the owner, approved by the
/// administrator), and the other user's own order, which only the
/// administrator and the other user may see.
struct Owned {
    order: i64,
    certificate: i64,
    request: i64,
    common_name: String,
    other_order: i64,
    other_request: i64,
    /// A pending campaign over the owner's certificate.
    campaign: i64,
}

/// A pending campaign over `certificate`, asked for by `requester`.
async fn campaign_over(s: &Server, requester: &str, certificate: i64) -> i64 {
    let r = s
        .post(
            requester,
            "/campaign",
            json!({"name": "matrix", "reason": "superseded",
                   "selector": {"certificate_ids": [certificate]}}),
        )
        .await;
    r.ok(201);
    r.id()
}

impl Owned {
    async fn new(s: &Server, c: &Callers) -> Owned {
        let (order, certificate) = s.user_order_issued(&c.owner).await;
        let (other_order, _) = s.user_order_issued(&c.other).await;
        let details = s.order(order).await;
        Owned {
            order,
            certificate,
            request: int(&details["requests"][0]["id"]),
            common_name: details["certificate"]["common_name"]
                .as_str()
                .unwrap()
                .to_string(),
            other_order,
            other_request: int(&s.order(other_order).await["requests"][0]["id"]),
            campaign: campaign_over(s, &c.admin, certificate).await,
        }
    }

    fn path(&self, endpoint: Endpoint) -> String {
        let (o, c, r) = (self.order, self.certificate, self.request);
        match endpoint {
            Endpoint::UserMe => "/user/me".into(),
            Endpoint::AuditLog => "/audit-log".into(),
            Endpoint::ListOrders => "/order/certificate".into(),
            Endpoint::OrderDetails => format!("/order/certificate/{o}"),
            Endpoint::CertificateDetails => format!("/certificate/{c}"),
            Endpoint::DownloadFormat => format!("/certificate/{c}/download/format/pem_all"),
            Endpoint::DownloadPlatform => format!("/certificate/{c}/download/platform/2"),
            Endpoint::ListRequests => "/request".into(),
            Endpoint::RequestDetails => format!("/request/{r}"),
            Endpoint::BlockedKeys => "/blocked-key".into(),
            Endpoint::ListCampaigns => "/campaign".into(),
            Endpoint::CampaignDetails => format!("/campaign/{}", self.campaign),
            Endpoint::CampaignCertificates => format!("/campaign/{}/certificate", self.campaign),
            other => panic!("{other:?} is not a read row"),
        }
    }
}

/// What a successful read must show this caller.
fn check_read_body(endpoint: Endpoint, who: Who, r: &Resp, c: &Callers, f: &Owned, cell: &str) {
    let j = &r.json;
    let sees_owners = who != Who::Other;
    let sees_others = matches!(who, Who::Admin | Who::Other);
    match endpoint {
        Endpoint::UserMe => {
            let me = c.me(who);
            assert_eq!(j["id"], me["id"], "{cell}: {j}");
            assert_eq!(j["email"], me["email"], "{cell}: {j}");
        }
        Endpoint::AuditLog => {
            let entries = j["entries"]
                .as_array()
                .unwrap_or_else(|| panic!("{cell}: {j}"));
            assert!(
                entries.iter().any(|e| e["action"] == "certificate_issued"),
                "{cell}: the issuances are logged: {j}"
            );
        }
        Endpoint::ListOrders | Endpoint::ListRequests => {
            let (list, own, others) = match endpoint {
                Endpoint::ListOrders => ("orders", f.order, f.other_order),
                _ => ("requests", f.request, f.other_request),
            };
            let ids = ids(&j[list], cell);
            assert_eq!(
                ids.contains(&own),
                sees_owners,
                "{cell}: the owner's item {own} in {ids:?}"
            );
            assert_eq!(
                ids.contains(&others),
                sees_others,
                "{cell}: the other user's item {others} in {ids:?}"
            );
            assert_eq!(int(&j["page"]["total"]), ids.len() as i64, "{cell}: {j}");
        }
        Endpoint::OrderDetails => {
            assert_eq!(int(&j["id"]), f.order, "{cell}: {j}");
            assert_eq!(j["status"], "issued", "{cell}: {j}");
            assert_eq!(int(&j["certificate"]["id"]), f.certificate, "{cell}: {j}");
        }
        Endpoint::CertificateDetails => {
            assert_eq!(int(&j["id"]), f.certificate, "{cell}: {j}");
            assert_eq!(int(&j["order_id"]), f.order, "{cell}: {j}");
            assert_eq!(j["status"], "issued", "{cell}: {j}");
        }
        Endpoint::DownloadFormat | Endpoint::DownloadPlatform => {
            let blocks = pem_blocks(&r.text());
            assert_eq!(
                blocks.len(),
                3,
                "{cell}: leaf, intermediate, root: {}",
                r.text()
            );
            let (subject, _) = subject_issuer(&blocks[0]);
            assert!(
                subject.contains(&f.common_name),
                "{cell}: leaf subject {subject}"
            );
        }
        Endpoint::RequestDetails => {
            assert_eq!(int(&j["id"]), f.request, "{cell}: {j}");
            assert_eq!(j["type"], "new_request", "{cell}: {j}");
            assert_eq!(int(&j["order"]["id"]), f.order, "{cell}: {j}");
            assert_eq!(j["requester"]["id"], c.owner_me["id"], "{cell}: {j}");
        }
        Endpoint::BlockedKeys => {
            let keys = j["blocked_keys"]
                .as_array()
                .unwrap_or_else(|| panic!("{cell}: {j}"));
            assert_eq!(int(&j["page"]["total"]), keys.len() as i64, "{cell}: {j}");
        }
        Endpoint::ListCampaigns => {
            assert_eq!(ids(&j["campaigns"], cell), vec![f.campaign], "{cell}: {j}");
        }
        Endpoint::CampaignDetails => {
            assert_eq!(int(&j["id"]), f.campaign, "{cell}: {j}");
            assert_eq!(j["status"], "pending", "{cell}: {j}");
        }
        Endpoint::CampaignCertificates => {
            assert_eq!(
                ids(&j["certificates"], cell),
                vec![f.certificate],
                "{cell}: {j}"
            );
        }
        other => panic!("{other:?} is not a read row"),
    }
}

#[tokio::test]
async fn access_matrix_reads() {
    let s = Server::start();
    let c = Callers::new(&s).await;
    let f = Owned::new(&s, &c).await;
    let mut cells = 0;
    let rows = rows(true);
    for row in &rows {
        for (who, expect) in WHO.into_iter().zip(row.cells) {
            let cell = cell_name(row.endpoint, who);
            let path = f.path(row.endpoint);
            let r = call(&s, c.key(who), row.endpoint.method(), &path, None).await;
            if r.check(expect, &cell) {
                check_read_body(row.endpoint, who, &r, &c, &f, &cell);
            }
            cells += 1;
        }
    }
    assert_eq!(cells, rows.len() * WHO.len());
    eprintln!("access matrix: {cells} endpoint×role cells checked (reads)");
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// The fresh objects one write cell acts on, all the owner's.
#[derive(Default)]
struct Fresh {
    order: Option<i64>,
    certificate: Option<i64>,
    request: Option<i64>,
    campaign: Option<i64>,
}

impl Fresh {
    fn order(&self) -> i64 {
        self.order.expect("fresh order")
    }
    fn certificate(&self) -> i64 {
        self.certificate.expect("fresh certificate")
    }
    fn request(&self) -> i64 {
        self.request.expect("fresh request")
    }
    fn campaign(&self) -> i64 {
        self.campaign.expect("fresh campaign")
    }
}

/// Objects for one cell, the path and the body of its call.
async fn prepare_write(s: &Server, c: &Callers, endpoint: Endpoint) -> (Fresh, String, Value) {
    use Endpoint::*;
    let skip = matches!(
        endpoint,
        PlaceOrderSkip | ReissueSkip | RevokeOrderSkip | RevokeCertificateSkip
    );
    let mut fresh = Fresh::default();
    match endpoint {
        PlaceOrder | PlaceOrderSkip | CreateEab | CreateEabForOwner => {}
        // An order of the owner's that is still waiting for approval.
        CancelOrder | ApproveRequest | RejectRequest => {
            let cn = format!("p{}.example.com", unique());
            let r = s.place_order(&c.owner, &cn, false).await;
            r.ok(201);
            fresh.order = Some(r.id());
            fresh.request = Some(r.request_id());
        }
        _ => {
            let (order, certificate) = s.user_order_issued(&c.owner).await;
            fresh.order = Some(order);
            fresh.certificate = Some(certificate);
        }
    }
    if matches!(
        endpoint,
        ApproveCampaign | RejectCampaign | CancelCampaign | HoldCampaignCertificate
    ) {
        fresh.campaign = Some(campaign_over(s, &c.second_admin, fresh.certificate()).await);
    }
    let campaign_status = |status: &str| {
        (
            format!("/campaign/{}/status", fresh.campaign()),
            json!({"status": status}),
        )
    };
    let (path, body) = match endpoint {
        PlaceOrder | PlaceOrderSkip => {
            let cn = format!("n{}.example.com", unique());
            (
                "/order/certificate/ssl_basic".to_string(),
                json!({"certificate": {"common_name": cn, "csr": csr(&cn)}, "skip_approval": skip}),
            )
        }
        Reissue | ReissueSkip => {
            let cn = format!("r{}.example.com", unique());
            (
                format!("/order/certificate/{}/reissue", fresh.order()),
                json!({"certificate": {"csr": csr(&cn)}, "skip_approval": skip}),
            )
        }
        CancelOrder => (
            format!("/order/certificate/{}/status", fresh.order()),
            json!({"status": "canceled"}),
        ),
        RevokeOrder | RevokeOrderSkip => (
            format!("/order/certificate/{}/revoke", fresh.order()),
            json!({"skip_approval": skip}),
        ),
        RevokeCertificate | RevokeCertificateSkip => (
            format!("/certificate/{}/revoke", fresh.certificate()),
            json!({"skip_approval": skip}),
        ),
        ApproveRequest => (
            format!("/request/{}/status", fresh.request()),
            json!({"status": "approved"}),
        ),
        RejectRequest => (
            format!("/request/{}/status", fresh.request()),
            json!({"status": "rejected"}),
        ),
        CreateEab => ("/acme/eab".to_string(), json!({})),
        CreateEabForOwner => (
            "/acme/eab".to_string(),
            json!({"user_id": c.owner_me["id"]}),
        ),
        CreateCampaign | DryRunCampaign => (
            "/campaign".to_string(),
            json!({"name": "matrix", "reason": "superseded", "dry_run": endpoint == DryRunCampaign,
                   "selector": {"certificate_ids": [fresh.certificate()]}}),
        ),
        ApproveCampaign => campaign_status("approved"),
        RejectCampaign => campaign_status("rejected"),
        CancelCampaign => campaign_status("canceled"),
        HoldCampaignCertificate => (
            format!("/campaign/{}/hold", fresh.campaign()),
            json!({"certificate_id": fresh.certificate(), "comments": "matrix"}),
        ),
        other => panic!("{other:?} is not a write row"),
    };
    (fresh, path, body)
}

/// What a successful write must have done.
async fn check_write_effect(
    s: &Server,
    endpoint: Endpoint,
    who: Who,
    r: &Resp,
    c: &Callers,
    f: &Fresh,
    cell: &str,
) {
    use Endpoint::*;
    let j = &r.json;
    match endpoint {
        PlaceOrder => {
            assert_eq!(j["requests"][0]["status"], "pending", "{cell}: {j}");
            assert!(
                j["certificate_id"].is_null(),
                "{cell}: nothing issued yet: {j}"
            );
            // The new order is the caller's own.
            let mine = s
                .get(
                    c.key(who).unwrap(),
                    &format!("/order/certificate/{}", r.id()),
                )
                .await;
            mine.ok(200);
            assert_eq!(mine.json["status"], "pending", "{cell}: {}", mine.text());
            let request = s.request(r.request_id()).await;
            assert_eq!(
                request["requester"]["id"],
                c.me(who)["id"],
                "{cell}: {request}"
            );
        }
        PlaceOrderSkip => {
            assert_eq!(j["requests"][0]["status"], "approved", "{cell}: {j}");
            let order = s.order(r.id()).await;
            assert_eq!(order["status"], "issued", "{cell}: {order}");
            assert_eq!(
                order["certificate"]["id"], j["certificate_id"],
                "{cell}: {order}"
            );
        }
        Reissue => {
            assert_eq!(r.id(), f.order(), "{cell}: {j}");
            assert_eq!(j["requests"][0]["status"], "pending", "{cell}: {j}");
            assert_eq!(
                s.order(f.order()).await["status"],
                "reissue_pending",
                "{cell}"
            );
        }
        ReissueSkip => {
            assert_eq!(r.id(), f.order(), "{cell}: {j}");
            assert_eq!(j["requests"][0]["status"], "approved", "{cell}: {j}");
            let order = s.order(f.order()).await;
            assert_eq!(order["status"], "issued", "{cell}: {order}");
            assert_ne!(
                int(&order["certificate"]["id"]),
                f.certificate(),
                "{cell}: a new certificate: {order}"
            );
        }
        CancelOrder => {
            assert_eq!(s.order(f.order()).await["status"], "canceled", "{cell}");
            assert_eq!(s.request(f.request()).await["status"], "rejected", "{cell}");
        }
        RevokeOrder | RevokeCertificate => {
            assert_revoke_request_object(r, c.me(who), None);
            assert_eq!(
                s.cert_status(f.certificate()).await,
                "issued",
                "{cell}: not revoked before approval"
            );
            let request = s.request(r.id()).await;
            assert_eq!(request["status"], "pending", "{cell}: {request}");
            assert_eq!(int(&request["order"]["id"]), f.order(), "{cell}: {request}");
        }
        RevokeOrderSkip => {
            assert!(r.bytes.is_empty(), "{cell}: 204 has no body: {}", r.text());
            assert_eq!(s.order(f.order()).await["status"], "revoked", "{cell}");
            assert_eq!(s.cert_status(f.certificate()).await, "revoked", "{cell}");
        }
        RevokeCertificateSkip => {
            assert!(r.bytes.is_empty(), "{cell}: 204 has no body: {}", r.text());
            assert_eq!(s.cert_status(f.certificate()).await, "revoked", "{cell}");
            assert_eq!(
                s.order(f.order()).await["status"],
                "issued",
                "{cell}: the order stays active"
            );
        }
        ApproveRequest => {
            let request = s.request(f.request()).await;
            assert_eq!(request["status"], "approved", "{cell}: {request}");
            assert_eq!(
                request["processor"]["id"],
                c.me(who)["id"],
                "{cell}: {request}"
            );
            assert_eq!(s.order(f.order()).await["status"], "issued", "{cell}");
        }
        RejectRequest => {
            let request = s.request(f.request()).await;
            assert_eq!(request["status"], "rejected", "{cell}: {request}");
            assert_eq!(
                request["processor"]["id"],
                c.me(who)["id"],
                "{cell}: {request}"
            );
            assert_eq!(s.order(f.order()).await["status"], "rejected", "{cell}");
        }
        CreateEab | CreateEabForOwner => {
            let user = match endpoint {
                CreateEab => c.me(who),
                _ => &c.owner_me,
            };
            assert_eq!(j["user_id"], user["id"], "{cell}: {j}");
            assert!(
                j["kid"].as_str().is_some_and(|kid| kid.starts_with("kid-")),
                "{cell}: {j}"
            );
            assert_eq!(
                j["hmac_key"].as_str().map(str::len),
                Some(43),
                "{cell}: {j}"
            );
        }
        CreateCampaign => {
            assert_eq!(j["status"], "pending", "{cell}: {j}");
            assert_eq!(j["matched"], 1, "{cell}: {j}");
            assert_eq!(j["requester"]["id"], c.me(who)["id"], "{cell}: {j}");
        }
        DryRunCampaign => {
            assert_eq!(j["matched"], 1, "{cell}: {j}");
            assert_eq!(
                ids(&j["sample"], cell),
                vec![f.certificate()],
                "{cell}: {j}"
            );
        }
        ApproveCampaign | RejectCampaign | CancelCampaign => {
            assert_eq!(int(&j["id"]), f.campaign(), "{cell}: {j}");
            let expected = match endpoint {
                ApproveCampaign => "revoked",
                _ => "issued",
            };
            let deadline = std::time::Instant::now() + VISIBLE_WITHIN;
            while s.cert_status(f.certificate()).await != expected {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{cell}: not {expected}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if endpoint != ApproveCampaign {
                assert_ne!(j["status"], "pending", "{cell}: {j}");
                assert_eq!(j["processor"]["id"], c.me(who)["id"], "{cell}: {j}");
            }
        }
        HoldCampaignCertificate => {
            assert_eq!(j["held"], 1, "{cell}: {j}");
        }
        other => panic!("{other:?} is not a write row"),
    }
}

#[tokio::test]
async fn access_matrix_writes() {
    let s = Server::start();
    let c = Callers::new(&s).await;
    let mut cells = 0;
    let rows = rows(false);
    for row in &rows {
        for (who, expect) in WHO.into_iter().zip(row.cells) {
            let cell = cell_name(row.endpoint, who);
            let (fresh, path, body) = prepare_write(&s, &c, row.endpoint).await;
            let certificates: Vec<i64> = fresh.certificate.into_iter().collect();
            let before = s.snapshot(&certificates).await;
            let order_before = match fresh.order {
                Some(order) => Some(s.order(order).await),
                None => None,
            };
            let campaign_path = fresh.campaign.map(|id| format!("/campaign/{id}"));
            let campaign_before = match &campaign_path {
                Some(path) => Some(s.get(&c.admin, path).await.json.clone()),
                None => None,
            };
            let r = call(&s, c.key(who), row.endpoint.method(), &path, Some(&body)).await;
            if r.check(expect, &cell) {
                check_write_effect(&s, row.endpoint, who, &r, &c, &fresh, &cell).await;
            } else {
                // Refused: no request, no audit entry, no status changed.
                let after = s.snapshot(&certificates).await;
                assert_eq!(after, before, "{cell}: a refused call changed state");
                if let (Some(order), Some(was)) = (fresh.order, order_before) {
                    assert_eq!(s.order(order).await, was, "{cell}: the order changed");
                }
                if let (Some(path), Some(was)) = (&campaign_path, campaign_before) {
                    let now = s.get(&c.admin, path).await.json.clone();
                    assert_eq!(now, was, "{cell}: the campaign changed");
                }
            }
            cells += 1;
        }
    }
    assert_eq!(cells, rows.len() * WHO.len());
    eprintln!("access matrix: {cells} endpoint×role cells checked (writes)");
}
