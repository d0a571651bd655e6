//! Any bytes, as a CloudTrail object: the decoder returns batches or an
//! error naming the object, never panics, and its counts agree; decoding
//! from a reader and from memory (libdeflate for whole gzip objects) agree.
//! An input whose first byte is odd is gzipped first (the rest of it), so
//! both gzip paths are reached.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use trail_parse::{DecoderBuilder, ObjectSummary, Table};

const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/fuzz.json.gz";

fn decode(data: &[u8], slice: bool) -> Result<ObjectSummary, String> {
    let mut decoder = DecoderBuilder::new()
        .with_batch_size(7)
        .with_max_record_bytes(1 << 16)
        .build();
    let mut rows = [0u64; 3];
    let mut count = |table: Table, n: usize| {
        let i = Table::ALL.iter().position(|t| *t == table).unwrap_or(0);
        rows[i] += n as u64;
        assert!(n <= 7);
    };
    let result = if slice {
        decoder.decode_slice(KEY, data, |t, b| count(t, b.num_rows()))
    } else {
        decoder.decode_object(KEY, data, |t, b| count(t, b.num_rows()))
    };
    match result {
        Ok(s) => {
            assert_eq!(rows[0], s.rows.events);
            assert_eq!(rows[1], s.rows.table_access);
            assert_eq!(rows[2], s.rows.athena_queries);
            assert_eq!(s.records, s.rows.events + s.bad_records.len() as u64);
            Ok(s)
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(KEY));
            Err(text)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let owned;
    let input = match data.split_first() {
        Some((first, rest)) if first & 1 == 1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(rest).unwrap();
            owned = e.finish().unwrap();
            &owned[..]
        }
        _ => data,
    };
    assert_eq!(decode(input, false), decode(input, true));
});
