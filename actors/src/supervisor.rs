//! The Supervisor actor: starts children from specs, sees every exit, restarts per policy within
//! its intensity, backs off crash loops, gives up and escalates, and shuts children down in reverse
//! start order.
//!
//! A supervisor is itself a child (it handles [`Shutdown`] and records why it gave up in its
//! [`ExitSlot`]), so trees nest: when a supervisor gives up, its parent sees an `Error` exit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use arcstr::ArcStr;
use parking_lot::RwLock;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::child::{ChildContext, Shutdown, StartedChild};
use crate::child_index::ChildIndex;
use crate::child_set::{generation_tag, ChildSet, Exited, MAX_SEQ};
use crate::exit::{ExitReason, ExitSlot};
use crate::millis::epoch_millis;
use crate::tree::{
    ChildStatus, ChildView, EventSink, ListChildren, Restart, Strategy, SupervisionEvent,
    SupervisionEventKind, SupervisorStatus, SupervisorView, Tree,
};
use crate::window::{Intensity, RestartWindow};

/// How a child is stopped when its supervisor shuts down or removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPolicy {
    /// Ask with [`Shutdown`], then drop the child if it has not ended within the timeout.
    Timeout(Duration),
    /// Drop the child's future at once, without asking.
    BrutalKill,
}

impl Default for ShutdownPolicy {
    /// OTP's default for workers.
    fn default() -> Self {
        ShutdownPolicy::Timeout(Duration::from_secs(5))
    }
}

type Factory = Arc<dyn Fn(ChildContext) -> StartedChild + Send + Sync>;

/// When a child is restarted, how it is stopped and how a crash loop backs off (OTP's
/// `restart` and `shutdown` flags, and Hive's backoff).
#[derive(Debug, Clone, PartialEq)]
pub struct ChildPolicy {
    pub restart: Restart,
    pub shutdown: ShutdownPolicy,
    pub backoff: Backoff,
}

impl Default for ChildPolicy {
    fn default() -> Self {
        Self {
            restart: Restart::Permanent,
            shutdown: ShutdownPolicy::default(),
            backoff: Backoff::default(),
        }
    }
}

/// How to start one child, and what to do when it ends.
#[derive(Clone)]
pub struct ChildSpec {
    /// Shared, not copied: a pool of agents names each child by the id its owner already holds.
    /// One pointer (`ArcStr` keeps the length in the shared cell).
    pub id: ArcStr,
    /// Shared by every child made from one spec with [`ChildSpec::named`], as the thousands of
    /// agents of a pool are: an idle child carries one pointer for its start function and its
    /// policy, where it carried three.
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    policy: ChildPolicy,
    start: Factory,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent child with the default backoff and shutdown timeout; `start` is called at the
    /// first start and again at every restart.
    pub fn new(
        id: impl Into<ArcStr>,
        start: impl Fn(ChildContext) -> StartedChild + Send + Sync + 'static,
    ) -> Self {
        Self {
            id: id.into(),
            shared: Arc::new(Shared {
                policy: ChildPolicy::default(),
                start: Arc::new(start),
            }),
        }
    }

    /// Another child of this spec, named `id`: a dynamic pool keeps one spec and starts each of
    /// its children from it under the child's own id (OTP's `simple_one_for_one`), and they all
    /// share its start function and policy. The start function tells them apart by
    /// [`ChildContext::id`].
    pub fn named(&self, id: impl Into<ArcStr>) -> ChildSpec {
        ChildSpec {
            id: id.into(),
            shared: self.shared.clone(),
        }
    }

    /// The policy it is restarted and stopped by.
    pub fn child_policy(&self) -> &ChildPolicy {
        &self.shared.policy
    }

    // The setters copy what the spec shares only when they change it, so that a spec asking
    // for what it already has keeps sharing.
    pub fn policy(mut self, policy: ChildPolicy) -> Self {
        if self.shared.policy != policy {
            Arc::make_mut(&mut self.shared).policy = policy;
        }
        self
    }

    pub fn restart(self, restart: Restart) -> Self {
        let policy = ChildPolicy {
            restart,
            ..self.shared.policy.clone()
        };
        self.policy(policy)
    }

