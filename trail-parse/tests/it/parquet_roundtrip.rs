//! Each table's batches survive a Parquet write and read unchanged.

use bytes_free::roundtrip;

mod bytes_free {
    use arrow_array::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    pub fn roundtrip(batch: &RecordBatch) -> RecordBatch {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(buf))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        arrow_select::concat::concat_batches(&batch.schema(), &batches).unwrap()
    }
}

#[test]
fn every_table_round_trips_through_parquet() {
    use crate::util::{concat, decode_file, root, walk};
    use trail_parse::{ObjectKey, Table};
    let mut all = trail_parse::Batches::default();
    for (key, path) in walk(&root().join("examples/bucket")) {
        if ObjectKey::parse(&key).is_ok_and(|k| k.kind.has_records()) {
            let (b, _) = decode_file(&key, &path);
            all.events.extend(b.events);
            all.table_access.extend(b.table_access);
            all.athena_queries.extend(b.athena_queries);
        }
    }
    for table in Table::ALL {
        let batch = concat(table, all.get(table));
        assert!(batch.num_rows() > 0, "{}", table.name());
        let back = roundtrip(&batch);
        assert_eq!(back, batch, "{}", table.name());
    }
}
