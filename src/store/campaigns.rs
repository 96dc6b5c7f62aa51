//! The `campaigns`, `campaign_approvals` and `campaign_certificates` tables,
//! and the SQL of a campaign's selector.
//!
//! A campaign's selection lives as its selector until the final approval,
//! which freezes it into `campaign_certificates` (one row per certificate,
//! in the approving transaction); holds placed before that are rows already,
//! which the freeze keeps. The runner then takes the rows still `selected`,
//! a batch per transaction, in certificate id order (the primary key's),
//! keeping a cursor rather than an index on the status: each row's status
//! then changes without touching an index.

use sqlx::AssertSqlSafe;

use super::certificates::{self, CertificateRow};
use super::json_rows::{self, SqlType};
use super::{Bind, Conditions, Conn, StoreError, StoreResult, fetch_by_ids, parse_stored};
use crate::model::{
    Campaign, CampaignCertificateStatus, CampaignCounts, CampaignStatus, Certificate, Page,
    RevocationReason, Selector, UnixTime,
};

/// The statuses a certificate must have to be selected (it must also be
/// unexpired); `revoked` ones are counted apart.
const SELECTABLE: &str = "c.status IN ('issued', 'reissue_pending')";

/// `%`, `_` and the escape character itself, escaped for `LIKE ... ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}

/// The selector's conditions on `certificates c`, plus "unexpired at `now`".
fn conditions_of(selector: &Selector, conn: &Conn, now: UnixTime) -> Conditions {
    let mut conditions = Conditions::default();
    let valid = conditions.placeholder(Bind::Int(now));
    conditions.push_clause(format!("c.valid_till > {valid}"));
    if let Some(serials) = &selector.serials {
        let values = json_rows::param(serials.iter().map(|s| s.as_str().into()));
        conditions.push_one_of(conn, "c.serial_number", SqlType::Text, values);
    }
    if let Some(ids) = &selector.certificate_ids {
        let values = json_rows::param(ids.iter().map(|&id| id.into()));
        conditions.push_one_of(conn, "c.id", SqlType::Int, values);
    }
    if let Some(ids) = &selector.order_ids {
        let values = json_rows::param(ids.iter().map(|&id| id.into()));
        conditions.push_one_of(conn, "c.order_id", SqlType::Int, values);
    }
    if let Some(email) = &selector.user_email {
        let email = conditions.placeholder(Bind::Text(email.to_lowercase()));
        conditions.push_clause(format!(
            "c.order_id IN (SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id \
             WHERE LOWER(u.email) = {email})"
        ));
    }
    if let Some(domain) = &selector.domain {
        let escaped = escape_like(domain);
        let exact = conditions.placeholder(Bind::Text(domain.clone()));
        let below = conditions.placeholder(Bind::Text(format!("%.{escaped}")));
        // dns_names is a JSON array of strings: `"domain"` or `.domain"`.
        let listed = conditions.placeholder(Bind::Text(format!("%\"{escaped}\"%")));
        let listed_below = conditions.placeholder(Bind::Text(format!("%.{escaped}\"%")));
        conditions.push_clause(format!(
            "(c.common_name = {exact} OR c.common_name LIKE {below} ESCAPE '\\' \
             OR c.dns_names LIKE {listed} ESCAPE '\\' \
             OR c.dns_names LIKE {listed_below} ESCAPE '\\')"
        ));
    }
    if let Some(after) = selector.issued_after {
        conditions.push("c.valid_from >= {}", Bind::Int(after));
    }
    if let Some(before) = selector.issued_before {
        conditions.push("c.valid_from < {}", Bind::Int(before));
    }
    if let Some(hash) = &selector.public_key_sha256 {
        conditions.push("c.spki_sha256 = {}", Bind::Text(hash.clone()));
    }
    conditions
}

