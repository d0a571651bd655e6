//! `trail-etl enrich` against a local stand-in for Athena's JSON protocol
//! (tests/athena/fake_athena.py: no Athena emulator reports statistics),
//! through the real aws-sdk-athena client and --athena-endpoint-url.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;

use crate::util::{bucket, files, root, run, table_rows, StandIn};

struct FakeAthena(StandIn);

impl FakeAthena {
    fn start(extra: &[&str]) -> FakeAthena {
        let history = root().join("tests/athena/history.json");
        let mut args = vec![std::ffi::OsStr::new("--history"), history.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        FakeAthena(StandIn::start(
            "athena/fake_athena.py",
            tempfile::tempdir().unwrap(),
            &args,
        ))
    }

    /// Ids per request received, in order.
    fn requests(&self) -> Vec<usize> {
        self.0
            .requests()
            .iter()
            .map(|r| r["ids"].as_array().unwrap().len())
            .collect()
    }

    fn enrich(&self, dest: &Path) -> serde_json::Value {
        self.enrich_with(dest, &[])
    }

    fn enrich_with(&self, dest: &Path, extra: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_trail-etl"))
            .args(["enrich", "--json", "--dest"])
            .arg(dest)
            .args(extra)
            .args(["--athena-endpoint-url", &self.0.endpoint()])
            .envs(crate::s3server::env())
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(
            out.status.code(),
            Some(summary["exit_code"].as_i64().unwrap() as i32)
        );
        summary
    }
}

#[test]
fn enrich_fetches_statistics_once_and_records_unknown_ids() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), dest.path(), &[]).code, 0);
    // Throttled twice first: the SDK backs off and retries.
    let athena = FakeAthena::start(&["--throttle", "2"]);
    let s = athena.enrich(dest.path());
    assert_eq!(s["exit_code"], 0, "{s}");
    assert_eq!(s["queries_seen"], 9);
    assert_eq!(s["requested"], 9);
    assert_eq!(s["found"], 8);
    assert_eq!(s["unknown"], 1, "the 2017 query is past Athena's retention");
    // One call per region (eu-west-1: 8 ids, us-east-1: 1); the first was throttled twice.
    assert_eq!(athena.requests(), vec![8, 8, 8, 1]);

    let stats = table_rows(dest.path(), "athena_query_stats");
    let all = arrow_select::concat::concat_batches(&stats[0].schema(), &stats).unwrap();
    assert_eq!(all.num_rows(), 8);
    let ids = all
        .column_by_name("query_execution_id")
        .unwrap()
        .as_string::<i32>();
    let bytes = all
        .column_by_name("data_scanned_bytes")
        .unwrap()
        .as_primitive::<arrow_array::types::Int64Type>();
    let query = all.column_by_name("query").unwrap().as_string::<i32>();
    let state = all.column_by_name("state").unwrap().as_string::<i32>();
    let reused = all.column_by_name("result_reused").unwrap().as_boolean();
    let row = |id: &str| (0..all.num_rows()).find(|&i| ids.value(i) == id).unwrap();
    let big = row("a1b2c3d4-1111-4222-8333-000000000005");
    assert_eq!(bytes.value(big), 1_099_511_627_776);
    assert_eq!(query.value(big), "SELECT * FROM sales.orders");
    assert_eq!(
        state.value(row("a1b2c3d4-1111-4222-8333-000000000006")),
        "FAILED"
    );
    assert!(reused.value(row("a1b2c3d4-1111-4222-8333-000000000003")));
    // Partitioned by the day of the StartQueryExecution event.
    let partitions: Vec<String> = files(&dest.path().join("athena_query_stats"))
        .iter()
        .map(|f| f.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        partitions,
        vec![
            "event_date=2026-03-02",
            "event_date=2026-03-03",
            "event_date=2026-03-04"
        ]
    );

    // A second run asks nothing: found and unknown ids are settled.
    let again = athena.enrich(dest.path());
    assert_eq!(again["requested"], 0);
    assert_eq!(again["already_done"], 9);
    assert_eq!(athena.requests().len(), 4);

    // `status` sees no backlog left, and the enrich runs among the last runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trail-etl"))
        .args(["status", "--json", "--dest", dest.path().to_str().unwrap()])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["enrich_backlog"], serde_json::json!({}), "{status}");
    assert_eq!(status["runs"][0]["command"], "enrich");
    assert_eq!(status["runs"][1]["metrics"]["QueriesFound"], 8.0);
}

