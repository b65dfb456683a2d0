//! `/api/v1/cluster`: the nodes sharing this Hive's database and Redis, and the forwarding that
//! lets any node's API address an agent or task another node holds.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::ApiError;
use crate::cluster::membership::NodeView;
use crate::cluster::Cluster;
use crate::context::Hive;

/// Set on a call one node forwards to another: the receiver answers it itself, so a call never
/// travels in a circle.
pub const FORWARDED: &str = "x-hive-forwarded-by";

/// The request headers a forwarded call keeps.
const KEPT_REQUEST: [header::HeaderName; 3] =
    [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT];
/// The response headers a forwarded answer keeps.
const KEPT_RESPONSE: [header::HeaderName; 3] =
    [header::CONTENT_TYPE, header::RETRY_AFTER, header::LOCATION];

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// `single` (one server, no Redis) or `cluster`.
    pub mode: &'static str,
    /// The node that answered.
    pub node: Option<String>,
    /// `up` or `down` (then tasks run where they are submitted); absent for a single server.
    pub redis: Option<&'static str>,
    /// Every node seen: alive ones, and lost ones for an hour after their work was taken over.
    pub nodes: Vec<NodeView>,
}

/// The nodes of the cluster, their agents and load; lost nodes with who took over their work.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "system",
    responses((status = 200, body = ClusterView)))]
pub async fn cluster(hive: web::Data<Hive>) -> Result<HttpResponse, ApiError> {
    let Some(c) = hive.cluster() else {
        return Ok(HttpResponse::Ok().json(ClusterView {
            mode: "single",
            node: None,
            redis: None,
            nodes: Vec::new(),
        }));
    };
    // Without Redis only this node is known.
    let nodes = match c.nodes().await {
        Ok(nodes) => nodes,
        Err(_) => vec![NodeView::local(&hive, c)],
    };
    Ok(HttpResponse::Ok().json(ClusterView {
        mode: "cluster",
        node: Some(c.node.to_string()),
        redis: Some(if c.is_up() { "up" } else { "down" }),
        nodes,
    }))
}

/// Where a call about something `node` holds must go: `None` when it is this node (or the call
/// was forwarded here already, or there is no cluster).
pub async fn elsewhere(
    hive: &Hive,
    req: &HttpRequest,
    node: Option<&str>,
    what: &str,
) -> Result<Option<String>, ApiError> {
    let (Some(c), Some(node)) = (hive.cluster(), node) else {
        return Ok(None);
    };
    if node == &*c.node || req.headers().contains_key(FORWARDED) {
        return Ok(None);
    }
    url_of(c, node, what).await.map(Some)
}

async fn url_of(cluster: &Cluster, node: &str, what: &str) -> Result<String, ApiError> {
    let nodes = cluster.nodes().await.map_err(|e| {
        ApiError::Unavailable(format!(
            "{what} is on node {node}, and Redis cannot say where that is: {e}"
        ))
    })?;
    match nodes.into_iter().find(|n| n.id == node) {
        Some(n) if n.status == "alive" => Ok(n.url),
        _ => Err(ApiError::Conflict(format!(
            "{what} is on node {node}, which is lost; its tasks were taken over by another node"
        ))),
    }
}

/// Make the same call on another node and answer what it answers.
pub async fn forward(
    hive: &Hive,
    req: &HttpRequest,
    base: &str,
    body: Option<web::Bytes>,
) -> Result<HttpResponse, ApiError> {
    let me = hive.node_id().unwrap_or_default();
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.path(), |p| p.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(ApiError::internal)?;
    let mut call = hive.http.request(method, &url).header(FORWARDED, me);
    for name in KEPT_REQUEST {
        if let Some(value) = req.headers().get(&name) {
            call = call.header(name.as_str(), value.as_bytes());
        }
    }
    if let Some(body) = body {
        call = call.body(body);
    }
    let unreachable = |e: reqwest::Error| {
        // The URL names a node of this cluster; the error may carry it, never a token.
        ApiError::Unavailable(format!(
            "node at {base} did not answer: {}",
            e.without_url()
        ))
    };
    let answer = call.send().await.map_err(unreachable)?;
    let status = actix_web::http::StatusCode::from_u16(answer.status().as_u16())
        .map_err(ApiError::internal)?;
    let mut response = HttpResponse::build(status);
    for name in KEPT_RESPONSE {
        if let Some(value) = answer.headers().get(name.as_str()) {
            response.insert_header((name, value.as_bytes()));
        }
    }
    let bytes = answer.bytes().await.map_err(unreachable)?;
    Ok(response.body(bytes))
}