    pub fn shutdown(self, shutdown: ShutdownPolicy) -> Self {
        let policy = ChildPolicy {
            shutdown,
            ..self.shared.policy.clone()
        };
        self.policy(policy)
    }

    pub fn backoff(self, backoff: Backoff) -> Self {
        let policy = ChildPolicy {
            backoff,
            ..self.shared.policy.clone()
        };
        self.policy(policy)
    }
}

/// The settings of one supervisor.
#[derive(Clone)]
pub struct SupervisorSpec {
    /// Unique in the tree; `/api/v1/supervision` and metrics name the supervisor by it.
    pub name: Arc<str>,
    pub parent: Option<String>,
    pub strategy: Strategy,
    pub intensity: Intensity,
    /// Crashes in a row, each before the child ran its backoff's `reset_after`, after which a
    /// child is left stopped rather than restarted: one child in a crash loop stops itself, not
    /// its supervisor. `None` (the default) restarts it for as long as the intensity allows.
    pub crash_loop_limit: Option<u32>,
    pub events: EventSink,
    pub tree: Tree,
}

impl SupervisorSpec {
    pub fn new(name: impl Into<Arc<str>>, tree: Tree, events: EventSink) -> Self {
        Self {
            name: name.into(),
            parent: None,
            strategy: Strategy::OneForOne,
            intensity: Intensity::default(),
            crash_loop_limit: None,
            events,
            tree,
        }
    }

    pub fn crash_loop_limit(mut self, limit: u32) -> Self {
        self.crash_loop_limit = Some(limit);
        self
    }

    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupervisorError {
    #[error("a child with id {0:?} already exists")]
    DuplicateChild(String),
    #[error("no child with id {0:?}")]
    NoSuchChild(String),
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    /// It has given out every sequence number (2^48 children added over its life).
    #[error("the supervisor has added as many children as it can number")]
    SequenceExhausted,
}

/// Add a child at run time (a dynamic pool adds agents this way); it starts at once.
#[derive(Message)]
#[rtype(result = "Result<(), SupervisorError>")]
pub struct StartChild(pub ChildSpec);

/// Stop a child per its shutdown policy and forget its spec; answered once it has ended.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SupervisorError>")]
pub struct TerminateChild(pub String);

/// Sent once to a monitor when the incarnation of the child it watched ends.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Down {
    pub supervisor: Arc<str>,
    pub child: String,
    pub reason: ExitReason,
}

/// Watch the running incarnation of a child: `watcher` gets one [`Down`] when it ends, or at once
/// (with [`ExitReason::NoProc`]) if the child is not running. A restart is a new incarnation, to
/// be watched anew.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MonitorChild {
    pub id: String,
    pub watcher: Recipient<Down>,
}

struct Running {
    stop: Box<dyn Fn()>,
    /// The child's exit slot: a stop its supervisor asked for is reported as `Shutdown`, and a
    /// kill goes through it.
    exit: ExitSlot,
}

// A pool of agents has one per agent, so its size class counts: 64 bytes, with a spec of two
// pointers, a 32-bit generation, a 64-bit start time (an `Instant` takes 16) and the restart
// counts kept with the other incidents (they were 112, then 96, then 80). An exit names its
// incarnation by the generation's low 16 bits (see `child_set`).
struct Child {
    spec: ChildSpec,
    generation: u32,
    running: Option<Running>,
    /// When the running incarnation started, in microseconds since the supervisor's `epoch`:
    /// 8 bytes where an `Instant` takes 16.
    started_us: u64,
    /// Being stopped by `TerminateChild`: its exit is reported, then it is forgotten.
    terminating: bool,
    /// Being stopped because a sibling's exit restarts its group (`one_for_all`,
    /// `rest_for_one`): its exit is reported, and the group restart starts it again.
    group_stop: bool,
    /// Whether it has run before, so that the next start is a new generation.
    started_once: bool,
    status: ChildStatus,
    /// Made on the first exit, restart, monitor or stop.
    incidents: Option<Box<Incidents>>,
}

