//! `Decoder::append_slice`: many objects share batches, and a bad object
//! among them contributes no rows while the others keep theirs.

use arrow_array::RecordBatch;
use trail_parse::{Batches, DecoderBuilder, Table};

use crate::util::{concat, root, walk};

/// The bundled bucket's log objects that decode, as (key, bytes).
fn bucket() -> Vec<(String, Vec<u8>)> {
    let mut decoder = DecoderBuilder::new().build();
    walk(&root().join("examples/bucket"))
        .into_iter()
        .filter(|(k, _)| k.contains("/CloudTrail/"))
        .map(|(k, p)| (k, std::fs::read(p).unwrap()))
        .filter(|(k, bytes)| decoder.decode_all_slice(k, bytes).is_ok())
        .collect()
}

/// Every table's rows in one batch (empty tables left out).
fn tables(batches: &Batches) -> Vec<(Table, RecordBatch)> {
    Table::ALL
        .iter()
        .filter(|t| !batches.get(**t).is_empty())
        .map(|t| (*t, concat(*t, batches.get(*t))))
        .collect()
}

/// The objects decoded one at a time, their batches in order.
fn one_by_one(objects: &[(String, Vec<u8>)]) -> Batches {
    let mut decoder = DecoderBuilder::new().build();
    let mut all = Batches::default();
    for (key, bytes) in objects {
        let (b, _) = decoder.decode_all_slice(key, bytes).unwrap();
        all.events.extend(b.events);
        all.table_access.extend(b.table_access);
        all.athena_queries.extend(b.athena_queries);
    }
    all
}

#[test]
fn appended_objects_give_the_same_rows_in_fewer_batches() {
    let objects = bucket();
    assert!(objects.len() > 5, "the bundled bucket has objects");
    let expected = one_by_one(&objects);
    let mut decoder = DecoderBuilder::new().build();
    let mut records = 0;
    for (key, bytes) in &objects {
        records += decoder.append_slice(key, bytes).unwrap().records;
        assert!(decoder.pending_rows() > 0);
    }
    let batches = decoder.take_batches().unwrap();
    assert_eq!(decoder.pending_rows(), 0);
    assert_eq!(batches.get(Table::Events).len(), 1, "one events batch");
    assert_eq!(batches.get(Table::Events)[0].num_rows() as u64, records);
    assert_eq!(tables(&batches), tables(&expected));
    // The decoder is empty and reusable.
    assert!(decoder.take_batches().unwrap().is_empty());
}

#[test]
fn full_batches_are_cut_across_objects() {
    let objects = bucket();
    let expected = one_by_one(&objects);
    let mut decoder = DecoderBuilder::new().with_batch_size(7).build();
    for (key, bytes) in &objects {
        decoder.append_slice(key, bytes).unwrap();
    }
    let batches = decoder.take_batches().unwrap();
    assert!(batches.get(Table::Events).len() > 2);
    assert!(batches.get(Table::Events).iter().all(|b| b.num_rows() <= 8));
    assert_eq!(tables(&batches), tables(&expected));
}

const RECORD: &str = r#"{"eventTime":"2024-01-02T03:04:05Z","eventSource":"glue.amazonaws.com","eventName":"GetTable","eventID":"@@","userIdentity":{"type":"IAMUser","userName":"ana"},"requestParameters":{"databaseName":"sales","name":"orders"}}"#;

fn doc(ids: &[&str], complete: bool) -> Vec<u8> {
    let records: Vec<String> = ids.iter().map(|id| RECORD.replace("@@", id)).collect();
    let mut doc = format!(r#"{{"Records":[{}"#, records.join(","));
    if complete {
        doc.push_str("]}");
    } else {
        doc.push(',');
    }
    doc.into_bytes()
}

fn event_ids(batches: &Batches) -> Vec<String> {
    let events = concat(Table::Events, batches.get(Table::Events));
    let ids = events
        .column_by_name("event_id")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    ids.iter().map(|v| v.unwrap().to_string()).collect()
}

#[test]
fn a_bad_object_adds_no_rows_and_keeps_the_earlier_ones() {
    // Batch size 3: the truncated object fills a batch holding the first
    // object's rows and its own, then fails.
    for batch in [3, 100] {
        let mut decoder = DecoderBuilder::new().with_batch_size(batch).build();
        decoder
            .append_slice("a.json", &doc(&["a1", "a2"], true))
            .unwrap();
        let err = decoder
            .append_slice("bad.json", &doc(&["x1", "x2", "x3", "x4"], false))
            .unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
        decoder.append_slice("b.json", &doc(&["b1"], true)).unwrap();
        let batches = decoder.take_batches().unwrap();
        assert_eq!(
            event_ids(&batches),
            ["a1", "a2", "b1"],
            "batch size {batch}"
        );
        let access = concat(Table::TableAccess, batches.get(Table::TableAccess));
        assert_eq!(access.num_rows(), 3, "batch size {batch}");
    }
}

#[test]
fn decode_slice_after_appending_keeps_the_objects_apart() {
    let mut decoder = DecoderBuilder::new().build();
    decoder.append_slice("a.json", &doc(&["a1"], true)).unwrap();
    let (own, _) = decoder
        .decode_all_slice("b.json", &doc(&["b1"], true))
        .unwrap();
    assert_eq!(event_ids(&own), ["b1"]);
    assert_eq!(event_ids(&decoder.take_batches().unwrap()), ["a1"]);
}
