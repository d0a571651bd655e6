//! `trail-etl run` against a real S3-compatible server (s3s-fs on 127.0.0.1):
//! the same tables as a local run, pagination, organization layout, date
//! bounds, late files found by --lookback, idempotent re-runs, resuming after
//! a kill, and shards.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::s3server::{env, S3Server};
use crate::util::{bucket, canonical, command, files, row_ids, run, run_at, Outcome};

fn run_s3(server: &S3Server, source: &str, dest: &str, extra: &[&str]) -> Outcome {
    let mut args = server.args();
    args.extend(extra.iter().map(|s| s.to_string()));
    run_at(source, dest, &args, &env())
}

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// A one-record CloudTrail object for `day` (YYYY/MM/DD) with a unique event id.
fn tiny_object(dir: &Path, day: &str, n: usize) {
    let folder = dir.join(format!("AWSLogs/111122223333/CloudTrail/us-east-1/{day}"));
    std::fs::create_dir_all(&folder).unwrap();
    let date = day.replace('/', "-");
    let name = format!(
        "111122223333_CloudTrail_us-east-1_{}T0000Z_{n:016}.json.gz",
        day.replace('/', "")
    );
    let doc = format!(
        r#"{{"Records":[{{"eventVersion":"1.11","eventTime":"{date}T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"tiny-{n}","userIdentity":{{"type":"IAMUser","userName":"u{n}"}}}}]}}"#
    );
    std::fs::write(folder.join(name), gz(&doc)).unwrap();
}

#[test]
fn s3_to_s3_gives_the_same_tables_as_local() {
    let server = S3Server::start(&["trail-logs", "lake"]);
    server.seed("trail-logs", "cloudtrail", &bucket());
    let out = run_s3(
        &server,
        "s3://trail-logs/cloudtrail",
        "s3://lake/tables",
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.summary["rows"]["events"], 70);

    let local = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), local.path(), &[]).code, 0);
    let remote = server.bucket_dir("lake").join("tables");
    for table in ["events", "table_access", "athena_queries"] {
        assert_eq!(
            canonical(&remote, table),
            canonical(local.path(), table),
            "{table}"
        );
    }

    // Idempotent: a second run reads and writes nothing.
    let before = files(&remote.join("events"));
    let again = run_s3(
        &server,
        "s3://trail-logs/cloudtrail",
        "s3://lake/tables",
        &[],
    );
    assert_eq!(again.code, 0);
    assert_eq!(again.summary["objects_read"], 0);
    assert_eq!(files(&remote.join("events")), before);
}

