//! Revocation campaigns: many certificates selected, approved by other
//! administrators (the two-person rule), scheduled, held back one by one,
//! then revoked in batches by a runner and tracked.
//!
//! The runner (`start_campaign_runner`, in `certd serve`) takes runnable
//! campaigns a batch per transaction: each batch revokes its certificates
//! with one audit entry each naming the campaign, marks their rows and adds
//! to the counts, all or nothing. A crash loses at most the batch in flight,
//! which the next run takes again; on PostgreSQL a batch locks its campaign's
//! row, so two nodes never take the same batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::requests::check_comments;
use super::{Context, Service, ServiceError, ServiceResult, audit};
use crate::codes::ErrorCode;
use crate::model::{
    AuditAction, AuditObject, Campaign, CampaignCertificateStatus, CampaignCounts, CampaignStatus,
    Certificate, CertificateRef, Page, RevocationReason, RevokedSerial, Selector, UnixTime, User,
    now,
};
use crate::store::campaigns::{self, CampaignCertificate, Held, NewCampaign};
use crate::store::{Conn, StoreError, certificates, feed, users};

/// Certificates one batch revokes by default (`--campaign-batch-size`): one
/// transaction holds SQLite's writer for this many revocations, short enough
/// that other writers wait little.
pub(crate) const DEFAULT_BATCH: u32 = 1_000;
/// A dry run's sample.
const SAMPLE: i64 = 100;
/// How often the runner looks for due campaigns without being woken (a
/// scheduled `revoke_at`, another node's approval, a crash's leftovers).
const RUNNER_POLL: Duration = Duration::from_secs(1);
/// The longest campaign name.
const MAX_NAME_CHARS: usize = 200;
/// The most serials or ids one selector lists.
const MAX_LISTED: usize = 100_000;

/// `certd serve --campaign-approvals N`, `--distinct-approver` and
/// `--campaign-batch-size`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApprovalRules {
    /// Distinct administrators, other than the requester, who must approve
    /// a campaign.
    pub campaign_approvals: u32,
    /// Ordinary requests may not be approved by whoever made them.
    pub distinct_approver: bool,
    /// Certificates a campaign revokes per transaction.
    pub campaign_batch_size: u32,
}

impl Default for ApprovalRules {
    fn default() -> Self {
        ApprovalRules {
            campaign_approvals: 1,
            distinct_approver: false,
            campaign_batch_size: DEFAULT_BATCH,
        }
    }
}

/// What an administrator asks for.
pub(crate) struct CampaignInput {
    pub name: String,
    pub reason: RevocationReason,
    pub comments: Option<String>,
    pub selector: Selector,
    pub revoke_at: Option<UnixTime>,
    pub dry_run: bool,
}

pub(crate) enum CampaignCreated {
    /// What the selector matches now; nothing recorded.
    DryRun {
        matched: i64,
        already_revoked: i64,
        sample: Vec<Certificate>,
    },
    Created(Box<CampaignView>),
}

