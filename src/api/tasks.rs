//! `/api/v1/tasks`: submit, read, list, cancel.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ask::ask;
use super::base::{paginate, Limit, API};
use super::json::JsonBody;
use super::problem::{ApiError, Problem};
use super::views::{TaskEventView, TaskHistory, TaskPage, TaskView};
use crate::context::Hive;
use crate::domain::names::Role;
use crate::domain::task::{AgentRef, NewTask, Priority, TaskStatus};
use crate::domain::time::Timestamp;
use crate::managers::handles::Handles;
use crate::managers::orchestrator::{CancelOutcome, CancelTask, Submit, SubmitError};
use crate::metrics::{Phase, SubmitClock};
use crate::store::manager::{Persist, Write};
use crate::store::TaskFilter;

/// Submit a task. Answered 202 once it is committed to the store: an accepted task survives a
/// crash of the server. A repeated `idempotency_key` answers the task the first request created.
/// With `agent`, it runs on that agent only, after the tasks addressed to it before (within its
/// priority); submitted to another node than the agent's, it is passed on to that node.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = NewTask,
    responses((status = 202, body = TaskView), (status = 400, body = Problem),
        (status = 404, body = Problem, description = "the agent it names does not exist"), (status = 413, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem, description = "at capacity, or its agent's queue is full; see Retry-After")))]
pub async fn submit(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    span: tracing_actix_web::RootSpan,
    req: actix_web::HttpRequest,
    body: JsonBody<NewTask>,
) -> Result<HttpResponse, ApiError> {
    let JsonBody { value: task, raw } = body;
    let role = match &task.agent {
        Some(agent) => match hive.agents.get(&agent.0) {
            Some(entry) => {
                let role = entry.info.role();
                if task.role.as_ref().is_some_and(|named| named != role) {
                    return Err(ApiError::invalid(
                        "role",
                        format!(
                            "agent {} is of role {role}, not {}",
                            agent.0,
                            task.role.as_ref().map(|r| r.as_str()).unwrap_or_default()
                        ),
                    ));
                }
                crate::agents::executor::check_input_for(&entry.info.kind.executor, &task.input.0)
                    .map_err(|e| ApiError::invalid(e.field, e.detail))?;
                role.clone()
            }
            // Another node's agent: the submission goes to that node, which runs it.
            None => {
                let node = super::agents::owner(&hive, &req, &agent.0, "agent").await?;
                return super::cluster::forward(&hive, &req, &node, Some(raw)).await;
            }
        },
        None => {
            let role = task.role.clone().ok_or_else(|| {
                ApiError::invalid(
                    "role",
                    "role is required unless agent names the agent to run the task",
                )
            })?;
            let executors = hive.agents.executors_of(&role);
            crate::agents::executor::check_input(executors, &task.input.0)
                .map_err(|e| ApiError::invalid(e.field, e.detail))?;
            role
        }
    };
    shed(&hive, task.priority)?;
    dependencies_exist(&hive, &task.depends_on.0, "depends_on").await?;
    let clock = SubmitClock::start();
    let mut created = ask(
        &handles.orchestrator,
        &hive.kinds.orchestrator,
        "orchestrator",
        |reply| Submit {
            task,
            role,
            clock,
            reply,
        },
    )
    .await?
    .map_err(refused)?;
    if let Some(clock) = &mut created.clock {
        clock.lap(&hive.metrics.submit_phases, Phase::Reply);
    }
    span.record("task_id", tracing::field::display(&created.task.id));
    let location = format!("{API}/tasks/{}", created.task.id);
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", location))
        .insert_header((
            "Idempotent-Replayed",
            if created.existing { "true" } else { "false" },
        ))
        .json(TaskView::from(created.task)))
}

/// Why the orchestrator did not take a submission, as the client hears it.
pub(super) fn refused(e: SubmitError) -> ApiError {
    match e {
        SubmitError::StoreBusy => ApiError::Busy("store"),
        SubmitError::Backlog { .. } => ApiError::Busy("task backlog"),
        full @ SubmitError::AgentQueue { .. } => ApiError::QueueFull(full.to_string()),
        SubmitError::Draining => ApiError::Unavailable("the server is shutting down".into()),
        SubmitError::Store(e) => ApiError::from(e),
    }
}

/// Refused (503) if the shedding plugin sheds this priority now.
pub(super) fn shed(hive: &Hive, priority: Priority) -> Result<(), ApiError> {
    let shed = hive.shedding.load();
    if !shed.refuses(priority) {
        return Ok(());
    }
    let priority = priority.as_str();
    hive.metrics.tasks_shed.with_label_values(&[priority]).inc();
    Err(ApiError::Shed {
        priority,
        reason: shed.reason.clone().unwrap_or_default(),
        retry_after_s: shed.retry_after_s,
    })
}

/// Every task `ids` names exists, or 422 naming the first that does not (`field[i]`).
pub(super) async fn dependencies_exist(
    hive: &Hive,
    ids: &[String],
    field: &str,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: std::collections::HashSet<String> =
        hive.store.existing_tasks(ids).await?.into_iter().collect();
    match ids.iter().position(|id| !found.contains(id)) {
        None => Ok(()),
        Some(i) => Err(ApiError::invalid(
            format!("{field}[{i}]"),
            format!("no task {} to depend on", ids[i]),
        )),
    }
}

