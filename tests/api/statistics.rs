//! `hive detect` and `hive forecast` as scripts use them: NAB-format CSV in, one output row per
//! input row, each from that row and earlier ones only.

use std::path::Path;
use std::process::Output;

fn hive(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("hive runs")
}

fn stdout_rows(output: &Output) -> Vec<Vec<String>> {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// A quiet series with one spike, as NAB writes it.
fn write_series(path: &Path, values: &[f64]) {
    let mut text = String::from("timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        text.push_str(&format!("2026-01-01 {:02}:{:02}:00,{v}\n", i / 60, i % 60));
    }
    std::fs::write(path, text).unwrap();
}

fn quiet_with_spike(n: usize, spike_at: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if i == spike_at {
                60.0
            } else {
                10.0 + ((i * 7919) % 13) as f64 / 13.0
            }
        })
        .collect()
}

#[test]
fn detect_scores_every_row_in_unit_range_and_the_spike_highest_without_look_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (full, prefix) = (dir.path().join("full.csv"), dir.path().join("prefix.csv"));
    let values = quiet_with_spike(400, 300);
    write_series(&full, &values);
    write_series(&prefix, &values[..320]);

    let rows = stdout_rows(&hive(&["detect", "--input", full.to_str().unwrap()]));
    assert_eq!(rows[0], ["timestamp", "value", "anomaly_score"]);
    assert_eq!(rows.len(), 401);
    let scores: Vec<f64> = rows[1..].iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(scores.iter().all(|s| (0.0..1.0).contains(s)), "{scores:?}");
    let top = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert_eq!(top, 300);
    assert_eq!(rows[301][0], "2026-01-01 05:00:00");

    // The rows a shorter file shares with the longer one score the same: no row saw the future.
    let shorter = stdout_rows(&hive(&["detect", "--input", prefix.to_str().unwrap()]));
    assert_eq!(shorter[..], rows[..321]);
}

#[test]
fn forecast_writes_the_value_horizon_rows_later_with_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.csv");
    let line: Vec<f64> = (0..200).map(|i| 5.0 + 0.5 * i as f64).collect();
    write_series(&path, &line);

    let rows = stdout_rows(&hive(&[
        "forecast",
        "--input",
        path.to_str().unwrap(),
        "--horizon",
        "10",
    ]));
    assert_eq!(
        rows[0],
        ["timestamp", "value", "forecast", "lower", "upper"]
    );
    assert_eq!(rows.len(), 201);
    // Too few rows to fit on at first: the forecast cells stay empty.
    assert_eq!(rows[1][2..], ["", "", ""]);
    for (i, row) in rows.iter().enumerate().skip(1).filter(|(i, _)| *i > 20) {
        let [forecast, lower, upper] =
            [&row[2], &row[3], &row[4]].map(|c| c.parse::<f64>().unwrap());
        let expected = 5.0 + 0.5 * (i - 1 + 10) as f64;
        assert!(
            (forecast - expected).abs() < 1e-3,
            "row {i}: {forecast} vs {expected}"
        );
        assert!(lower <= forecast && forecast <= upper, "row {i}: {row:?}");
    }
}

#[test]
fn a_value_that_is_not_a_number_fails_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(
        &path,
        "timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:01:00,abc\n",
    )
    .unwrap();
    for command in ["detect", "forecast"] {
        let mut args = vec![command, "--input", path.to_str().unwrap()];
        if command == "forecast" {
            args.extend(["--horizon", "1"]);
        }
        let output = hive(&args);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("line 3") && stderr.contains("abc"),
            "{stderr}"
        );
    }
}
