//! Tasks that wait for others, resolved inside the transaction that stores a task's end: the
//! writer finds the waiting tasks that depended on it and queues those whose dependencies all
//! succeeded (with their results) or cancels those one of whose dependencies did not, and so on
//! down the graph. On PostgreSQL the writers of every node take turns (an advisory lock), so two
//! dependencies that end on two nodes at once cannot both miss that the other ended.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::domain::names::Role;
use crate::domain::task::{TaskRecord, TaskStatus};

/// Whoever runs tasks, as the store reaches it: the tasks a commit queued that no write waited
/// for, to be run.
pub trait Releases: Send + Sync {
    fn released(&self, tasks: Vec<TaskRecord>);
}

/// What becomes of a waiting task, given its dependencies' statuses.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Wait,
    Release,
    Cancel(String),
}

/// `statuses` holds the status of each dependency that exists. One that ended without success
/// (or no longer exists) cancels the task at once, whatever the others do.
pub fn decide(depends_on: &[String], statuses: &HashMap<String, String>) -> Decision {
    let mut pending = false;
    for id in depends_on {
        match statuses.get(id).map(String::as_str) {
            Some("succeeded") => {}
            Some(status @ ("failed" | "dead" | "cancelled")) => {
                return Decision::Cancel(format!("dependency {id} ended {status}"));
            }
            Some(_) => pending = true,
            None => return Decision::Cancel(format!("dependency {id} does not exist")),
        }
    }
    if pending {
        Decision::Wait
    } else {
        Decision::Release
    }
}

