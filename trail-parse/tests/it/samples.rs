//! Corpus tests: every record of a folder of real CloudTrail objects lands in
//! `events` exactly once, with its fields intact. Runs over the bundled
//! `examples/bucket` always, and over `../shared/samples` when that folder
//! exists (it does in CI; a clone of the repository alone does not have it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use arrow_array::cast::AsArray;
use serde_json::Value;
use trail_parse::{ObjectKey, Table};

use crate::util::{concat, dates, decode_file, root, texts, walk};

struct Corpus {
    records: usize,
    /// eventID (or key#index) → (actor, role_name)
    actors: BTreeMap<String, (Option<String>, Option<String>)>,
}

fn same_json(column: Option<&String>, source: Option<&Value>, what: &str) {
    let source = source.filter(|v| !v.is_null());
    match (column, source) {
        (None, None) => {}
        (Some(text), Some(v)) => {
            let parsed: Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(&parsed, v, "{what}");
        }
        (c, s) => panic!("{what}: column {c:?} but source {s:?}"),
    }
}

fn check_corpus(dir: &Path) -> Corpus {
    let mut corpus = Corpus {
        records: 0,
        actors: BTreeMap::new(),
    };
    for (key, path) in walk(dir) {
        let Ok(k) = ObjectKey::parse(&key) else {
            continue;
        };
        if !k.kind.has_records() {
            continue;
        }
        let mut json = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut json)
            .unwrap();
        let source: Value = serde_json::from_slice(&json).unwrap();
        let records = source["Records"].as_array().unwrap();

        let (batches, summary) = decode_file(&key, &path);
        assert!(
            summary.bad_records.is_empty(),
            "{key}: {:?}",
            summary.bad_records
        );
        assert_eq!(summary.records as usize, records.len(), "{key}");
        let e = concat(Table::Events, batches.get(Table::Events));
        assert_eq!(e.num_rows(), records.len(), "{key}: one row per record");

        let index = e
            .column_by_name("record_index")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        let seen: BTreeSet<i64> = (0..index.len()).map(|i| index.value(i)).collect();
        assert_eq!(
            seen,
            (0..records.len() as i64).collect(),
            "{key}: each record exactly once"
        );

        let col = |c: &str| texts(&e, c);
        let (ids, names, params, responses, extra, keys, actors, roles) = (
            col("event_id"),
            col("event_name"),
            col("request_parameters"),
            col("response_elements"),
            col("additional_event_data"),
            col("source_key"),
            col("actor"),
            col("role_name"),
        );
        let days = dates(&e);
        for (row, i) in (0..index.len()).map(|r| (r, index.value(r) as usize)) {
            let rec = &records[i];
            let what = format!("{key} record {i}");
            assert_eq!(
                ids[row].as_deref(),
                rec.get("eventID").and_then(Value::as_str),
                "{what}"
            );
            assert_eq!(
                names[row].as_deref(),
                rec.get("eventName").and_then(Value::as_str),
                "{what}"
            );
            assert_eq!(keys[row].as_deref(), Some(key.as_str()));
            same_json(
                params[row].as_ref(),
                rec.get("requestParameters"),
                &format!("{what} requestParameters"),
            );
            same_json(
                responses[row].as_ref(),
                rec.get("responseElements"),
                &format!("{what} responseElements"),
            );
            same_json(
                extra[row].as_ref(),
                rec.get("additionalEventData"),
                &format!("{what} additionalEventData"),
            );
            let want_day = match rec.get("eventTime").and_then(Value::as_str) {
                Some(t) => t[..10].to_string(),
                None => k.delivery_date.unwrap().to_string(),
            };
            assert_eq!(
                days[row].as_deref(),
                Some(want_day.as_str()),
                "{what} partition"
            );
            let id = ids[row].clone().unwrap_or_else(|| format!("{key}#{i}"));
            corpus
                .actors
                .insert(id, (actors[row].clone(), roles[row].clone()));
        }
        corpus.records += records.len();
    }
    corpus
}

fn actor_of<'a>(c: &'a Corpus, id: &str) -> (Option<&'a str>, Option<&'a str>) {
    let (a, r) = c.actors.get(id).unwrap_or_else(|| panic!("no record {id}"));
    (a.as_deref(), r.as_deref())
}

#[test]
fn bundled_bucket_corpus() {
    let c = check_corpus(&root().join("examples/bucket"));
    assert!(c.records >= 50, "{}", c.records);
    assert_eq!(
        actor_of(&c, "fed06f42-cb12-4764-8c69-121063dc79b9"),
        (Some("anaya"), None)
    );
    assert_eq!(
        actor_of(&c, "91529247-c4c4-4793-afc8-d70bbcfe9d19").0,
        Some("stratus_red_team")
    );
    assert_eq!(
        actor_of(&c, "d27a6096-807b-4bd0-8c20-a33a83375054").0,
        Some("ec2.amazonaws.com")
    );
    assert_eq!(
        actor_of(&c, "EXAMPLEd-244c-4044-abbf-21c64EXAMPLE").0,
        Some("root")
    );
    assert_eq!(actor_of(&c, "234f004b-EXAMPLE").0, Some("AWS Internal"));
    assert_eq!(
        actor_of(&c, "fixture-0001-4e1d-9f2a-000000000001"),
        (
            Some("jane.doe@example.com"),
            Some("AWSReservedSSO_DataAnalyst_0123456789abcdef")
        )
    );
}

#[test]
fn shared_samples_corpus() {
    let dir = root().join("../shared/samples");
    if !dir.join("AWSLogs").is_dir() {
        eprintln!(
            "SKIPPED shared_samples_corpus: {} not found (it exists in CI)",
            dir.display()
        );
        return;
    }
    let c = check_corpus(&dir);
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    assert_eq!(
        c.records,
        index.lines().count() - 1,
        "every record of INDEX.tsv"
    );
    assert_eq!(
        actor_of(&c, "c11db1d1-dfb8-431e-8625-48eba2ebadfe"),
        (
            Some("191a35ec-10a1-70c1-e4ab-e2802411e13e"),
            Some("AWSTransferWebAppIdentityBearer-ap-southeast-1")
        )
    );
    assert_eq!(
        actor_of(&c, "87658765-1111-2222-3333-876587658765"),
        (Some("admin-session"), Some("Admin"))
    );
    assert_eq!(
        actor_of(&c, "423fa918-3e60-4161-812c-8ccb1afbd672").0,
        Some("aidan.steele@glassechidna.com.au")
    );
    assert_eq!(
        actor_of(&c, "82c10c51-1f5d-4de1-b729-4d0c3c45e0d4").0,
        Some("cloudtrail.amazonaws.com")
    );
    assert_eq!(
        actor_of(&c, "b723eaf1-1ade-4842-90f9-fa19da47ec25").0,
        Some("root")
    );
    assert_eq!(
        actor_of(&c, "e51da5f9-14be-4742-af9f-e867abab0c9c"),
        (Some("some.user@my.company.com"), Some("SomeRole"))
    );
    assert_eq!(
        actor_of(&c, "46a04795-4e02-4710-a395-5a0f578cfEXAMPLE"),
        (Some("i-example1234567890"), Some("ExampleRole"))
    );
}
