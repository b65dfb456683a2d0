//! `GET /dashboard`: the operator's live view, a plain page and script embedded in the binary
//! (no CDN, works offline). The page holds no data: it reads the API with the token its viewer
//! enters, so a viewer token shows everything and actions need an operator's.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::problem::ApiError;

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// The page loads only what it ships with and talks only to this server.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn embedded(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Always revalidated: a new binary's page must not run an old script.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The dashboard page.
pub async fn page() -> HttpResponse {
    embedded("text/html; charset=utf-8", INDEX)
}

/// The page's script and style sheet.
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match name.as_str() {
        "app.js" => Ok(embedded("text/javascript; charset=utf-8", SCRIPT)),
        "style.css" => Ok(embedded("text/css; charset=utf-8", STYLE)),
        _ => Err(ApiError::NoRoute),
    }
}