/// How many certificates a selector matches now: selectable ones, and
/// already revoked ones (both unexpired).
pub(crate) async fn count_matches(
    conn: &mut Conn,
    selector: &Selector,
    now: UnixTime,
) -> StoreResult<(i64, i64)> {
    let conditions = conditions_of(selector, conn, now);
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN c.status = 'revoked' THEN 0 ELSE 1 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN c.status = 'revoked' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM certificates c WHERE {} AND c.status IN ('issued', 'reissue_pending', 'revoked')",
        conditions.and_sql()
    );
    let counts: Option<(i64, i64)> = conn.fetch_optional(conditions.query_as(sql)).await?;
    Ok(counts.unwrap_or_default())
}

/// The first `limit` selectable certificates a selector matches, by id.
pub(crate) async fn sample(
    conn: &mut Conn,
    selector: &Selector,
    now: UnixTime,
    limit: i64,
) -> StoreResult<Vec<Certificate>> {
    let mut conditions = conditions_of(selector, conn, now);
    let limit = conditions.placeholder(Bind::Int(limit));
    let sql = format!(
        "SELECT {} FROM certificates WHERE id IN (SELECT c.id FROM certificates c \
         WHERE {} AND {SELECTABLE} ORDER BY c.id LIMIT {limit}) ORDER BY id",
        certificates::COLUMNS,
        conditions.and_sql()
    );
    let rows: Vec<CertificateRow> = conn.fetch_all(conditions.query_as(sql)).await?;
    certificates::into_certificates(rows)
}

/// Whether the selector matches this certificate (selectable) now.
pub(crate) async fn matches(
    conn: &mut Conn,
    selector: &Selector,
    certificate_id: i64,
    now: UnixTime,
) -> StoreResult<bool> {
    let mut conditions = conditions_of(selector, conn, now);
    conditions.push("c.id = {}", Bind::Int(certificate_id));
    let sql = format!(
        "SELECT COUNT(*) FROM certificates c WHERE {} AND {SELECTABLE}",
        conditions.and_sql()
    );
    let count: i64 = conn.scalar_one(conditions.query_scalar(sql)).await?;
    Ok(count > 0)
}

/// A campaign about to be stored.
pub(crate) struct NewCampaign<'a> {
    pub name: &'a str,
    pub reason: RevocationReason,
    pub comments: Option<&'a str>,
    pub selector: &'a Selector,
    pub revoke_at: Option<UnixTime>,
    pub requester_id: i64,
    pub approvals_required: i64,
    pub matched: i64,
    pub already_revoked: i64,
    pub created_at: UnixTime,
}

fn selector_json(selector: &Selector) -> StoreResult<String> {
    serde_json::to_string(selector).map_err(|e| StoreError::Corrupt(format!("selector: {e}")))
}

pub(crate) async fn insert(conn: &mut Conn, new: &NewCampaign<'_>) -> StoreResult<i64> {
    conn.insert_returning_id(
        sqlx::query(
            "INSERT INTO campaigns (name, reason, comments, selector, revoke_at, status, \
                 requester_id, approvals_required, matched, already_revoked, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10)",
        )
        .bind(new.name)
        .bind(new.reason.code())
        .bind(new.comments)
        .bind(selector_json(new.selector)?)
        .bind(new.revoke_at)
        .bind(new.requester_id)
        .bind(new.approvals_required)
        .bind(new.matched)
        .bind(new.already_revoked)
        .bind(new.created_at),
    )
    .await
}

const COLUMNS: &str = "id, name, reason, comments, selector, revoke_at, status, requester_id, \
                       approvals_required, matched, revoked, held, already_revoked, failed, \
                       processor_id, processor_comment, created_at, started_at, completed_at";

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: i64,
    name: String,
    reason: i64,
    comments: Option<String>,
    selector: String,
    revoke_at: Option<i64>,
    status: String,
    requester_id: i64,
    approvals_required: i64,
    matched: i64,
    revoked: i64,
    held: i64,
    already_revoked: i64,
    failed: i64,
    processor_id: Option<i64>,
    processor_comment: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
}

