//! `--metrics emf` against CloudWatch's Embedded Metric Format
//! specification, and `trail-etl status` over the records and listings the
//! commands leave.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{bucket, copy_tree};

/// CloudWatch's units, as the EMF specification lists them.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Every rule of the EMF specification's root node, metadata and metric
/// directives: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
fn check_emf(line: &str) -> Value {
    assert!(!line.contains('\n'), "one line");
    let root: Value = serde_json::from_str(line).expect("EMF is a JSON object");
    let obj = root.as_object().expect("the root is an object");
    let aws = obj["_aws"].as_object().expect("_aws is an object");
    let ts = aws["Timestamp"]
        .as_i64()
        .expect("Timestamp: ms since the epoch, an integer");
    assert!(ts > 1_600_000_000_000, "Timestamp in milliseconds");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for d in directives {
        let ns = d["Namespace"].as_str().expect("Namespace is a string");
        assert!((1..=255).contains(&ns.len()) && !ns.trim().is_empty());
        let sets = d["Dimensions"]
            .as_array()
            .expect("Dimensions: an array of dimension sets");
        for set in sets {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(set.len() <= 30, "at most 30 dimensions in a set");
            for dim in set {
                let name = dim.as_str().expect("dimension names are strings");
                let value = obj[name].as_str().unwrap_or_else(|| {
                    panic!("dimension {name}: a root member whose value is a string")
                });
                assert!((1..=1024).contains(&value.len()));
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics is an array");
        assert!(metrics.len() <= 100, "at most 100 metrics");
        let mut names = BTreeSet::new();
        for m in metrics {
            let name = m["Name"].as_str().expect("Name is a string");
            assert!((1..=255).contains(&name.len()));
            assert!(names.insert(name), "metric {name} defined once");
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
            if let Some(r) = m.get("StorageResolution") {
                assert!(r == 1 || r == 60);
            }
            match &obj[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(values.len() <= 100 && values.iter().all(Value::is_number))
                }
                other => panic!("metric {name}: a number, not {other}"),
            }
        }
    }
    root
}

fn trail(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trail-etl"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TRAIL_NOW_MS")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn emf_of(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with("{\"_aws\""))
        .unwrap_or_else(|| panic!("no EMF line in {stdout}"));
    check_emf(line)
}

