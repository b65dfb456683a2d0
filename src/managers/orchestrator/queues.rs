//! The queues of one role, and which task an idle agent takes next: of each class, the first task
//! an idle agent can serve; of those, the most urgent by [`SloTargets::urgency`] (a class whose
//! task has used half its queue-wait target before every less urgent class, otherwise the
//! largest share of its target waited; ties to the more urgent class). A waiting `low` task's
//! share grows until it wins, so no class starves while more urgent work leaves room. Beside
//! them, each agent's own queue of the tasks addressed to it, served first and strictly in order
//! (see `addressed`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use super::attempt::Active;
use crate::config::{SloTargets, Urgency};
use crate::domain::agent::AgentId;
use crate::domain::task::{Priority, TaskId};
use crate::managers::agent_slots::AgentSlots;

/// How far into each priority queue the dispatcher looks for a task that an idle agent's
/// capabilities cover; bounds the cost of one dispatch when the head of a queue is unservable.
const DISPATCH_SCAN: usize = 256;

/// One role's queued tasks by priority (`Priority::index`), first in first out, and its idle
/// agents.
#[derive(Default)]
pub(super) struct RoleQueues {
    pub(super) by_priority: [VecDeque<TaskId>; 4],
    pub(super) idle: BTreeSet<AgentId>,
}

/// One agent's addressed tasks.
#[derive(Default)]
pub(super) struct AgentQueue {
    /// Queued tasks by priority (`Priority::index`), in submission order.
    pub(super) by_priority: [VecDeque<TaskId>; 4],
    /// Unfinished tasks addressed to the agent, queued or not, and submissions on their way:
    /// what `max_agent_queue` bounds.
    pub(super) unfinished: usize,
    /// Of those, how many wait out a retry's backoff: none of the others starts meanwhile.
    pub(super) backing_off: usize,
}

impl AgentQueue {
    pub(super) fn next(&self) -> Option<(Priority, &TaskId)> {
        if self.backing_off > 0 {
            return None;
        }
        Priority::BY_URGENCY
            .into_iter()
            .find_map(|p| self.by_priority[p.index()].front().map(|id| (p, id)))
    }

    pub(super) fn queued(&self) -> usize {
        self.by_priority.iter().map(VecDeque::len).sum()
    }
}

/// The next task to start and the agent to start it on: its class, its place in the class's
/// queue, the agent. `None` when no idle agent can serve any queued task.
pub(super) fn choose(
    queues: &RoleQueues,
    tasks: &HashMap<TaskId, Active>,
    agents: &AgentSlots,
    slo: &SloTargets,
    now: Instant,
) -> Option<(Priority, usize, AgentId)> {
    if queues.idle.is_empty() {
        return None;
    }
    let mut chosen: Option<(Urgency, Priority, usize, &AgentId)> = None;
    for priority in Priority::BY_URGENCY {
        for (pos, id) in queues.by_priority[priority.index()]
            .iter()
            .enumerate()
            .take(DISPATCH_SCAN)
        {
            let Some(task) = tasks.get(id) else {
                continue;
            };
            let required = &task.spec.required_capabilities;
            let agent = if required.is_empty() {
                queues.idle.first()
            } else {
                queues.idle.iter().find(|a| {
                    agents
                        .get(a)
                        .is_some_and(|s| s.entry.info.kind.capabilities.cover(required))
                })
            };
            if let Some(agent) = agent {
                let waited_ms =
                    now.saturating_duration_since(task.queued_at).as_secs_f64() * 1000.0;
                let urgency = slo.urgency(priority, waited_ms);
                if chosen.is_none_or(|(best, ..)| urgency > best) {
                    chosen = Some((urgency, priority, pos, agent));
                }
                break;
            }
        }
    }
    chosen.map(|(_, priority, pos, agent)| (priority, pos, agent.clone()))
}

/// Per role, how many more tasks its idle agents could take than it has queued.
pub(super) fn room(
    roles: &HashMap<crate::domain::names::Role, RoleQueues>,
) -> Vec<(crate::domain::names::Role, usize)> {
    roles
        .iter()
        .filter_map(|(role, q)| {
            let queued: usize = q.by_priority.iter().map(VecDeque::len).sum();
            let room = q.idle.len().saturating_sub(queued);
            (room > 0).then(|| (role.clone(), room))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::{NewTask, TaskRecord};
    use crate::domain::time::now_ms;
    use std::time::Duration;

    fn queued(priority: &str, waited: Duration, now: Instant) -> Active {
        let new: NewTask = serde_json::from_value(
            serde_json::json!({"role": "worker", "input": {}, "priority": priority}),
        )
        .unwrap();
        let (spec, task) =
            TaskRecord::accepted(new, "worker".to_owned().try_into().unwrap(), now_ms()).split();
        let mut active = Active::queued(spec, task);
        active.queued_at = now - waited;
        active
    }

    /// With the default targets (critical 100 ms, normal 2 s, low 10 s): a fresh critical task
    /// goes first; a low one past its target before a critical one with time to spare; once
    /// classes have used half their targets, the more urgent first.
    #[test]
    fn a_class_at_risk_goes_before_less_urgent_ones_then_the_largest_share_of_its_target() {
        let now = Instant::now();
        let slo = SloTargets::default();
        let agents = AgentSlots::default();
        let mut queues = RoleQueues::default();
        queues.idle.insert("a".into());
        let mut tasks = HashMap::new();
        let (c, l): (TaskId, TaskId) = ("c".into(), "l".into());
        tasks.insert(
            c.clone(),
            queued("critical", Duration::from_millis(10), now),
        );
        tasks.insert(l.clone(), queued("low", Duration::from_millis(500), now));
        queues.by_priority[Priority::Critical.index()].push_back(c.clone());
        queues.by_priority[Priority::Low.index()].push_back(l.clone());
        let (priority, pos, agent) = choose(&queues, &tasks, &agents, &slo, now).unwrap();
        assert_eq!(
            (priority, pos, agent.as_str()),
            (Priority::Critical, 0, "a")
        );

        let first = |queues: &RoleQueues, tasks: &HashMap<TaskId, Active>| {
            choose(queues, tasks, &agents, &slo, now).unwrap().0
        };
        tasks.insert(l.clone(), queued("low", Duration::from_secs(11), now));
        assert_eq!(first(&queues, &tasks), Priority::Low);

        // Critical has used more than half its target: it goes before the late low task, and
        // before a normal one nearer its own target; that one goes before the low one.
        let critical = |waited_ms| queued("critical", Duration::from_millis(waited_ms), now);
        tasks.insert(c.clone(), critical(60));
        assert_eq!(first(&queues, &tasks), Priority::Critical);
        let n: TaskId = "n".into();
        tasks.insert(
            n.clone(),
            queued("normal", Duration::from_millis(1_900), now),
        );
        queues.by_priority[Priority::Normal.index()].push_back(n);
        assert_eq!(first(&queues, &tasks), Priority::Critical);
        queues.by_priority[Priority::Critical.index()].clear();
        assert_eq!(first(&queues, &tasks), Priority::Normal);
        // A critical task past its target still goes before normal work at risk.
        tasks.insert(c.clone(), critical(2_000));
        queues.by_priority[Priority::Critical.index()].push_back(c);
        assert_eq!(first(&queues, &tasks), Priority::Critical);

        queues.idle.clear();
        assert!(choose(&queues, &tasks, &agents, &slo, now).is_none());
    }
}
