//! The JSON body extractor of the API. It bounds the body as it reads it, and deserialises through
//! `serde_path_to_error`, so that a wrong type, an unknown field and a value outside its range
//! (checked by the domain types' `TryFrom`) all come back as 422 naming the field; broken JSON is
//! 400. One mechanism for types and values, rather than a separate validation pass.
//!
//! Before that, the body's shape is bounded (nesting depth, string length, array length: see
//! [`JsonLimits`]), since a body within the size limit can still nest thousands deep or carry one
//! huge string into a task's input.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::problem::ApiError;
use crate::config::JsonLimits;
use crate::context::Hive;
use crate::domain::strict_json::Strict;

pub struct Json<T>(pub T);

/// The body as [`Json`] reads it, with its bytes kept: a call that may go on to another node
/// (a task addressed to an agent there) forwards them as they came.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move { read.await.map(|body| Json(body.value)) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let hive = req.app_data::<web::Data<Hive>>();
        let limit = hive.map_or(256 * 1024, |h| h.config.max_body_bytes);
        let shape = hive.map(|h| h.config.json.clone()).unwrap_or_default();
        let limit_ms = hive.map_or(10_000, |h| h.config.client_timeout_ms);
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
            // A client that trickles its body holds a worker's connection: it gets a deadline.
            let read = async {
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
                Ok(body)
            };
            let body = tokio::time::timeout(std::time::Duration::from_millis(limit_ms), read)
                .await
                .map_err(|_| ApiError::BodyTimeout { limit_ms })??
                .freeze();
            let value = parse_within(&body, &shape)?;
            Ok(JsonBody { value, raw: body })
        })
    }
}

/// Deserialise `body`: 400 if it is not JSON, 422 naming the field if it breaks `limits` or does
/// not fit `T`.
pub fn parse_within<T: DeserializeOwned>(body: &[u8], limits: &JsonLimits) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Malformed {
        detail: format!("the body is not valid JSON: {e}"),
    })?;
    check_shape(&value, limits, &mut String::new(), 1)?;
    serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
        let path = e.path().to_string();
        invalid_field(&path, &e.into_inner().to_string())
    })
}

/// Walk `value` and fail on the first part that breaks `limits`, naming it by its path.
fn check_shape(
    value: &Value,
    limits: &JsonLimits,
    path: &mut String,
    depth: usize,
) -> Result<(), ApiError> {
    let here = |path: &String| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    };
    let nested = matches!(value, Value::Array(_) | Value::Object(_));
    if nested && depth > limits.max_depth {
        return Err(ApiError::invalid(
            here(path),
            format!("nests deeper than {} levels", limits.max_depth),
        ));
    }
    match value {
        Value::String(s) if s.len() > limits.max_string_bytes => Err(ApiError::invalid(
            here(path),
            format!("string longer than {} bytes", limits.max_string_bytes),
        )),
        Value::Array(items) => {
            if items.len() > limits.max_array_items {
                return Err(ApiError::invalid(
                    here(path),
                    format!("array longer than {} items", limits.max_array_items),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_shape(item, limits, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if key.len() > limits.max_string_bytes {
                    return Err(ApiError::invalid(
                        here(path),
                        format!("key longer than {} bytes", limits.max_string_bytes),
                    ));
                }
                check_shape(item, limits, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A 422 naming the field a deserialiser stopped at.
pub(crate) fn invalid_field(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message);
    // A value read in two steps (see `ExecutorSpec`'s `Deserialize`) says where inside it.
    if let Some((inner, detail)) = message
        .strip_prefix("at `")
        .and_then(|rest| rest.split_once("`: "))
    {
        let path = match path {
            "." => inner.to_owned(),
            outer => format!("{outer}.{inner}"),
        };
        return ApiError::invalid(field_of(&path, detail), detail);
    }
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
        match parse_within::<NewTask>(body.as_bytes(), &JsonLimits::default()) {
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
        // The role may be left out when the task names its agent: the handler decides.
        assert_eq!(field(r#"{"input":{}}"#), (200, None));
        assert_eq!(
            field(r#"{"agent":"","input":{}}"#),
            (422, Some("agent".into()))
        );
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

    #[test]
    fn bodies_past_the_shape_limits_are_422_naming_the_part() {
        let limits = JsonLimits {
            max_depth: 4,
            max_string_bytes: 8,
            max_array_items: 3,
        };
        let check = |body: &str| match parse_within::<serde_json::Value>(body.as_bytes(), &limits) {
            Ok(_) => None,
            Err(ApiError::Invalid { field, .. }) => Some(field),
            Err(other) => panic!("unexpected {other:?}"),
        };
        assert_eq!(check(r#"{"a":{"b":[{"c":1}]}}"#), None);
        assert_eq!(check(r#"{"a":{"b":[{"c":[1]}]}}"#), Some("a.b[0].c".into()));
        assert_eq!(
            check(r#"{"input":{"s":"123456789"}}"#),
            Some("input.s".into())
        );
        assert_eq!(check(r#"{"args":[1,2,3,4]}"#), Some("args".into()));
        assert_eq!(
            check(r#"{"averyverylongkey":1}"#),
            Some("averyverylongkey".into())
        );
        assert_eq!(check(r#""123456789""#), Some("body".into()));
    }
}