impl CampaignRow {
    fn into_campaign(self) -> StoreResult<Campaign> {
        Ok(Campaign {
            id: self.id,
            name: self.name,
            reason: certificates::reason_from_stored(self.reason)?,
            comments: self.comments,
            selector: serde_json::from_str(&self.selector)
                .map_err(|e| StoreError::Corrupt(format!("campaign selector: {e}")))?,
            revoke_at: self.revoke_at,
            status: parse_stored(&self.status, CampaignStatus::parse)?,
            requester_id: self.requester_id,
            approvals_required: self.approvals_required,
            counts: CampaignCounts {
                matched: self.matched,
                revoked: self.revoked,
                held: self.held,
                already_revoked: self.already_revoked,
                failed: self.failed,
            },
            processor_id: self.processor_id,
            processor_comment: self.processor_comment,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
        })
    }
}

pub(crate) async fn find(conn: &mut Conn, id: i64) -> StoreResult<Option<Campaign>> {
    let sql = format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1");
    let row: Option<CampaignRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(CampaignRow::into_campaign).transpose()
}

/// Reads a campaign for a change, which on PostgreSQL waits for (and then
/// excludes) any other transaction changing it, a runner's batch included.
/// (SQLite's write transaction excludes every other writer already.)
pub(crate) async fn find_for_update(conn: &mut Conn, id: i64) -> StoreResult<Option<Campaign>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1{lock}");
    let row: Option<CampaignRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id))
        .await?;
    row.map(CampaignRow::into_campaign).transpose()
}

/// A page of campaigns, newest first, and how many there are.
pub(crate) async fn list(conn: &mut Conn, page: Page) -> StoreResult<(Vec<Campaign>, i64)> {
    let (rows, total): (Vec<CampaignRow>, i64) = Conditions::default()
        .fetch_page(conn, COLUMNS, "campaigns", "id DESC", page)
        .await?;
    let campaigns = rows
        .into_iter()
        .map(CampaignRow::into_campaign)
        .collect::<StoreResult<_>>()?;
    Ok((campaigns, total))
}

/// One administrator's approval.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Approval {
    pub campaign_id: i64,
    pub user_id: i64,
    pub created_at: i64,
}

/// The approvals of these campaigns, oldest first.
pub(crate) async fn approvals(conn: &mut Conn, campaign_ids: &[i64]) -> StoreResult<Vec<Approval>> {
    fetch_by_ids(
        conn,
        "SELECT campaign_id, user_id, created_at FROM campaign_approvals WHERE {ids} \
         ORDER BY created_at, user_id",
        "campaign_id",
        campaign_ids,
    )
    .await
}

/// Records an approval; [`StoreError::Conflict`] if this user approved it already.
pub(crate) async fn add_approval(
    conn: &mut Conn,
    campaign_id: i64,
    user_id: i64,
    comment: Option<&str>,
    at: UnixTime,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "INSERT INTO campaign_approvals (campaign_id, user_id, comment, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(campaign_id)
        .bind(user_id)
        .bind(comment)
        .bind(at),
    )
    .await?;
    Ok(())
}

/// Sets a campaign's status (and, for a rejection or cancel, who and why).
pub(crate) async fn set_status(
    conn: &mut Conn,
    id: i64,
    status: CampaignStatus,
    processor: Option<(i64, Option<&str>)>,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "UPDATE campaigns SET status = $2, processor_id = COALESCE($3, processor_id), \
             processor_comment = COALESCE($4, processor_comment) WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(processor.map(|(user, _)| user))
        .bind(processor.and_then(|(_, comment)| comment)),
    )
    .await?;
    Ok(())
}