/// What only a child that has exited, is restarting, is watched or is being stopped needs: boxed,
/// so that an idle child that never crashed carries one pointer for all of it.
#[derive(Default)]
struct Incidents {
    /// Restarts so far; saturates.
    restarts: u32,
    /// Crashes since the child last ran longer than its backoff's `reset_after`.
    consecutive: u32,
    last_exit: Option<ExitReason>,
    /// Epoch milliseconds of the next start while `restarting`.
    next_attempt_ms: Option<u64>,
    pending_restart: Option<SpawnHandle>,
    /// Monitors of the running incarnation, told once when it ends.
    monitors: Vec<Recipient<Down>>,
    /// Told when the running incarnation has ended, while a stop waits for it.
    on_end: Option<oneshot::Sender<()>>,
}

impl Child {
    fn incidents(&mut self) -> &mut Incidents {
        self.incidents.get_or_insert_with(Default::default)
    }

    fn take_pending_restart(&mut self) -> Option<SpawnHandle> {
        self.incidents.as_mut()?.pending_restart.take()
    }

    /// Take the running incarnation out to be stopped, with the signal of its end.
    fn stop_step(&mut self) -> Option<StopStep> {
        let running = self.running.take()?;
        let (tx, done) = oneshot::channel();
        self.incidents().on_end = Some(tx);
        Some(StopStep {
            running,
            policy: self.spec.shared.policy.shutdown,
            done,
        })
    }

    fn view(&self) -> ChildView {
        ChildView {
            id: self.spec.id.to_string(),
            restart: self.spec.shared.policy.restart,
            status: self.status,
            restarts: self.incidents.as_ref().map_or(0, |i| u64::from(i.restarts)),
            last_exit: self.incidents.as_ref().and_then(|i| i.last_exit.clone()),
            next_attempt_ms: self.incidents.as_ref().and_then(|i| i.next_attempt_ms),
        }
    }
}

/// A stop that a shutdown sequence carries out: ask (or not), wait, drop.
struct StopStep {
    running: Running,
    policy: ShutdownPolicy,
    done: oneshot::Receiver<()>,
}

impl StopStep {
    async fn run(self) {
        let Running { stop, exit } = self.running;
        let mut done = self.done;
        exit.set(ExitReason::Shutdown);
        if let ShutdownPolicy::Timeout(limit) = self.policy {
            stop();
            if tokio::time::timeout(limit, &mut done).await.is_ok() {
                return;
            }
        }
        exit.kill();
        // Answered once the supervisor has seen the killed future end.
        let _ = done.await;
    }
}

pub struct Supervisor {
    spec: SupervisorSpec,
    /// Where this supervisor says why it gave up, read by its own parent.
    exit: ExitSlot,
    initial: Vec<ChildSpec>,
    /// Boxed: a map that grows by appending leaves its nodes about half full, and empty slots
    /// of a few pointers cost less than empty slots of whole children.
    children: BTreeMap<u64, Box<Child>>,
    by_id: ChildIndex,
    next_seq: u64,
    window: RestartWindow,
    stopping: bool,
    /// Exits still to be reported before a shutting-down supervisor stops, and its final status.
    draining: Option<(usize, SupervisorStatus)>,
    view: Arc<RwLock<SupervisorView>>,
    running: ChildSet,
    /// A supervisor runs until it is stopped, as an OTP process does, not until the last outside
    /// address to it is dropped; this strong address keeps actix from stopping it early.
    keepalive: Option<Addr<Supervisor>>,
    /// What children's start times are counted from.
    epoch: Instant,
}

impl Supervisor {
    /// A supervisor that starts `children` in order when it starts. `exit` is the slot of its own
    /// [`ChildContext`] when it is supervised, or a fresh one for a root.
    pub fn new(spec: SupervisorSpec, children: Vec<ChildSpec>, exit: ExitSlot) -> Self {
        let view = Arc::new(RwLock::new(SupervisorView {
            name: spec.name.to_string(),
            parent: spec.parent.clone(),
            strategy: spec.strategy,
            intensity: spec.intensity,
            status: SupervisorStatus::Running,
            restarts: 0,
            recent_exits: Default::default(),
            child_counts: Default::default(),
        }));
        Self {
            window: RestartWindow::new(spec.intensity),
            spec,
            exit,
            initial: children,
            children: BTreeMap::new(),
            by_id: ChildIndex::default(),
            next_seq: 0,
            stopping: false,
            draining: None,
            view,
            running: ChildSet::default(),
            keepalive: None,
            epoch: Instant::now(),
        }
    }

