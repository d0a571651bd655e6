//! Any bytes, as a CloudTrail object: the decoder returns batches or an
//! error naming the object, never panics, and its counts agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trail_parse::{DecoderBuilder, Table};

const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/fuzz.json.gz";

fuzz_target!(|data: &[u8]| {
    let mut decoder = DecoderBuilder::new().with_batch_size(7).with_max_record_bytes(1 << 16).build();
    let mut rows = [0u64; 3];
    match decoder.decode_object(KEY, data, |table, batch| {
        let i = Table::ALL.iter().position(|t| *t == table).unwrap_or(0);
        rows[i] += batch.num_rows() as u64;
        assert!(batch.num_rows() <= 7);
    }) {
        Ok(s) => {
            assert_eq!(rows[0], s.rows.events);
            assert_eq!(rows[1], s.rows.table_access);
            assert_eq!(rows[2], s.rows.athena_queries);
            assert_eq!(s.records, s.rows.events + s.bad_records.len() as u64);
        }
        Err(e) => assert!(e.to_string().contains(KEY)),
    }
});
