//! `/api/v1/agents`: create (one or a batch), list, read, delete.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::ask::ask;
use super::base::{paginate, Limit, API};
use super::json::Json;
use super::problem::{ApiError, Problem};
use super::views::{AgentPage, AgentQueueView, AgentView, BatchCreated};
use crate::agents::registry::AgentQuery;
use crate::context::Hive;
use crate::domain::agent::{check_state, AgentSpec, AgentStatus, ExecutorSpec};
use crate::domain::names::Role;
use crate::managers::handles::Handles;
use crate::managers::lifecycle::{CreateAgents, DeleteAgent, LifecycleError};
use crate::managers::orchestrator::{QueueOf, RestartAgent, RestartOutcome};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// How many agents to create, 1 to the server's `max_batch_agents` (10,000 by default).
    #[schema(minimum = 1, maximum = 10000)]
    pub count: usize,
    pub template: AgentSpec,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgentListQuery {
    pub role: Option<Role>,
    pub status: Option<AgentStatus>,
    pub limit: Option<Limit>,
    pub cursor: Option<String>,
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound(id) => ApiError::NotFound { what: "agent", id },
            LifecycleError::StoreBusy => ApiError::Busy("store"),
            LifecycleError::Busy => ApiError::Busy("orchestrator"),
            LifecycleError::Store(e) => ApiError::from(e),
            full @ LifecycleError::AgentLimit { .. } => ApiError::AgentLimit(full.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// A command agent may only name a program the operator allow-listed, an http agent only a
/// destination the operator allows; the lists live in the server's configuration, never in a
/// request. `field` names the executor in the request.
fn check_executor(hive: &Hive, spec: &AgentSpec, field: &str) -> Result<(), ApiError> {
    match &spec.executor {
        ExecutorSpec::Command { program } | ExecutorSpec::Process { program, .. }
            if hive.programs.find(program.as_path()).is_none() =>
        {
            Err(ApiError::invalid(
                format!("{field}.program"),
                format!(
                    "{} is not among the executables this server allows (--allow-exec)",
                    program.as_path().display()
                ),
            ))
        }
        ExecutorSpec::Process { limits, .. } => limits
            .check()
            .map_err(|(name, why)| ApiError::invalid(format!("{field}.limits.{name}"), why)),
        ExecutorSpec::Http { url } => reqwest::Url::parse(url.as_str())
            .map_err(|e| e.to_string())
            .and_then(|parsed| hive.destinations.allows_url(&parsed))
            .map_err(|why| ApiError::invalid(format!("{field}.url"), why)),
        _ => Ok(()),
    }
}

/// An initial state within `max_agent_state_bytes`; `field` names it in the request.
fn check_initial_state(hive: &Hive, spec: &AgentSpec, field: &str) -> Result<(), ApiError> {
    match &spec.state {
        Some(state) => check_state(state, hive.config.max_agent_state_bytes)
            .map(drop)
            .map_err(|why| ApiError::invalid(field, why)),
        None => Ok(()),
    }
}

async fn create(
    hive: &Hive,
    handles: &Handles,
    spec: AgentSpec,
    count: usize,
) -> Result<Vec<std::sync::Arc<crate::agents::registry::AgentEntry>>, ApiError> {
    let request = |reply| CreateAgents { spec, count, reply };
    Ok(ask(
        &handles.lifecycle,
        &hive.kinds.lifecycle,
        "agent manager",
        request,
    )
    .await??)
}

/// Create one agent.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentSpec,
    responses((status = 201, body = AgentView), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn create_agent(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    Json(spec): Json<AgentSpec>,
) -> Result<HttpResponse, ApiError> {
    check_executor(&hive, &spec, "executor")?;
    check_initial_state(&hive, &spec, "state")?;
    super::topics::room_for(&hive, &spec.topics.0, 1).await?;
    let created = create(&hive, &handles, spec, 1).await?;
    let entry = created
        .first()
        .ok_or_else(|| ApiError::internal_msg("no agent created"))?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("{API}/agents/{}", entry.info.id)))
        .json(AgentView::of(entry, hive.agents.extras(&entry.info.id))))
}

