//! Events for the webhook: a request created (pending), approved or
//! rejected; a campaign created, approved or completed, and each
//! certificate a scheduled campaign will revoke. Each event is written to the outbox inside the
//! transaction of the change it reports, so it exists exactly when the change
//! committed; `crate::webhook` delivers it later. Without a webhook nothing is
//! written at all.

use std::sync::Arc;

use tokio::sync::Notify;

use super::campaigns::CampaignView;
use super::requests::view;
use super::{RequestView, Service, ServiceError, ServiceResult};
use crate::model::{Campaign, RequestStatus};
use crate::store::{Conn, WriteTx, campaigns, outbox, requests};

/// Certificates read at once when writing their revocation notices.
const NOTICES_PER_READ: i64 = 1_000;

/// Turns a request into the JSON the API answers for it, so that an event's
/// `request` is exactly `GET /services/v2/request/{id}` at that moment.
pub(crate) type RenderRequest = fn(&RequestView) -> serde_json::Value;

/// Turns a campaign into the JSON of `GET /services/v2/campaign/{id}`.
pub(crate) type RenderCampaign = fn(&CampaignView) -> serde_json::Value;

/// What the service needs to record events.
pub(crate) struct RequestEvents {
    render: RenderRequest,
    render_campaign: RenderCampaign,
    /// Wakes the deliverer once an event has committed.
    committed: Arc<Notify>,
}

impl RequestEvents {
    pub(crate) fn new(
        render: RenderRequest,
        render_campaign: RenderCampaign,
        committed: Arc<Notify>,
    ) -> RequestEvents {
        RequestEvents {
            render,
            render_campaign,
            committed,
        }
    }
}

/// The event a request's status reports. A request approved as it is made
/// (skip_approval, auto-approval) reports only its approval.
fn event_type(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending | RequestStatus::Submitted => "request.created",
        RequestStatus::Approved => "request.approved",
        RequestStatus::Rejected => "request.rejected",
    }
}

/// 128 random bits in hex.
fn new_event_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Service {
    /// Records request events from now on (`--webhook-url`).
    pub(crate) fn with_request_events(mut self, events: RequestEvents) -> Service {
        self.events = Some(events);
        self
    }

    /// Commits a transaction that created or decided a request, with the
    /// event the request's status now reports, then wakes the deliverer.
    pub(super) async fn commit_with_request_event(
        &self,
        tx: WriteTx,
        request_id: i64,
    ) -> ServiceResult<()> {
        self.commit_with_request_events(tx, &[request_id]).await
    }

    /// Commits `tx` with an event for each of the requests it changed.
    pub(super) async fn commit_with_request_events(
        &self,
        mut tx: WriteTx,
        request_ids: &[i64],
    ) -> ServiceResult<()> {
        let Some(events) = &self.events else {
            return Ok(tx.commit().await?);
        };
        for &request_id in request_ids {
            record_event(&mut tx, events.render, request_id).await?;
        }
        tx.commit().await?;
        events.committed.notify_one();
        Ok(())
    }
}

impl Service {
    /// Commits `tx`, then wakes the deliverer if events may have been written.
    pub(super) async fn commit_with_events(&self, tx: WriteTx) -> ServiceResult<()> {
        tx.commit().await?;
        if let Some(events) = &self.events {
            events.committed.notify_one();
        }
        Ok(())
    }

    /// Writes a campaign event (`campaign.created`, ...) in `conn`'s transaction.
    pub(super) async fn record_campaign_event(
        &self,
        conn: &mut Conn,
        kind: &'static str,
        view: &CampaignView,
    ) -> ServiceResult<()> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let campaign = (events.render_campaign)(view);
        insert_event(conn, kind, |body| {
            body.insert("campaign".into(), campaign);
        })
        .await
    }

    /// Tells each owner of a certificate the scheduled campaign will revoke:
    /// one `certificate.revocation_scheduled` event per certificate.
    pub(super) async fn record_scheduled_revocations(
        &self,
        conn: &mut Conn,
        campaign: &Campaign,
    ) -> ServiceResult<()> {
        if self.events.is_none() {
            return Ok(());
        }
        let revoke_at = campaign.revoke_at.map(crate::model::date_time);
        let mut after = 0;
        loop {
            let selected =
                campaigns::selected_with_owners(conn, campaign.id, after, NOTICES_PER_READ).await?;
            let Some(last) = selected.last() else {
                return Ok(());
            };
            after = last.id;
            let notices: Vec<Event> = selected
                .iter()
                .map(|certificate| {
                    Event::new("certificate.revocation_scheduled", |body| {
                        body.insert(
                            "certificate".into(),
                            serde_json::json!({
                                "id": certificate.id,
                                "order_id": certificate.order_id,
                                "serial_number": certificate.serial_number,
                                "common_name": certificate.common_name,
                            }),
                        );
                        body.insert(
                            "owner".into(),
                            serde_json::json!({"id": certificate.user_id, "email": certificate.email}),
                        );
                        body.insert("campaign_id".into(), campaign.id.into());
                        body.insert("revoke_at".into(), revoke_at.clone().into());
                    })
                })
                .collect();
            let rows: Vec<outbox::NewEvent<'_>> = notices.iter().map(Event::row).collect();
            outbox::insert_many(conn, &rows).await?;
        }
    }
}

/// An event about to be written.
struct Event {
    event_id: String,
    kind: &'static str,
    body: String,
    created_at_ms: i64,
}

impl Event {
    /// An event of type `kind`: its JSON body has `id` (unique per event; a
    /// receiver that sees one twice drops the second), `type`, `created`
    /// (unix seconds), and what `fill` adds.
    fn new(
        kind: &'static str,
        fill: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Event {
        let created_at_ms = crate::model::now_ms();
        let event_id = new_event_id();
        let mut body = serde_json::Map::new();
        body.insert("id".into(), event_id.clone().into());
        body.insert("type".into(), kind.into());
        body.insert("created".into(), (created_at_ms / 1000).into());
        fill(&mut body);
        Event {
            event_id,
            kind,
            body: serde_json::Value::Object(body).to_string(),
            created_at_ms,
        }
    }

    fn row(&self) -> outbox::NewEvent<'_> {
        outbox::NewEvent {
            event_id: &self.event_id,
            event_type: self.kind,
            body: &self.body,
            created_at_ms: self.created_at_ms,
        }
    }
}

/// Writes one event (see [`Event::new`]).
async fn insert_event(
    conn: &mut Conn,
    kind: &'static str,
    fill: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> ServiceResult<()> {
    Ok(outbox::insert(conn, &Event::new(kind, fill).row()).await?)
}

async fn record_event(
    conn: &mut Conn,
    render: RenderRequest,
    request_id: i64,
) -> ServiceResult<()> {
    let request = requests::find(conn, request_id).await?.ok_or_else(|| {
        ServiceError::Internal(format!("request {request_id} vanished in its transaction"))
    })?;
    let view = view(conn, request).await?;
    let rendered = render(&view);
    insert_event(conn, event_type(view.request.status), |body| {
        body.insert("request".into(), rendered);
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_reports_its_event() {
        assert_eq!(event_type(RequestStatus::Pending), "request.created");
        assert_eq!(event_type(RequestStatus::Approved), "request.approved");
        assert_eq!(event_type(RequestStatus::Rejected), "request.rejected");
    }

    #[test]
    fn event_ids_are_random() {
        let (a, b) = (new_event_id(), new_event_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