    /// A supervisor as the child of another: the factory a parent's [`ChildSpec`] calls.
    pub fn child_spec(
        spec: SupervisorSpec,
        children: impl Fn() -> Vec<ChildSpec> + Send + Sync + 'static,
        mailbox: usize,
        on_start: impl Fn(Addr<Supervisor>) + Send + Sync + 'static,
    ) -> ChildSpec {
        let id = spec.name.to_string();
        ChildSpec::new(id, move |ctx: ChildContext| {
            let sup = Supervisor::new(spec.clone(), children(), ctx.exit);
            let (addr, started) = StartedChild::new(sup, mailbox);
            on_start(addr);
            started
        })
        .shutdown(ShutdownPolicy::Timeout(Duration::from_secs(60)))
    }

    fn emit(&self, child: &str, kind: SupervisionEventKind) {
        (self.spec.events)(&SupervisionEvent {
            supervisor: self.spec.name.clone(),
            child: child.to_owned(),
            kind,
            at_ms: epoch_millis(SystemTime::now()),
        });
    }

    fn seq_of(&self, id: &str) -> Option<u64> {
        let children = &self.children;
        self.by_id
            .get(id, |seq| children.get(&seq).map(|c| &*c.spec.id))
    }

    fn add(&mut self, spec: ChildSpec) -> Result<(), SupervisorError> {
        if self.stopping {
            return Err(SupervisorError::ShuttingDown);
        }
        if self.seq_of(&spec.id).is_some() {
            return Err(SupervisorError::DuplicateChild(spec.id.to_string()));
        }
        let seq = self.next_seq;
        if seq > MAX_SEQ {
            return Err(SupervisorError::SequenceExhausted);
        }
        self.next_seq += 1;
        self.by_id.insert(&spec.id, seq);
        self.view.write().child_counts.add(ChildStatus::Stopped);
        self.children.insert(
            seq,
            Box::new(Child {
                spec,
                generation: 0,
                running: None,
                started_us: 0,
                terminating: false,
                group_stop: false,
                started_once: false,
                status: ChildStatus::Stopped,
                incidents: None,
            }),
        );
        self.start(seq);
        Ok(())
    }

    /// Set a child's status and keep the published counts in step.
    fn set_status(&mut self, seq: u64, status: ChildStatus) {
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        if child.status != status {
            let mut view = self.view.write();
            view.child_counts.remove(child.status);
            view.child_counts.add(status);
            child.status = status;
        }
    }

    /// Microseconds since the supervisor's epoch.
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn start(&mut self, seq: u64) {
        let now = self.now_us();
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        if let Some(incidents) = &mut child.incidents {
            incidents.pending_restart = None;
            incidents.next_attempt_ms = None;
        }
        if child.started_once {
            child.generation = child.generation.wrapping_add(1);
        }
        child.started_once = true;
        let exit = ExitSlot::default();
        let started = (child.spec.shared.start)(ChildContext {
            id: child.spec.id.clone(),
            generation: u64::from(child.generation),
            exit: exit.clone(),
        });
        let generation = child.generation;
        self.running
            .add(seq, generation, started.future, exit.clone());
        child.running = Some(Running {
            stop: started.stop,
            exit,
        });
        child.started_us = now;
        let id = child.spec.id.clone();
        self.set_status(seq, ChildStatus::Running);
        self.emit(
            &id,
            SupervisionEventKind::ChildStarted {
                generation: u64::from(generation),
            },
        );
    }

    fn remove(&mut self, seq: u64) -> Option<Box<Child>> {
        let child = self.children.remove(&seq)?;
        self.by_id.remove(&child.spec.id, seq);
        self.view.write().child_counts.remove(child.status);
        Some(child)
    }

