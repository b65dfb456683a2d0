//! The JSON body extractor of the API. It bounds the body as it reads it, and deserialises through
//! `serde_path_to_error`, so that a wrong type, an unknown field and a value outside its range
//! (checked by the domain types' `TryFrom`) all come back as 422 naming the field; broken JSON is
//! 400. One mechanism for types and values, rather than a separate validation pass.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use crate::context::Hive;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<Hive>>()
            .map_or(256 * 1024, |h| h.config.max_body_bytes);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::TooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::Malformed {
                    detail: e.to_string(),
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(Json)
        })
    }
}

/// Deserialise `body`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => invalid_field(&path, &inner.to_string()),
            _ => ApiError::Malformed {
                detail: format!("the body is not valid JSON: {inner}"),
            },
        }
    })?;
    de.end().map_err(|e| ApiError::Malformed {
        detail: format!("the body is not valid JSON: {e}"),
    })?;
    Ok(value)
}

/// A 422 naming the field a deserialiser stopped at.
pub(crate) fn invalid_field(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message);
    ApiError::invalid(field_of(path, message), message)
}

/// The path of the wrong field; for a missing or unknown field serde reports the parent, and the
/// name is in the message.
fn field_of(path: &str, message: &str) -> String {
    let missing = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (_, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (_, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::NewTask;

    fn field(body: &str) -> (u16, Option<String>) {
        match parse::<NewTask>(body.as_bytes()) {
            Ok(_) => (200, None),
            Err(ApiError::Invalid { field, .. }) => (422, Some(field)),
            Err(ApiError::Malformed { .. }) => (400, None),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn names_the_field_for_type_range_unknown_and_missing_errors() {
        assert_eq!(field(r#"{"role":"w","input":{}}"#), (200, None));
        assert_eq!(
            field(r#"{"role":"w","input":{},"timeout_ms":"x"}"#),
            (422, Some("timeout_ms".into()))
        );
        assert_eq!(
            field(r#"{"role":"w","input":{},"timeout_ms":-5}"#),
            (422, Some("timeout_ms".into()))
        );
        assert_eq!(
            field(r#"{"role":"w","input":{},"max_retries":1000}"#),
            (422, Some("max_retries".into()))
        );
        assert_eq!(
            field(r#"{"role":"","input":{}}"#),
            (422, Some("role".into()))
        );
        assert_eq!(
            field(r#"{"role":"w","input":[]}"#),
            (422, Some("input".into()))
        );
        assert_eq!(
            field(r#"{"role":"w","input":{},"colour":1}"#),
            (422, Some("colour".into()))
        );
        assert_eq!(field(r#"{"input":{}}"#), (422, Some("role".into())));
        assert_eq!(
            field(r#"{"role":"w","input":{},"priority":"urgent"}"#),
            (422, Some("priority".into()))
        );
        assert_eq!(
            field(r#"{"role":"w","input":{},"required_capabilities":["ok",""]}"#),
            (422, Some("required_capabilities[1]".into()))
        );
        assert_eq!(field(r#"{"role":"w","#), (400, None));
        assert_eq!(field(r#"{"role":"w","input":{}} trailing"#), (400, None));
    }
}