/// Freezes the selection: every certificate the selector matches now
/// becomes a `selected` row (held ones keep their row). Then sets the
/// campaign's `matched` (selected and held) and `already_revoked`.
pub(crate) async fn freeze_selection(
    conn: &mut Conn,
    id: i64,
    selector: &Selector,
    now: UnixTime,
) -> StoreResult<()> {
    let mut conditions = conditions_of(selector, conn, now);
    let campaign = conditions.placeholder(Bind::Int(id));
    let sql = format!(
        "INSERT INTO campaign_certificates (campaign_id, certificate_id, status) \
         SELECT {campaign}, c.id, 'selected' FROM certificates c WHERE {} AND {SELECTABLE} \
         ON CONFLICT DO NOTHING",
        conditions.and_sql()
    );
    conn.execute(conditions.query(sql)).await?;
    if conn.is_postgres() {
        // The rows just inserted (a million, it may be) count in the
        // statistics the runner's statements are planned with at once: the
        // transaction's own rows are in ANALYZE's sample.
        conn.execute(sqlx::query("ANALYZE campaign_certificates"))
            .await?;
    }
    let (_, already_revoked) = count_matches(conn, selector, now).await?;
    conn.execute(
        sqlx::query(
            "UPDATE campaigns SET already_revoked = $2, matched = \
             (SELECT COUNT(*) FROM campaign_certificates WHERE campaign_id = $1) WHERE id = $1",
        )
        .bind(id)
        .bind(already_revoked),
    )
    .await?;
    Ok(())
}

/// What a hold found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    Now,
    Already,
    /// The certificate is not among the campaign's.
    NotInCampaign,
}

/// Holds a certificate of a frozen selection (its row must be `selected`),
/// or records the hold of a certificate the caller checked the selector
/// matches (`selection_frozen` false).
pub(crate) async fn hold(
    conn: &mut Conn,
    id: i64,
    certificate_id: i64,
    comments: Option<&str>,
    selection_frozen: bool,
) -> StoreResult<Held> {
    let current: Option<String> = conn
        .scalar_optional(
            sqlx::query_scalar(
                "SELECT status FROM campaign_certificates WHERE campaign_id = $1 \
                 AND certificate_id = $2",
            )
            .bind(id)
            .bind(certificate_id),
        )
        .await?;
    let held = CampaignCertificateStatus::Held.as_str();
    match current.as_deref() {
        Some(status) if status == held => return Ok(Held::Already),
        Some(status) if status == CampaignCertificateStatus::Selected.as_str() => {
            conn.execute(
                sqlx::query(
                    "UPDATE campaign_certificates SET status = $3, hold_comments = $4 \
                     WHERE campaign_id = $1 AND certificate_id = $2",
                )
                .bind(id)
                .bind(certificate_id)
                .bind(held)
                .bind(comments),
            )
            .await?;
        }
        Some(_) => return Ok(Held::NotInCampaign),
        None if selection_frozen => return Ok(Held::NotInCampaign),
        None => {
            conn.execute(
                sqlx::query(
                    "INSERT INTO campaign_certificates (campaign_id, certificate_id, status, \
                     hold_comments) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(certificate_id)
                .bind(held)
                .bind(comments),
            )
            .await?;
        }
    }
    conn.execute(sqlx::query("UPDATE campaigns SET held = held + 1 WHERE id = $1").bind(id))
        .await?;
    Ok(Held::Now)
}

/// One certificate of a campaign, as its listing shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CampaignCertificate {
    pub id: i64,
    pub order_id: i64,
    pub serial_number: String,
    pub common_name: String,
    pub valid_till: i64,
    pub campaign_status: String,
    pub hold_comments: Option<String>,
}

const LISTED: &str = "c.id, c.order_id, c.serial_number, c.common_name, c.valid_till, \
                      COALESCE(cc.status, 'selected') AS campaign_status, cc.hold_comments";