/// A campaign with the people it names.
pub(crate) struct CampaignView {
    pub campaign: Campaign,
    pub requester: User,
    /// Each approver, with when they approved.
    pub approvals: Vec<(User, UnixTime)>,
    /// Who rejected or canceled it.
    pub processor: Option<User>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CampaignDecision {
    Approve,
    Reject,
    Cancel,
}

/// Whether a batch left work behind, after certificate id `last`.
#[derive(Debug, PartialEq, Eq)]
enum BatchOutcome {
    More { last: i64 },
    Done,
}

impl Service {
    pub(crate) async fn create_campaign(
        &self,
        ctx: Context<'_>,
        input: CampaignInput,
    ) -> ServiceResult<CampaignCreated> {
        ctx.require_admin("create revocation campaigns")?;
        let name = checked_name(&input.name)?;
        check_comments("comments", input.comments.as_deref())?;
        check_campaign_reason(input.reason)?;
        let selector = checked_selector(input.selector)?;
        let at = now();
        if let Some(revoke_at) = input.revoke_at
            && revoke_at <= at
        {
            return Err(ServiceError::refused(
                ErrorCode::RevokeAtPast,
                "revoke_at is in the past; leave it out to revoke at the final approval.",
            ));
        }
        // Counted outside the write transaction: over a million certificates
        // the scan takes a while, and SQLite's writer must not wait for it.
        let (matched, already_revoked) = {
            let mut conn = self.store.read_bulk().await?;
            campaigns::count_matches(&mut conn, &selector, at).await?
        };
        if input.dry_run {
            let mut conn = self.store.read_bulk().await?;
            let sample = campaigns::sample(&mut conn, &selector, at, SAMPLE).await?;
            return Ok(CampaignCreated::DryRun {
                matched,
                already_revoked,
                sample,
            });
        }
        if matched == 0 {
            return Err(ServiceError::refused(
                ErrorCode::SelectorMatchesNothing,
                format!(
                    "The selector matches no issued, unexpired certificate ({already_revoked} \
                     matching ones are revoked already); nothing to revoke."
                ),
            ));
        }
        let mut tx = self.store.write().await?;
        let new = NewCampaign {
            name: &name,
            reason: input.reason,
            comments: input.comments.as_deref(),
            selector: &selector,
            revoke_at: input.revoke_at,
            requester_id: ctx.user_id(),
            approvals_required: i64::from(self.approval_rules.campaign_approvals),
            matched,
            already_revoked,
            created_at: at,
        };
        let id = campaigns::insert(&mut tx, &new).await?;
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::CampaignCreated,
            (AuditObject::Campaign, id),
            json!({"name": name, "reason": input.reason.name(), "matched": matched}),
        )?;
        let view = campaign_view(&mut tx, id).await?;
        self.record_campaign_event(&mut tx, "campaign.created", &view)
            .await?;
        self.commit_with_events(tx).await?;
        Ok(CampaignCreated::Created(Box::new(view)))
    }

    pub(crate) async fn campaign(&self, ctx: Context<'_>, id: i64) -> ServiceResult<CampaignView> {
        ctx.require_admin("see revocation campaigns")?;
        let mut conn = self.store.read().await?;
        campaign_view(&mut conn, id).await
    }

    /// A page of campaigns, newest first.
    pub(crate) async fn list_campaigns(
        &self,
        ctx: Context<'_>,
        page: Page,
    ) -> ServiceResult<(Vec<CampaignView>, i64)> {
        ctx.require_admin("see revocation campaigns")?;
        let mut conn = self.store.read().await?;
        let (found, total) = campaigns::list(&mut conn, page).await?;
        let views = views_of(&mut conn, found).await?;
        Ok((views, total))
    }

    /// A page of a campaign's certificates, by id.
    pub(crate) async fn campaign_certificates(
        &self,
        ctx: Context<'_>,
        id: i64,
        status: Option<CampaignCertificateStatus>,
        page: Page,
    ) -> ServiceResult<(Vec<CampaignCertificate>, i64)> {
        ctx.require_admin("see revocation campaigns")?;
        let mut conn = self.store.read_bulk().await?;
        let campaign = find_campaign(&mut conn, id).await?;
        // Before the final approval the selection is the selector's, live.
        let live = (campaign.status == CampaignStatus::Pending).then_some(&campaign.selector);
        Ok(campaigns::certificates(&mut conn, &campaign, live, status, page, now()).await?)
    }

