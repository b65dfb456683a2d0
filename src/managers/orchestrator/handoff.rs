//! One node of several: new tasks go out on the streams, the cluster's feeder hands tasks over
//! and asks for room, and a lost lease stops what runs here.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::actor::Orchestrator;
use super::messages::SubmitError;
use super::queues;
use crate::cluster::port::{Adopt, LeaseChanged, Release, Wanted};
use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskId, TaskRecord};
use crate::managers::agent_slots::AgentSlot;
use crate::store::manager::Created;

impl Orchestrator {
    /// A new task of a cluster node goes on its stream, for whichever node has an agent free.
    /// Without Redis it is held and run here, as a single server would. `reply`, if any, hears
    /// once it is one or the other.
    pub(super) fn distribute(
        &mut self,
        cluster: Arc<crate::cluster::Cluster>,
        created: Created,
        reply: Option<oneshot::Sender<Result<Created, SubmitError>>>,
        ctx: &mut Context<Self>,
    ) {
        let store = self.hive.store.clone();
        let work = async move {
            let mut created = created;
            if cluster.is_up() && cluster.publish(&created.task).await.is_ok() {
                return (created, "published");
            }
            // Held before it is queued here, so that no other node runs it as well.
            match store.hold(&created.task.id, &cluster.node).await {
                Ok(_) => created.task.node = Some(cluster.node.to_string()),
                Err(e) => {
                    tracing::warn!(task = %created.task.id, error = %e, "cannot hold a task; running it here")
                }
            }
            (created, "held_locally")
        };
        ctx.spawn(work.into_actor(self).map(move |(created, how), act, ctx| {
            act.hive
                .metrics
                .cluster_tasks
                .with_label_values(&[how])
                .inc();
            if how == "held_locally" {
                act.admit(created.task.clone(), ctx);
            }
            if let Some(reply) = reply {
                let _ = reply.send(Ok(created));
            }
        }));
    }

    /// An agent is free for more work: the cluster feeder may read more from the streams.
    pub(super) fn room(&self) {
        if let Some(cluster) = self.hive.cluster() {
            cluster.room.notify_one();
        }
    }
}

impl Handler<Wanted> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Wanted { reply }: Wanted, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        if self.draining.is_some() {
            let _ = reply.send(Vec::new());
            return;
        }
        let _ = reply.send(queues::room(&self.roles));
    }
}

impl Handler<Adopt> for Orchestrator {
    type Result = ();

    fn handle(&mut self, adopt: Adopt, ctx: &mut Context<Self>) {
        let Adopt {
            tasks,
            taken_over,
            done,
        } = adopt;
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let why = if taken_over {
            "its node was lost"
        } else {
            "the server stopped"
        };
        for task in tasks {
            self.resume(task, why, ctx);
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

impl Handler<Release> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Release { reply }: Release, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let served: std::collections::HashSet<&Role> =
            self.agents.values().map(AgentSlot::role).collect();
        let unserved: Vec<Role> = self
            .roles
            .keys()
            .filter(|role| !served.contains(role))
            .cloned()
            .collect();
        let mut released = Vec::new();
        for role in unserved {
            let Some(queues) = self.roles.get_mut(&role) else {
                continue;
            };
            let ids: Vec<(Priority, TaskId)> = Priority::BY_URGENCY
                .into_iter()
                .flat_map(|p| {
                    std::mem::take(&mut queues.by_priority[p.index()])
                        .into_iter()
                        .map(move |id| (p, id))
                })
                .collect();
            for (priority, id) in ids {
                self.queue_gauge(priority, -1);
                if let Some(mut active) = self.tasks.remove(&id) {
                    self.backlog_gauge();
                    // A stream entry it came with is done: it goes out on a new one.
                    if let Some(cluster) = self.hive.cluster() {
                        cluster.settled(&id);
                    }
                    active.task.node = None;
                    released.push(TaskRecord::join(&active.spec, &active.task));
                }
            }
        }
        let _ = reply.send(released);
    }
}

impl Handler<LeaseChanged> for Orchestrator {
    type Result = ();

    fn handle(&mut self, LeaseChanged { held }: LeaseChanged, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        if held {
            let roles: Vec<Role> = self.roles.keys().cloned().collect();
            for role in roles {
                self.dispatch(&role, ctx);
            }
            return;
        }
        // Stopped before the lease runs out by the database's clock, which is when a survivor
        // may take these tasks over and run them again.
        let stopped = self.hand_back_running(ctx);
        if !stopped.is_empty() {
            tracing::warn!(
                tasks = stopped.len(),
                "stopped the attempts this node ran: its lease cannot be renewed"
            );
        }
        for id in stopped {
            self.enqueue(id, true, ctx);
        }
    }
}