    fn on_exit(&mut self, msg: Exited, ctx: &mut Context<Self>) {
        let Exited {
            seq,
            generation,
            reason,
        } = msg;
        let now = self.now_us();
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        if generation_tag(child.generation) != generation {
            return;
        }
        child.running = None;
        let incidents = child.incidents();
        if let Some(ended) = incidents.on_end.take() {
            let _ = ended.send(());
        }
        incidents.last_exit = Some(reason.clone());
        let monitors = std::mem::take(&mut incidents.monitors);
        let id = child.spec.id.clone();
        for watcher in monitors {
            watcher.do_send(Down {
                supervisor: self.spec.name.clone(),
                child: id.to_string(),
                reason: reason.clone(),
            });
        }
        let uptime = Duration::from_micros(now.saturating_sub(child.started_us));
        let policy = child.spec.shared.policy.restart;
        self.emit(
            &id,
            SupervisionEventKind::ChildExited {
                reason: reason.clone(),
            },
        );
        if !reason.is_normal() {
            self.view.write().record_exit(&id, &reason);
        }
        self.set_status(seq, ChildStatus::Stopped);
        if let Some(child) = self.children.get_mut(&seq) {
            if child.group_stop {
                child.group_stop = false;
                return;
            }
        }
        if self.children.get(&seq).is_some_and(|c| c.terminating) {
            self.remove(seq);
            return;
        }
        if self.stopping {
            if let Some((pending, _)) = &mut self.draining {
                *pending = pending.saturating_sub(1);
            }
            self.stop_when_drained(ctx);
            return;
        }
        let restart = match policy {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        };
        if !restart {
            if policy == Restart::Temporary {
                self.remove(seq);
            }
            return;
        }
        if !self.window.admit(Instant::now()) {
            self.give_up(&id, reason, ctx);
            return;
        }
        let Some(child) = self.children.get_mut(&seq) else {
            return;
        };
        let backoff = child.spec.shared.policy.backoff;
        let incidents = child.incidents();
        incidents.consecutive = if uptime >= backoff.reset_after {
            1
        } else {
            incidents.consecutive + 1
        };
        // A restart the child asked for is not a crash: it neither counts towards a crash loop
        // nor waits out a backoff.
        if matches!(reason, ExitReason::Restart(_)) {
            incidents.consecutive = incidents.consecutive.saturating_sub(1);
        }
        let consecutive = incidents.consecutive;
        if !reason.is_normal()
            && !matches!(reason, ExitReason::Restart(_))
            && self
                .spec
                .crash_loop_limit
                .is_some_and(|limit| consecutive > limit)
        {
            let reason = ExitReason::Error(format!(
                "crashed {consecutive} times in a row, each within {:?} of its start; left \
                 stopped. Last exit: {reason}",
                backoff.reset_after
            ));
            tracing::warn!(supervisor = %self.spec.name, child = %id, %reason, "child left stopped");
            self.emit(&id, SupervisionEventKind::ChildStopped { reason });
            return;
        }
        let delay = match reason {
            ExitReason::Restart(_) => Duration::ZERO,
            _ => backoff.delay(consecutive),
        };
        self.restart_group(seq, &reason, delay, ctx);
    }

