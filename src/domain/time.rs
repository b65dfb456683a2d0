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
        let invalid = || format!("{s:?} is not an RFC 3339 time such as 2026-11-25T10:00:00Z");
        let at = match humantime::parse_rfc3339(&s) {
            Ok(at) => at,
            // A valid time before 1970 (which the parser does not represent) is as good as the
            // schema's `date-time` says: it lies before every task, as -1 ms does.
            Err(_) if before_1970(&s) => return Ok(Self(-1)),
            Err(_) => return Err(invalid()),
        };
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| invalid())?
            .as_millis();
        Ok(Self(i64::try_from(ms).unwrap_or(i64::MAX)))
    }
}

/// Whether `s` is a well-formed RFC 3339 time of a year before 1970.
fn before_1970(s: &str) -> bool {
    let Some(year) = s.get(..4).and_then(|y| y.parse::<u16>().ok()) else {
        return false;
    };
    year < 1970 && humantime::parse_rfc3339(&format!("1970{}", &s[4..])).is_ok()
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
