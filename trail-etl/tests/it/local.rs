//! `trail-etl run` over local folders: layout, Parquet settings, incremental
//! and idempotent runs, bad input, shards, dry runs and crash recovery.

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use parquet::basic::{Compression, PageType};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::util::{bucket, copy_tree, files, row_ids, run, table_rows};

const RECORDS_IN_BUCKET: usize = 70;

#[test]
fn writes_hive_partitioned_parquet_and_nothing_else() {
    let dest = tempfile::tempdir().unwrap();
    let out = run(&bucket(), dest.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.summary["rows"]["events"], RECORDS_IN_BUCKET);
    assert_eq!(out.summary["records"], RECORDS_IN_BUCKET);
    // Digest and Config folders are never listed, only reported.
    let folders = out.summary["skipped_folders"].to_string();
    assert!(
        folders.contains("AWSLogs/o-exampleorg1/210987654321/CloudTrail-Digest/"),
        "{folders}"
    );
    assert!(
        folders.contains("AWSLogs/o-exampleorg1/210987654321/Config/"),
        "{folders}"
    );
    for table in ["events", "table_access", "athena_queries"] {
        let written = files(&dest.path().join(table));
        assert!(!written.is_empty(), "{table}");
        for f in &written {
            let (partition, name) = f.split_once('/').unwrap();
            assert!(
                partition.starts_with("event_date=") && partition.len() == 21,
                "{f}"
            );
            assert!(name.ends_with(".parquet") && !name.contains('/'), "{f}");
        }
    }
    // Every record exactly once.
    let ids = row_ids(dest.path(), "events");
    assert_eq!(ids.len(), RECORDS_IN_BUCKET);
    assert!(ids.values().all(|&n| n == 1));
    assert_eq!(
        table_rows(dest.path(), "table_access")
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        18
    );
    // Nothing but Parquet and the bookkeeping folder at the top.
    let top: std::collections::BTreeSet<String> = files(dest.path())
        .iter()
        .map(|f| f.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        top,
        ["_trail", "athena_queries", "events", "table_access"]
            .map(String::from)
            .into()
    );
}

#[test]
fn parquet_settings_athena_reads_well() {
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), dest.path(), &[]).code, 0);
    let f = files(&dest.path().join("events"))
        .into_iter()
        .find(|f| f.starts_with("event_date=2026-03-02"))
        .unwrap();
    let path = dest.path().join("events").join(f);
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let idx = (0..schema.num_columns())
        .find(|&i| schema.column(i).name() == "event_time")
        .unwrap();
    let rg = meta.row_group(0);
    assert!(matches!(rg.column(idx).compression(), Compression::ZSTD(_)));
    assert!(rg.column(idx).statistics().is_some(), "statistics on");
    assert!(
        schema.columns().iter().all(|c| c.name() != "event_date"),
        "partition column lives in the path"
    );
    let ty = format!("{:?}", schema.column(idx).logical_type_ref());
    assert!(
        ty.contains("Timestamp")
            && ty.contains("is_adjusted_to_u_t_c: true")
            && ty.contains("MILLIS"),
        "{ty}"
    );
    // Rows sorted by event_time.
    let batch = &table_rows(dest.path(), "events")[0];
    let t = batch
        .column_by_name("event_time")
        .unwrap()
        .as_primitive::<arrow_array::types::TimestampMillisecondType>();
    let v: Vec<Option<i64>> = (0..t.len())
        .map(|i| t.is_valid(i).then(|| t.value(i)))
        .collect();
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(v, sorted);
}

/// The kinds of the data pages of every Parquet file of every table under
/// `dest`, and every row of each table as text, sorted.
fn pages_and_rows(
    dest: &std::path::Path,
) -> (std::collections::BTreeSet<PageType>, Vec<Vec<String>>) {
    let mut kinds = std::collections::BTreeSet::new();
    let mut tables = Vec::new();
    for table in ["events", "table_access", "athena_queries"] {
        let mut rows = Vec::new();
        for f in files(&dest.join(table)) {
            let file = std::fs::File::open(dest.join(table).join(f)).unwrap();
            let reader = SerializedFileReader::new(file).unwrap();
            for row in reader.get_row_iter(None).unwrap() {
                rows.push(row.unwrap().to_string());
            }
            for rg in 0..reader.num_row_groups() {
                let group = reader.get_row_group(rg).unwrap();
                for c in 0..group.num_columns() {
                    let mut pages = group.get_column_page_reader(c).unwrap();
                    while let Some(page) = pages.get_next_page().unwrap() {
                        if page.page_type() != PageType::DICTIONARY_PAGE {
                            kinds.insert(page.page_type());
                        }
                    }
                }
            }
        }
        assert!(!rows.is_empty(), "{table}");
        rows.sort();
        tables.push(rows);
    }
    (kinds, tables)
}

