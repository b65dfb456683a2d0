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
                .map_err(|e| invalid_field(&e.path().to_string(), &e.inner().to_string())),
        )
    }
}
