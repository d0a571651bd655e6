//! `trail-etl compact` and the ledger filed by day, on local folders: duplicate
//! deliveries, idempotence, a kill at every step of a compaction and of a
//! run's publish, a run publishing while compaction runs, and the upgrade of
//! a destination written by an earlier version.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;

use crate::util::{bucket, canonical, copy_tree, files, run, table_rows};

const GLUE: &str = "AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1/2026/03/02/210987654321_CloudTrail_eu-west-1_20260302T0910Z_GlueAthenaLf01.json.gz";
const ATHENA: &str = "AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1/2026/03/02/210987654321_CloudTrail_eu-west-1_20260302T1250Z_AthenaQueries04.json.gz";
const TABLES: [&str; 3] = ["events", "table_access", "athena_queries"];

/// `trail-etl compact --json` on a local folder, with environment.
fn compact(dest: &Path, extra: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trail-etl"));
    cmd.args(["compact", "--dest"])
        .arg(dest)
        .arg("--json")
        .args(extra)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), summary)
}

/// A copy of the example bucket where two objects were delivered twice (the
/// same bytes under a second key, as CloudTrail does on retries).
fn bucket_with_duplicates(dir: &Path) {
    copy_tree(&bucket(), dir);
    for key in [GLUE, ATHENA] {
        std::fs::copy(
            dir.join(key),
            dir.join(key.replace(".json.gz", "Retry.json.gz")),
        )
        .unwrap();
    }
}

