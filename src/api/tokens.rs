//! `/api/v1/tokens` (admin): create a token (its secret is in this answer only), list, revoke.

use std::sync::Arc;

use actix::Message;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tokio::sync::oneshot;
use utoipa::ToSchema;

use super::json::Json;
use super::problem::{ApiError, Problem};
use crate::context::Hive;
use crate::domain::access::AccessRole;
use crate::domain::names::AgentName;
use crate::managers::handles::Handles;
use crate::managers::security::{
    CreateToken, IssuedToken, RevokeToken, SecurityManager, TokenView,
};
use crate::snapshots::access::Caller;
use crate::store::StoreError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub role: AccessRole,
    /// A label for listings, such as who holds the token.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub name: Option<AgentName>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

/// Ask the SecurityManager; its answer comes once the policy it published includes the change.
async fn ask_security<M, T>(
    handles: &Handles,
    request: impl FnOnce(oneshot::Sender<Result<T, Arc<StoreError>>>) -> M,
) -> Result<T, ApiError>
where
    M: Message<Result = ()> + Send + 'static,
    SecurityManager: actix::Handler<M>,
{
    let unavailable = || ApiError::Unavailable("the security manager is restarting".into());
    let addr = handles.security.get().ok_or_else(unavailable)?;
    let (reply, answer) = oneshot::channel();
    addr.try_send(request(reply)).map_err(|e| match e {
        actix::prelude::SendError::Full(_) => ApiError::Busy("security manager"),
        actix::prelude::SendError::Closed(_) => unavailable(),
    })?;
    let answered = answer.await.map_err(|_| unavailable())?;
    // A database that does not answer now is a 503 to retry, as for any other write.
    answered.map_err(ApiError::from)
}

/// Create a token. The secret is shown in this answer only; the server keeps its digest.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "security", request_body = NewToken,
    security(("bearer" = [])),
    responses((status = 201, body = IssuedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    caller: web::ReqData<Caller>,
    Json(new): Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    // Without tokens any loopback process may call: the first admin token is the operator's to
    // make, on the command line, unless they chose otherwise.
    if *caller == Caller::Anonymous && !hive.config.first_token_over_http {
        return Err(ApiError::Forbidden(
            "no API token exists yet: create the first with `hive token create --role admin` (same --data-dir or --database-url), or start the server with --first-token-over-http".into(),
        ));
    }
    let issued = ask_security(&handles, |reply| CreateToken {
        role: new.role,
        name: new.name.map(|n| n.to_string()),
        reply,
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(issued))
}

/// Every token, revoked ones included; never a secret.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 403, body = Problem)))]
pub async fn list(hive: web::Data<Hive>) -> Result<HttpResponse, ApiError> {
    let rows = hive.store.tokens().await?;
    Ok(HttpResponse::Ok().json(TokenList {
        items: rows.into_iter().filter_map(TokenView::from_row).collect(),
    }))
}

/// Revoke a token: requests with it are refused from this answer on.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "security", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    handles: web::Data<Handles>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let revoked = ask_security(&handles, |reply| RevokeToken {
        id: id.clone(),
        reply,
    })
    .await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound {
            what: "live token",
            id,
        })
    }
}
