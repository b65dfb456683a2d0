//! `hive detect`, `hive forecast` and `hive predict` as scripts use them: NAB-format CSV in, one output row per
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
    // The monitor's forecaster believes the naive forecast until others have shown, out of
    // sample, that they do better: on the first row the forecast is the value itself.
    assert_eq!(rows[1][2..], ["5.000000", "5.000000", "5.000000"]);
    for (i, row) in rows.iter().enumerate().skip(150) {
        let [forecast, lower, upper] =
            [&row[2], &row[3], &row[4]].map(|c| c.parse::<f64>().unwrap());
        let expected = 5.0 + 0.5 * (i - 1 + 10) as f64;
        // The naive forecast is 5 short ten rows up a line; the trend has been believed by now.
        assert!(
            (forecast - expected).abs() < 1.5,
            "row {i}: {forecast} vs {expected}"
        );
        assert!(lower <= forecast && forecast <= upper, "row {i}: {row:?}");
    }
}

#[test]
fn predict_warns_of_a_climb_to_the_limit_before_it_and_refuses_an_irregular_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("depth.csv");
    // Seconds as timestamps: calm, a climb of 10 a second from 50 to the limit of 1,000.
    let mut values = vec![50.0; 200];
    values.extend((0..100).map(|i| 50.0 + 10.0 * f64::from(i)));
    let text: String = std::iter::once("timestamp,value\n".to_owned())
        .chain(values.iter().enumerate().map(|(t, v)| format!("{t},{v}\n")))
        .collect();
    std::fs::write(&path, &text).unwrap();
    let rows = stdout_rows(&hive(&[
        "predict",
        "--input",
        path.to_str().unwrap(),
        "--limit",
        "1000",
    ]));
    assert_eq!(
        rows[0],
        [
            "timestamp",
            "value",
            "time_to_breach_s",
            "confidence",
            "warning"
        ]
    );
    assert_eq!(rows.len(), 301);
    let first = rows[1..]
        .iter()
        .position(|r| r[4] == "1")
        .expect("a warning");
    let breach = values
        .iter()
        .position(|v| *v >= 1000.0)
        .unwrap_or(values.len());
    assert!(
        (10..=30).contains(&(breach - first)),
        "warned {} s ahead",
        breach - first
    );
    assert!(rows[1..200].iter().all(|r| r[4] == "0" && r[2].is_empty()));

    let gap = dir.path().join("gap.csv");
    std::fs::write(&gap, "timestamp,value\n0,1\n1,2\n5,3\n").unwrap();
    let output = hive(&["predict", "--input", gap.to_str().unwrap(), "--limit", "10"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 4") && stderr.contains("interval"),
        "{stderr}"
    );
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
    for command in ["detect", "forecast", "predict"] {
        let mut args = vec![command, "--input", path.to_str().unwrap()];
        if command == "forecast" {
            args.extend(["--horizon", "1"]);
        }
        if command == "predict" {
            args.extend(["--limit", "10"]);
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