/// A page of a campaign's certificates by id, with `status` if given: from
/// its rows once the selection is frozen, from the selector (and the holds)
/// before.
pub(crate) async fn certificates(
    conn: &mut Conn,
    campaign: &Campaign,
    selector: Option<&Selector>,
    status: Option<CampaignCertificateStatus>,
    page: Page,
    now: UnixTime,
) -> StoreResult<(Vec<CampaignCertificate>, i64)> {
    // The campaign id is a number certd read from its own row.
    let (mut conditions, from) = match selector {
        Some(selector) => {
            let mut conditions = conditions_of(selector, conn, now);
            conditions.push_clause(SELECTABLE.to_string());
            let from = format!(
                "certificates c LEFT JOIN campaign_certificates cc \
                 ON cc.certificate_id = c.id AND cc.campaign_id = {}",
                campaign.id
            );
            (conditions, from)
        }
        None => {
            let mut conditions = Conditions::default();
            conditions.push("cc.campaign_id = {}", Bind::Int(campaign.id));
            let from =
                "campaign_certificates cc JOIN certificates c ON c.id = cc.certificate_id".into();
            (conditions, from)
        }
    };
    if let Some(status) = status {
        conditions.push(
            "COALESCE(cc.status, 'selected') = {}",
            Bind::Text(status.as_str().into()),
        );
    }
    conditions
        .fetch_page(conn, LISTED, &from, "c.id", page)
        .await
}

/// Whether an approved campaign that has not revoked it yet selects this
/// certificate (renewal information then says "renew now").
pub(crate) async fn awaits_campaign(conn: &mut Conn, certificate_id: i64) -> StoreResult<bool> {
    let count: i64 = conn
        .scalar_one(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM campaign_certificates cc \
                 JOIN campaigns k ON k.id = cc.campaign_id \
                 WHERE cc.certificate_id = $1 AND cc.status = 'selected' \
                 AND k.status IN ('approved', 'scheduled', 'running')",
            )
            .bind(certificate_id),
        )
        .await?;
    Ok(count > 0)
}

/// Campaigns with work to do at `now`: approved, running, or scheduled and due.
pub(crate) async fn runnable(conn: &mut Conn, now: UnixTime) -> StoreResult<Vec<i64>> {
    let ids: Vec<(i64,)> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT id FROM campaigns WHERE status IN ('approved', 'running') \
             OR (status = 'scheduled' AND revoke_at <= $1) ORDER BY id",
            )
            .bind(now),
        )
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Marks a runnable campaign `running` (first time: `started_at`) and
/// returns it; `None` if it is not runnable (canceled, not due, done). On
/// PostgreSQL the row stays locked until the batch commits, so two nodes
/// take a campaign's batches one after the other, each seeing the other's.
pub(crate) async fn start_batch(
    conn: &mut Conn,
    id: i64,
    now: UnixTime,
) -> StoreResult<Option<Campaign>> {
    let sql = format!(
        "UPDATE campaigns SET status = 'running', started_at = COALESCE(started_at, $2) \
         WHERE id = $1 AND (status IN ('approved', 'running') \
         OR (status = 'scheduled' AND revoke_at <= $2)) RETURNING {COLUMNS}"
    );
    let row: Option<CampaignRow> = conn
        .fetch_optional(sqlx::query_as(AssertSqlSafe(sql)).bind(id).bind(now))
        .await?;
    row.map(CampaignRow::into_campaign).transpose()
}

/// A certificate a batch is about to revoke.
#[derive(Debug, Clone)]
pub(crate) struct BatchCertificate {
    pub id: i64,
    pub serial_number: String,
    pub crl_shard: u16,
    pub revoked: bool,
    pub valid_till: UnixTime,
}

