//! The Agent actor: one worker under its pool's supervisor. It runs one task at a time with its
//! executor, reports every start and result to whoever started it ([`Reports`]), and stays
//! responsive while a task runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::{ExitSlot, MailboxProbe, Shutdown};
use tokio_util::codec::LinesCodecError;
use tracing::Instrument;

use super::executor;
use super::outcome::{Outcome, Work};
use super::process::{self, Process, Said};
use super::registry::AgentEntry;
use super::report::{AgentUp, Reports, TaskFinished};
use crate::bus::event::{Event, TaskProgress};
use crate::context::Hive;
use crate::domain::agent::{AgentStatus, ExecutorSpec};
use crate::domain::task::TaskId;

/// Run one attempt of a task.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Run(pub Work);

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
    /// The executor's future; `None` when a process agent's program runs the task.
    handle: Option<SpawnHandle>,
    started: Instant,
}

/// Whether a program is let go of because its task was given up on (see `Agent::kill_program`).
enum GivenUp {
    Yes,
    No,
}

/// What every agent shares: the services, and whoever started them. One pointer per agent.
pub struct AgentEnv {
    pub hive: Hive,
    pub reports: Arc<dyn Reports>,
}

/// What an agent holds only while it works, or for as long as it runs a program: boxed, so
/// that an idle agent of another kind carries one pointer for it.
#[derive(Default)]
struct Held {
    current: Option<Current>,
    process: Option<Process>,
    /// Stopping on purpose (a shutdown): the program's exit is not a crash.
    stopping: bool,
}

/// Kept small, since an idle agent is mostly this and its context: the executor is made for
/// each attempt rather than held (a command agent's would hold its program and working
/// directory), the mailbox probe is read from `hive`, and the running attempt is boxed.
pub struct Agent {
    env: Arc<AgentEnv>,
    entry: Arc<AgentEntry>,
    held: Option<Box<Held>>,
    /// Where an operator's restart records its reason for the supervisor.
    exit: ExitSlot,
}

impl Agent {
    pub fn new(env: Arc<AgentEnv>, entry: Arc<AgentEntry>, exit: ExitSlot) -> Self {
        Self {
            env,
            entry,
            held: None,
            exit,
        }
    }

    fn probe(&self) -> &MailboxProbe {
        &self.env.hive.kinds.agent
    }

    fn current(&self) -> Option<&Current> {
        self.held.as_ref()?.current.as_ref()
    }

    fn is_current(&self, task_id: &str, attempt: u32) -> bool {
        self.current()
            .is_some_and(|c: &Current| &*c.task_id == task_id && c.attempt == attempt)
    }

    /// Take the running attempt, letting go of the box when nothing else is held.
    fn take_current(&mut self) -> Option<Current> {
        let held = self.held.as_mut()?;
        let current = held.current.take();
        if held.process.is_none() && !held.stopping {
            self.held = None;
        }
        current
    }

