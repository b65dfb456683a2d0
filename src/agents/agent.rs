//! The Agent actor: one worker under its pool's supervisor. It runs one task at a time with its
//! executor, reports every start and result to whoever started it ([`Reports`]), and stays
//! responsive while a task runs.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use hive_actors::{ExitSlot, MailboxProbe, Shutdown};
use serde_json::Value;
use tracing::Instrument;

use super::executor;
use super::outcome::Outcome;
use super::registry::AgentEntry;
use super::report::{AgentUp, Reports, TaskFinished};
use crate::context::Hive;
use crate::domain::agent::AgentStatus;
use crate::domain::task::TaskId;

/// Run one attempt of a task.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Run {
    pub task_id: TaskId,
    pub attempt: u32,
    pub input: Arc<Value>,
}

/// Stop working on an attempt (cancelled, or timed out); no result is reported for it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Cancel {
    pub task_id: TaskId,
    pub attempt: u32,
}

/// End this incarnation as a failure, so that the pool's supervisor starts a fresh one: an
/// operator's restart. A task it was running is retried as after a crash.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Restart;

struct Current {
    task_id: TaskId,
    attempt: u32,
    handle: SpawnHandle,
}

/// What every agent shares: the services, and whoever started them. One pointer per agent.
pub struct AgentEnv {
    pub hive: Hive,
    pub reports: Arc<dyn Reports>,
}

/// Kept small, since an idle agent is mostly this and its context: the executor is made for
/// each attempt rather than held (a command agent's would hold its program and working
/// directory), the mailbox probe is read from `hive`, and the running attempt is boxed.
pub struct Agent {
    env: Arc<AgentEnv>,
    entry: Arc<AgentEntry>,
    current: Option<Box<Current>>,
    /// Where an operator's restart records its reason for the supervisor.
    exit: ExitSlot,
}

impl Agent {
    pub fn new(env: Arc<AgentEnv>, entry: Arc<AgentEntry>, exit: ExitSlot) -> Self {
        Self {
            env,
            entry,
            current: None,
            exit,
        }
    }

    fn probe(&self) -> &MailboxProbe {
        &self.env.hive.kinds.agent
    }

    fn report(
        &self,
        task_id: TaskId,
        attempt: u32,
        outcome: Outcome,
        elapsed: std::time::Duration,
    ) {
        self.entry.set_status(AgentStatus::Idle, None);
        // An agent's message is its task: what it spends on one is the task's run.
        self.env
            .hive
            .metrics
            .actor_processing
            .with_label_values(&["agent"])
            .observe(elapsed.as_secs_f64());
        self.env.reports.finished(TaskFinished {
            agent_id: self.entry.info.id.clone(),
            task_id,
            attempt,
            outcome,
        });
    }
}

impl Actor for Agent {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.probe().actor_started();
        self.entry.started();
        self.env.reports.up(AgentUp {
            entry: self.entry.clone(),
            addr: ctx.address(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.probe().actor_stopped();
    }
}

impl Handler<Run> for Agent {
    type Result = ();

    fn handle(&mut self, run: Run, ctx: &mut Context<Self>) {
        self.probe().handled();
        if let Some(previous) = self.current.take() {
            // The orchestrator sends one task at a time; a second one means the first was given
            // up on (its cancel is still in flight), so stop it now.
            ctx.cancel_future(previous.handle);
        }
        self.entry
            .set_status(AgentStatus::Busy, Some(run.task_id.clone()));
        let started = Instant::now();
        let (task_id, attempt) = (run.task_id.clone(), run.attempt);
        let info = &self.entry.info;
        // The orchestrator's side of the attempt has the same span: the task's way is found by
        // its id, and a panic in the executor is logged inside it.
        let span = tracing::info_span!(
            "attempt",
            task_id = &*run.task_id,
            agent_id = &*info.id,
            attempt = run.attempt
        );
        let work = span
            .in_scope(|| {
                executor::for_spec(&info.kind.executor, &self.env.hive, &info.id).run(&run.input)
            })
            .instrument(span);
        let handle = ctx.spawn(work.into_actor(self).map(move |outcome, act, _| {
            if act
                .current
                .as_ref()
                .is_some_and(|c| c.task_id == task_id && c.attempt == attempt)
            {
                act.current = None;
                act.report(task_id, attempt, outcome, started.elapsed());
            }
        }));
        self.current = Some(Box::new(Current {
            task_id: run.task_id,
            attempt: run.attempt,
            handle,
        }));
    }
}

impl Handler<Cancel> for Agent {
    type Result = ();

    fn handle(&mut self, cancel: Cancel, ctx: &mut Context<Self>) {
        self.probe().handled();
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.task_id == cancel.task_id && c.attempt == cancel.attempt)
        {
            if let Some(current) = self.current.take() {
                ctx.cancel_future(current.handle);
            }
            self.entry.set_status(AgentStatus::Idle, None);
        }
    }
}

impl Handler<Restart> for Agent {
    type Result = ();

    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        self.probe().handled();
        self.exit.fail("restarted by an operator");
        ctx.stop();
    }
}

impl Handler<Shutdown> for Agent {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent's running context, boxed in its arbiter's host with the child's end of its link
    /// (two pointers), stays in jemalloc's 384-byte class: a field added to the agent would
    /// move every agent into the 448-byte class.
    #[test]
    fn a_hosted_agent_fits_384_bytes() {
        let size = std::mem::size_of::<actix::dev::ContextFut<Agent, Context<Agent>>>()
            + 2 * std::mem::size_of::<usize>();
        assert!(size <= 384, "{size} bytes");
    }
}