/// The ids a stored `depends_on` names (a JSON array; none for NULL).
pub fn depends_on(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// The map a released task's executor receives: each dependency's result by id (null for one
/// whose result cannot be read).
pub fn results_map(depends_on: &[String], results: &HashMap<String, Option<String>>) -> Value {
    let mut map = Map::with_capacity(depends_on.len());
    for id in depends_on {
        let result = results
            .get(id)
            .and_then(|r| r.as_deref())
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        map.insert(id.clone(), result);
    }
    Value::Object(map)
}

/// A waiting task released at `now`: queued, with its dependencies' results, and held by no
/// node. In a cluster the node that committed the release may not be the one that runs it (its
/// agent's node, or whichever reads it from its role's stream): that node claims it, once.
pub fn released(mut task: TaskRecord, dependencies: Value, now: i64) -> TaskRecord {
    task.status = TaskStatus::Queued;
    task.queued_at = now;
    task.dependencies = Some(std::sync::Arc::new(dependencies));
    task.node = None;
    task
}

/// A waiting task cancelled at `now` because of `why`.
pub fn cancelled(mut task: TaskRecord, why: String, now: i64) -> TaskRecord {
    task.status = TaskStatus::Cancelled;
    task.finished_at = Some(now);
    task.error = Some(why);
    task
}

/// A task handed over to one agent, given the agents that exist (id → role): it takes its
/// agent's role, or fails at once, naming the agent, if there is no such agent. No node holds it
/// yet: in a cluster, the agent's node claims it.
pub fn addressed(mut task: TaskRecord, agents: &HashMap<String, String>, now: i64) -> TaskRecord {
    let Some(agent) = task.agent.clone() else {
        return task;
    };
    match agents
        .get(&agent)
        .and_then(|role| Role::try_from(role.clone()).ok())
    {
        Some(role) => task.role = role,
        None => {
            task.status = TaskStatus::Failed;
            task.finished_at = Some(now);
            task.error = Some(format!(
                "it was sent to agent {agent}, which does not exist"
            ));
        }
    }
    task
}

/// Resolve the waiting tasks that may be ready, inside the batch's transaction: those created
/// waiting in it (`$waiting`, ids) and the dependants of the tasks that ended in it (`$finals`,
/// ids). Evaluates to the tasks it released or cancelled, in their new state. Written once for
/// both databases like the batch itself (see `write_batch`).
macro_rules! resolve_waiting {
    ($c:ident, $Run:ident, $now:expr, $finals:expr, $waiting:expr, $($wait:tt)*) => {{
        use $crate::store::schema::task_dependencies;
        use $crate::store::workflow::{cancelled, decide, depends_on, released, results_map, Decision};
        let mut changed: Vec<TaskRecord> = Vec::new();
        let mut finals: Vec<String> = $finals;
        let mut candidates: Vec<String> = $waiting;
        loop {
            for chunk in finals.chunks(ROWS_PER_STATEMENT) {
                let query = task_dependencies::table
                    .filter(task_dependencies::dependency_id.eq_any(chunk))
                    .select(task_dependencies::task_id);
                let found: Vec<String> = $Run::load(query, $c)$($wait)*?;
                candidates.extend(found);
            }
            candidates.sort_unstable();
            candidates.dedup();
            if candidates.is_empty() {
                break;
            }
            let mut rows: Vec<TaskRow> = Vec::new();
            for chunk in candidates.chunks(ROWS_PER_STATEMENT) {
                let query = tasks::table
                    .filter(tasks::id.eq_any(chunk))
                    .filter(tasks::status.eq(TaskStatus::Waiting.as_str()))
                    .select(TaskRow::as_select());
                rows.extend($Run::load(query, $c)$($wait)*?);
            }
            candidates.clear();
            let waits: Vec<Vec<String>> = rows.iter().map(|r| depends_on(r.depends_on.as_deref())).collect();
            let mut deps: Vec<&String> = waits.iter().flatten().collect();
            deps.sort_unstable();
            deps.dedup();
            let mut statuses: HashMap<String, String> = HashMap::with_capacity(deps.len());
            for chunk in deps.chunks(ROWS_PER_STATEMENT) {
                let query = tasks::table
                    .filter(tasks::id.eq_any(chunk))
                    .select((tasks::id, tasks::status));
                let found: Vec<(String, String)> = $Run::load(query, $c)$($wait)*?;
                statuses.extend(found);
            }
            finals = Vec::new();
            let mut releasing: Vec<(TaskRow, Vec<String>)> = Vec::new();
            for (row, wait) in rows.into_iter().zip(waits) {
                match decide(&wait, &statuses) {
                    Decision::Wait => {}
                    Decision::Release => releasing.push((row, wait)),
                    Decision::Cancel(why) => {
                        let update = diesel::update(tasks::table.find(&row.id))
                            .filter(tasks::status.eq(TaskStatus::Waiting.as_str()))
                            .set((
                                tasks::status.eq(TaskStatus::Cancelled.as_str()),
                                tasks::finished_at.eq($now),
                                tasks::error.eq(&why),
                                tasks::updated_at.eq($now),
                            ));
                        $Run::execute(update, $c)$($wait)*?;
                        finals.push(row.id.clone());
                        if let Ok(task) = row.into_record() {
                            changed.push(cancelled(task, why, $now));
                        }
                    }
                }
            }
            let mut needed: Vec<&String> = releasing.iter().flat_map(|(_, w)| w).collect();
            needed.sort_unstable();
            needed.dedup();
            let mut results: HashMap<String, Option<String>> = HashMap::with_capacity(needed.len());
            for chunk in needed.chunks(ROWS_PER_STATEMENT) {
                let query = tasks::table
                    .filter(tasks::id.eq_any(chunk))
                    .select((tasks::id, tasks::result));
                let found: Vec<(String, Option<String>)> = $Run::load(query, $c)$($wait)*?;
                results.extend(found);
            }
            for (row, wait) in releasing {
                let map = results_map(&wait, &results);
                let update = diesel::update(tasks::table.find(&row.id))
                    .filter(tasks::status.eq(TaskStatus::Waiting.as_str()))
                    .set((
                        tasks::status.eq(TaskStatus::Queued.as_str()),
                        tasks::queued_at.eq($now),
                        tasks::dependencies.eq(map.to_string()),
                        tasks::node.eq(None::<String>),
                        tasks::updated_at.eq($now),
                    ));
                $Run::execute(update, $c)$($wait)*?;
                if let Ok(task) = row.into_record() {
                    changed.push(released(task, map, $now));
                }
            }
            if finals.is_empty() {
                break;
            }
        }
        changed
    }};
}
pub(crate) use resolve_waiting;

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_task_waits_for_all_is_released_by_all_and_cancelled_by_any_failure() {
        let deps = vec!["a".to_owned(), "b".to_owned()];
        let one_done = statuses(&[("a", "succeeded"), ("b", "running")]);
        assert_eq!(decide(&deps, &one_done), Decision::Wait);
        let both = statuses(&[("a", "succeeded"), ("b", "succeeded")]);
        assert_eq!(decide(&deps, &both), Decision::Release);
        // A failure decides at once, while the other still runs.
        let failed = statuses(&[("a", "queued"), ("b", "dead")]);
        assert_eq!(
            decide(&deps, &failed),
            Decision::Cancel("dependency b ended dead".into())
        );
        let gone = statuses(&[("a", "succeeded")]);
        assert_eq!(
            decide(&deps, &gone),
            Decision::Cancel("dependency b does not exist".into())
        );
    }

    #[test]
    fn the_results_map_names_every_dependency() {
        let deps = vec!["a".to_owned(), "b".to_owned()];
        let results = HashMap::from([
            ("a".to_owned(), Some("{\"n\":1}".to_owned())),
            ("b".to_owned(), None),
        ]);
        assert_eq!(
            results_map(&deps, &results),
            serde_json::json!({"a": {"n": 1}, "b": null})
        );
    }
}