    /// Approves, rejects or cancels a campaign. The final approval freezes
    /// its selection and lets it run (at once, or at `revoke_at`).
    pub(crate) async fn decide_campaign(
        &self,
        ctx: Context<'_>,
        id: i64,
        decision: CampaignDecision,
        comment: Option<&str>,
    ) -> ServiceResult<CampaignView> {
        ctx.require_admin("approve, reject or cancel revocation campaigns")?;
        check_comments("comment", comment)?;
        let mut tx = self.store.write().await?;
        let campaign = find_campaign_for_update(&mut tx, id).await?;
        let at = now();
        let (status, action) = match decision {
            CampaignDecision::Approve => {
                let approved = self.approve(&mut tx, ctx, &campaign, comment, at).await?;
                (approved, AuditAction::CampaignApproved)
            }
            CampaignDecision::Reject => {
                check_status(&campaign, &[CampaignStatus::Pending], "rejected")?;
                (CampaignStatus::Rejected, AuditAction::CampaignRejected)
            }
            CampaignDecision::Cancel => {
                check_not_started(&campaign)?;
                let open = [
                    CampaignStatus::Pending,
                    CampaignStatus::Approved,
                    CampaignStatus::Scheduled,
                ];
                check_status(&campaign, &open, "canceled")?;
                (CampaignStatus::Canceled, AuditAction::CampaignCanceled)
            }
        };
        if decision != CampaignDecision::Approve {
            campaigns::set_status(&mut tx, id, status, Some((ctx.user_id(), comment))).await?;
        }
        audit::record(
            &mut tx,
            Some(ctx),
            action,
            (AuditObject::Campaign, id),
            json!({"status": status.as_str(), "comment": comment}),
        )?;
        let view = campaign_view(&mut tx, id).await?;
        let final_approval = matches!(status, CampaignStatus::Approved | CampaignStatus::Scheduled);
        if final_approval {
            self.record_campaign_event(&mut tx, "campaign.approved", &view)
                .await?;
            if status == CampaignStatus::Scheduled {
                self.record_scheduled_revocations(&mut tx, &view.campaign)
                    .await?;
            }
        }
        self.commit_with_events(tx).await?;
        if final_approval {
            self.campaign_wake.notify_one();
        }
        Ok(view)
    }

    /// Records `ctx`'s approval; returns the campaign's status after it.
    async fn approve(
        &self,
        tx: &mut Conn,
        ctx: Context<'_>,
        campaign: &Campaign,
        comment: Option<&str>,
        at: UnixTime,
    ) -> ServiceResult<CampaignStatus> {
        check_status(campaign, &[CampaignStatus::Pending], "approved")?;
        ctx.require_other_than(campaign.requester_id, "approve a campaign")?;
        match campaigns::add_approval(tx, campaign.id, ctx.user_id(), comment, at).await {
            Err(StoreError::Conflict(_)) => {
                return Err(ServiceError::refused(
                    ErrorCode::AlreadyApproved,
                    format!(
                        "You approved campaign {} already; it needs another administrator.",
                        campaign.id
                    ),
                ));
            }
            other => other?,
        }
        let approvals = campaigns::approvals(tx, &[campaign.id]).await?.len() as i64;
        if approvals < campaign.approvals_required {
            return Ok(CampaignStatus::Pending);
        }
        campaigns::freeze_selection(tx, campaign.id, &campaign.selector, at).await?;
        let status = match campaign.revoke_at {
            Some(revoke_at) if revoke_at > at => CampaignStatus::Scheduled,
            _ => CampaignStatus::Approved,
        };
        campaigns::set_status(tx, campaign.id, status, None).await?;
        Ok(status)
    }