#[test]
fn unprocessed_ids_are_retried_then_given_up() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), dest.path(), &[]).code, 0);
    let athena = FakeAthena::start(&["--transient", "a1b2c3d4-1111-4222-8333-000000000002"]);
    let first = athena.enrich(dest.path());
    assert_eq!(
        (first["found"].as_u64(), first["unprocessed"].as_u64()),
        (Some(7), Some(1))
    );
    let second = athena.enrich(dest.path());
    assert_eq!(
        (second["requested"].as_u64(), second["unprocessed"].as_u64()),
        (Some(1), Some(1))
    );
    let third = athena.enrich(dest.path());
    assert_eq!(third["gave_up"], 1);
    let fourth = athena.enrich(dest.path());
    assert_eq!(fourth["requested"], 0, "not retried forever");
}

#[test]
fn ids_are_asked_50_at_a_time() {
    let src = tempfile::tempdir().unwrap();
    let folder = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/05");
    std::fs::create_dir_all(&folder).unwrap();
    let mut records = Vec::new();
    for n in 0..120 {
        records.push(format!(
            r#"{{"eventTime":"2026-03-05T10:00:00Z","eventSource":"athena.amazonaws.com","eventName":"StartQueryExecution","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"q-{n}","requestParameters":{{"queryString":"***OMITTED***"}},"responseElements":{{"queryExecutionId":"00000000-0000-4000-8000-{n:012}"}}}}"#
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!(r#"{{"Records":[{}]}}"#, records.join(",")).as_bytes())
        .unwrap();
    std::fs::write(
        folder.join("111122223333_CloudTrail_us-east-1_20260305T1000Z_many.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(src.path(), dest.path(), &[]).code, 0);
    let athena = FakeAthena::start(&[]);
    let s = athena.enrich(dest.path());
    assert_eq!(s["exit_code"], 0, "{s}");
    assert_eq!(s["unknown"], 120);
    assert_eq!(athena.requests(), vec![50, 50, 20]);
}

#[test]
fn run_with_enrich_does_both() {
    let dest = tempfile::tempdir().unwrap();
    let athena = FakeAthena::start(&[]);
    let endpoint = athena.0.endpoint();
    let args = vec![
        "--enrich".to_string(),
        "--athena-endpoint-url".to_string(),
        endpoint,
    ];
    let env = crate::s3server::env();
    let out = crate::util::run_at(
        &bucket().to_string_lossy(),
        &dest.path().to_string_lossy(),
        &args,
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.summary["enrich"]["found"], 8);
    assert_eq!(files(&dest.path().join("athena_query_stats")).len(), 3);
}

#[test]
fn enrich_reads_only_the_partitions_in_range_and_its_table_compacts() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), dest.path(), &[]).code, 0);
    let athena = FakeAthena::start(&[]);
    let s = athena.enrich_with(dest.path(), &["--start", "2026-01-01"]);
    assert_eq!(s["exit_code"], 0, "{s}");
    assert_eq!(s["queries_seen"], 8, "the 2017 partition is not read");
    assert_eq!(s["found"], 8);
    // The rest later: only the 2017 query is new.
    let s = athena.enrich(dest.path());
    assert_eq!(
        (s["already_done"].as_u64(), s["requested"].as_u64()),
        (Some(8), Some(1))
    );
    let before = table_rows(dest.path(), "athena_query_stats")
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    let out = Command::new(env!("CARGO_BIN_EXE_trail-etl"))
        .args(["compact", "--json", "--dest"])
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stats = crate::util::files(&dest.path().join("athena_query_stats"));
    assert!(stats.iter().all(|f| f.contains("/compact-")), "{stats:?}");
    let after = table_rows(dest.path(), "athena_query_stats")
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    assert_eq!(before, after);
}
