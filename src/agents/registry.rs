//! Every agent Hive knows, readable without a message to any actor. Each agent writes its own
//! runtime state (busy, idle, current task); its supervisor's events write restarts.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::domain::agent::{AgentId, AgentInfo, AgentStatus, ExecutorSpec};
use crate::domain::names::Role;
use crate::domain::task::TaskId;

#[derive(Debug, Clone)]
pub struct AgentState {
    pub status: AgentStatus,
    pub current_task: Option<TaskId>,
    /// 32 bits keep the entry in a smaller allocation class; a restart loop four billion deep
    /// saturates instead of wrapping.
    pub restarts: u32,
    /// An operator's restart was sent to the running incarnation and it has not ended yet.
    pub restart_requested: bool,
    /// Ticked by the agent's first start, so that creation can answer once agents are up. Here
    /// under the state's lock rather than behind a lock of its own: 8 bytes, not 16.
    first_start: Option<Arc<Countdown>>,
    /// The agent's own state as last committed (`None` is null): what its next task sees.
    /// Written by the orchestrator when a successful attempt's new state goes to the store.
    pub agent_state: Option<Arc<serde_json::Value>>,
}

impl AgentState {
    fn set(&mut self, status: AgentStatus, current_task: Option<TaskId>) {
        // A stopped agent stays stopped, whatever a late message of its last life says.
        if self.status != AgentStatus::Stopped {
            self.status = status;
            self.current_task = current_task;
        }
    }
}

#[derive(Debug)]
pub struct AgentEntry {
    pub info: AgentInfo,
    state: Mutex<AgentState>,
}

/// Counts agents that have not started yet; `wait` returns when all have. A `watch` channel of
/// the remaining count, rather than an atomic and a notifier of our own.
#[derive(Debug)]
pub struct Countdown(tokio::sync::watch::Sender<usize>);

impl Countdown {
    pub fn new(count: usize) -> Arc<Self> {
        Arc::new(Self(tokio::sync::watch::Sender::new(count)))
    }

    fn tick(&self) {
        self.0
            .send_modify(|remaining| *remaining = remaining.saturating_sub(1));
    }

    pub async fn wait(&self) {
        let mut remaining = self.0.subscribe();
        let _ = remaining.wait_for(|r| *r == 0).await;
    }
}

impl AgentEntry {
    /// Called by the agent when it starts; the first call ticks its creation's countdown.
    pub fn started(&self) {
        let first_start = {
            let mut state = self.state.lock();
            // A new incarnation: any restart asked of the last one has happened.
            state.restart_requested = false;
            state.set(AgentStatus::Idle, None);
            state.first_start.take()
        };
        if let Some(countdown) = first_start {
            countdown.tick();
        }
    }

    /// Claim the one restart request the running incarnation may have in its mailbox; `false`
    /// if it has one already. Keeps the agent's mailbox bounded by the protocol: one task, a
    /// cancel per task, one restart.
    pub fn request_restart(&self) -> bool {
        !std::mem::replace(&mut self.state.lock().restart_requested, true)
    }

    /// The restart request could not be sent: a later one may try again.
    pub fn restart_not_sent(&self) {
        self.state.lock().restart_requested = false;
    }

    pub fn state(&self) -> AgentState {
        self.state.lock().clone()
    }

    pub fn set_status(&self, status: AgentStatus, current_task: Option<TaskId>) {
        self.state.lock().set(status, current_task);
    }

    /// The agent's own state (see [`AgentState::agent_state`]).
    pub fn agent_state(&self) -> Option<Arc<serde_json::Value>> {
        self.state.lock().agent_state.clone()
    }

    pub fn set_agent_state(&self, state: Option<Arc<serde_json::Value>>) {
        self.state.lock().agent_state = state;
    }

    /// Count one restart; answers the new total.
    pub fn restarting(&self) -> u64 {
        let mut state = self.state.lock();
        state.restarts = state.restarts.saturating_add(1);
        state.set(AgentStatus::Restarting, None);
        u64::from(state.restarts)
    }
}