    /// Excludes one certificate from a campaign that has not started.
    pub(crate) async fn hold_campaign_certificate(
        &self,
        ctx: Context<'_>,
        id: i64,
        certificate: &CertificateRef,
        comments: Option<&str>,
    ) -> ServiceResult<CampaignView> {
        ctx.require_admin("hold certificates of revocation campaigns")?;
        check_comments("comments", comments)?;
        let mut tx = self.store.write().await?;
        let campaign = find_campaign_for_update(&mut tx, id).await?;
        check_not_started(&campaign)?;
        let open = [
            CampaignStatus::Pending,
            CampaignStatus::Approved,
            CampaignStatus::Scheduled,
        ];
        check_status(&campaign, &open, "changed")?;
        let found = match certificate {
            CertificateRef::Id(id) => certificates::find(&mut tx, *id).await?,
            CertificateRef::Serial(serial) => certificates::find_by_serial(&mut tx, serial).await?,
        };
        let certificate =
            found.ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCertificate))?;
        let frozen = campaign.status != CampaignStatus::Pending;
        let selected = frozen
            || campaigns::matches(&mut tx, &campaign.selector, certificate.id, now()).await?;
        let held = if selected {
            campaigns::hold(&mut tx, id, certificate.id, comments, frozen).await?
        } else {
            Held::NotInCampaign
        };
        match held {
            Held::Now => {}
            Held::Already => {
                return Err(ServiceError::refused(
                    ErrorCode::AlreadyHeld,
                    format!("Certificate {} is held already.", certificate.id),
                ));
            }
            Held::NotInCampaign => {
                return Err(ServiceError::refused(
                    ErrorCode::NotInCampaign,
                    format!(
                        "Certificate {} is not among campaign {id}'s certificates.",
                        certificate.id
                    ),
                ));
            }
        }
        audit::record(
            &mut tx,
            Some(ctx),
            AuditAction::CampaignCertificateHeld,
            (AuditObject::Campaign, id),
            json!({"certificate_id": certificate.id, "serial_number": certificate.serial_number,
                   "comments": comments}),
        )?;
        let view = campaign_view(&mut tx, id).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Runs due campaigns from now on, on this node (`certd serve`).
    pub(crate) fn start_campaign_runner(self: &Arc<Self>) {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(error) = service.run_due_campaigns().await {
                    tracing::warn!(%error, "revocation campaign runner failed; retrying");
                }
                tokio::select! {
                    _ = service.campaign_wake.notified() => {}
                    _ = tokio::time::sleep(RUNNER_POLL) => {}
                }
            }
        });
    }

    async fn run_due_campaigns(&self) -> ServiceResult<()> {
        let due = {
            let mut conn = self.store.read().await?;
            campaigns::runnable(&mut conn, now()).await?
        };
        for id in due {
            let mut after = 0;
            while let BatchOutcome::More { last } = self.run_campaign_batch(id, after).await? {
                after = last;
                // Let waiting requests have the writer between batches.
                tokio::task::yield_now().await;
            }
        }
        Ok(())
    }

    /// Revokes the campaign's next batch after certificate id `after`, in one
    /// transaction.
    async fn run_campaign_batch(&self, id: i64, after: i64) -> ServiceResult<BatchOutcome> {
        let mut tx = self.store.write().await?;
        let at = now();
        let before = find_campaign_for_update(&mut tx, id).await?;
        let Some(campaign) = campaigns::start_batch(&mut tx, id, at).await? else {
            return Ok(BatchOutcome::Done);
        };
        if before.status != CampaignStatus::Running {
            // start_batch made it running: the first batch.
            audit::record(
                &mut tx,
                None,
                AuditAction::CampaignStarted,
                (AuditObject::Campaign, id),
                json!({"matched": campaign.counts.matched}),
            )?;
        }
        let batch_size = i64::from(self.approval_rules.campaign_batch_size);
        let batch = campaigns::next_batch(&mut tx, id, after, batch_size).await?;
        let reason = campaign.reason;
        let mut to_revoke = Vec::with_capacity(batch.len());
        let mut already = Vec::new();
        let mut expired = Vec::new();
        for certificate in &batch {
            if certificate.revoked {
                already.push(certificate.id);
            } else if certificate.valid_till <= at {
                expired.push(certificate.id);
            } else {
                to_revoke.push(certificate.id);
            }
        }
        let revoked_ids = certificates::revoke_unrevoked(&mut tx, &to_revoke, at, reason).await?;
        let revoked_set: HashSet<i64> = revoked_ids.iter().copied().collect();
        // Revoked by someone else between our read and our update (PostgreSQL).
        already.extend(to_revoke.iter().filter(|id| !revoked_set.contains(id)));
        let mut revoked = Vec::with_capacity(revoked_ids.len());
        for certificate in batch.iter().filter(|c| revoked_set.contains(&c.id)) {
            audit::record(
                &mut tx,
                None,
                AuditAction::CertificateRevoked,
                (AuditObject::Certificate, certificate.id),
                json!({"reason": reason.name(), "campaign_id": id}),
            )?;
            revoked.push(RevokedSerial {
                serial_number: certificate.serial_number.clone(),
                crl_shard: certificate.crl_shard,
            });
        }
        feed::announce(&mut tx, &revoked).await?;
        campaigns::mark(
            &mut tx,
            id,
            &revoked_ids,
            CampaignCertificateStatus::Revoked,
        )
        .await?;
        campaigns::mark(
            &mut tx,
            id,
            &already,
            CampaignCertificateStatus::AlreadyRevoked,
        )
        .await?;
        campaigns::mark(&mut tx, id, &expired, CampaignCertificateStatus::Failed).await?;
        // Certificates revoked by others while the campaign waited leave its
        // selection for `already_revoked`, as those revoked before it was
        // frozen never entered it: at the end, revoked + held + failed =
        // matched.
        let change = CampaignCounts {
            matched: -(already.len() as i64),
            revoked: revoked_ids.len() as i64,
            already_revoked: already.len() as i64,
            failed: expired.len() as i64,
            held: 0,
        };
        campaigns::add_counts(&mut tx, id, change).await?;
        // No hold can come while it runs: a short batch was the last.
        let done = (batch.len() as i64) < batch_size;
        if done {
            campaigns::complete(&mut tx, id, at).await?;
            audit::record(
                &mut tx,
                None,
                AuditAction::CampaignCompleted,
                (AuditObject::Campaign, id),
                json!({}),
            )?;
            let view = campaign_view(&mut tx, id).await?;
            self.record_campaign_event(&mut tx, "campaign.completed", &view)
                .await?;
        }
        self.commit_with_events(tx).await?;
        self.revocation_committed(&revoked, Some(reason));
        Ok(match batch.last() {
            Some(last) if !done => BatchOutcome::More { last: last.id },
            _ => BatchOutcome::Done,
        })
    }
}

