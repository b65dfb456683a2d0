//! The query-string extractor: like the JSON one, it names the parameter at fault (`limit`,
//! `status`), which actix's own `Query` cannot.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures::future::{ready, Ready};
use serde::de::DeserializeOwned;

use super::json::invalid_field;
use super::problem::ApiError;

pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
            req.query_string().as_bytes(),
        ));
        ready(
            serde_path_to_error::deserialize(pairs)
                .map(Query)
                .map_err(|e| query_error(&e.path().to_string(), &e.inner().to_string())),
        )
    }
}

/// A query's error names its parameter: serde reports a repeated one at the top level, where a
/// body's error would name the body.
fn query_error(path: &str, message: &str) -> ApiError {
    let repeated = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next());
    match (path, repeated) {
        (".", Some(name)) => ApiError::invalid(name, format!("{name} is given more than once")),
        (".", None) => ApiError::invalid("query", message.to_owned()),
        _ => invalid_field(path, message),
    }
}