/// An entry ordered and looked up by its id, so that the set needs no copy of the id as a key:
/// with 100,000 agents that copy was 7 MB.
#[derive(Debug, Clone)]
struct ById(Arc<AgentEntry>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.info.id
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.info.id == other.0.info.id
    }
}

impl Eq for ById {}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.info.id.cmp(&other.0.info.id)
    }
}

#[derive(Debug, Default, Clone)]
pub struct AgentRegistry {
    inner: Arc<RwLock<BTreeSet<ById>>>,
    /// How many agents of each role run each kind of executor: what a submission's input is
    /// checked against, without a walk over every agent.
    executors: Arc<Mutex<HashMap<Role, ExecutorMix>>>,
    /// What only some agents have: a process agent's program, why a stopped agent stopped.
    /// Beside the entries rather than in them, so that an agent without either carries nothing.
    extras: Arc<Mutex<HashMap<AgentId, Extras>>>,
}

/// What the registry holds of an agent beside its entry.
#[derive(Debug, Default, Clone)]
pub struct Extras {
    /// A process agent's program as it runs now.
    pub process: Option<Arc<ProcessWatch>>,
    /// Why the agent was left stopped (a crash loop), as its supervisor said.
    pub stopped_reason: Option<String>,
    /// What a process agent's programs wrote on stderr, kept across its restarts so that the
    /// reason of a crash is still there to read.
    pub stderr: Option<Arc<Mutex<StderrRing>>>,
}

/// A process agent's running program, as operators see it.
#[derive(Debug)]
pub struct ProcessWatch {
    pub pid: u32,
    /// Epoch milliseconds.
    pub started_at: i64,
    /// The last bytes its agent's programs wrote on stderr.
    pub stderr: Arc<Mutex<StderrRing>>,
}

/// The last `STDERR_KEPT` bytes written on a stream.
#[derive(Debug, Default)]
pub struct StderrRing(std::collections::VecDeque<u8>);

/// Bytes of a program's stderr kept for the agent's view.
pub const STDERR_KEPT: usize = 8 * 1024;

impl StderrRing {
    pub fn push(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(STDERR_KEPT)..];
        let over = (self.0.len() + bytes.len()).saturating_sub(STDERR_KEPT);
        self.0.drain(..over);
        self.0.extend(bytes);
    }

    pub fn text(&self) -> String {
        let (a, b) = self.0.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }
}

/// The executors the agents of one role run, counted by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorMix {
    pub builtin: usize,
    pub command: usize,
    pub http: usize,
    pub process: usize,
}

impl ExecutorMix {
    fn count(&mut self, executor: &ExecutorSpec) -> &mut usize {
        match executor {
            ExecutorSpec::Builtin {} => &mut self.builtin,
            ExecutorSpec::Command { .. } => &mut self.command,
            ExecutorSpec::Http { .. } => &mut self.http,
            ExecutorSpec::Process { .. } => &mut self.process,
        }
    }

    fn is_empty(&self) -> bool {
        self.builtin + self.command + self.http + self.process == 0
    }
}

/// One page of agents.
pub struct AgentQuery<'a> {
    pub role: Option<&'a Role>,
    pub status: Option<AgentStatus>,
    pub after: Option<&'a str>,
    pub limit: usize,
}

impl AgentRegistry {
    /// Register an agent that has not started yet; `countdown`, if given, is ticked when it does.
    pub fn insert(
        &self,
        info: AgentInfo,
        restarts: u64,
        state: Option<Arc<serde_json::Value>>,
        countdown: Option<Arc<Countdown>>,
    ) -> Arc<AgentEntry> {
        let entry = Arc::new(AgentEntry {
            state: Mutex::new(AgentState {
                status: AgentStatus::Restarting,
                current_task: None,
                restarts: u32::try_from(restarts).unwrap_or(u32::MAX),
                restart_requested: false,
                first_start: countdown,
                agent_state: state,
            }),
            info,
        });
        let kind = entry.info.kind.clone();
        // Replaces an entry of the same id, as a map's insert would.
        let replaced = self.inner.write().replace(ById(entry.clone()));
        if let Some(ById(old)) = replaced {
            self.uncount(&old);
        }
        *self
            .executors
            .lock()
            .entry(kind.role.clone())
            .or_default()
            .count(&kind.executor) += 1;
        entry
    }