fn checked_name(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ServiceError::refused(
            ErrorCode::BadCampaignName,
            format!("A campaign needs a name of 1 to {MAX_NAME_CHARS} characters."),
        ));
    }
    Ok(name.to_string())
}

/// A campaign revokes; it blocks no keys, so keyCompromise (whose rules
/// block the key and revoke every certificate sharing it) is left to the
/// single revocation, which carries them out.
fn check_campaign_reason(reason: RevocationReason) -> ServiceResult<()> {
    if reason == RevocationReason::KeyCompromise {
        return Err(ServiceError::refused(
            ErrorCode::ForbiddenReason,
            "A campaign cannot revoke for keyCompromise: revoke each compromised key's \
             certificate on its own (or through ACME), which also blocks the key.",
        ));
    }
    Ok(())
}

fn bad_selector(message: impl Into<String>) -> ServiceError {
    ServiceError::refused(ErrorCode::BadSelector, message)
}

/// A list condition: present means non-empty and within the cap.
fn checked_list<T>(name: &str, list: Option<Vec<T>>) -> ServiceResult<Option<Vec<T>>> {
    match list {
        Some(list) if list.is_empty() => Err(bad_selector(format!(
            "selector.{name} is empty; leave it out or list at least one."
        ))),
        Some(list) if list.len() > MAX_LISTED => Err(bad_selector(format!(
            "selector.{name} lists more than {MAX_LISTED}; split the campaign."
        ))),
        other => Ok(other),
    }
}

fn checked_ids(name: &str, ids: Option<Vec<i64>>) -> ServiceResult<Option<Vec<i64>>> {
    let ids = checked_list(name, ids)?;
    if let Some(bad) = ids.iter().flatten().find(|id| **id <= 0) {
        return Err(bad_selector(format!(
            "selector.{name} holds {bad}, which is no id."
        )));
    }
    Ok(ids)
}

/// Text that must not be empty once trimmed.
fn checked_text(name: &str, text: Option<String>) -> ServiceResult<Option<String>> {
    match text.map(|t| t.trim().to_string()) {
        Some(text) if text.is_empty() => Err(bad_selector(format!("selector.{name} is empty."))),
        other => Ok(other),
    }
}

