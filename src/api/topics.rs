//! `/api/v1/topics` and `/api/v1/agents/{id}/topics`: topics agents subscribe to, and messages
//! on them, each of which becomes one task for every subscriber.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::ask::ask;
use super::json::JsonBody;
use super::problem::{ApiError, Problem};
use super::tasks::{refused, shed};
use crate::context::Hive;
use crate::domain::names::Topic;
use crate::domain::topic::{NewMessage, TopicSet};
use crate::managers::communication::{CommunicationManager, Publish, SetTopics, TopicError};
use crate::managers::handles::Handles;
use tokio::sync::oneshot;

/// The topics an agent subscribes to.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentTopics {
    pub agent: String,
    pub topics: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicView {
    pub topic: String,
    pub subscribers: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicList {
    pub items: Vec<TopicView>,
}

/// The answer to a message: the tasks it created, one per subscriber, all committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivered {
    pub topic: String,
    pub tasks: Vec<String>,
}

fn topic_error(e: TopicError) -> ApiError {
    match e {
        TopicError::Fanout { .. } | TopicError::Full { .. } => ApiError::Conflict(e.to_string()),
        TopicError::Submit(e) => refused(e),
        TopicError::Store(e) => ApiError::from(e),
    }
}

/// A topic's name from the path, or 422 naming it.
fn topic_name(name: String) -> Result<Topic, ApiError> {
    Topic::try_from(name).map_err(|e| ApiError::invalid("topic", e))
}

/// Every topic with subscribers, with how many each has.
#[utoipa::path(get, path = "/api/v1/topics", tag = "topics",
    responses((status = 200, body = TopicList)))]
pub async fn list(hive: web::Data<Hive>) -> Result<HttpResponse, ApiError> {
    let items = hive
        .store
        .topics()
        .await?
        .into_iter()
        .map(|(topic, subscribers)| TopicView { topic, subscribers })
        .collect();
    Ok(HttpResponse::Ok().json(TopicList { items }))
}

/// Send a message on a topic: one task addressed to each agent subscribed to it, on whichever
/// node it runs, all committed in one transaction before the answer (none without subscribers).
#[utoipa::path(post, path = "/api/v1/topics/{name}/messages", tag = "topics",
    params(("name" = String, Path)), request_body = NewMessage,
    responses((status = 202, body = Delivered),
        (status = 409, body = Problem, description = "more subscribers than one message may reach (max_topic_fanout)"),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn publish(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    name: web::Path<String>,
    body: JsonBody<NewMessage>,
) -> Result<HttpResponse, ApiError> {
    let topic = topic_name(name.into_inner())?;
    let message = body.value;
    shed(&hive, message.priority)?;
    let topic = String::from(topic);
    let tasks = communicate(&hive, &handles, |reply| Publish {
        topic: topic.clone(),
        message,
        reply,
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Delivered {
        topic,
        tasks: tasks.into_iter().map(|t| t.id).collect(),
    }))
}

/// The topics an agent subscribes to.
#[utoipa::path(get, path = "/api/v1/agents/{id}/topics", tag = "topics",
    params(("id" = String, Path)),
    responses((status = 200, body = AgentTopics), (status = 404, body = Problem)))]
pub async fn of_agent(
    hive: web::Data<Hive>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agent = existing_agent(&hive, id.into_inner()).await?;
    let topics = hive.store.topics_of(&agent).await?;
    Ok(HttpResponse::Ok().json(AgentTopics { agent, topics }))
}

/// Replace the topics an agent subscribes to.
#[utoipa::path(put, path = "/api/v1/agents/{id}/topics", tag = "topics",
    params(("id" = String, Path)), request_body = TopicSet,
    responses((status = 200, body = AgentTopics), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "a topic has as many subscribers as it may (max_topic_subscribers)"),
        (status = 422, body = Problem)))]
pub async fn set_of_agent(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    id: web::Path<String>,
    body: JsonBody<TopicSet>,
) -> Result<HttpResponse, ApiError> {
    let agent = existing_agent(&hive, id.into_inner()).await?;
    let topics = body.value.topics.0;
    communicate(&hive, &handles, |reply| SetTopics {
        agent: agent.clone(),
        topics: topics.clone(),
        reply,
    })
    .await?;
    Ok(HttpResponse::Ok().json(AgentTopics { agent, topics }))
}

/// Ask the CommunicationManager about topics.
async fn communicate<M, T>(
    hive: &Hive,
    handles: &Handles,
    request: impl FnOnce(oneshot::Sender<Result<T, TopicError>>) -> M,
) -> Result<T, ApiError>
where
    M: actix::Message<Result = ()> + Send + 'static,
    CommunicationManager: actix::Handler<M>,
{
    ask(
        &handles.communication,
        &hive.kinds.communication,
        "communication manager",
        request,
    )
    .await?
    .map_err(topic_error)
}

/// An agent that exists (on any node), or 404.
async fn existing_agent(hive: &Hive, id: String) -> Result<String, ApiError> {
    if hive.agents.get(&id).is_some() || hive.store.agent(&id).await?.is_some() {
        return Ok(id);
    }
    Err(ApiError::NotFound { what: "agent", id })
}

/// New agents subscribing to `topics` leave each within `max_topic_subscribers`, or 409.
pub(super) async fn room_for(
    hive: &Hive,
    topics: &[String],
    agents: usize,
) -> Result<(), ApiError> {
    let limit = hive.settings.load().max_topic_subscribers;
    for topic in topics {
        let count =
            usize::try_from(hive.store.subscriber_count(topic).await?).unwrap_or(usize::MAX);
        if count + agents > limit {
            return Err(topic_error(TopicError::Full {
                topic: topic.clone(),
                limit,
            }));
        }
    }
    Ok(())
}
