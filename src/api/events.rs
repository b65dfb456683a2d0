//! `GET /api/v1/events`: server-sent events of agent, task and supervision lifecycle, through
//! actix-web-lab's SSE responder (framing, keep-alive) rather than hand-written stream plumbing.

use std::time::Duration;

use actix_web::{web, Responder};
use actix_web_lab::sse;
use futures::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::ask;
use super::problem::ApiError;
use crate::context::Hive;
use crate::managers::communication::SubscribeWith;

/// A comment every so often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events whose kind starts with one of these comma-separated prefixes, such as
    /// `supervisor.,agent.` (a dashboard that does not want every task's events); all by default.
    pub kinds: Option<String>,
}

/// A stream of events; each has the event's kind as its SSE event name and its JSON as data.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream"), (status = 503, body = super::problem::Problem)))]
pub async fn events(
    hive: web::Data<Hive>,
    query: super::query::Query<EventsQuery>,
) -> Result<impl Responder, ApiError> {
    // Shared by every step of the stream: a clone per event is a reference count.
    let prefixes: std::sync::Arc<[String]> = query
        .0
        .kinds
        .iter()
        .flat_map(|k| k.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
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
    let wanted = move |kind: &str| {
        kind == crate::bus::DRAINING
            || prefixes.is_empty()
            || prefixes.iter().any(|p| kind.starts_with(p.as_str()))
    };
    let events = stream::unfold(Some(subscription), move |sub| {
        let wanted = wanted.clone();
        async move {
            let mut sub = sub?;
            loop {
                match sub.events.recv().await {
                    Ok(event) if !wanted(event.kind) => continue,
                    Ok(event) => {
                        let data = sse::Data::new_json(&*event).ok()?.event(event.kind);
                        let next = (event.kind != crate::bus::DRAINING).then_some(sub);
                        return Some((sse::Event::from(data), next));
                    }
                    // A subscriber that fell behind is told how many events it missed, and goes on.
                    Err(RecvError::Lagged(missed)) => {
                        let data =
                            sse::Data::new(format!("{{\"missed\":{missed}}}")).event("lagged");
                        return Some((sse::Event::from(data), Some(sub)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(sse::Sse::from_infallible_stream(events).with_keep_alive(KEEP_ALIVE))
}