fn status(dest: &Path) -> Value {
    let (code, out, err) = trail(&["status", "--dest", dest.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The newest `eventTime` in the example bucket's events.
const NEWEST: &str = "2026-03-04T10:06:00.000Z";

#[test]
fn emf_lines_follow_the_specification_and_status_reads_what_the_commands_left() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("bucket");
    copy_tree(&bucket(), &source);
    let dest = tmp.path().join("lake");
    let (s, d) = (source.to_str().unwrap(), dest.to_str().unwrap());

    // run: the numbers of its summary, the lag from the newest event.
    let (code, out, err) = trail(&["run", "--source", s, "--dest", d, "--metrics", "emf", "-q"]);
    assert_eq!(code, 0, "{err}");
    let emf = emf_of(&out);
    assert_eq!(emf["Command"], "run");
    assert_eq!(emf["Shard"], "0/1");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Command", "Shard"]])
    );
    assert_eq!(emf["ObjectsRead"], 36.0);
    assert_eq!(emf["Records"], 70.0);
    assert_eq!(emf["RowsTableAccess"], 18.0);
    assert_eq!(emf["RowsAthenaQueries"], 10.0);
    assert_eq!(emf["BadObjects"], 0.0);
    let newest = chrono::DateTime::parse_from_rfc3339(NEWEST)
        .unwrap()
        .timestamp_millis();
    let lag = emf["Lag"].as_f64().unwrap();
    let expected = (emf["_aws"]["Timestamp"].as_i64().unwrap() - newest) as f64 / 1000.0;
    assert!((lag - expected).abs() < 0.01, "{lag} vs {expected}");

    // compact and verify print theirs; a shard says which it is.
    let (code, out, err) = trail(&["compact", "--dest", d, "--metrics", "emf", "-q"]);
    assert_eq!(code, 0, "{err}");
    let emf = emf_of(&out);
    assert_eq!(emf["Command"], "compact");
    assert!(emf["FilesMerged"].as_f64().unwrap() > 0.0);
    let (code, out, err) = trail(&[
        "verify",
        "--source",
        s,
        "--dest",
        d,
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-05",
        "--metrics",
        "emf",
    ]);
    assert_eq!(code, 0, "{err}\n{out}");
    let emf = emf_of(&out);
    assert_eq!(
        (emf["Command"].as_str(), emf["Problems"].as_f64()),
        (Some("verify"), Some(0.0))
    );
    assert!(emf["DigestsChecked"].as_f64().unwrap() >= 1.0);

    // A second delivery of one object (another key, same day) and a bad
    // object: a run that reads them has a partition to compact, a bad
    // object counted, exit 3, and still knows the newest event.
    let day = source.join("AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1/2026/03/02");
    std::fs::copy(
        day.join("210987654321_CloudTrail_eu-west-1_20260302T1250Z_AthenaQueries04.json.gz"),
        day.join("210987654321_CloudTrail_eu-west-1_20260302T1250Z_AthenaQueries04again.json.gz"),
    )
    .unwrap();
    std::fs::write(
        day.join("210987654321_CloudTrail_eu-west-1_20260302T1255Z_Broken.json.gz"),
        b"not gzip",
    )
    .unwrap();
    let (code, out, err) = trail(&[
        "run",
        "--source",
        s,
        "--dest",
        d,
        "--metrics",
        "emf",
        "--shard",
        "0/1",
        "-q",
    ]);
    assert_eq!(code, 3, "{err}");
    let emf = emf_of(&out);
    assert_eq!(
        (emf["ObjectsRead"].as_f64(), emf["BadObjects"].as_f64()),
        (Some(2.0), Some(1.0))
    );
    assert!(emf["Lag"].as_f64().unwrap() > 0.0);

    // A run interrupted before committing leaves its manifest.
    std::fs::write(
        dest.join("_trail/runs/run-0000000000000000-s0of1.pending.json"),
        "{}",
    )
    .unwrap();

    let st = status(&dest);
    assert_eq!(st["exit_code"], 0);
    assert_eq!(st["newest_event_time"], NEWEST);
    assert!(st["lag_seconds"].as_f64().unwrap() > 0.0);
    let runs: Vec<(&str, i64)> = st["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap(),
                r["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [("run", 3), ("verify", 0), ("compact", 0), ("run", 0)],
        "newest first"
    );
    assert_eq!(st["runs"][0]["metrics"]["BadObjects"], 1.0);
    assert_eq!(
        st["unfinished"],
        serde_json::json!(["_trail/runs/run-0000000000000000-s0of1.pending.json"])
    );
    // The last 7 delivery days: 2026-03-02 now holds one object more.
    let days = st["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let march2 = days.iter().find(|d| d["day"] == "2026-03-02").unwrap();
    assert_eq!(
        (march2["objects"].as_u64(), march2["records"].as_u64()),
        (Some(4), Some(21 + 3)),
        "the copy holds 3 records"
    );
    // The second delivery added a file to the partitions of its events.
    let tables = st["tables"].as_array().unwrap();
    let queries = tables
        .iter()
        .find(|t| t["table"] == "athena_queries")
        .unwrap();
    assert_eq!(
        queries["need_compaction"],
        serde_json::json!([["event_date=2026-03-02", 2]])
    );
    // Nine query ids ingested (one call was rejected: no id), and the three of
    // the object delivered twice again; none enriched yet.
    let backlog: u64 = st["enrich_backlog"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(backlog, 9 + 3);

    // The human form says the same.
    let (code, text, _) = trail(&["status", "--dest", d, "--days", "2"]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!("newest event ingested: {NEWEST}")),
        "{text}"
    );
    assert!(
        text.contains("athena_queries/event_date=2026-03-02: 2 files"),
        "{text}"
    );
    assert!(text.contains("unfinished"), "{text}");

    // Status never reads the Parquet: with every data file emptied it says the same.
    for table in ["events", "table_access", "athena_queries"] {
        for f in crate::util::files(&dest.join(table)) {
            std::fs::write(dest.join(table).join(f), b"").unwrap();
        }
    }
    let again = status(&dest);
    assert_eq!(again["newest_event_time"], st["newest_event_time"]);
    assert_eq!(again["days"], st["days"]);
}

#[test]
fn status_of_an_empty_destination_says_nothing_is_known() {
    let tmp = tempfile::tempdir().unwrap();
    let st = status(tmp.path());
    assert_eq!(st["exit_code"], 0);
    assert!(st.get("newest_event_time").is_none());
    assert_eq!(st["runs"], serde_json::json!([]));
    let (code, text, _) = trail(&["status", "--dest", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("newest event ingested: unknown"), "{text}");
}