/// One task with its current status, attempts, result and last error.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = Problem)))]
pub async fn get_task(
    hive: web::Data<Hive>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let task = hive
        .store
        .task(&id)
        .await?
        .ok_or(ApiError::NotFound { what: "task", id })?;
    Ok(HttpResponse::Ok().json(TaskView::from(task)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskListQuery {
    pub status: Option<TaskStatus>,
    pub role: Option<Role>,
    pub priority: Option<Priority>,
    /// Only tasks addressed to this agent.
    #[param(value_type = Option<String>)]
    pub agent: Option<AgentRef>,
    /// Only the tasks this task's answer handed over.
    pub parent_id: Option<String>,
    /// Only tasks created at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_since: Option<Timestamp>,
    /// Only tasks created before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_until: Option<Timestamp>,
    pub limit: Option<Limit>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List tasks in submission order, a page at a time, filtered by status, role, priority and
/// creation time.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskListQuery),
    responses((status = 200, body = TaskPage), (status = 422, body = Problem)))]
pub async fn list_tasks(
    hive: web::Data<Hive>,
    query: super::query::Query<TaskListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = q.limit.unwrap_or_default().0;
    let filter = TaskFilter {
        status: q.status,
        role: q.role,
        priority: q.priority,
        agent: q.agent.map(|a| a.0),
        parent_id: q.parent_id,
        created_since: q.created_since.map(|t| t.0),
        created_until: q.created_until.map(|t| t.0),
        after: q.cursor,
        limit: limit as i64 + 1,
    };
    let (tasks, next_cursor) = paginate(hive.store.tasks(&filter).await?, limit, |t| t.id.clone());
    Ok(HttpResponse::Ok().json(TaskPage {
        items: tasks.into_iter().map(TaskView::from).collect(),
        next_cursor,
    }))
}

/// Cancel a waiting, queued or running task; the tasks waiting for it are cancelled with it.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = Problem), (status = 409, body = Problem, description = "already finished")))]
pub async fn cancel(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    req: actix_web::HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // In a cluster the stored task says where it is; read once, for both questions.
    if hive.cluster().is_some() {
        let stored = hive.store.task(&id).await?;
        if stored
            .as_ref()
            .is_some_and(|t| t.status == TaskStatus::Waiting)
        {
            if let Some(answer) = cancel_waiting(&hive, &handles, &id).await? {
                return Ok(answer);
            }
        }
        if let Some(answer) = cancel_elsewhere(&hive, &handles, &req, &id, stored).await? {
            return Ok(answer);
        }
    }
    let request = |reply| CancelTask {
        id: id.clone(),
        reply,
    };
    let outcome = ask(
        &handles.orchestrator,
        &hive.kinds.orchestrator,
        "orchestrator",
        request,
    )
    .await?;
    match outcome {
        CancelOutcome::Cancelled(task) => Ok(HttpResponse::Ok().json(TaskView::from(*task))),
        // Not held by the orchestrator: waiting in the store, ended, or unknown.
        CancelOutcome::NotActive => match hive.store.task(&id).await? {
            Some(task) if task.status == TaskStatus::Waiting => {
                match cancel_waiting(&hive, &handles, &id).await? {
                    Some(answer) => Ok(answer),
                    // Released meanwhile: it is the orchestrator's now.
                    None => Err(ApiError::Conflict(format!(
                        "task {id} was released to run as it was being cancelled; cancel it again"
                    ))),
                }
            }
            Some(task) => Err(ApiError::Conflict(format!(
                "task {id} already ended as {}",
                task.status.as_str()
            ))),
            None => Err(ApiError::NotFound { what: "task", id }),
        },
    }
}

/// A task that waits for others is in the store only, on every node alike: the store cancels
/// it, and what waits for it, in one transaction. `None` for a task that no longer waits by the
/// time the store looks.
async fn cancel_waiting(
    hive: &Hive,
    handles: &Handles,
    id: &str,
) -> Result<Option<HttpResponse>, ApiError> {
    let request = |reply| {
        Persist(Write::CancelWaiting {
            id: id.to_owned(),
            reply,
        })
    };
    let cancelled = ask(&handles.store, &hive.kinds.store, "store", request)
        .await?
        .map_err(ApiError::from)?;
    Ok(cancelled.map(|task| HttpResponse::Ok().json(TaskView::from(task))))
}

/// In a cluster, a task this node does not hold: the node holding it cancels it (the call is
/// forwarded there); one that no node has taken yet is taken here first, then cancelled here.
async fn cancel_elsewhere(
    hive: &Hive,
    handles: &Handles,
    req: &actix_web::HttpRequest,
    id: &str,
    stored: Option<crate::domain::task::TaskRecord>,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(cluster) = hive.cluster() else {
        return Ok(None);
    };
    let Some(task) = stored else {
        return Ok(None);
    };
    if task.status.is_final() {
        return Ok(None);
    }
    let what = format!("task {id}");
    if let Some(node) = super::cluster::elsewhere(hive, req, task.node.as_deref(), &what).await? {
        return super::cluster::forward(hive, req, &node, None)
            .await
            .map(Some);
    }
    if task.node.is_none() {
        let held = hive.store.take(&[id], &cluster.node).await?;
        if !held.is_empty() {
            let adopt = |reply: tokio::sync::oneshot::Sender<()>| crate::cluster::port::Adopt {
                tasks: held,
                taken_over: false,
                done: Some(reply),
            };
            ask(
                &handles.orchestrator,
                &hive.kinds.orchestrator,
                "orchestrator",
                adopt,
            )
            .await?;
        }
    }
    Ok(None)
}

/// A task's history: every state it went through, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/events", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskHistory), (status = 404, body = Problem)))]
pub async fn task_events(
    hive: web::Data<Hive>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let events = hive.store.task_events(&id).await?;
    // Every stored task has at least its `queued` entry.
    if events.is_empty() && hive.store.task(&id).await?.is_none() {
        return Err(ApiError::NotFound { what: "task", id });
    }
    Ok(HttpResponse::Ok().json(TaskHistory {
        task_id: id,
        items: events.into_iter().map(TaskEventView::from).collect(),
    }))
}