#[test]
fn listing_pages_past_1000_keys_and_honours_bounds() {
    let server = S3Server::start(&["big"]);
    let dir = server.bucket_dir("big");
    for n in 0..1100 {
        tiny_object(&dir, "2026/02/10", n);
    }
    tiny_object(&dir, "2026/02/11", 5000);
    tiny_object(&dir, "2026/02/12", 5001);
    server.seed("big", "", &bucket());

    let bounded = run_s3(
        &server,
        "s3://big",
        "s3://big/out",
        &["--start", "2026-02-10", "--end", "2026-02-11", "--dry-run"],
    );
    assert_eq!(bounded.code, 0, "{}", bounded.stderr);
    assert_eq!(bounded.summary["objects_read"], 1101);

    let org = run_s3(
        &server,
        "s3://big",
        "s3://big/out",
        &["--org-id", "o-exampleorg1", "--dry-run"],
    );
    assert_eq!(org.summary["objects_read"], 5);

    let all = run_s3(
        &server,
        "s3://big",
        "s3://big/out",
        &["--accounts", "111122223333"],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    let ids = row_ids(&server.bucket_dir("big").join("out"), "events");
    assert_eq!(
        ids.keys().filter(|(k, _)| k.contains("2026/02/10")).count(),
        1100
    );
    assert!(ids.values().all(|&n| n == 1));
}

#[test]
fn lookback_finds_late_files() {
    let server = S3Server::start(&["trail"]);
    let dir = server.bucket_dir("trail");
    let today = chrono::Utc::now().date_naive();
    let day = |d: u64| {
        (today - chrono::Days::new(d))
            .format("%Y/%m/%d")
            .to_string()
    };
    tiny_object(&dir, &day(0), 1);
    tiny_object(&dir, &day(10), 2); // older than the lookback: not listed
    let first = run_s3(
        &server,
        "s3://trail",
        "s3://trail/tables",
        &["--lookback", "2"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.summary["objects_read"], 1);

    // A file for yesterday arrives after the run: the next scheduled run picks it up.
    tiny_object(&dir, &day(1), 3);
    let second = run_s3(
        &server,
        "s3://trail",
        "s3://trail/tables",
        &["--lookback", "2"],
    );
    assert_eq!(second.summary["objects_read"], 1);
    assert_eq!(second.summary["objects_skipped"]["already_done"], 1);
    assert_eq!(row_ids(&dir.join("tables"), "events").len(), 2);
}

#[test]
fn shards_over_s3_cover_everything_exactly_once() {
    let server = S3Server::start(&["trail"]);
    server.seed("trail", "", &bucket());
    let a = run_s3(
        &server,
        "s3://trail",
        "s3://trail/tables",
        &["--shard", "0/2"],
    );
    let mut env = env();
    env.push(("AWS_BATCH_JOB_ARRAY_INDEX", "1"));
    let mut args = server.args();
    args.extend(["--shards".to_string(), "2".to_string()]);
    let b = run_at("s3://trail", "s3://trail/tables", &args, &env);
    assert_eq!((a.code, b.code), (0, 0), "{} {}", a.stderr, b.stderr);
    assert!(a.summary["run_id"].as_str().unwrap().ends_with("s0of2"));
    assert!(b.summary["run_id"].as_str().unwrap().ends_with("s1of2"));
    let ids = row_ids(&server.bucket_dir("trail").join("tables"), "events");
    assert_eq!(ids.len(), 70);
    assert!(ids.values().all(|&n| n == 1));
}

#[test]
fn a_run_killed_midway_loses_and_duplicates_nothing() {
    let server = S3Server::start(&["trail"]);
    let dir = server.bucket_dir("trail");
    for n in 0..400 {
        tiny_object(&dir, &format!("2026/01/{:02}", 1 + n % 28), n);
    }
    server.seed("trail", "", &bucket());
    let clean = tempfile::tempdir().unwrap();
    assert_eq!(run(&dir, clean.path(), &[]).code, 0);

    let mut args = server.args();
    args.extend([
        "--threads".to_string(),
        "1".to_string(),
        "--concurrency".to_string(),
        "2".to_string(),
    ]);
    let runs = dir.join("tables/_trail/runs");
    let spawn = || {
        command("s3://trail", "s3://trail/tables", &args, &env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Killed while fetching and decoding.
    for delay in [Duration::from_millis(300), Duration::from_millis(1500)] {
        let mut child = spawn();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
    }
    // Killed while publishing: as soon as the run's pending manifest appears,
    // before its ledger commit.
    let mut caught = 0;
    for _ in 0..2 {
        let mut child = spawn();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if !files(&runs).is_empty() {
                let _ = child.kill();
                let _ = child.wait();
                caught += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(
        caught > 0,
        "no kill landed between publishing and committing"
    );
    assert!(!files(&runs).is_empty(), "the killed run left its manifest");
    let last = run_s3(&server, "s3://trail", "s3://trail/tables", &[]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let tables = dir.join("tables");
    for table in ["events", "table_access", "athena_queries"] {
        assert_eq!(
            canonical(&tables, table),
            canonical(clean.path(), table),
            "{table}"
        );
    }
    // Nothing half-written or uncommitted is left where Athena looks.
    for f in files(&tables) {
        assert!(f.starts_with("_trail/") || f.ends_with(".parquet"), "{f}");
    }
    assert!(files(&tables.join("_trail/runs")).is_empty());
}

/// A fault-injecting proxy (tests/faults/fault_proxy.py) between trail-etl and s3s-fs.
struct FaultProxy {
    child: std::process::Child,
    port: u16,
}

impl FaultProxy {
    fn start(upstream: &S3Server, extra: &[&str]) -> FaultProxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .arg(crate::util::root().join("tests/faults/fault_proxy.py"))
            .args([
                "--port",
                &port.to_string(),
                "--upstream",
                &upstream.endpoint(),
            ])
            .args(extra)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "fault proxy did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        FaultProxy { child, port }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--endpoint-url".into(),
            format!("http://127.0.0.1:{}", self.port),
            "--force-path-style".into(),
        ]
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn s3_faults_are_retried_and_every_record_lands_once() {
    let server = S3Server::start(&["trail", "lake"]);
    server.seed("trail", "", &bucket());
    let proxy = FaultProxy::start(&server, &[]);
    // Every object: 503 SlowDown, then a reset connection, then a body cut in half, then slow answers.
    let out = run_at("s3://trail", "s3://lake/tables", &proxy.args(), &env());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let local = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), local.path(), &[]).code, 0);
    let remote = server.bucket_dir("lake").join("tables");
    for table in ["events", "table_access", "athena_queries"] {
        assert_eq!(
            canonical(&remote, table),
            canonical(local.path(), table),
            "{table}"
        );
    }
}

#[test]
fn an_object_that_cannot_be_read_is_reported_and_the_rest_lands() {
    let server = S3Server::start(&["trail", "lake"]);
    server.seed("trail", "", &bucket());
    let proxy = FaultProxy::start(&server, &["--broken", "LateDelivery02"]);
    let out = run_at("s3://trail", "s3://lake/tables", &proxy.args(), &env());
    assert_eq!(out.code, 3, "{}", out.stderr);
    let bad = &out.summary["bad_objects"];
    assert_eq!(bad.as_array().unwrap().len(), 1, "{bad}");
    assert!(bad[0]["key"]
        .as_str()
        .unwrap()
        .ends_with("LateDelivery02.json.gz"));
    let reason = bad[0]["reason"].as_str().unwrap();
    assert!(reason.contains("4 attempts"), "{reason}");
    assert_eq!(out.summary["rows"]["events"], 70 - 5);
    // Still not in the ledger: the next run (faults gone) reads it and nothing else.
    let again = run_s3(&server, "s3://trail", "s3://lake/tables", &[]);
    assert_eq!(
        (again.code, again.summary["objects_read"].as_u64()),
        (0, Some(1))
    );
    assert_eq!(
        row_ids(&server.bucket_dir("lake").join("tables"), "events").len(),
        70
    );
}

/// The endpoint goes away (`--down-after-gets`) or stops answering
/// (`--hang-after-gets`) in the middle of a run: the run stops within the
/// give-up time with an error naming the endpoint, exit 1, nothing
/// published; the next run, with S3 back, gives the whole tables.
fn an_outage_stops_the_run(mode: &str) {
    let server = S3Server::start(&["trail", "lake"]);
    server.seed("trail", "", &bucket());
    let proxy = FaultProxy::start(&server, &[mode, "4"]);
    let mut args = proxy.args();
    args.extend(["--concurrency", "2", "--give-up-after", "3"].map(String::from));
    let started = std::time::Instant::now();
    let out = run_at("s3://trail", "s3://lake/tables", &args, &env());
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let error = out.summary["error"].as_str().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    assert!(
        error.contains(&format!("S3 at {endpoint} has not answered for 3 s")),
        "{error}"
    );
    assert!(out.stderr.contains(&endpoint), "{}", out.stderr);
    assert!(took < Duration::from_secs(25), "stopped after {took:?}");
    let lake = server.bucket_dir("lake");
    assert!(
        files(&lake).is_empty(),
        "nothing published: {:?}",
        files(&lake)
    );

    let again = run_s3(&server, "s3://trail", "s3://lake/tables", &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let local = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), local.path(), &[]).code, 0);
    for table in ["events", "table_access", "athena_queries"] {
        assert_eq!(
            canonical(&lake.join("tables"), table),
            canonical(local.path(), table),
            "{table}"
        );
    }
}

#[test]
fn an_endpoint_that_goes_away_stops_the_run() {
    an_outage_stops_the_run("--down-after-gets");
}

#[test]
fn an_endpoint_that_stops_answering_stops_the_run() {
    an_outage_stops_the_run("--hang-after-gets");
}

#[test]
fn odd_keys_round_trip_through_s3() {
    let server = S3Server::start(&["trail"]);
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/111122223333_CloudTrail_us-east-1_20240102T0000Z_sp ace%20ü €+=.json.gz";
    let path = server.bucket_dir("trail").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        gz(r#"{"Records":[{"eventID":"odd-1","eventTime":"2024-01-02T00:00:00Z"}]}"#),
    )
    .unwrap();
    let out = run_s3(&server, "s3://trail", "s3://trail/tables", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids = row_ids(&server.bucket_dir("trail").join("tables"), "events");
    assert_eq!(
        ids.keys().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        vec![key]
    );
    // And the ledger knows it: a second run reads nothing.
    assert_eq!(
        run_s3(&server, "s3://trail", "s3://trail/tables", &[]).summary["objects_read"],
        0
    );
}

#[test]
fn compaction_over_s3_gives_what_it_gives_locally() {
    let server = S3Server::start(&["trail"]);
    let dir = server.bucket_dir("trail");
    server.seed("trail", "", &bucket());
    let local = tempfile::tempdir().unwrap();
    for end in ["2026-03-02", "2026-03-03"] {
        let out = run_s3(&server, "s3://trail", "s3://trail/tables", &["--end", end]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(run(&bucket(), local.path(), &["--end", end]).code, 0);
    }
    let compact = |dest: &str, extra: &[String]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trail-etl"));
        cmd.args(["compact", "--dest", dest, "--json"]).args(extra);
        for (k, v) in env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let remote = compact("s3://trail/tables", &server.args());
    compact(&local.path().to_string_lossy(), &[]);
    assert!(remote["files_before"].as_u64().unwrap() > remote["files_after"].as_u64().unwrap());
    let tables = dir.join("tables");
    for table in ["events", "table_access", "athena_queries"] {
        assert_eq!(
            canonical(&tables, table),
            canonical(local.path(), table),
            "{table}"
        );
        assert!(files(&tables.join(table))
            .iter()
            .all(|f| f.contains("/compact-")));
    }
    let again = compact("s3://trail/tables", &server.args());
    assert_eq!(again["partitions_compacted"], 0, "{again}");
}
