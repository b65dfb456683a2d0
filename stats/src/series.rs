//! Time series in NAB's CSV format: a header, then `timestamp,value` rows in time order.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a series could not be read; a bad row names its line (the header is line 1).
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("cannot read {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    In {
        path: PathBuf,
        #[source]
        source: Box<SeriesError>,
    },
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

/// One series: timestamps as written (NAB's are `YYYY-MM-DD HH:MM:SS`, which sort as text) and
/// values.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub timestamps: Vec<String>,
    pub values: Vec<f64>,
}

impl Series {
    pub fn read_path(path: &Path) -> Result<Series, SeriesError> {
        let file = std::fs::File::open(path).map_err(|source| SeriesError::Open {
            path: path.to_owned(),
            source,
        })?;
        Series::read(file).map_err(|source| SeriesError::In {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Rows of `timestamp,value` after a header line; a value that is not a number is an error
    /// naming its line.
    pub fn read(input: impl Read) -> Result<Series, SeriesError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        let mut series = Series::default();
        for (n, row) in reader.records().enumerate() {
            let line = n + 2;
            let bad = |reason: String| SeriesError::Line { line, reason };
            let row = row.map_err(|e| bad(e.to_string()))?;
            let (Some(timestamp), Some(value)) = (row.get(0), row.get(1)) else {
                return Err(bad("expected timestamp,value".into()));
            };
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{value}` is not a number")))?;
            series.timestamps.push(timestamp.trim().to_owned());
            series.values.push(value);
        }
        Ok(series)
    }

    /// The sampling interval in seconds: the median gap between the first rows' timestamps
    /// (`YYYY-MM-DD HH:MM:SS`, or seconds as a number); `None` if they are neither.
    pub fn step_s(&self) -> Option<f64> {
        let times: Vec<f64> = self
            .timestamps
            .iter()
            .take(101)
            .map(|t| seconds(t))
            .collect::<Option<_>>()?;
        let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        if gaps.is_empty() {
            return None;
        }
        let median = crate::window::median_in_place(&mut gaps);
        (median > 0.0).then_some(median)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Seconds since 1970 of `YYYY-MM-DD HH:MM:SS` (fractions of a second ignored), or of a plain
/// number of seconds.
pub fn seconds(t: &str) -> Option<f64> {
    let t = t.trim();
    if let Ok(s) = t.parse::<f64>() {
        return Some(s);
    }
    let (date, time) = t.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = time
        .split('.')
        .next()?
        .split(':')
        .map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (c.next()??, c.next()??, c.next().flatten().unwrap_or(0));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_after_the_header_and_a_bad_value_names_its_line() {
        let series = Series::read(
            "timestamp,value\n2014-01-01 00:00:00,1.5\n2014-01-01 00:05:00,2\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(series.values, [1.5, 2.0]);
        assert_eq!(series.timestamps[1], "2014-01-01 00:05:00");
        let err = Series::read("timestamp,value\nt,1\nt,x\n".as_bytes()).unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
        assert_eq!(series.step_s(), Some(300.0));
        assert_eq!(seconds("1970-01-02 00:00:01"), Some(86_401.0));
        assert_eq!(seconds("2014-03-01 00:00:00"), Some(1_393_632_000.0));
    }
}
