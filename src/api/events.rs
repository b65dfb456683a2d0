//! `GET /api/v1/events`: server-sent events of agent, task and supervision lifecycle, through
//! actix-web-lab's SSE responder (framing, keep-alive) rather than hand-written stream plumbing.

use std::time::Duration;

use actix_web::{web, Responder};
use actix_web_lab::sse;
use futures::stream;
use tokio::sync::broadcast::error::RecvError;

use super::ask;
use super::problem::ApiError;
use crate::context::Hive;
use crate::managers::communication::SubscribeWith;

/// A comment every so often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream of events; each has the event's kind as its SSE event name and its JSON as data.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, content_type = "text/event-stream"), (status = 503, body = super::problem::Problem)))]
pub async fn events(hive: web::Data<Hive>) -> Result<impl Responder, ApiError> {
    // Asked through the probe, so that a flood of subscribers meets the mailbox bound.
    let request = |reply| SubscribeWith { reply };
    let subscription = ask(
        &hive.slots.communication,
        &hive.kinds.communication,
        "event service",
        request,
    )
    .await?
    .ok_or(ApiError::Busy("event stream limit"))?;
    let events = stream::unfold(Some(subscription), |sub| async move {
        let mut sub = sub?;
        match sub.events.recv().await {
            Ok(event) => {
                let data = sse::Data::new_json(&*event).ok()?.event(event.kind);
                let next = (event.kind != crate::bus::DRAINING).then_some(sub);
                Some((sse::Event::from(data), next))
            }
            // A subscriber that fell behind is told how many events it missed, and goes on.
            Err(RecvError::Lagged(missed)) => {
                let data = sse::Data::new(format!("{{\"missed\":{missed}}}")).event("lagged");
                Some((sse::Event::from(data), Some(sub)))
            }
            Err(RecvError::Closed) => None,
        }
    });
    Ok(sse::Sse::from_infallible_stream(events).with_keep_alive(KEEP_ALIVE))
}
