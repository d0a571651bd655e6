//! Objects and records that are not what CloudTrail writes: object-level
//! errors name the object and the reason; record-level problems skip the
//! record and keep the others.

use std::io::Write;

use trail_parse::{BadRecordPolicy, DecoderBuilder, Error, Table};

const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/bad.json.gz";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Decode from a reader and from memory (libdeflate for whole gzip
/// objects): both must give the same result, errors included.
fn decode(bytes: &[u8]) -> Result<trail_parse::ObjectSummary, Error> {
    let streamed = DecoderBuilder::new()
        .build()
        .decode_all(KEY, bytes)
        .map(|(_, s)| s);
    let sliced = DecoderBuilder::new()
        .build()
        .decode_all_slice(KEY, bytes)
        .map(|(_, s)| s);
    assert_eq!(
        format!("{streamed:?}"),
        format!("{sliced:?}"),
        "decode_all and decode_all_slice disagree"
    );
    streamed
}

const GOOD: &str = r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"A","eventID":"1"}"#;

#[test]
fn object_level_errors_name_the_object_and_reason() {
    let good = format!(r#"{{"Records":[{GOOD},{GOOD}]}}"#);
    let full = gz(good.as_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty object", vec![], "is empty"),
        (
            "not gzip, not JSON",
            b"PK\x03\x04 zip file".to_vec(),
            "expected '{'",
        ),
        (
            "truncated gzip",
            full[..full.len() - 12].to_vec(),
            "cannot read",
        ),
        ("gzip of non-JSON", gz(b"hello world"), "expected '{'"),
        ("gzip twice", gz(&full), "0x1f"),
        (
            "JSON without Records",
            gz(br#"{"foo":[1]}"#),
            "no \"Records\" array",
        ),
        (
            "Records not an array",
            gz(br#"{"Records":{"a":1}}"#),
            "not an array",
        ),
        (
            "truncated JSON",
            gz(&good.as_bytes()[..good.len() - 10]),
            "ends in the middle",
        ),
    ];
    for (what, bytes, want) in cases {
        let err = decode(&bytes).expect_err(what);
        let msg = err.to_string();
        assert!(msg.contains(KEY), "{what}: {msg}");
        assert!(msg.contains(want), "{what}: {msg}");
    }
}

#[test]
fn bad_records_are_skipped_with_their_index_and_the_rest_lands() {
    let doc = format!(
        "{{\"Records\":[{GOOD},42,{{\"eventName\":\"B\",\"x\":\"\u{0}\"}},{{\"eventName\":}},{GOOD},null]}}"
    );
    let mut decoder = DecoderBuilder::new().build();
    let (batches, summary) = decoder.decode_all(KEY, &gz(doc.as_bytes())[..]).unwrap();
    assert_eq!(summary.records, 6);
    assert_eq!(summary.rows.events, 2);
    let bad: Vec<u64> = summary.bad_records.iter().map(|b| b.index).collect();
    assert_eq!(bad, vec![1, 2, 3, 5]);
    assert!(summary.bad_records[0]
        .to_string()
        .contains("record 1: not a JSON object (a number)"));
    assert_eq!(
        batches
            .get(Table::Events)
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        2
    );

    // The same object under the fail policy is an error naming the record.
    let mut strict = DecoderBuilder::new()
        .with_bad_record_policy(BadRecordPolicy::Fail)
        .build();
    let err = strict.decode_all(KEY, &gz(doc.as_bytes())[..]).unwrap_err();
    assert!(err.to_string().contains("record 1"), "{err}");
    // And the decoder is clean for the next object.
    let (_, s) = strict
        .decode_all(KEY, format!(r#"{{"Records":[{GOOD}]}}"#).as_bytes())
        .unwrap();
    assert_eq!(s.rows.events, 1);
}

#[test]
fn invalid_utf8_and_oversized_records_are_record_errors() {
    let mut doc = br#"{"Records":[{"eventName":"caf"#.to_vec();
    doc.extend([0xff, 0xfe]);
    doc.extend(br#""},{"eventName":"x","big":""#);
    doc.extend(std::iter::repeat_n(b'a', 5000));
    doc.extend(br#""},"#);
    doc.extend(GOOD.as_bytes());
    doc.extend(b"]}");
    let mut decoder = DecoderBuilder::new().with_max_record_bytes(1000).build();
    let (_, s) = decoder.decode_all(KEY, &doc[..]).unwrap();
    let (_, from_gzip) = decoder.decode_all_slice(KEY, &gz(&doc)).unwrap();
    assert_eq!(
        from_gzip.bad_records, s.bad_records,
        "whole-object path agrees"
    );
    assert_eq!(s.rows.events, 1);
    assert!(
        s.bad_records[0].reason.contains("UTF-8"),
        "{:?}",
        s.bad_records
    );
    assert!(
        s.bad_records[1].reason.contains("record limit"),
        "{:?}",
        s.bad_records
    );
}

#[test]
fn multi_member_gzip_and_plain_json() {
    let mut two = gz(br#"{"Records":[{"eventName":"A"},"#);
    two.extend(gz(br#"{"eventName":"B"}]}"#));
    let s = decode(&two).unwrap();
    assert_eq!(s.rows.events, 2);
    assert!(s.gzip);
    // Two identical members: two copies of the document, which is not one document.
    let one = gz(br#"{"Records":[{"eventName":"A"}]}"#);
    let twice = [one.clone(), one].concat();
    let e = decode(&twice).unwrap_err();
    assert!(e.to_string().contains("after the end"), "{e}");
    let s = decode(br#" {"Records":[{"eventName":"A"}]} "#).unwrap();
    assert!(!s.gzip);
    assert_eq!(s.rows.events, 1);
}

#[test]
fn big_objects_come_out_in_bounded_batches() {
    let mut doc = String::from(r#"{"Records":["#);
    for i in 0..10_000 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(GOOD);
    }
    doc.push_str("]}");
    let mut decoder = DecoderBuilder::new().with_batch_size(1000).build();
    let mut sizes = Vec::new();
    let s = decoder
        .decode_object(KEY, &gz(doc.as_bytes())[..], |t, b| {
            assert_eq!(t, Table::Events);
            sizes.push(b.num_rows())
        })
        .unwrap();
    assert_eq!(s.rows.events, 10_000);
    assert_eq!(sizes, vec![1000; 10]);
}
