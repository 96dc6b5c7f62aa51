//! Request events for the webhook: a request created (pending),
//! approved or rejected. Each event is written to the outbox inside the
//! transaction of the change it reports, so it exists exactly when the change
//! committed; `crate::webhook` delivers it later. Without a webhook nothing is
//! written at all.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

use super::requests::view;
use super::{RequestView, Service, ServiceError, ServiceResult};
use crate::model::RequestStatus;
use crate::store::{Conn, WriteTx, outbox, requests};

/// Turns a request into the JSON the API answers for it, so that an event's
/// `request` is exactly `GET /services/v2/request/{id}` at that moment.
pub(crate) type RenderRequest = fn(&RequestView) -> serde_json::Value;

/// What the service needs to record request events.
pub(crate) struct RequestEvents {
    render: RenderRequest,
    /// Wakes the deliverer once an event has committed.
    committed: Arc<Notify>,
}

impl RequestEvents {
    pub(crate) fn new(render: RenderRequest, committed: Arc<Notify>) -> RequestEvents {
        RequestEvents { render, committed }
    }
}

/// The webhook's JSON body.
#[derive(Serialize)]
struct EventBody<'a> {
    /// Unique per event; a receiver that sees one twice drops the second.
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Unix seconds.
    created: i64,
    request: serde_json::Value,
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

async fn record_event(
    conn: &mut Conn,
    render: RenderRequest,
    request_id: i64,
) -> ServiceResult<()> {
    let request = requests::find(conn, request_id).await?.ok_or_else(|| {
        ServiceError::Internal(format!("request {request_id} vanished in its transaction"))
    })?;
    let view = view(conn, request).await?;
    let created_at_ms = crate::model::now_ms();
    let event_id = new_event_id();
    let kind = event_type(view.request.status);
    let body = EventBody {
        id: &event_id,
        kind,
        created: created_at_ms / 1000,
        request: render(&view),
    };
    let body = serde_json::to_string(&body)
        .map_err(|e| ServiceError::Internal(format!("event body: {e}")))?;
    let event = outbox::NewEvent {
        event_id: &event_id,
        event_type: kind,
        body: &body,
        created_at_ms,
    };
    Ok(outbox::insert(conn, &event).await?)
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
