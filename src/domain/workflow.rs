//! Tasks that wait for others: a task's dependencies, a graph of tasks submitted at once, and the
//! tasks a process agent's answer hands over to other agents.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agent::Capabilities;
use super::names::Role;
use super::task::{
    valid_ref, AgentRef, DependsOn, MaxRetries, NewTask, Priority, TaskInput, TaskRecord,
    TimeoutMs, MAX_REF_LEN,
};

/// Most tasks one `POST /api/v1/tasks/batch` submits.
pub const MAX_BATCH_TASKS: usize = 1000;
/// Most tasks one answer of a process agent hands over.
pub const MAX_SENDS: usize = 100;

/// A name for one task of a batch, which the batch's other tasks depend on by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BatchRef(pub String);

impl TryFrom<String> for BatchRef {
    type Error = String;

    fn try_from(v: String) -> Result<Self, String> {
        if valid_ref(&v) {
            Ok(Self(v))
        } else {
            Err(format!(
                "ref must be 1 to {MAX_REF_LEN} letters, digits, '-' or '_'"
            ))
        }
    }
}

/// One task of `POST /api/v1/tasks/batch`: a task as `POST /api/v1/tasks` takes it (without an
/// idempotency key), with its `ref` in the batch; `depends_on` names other tasks of the batch by
/// ref, or tasks submitted before by id.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchTask {
    #[serde(rename = "ref")]
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub reference: BatchRef,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    pub agent: Option<AgentRef>,
    #[schema(value_type = Object)]
    pub input: TaskInput,
    #[serde(default)]
    #[schema(value_type = Vec<super::names::Capability>, max_items = 32)]
    pub required_capabilities: Capabilities,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 1, maximum = 3_600_000, default = 30_000)]
    pub timeout_ms: TimeoutMs,
    #[serde(default)]
    #[schema(value_type = u32, minimum = 0, maximum = 100, default = 3)]
    pub max_retries: MaxRetries,
    #[serde(default)]
    pub truncate_result: bool,
    /// Refs of this batch's tasks, or ids of tasks submitted before.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 1000)]
    pub depends_on: DependsOn,
}

fn normal() -> Priority {
    Priority::Normal
}

/// The body of `POST /api/v1/tasks/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    #[schema(min_items = 1, max_items = 1000)]
    pub tasks: Vec<BatchTask>,
}

/// Why a batch's graph cannot be taken: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub field: String,
    pub detail: String,
}

/// What one task of a batch waits for: tasks of the batch (by index) and tasks submitted before
/// (by id).
pub type Edges = (Vec<usize>, Vec<String>);

/// A batch's tasks checked as a graph: refs unique, and no cycle among them. Answers, for each
/// task in the batch's order, which of its `depends_on` are refs of the batch (by index) and
/// which are ids of tasks submitted before.
pub fn check_graph(tasks: &[BatchTask]) -> Result<Vec<Edges>, GraphError> {
    if tasks.is_empty() || tasks.len() > MAX_BATCH_TASKS {
        return Err(GraphError {
            field: "tasks".into(),
            detail: format!("a batch holds 1 to {MAX_BATCH_TASKS} tasks"),
        });
    }
    let mut index = HashMap::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        if index.insert(task.reference.0.as_str(), i).is_some() {
            return Err(GraphError {
                field: format!("tasks[{i}].ref"),
                detail: format!("ref {:?} is used twice in the batch", task.reference.0),
            });
        }
    }
    let edges: Vec<Edges> = tasks
        .iter()
        .map(|task| {
            let (mut inside, mut outside) = (Vec::new(), Vec::new());
            for dep in &task.depends_on.0 {
                match index.get(dep.as_str()) {
                    Some(&j) => inside.push(j),
                    None => outside.push(dep.clone()),
                }
            }
            (inside, outside)
        })
        .collect();
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| tasks[i].reference.0.as_str())
            .collect();
        return Err(GraphError {
            field: format!("tasks[{}].depends_on", cycle[0]),
            detail: format!(
                "the batch's dependencies form a cycle: {}",
                names.join(" → ")
            ),
        });
    }
    Ok(edges)
}

/// A cycle among the batch's tasks, as the indices along it (the first repeated at the end), if
/// there is one. Iterative depth-first search: a batch of a thousand tasks in a chain is fine.
fn find_cycle(edges: &[Edges]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // The path from `start`: each node with the next of its edges to follow.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            match edges[node].0.get(*next) {
                Some(&dep) => {
                    *next += 1;
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::Open;
                            path.push((dep, 0));
                        }
                        Mark::Open => {
                            let from = path.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                path[from..].iter().map(|&(n, _)| n).collect();
                            cycle.push(dep);
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[node] = Mark::Done;
                    path.pop();
                }
            }
        }
    }
    None
}

/// Whom a handed-over task goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Role(Role),
    Agent(String),
}

/// One entry of `"send"` in a process agent's answer: a new task for a role or one agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub role: Option<Role>,
    pub agent: Option<AgentRef>,
    pub input: TaskInput,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    pub timeout_ms: TimeoutMs,
    #[serde(default)]
    pub max_retries: MaxRetries,
    #[serde(default)]
    pub depends_on: DependsOn,
}

