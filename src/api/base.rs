//! What every route shares: the API's base path and its pages.

use serde::Deserialize;

/// Every route of the API is under this path.
pub const API: &str = "/api/v1";

/// Page size of list endpoints: 1 to 1,000, 100 by default.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "usize")]
pub struct Limit(pub usize);

// Written by hand: the derive cannot put bounds on a newtype, and clients (and fuzzers) should
// see the 1–1,000 range.
impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(1000))
            .default(Some(100.into()))
            .into()
    }
}

impl utoipa::ToSchema for Limit {}

impl TryFrom<usize> for Limit {
    type Error = String;

    fn try_from(v: usize) -> Result<Self, String> {
        if (1..=1000).contains(&v) {
            Ok(Self(v))
        } else {
            Err("limit must be between 1 and 1000".into())
        }
    }
}

/// Rows come fetched with `limit + 1`: the extra one only says that there is a next page, whose
/// cursor is the id of this page's last row.
pub(crate) fn paginate<T>(
    mut rows: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(id) } else { None };
    (rows, next_cursor)
}

impl Default for Limit {
    fn default() -> Self {
        Self(100)
    }
}
