//! Reading the domain's types out of parsed JSON as `serde_json` does, except that a struct is
//! read only from an object.
//!
//! serde's derived `Deserialize` for a struct also takes an array of its fields in order, so
//! `[{"op":"echo"}]` would be read as a message whose `input` is `{"op":"echo"}`. No client means
//! that, and the API's document says every body is an object: a body (or any struct inside it)
//! sent as an array must be refused, naming where, like any other wrong type.

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{DeserializeOwned, Error as _, IntoDeserializer, Unexpected, Visitor};
use serde::{forward_to_deserialize_any, Deserializer};
use serde_json::{Map, Value};

pub use serde::de::value::Error;

/// A parsed JSON value to read a type from, structs only from objects.
pub struct Strict(pub Value);

/// `T` read from `value`; the error names what was wrong but not where (see
/// `serde_path_to_error` for that, which wraps [`Strict`] as any deserialiser).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Strict(value))
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// An object's entries, each value read as [`Strict`] in its turn.
fn entries<'de>(
    fields: Map<String, Value>,
) -> MapDeserializer<'de, impl Iterator<Item = (String, Strict)>, Error> {
    MapDeserializer::new(fields.into_iter().map(|(k, v)| (k, Strict(v))))
}

impl<'de> IntoDeserializer<'de, Error> for Strict {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Strict {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                _ => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(Strict));
                let read = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(read)
            }
            Value::Object(fields) => {
                let mut map = entries(fields);
                let read = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(read)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            ref other => Err(Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// As `serde_json`: a unit variant is its name, any other variant an object of one entry.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(name.into_deserializer()),
            Value::Object(fields) if fields.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(entries(fields)))
            }
            ref other => Err(Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        memory_mb: Option<u32>,
        #[serde(default)]
        nice: i8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow { factor: f64 },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        name: String,
        limits: Limits,
        items: Vec<Limits>,
        mode: Mode,
        any: Value,
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let value = json!({
            "name": "w",
            "limits": {"memory_mb": 64, "nice": -3},
            "items": [{"memory_mb": null}],
            "mode": {"slow": {"factor": 1.5}},
            "any": [1, {"a": [true, null]}, "x", -2, 2.5],
        });
        let strict: Body = from_value(value.clone()).unwrap();
        let loose: Body = serde_json::from_value(value).unwrap();
        assert_eq!(strict, loose);
        assert_eq!(from_value::<Mode>(json!("fast")).unwrap(), Mode::Fast);
    }

    #[test]
    fn a_struct_is_never_read_from_an_array() {
        assert!(serde_json::from_value::<Limits>(json!([64])).is_ok());
        let e = from_value::<Limits>(json!([64])).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid type: sequence, expected struct Limits"),
            "{e}"
        );
        let nested = json!({"name": "w", "limits": [64, 1], "items": [], "mode": "fast", "any": 0});
        let e = serde_path_to_error::deserialize::<_, Body>(Strict(nested)).unwrap_err();
        assert_eq!(e.path().to_string(), "limits");
        let inside = json!({"name": "w", "limits": {}, "items": [[1]], "mode": "fast", "any": 0});
        let e = serde_path_to_error::deserialize::<_, Body>(Strict(inside)).unwrap_err();
        assert_eq!(e.path().to_string(), "items[0]");
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_errors_as_in_serde_json() {
        let e = from_value::<Limits>(json!({"memory_mb": "x"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: string \"x\", expected u32",
            "the message a client reads"
        );
        assert!(from_value::<Limits>(json!({"memory_mb": -1})).is_err());
        assert!(from_value::<Limits>(json!({"nice": 300})).is_err());
        assert!(from_value::<Limits>(json!({"colour": 1})).is_err());
        assert!(from_value::<Mode>(json!({"fast": null, "slow": {}})).is_err());
    }
}