/// Create many agents from one template.
#[utoipa::path(post, path = "/api/v1/agents/batch", tag = "agents", request_body = BatchRequest,
    responses((status = 201, body = BatchCreated), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn create_batch(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    Json(batch): Json<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    check_executor(&hive, &batch.template, "template.executor")?;
    check_initial_state(&hive, &batch.template, "template.state")?;
    let max = hive.config.max_batch_agents;
    if batch.count == 0 || batch.count > max {
        return Err(ApiError::invalid(
            "count",
            format!("count must be between 1 and {max}"),
        ));
    }
    super::topics::room_for(&hive, &batch.template.topics.0, batch.count).await?;
    let created = create(&hive, &handles, batch.template, batch.count).await?;
    Ok(HttpResponse::Created().json(BatchCreated {
        ids: created.iter().map(|e| e.info.id.to_string()).collect(),
    }))
}

/// An agent this node does not run: the URL of the node that does (the call goes there), or
/// 404 if no node runs it: about the agent in the path, or (`field`) the one a request names.
pub(super) async fn owner(
    hive: &Hive,
    req: &HttpRequest,
    id: &str,
    field: &'static str,
) -> Result<String, ApiError> {
    let not_found = || match field {
        "" => ApiError::NotFound {
            what: "agent",
            id: id.to_owned(),
        },
        field => ApiError::UnknownReference {
            field,
            id: id.to_owned(),
        },
    };
    if hive.cluster().is_none() {
        return Err(not_found());
    }
    let stored = hive.store.agent(id).await?.ok_or_else(not_found)?;
    super::cluster::elsewhere(
        hive,
        req,
        stored.info.node.as_deref(),
        &format!("agent {id}"),
    )
    .await?
    .ok_or_else(not_found)
}

/// List agents, in creation order.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(AgentListQuery),
    responses((status = 200, body = AgentPage), (status = 422, body = Problem)))]
pub async fn list_agents(
    hive: web::Data<Hive>,
    query: super::query::Query<AgentListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = q.limit.unwrap_or_default().0;
    let page = hive.agents.page(&AgentQuery {
        role: q.role.as_ref(),
        status: q.status,
        after: q.cursor.as_deref(),
        limit: limit + 1,
    });
    let (page, next_cursor) = paginate(page, limit, |e| e.info.id.to_string());
    let items = page
        .iter()
        .map(|e| AgentView::of(e, hive.agents.extras(&e.info.id)))
        .collect();
    Ok(HttpResponse::Ok().json(AgentPage { items, next_cursor }))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = Problem)))]
pub async fn get_agent(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match hive.agents.get(&id) {
        Some(entry) => {
            let mut view = AgentView::of(&entry, hive.agents.extras(&id));
            let request = |reply| QueueOf {
                agent: id.clone(),
                reply,
            };
            let (unfinished, queued) = ask(
                &handles.orchestrator,
                &hive.kinds.orchestrator,
                "orchestrator",
                request,
            )
            .await?;
            view.queue = Some(AgentQueueView { unfinished, queued });
            Ok(HttpResponse::Ok().json(view))
        }
        None => {
            let node = owner(&hive, &req, &id, "").await?;
            super::cluster::forward(&hive, &req, &node, None).await
        }
    }
}

/// Stop an agent and forget it; a task it was running goes back to the queue.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_agent(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if hive.cluster().is_some() && hive.agents.get(&id).is_none() {
        let node = owner(&hive, &req, &id, "").await?;
        return super::cluster::forward(&hive, &req, &node, None).await;
    }
    let request = |reply| DeleteAgent { id, reply };
    ask(
        &handles.lifecycle,
        &hive.kinds.lifecycle,
        "agent manager",
        request,
    )
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Restart a running agent: this incarnation ends as a failure and its pool's supervisor starts a
/// fresh one (counted as a restart, with the reason `restarted by an operator`). A task it was
/// running is retried as after a crash. Answered once the agent has been told. A request while
/// this incarnation's restart is still on its way is answered 202 and adds nothing: one restart.
#[utoipa::path(post, path = "/api/v1/agents/{id}/restart", tag = "agents", params(("id" = String, Path)),
    responses((status = 202, body = AgentView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 503, body = Problem)))]
pub async fn restart_agent(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let Some(entry) = hive.agents.get(&id) else {
        let node = owner(&hive, &req, &id, "").await?;
        return super::cluster::forward(&hive, &req, &node, None).await;
    };
    let request = |reply| RestartAgent {
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
        RestartOutcome::Restarting => {
            Ok(HttpResponse::Accepted().json(AgentView::from(entry.as_ref())))
        }
        RestartOutcome::Busy => Err(ApiError::Busy("agent")),
        RestartOutcome::NotRunning => Err(ApiError::Conflict(format!(
            "agent {id} is not running (it is {})",
            entry.state().status.as_str()
        ))),
    }
}