    fn held(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Default::default)
    }

    fn process(&self) -> Option<&Process> {
        self.held.as_ref()?.process.as_ref()
    }

    fn report(&self, current: Current, outcome: Outcome) {
        self.entry.set_status(AgentStatus::Idle, None);
        // An agent's message is its task: what it spends on one is the task's run.
        self.env
            .hive
            .metrics
            .actor_processing
            .with_label_values(&["agent"])
            .observe(current.started.elapsed().as_secs_f64());
        self.env.reports.finished(TaskFinished {
            agent_id: self.entry.info.id.clone(),
            task_id: current.task_id,
            attempt: current.attempt,
            outcome,
        });
    }

    /// End this incarnation as a failure: the supervisor restarts the agent (and with it, a
    /// process agent's program), and a task it ran is retried as after any crash.
    fn crash(&mut self, why: String, ctx: &mut Context<Self>) {
        tracing::warn!(agent = %self.entry.info.id, reason = %why, "agent crashed");
        self.exit.fail(why);
        ctx.stop();
    }

    /// Start a process agent's program and watch it; `Err` says why it could not start.
    fn start_program(&mut self, ctx: &mut Context<Self>) -> Result<(), String> {
        let ExecutorSpec::Process {
            program,
            args,
            env,
            limits,
        } = &self.entry.info.kind.executor
        else {
            return Ok(());
        };
        let hive = &self.env.hive;
        let started = Process::start(hive, &self.entry.info.id, program, args, env, *limits)?;
        hive.metrics.process_starts.inc();
        hive.agents
            .set_process(&self.entry.info.id, Some(started.process.watch.clone()));
        ctx.add_stream(started.stdout);
        ctx.spawn(started.stderr.into_actor(self));
        ctx.spawn(started.writer.into_actor(self));
        ctx.spawn(
            started
                .exited
                .into_actor(self)
                .map(|why, act, ctx| act.program_ended(why, ctx)),
        );
        self.held().process = Some(started.process);
        Ok(())
    }

    fn program_ended(&mut self, why: String, ctx: &mut Context<Self>) {
        let stopping = self.held.as_ref().is_some_and(|h| h.stopping);
        let reason = if stopping { "stopped" } else { "exited" };
        self.env
            .hive
            .metrics
            .process_exits
            .with_label_values(&[reason])
            .inc();
        if stopping {
            ctx.stop();
        } else {
            self.crash(why, ctx);
        }
    }

    /// Let go of the program, which the agent's end kills with its process group, and start
    /// afresh with a new one: after a broken protocol as after any crash; after a task given up
    /// on (a cancel, a timeout: a program cannot be told to drop one task) at once, and not as a
    /// crash, so a run of cancelled tasks never makes a crash loop.
    fn kill_program(&mut self, why: String, given_up: GivenUp, ctx: &mut Context<Self>) {
        self.env
            .hive
            .metrics
            .process_exits
            .with_label_values(&["killed"])
            .inc();
        match given_up {
            GivenUp::No => self.crash(why, ctx),
            GivenUp::Yes => {
                tracing::info!(agent = %self.entry.info.id, reason = %why, "program replaced");
                self.exit.restart(why);
                ctx.stop();
            }
        }
    }

    /// One line of a process agent's stdout.
    fn program_said(&mut self, said: Result<Said, String>, ctx: &mut Context<Self>) {
        let said = match said {
            Ok(said) => said,
            Err(why) => return self.kill_program(why, GivenUp::No, ctx),
        };
        let running = self.current().map(|c| c.task_id.clone());
        let task = match &said {
            Said::Finished { task, .. } | Said::Progress { task, .. } => task,
        };
        if running.as_deref() != Some(task.as_str()) {
            let why = match running {
                Some(running) => {
                    format!("the program answered for task {task} while it runs task {running}")
                }
                None => format!("the program answered for task {task}, which it is not running"),
            };
            return self.kill_program(why, GivenUp::No, ctx);
        }
        match said {
            Said::Progress { task, progress } => {
                let attempt = self.current().map_or(0, |c| c.attempt);
                self.env.hive.bus.publish(Event::Progress(TaskProgress {
                    id: task,
                    agent_id: self.entry.info.id.clone(),
                    attempt,
                    progress,
                }));
            }
            Said::Finished { outcome, .. } => {
                if let Some(current) = self.take_current() {
                    self.report(current, process::outcome(outcome));
                }
            }
        }
    }
}

