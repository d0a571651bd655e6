//! The example bucket bundled in the repository (`examples/bucket`), and
//! golden expectations for the Glue, Lake Formation and Athena rows of trail's
//! own fixtures.

use std::io::{Read, Write};

use trail_parse::{KeyKind, ObjectKey, Table};

use crate::util::{concat, dates, decode_file, root, text, texts, walk};

/// Each fixture source in `examples/fixtures` is in `examples/bucket`
/// (gzipped when it is `.json`). `UPDATE_FIXTURES=1` rewrites the bucket copies.
#[test]
fn bucket_objects_match_their_readable_sources() {
    let src = root().join("examples/fixtures");
    let bucket = root().join("examples/bucket");
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    for (key, path) in walk(&src) {
        let source = std::fs::read(&path).unwrap();
        let (target, want) = if key.ends_with(".json") {
            (bucket.join(format!("{key}.gz")), source.clone())
        } else {
            (bucket.join(&key), source.clone())
        };
        if update {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let bytes = if key.ends_with(".json") {
                let mut gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::best());
                gz.write_all(&source).unwrap();
                gz.finish().unwrap()
            } else {
                source.clone()
            };
            std::fs::write(&target, bytes).unwrap();
        }
        let stored = std::fs::read(&target).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run with UPDATE_FIXTURES=1",
                target.display()
            )
        });
        let got = if key.ends_with(".json") {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&stored[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            stored
        };
        assert!(
            got == want,
            "{} differs from its source {key}: run with UPDATE_FIXTURES=1",
            target.display()
        );
    }
}

/// Every object of the example bucket is classified, and every log decodes
/// without a bad record.
#[test]
fn every_bucket_object_is_classified_and_logs_decode() {
    let bucket = root().join("examples/bucket");
    let mut kinds = std::collections::BTreeMap::new();
    for (key, path) in walk(&bucket) {
        if key == "SOURCES.md" {
            continue;
        }
        let k = ObjectKey::parse(&key).unwrap_or_else(|e| panic!("{e}"));
        *kinds.entry(k.kind.as_str()).or_insert(0) += 1;
        if k.kind.has_records() {
            let (_, summary) = decode_file(&key, &path);
            assert!(summary.records > 0, "{key}");
            assert!(
                summary.bad_records.is_empty(),
                "{key}: {:?}",
                summary.bad_records
            );
        }
    }
    assert_eq!(kinds.get("digest"), Some(&1));
    assert_eq!(kinds.get("other"), Some(&1));
    assert!(kinds["log"] >= 30);
}

const BASE: &str = "AWSLogs/o-exampleorg1/210987654321/CloudTrail/eu-west-1";

fn fixture(name: &str) -> (String, std::path::PathBuf) {
    let key = format!("{BASE}/{name}");
    let path = root().join("examples/bucket").join(&key);
    (key, path)
}