#[test]
fn parquet_compat_writes_v1_pages_with_the_same_rows() {
    let v2 = tempfile::tempdir().unwrap();
    assert_eq!(run(&bucket(), v2.path(), &[]).code, 0);
    let (kinds, v2_rows) = pages_and_rows(v2.path());
    assert_eq!(kinds, [PageType::DATA_PAGE_V2].into());

    let v1 = tempfile::tempdir().unwrap();
    let out = run(&bucket(), v1.path(), &["--parquet-compat"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (kinds, v1_rows) = pages_and_rows(v1.path());
    assert_eq!(kinds, [PageType::DATA_PAGE].into());
    assert_eq!(v1_rows, v2_rows);
    assert_eq!(v1_rows[0].len(), RECORDS_IN_BUCKET);
}

#[test]
fn reruns_are_incremental_and_idempotent() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    copy_tree(&bucket(), src.path());
    let late = "AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1/2026/03/03/210987654321_CloudTrail_eu-west-1_20260303T0005Z_LateDelivery02.json.gz";
    let held = std::fs::read(src.path().join(late)).unwrap();
    std::fs::remove_file(src.path().join(late)).unwrap();

    let first = run(src.path(), dest.path(), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let after_first = files(dest.path());

    let again = run(src.path(), dest.path(), &[]);
    assert_eq!(again.code, 0);
    assert_eq!(again.summary["objects_read"], 0);
    assert_eq!(again.summary["files"].as_array().unwrap().len(), 0);
    let after_again = files(dest.path());
    let added: Vec<&String> = after_again
        .iter()
        .filter(|f| !after_first.contains(f))
        .collect();
    assert!(
        added.len() == 1
            && added[0].starts_with("_trail/status/")
            && after_again.len() == after_first.len() + 1,
        "a re-run writes nothing but its status record: {added:?}"
    );

    // A file that arrives late is picked up by the next run, and only it is read.
    std::fs::write(src.path().join(late), held).unwrap();
    let third = run(src.path(), dest.path(), &[]);
    assert_eq!(third.summary["objects_read"], 1);
    assert_eq!(third.summary["rows"]["events"], 5);
    let ids = row_ids(dest.path(), "events");
    assert_eq!(ids.len(), RECORDS_IN_BUCKET);
    assert!(ids.values().all(|&n| n == 1), "no duplicates");

    // --full-refresh rebuilds the same rows.
    let full = run(src.path(), dest.path(), &["--full-refresh"]);
    assert_eq!(full.summary["rows"]["events"], RECORDS_IN_BUCKET);
    assert!(row_ids(dest.path(), "events").values().all(|&n| n == 1));
}

#[test]
fn bad_objects_are_named_and_retried_and_good_rows_land() {
    let src = tempfile::tempdir().unwrap();
    copy_tree(&bucket(), src.path());
    let dir = src
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02");
    std::fs::create_dir_all(&dir).unwrap();
    let bad_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/111122223333_CloudTrail_us-east-1_20240102T0000Z_truncated.json.gz";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        br#"{"Records":[{"eventName":"A","eventTime":"2024-01-02T00:00:00Z"},{"eventName":"B""#,
    )
    .unwrap();
    std::fs::write(src.path().join(bad_key), gz.finish().unwrap()).unwrap();
    let mixed_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/111122223333_CloudTrail_us-east-1_20240102T0000Z_mixed.json.gz";
    std::fs::write(
        src.path().join(mixed_key),
        br#"{"Records":[{"eventName":"A","eventTime":"2024-01-02T00:00:00Z"},42]}"#,
    )
    .unwrap();

    // --on-error fail: exit 1, nothing published. The run stops at the
    // first bad object it meets (objects already being read still are).
    let strict_dest = tempfile::tempdir().unwrap();
    let strict = run(src.path(), strict_dest.path(), &["--on-error", "fail"]);
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    assert!(
        strict.summary["error"]
            .as_str()
            .unwrap()
            .contains("bad object(s), first: "),
        "{}",
        strict.summary
    );
    let named: Vec<&str> = strict.summary["bad_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert!(
        [vec![mixed_key], vec![bad_key], vec![mixed_key, bad_key]].contains(&named),
        "{named:?}"
    );
    assert!(files(&strict_dest.path().join("events")).is_empty());

    let dest = tempfile::tempdir().unwrap();
    let out = run(src.path(), dest.path(), &[]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let bad = &out.summary["bad_objects"][0];
    assert_eq!(bad["key"], bad_key);
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("ends in the middle"),
        "{bad}"
    );
    assert!(out.stderr.contains(bad_key), "named in the logs too");
    assert_eq!(out.summary["bad_records"][0]["key"], mixed_key);
    assert_eq!(out.summary["bad_records"][0]["index"], 1);
    assert_eq!(out.summary["rows"]["events"], RECORDS_IN_BUCKET + 1);

    // The bad object is not in the ledger: the next run tries it again.
    let again = run(src.path(), dest.path(), &[]);
    assert_eq!(again.summary["objects_read"], 1);
    assert_eq!(again.code, 3);
}

#[test]
fn shards_cover_everything_exactly_once() {
    let dest = tempfile::tempdir().unwrap();
    let a = run(&bucket(), dest.path(), &["--shard", "0/2"]);
    let b = run(&bucket(), dest.path(), &["--shard", "1/2"]);
    assert_eq!((a.code, b.code), (0, 0));
    assert!(
        a.summary["objects_read"].as_u64().unwrap() > 0
            && b.summary["objects_read"].as_u64().unwrap() > 0
    );
    let ids = row_ids(dest.path(), "events");
    assert_eq!(ids.len(), RECORDS_IN_BUCKET);
    assert!(ids.values().all(|&n| n == 1));
    // Disjoint files: each shard's names carry its shard tag.
    let names = files(&dest.path().join("events"));
    assert!(names.iter().any(|n| n.contains("s0of2")) && names.iter().any(|n| n.contains("s1of2")));
    // An unsharded run afterwards finds everything done.
    assert_eq!(run(&bucket(), dest.path(), &[]).summary["objects_read"], 0);
}

#[test]
fn dry_run_writes_nothing_and_filters_apply() {
    let dest = tempfile::tempdir().unwrap();
    let out = run(
        &bucket(),
        dest.path(),
        &["--dry-run", "--start", "2026-03-01", "--end", "2026-03-02"],
    );
    assert_eq!(out.code, 0);
    assert_eq!(out.summary["objects_read"], 3);
    assert!(files(dest.path()).is_empty());
    let out = run(
        &bucket(),
        dest.path(),
        &[
            "--dry-run",
            "--org-id",
            "o-exampleorg1",
            "--regions",
            "eu-west-1",
        ],
    );
    assert_eq!(out.summary["objects_read"], 5);
    let out = run(
        &bucket(),
        dest.path(),
        &["--dry-run", "--accounts", "210987654321,999999999999"],
    );
    assert_eq!(out.summary["objects_read"], 5);
}

#[test]
fn an_interrupted_publish_is_rolled_back() {
    let dest = tempfile::tempdir().unwrap();
    // What a run killed between publishing and committing leaves behind.
    let stray = "events/event_date=2026-03-02/part-run-dead-s0of1-0000.parquet";
    std::fs::create_dir_all(dest.path().join("events/event_date=2026-03-02")).unwrap();
    std::fs::write(dest.path().join(stray), b"half").unwrap();
    std::fs::create_dir_all(dest.path().join("_trail/runs")).unwrap();
    std::fs::write(
        dest.path().join("_trail/runs/run-dead-s0of1.pending.json"),
        format!(r#"{{"run":"run-dead-s0of1","files":["{stray}"]}}"#),
    )
    .unwrap();
    let out = run(&bucket(), dest.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!dest.path().join(stray).exists());
    assert!(files(&dest.path().join("_trail/runs")).is_empty());
    assert!(row_ids(dest.path(), "events").values().all(|&n| n == 1));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["run", "--source", "x"],
        vec!["run", "--source", "x", "--dest", "y", "--shard", "2/2"],
        vec![
            "run",
            "--source",
            "x",
            "--dest",
            "y",
            "--start",
            "yesterday",
        ],
        vec!["run", "--source", "ftp://x", "--dest", "y"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_trail-etl"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--version` says which allocator the binary was built with, so a
/// throughput figure can be traced to its build (README, Performance).
#[test]
fn version_names_the_allocator() {
    // With MALLOCSTATS set, tcmalloc prints its statistics at exit (glibc
    // ignores the variable): proof that it is really in the binary.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trail-etl"))
        .arg("--version")
        .env("MALLOCSTATS", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = if cfg!(feature = "tcmalloc") {
        "(allocator: tcmalloc)"
    } else {
        "(allocator: system)"
    };
    assert!(
        text.starts_with("trail-etl ") && text.trim_end().ends_with(expected),
        "{text}"
    );
    let stats = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stats.contains("Bytes in use by application"),
        cfg!(feature = "tcmalloc"),
        "{stats}"
    );
}
