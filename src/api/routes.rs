//! The route table: every path, the methods it answers, the role each needs (stated here, next
//! to the route, and checked after the router chose it), and 405/404 in problem+json for the
//! rest.

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest};

use super::base::API;
use super::middleware::{record, until_ready, within_bound};
use super::problem::ApiError;
use super::{
    agents, audit, auth, cluster, config, dashboard, events, monitor, openapi, sla, system, tasks,
    tokens, topics, workflows,
};
use crate::domain::access::AccessRole;

fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::invalid("path", err.to_string()).into()
}

/// Every route with the role it needs, the methods it answers and its middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use auth::Needs;
    use AccessRole::{Admin, Operator, Viewer};
    let viewer = Needs::Role(Viewer);
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        .service(
            web::scope("")
                .wrap(from_fn(auth::gate))
                .wrap(from_fn(audit::record_mutations))
                .wrap(from_fn(record))
                .service(get_only("/livez", None, system::livez))
                .service(get_only("/readyz", None, system::readyz))
                .service(get_only("/health", None, system::health))
                .service(get_only("/metrics", Some(Needs::Metrics), system::metrics))
                // The dashboard's page and assets hold no data: what it shows, it reads with the
                // token its viewer gives it.
                .service(get_only("/dashboard", None, dashboard::page))
                .service(get_only("/dashboard/{asset}", None, dashboard::asset))
                .service(
                    web::scope(API)
                        .wrap(from_fn(until_ready))
                        .wrap(from_fn(within_bound))
                        .service(get_only(
                            "/openapi.json",
                            Some(viewer),
                            openapi::openapi_json,
                        ))
                        .service(get_only("/system/status", Some(viewer), system::status))
                        .service(get_only("/supervision", Some(viewer), system::supervision))
                        .service(get_only(
                            "/supervision/events",
                            Some(viewer),
                            system::supervision_events,
                        ))
                        .service(get_only("/sla", Some(viewer), sla::sla))
                        .service(get_only("/cluster", Some(viewer), cluster::cluster))
                        .service(get_only(
                            "/monitor/forecasts",
                            Some(viewer),
                            monitor::forecasts,
                        ))
                        .service(get_only(
                            "/monitor/anomalies",
                            Some(viewer),
                            monitor::anomalies,
                        ))
                        .service(get_only("/events", Some(viewer), events::events))
                        .service(
                            web::resource("/agents")
                                .route(allow(Admin, web::post().to(agents::create_agent)))
                                .route(allow(Viewer, web::get().to(agents::list_agents)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        .service(
                            web::resource("/agents/batch")
                                .route(allow(Admin, web::post().to(agents::create_batch)))
                                .default_service(web::to(batch_other_methods)),
                        )
                        .service(
                            web::resource("/agents/{id}")
                                .route(allow(Viewer, web::get().to(agents::get_agent)))
                                .route(allow(Admin, web::delete().to(agents::delete_agent)))
                                .default_service(web::to(|| not_allowed("GET, DELETE"))),
                        )
                        .service(
                            web::resource("/agents/{id}/topics")
                                .route(allow(Viewer, web::get().to(topics::of_agent)))
                                .route(allow(Operator, web::put().to(topics::set_of_agent)))
                                .default_service(web::to(|| not_allowed("GET, PUT"))),
                        )
                        .service(
                            web::resource("/config")
                                .route(allow(Operator, web::get().to(config::get)))
                                .route(allow(Admin, web::patch().to(config::patch)))
                                .default_service(web::to(|| not_allowed("GET, PATCH"))),
                        )
                        .service(
                            web::resource("/config/history")
                                .route(allow(Operator, web::get().to(config::history)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/config/rollback")
                                .route(allow(Admin, web::post().to(config::rollback)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/topics")
                                .route(allow(Viewer, web::get().to(topics::list)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/topics/{name}/messages")
                                .route(allow(Operator, web::post().to(topics::publish)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/agents/{id}/restart")
                                .route(allow(Operator, web::post().to(agents::restart_agent)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/tasks")
                                .route(allow(Operator, web::post().to(tasks::submit)))
                                .route(allow(Viewer, web::get().to(tasks::list_tasks)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        // Before `/tasks/{id}`, which would otherwise take it.
                        .service(
                            web::resource("/tasks/batch")
                                .route(allow(Operator, web::post().to(workflows::submit_batch)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/tasks/{id}/graph")
                                .route(allow(Viewer, web::get().to(workflows::graph)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}")
                                .route(allow(Viewer, web::get().to(tasks::get_task)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}/events")
                                .route(allow(Viewer, web::get().to(tasks::task_events)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}/cancel")
                                .route(allow(Operator, web::post().to(tasks::cancel)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/tokens")
                                .route(allow(Admin, web::post().to(tokens::create)))
                                .route(allow(Admin, web::get().to(tokens::list)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        .service(
                            web::resource("/tokens/{id}")
                                .route(allow(Admin, web::delete().to(tokens::revoke)))
                                .default_service(web::to(|| not_allowed("DELETE"))),
                        )
                        .service(get_only("/audit", Some(Needs::Role(Admin)), audit::list))
                        .default_service(web::to(no_route)),
                )
                .default_service(web::to(no_route)),
        );
}

/// A route that only callers with `role` (or more) may use; the check runs once the router has
/// chosen this route, whatever spelling of the path led to it.
fn allow(role: AccessRole, route: actix_web::Route) -> actix_web::Route {
    route.wrap(auth::require(auth::Needs::Role(role)))
}

/// A resource that answers GET to callers `needs` admits (anyone for `None`), and 405 to any
/// other method (not the 404 of an unknown path).
fn get_only<F, Args>(path: &str, needs: Option<auth::Needs>, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let route = web::get().to(handler);
    let route = match needs {
        Some(needs) => route.wrap(auth::require(needs)),
        None => route,
    };
    web::resource(path)
        .route(route)
        .default_service(web::to(|| not_allowed("GET")))
}

/// `/agents/batch` shadows `/agents/{id}` for the id `batch`: the methods an agent answers get
/// an agent's answer (there is no agent of that id), the others 405.
async fn batch_other_methods(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let method = req.method();
    if method == actix_web::http::Method::GET || method == actix_web::http::Method::DELETE {
        return Err(ApiError::NotFound {
            what: "agent",
            id: "batch".into(),
        });
    }
    not_allowed("POST").await
}

/// 405 with the methods the resource does answer, as RFC 9110 asks.
async fn not_allowed(allow: &'static str) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed { allow })
}

async fn no_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}