#[test]
fn table_access_rows_match_the_documented_rules() {
    let (key, path) = fixture(
        "2026/03/02/210987654321_CloudTrail_eu-west-1_20260302T0910Z_GlueAthenaLf01.json.gz",
    );
    assert_eq!(
        ObjectKey::parse(&key).unwrap().org_id.as_deref(),
        Some("o-exampleorg1")
    );
    let (batches, summary) = decode_file(&key, &path);
    assert_eq!(summary.records, 13);
    assert_eq!(summary.rows.events, 13);
    let t = concat(Table::TableAccess, batches.get(Table::TableAccess));
    let rows: Vec<(String, String, String, String, String, String)> = (0..t.num_rows())
        .map(|i| {
            let s = |c: &str| text(&t, c, i).unwrap_or_else(|| "-".into());
            (
                s("event_name"),
                s("actor"),
                s("database_name"),
                s("table_name"),
                s("access_level"),
                s("athena_query_id"),
            )
        })
        .collect();
    let jane = "jane.doe@example.com";
    let etl = "glue-job-nightly-42";
    let q1 = "a1b2c3d4-1111-4222-8333-000000000001";
    let want: Vec<(&str, &str, &str, &str, &str, &str)> = vec![
        ("GetTable", jane, "sales", "orders", "table", "-"),
        ("BatchGetTable", jane, "sales", "orders", "table", "-"),
        ("BatchGetTable", jane, "sales", "customers", "table", "-"),
        ("BatchGetTable", jane, "sales", "regions", "table", "-"),
        ("GetPartitions", jane, "sales", "orders", "table", "-"),
        ("GetDataAccess", jane, "sales", "orders", "table", q1),
        ("GetTables", "bob", "sales", "-", "database", "-"),
        ("GetDatabase", "bob", "finance", "-", "database", "-"),
        ("CreateTable", etl, "staging", "orders_tmp", "table", "-"),
        ("UpdateTable", etl, "staging", "orders_tmp", "table", "-"),
        ("DeleteTable", etl, "staging", "orders_tmp", "table", "-"),
        ("GetTable", jane, "-", "-", "table", "-"),
        ("BatchGetTable", jane, "sales", "-", "database", "-"),
    ];
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.0.as_str(),
                r.1.as_str(),
                r.2.as_str(),
                r.3.as_str(),
                r.4.as_str(),
                r.5.as_str(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Who and how: via Athena or direct, the role, denials, catalog, requester.
    assert_eq!(
        texts(&t, "invoked_by")[0].as_deref(),
        Some("athena.amazonaws.com")
    );
    assert_eq!(texts(&t, "invoked_by")[6], None);
    assert_eq!(
        texts(&t, "role_name")[0].as_deref(),
        Some("AWSReservedSSO_DataAnalyst_0123456789abcdef")
    );
    assert_eq!(texts(&t, "role_name")[8].as_deref(), Some("EtlRole"));
    assert_eq!(
        texts(&t, "error_code")[7].as_deref(),
        Some("AccessDeniedException")
    );
    assert!(texts(&t, "catalog_id")
        .iter()
        .all(|c| c.as_deref() == Some("210987654321")));
    assert_eq!(texts(&t, "requester_service")[5].as_deref(), Some("ATHENA"));
    assert_eq!(
        texts(&t, "permissions")[5].as_deref(),
        Some(r#"["SELECT"]"#)
    );
    assert_eq!(
        texts(&t, "principal_arn")[7].as_deref(),
        Some("arn:aws:iam::210987654321:user/bob")
    );
    assert!(dates(&t).iter().all(|d| d.as_deref() == Some("2026-03-02")));
}

#[test]
fn athena_queries_rows() {
    let (key, path) = fixture(
        "2026/03/02/210987654321_CloudTrail_eu-west-1_20260302T0910Z_GlueAthenaLf01.json.gz",
    );
    let (batches, _) = decode_file(&key, &path);
    let a = concat(Table::AthenaQueries, batches.get(Table::AthenaQueries));
    assert_eq!(a.num_rows(), 2);
    let col = |c: &str| texts(&a, c);
    assert_eq!(
        col("query_execution_id"),
        vec![Some("a1b2c3d4-1111-4222-8333-000000000001".into()), None]
    );
    assert_eq!(
        col("workgroup"),
        vec![Some("analysts".into()), Some("primary".into())]
    );
    assert_eq!(col("catalog"), vec![Some("AwsDataCatalog".into()), None]);
    assert_eq!(
        col("database_name"),
        vec![Some("sales".into()), Some("staging".into())]
    );
    assert_eq!(
        col("output_location")[0].as_deref(),
        Some("s3://example-athena-results-210987654321/analysts/")
    );
    assert_eq!(
        col("actor"),
        vec![Some("jane.doe@example.com".into()), Some("etl-bot".into())]
    );
    assert_eq!(
        col("error_code")[1].as_deref(),
        Some("InvalidRequestException")
    );
    assert_eq!(col("source_key")[0].as_deref(), Some(key.as_str()));
}

/// A late file: partitioned by each record's own eventTime, and the record
/// without eventTime falls back to the delivery date of its key.
#[test]
fn partitions_follow_event_time_not_delivery_date() {
    let (key, path) = fixture(
        "2026/03/03/210987654321_CloudTrail_eu-west-1_20260303T0005Z_LateDelivery02.json.gz",
    );
    let (batches, summary) = decode_file(&key, &path);
    assert_eq!(summary.records, 5);
    let e = concat(Table::Events, batches.get(Table::Events));
    assert_eq!(
        dates(&e),
        [
            "2026-03-02",
            "2026-03-02",
            "2026-03-03",
            "2026-03-03",
            "2026-03-03"
        ]
        .map(|d| Some(d.to_string()))
    );
    assert_eq!(e.column_by_name("event_time").unwrap().null_count(), 1);
    let a = concat(Table::AthenaQueries, batches.get(Table::AthenaQueries));
    assert_eq!(
        texts(&a, "workgroup"),
        vec![Some("airflow-marketing".into()); 2]
    );
    assert_eq!(
        texts(&a, "actor"),
        vec![Some("marco.rossi@example.com".into()); 2]
    );
    let t = concat(Table::TableAccess, batches.get(Table::TableAccess));
    assert_eq!(
        texts(&t, "athena_query_id")[1].as_deref(),
        Some("a1b2c3d4-1111-4222-8333-000000000003")
    );
    assert_eq!(texts(&t, "access_level")[2].as_deref(), Some("database"));
    assert_eq!(
        dates(&t)[2].as_deref(),
        Some("2026-03-03"),
        "no eventTime: the key's delivery date"
    );
    assert_eq!(ObjectKey::parse(&key).unwrap().kind, KeyKind::Log);
}
