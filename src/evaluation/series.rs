//! Time series in NAB's CSV format: a header, then `timestamp,value` rows in time order.

use std::io::Read;
use std::path::Path;

use anyhow::Context as _;

/// One series: timestamps as written (NAB's are `YYYY-MM-DD HH:MM:SS`, which sort as text) and
/// values.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub timestamps: Vec<String>,
    pub values: Vec<f64>,
}

impl Series {
    pub fn read_path(path: &Path) -> anyhow::Result<Series> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Series::read(file).with_context(|| format!("reading {}", path.display()))
    }

    /// Rows of `timestamp,value` after a header line; a value that is not a number is an error
    /// naming its line.
    pub fn read(input: impl Read) -> anyhow::Result<Series> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        let mut series = Series::default();
        for (n, row) in reader.records().enumerate() {
            let line = n + 2;
            let row = row.with_context(|| format!("line {line}"))?;
            let (Some(timestamp), Some(value)) = (row.get(0), row.get(1)) else {
                anyhow::bail!("line {line}: expected timestamp,value");
            };
            let value: f64 = value
                .trim()
                .parse()
                .with_context(|| format!("line {line}: `{value}` is not a number"))?;
            series.timestamps.push(timestamp.trim().to_owned());
            series.values.push(value);
        }
        Ok(series)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
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
    }
}