/// The selector's rules: at least one condition, none empty, every value
/// well formed (a typo must fail, never widen the selection), dates in order.
pub(crate) fn checked_selector(selector: Selector) -> ServiceResult<Selector> {
    let serials = checked_list("serials", selector.serials)?
        .map(|serials| {
            serials
                .iter()
                .map(|text| match CertificateRef::parse(text) {
                    Some(CertificateRef::Serial(serial)) => Ok(serial),
                    _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(CertificateRef::normalise_serial(text))
                    }
                    _ => Err(bad_selector(format!(
                        "selector.serials holds {text:?}, which is no hex serial number."
                    ))),
                })
                .collect::<ServiceResult<Vec<_>>>()
        })
        .transpose()?;
    let user_email = checked_text("user_email", selector.user_email)?;
    if let Some(email) = &user_email
        && !email.contains('@')
    {
        return Err(bad_selector(format!(
            "selector.user_email {email:?} is no email address."
        )));
    }
    let domain = checked_text("domain", selector.domain)?.map(|d| super::normalise_name(&d));
    if let Some(domain) = &domain
        && (domain.is_empty()
            || domain.starts_with('.')
            || !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'))
    {
        return Err(bad_selector(format!(
            "selector.domain {domain:?} is no domain name."
        )));
    }
    let public_key_sha256 =
        checked_text("public_key_sha256", selector.public_key_sha256)?.map(|h| h.to_lowercase());
    if let Some(hash) = &public_key_sha256
        && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad_selector(
            "selector.public_key_sha256 must be 64 hex digits (SHA-256 of the \
             SubjectPublicKeyInfo).",
        ));
    }
    if let (Some(after), Some(before)) = (selector.issued_after, selector.issued_before)
        && after >= before
    {
        return Err(ServiceError::refused(
            ErrorCode::BadDate,
            "selector.issued_after must be before selector.issued_before.",
        ));
    }
    let checked = Selector {
        serials,
        certificate_ids: checked_ids("certificate_ids", selector.certificate_ids)?,
        order_ids: checked_ids("order_ids", selector.order_ids)?,
        user_email,
        domain,
        issued_after: selector.issued_after,
        issued_before: selector.issued_before,
        public_key_sha256,
    };
    if checked.is_empty() {
        return Err(bad_selector(
            "The selector needs at least one condition: serials, certificate_ids, order_ids, \
             user_email, domain, issued_after, issued_before or public_key_sha256.",
        ));
    }
    Ok(checked)
}

fn check_status(campaign: &Campaign, allowed: &[CampaignStatus], to: &str) -> ServiceResult<()> {
    if allowed.contains(&campaign.status) {
        return Ok(());
    }
    Err(ServiceError::refused(
        ErrorCode::CampaignNotPending,
        format!(
            "Campaign {} is {}; it cannot be {to} now.",
            campaign.id, campaign.status
        ),
    ))
}

/// Once a campaign runs, its revocations are under way: too late to cancel
/// or hold.
fn check_not_started(campaign: &Campaign) -> ServiceResult<()> {
    if matches!(
        campaign.status,
        CampaignStatus::Running | CampaignStatus::Completed
    ) {
        return Err(ServiceError::refused(
            ErrorCode::CampaignStarted,
            format!(
                "Campaign {} is {} already; it can no longer be canceled or held.",
                campaign.id, campaign.status
            ),
        ));
    }
    Ok(())
}

async fn find_campaign(conn: &mut Conn, id: i64) -> ServiceResult<Campaign> {
    campaigns::find(conn, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCampaign))
}

async fn find_campaign_for_update(conn: &mut Conn, id: i64) -> ServiceResult<Campaign> {
    campaigns::find_for_update(conn, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(ErrorCode::NoSuchCampaign))
}

async fn campaign_view(conn: &mut Conn, id: i64) -> ServiceResult<CampaignView> {
    let campaign = find_campaign(conn, id).await?;
    let mut views = views_of(conn, vec![campaign]).await?;
    views
        .pop()
        .ok_or_else(|| ServiceError::Internal(format!("campaign {id} vanished")))
}

/// The campaigns with their requesters and approvers, each user read once.
async fn views_of(conn: &mut Conn, found: Vec<Campaign>) -> ServiceResult<Vec<CampaignView>> {
    let ids: Vec<i64> = found.iter().map(|c| c.id).collect();
    let approvals = campaigns::approvals(conn, &ids).await?;
    let mut people: HashMap<i64, User> = HashMap::new();
    let mut wanted: Vec<i64> = approvals.iter().map(|a| a.user_id).collect();
    for campaign in &found {
        wanted.push(campaign.requester_id);
        wanted.extend(campaign.processor_id);
    }
    wanted.sort_unstable();
    wanted.dedup();
    for user_id in wanted {
        let user = users::find(conn, user_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("user {user_id} is missing")))?;
        people.insert(user_id, user);
    }
    Ok(found
        .into_iter()
        .map(|campaign| CampaignView {
            requester: people[&campaign.requester_id].clone(),
            approvals: approvals
                .iter()
                .filter(|a| a.campaign_id == campaign.id)
                .map(|a| (people[&a.user_id].clone(), a.created_at))
                .collect(),
            processor: campaign.processor_id.map(|id| people[&id].clone()),
            campaign,
        })
        .collect())
}
