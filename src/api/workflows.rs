//! `/api/v1/tasks/batch` and `/api/v1/tasks/{id}/graph`: graphs of tasks that wait for others.

use std::collections::{BTreeMap, HashSet};

use actix_web::{web, HttpResponse};

use super::ask::ask;
use super::json::JsonBody;
use super::problem::{ApiError, Problem};
use super::tasks::{refused, shed};
use super::views::{BatchAccepted, GraphNode, TaskGraph, TaskView};
use crate::context::Hive;
use crate::domain::names::Role;
use crate::domain::task::DependsOn;
use crate::domain::task::{NewTask, TaskRecord};
use crate::domain::time::now_ms;
use crate::domain::workflow::{check_graph, BatchTask, NewBatch};
use crate::managers::handles::Handles;
use crate::managers::orchestrator::SubmitMany;

/// Most dependants and children the graph view lists.
const GRAPH_LIMIT: i64 = 1000;

/// Submit a graph of tasks at once: each names the others it waits for by `ref` (or tasks
/// submitted before by id). Refs must be unique and the graph free of cycles; every task is
/// committed in one transaction, or none is. Answered 202 with each task's id by ref.
#[utoipa::path(post, path = "/api/v1/tasks/batch", tag = "tasks", request_body = NewBatch,
    responses((status = 202, body = BatchAccepted), (status = 400, body = Problem),
        (status = 413, body = Problem),
        (status = 422, body = Problem, description = "a wrong field, a ref used twice, a cycle, or an unknown task or agent"),
        (status = 503, body = Problem, description = "at capacity; see Retry-After")))]
pub async fn submit_batch(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    body: JsonBody<NewBatch>,
) -> Result<HttpResponse, ApiError> {
    let batch = body.value.tasks;
    let edges = check_graph(&batch).map_err(|e| ApiError::invalid(e.field, e.detail))?;
    // Tasks submitted before: each must exist.
    let outside: Vec<String> = {
        let mut ids: Vec<String> = edges.iter().flat_map(|(_, o)| o.iter().cloned()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let found: HashSet<String> = hive
        .store
        .existing_tasks(&outside)
        .await?
        .into_iter()
        .collect();
    for (i, (_, before)) in edges.iter().enumerate() {
        if let Some(id) = before.iter().find(|id| !found.contains(*id)) {
            return Err(ApiError::invalid(
                format!("tasks[{i}].depends_on"),
                format!("{id} is neither a ref of this batch nor a task's id"),
            ));
        }
    }
    let mut placed = Vec::with_capacity(batch.len());
    for (i, task) in batch.iter().enumerate() {
        shed(&hive, task.priority)?;
        placed.push(where_it_runs(&hive, task, i).await?);
    }
    let now = now_ms();
    let ids: Vec<String> = batch
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let refs: Vec<String> = batch.iter().map(|t| t.reference.0.clone()).collect();
    let records: Vec<TaskRecord> = batch
        .into_iter()
        .zip(edges)
        .zip(placed)
        .enumerate()
        .map(|(i, ((task, (inside, before)), (role, node)))| {
            let mut depends_on: Vec<String> = inside.iter().map(|&j| ids[j].clone()).collect();
            depends_on.extend(before);
            let mut record = TaskRecord::accepted(into_new_task(task, depends_on), role, now);
            record.id = ids[i].clone();
            record.node = node;
            record
        })
        .collect();
    let stored = ask(
        &handles.orchestrator,
        &hive.kinds.orchestrator,
        "orchestrator",
        |reply| SubmitMany {
            tasks: records,
            reply,
        },
    )
    .await?
    .map_err(refused)?;
    let ids: BTreeMap<String, String> = refs.into_iter().zip(ids).collect();
    Ok(HttpResponse::Accepted().json(BatchAccepted {
        ids,
        tasks: stored.into_iter().map(TaskView::from).collect(),
    }))
}

/// The role a batch's task runs in and, for one addressed to an agent in a cluster, the node
/// that holds it; its input checked against the executors that would run it.
async fn where_it_runs(
    hive: &Hive,
    task: &BatchTask,
    i: usize,
) -> Result<(Role, Option<String>), ApiError> {
    let Some(agent) = &task.agent else {
        let role = task.role.clone().ok_or_else(|| {
            ApiError::invalid(
                format!("tasks[{i}].role"),
                "role is required unless agent names the agent to run the task",
            )
        })?;
        let executors = hive.agents.executors_of(&role);
        crate::agents::executor::check_input(executors, &task.input.0)
            .map_err(|e| ApiError::invalid(format!("tasks[{i}].{}", e.field), e.detail))?;
        return Ok((role, None));
    };
    let (info, node) = match hive.agents.get(&agent.0) {
        Some(entry) => (
            entry.info.clone(),
            hive.cluster().map(|c| c.node.to_string()),
        ),
        None => {
            let stored = hive.store.agent(&agent.0).await?.ok_or_else(|| {
                ApiError::invalid(format!("tasks[{i}].agent"), format!("no agent {}", agent.0))
            })?;
            let node = stored.info.node.as_deref().map(str::to_owned);
            (stored.info, node)
        }
    };
    let role = info.role().clone();
    if task.role.as_ref().is_some_and(|named| *named != role) {
        return Err(ApiError::invalid(
            format!("tasks[{i}].role"),
            format!("agent {} is of role {role}", agent.0),
        ));
    }
    crate::agents::executor::check_input_for(&info.kind.executor, &task.input.0)
        .map_err(|e| ApiError::invalid(format!("tasks[{i}].{}", e.field), e.detail))?;
    Ok((role, node))
}

fn into_new_task(task: BatchTask, depends_on: Vec<String>) -> NewTask {
    NewTask {
        role: task.role,
        agent: task.agent,
        input: task.input,
        required_capabilities: task.required_capabilities,
        priority: task.priority,
        timeout_ms: task.timeout_ms,
        max_retries: task.max_retries,
        idempotency_key: None,
        truncate_result: task.truncate_result,
        depends_on: DependsOn(depends_on),
    }
}

/// A task with the tasks it waits for, the tasks that wait for it and the tasks its answer
/// handed over, each with its status.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/graph", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskGraph), (status = 404, body = Problem)))]
pub async fn graph(hive: web::Data<Hive>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let task = hive
        .store
        .task(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "task",
            id: id.clone(),
        })?;
    let dependencies = hive.store.tasks_by_id(&task.depends_on).await?;
    let dependants = hive.store.dependants(&id, GRAPH_LIMIT).await?;
    let children = hive
        .store
        .tasks(&crate::store::TaskFilter {
            parent_id: Some(id.clone()),
            limit: GRAPH_LIMIT,
            ..Default::default()
        })
        .await?;
    let nodes = |tasks: &[TaskRecord]| tasks.iter().map(GraphNode::from).collect();
    Ok(HttpResponse::Ok().json(TaskGraph {
        task: GraphNode::from(&task),
        dependencies: nodes(&dependencies),
        dependants: nodes(&dependants),
        children: nodes(&children),
    }))
}