    /// Restart the child at `seq` and, by the strategy, its group: every child (`one_for_all`) or
    /// every child started after it (`rest_for_one`). Running members are stopped first, in
    /// reverse start order; then, after `delay`, all members start again in start order.
    /// Temporary members other than the crashed child are removed instead.
    fn restart_group(
        &mut self,
        seq: u64,
        reason: &ExitReason,
        delay: Duration,
        ctx: &mut Context<Self>,
    ) {
        let group: Vec<u64> = match self.spec.strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => vec![seq],
            Strategy::OneForAll => self.children.keys().copied().collect(),
            Strategy::RestForOne => self.children.range(seq..).map(|(k, _)| *k).collect(),
        };
        let mut stops = Vec::new();
        for member in group.iter().rev() {
            let Some(child) = self.children.get_mut(member) else {
                continue;
            };
            if let Some(handle) = child.take_pending_restart() {
                ctx.cancel_future(handle);
            }
            if let Some(step) = child.stop_step() {
                child.group_stop = true;
                stops.push(step);
            }
        }
        let mut starts = Vec::with_capacity(group.len());
        let next_attempt = epoch_millis(SystemTime::now() + delay);
        for member in group {
            let Some(child) = self.children.get_mut(&member) else {
                continue;
            };
            if member != seq && child.spec.shared.policy.restart == Restart::Temporary {
                self.remove(member);
                continue;
            }
            let incidents = child.incidents();
            incidents.restarts = incidents.restarts.saturating_add(1);
            incidents.next_attempt_ms = Some(next_attempt);
            let restarts = u64::from(incidents.restarts);
            let id = child.spec.id.clone();
            self.view.write().restarts += 1;
            self.set_status(member, ChildStatus::Restarting);
            let delay_ms = delay.as_millis() as u64;
            self.emit(
                &id,
                SupervisionEventKind::ChildRestarted {
                    restarts,
                    delay_ms,
                    reason: reason.clone(),
                },
            );
            starts.push(member);
        }
        if stops.is_empty() && delay.is_zero() {
            for member in starts {
                self.start(member);
            }
            return;
        }
        let handle = ctx.spawn(
            async move {
                for stop in stops {
                    stop.run().await;
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            .into_actor(self)
            .map(move |(), act, _| {
                for member in starts {
                    act.start(member);
                }
            }),
        );
        if let Some(child) = self.children.get_mut(&seq) {
            child.incidents().pending_restart = Some(handle);
        }
    }

    fn give_up(&mut self, child: &str, last: ExitReason, ctx: &mut Context<Self>) {
        let intensity = self.spec.intensity;
        let reason = ExitReason::Error(format!(
            "{} exceeded {} restarts in {:?}; last exit of {child}: {last}",
            self.spec.name, intensity.max_restarts, intensity.period
        ));
        tracing::error!(supervisor = %self.spec.name, %reason, "supervisor gave up");
        self.emit(
            child,
            SupervisionEventKind::SupervisorGaveUp {
                reason: reason.clone(),
            },
        );
        self.exit.set(reason);
        self.shut_down(SupervisorStatus::GaveUp, ctx);
    }

    /// Stop every child in reverse start order, then stop this supervisor.
    fn shut_down(&mut self, end: SupervisorStatus, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.view.write().status = SupervisorStatus::ShuttingDown;
        let mut steps = Vec::with_capacity(self.children.len());
        for child in self.children.values_mut().rev() {
            if let Some(handle) = child.take_pending_restart() {
                ctx.cancel_future(handle);
            }
            if let Some(step) = child.stop_step() {
                steps.push(step);
            }
        }
        self.draining = Some((steps.len(), end));
        // Spawned, not waited on: the exits of the children must still be handled (and reported)
        // while the sequence runs.
        if self.spec.strategy == Strategy::SimpleOneForOne {
            // A pool's children are alike and independent: stopped all at once, as OTP does, so
            // that a pool of thousands takes one shutdown timeout, not thousands.
            let all = futures::future::join_all(steps.into_iter().map(StopStep::run));
            ctx.spawn(
                async move {
                    all.await;
                }
                .into_actor(self),
            );
        } else {
            ctx.spawn(
                async move {
                    for step in steps {
                        step.run().await;
                    }
                }
                .into_actor(self),
            );
        }
        self.stop_when_drained(ctx);
    }

    fn stop_when_drained(&mut self, ctx: &mut Context<Self>) {
        if let Some((0, end)) = self.draining {
            self.view.write().status = end;
            ctx.stop();
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.spec
            .tree
            .register(self.view.clone(), me.downgrade().recipient());
        self.keepalive = Some(me);
        ctx.add_stream(self.running.clone());
        for spec in std::mem::take(&mut self.initial) {
            if let Err(err) = self.add(spec) {
                tracing::error!(supervisor = %self.spec.name, %err, "child spec rejected");
            }
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.keepalive = None;
        let mut view = self.view.write();
        if view.status != SupervisorStatus::GaveUp {
            view.status = SupervisorStatus::Stopped;
        }
        drop(view);
        // A supervisor that is restarted registers its view again under the same name.
        if self.spec.parent.is_some() && !self.stopping {
            self.spec.tree.remove(&self.spec.name);
        }
    }
}

impl Handler<StartChild> for Supervisor {
    type Result = Result<(), SupervisorError>;

    fn handle(&mut self, msg: StartChild, _: &mut Context<Self>) -> Self::Result {
        self.add(msg.0)
    }
}

impl Handler<TerminateChild> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), SupervisorError>>;

    fn handle(&mut self, msg: TerminateChild, ctx: &mut Context<Self>) -> Self::Result {
        let Some(seq) = self.seq_of(&msg.0) else {
            return Box::pin(fut::ready(Err(SupervisorError::NoSuchChild(msg.0))));
        };
        let Some(child) = self.children.get_mut(&seq) else {
            return Box::pin(fut::ready(Err(SupervisorError::NoSuchChild(msg.0))));
        };
        if let Some(handle) = child.take_pending_restart() {
            ctx.cancel_future(handle);
        }
        let step = match child.stop_step() {
            Some(step) => {
                // Forgotten once its exit arrives, so that the exit is still reported.
                child.terminating = true;
                self.by_id.remove(&msg.0, seq);
                Some(step)
            }
            None => {
                self.remove(seq);
                None
            }
        };
        Box::pin(
            async move {
                if let Some(step) = step {
                    step.run().await;
                }
                Ok(())
            }
            .into_actor(self),
        )
    }
}

impl Handler<MonitorChild> for Supervisor {
    type Result = ();

