//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the handlers' annotations and
//! the request and response types, so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{agents, audit, events, problem, sla, system, tasks, tokens, views};
use crate::domain;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hive",
        description = "Agents under supervision trees, driven over HTTP."
    ),
    paths(
        system::livez,
        system::readyz,
        system::health,
        system::metrics,
        system::status,
        system::supervision,
        system::supervision_events,
        sla::sla,
        agents::create_agent,
        agents::create_batch,
        agents::list_agents,
        agents::get_agent,
        agents::delete_agent,
        tasks::submit,
        tasks::get_task,
        tasks::list_tasks,
        tasks::cancel,
        tasks::task_events,
        events::events,
        tokens::create,
        tokens::list,
        tokens::revoke,
        audit::list,
        openapi_json,
    ),
    components(schemas(
        problem::Problem,
        views::AgentView,
        views::AgentPage,
        views::BatchCreated,
        views::TaskView,
        views::TaskPage,
        views::TaskEventView,
        views::TaskHistory,
        views::SupervisorEventView,
        views::SupervisorEventPage,
        domain::sla::SlaReport,
        domain::agent::AgentSpec,
        domain::task::NewTask,
        agents::BatchRequest,
        tokens::NewToken,
        tokens::TokenList,
        crate::managers::security::TokenView,
        crate::managers::security::IssuedToken,
        audit::AuditEntry,
        audit::AuditPage,
        domain::access::AccessRole,
    )),
    modifiers(&BearerTokens)
)]
pub struct ApiDoc;

/// Every route but `/livez`, `/readyz` and `/health` takes `Authorization: Bearer <token>` once
/// tokens exist (see `auth` for the role each needs).
struct BearerTokens;

impl utoipa::Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses((status = 200, content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The document as a value, for tests and tools.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
