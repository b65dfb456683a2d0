//! Taking over what a previous process accepted, and a backlog larger than a node holds read a
//! page at a time as room frees.

use actix::prelude::*;

use super::actor::Orchestrator;
use super::attempt;
use crate::bus::event::TaskChange;
use crate::domain::task::{TaskRecord, TaskStatus};
use crate::store::StoreError;

impl Orchestrator {
    /// Read the next page of a spilled backlog once a quarter of the room is free.
    pub(super) fn refill(&mut self, ctx: &mut Context<Self>) {
        let limit = self.hive.config.queued_task_limit();
        let room = limit.saturating_sub(self.tasks.len() + self.accepting);
        if self.spilled == 0 || self.refilling || room < (limit / 4).max(1) {
            return;
        }
        self.refilling = true;
        let store = self.hive.store.clone();
        let after = self.spill_after.clone();
        let page = i64::try_from(room).unwrap_or(i64::MAX);
        let load = async move { store.unfinished_tasks(after.as_deref(), page).await };
        ctx.spawn(load.into_actor(self).map(move |loaded, act, ctx| {
            act.refilling = false;
            let tasks = match loaded {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the next page of the backlog; retrying");
                    return;
                }
            };
            act.spilled = if tasks.len() < room {
                0
            } else {
                act.spilled.saturating_sub(tasks.len())
            };
            if let Some(last) = tasks.last() {
                act.spill_after = Some(last.id.clone());
            }
            for task in tasks {
                act.resume(task, "the server stopped", ctx);
            }
            act.backlog_gauge();
        }));
    }

    /// Queue a task this orchestrator did not accept itself. One found running was interrupted
    /// (`why`): that attempt counts, and the task is dead if it was the last.
    pub(super) fn resume(&mut self, task: TaskRecord, why: &str, ctx: &mut Context<Self>) {
        if self.tasks.contains_key(task.id.as_str()) {
            return;
        }
        let (spec, mut state) = task.split();
        if state.status == TaskStatus::Running {
            if !attempt::interrupted(&spec, &mut state, why) {
                self.persist(spec.clone(), state, Some(TaskChange::Dead));
                self.hive
                    .metrics
                    .tasks_finished
                    .with_label_values(&["dead"])
                    .inc();
                if let Some(cluster) = self.hive.cluster() {
                    cluster.settled(&spec.id);
                }
                return;
            }
            self.persist(spec.clone(), state.clone(), None);
        }
        self.queue(spec, state, ctx);
    }

    /// Take over the tasks a previous process accepted: running ones count the attempt they
    /// were in, and become dead if that was their last. A node of a cluster takes only those it
    /// held; the others' are theirs, or come through the streams.
    pub(super) fn recover(&mut self, ctx: &mut Context<Self>) {
        let store = self.hive.store.clone();
        let node = self.hive.cluster().map(|c| c.node.clone());
        let limit = self.hive.config.queued_task_limit();
        // A single server reads at most what it holds at once; the rest waits in the store and
        // is read as room frees, so a restart with any backlog stays within the memory budget.
        let load = async move {
            match node {
                Some(node) => Ok((store.take_over(&node, &node).await?, 0)),
                None => {
                    let page = store
                        .unfinished_tasks(None, i64::try_from(limit).unwrap_or(i64::MAX))
                        .await?;
                    let total = store.unfinished_count().await?;
                    let spilled = total.saturating_sub(page.len());
                    Ok((page, spilled))
                }
            }
        };
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| {
            let (tasks, spilled) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    let e: StoreError = e;
                    tracing::error!(error = %e, "cannot read unfinished tasks; they stay in the store");
                    act.hive.recovered.send_modify(|r| r.tasks = true);
                    return;
                }
            };
            act.spilled = spilled;
            act.spill_after = tasks.last().map(|t| t.id.clone());
            if spilled > 0 {
                tracing::info!(
                    waiting_in_store = spilled,
                    "the backlog is larger than this node holds at once; the rest is read as room frees"
                );
            }
            let count = tasks.len();
            for task in tasks {
                act.resume(task, "the server stopped", ctx);
            }
            if count > 0 {
                tracing::info!(tasks = count, "took over unfinished tasks from the store");
            }
            act.hive.recovered.send_modify(|r| r.tasks = true);
        }));
    }
}
