//! Topics: which agents subscribe to which topic, and a message on a topic made into one task
//! addressed to each subscriber, all committed in one transaction. On several nodes a message
//! reaches every node's subscribers: tasks for another node's agents are left for that node to
//! claim (see `cluster::feeder`).

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::CommunicationManager;
use crate::domain::names::Role;
use crate::domain::task::{AgentRef, NewTask, TaskRecord};
use crate::domain::time::now_ms;
use crate::domain::topic::NewMessage;
use crate::managers::orchestrator::{SubmitError, SubmitMany};
use crate::store::manager::{Persist, Write};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(
        "topic {topic} has more than {limit} subscribers (max_topic_fanout): one message may \
         create at most that many tasks"
    )]
    Fanout { topic: String, limit: usize },
    #[error("topic {topic} has {limit} subscribers already (max_topic_subscribers)")]
    Full { topic: String, limit: usize },
    #[error(transparent)]
    Submit(SubmitError),
    #[error(transparent)]
    Store(Arc<StoreError>),
}

impl From<StoreError> for TopicError {
    fn from(e: StoreError) -> Self {
        TopicError::Store(Arc::new(e))
    }
}

/// A message on `topic`: answered with the tasks it created, one per subscriber (none without
/// any), once they are committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub topic: String,
    pub message: NewMessage,
    pub reply: oneshot::Sender<Result<Vec<TaskRecord>, TopicError>>,
}

/// The topics `agent` subscribes to from now on, instead of those it had.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetTopics {
    pub agent: String,
    pub topics: Vec<String>,
    pub reply: oneshot::Sender<Result<(), TopicError>>,
}

impl Handler<Publish> for CommunicationManager {
    type Result = ();

    fn handle(&mut self, publish: Publish, ctx: &mut Context<Self>) {
        self.hive.kinds.communication.handled();
        let _timer = self.hive.metrics.processing("communication");
        let Publish {
            topic,
            message,
            reply,
        } = publish;
        let (hive, orchestrator) = (self.hive.clone(), self.orchestrator.clone());
        let limit = hive.settings.load().max_topic_fanout;
        let work = async move {
            let subscribers = hive
                .store
                .subscribers(&topic, i64::try_from(limit + 1).unwrap_or(i64::MAX))
                .await?;
            if subscribers.len() > limit {
                return Err(TopicError::Fanout { topic, limit });
            }
            if subscribers.is_empty() {
                return Ok(Vec::new());
            }
            let here = hive.cluster().map(|c| c.node.to_string());
            let now = now_ms();
            let tasks: Vec<TaskRecord> = subscribers
                .into_iter()
                .filter_map(|s| {
                    let role = Role::try_from(s.role).ok()?;
                    let new = NewTask {
                        role: None,
                        agent: Some(AgentRef(s.agent)),
                        input: message.input.clone(),
                        required_capabilities: Default::default(),
                        priority: message.priority,
                        timeout_ms: message.timeout_ms,
                        max_retries: message.max_retries,
                        idempotency_key: None,
                        truncate_result: false,
                        depends_on: Default::default(),
                    };
                    let mut task = TaskRecord::accepted(new, role, now);
                    task.topic = Some(topic.clone());
                    // This node's agents' tasks are held here from the start; another node
                    // claims its own.
                    task.node = here.clone().filter(|h| s.node.as_deref() == Some(h));
                    Some(task)
                })
                .collect();
            let addr = orchestrator
                .get()
                .ok_or(TopicError::Store(Arc::new(StoreError::Unavailable)))?;
            let (tx, rx) = oneshot::channel();
            hive.kinds
                .orchestrator
                .try_send(&addr, SubmitMany { tasks, reply: tx })
                .map_err(|_| TopicError::Submit(SubmitError::StoreBusy))?;
            rx.await
                .map_err(|_| TopicError::Store(Arc::new(StoreError::Unavailable)))?
                .map_err(TopicError::Submit)
        };
        ctx.spawn(
            async move {
                let _ = reply.send(work.await);
            }
            .into_actor(self),
        );
    }
}

impl Handler<SetTopics> for CommunicationManager {
    type Result = ();

    fn handle(&mut self, set: SetTopics, ctx: &mut Context<Self>) {
        self.hive.kinds.communication.handled();
        let _timer = self.hive.metrics.processing("communication");
        let SetTopics {
            agent,
            topics,
            reply,
        } = set;
        let (hive, store) = (self.hive.clone(), self.store.clone());
        let limit = hive.settings.load().max_topic_subscribers;
        let work = async move {
            let had = hive.store.topics_of(&agent).await?;
            // A bound, not a reservation: subscriptions made at the same moment may pass it by
            // as many as there are.
            for topic in topics.iter().filter(|t| !had.contains(t)) {
                let count = hive.store.subscriber_count(topic).await?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
                    return Err(TopicError::Full {
                        topic: topic.clone(),
                        limit,
                    });
                }
            }
            let addr = store
                .get()
                .ok_or(TopicError::Store(Arc::new(StoreError::Unavailable)))?;
            let (tx, rx) = oneshot::channel();
            let write = Write::SetTopics {
                agent,
                topics,
                reply: tx,
            };
            hive.kinds
                .store
                .try_send(&addr, Persist(write))
                .map_err(|_| TopicError::Store(Arc::new(StoreError::Busy)))?;
            rx.await
                .map_err(|_| TopicError::Store(Arc::new(StoreError::Unavailable)))?
                .map_err(TopicError::Store)
        };
        ctx.spawn(
            async move {
                let _ = reply.send(work.await);
            }
            .into_actor(self),
        );
    }
}
