//! `GET /api/v1/events`: server-sent events of agent, task and supervision lifecycle, through
//! actix-web-lab's SSE responder (framing, keep-alive) rather than hand-written stream plumbing.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, Responder};
use actix_web_lab::sse;
use futures::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::ask::ask;
use super::problem::ApiError;
use crate::context::Hive;
use crate::domain::access::AccessRole;
use crate::managers::communication::SubscribeWith;
use crate::managers::handles::Handles;
use crate::snapshots::access::Caller;

/// A comment every so often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often an idle stream checks that its caller may still read it.
const ACCESS_RECHECK: Duration = Duration::from_millis(500);
/// Event kinds only admins receive, as only admins read the log they come from.
const ADMIN_ONLY: [&str; 1] = ["audit"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events whose kind starts with one of these comma-separated prefixes, such as
    /// `supervisor.,agent.` (a dashboard that does not want every task's events); all by default.
    pub kinds: Option<String>,
    /// Only the events of tasks a message on this topic created.
    #[param(value_type = Option<String>)]
    pub topic: Option<crate::domain::names::Topic>,
}

/// A stream of events; each has the event's kind as its SSE event name and its JSON as data.
/// The stream carries only what its caller's role may read (`audit` events go to admins), and
/// ends within half a second (`ACCESS_RECHECK`) of its token's revocation (or, for a stream opened while the
/// API had no tokens, of the first token's creation).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream"), (status = 503, body = super::problem::Problem)))]
pub async fn events(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    req: HttpRequest,
    caller: web::ReqData<Caller>,
    query: super::query::Query<EventsQuery>,
) -> Result<impl Responder, ApiError> {
    let caller = caller.into_inner();
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
    let topic: Option<Arc<str>> = query.0.topic.map(|t| t.as_str().into());
    let client: Arc<str> = match &caller {
        Caller::Token { id, .. } => id.clone(),
        Caller::Anonymous => req
            .peer_addr()
            .map_or_else(|| "unknown".into(), |a| a.ip().to_string().into()),
    };
    // Asked through the probe, so that a flood of subscribers meets the mailbox bound.
    let request = |reply| SubscribeWith { client, reply };
    let subscription = ask(
        &handles.communication,
        &hive.kinds.communication,
        "event service",
        request,
    )
    .await?
    .ok_or(ApiError::Busy("event stream limit"))?;
    let admin = caller.role() >= AccessRole::Admin;
    let wanted = move |kind: &str| {
        kind == crate::bus::DRAINING
            || (prefixes.is_empty() || prefixes.iter().any(|p| kind.starts_with(p.as_str())))
                && (admin || !ADMIN_ONLY.contains(&kind))
    };
    let hive = hive.into_inner();
    let allowed = move || still_allowed(&hive, &caller);
    let mut recheck = tokio::time::interval(ACCESS_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = stream::unfold(Some((subscription, recheck)), move |state| {
        let (wanted, allowed, topic) = (wanted.clone(), allowed.clone(), topic.clone());
        async move {
            let (mut sub, mut recheck) = state?;
            loop {
                let received = tokio::select! {
                    received = sub.events.recv() => received,
                    _ = recheck.tick() => {
                        if allowed() { continue } else { return None }
                    }
                };
                match received {
                    Ok(event) if !wanted(event.kind()) => continue,
                    Ok(event) if topic.as_deref().is_some_and(|t| !on_topic(&event, t)) => continue,
                    Ok(_) if !allowed() => return None,
                    Ok(event) => {
                        let data = sse::Data::new_json(&*event).ok()?.event(event.kind());
                        let next = (event.kind() != crate::bus::DRAINING).then_some((sub, recheck));
                        return Some((sse::Event::from(data), next));
                    }
                    // A subscriber that fell behind is told how many events it missed, and goes on.
                    Err(RecvError::Lagged(missed)) => {
                        let data =
                            sse::Data::new(format!("{{\"missed\":{missed}}}")).event("lagged");
                        return Some((sse::Event::from(data), Some((sub, recheck))));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(sse::Sse::from_infallible_stream(events).with_keep_alive(KEEP_ALIVE))
}

/// Whether an event is about a task a message on `topic` created (here or on another node); the
/// last event of a stream is always sent.
fn on_topic(published: &crate::bus::Published, topic: &str) -> bool {
    use crate::bus::event::Event;
    match &published.event {
        Event::Task(_, task) => task.topic.as_deref() == Some(topic),
        Event::Relayed { kind, data } => {
            kind.starts_with("task.") && data.get("topic").and_then(|t| t.as_str()) == Some(topic)
        }
        Event::Draining => true,
        _ => false,
    }
}

/// Whether `caller` may still read the stream it opened: its token is live, or, for a caller
/// of an open API, the API is still open.
fn still_allowed(hive: &Hive, caller: &Caller) -> bool {
    let policy = hive.access.load();
    match caller {
        Caller::Token { id, .. } => policy.tokens.iter().any(|t| t.id == *id),
        Caller::Anonymous => policy.open(),
    }
}