/// event_id → rows, over a table.
fn rows_per_event(dest: &Path, table: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in table_rows(dest, table) {
        let ids = b.column_by_name("event_id").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            *out.entry(ids.value(i).to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// The Parquet files of a table with their bytes.
fn table_files(dest: &Path) -> BTreeMap<String, Vec<u8>> {
    TABLES
        .iter()
        .flat_map(|t| {
            files(&dest.join(t))
                .into_iter()
                .map(move |f| format!("{t}/{f}"))
        })
        .map(|f| {
            let bytes = std::fs::read(dest.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn duplicate_deliveries_are_kept_once_and_compacting_twice_changes_nothing() {
    let src = tempfile::tempdir().unwrap();
    bucket_with_duplicates(src.path());
    // What compaction of a bucket without the retries gives (the example
    // bucket has one duplicate of its own, and an event id reused by two
    // documentation examples at different times: those stay).
    let clean = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), clean.path(), &[]).code, 0);
    assert_eq!(compact(clean.path(), &[], &[]).0, 0);

    let dest = tempfile::tempdir().unwrap();
    // Two runs, so partitions hold files of both.
    assert_eq!(
        run(src.path(), dest.path(), &["--end", "2026-03-02"]).code,
        0
    );
    assert_eq!(run(src.path(), dest.path(), &[]).code, 0);
    let before = rows_per_event(dest.path(), "events");
    assert!(
        before.values().any(|&n| n == 2),
        "the retried objects were ingested twice"
    );

    let (code, s) = compact(dest.path(), &[], &[]);
    assert_eq!(code, 0, "{s}");
    assert!(s["duplicate_rows_removed"].as_u64().unwrap() > 0, "{s}");
    // Each event once; table_access keeps all the rows of one delivery.
    for t in TABLES {
        assert_eq!(
            rows_per_event(dest.path(), t),
            rows_per_event(clean.path(), t),
            "{t}"
        );
    }
    assert!(rows_per_event(dest.path(), "table_access")
        .values()
        .any(|&n| n > 1));
    // One file per partition, rows in time order.
    for t in TABLES {
        let mut per_partition: BTreeMap<String, usize> = BTreeMap::new();
        for f in files(&dest.path().join(t)) {
            assert!(f.contains("/compact-"), "{f}");
            *per_partition
                .entry(f.split('/').next().unwrap().to_string())
                .or_default() += 1;
        }
        assert!(
            per_partition.values().all(|&n| n == 1),
            "{t}: {per_partition:?}"
        );
        for b in table_rows(dest.path(), t) {
            let time = b
                .column_by_name("event_time")
                .unwrap()
                .as_primitive::<arrow_array::types::TimestampMillisecondType>();
            assert!(time.values().windows(2).all(|w| w[0] <= w[1]), "{t}");
        }
    }
    // Again: nothing changes, not a byte.
    let first = table_files(dest.path());
    let (code, s) = compact(dest.path(), &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(s["partitions_compacted"], 0, "{s}");
    assert_eq!(table_files(dest.path()), first);
}

#[test]
fn compaction_killed_at_any_step_is_finished_or_rolled_back() {
    let src = tempfile::tempdir().unwrap();
    bucket_with_duplicates(src.path());
    let template = tempfile::tempdir().unwrap();
    assert_eq!(
        run(src.path(), template.path(), &["--end", "2026-03-02"]).code,
        0
    );
    assert_eq!(run(src.path(), template.path(), &[]).code, 0);
    let expected = tempfile::tempdir().unwrap();
    copy_tree(template.path(), expected.path());
    assert_eq!(compact(expected.path(), &[], &[]).0, 0);

    for point in [
        "compact:after-manifest",
        "compact:after-first-file",
        "compact:after-files",
        "compact:after-first-delete",
        "compact:after-deletes",
    ] {
        let dest = tempfile::tempdir().unwrap();
        copy_tree(template.path(), dest.path());
        let (code, _) = compact(dest.path(), &[], &[("TRAIL_FAILPOINT", point)]);
        assert_eq!(code, 137, "{point}: the failpoint was reached");
        assert!(
            !files(&dest.path().join("_trail/compact")).is_empty(),
            "{point}: the manifest is left"
        );
        // Meanwhile every row is there at least once.
        for t in TABLES {
            let have = rows_per_event(dest.path(), t);
            for id in rows_per_event(expected.path(), t).keys() {
                assert!(
                    have.contains_key(id),
                    "{point}: {t} lost {id} while interrupted"
                );
            }
        }
        let (code, s) = compact(dest.path(), &[], &[]);
        assert_eq!(code, 0, "{point}: {s}");
        assert_eq!(s["recovered"], 1, "{point}: {s}");
        assert!(
            files(&dest.path().join("_trail/compact")).is_empty(),
            "{point}"
        );
        for t in TABLES {
            assert_eq!(
                canonical(dest.path(), t),
                canonical(expected.path(), t),
                "{point}: {t}"
            );
        }
        assert_eq!(
            table_files(dest.path()),
            table_files(expected.path()),
            "{point}"
        );
    }
}

#[test]
fn a_run_killed_at_any_step_of_its_publish_loses_and_duplicates_nothing() {
    let clean = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), clean.path(), &[]).code, 0);
    for point in ["run:after-manifest", "run:after-files", "run:after-ledger"] {
        let dest = tempfile::tempdir().unwrap();
        let mut cmd = crate::util::command(
            &bucket().to_string_lossy(),
            &dest.path().to_string_lossy(),
            &[],
            &[("TRAIL_FAILPOINT", point)],
        );
        assert_eq!(cmd.output().unwrap().status.code(), Some(137), "{point}");
        let again = run(&bucket(), dest.path(), &[]);
        assert_eq!(again.code, 0, "{point}: {}", again.stderr);
        if point == "run:after-ledger" {
            assert_eq!(
                again.summary["objects_read"], 0,
                "{point}: it had committed"
            );
        } else {
            assert!(
                again.summary["objects_read"].as_u64().unwrap() > 0,
                "{point}"
            );
        }
        assert!(
            files(&dest.path().join("_trail/runs")).is_empty(),
            "{point}"
        );
        for t in TABLES {
            assert_eq!(
                canonical(dest.path(), t),
                canonical(clean.path(), t),
                "{point}: {t}"
            );
        }
    }
}

#[test]
fn files_of_a_run_still_publishing_are_not_merged() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        run(&bucket(), dest.path(), &["--end", "2026-03-02"]).code,
        0
    );
    // A run killed after publishing a file, before committing: its manifest names the file.
    let stray = "events/event_date=2026-03-02/part-run-0000000000000000-s0of1-000000.parquet";
    let some = files(&dest.path().join("events/event_date=2026-03-02"));
    std::fs::copy(
        dest.path()
            .join("events/event_date=2026-03-02")
            .join(&some[0]),
        dest.path().join(stray),
    )
    .unwrap();
    std::fs::write(
        dest.path().join("_trail/runs/run-0000000000000000-s0of1.pending.json"),
        format!(r#"{{"run":"run-0000000000000000-s0of1","files":["{stray}"],"ledger":["_trail/ledger/objects/2026-03-02/run-0000000000000000-s0of1.jsonl"]}}"#),
    )
    .unwrap();
    let (code, s) = compact(dest.path(), &[], &[]);
    assert_eq!(code, 0, "{s}");
    assert!(
        dest.path().join(stray).exists(),
        "compact left the uncommitted file alone"
    );
    // The run's recovery then removes it, and the rows are exactly once.
    let again = run(&bucket(), dest.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!dest.path().join(stray).exists());
    for t in ["events", "athena_queries"] {
        assert!(
            crate::util::row_ids(dest.path(), t)
                .values()
                .all(|&n| n == 1),
            "{t}"
        );
    }
}

#[test]
fn a_run_reads_only_the_ledger_days_it_lists() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), dest.path(), &[]).code, 0);
    // A damaged ledger file of an old day: a run that lists only recent days never reads it.
    let old = dest
        .path()
        .join("_trail/ledger/objects/2014-03-06/damaged.jsonl");
    std::fs::write(&old, "not json\n").unwrap();
    let recent = run(
        &bucket(),
        dest.path(),
        &["--start", "2026-03-01", "--end", "2026-03-03"],
    );
    assert_eq!(recent.code, 0, "{}", recent.stderr);
    assert_eq!(recent.summary["objects_read"], 0);
    let all = run(&bucket(), dest.path(), &[]);
    assert_eq!(all.code, 1);
    assert!(
        all.summary["error"]
            .as_str()
            .unwrap()
            .contains("2014-03-06/damaged.jsonl"),
        "{}",
        all.summary
    );
}