impl Actor for Agent {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.probe().actor_started();
        // The first start is counted even when the program cannot start: creation answers, and
        // the agent's supervisor decides what follows the crash.
        self.entry.started();
        if let Err(why) = self.start_program(ctx) {
            self.env
                .hive
                .metrics
                .process_exits
                .with_label_values(&["not_started"])
                .inc();
            return self.crash(why, ctx);
        }
        self.env
            .hive
            .agents
            .set_stopped_reason(&self.entry.info.id, None);
        self.env.reports.up(AgentUp {
            entry: self.entry.clone(),
            addr: ctx.address(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.process().is_some() {
            self.env.hive.agents.set_process(&self.entry.info.id, None);
        }
        self.probe().actor_stopped();
    }
}

impl Handler<Run> for Agent {
    type Result = ();

    fn handle(&mut self, Run(work): Run, ctx: &mut Context<Self>) {
        self.probe().handled();
        if let Some(previous) = self.take_current() {
            // The orchestrator sends one task at a time; a second one means the first was given
            // up on (its cancel is still in flight), so stop it now.
            match previous.handle {
                Some(handle) => {
                    ctx.cancel_future(handle);
                }
                None => {
                    let why = format!(
                        "task {} came while the program still ran task {}, given up on",
                        work.task_id, previous.task_id
                    );
                    return self.kill_program(why, GivenUp::Yes, ctx);
                }
            }
        }
        self.entry
            .set_status(AgentStatus::Busy, Some(work.task_id.clone()));
        let info = &self.entry.info;
        // The orchestrator's side of the attempt has the same span: the task's way is found by
        // its id, and a panic in the executor is logged inside it.
        let span = tracing::info_span!(
            "attempt",
            task_id = &*work.task_id,
            agent_id = &*info.id,
            attempt = work.attempt
        );
        let (task_id, attempt) = (work.task_id.clone(), work.attempt);
        let handle = if let Some(process) = self.process() {
            if let Err(why) = span.in_scope(|| process.send(&work)) {
                return self.kill_program(why, GivenUp::No, ctx);
            }
            None
        } else {
            let work = span
                .in_scope(|| {
                    executor::for_spec(&info.kind.executor, &self.env.hive, &info.id).run(&work)
                })
                .instrument(span);
            let (id, n) = (task_id.clone(), attempt);
            Some(ctx.spawn(work.into_actor(self).map(move |outcome, act, _| {
                if act.is_current(&id, n) {
                    if let Some(current) = act.take_current() {
                        act.report(current, outcome);
                    }
                }
            })))
        };
        self.held().current = Some(Current {
            task_id,
            attempt,
            handle,
            started: Instant::now(),
        });
    }
}

impl StreamHandler<Result<String, LinesCodecError>> for Agent {
    fn handle(&mut self, line: Result<String, LinesCodecError>, ctx: &mut Context<Self>) {
        let said = process::read_line(line, self.env.hive.config.max_line_bytes);
        self.program_said(said, ctx);
    }

    /// The program closed its stdout: its exit, which follows, says why.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Cancel> for Agent {
    type Result = ();

    fn handle(&mut self, cancel: Cancel, ctx: &mut Context<Self>) {
        self.probe().handled();
        if !self.is_current(&cancel.task_id, cancel.attempt) {
            return;
        }
        let Some(current) = self.take_current() else {
            return;
        };
        self.entry.set_status(AgentStatus::Idle, None);
        match current.handle {
            Some(handle) => {
                ctx.cancel_future(handle);
            }
            // A program cannot be told to drop a task: it is stopped, with whatever it started.
            None => self.kill_program(
                format!(
                    "task {} was cancelled or timed out; its program was stopped",
                    cancel.task_id
                ),
                GivenUp::Yes,
                ctx,
            ),
        }
    }
}

impl Handler<Restart> for Agent {
    type Result = ();

    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        self.probe().handled();
        self.exit.restart("restarted by an operator");
        ctx.stop();
    }
}

impl Handler<Shutdown> for Agent {
    type Result = ();

    /// A process agent closes its program's stdin and gives it `process_shutdown_timeout_ms`
    /// to exit; its process group is killed when the agent stops, whichever comes first.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let Some(held) = self.held.as_mut().filter(|h| h.process.is_some()) else {
            return ctx.stop();
        };
        held.stopping = true;
        if let Some(process) = held.process.as_mut() {
            process.close_stdin();
        }
        let wait = Duration::from_millis(self.env.hive.config.process_shutdown_timeout_ms);
        ctx.run_later(wait, |_, ctx| ctx.stop());
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
