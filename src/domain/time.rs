//! Timestamps are stored as epoch milliseconds (one representation for SQLite and PostgreSQL) and
//! shown as RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A point in time a client gives, in RFC 3339 (`2026-11-25T10:00:00Z`, fractions allowed),
/// held as epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp(pub i64);

impl TryFrom<String> for Timestamp {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let at = humantime::parse_rfc3339(&s)
            .map_err(|_| format!("{s:?} is not an RFC 3339 time such as 2026-11-25T10:00:00Z"))?;
        // Times before 1970 are as valid as the schema's `date-time` says: negative milliseconds.
        let ms = match at.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Ok(Self(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_rfc3339_and_refuse_anything_else() {
        let t = Timestamp::try_from("2026-11-25T10:00:00.250Z".to_owned()).unwrap();
        assert_eq!(rfc3339(t.0), "2026-11-25T10:00:00.250Z");
        assert!(Timestamp::try_from("yesterday".to_owned()).is_err());
        assert!(Timestamp::try_from("2026-11-25".to_owned()).is_err());
        let early = Timestamp::try_from("0001-01-01T00:00:01Z".to_owned()).unwrap();
        assert!(early.0 < 0, "{}", early.0);
    }
}