#[test]
fn a_destination_of_an_earlier_version_is_upgraded_without_reading_again() {
    // A copy of the bucket (local versions are size and mtime).
    let src = tempfile::tempdir().unwrap();
    copy_tree(&bucket(), src.path());
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(src.path(), dest.path(), &[]).code, 0);
    // Rewrite the ledger as earlier versions kept it: flat files of entries
    // without records, and a folded file whose run ids are bare lines.
    let ledger = dest.path().join("_trail/ledger");
    let mut flat = String::new();
    let mut runs = std::collections::BTreeSet::new();
    for f in files(&ledger.join("objects")) {
        for line in std::fs::read_to_string(ledger.join("objects").join(&f))
            .unwrap()
            .lines()
        {
            let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
            runs.insert(e["run"].as_str().unwrap().to_string());
            e.as_object_mut().unwrap().remove("records");
            e["run"] = "".into();
            flat.push_str(&format!("{e}\n"));
        }
    }
    for r in &runs {
        flat.push_str(&format!(
            "{{\"key\":\"\",\"size\":0,\"etag\":\"\",\"run\":\"{r}\"}}\n"
        ));
    }
    std::fs::remove_dir_all(ledger.join("objects")).unwrap();
    std::fs::write(ledger.join("compact-run-old.jsonl"), flat).unwrap();

    let dry = run(src.path(), dest.path(), &["--dry-run"]);
    assert_eq!(
        dry.summary["objects_read"], 0,
        "a dry run reads the flat files"
    );
    assert!(
        ledger.join("compact-run-old.jsonl").exists(),
        "a dry run changes nothing"
    );

    let again = run(src.path(), dest.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.summary["objects_read"], 0, "nothing is read again");
    assert!(!ledger.join("compact-run-old.jsonl").exists());
    assert!(files(&ledger.join("objects"))
        .iter()
        .all(|f| f.contains("/legacy-s0of1.jsonl")));
    let legacy_runs = std::fs::read_to_string(ledger.join("legacy-runs.txt")).unwrap();
    assert!(runs.iter().all(|r| legacy_runs.contains(r.as_str())));
    // A new object after the upgrade is read, once.
    std::fs::copy(
        src.path().join(ATHENA),
        src.path().join(ATHENA.replace(".json.gz", "New.json.gz")),
    )
    .unwrap();
    let new = run(src.path(), dest.path(), &[]);
    assert_eq!(new.summary["objects_read"], 1, "{}", new.stderr);
}

#[test]
fn run_compact_compacts_the_partitions_it_wrote() {
    let src = tempfile::tempdir().unwrap();
    bucket_with_duplicates(src.path());
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        run(src.path(), dest.path(), &["--end", "2026-03-02"]).code,
        0
    );
    let out = run(src.path(), dest.path(), &["--compact"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let c = &out.summary["compact"];
    assert!(c["partitions_compacted"].as_u64().unwrap() > 0, "{c}");
    assert!(c["duplicate_rows_removed"].as_u64().unwrap() > 0, "{c}");
    // Only the partitions this run wrote: older ones keep the first run's files.
    let written: std::collections::BTreeSet<String> = out.summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f["table"].as_str().unwrap(),
                f["partition"].as_str().unwrap()
            )
        })
        .collect();
    for t in TABLES {
        for f in files(&dest.path().join(t)) {
            let partition = format!("{t}/{}", f.split('/').next().unwrap());
            assert_eq!(
                f.contains("/compact-"),
                written.contains(&partition),
                "{partition}: {f}"
            );
        }
    }
    let sharded = crate::util::command(
        &src.path().to_string_lossy(),
        &dest.path().to_string_lossy(),
        &["--compact".into(), "--shard".into(), "0/2".into()],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(
        sharded.status.code(),
        Some(2),
        "--compact with shards is a usage error"
    );
}