    fn handle(&mut self, MonitorChild { id, watcher }: MonitorChild, _: &mut Context<Self>) {
        let child = self.seq_of(&id).and_then(|seq| self.children.get_mut(&seq));
        match child {
            Some(child) if child.running.is_some() => child.incidents().monitors.push(watcher),
            _ => watcher.do_send(Down {
                supervisor: self.spec.name.clone(),
                child: id,
                reason: ExitReason::NoProc,
            }),
        }
    }
}

impl StreamHandler<Exited> for Supervisor {
    fn handle(&mut self, msg: Exited, ctx: &mut Context<Self>) {
        self.on_exit(msg, ctx);
    }

    /// The set of children never ends; without this, actix would stop the supervisor.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<ListChildren> for Supervisor {
    type Result = MessageResult<ListChildren>;

    fn handle(&mut self, msg: ListChildren, _: &mut Context<Self>) -> Self::Result {
        MessageResult(match msg.only {
            Some(id) => self
                .seq_of(&id)
                .and_then(|seq| self.children.get(&seq))
                .map(|c| c.view())
                .into_iter()
                .collect(),
            None => self
                .children
                .values()
                .take(msg.limit)
                .map(|c| c.view())
                .collect(),
        })
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.shut_down(SupervisorStatus::Stopped, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child's record stays in jemalloc's 64-byte class: a pool keeps one per agent.
    #[test]
    fn a_child_record_fits_64_bytes() {
        let size = std::mem::size_of::<Child>();
        assert!(size <= 64, "{size} bytes");
    }

    fn spec(id: &str) -> ChildSpec {
        ChildSpec::new(id, |ctx: ChildContext| {
            StartedChild::failed(ctx.exit, "unused")
        })
    }

    #[test]
    fn named_children_share_their_spec_until_one_changes_it() {
        let pool = spec("pool");
        let (a, b) = (pool.named("a"), pool.named("b").restart(Restart::Permanent));
        assert_eq!((&*a.id, &*b.id), ("a", "b"));
        assert!(Arc::ptr_eq(&a.shared, &b.shared));
        let c = pool.named("c").restart(Restart::Transient);
        assert!(!Arc::ptr_eq(&a.shared, &c.shared));
        assert_eq!(c.child_policy().restart, Restart::Transient);
        assert_eq!(a.child_policy().restart, Restart::Permanent);
        assert!(Arc::ptr_eq(&a.shared.start, &c.shared.start));
    }
}
