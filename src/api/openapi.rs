//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the handlers' annotations and
//! the request and response types, so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{agents, audit, cluster, events, monitor, problem, sla, system, tasks, tokens, views};
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
        monitor::forecasts,
        monitor::anomalies,
        system::supervision,
        system::supervision_events,
        sla::sla,
        cluster::cluster,
        agents::create_agent,
        agents::create_batch,
        agents::list_agents,
        agents::get_agent,
        agents::delete_agent,
        agents::restart_agent,
        tasks::submit,
        tasks::get_task,
        tasks::list_tasks,
        tasks::cancel,
        tasks::task_events,
        super::workflows::submit_batch,
        super::workflows::graph,
        super::config::get,
        super::config::patch,
        super::config::history,
        super::config::rollback,
        super::topics::list,
        super::topics::publish,
        super::topics::of_agent,
        super::topics::set_of_agent,
        events::events,
        tokens::create,
        tokens::list,
        tokens::revoke,
        audit::list,
        openapi_json,
    ),
    components(schemas(
        problem::Problem,
        cluster::ClusterView,
        crate::cluster::membership::NodeView,
        monitor::Forecasts,
        monitor::Anomalies,
        crate::snapshots::monitor::SeriesView,
        crate::snapshots::monitor::ForecastView,
        crate::snapshots::monitor::AnomalyView,
        views::AgentView,
        views::AgentPage,
        views::BatchCreated,
        views::TaskView,
        views::TaskPage,
        views::TaskEventView,
        views::TaskHistory,
        views::TaskGraph,
        views::GraphNode,
        views::BatchAccepted,
        domain::workflow::NewBatch,
        domain::workflow::BatchTask,
        domain::topic::TopicSet,
        domain::topic::NewMessage,
        super::config::ConfigView,
        super::config::ConfigChange,
        super::config::ConfigHistory,
        super::config::RollbackTo,
        super::topics::AgentTopics,
        super::topics::TopicView,
        super::topics::TopicList,
        super::topics::Delivered,
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
        super::base::Limit,
    )),
    modifiers(&BearerTokens, &ClosedVariants)
)]
pub struct ApiDoc;

/// Every route but `/livez`, `/readyz` and `/health` takes `Authorization: Bearer <token>` once
/// tokens exist (see `auth` for the role each needs), and every route can answer the errors the
/// layers before its handler give: written here once rather than on each handler, so the
/// document cannot forget one.
struct BearerTokens;

/// The problem every route may answer, with the condition that brings it.
const EVERY_ROUTE: [(&str, &str); 2] = [
    (
        "429",
        "Too many requests from this token or address; see Retry-After",
    ),
    ("503", "Starting, draining, or at capacity; see Retry-After"),
];
const GUARDED_ROUTE: [(&str, &str); 2] = [
    ("401", "No valid bearer token"),
    ("403", "The token's role may not use this route"),
];
const WITH_BODY: [(&str, &str); 5] = [
    ("400", "The body is not JSON"),
    ("408", "The body did not arrive in time"),
    ("413", "The body is over the size limit"),
    ("415", "The body is not application/json"),
    ("422", "A field is wrong; `field` names it"),
];
const WITH_PATH_ID: [(&str, &str); 1] = [("404", "Nothing has this id")];

impl utoipa::Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = matches!(path.as_str(), "/livez" | "/readyz" | "/health");
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                // Errors are problem documents, whatever the handler's annotation said.
                for (code, response) in responses.iter_mut() {
                    if let (true, RefOr::T(response)) = (code.as_str() >= "400", response) {
                        if let Some(content) = response.content.shift_remove("application/json") {
                            response.content.insert(PROBLEM_JSON.to_owned(), content);
                        }
                    }
                }
                let mut add = |list: &[(&str, &str)]| {
                    for (code, description) in list {
                        responses
                            .entry((*code).to_owned())
                            .or_insert_with(|| RefOr::T(problem(description)));
                    }
                };
                add(&EVERY_ROUTE);
                if !open {
                    add(&GUARDED_ROUTE);
                }
                if operation.request_body.is_some() {
                    add(&WITH_BODY);
                }
                if path.contains('{') {
                    add(&WITH_PATH_ID);
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(&[("422", "A query parameter is wrong; `field` names it")]);
                }
            }
        }
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// The tagged enums whose variants refuse unknown fields (serde's `deny_unknown_fields` on the
/// enum). utoipa writes `additionalProperties: false` for such structs only; without it here a
/// client (or the fuzzer in CI) would read the variants as open and send fields that are refused.
const CLOSED_ENUMS: [&str; 1] = ["ExecutorSpec"];

struct ClosedVariants;

impl utoipa::Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        use utoipa::openapi::RefOr;

        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in CLOSED_ENUMS {
            let Some(RefOr::T(Schema::OneOf(variants))) = components.schemas.get_mut(name) else {
                continue;
            };
            for variant in &mut variants.items {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses((status = 200, content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