    fn uncount(&self, entry: &AgentEntry) {
        let mut executors = self.executors.lock();
        let role = entry.info.role();
        if let Some(mix) = executors.get_mut(role) {
            let count = mix.count(&entry.info.kind.executor);
            *count = count.saturating_sub(1);
            if mix.is_empty() {
                executors.remove(role);
            }
        }
    }

    /// The executors this node's agents of `role` run.
    pub fn executors_of(&self, role: &Role) -> ExecutorMix {
        self.executors.lock().get(role).copied().unwrap_or_default()
    }

    pub fn get(&self, id: &str) -> Option<Arc<AgentEntry>> {
        self.inner.read().get(id).map(|e| e.0.clone())
    }

    /// How many agents this node hosts.
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// What the registry holds of `id` beside its entry.
    pub fn extras(&self, id: &str) -> Extras {
        self.extras.lock().get(id).cloned().unwrap_or_default()
    }

    /// A process agent's program started (`Some`) or ended (`None`).
    pub fn set_process(&self, id: &AgentId, process: Option<Arc<ProcessWatch>>) {
        self.edit_extras(id, |e| {
            if let Some(p) = &process {
                e.stderr = Some(p.stderr.clone());
            }
            e.process = process;
        });
    }

    /// The ring a process agent's programs write their stderr to: the one its earlier
    /// programs wrote to, or a new one.
    pub fn stderr_ring(&self, id: &str) -> Arc<Mutex<StderrRing>> {
        self.extras
            .lock()
            .get(id)
            .and_then(|e| e.stderr.clone())
            .unwrap_or_default()
    }

    /// The agent was left stopped for `reason`, or (`None`) runs again.
    pub fn set_stopped_reason(&self, id: &AgentId, reason: Option<String>) {
        self.edit_extras(id, |e| e.stopped_reason = reason);
    }

    fn edit_extras(&self, id: &AgentId, edit: impl FnOnce(&mut Extras)) {
        let mut extras = self.extras.lock();
        let entry = extras.entry(id.clone()).or_default();
        edit(entry);
        if entry.process.is_none() && entry.stopped_reason.is_none() && entry.stderr.is_none() {
            extras.remove(id);
        }
    }

    pub fn remove(&self, id: &str) -> Option<Arc<AgentEntry>> {
        self.extras.lock().remove(id);
        let removed = self.inner.write().take(id).map(|e| e.0);
        if let Some(entry) = &removed {
            self.uncount(entry);
        }
        removed
    }

    /// Agents of one role, in id order: what a pool supervisor starts.
    pub fn of_role(&self, role: &Role) -> Vec<Arc<AgentEntry>> {
        self.inner
            .read()
            .iter()
            .map(|e| &e.0)
            .filter(|e| e.info.role() == role)
            .cloned()
            .collect()
    }

    pub fn page(&self, q: &AgentQuery<'_>) -> Vec<Arc<AgentEntry>> {
        let set = self.inner.read();
        let range = match q.after {
            Some(after) => {
                set.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => set.range::<str, _>(..),
        };
        range
            .map(|e| &e.0)
            .filter(|e| q.role.is_none_or(|r| e.info.role() == r))
            .filter(|e| q.status.is_none_or(|s| e.state.lock().status == s))
            .take(q.limit)
            .cloned()
            .collect()
    }

    pub fn counts(&self) -> [(AgentStatus, usize); 4] {
        let mut counts = AgentStatus::ALL.map(|s| (s, 0));
        for ById(entry) in self.inner.read().iter() {
            let status = entry.state.lock().status;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                slot.1 += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry with its `Arc`'s two counts stays in jemalloc's 96-byte class (the next is
    /// 112): a node keeps one per agent.
    #[test]
    fn an_entry_with_its_counts_fits_96_bytes() {
        let size = std::mem::size_of::<AgentEntry>() + 2 * std::mem::size_of::<usize>();
        assert!(size <= 96, "{size} bytes");
    }
}