/// The next `limit` certificates the campaign has still to revoke, after
/// certificate id `after` (the runner's cursor: every row before it is dealt
/// with; 0 reads from the start, skipping those). The rest of the
/// transaction plans with indexes only: the campaign's rows were all
/// inserted at once, after the table's statistics were last taken.
pub(crate) async fn next_batch(
    conn: &mut Conn,
    id: i64,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<BatchCertificate>> {
    conn.plan_with_indexes_only().await?;
    // The rows first, by the primary key from the cursor on, then their
    // certificates: a join would let the planner sort the whole remaining
    // selection to find the first rows.
    let rows: Vec<(i64, String, i64, String, i64)> = conn
        .fetch_all(
            sqlx::query_as(
                "SELECT c.id, c.serial_number, c.crl_shard, c.status, c.valid_till \
                 FROM certificates c WHERE c.id IN (SELECT cc.certificate_id \
                 FROM campaign_certificates cc WHERE cc.campaign_id = $1 \
                 AND cc.certificate_id > $2 AND cc.status = 'selected' \
                 ORDER BY cc.certificate_id LIMIT $3) ORDER BY c.id",
            )
            .bind(id)
            .bind(after)
            .bind(limit),
        )
        .await?;
    rows.into_iter()
        .map(|(id, serial_number, shard, status, valid_till)| {
            Ok(BatchCertificate {
                id,
                serial_number,
                crl_shard: certificates::shard_from_stored(shard)?,
                revoked: status == crate::model::CertificateStatus::Revoked.as_str(),
                valid_till,
            })
        })
        .collect()
}

/// Sets the status of these certificates of the campaign.
pub(crate) async fn mark(
    conn: &mut Conn,
    id: i64,
    certificate_ids: &[i64],
    status: CampaignCertificateStatus,
) -> StoreResult<()> {
    if certificate_ids.is_empty() {
        return Ok(());
    }
    let condition = json_rows::is_one_of(conn, "certificate_id", 3, SqlType::Int);
    let sql = format!(
        "UPDATE campaign_certificates SET status = $2 WHERE campaign_id = $1 AND {condition}"
    );
    let ids = json_rows::param(certificate_ids.iter().map(|&id| id.into()));
    conn.execute(
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(status.as_str())
            .bind(ids),
    )
    .await?;
    Ok(())
}

/// Adds a batch's outcome (`change`, whose numbers may be negative) to the
/// campaign's counts.
pub(crate) async fn add_counts(
    conn: &mut Conn,
    id: i64,
    change: CampaignCounts,
) -> StoreResult<()> {
    conn.execute(
        sqlx::query(
            "UPDATE campaigns SET matched = matched + $2, revoked = revoked + $3, \
             held = held + $4, already_revoked = already_revoked + $5, failed = failed + $6 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(change.matched)
        .bind(change.revoked)
        .bind(change.held)
        .bind(change.already_revoked)
        .bind(change.failed),
    )
    .await?;
    Ok(())
}

/// Marks the campaign `completed` at `now`.
pub(crate) async fn complete(conn: &mut Conn, id: i64, now: UnixTime) -> StoreResult<()> {
    conn.execute(
        sqlx::query("UPDATE campaigns SET status = 'completed', completed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now),
    )
    .await?;
    Ok(())
}

/// A selected certificate and its owner, for the owner's notice that it
/// will be revoked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ScheduledCertificate {
    pub id: i64,
    pub order_id: i64,
    pub serial_number: String,
    pub common_name: String,
    pub user_id: i64,
    pub email: String,
}

/// Up to `limit` of the campaign's selected certificates after id `after`,
/// with their owners.
pub(crate) async fn selected_with_owners(
    conn: &mut Conn,
    id: i64,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<ScheduledCertificate>> {
    conn.fetch_all(
        sqlx::query_as(
            "SELECT c.id, c.order_id, c.serial_number, c.common_name, u.id AS user_id, u.email \
             FROM campaign_certificates cc JOIN certificates c ON c.id = cc.certificate_id \
             JOIN orders o ON o.id = c.order_id JOIN users u ON u.id = o.user_id \
             WHERE cc.campaign_id = $1 AND cc.status = 'selected' AND cc.certificate_id > $2 \
             ORDER BY cc.certificate_id LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit),
    )
    .await
}
