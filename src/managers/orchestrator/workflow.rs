//! Tasks that do not come one per client request: a graph or a topic's message submitted at
//! once, and the tasks a commit released (dependants whose dependencies all succeeded, tasks an
//! answer handed over). Each queued one goes where a new task would.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::actor::Orchestrator;
use super::messages::{Released, SubmitError, SubmitMany};
use crate::domain::agent::AgentId;
use crate::domain::task::{TaskRecord, TaskStatus};
use crate::store::manager::{Created, Write};
use crate::store::StoreError;

impl Orchestrator {
    /// Run a queued task that no client waits to see placed: here, or on a node of the cluster.
    /// One addressed to another node's agent is that node's to find (it looks for its agents'
    /// queued tasks when told of one, and every second).
    pub(super) fn place(&mut self, task: TaskRecord, ctx: &mut Context<Self>) {
        if task.status != TaskStatus::Queued || self.tasks.contains_key(task.id.as_str()) {
            return;
        }
        let Some(cluster) = self.hive.cluster().cloned() else {
            return self.admit(task, ctx);
        };
        match &task.agent {
            None => {
                let created = Created {
                    task,
                    existing: false,
                    clock: None,
                };
                self.distribute(cluster, created, None, ctx);
            }
            Some(_) if task.node.as_deref() == Some(&*cluster.node) => self.admit(task, ctx),
            // This node's agent, and no node holds it yet: claimed here, then run.
            Some(agent) if task.node.is_none() && self.hive.agents.get(agent).is_some() => {
                let (store, node) = (self.hive.store.clone(), cluster.node.clone());
                let claim = async move { store.take(&[task.id.as_str()], &node).await };
                ctx.spawn(claim.into_actor(self).map(|taken, act, ctx| match taken {
                    Ok(taken) => {
                        for task in taken {
                            act.place(task, ctx);
                        }
                    }
                    // Claimed by the sweep of this node's agents' tasks instead.
                    Err(e) => tracing::debug!(error = %e, "cannot claim a task for an agent here"),
                }));
            }
            Some(_) => {}
        }
    }
}

impl Handler<Released> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Released(tasks): Released, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        for task in tasks {
            self.place(task, ctx);
        }
    }
}

impl Handler<SubmitMany> for Orchestrator {
    type Result = ();

    fn handle(&mut self, SubmitMany { tasks, reply }: SubmitMany, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        if let Err(refused) = self.room_for(tasks.len()) {
            let _ = reply.send(Err(refused));
            return;
        }
        let agent_limit = self.hive.settings.load().max_agent_queue;
        let mut addressed: Vec<AgentId> = tasks
            .iter()
            .filter_map(|t| t.agent.as_deref().map(AgentId::from))
            .collect();
        addressed.sort_unstable();
        for agent in addressed.chunk_by(|a, b| a == b) {
            if self.addressed_to(&agent[0]) + agent.len() > agent_limit {
                let agent = agent[0].to_string();
                let _ = reply.send(Err(SubmitError::AgentQueue {
                    agent,
                    limit: agent_limit,
                }));
                return;
            }
        }
        let count = tasks.len();
        let (tx, rx) = oneshot::channel();
        if let Err(refused) = self.create(Write::CreateTasks { tasks, reply: tx }) {
            let _ = reply.send(Err(refused));
            return;
        }
        self.accepting += count;
        self.backlog_gauge();
        for agent in &addressed {
            self.addressed_held(agent);
        }
        ctx.spawn(rx.into_actor(self).map(move |committed, act, ctx| {
            act.accepting -= count;
            act.backlog_gauge();
            for agent in &addressed {
                act.addressed_gone(agent);
            }
            let answer = match committed {
                Ok(Ok(tasks)) => {
                    for task in &tasks {
                        act.hive
                            .metrics
                            .tasks_submitted
                            .with_label_values(&[task.priority.as_str()])
                            .inc();
                        act.place(task.clone(), ctx);
                    }
                    Ok(tasks)
                }
                Ok(Err(e)) => Err(SubmitError::Store(e)),
                Err(_) => Err(SubmitError::Store(Arc::new(StoreError::Unavailable))),
            };
            let _ = reply.send(answer);
        }));
    }
}