impl Handoff {
    /// The `"send"` of an answer read as hand-offs, or the first thing wrong with it, by path.
    pub fn parse_all(send: &Value) -> Result<Vec<(Target, Handoff)>, String> {
        let Value::Array(items) = send else {
            return Err("send must be an array of tasks".into());
        };
        if items.len() > MAX_SENDS {
            return Err(format!(
                "send holds {} tasks, over the limit of {MAX_SENDS} per answer",
                items.len()
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let handoff: Handoff = serde_path_to_error::deserialize(item).map_err(|e| {
                    let path = e.path().to_string();
                    let at = if path == "." {
                        format!("send[{i}]")
                    } else {
                        format!("send[{i}].{path}")
                    };
                    format!("{at}: {}", e.inner())
                })?;
                let target = match (&handoff.role, &handoff.agent) {
                    (_, Some(agent)) => Target::Agent(agent.0.clone()),
                    (Some(role), None) => Target::Role(role.clone()),
                    (None, None) => {
                        return Err(format!("send[{i}]: give \"role\" or \"agent\""));
                    }
                };
                Ok((target, handoff))
            })
            .collect()
    }
}

impl Handoff {
    /// The task it creates, handed over by task `parent` (of role `parent_role`) at `now`. One
    /// for an agent carries its sender's role until the store gives it its agent's.
    pub fn into_task(
        self,
        target: Target,
        parent: &str,
        parent_role: &Role,
        now: i64,
    ) -> TaskRecord {
        let (role, agent) = match target {
            Target::Role(role) => (role, None),
            Target::Agent(id) => (parent_role.clone(), Some(AgentRef(id))),
        };
        let new = NewTask {
            role: None,
            agent,
            input: self.input,
            required_capabilities: Capabilities::default(),
            priority: self.priority,
            timeout_ms: self.timeout_ms,
            max_retries: self.max_retries,
            idempotency_key: None,
            truncate_result: false,
            depends_on: self.depends_on,
        };
        let mut task = TaskRecord::accepted(new, role, now);
        task.parent_id = Some(parent.to_owned());
        task
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(value: Value) -> Vec<BatchTask> {
        serde_json::from_value::<NewBatch>(value).unwrap().tasks
    }

    #[test]
    fn a_diamond_is_a_graph_and_a_cycle_is_named_along_its_refs() {
        let diamond = batch(json!({"tasks": [
            {"ref": "a", "role": "w", "input": {}},
            {"ref": "b", "role": "w", "input": {}, "depends_on": ["a"]},
            {"ref": "c", "role": "w", "input": {}, "depends_on": ["a", "0190-old"]},
            {"ref": "d", "role": "w", "input": {}, "depends_on": ["b", "c"]},
        ]}));
        let edges = check_graph(&diamond).unwrap();
        assert_eq!(edges[3].0, vec![1, 2]);
        assert_eq!(edges[2], (vec![0], vec!["0190-old".to_owned()]));

        let cycle = batch(json!({"tasks": [
            {"ref": "a", "role": "w", "input": {}, "depends_on": ["c"]},
            {"ref": "b", "role": "w", "input": {}, "depends_on": ["a"]},
            {"ref": "c", "role": "w", "input": {}, "depends_on": ["b"]},
        ]}));
        let e = check_graph(&cycle).unwrap_err();
        assert_eq!(e.field, "tasks[0].depends_on");
        assert!(e.detail.contains("a → c → b → a"), "{}", e.detail);

        let itself =
            batch(json!({"tasks": [{"ref": "a", "role": "w", "input": {}, "depends_on": ["a"]}]}));
        assert!(check_graph(&itself).unwrap_err().detail.contains("a → a"));

        let twice = batch(json!({"tasks": [
            {"ref": "a", "role": "w", "input": {}},
            {"ref": "a", "role": "w", "input": {}},
        ]}));
        assert_eq!(check_graph(&twice).unwrap_err().field, "tasks[1].ref");
    }

    #[test]
    fn a_long_chain_is_checked_without_recursion() {
        let tasks: Vec<Value> = (0..MAX_BATCH_TASKS)
            .map(|i| {
                let deps: Vec<String> = if i == 0 {
                    vec![]
                } else {
                    vec![format!("t{}", i - 1)]
                };
                json!({"ref": format!("t{i}"), "role": "w", "input": {}, "depends_on": deps})
            })
            .collect();
        assert!(check_graph(&batch(json!({ "tasks": tasks }))).is_ok());
    }

    #[test]
    fn depends_on_is_bounded_and_keeps_each_id_once() {
        let ids: DependsOn = serde_json::from_value(json!(["a", "b", "a"])).unwrap();
        assert_eq!(ids.0, vec!["a", "b"]);
        let many: Vec<String> = (0..=super::super::task::MAX_DEPENDENCIES)
            .map(|i| format!("t{i}"))
            .collect();
        let e = serde_json::from_value::<DependsOn>(json!(many)).unwrap_err();
        assert!(e.to_string().contains("over the limit of 1000"), "{e}");
        assert!(serde_json::from_value::<DependsOn>(json!(["a b"])).is_err());
    }

    #[test]
    fn a_handoff_names_the_path_of_what_is_wrong() {
        let ok = Handoff::parse_all(&json!([{"agent": "a-1", "input": {"x": 1}}])).unwrap();
        assert_eq!(ok[0].0, Target::Agent("a-1".into()));
        let e = Handoff::parse_all(&json!([{"role": "w", "input": {}}, {"role": "w", "input": 3}]))
            .unwrap_err();
        assert!(e.starts_with("send[1].input"), "{e}");
        let e = Handoff::parse_all(&json!([{"input": {}}])).unwrap_err();
        assert!(e.contains("give \"role\" or \"agent\""), "{e}");
        let many: Vec<Value> = (0..=MAX_SENDS)
            .map(|_| json!({"role": "w", "input": {}}))
            .collect();
        assert!(Handoff::parse_all(&json!(many))
            .unwrap_err()
            .contains("limit of 100"));
    }
}
