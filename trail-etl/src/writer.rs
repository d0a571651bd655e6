//! Write one partition of one table as Parquet: rows sorted by `event_time`,
//! zstd, dictionary encoding where it pays, statistics, and files rolled past a
//! size target. Files are written under `DEST/_trail/tmp/` and renamed into
//! place, so readers never see a partial file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use trail_parse::{Table, PARTITION_COLUMN};

/// Parquet layout settings.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// zstd level (1-22).
    pub zstd_level: i32,
    /// Rows per row group at most.
    pub row_group_rows: usize,
    /// Encoded bytes per row group at most (approximately).
    pub row_group_bytes: usize,
    /// Start a new file once this many bytes are written.
    pub file_bytes: u64,
    /// Parquet that every reader handles (data page v1, `PLAIN` text and
    /// integers) instead of data page v2 with `DELTA_*` encodings, for readers
    /// such as older Spark or Hive (`--parquet-compat`).
    pub compat: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd_level: 1,
            row_group_rows: 1 << 20,
            row_group_bytes: 128 << 20,
            file_bytes: 512 << 20,
            compat: false,
        }
    }
}

/// Columns whose values are mostly unique: a dictionary would only cost time.
const HIGH_CARDINALITY: &[&str] = &[
    "event_time",
    "event_id",
    "request_id",
    "shared_event_id",
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "service_event_details",
    "insight_details",
    "event_context",
    "additional_fields",
    "record_index",
    "query_execution_id",
    "client_request_token",
    "user_identity_session_creation_date",
    "query",
    "submitted_at",
    "completed_at",
];

/// Text columns that keep min/max statistics: the ones queries filter on by
/// equality. Other text gets none: rows are sorted by time only, so the
/// min/max of unsorted text spans nearly everything in a row group and
/// prunes nothing, while computing it costs two comparisons per value (3.6%
/// of a run's instructions for all text columns, measured with callgrind).
/// Non-text columns (times, numbers, flags) always keep theirs: they are cheap.
const TEXT_STATISTICS: &[&str] = &[
    "event_source",
    "event_name",
    "aws_region",
    "recipient_account_id",
    "error_code",
    "database_name",
    "table_name",
    "workgroup",
    "state",
];

/// The schema of the files: the table's schema without the partition column.
pub fn file_schema(table: Table) -> Arc<Schema> {
    let schema = table.schema();
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != PARTITION_COLUMN)
        .cloned()
        .collect();
    Arc::new(Schema::new(fields))
}

/// Writer properties for a table's files.
pub fn properties(table: Table, opts: &WriteOptions) -> Result<WriterProperties> {
    properties_for(&file_schema(table), "event_time", opts)
}

/// Writer properties for files of `schema`, sorted by `sort_column`.
pub fn properties_for(
    schema: &Schema,
    sort_column: &str,
    opts: &WriteOptions,
) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(opts.zstd_level).context("invalid zstd level")?;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_max_row_group_bytes(Some(opts.row_group_bytes.max(1)))
        .set_created_by(format!("trail {}", env!("CARGO_PKG_VERSION")));
    if let Ok(idx) = schema.index_of(sort_column) {
        b = b.set_sorting_columns(Some(vec![SortingColumn {
            column_idx: idx as i32,
            descending: false,
            nulls_first: true,
        }]));
    }
    for name in HIGH_CARDINALITY {
        if schema.index_of(name).is_ok() {
            b = b.set_column_dictionary_enabled((*name).into(), false);
        }
    }
    if !opts.compat {
        // Data page v2: definition levels stay out of zstd and out of the
        // copy that puts a v1 page together, and integers that are not
        // dictionary-encoded are DELTA_BINARY_PACKED (-2.4% instructions,
        // -0.7% bytes). Athena (engine v3, Trino), DuckDB and pyarrow read it.
        b = b.set_writer_version(WriterVersion::PARQUET_2_0);
    }
    for (top, leaf) in text_leaves(schema) {
        // Lengths apart from the bytes: zstd reads the values back to back
        // instead of a 4-byte length before each (PLAIN), and the page
        // buffer is reused instead of regrown from empty for every page.
        // For dictionary columns this is the encoding used once the
        // dictionary is full. (Data page v2's own default would be
        // DELTA_BYTE_ARRAY: measured slower and larger here.)
        b = b.set_column_encoding(
            leaf.clone(),
            if opts.compat {
                Encoding::PLAIN
            } else {
                Encoding::DELTA_LENGTH_BYTE_ARRAY
            },
        );
        if !(leaf.parts().len() == 1 && TEXT_STATISTICS.contains(&top)) {
            b = b.set_column_statistics_enabled(leaf, EnabledStatistics::None);
        }
    }
    Ok(b.build())
}

/// Every text leaf column of `schema` with the name of its top-level field:
/// text fields, and the text fields of lists of structs (`resources`).
fn text_leaves(schema: &Schema) -> Vec<(&str, ColumnPath)> {
    let mut leaves = Vec::new();
    for field in schema.fields() {
        let top = field.name().as_str();
        match field.data_type() {
            DataType::Utf8 => leaves.push((top, ColumnPath::from(top))),
            DataType::List(item) => {
                if let DataType::Struct(children) = item.data_type() {
                    for c in children.iter().filter(|c| c.data_type() == &DataType::Utf8) {
                        let path = vec![
                            top.into(),
                            "list".into(),
                            item.name().clone(),
                            c.name().clone(),
                        ];
                        leaves.push((top, ColumnPath::new(path)));
                    }
                }
            }
            _ => {}
        }
    }
    leaves
}

/// A published Parquet file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// Table name.
    pub table: &'static str,
    /// `event_date=YYYY-MM-DD`.
    pub partition: String,
    /// Path relative to DEST, `/`-separated.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// The newest `event_time` in the file (ms since the epoch), for the
    /// lag `status` and `--metrics` report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_event_ms: Option<i64>,
    /// Rows with a query id (`athena_queries` files): what `enrich` has to
    /// ask about, for the backlog `status` reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_ids: Option<u64>,
}

/// One partition's rows in `event_time` order, read in chunks: the batches
/// as decoded plus the order to read their rows in, so no sorted copy of the
/// whole partition is ever made (a chunk of rows at a time is gathered).
pub struct Sorted {
    batches: Vec<RecordBatch>,
    /// `(batch, row)` in output order; `None` when the only batch is in order.
    order: Option<Vec<(usize, usize)>>,
    /// Columns written (all but the partition column).
    keep: Vec<usize>,
    schema: Arc<Schema>,
    rows: usize,
}

impl Sorted {
    /// Rows already in order, written as they are (all columns).
    pub fn in_order(batch: RecordBatch) -> Sorted {
        let keep = (0..batch.num_columns()).collect();
        Sorted {
            schema: batch.schema(),
            rows: batch.num_rows(),
            batches: vec![batch],
            order: None,
            keep,
        }
    }

    /// Order `batches` (all of one partition of `table`) by `event_time`,
    /// nulls first, rows with equal times in arrival order; the partition
    /// column is left out. Rows that arrive in order (the usual case within
    /// one object) are not moved.
    pub fn by_time(table: Table, batches: Vec<RecordBatch>) -> Result<Sorted> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::TimestampMillisecondType;
        use arrow_array::Array;
        let full = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| table.schema());
        let keep: Vec<usize> = (0..full.fields().len())
            .filter(|&i| full.field(i).name() != PARTITION_COLUMN)
            .collect();
        let schema = Arc::new(full.project(&keep)?);
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        let order = if batches.len() == 1 && is_sorted(time_column(&batches[0])?) {
            None
        } else {
            let mut keys: Vec<(Option<i64>, usize, usize)> = Vec::with_capacity(rows);
            for (b, batch) in batches.iter().enumerate() {
                let time = time_column(batch)?.as_primitive::<TimestampMillisecondType>();
                keys.extend(
                    (0..batch.num_rows()).map(|r| (time.is_valid(r).then(|| time.value(r)), b, r)),
                );
            }
            // Stable and adaptive: nearly sorted runs cost little.
            keys.sort_by_key(|k| k.0);
            Some(keys.into_iter().map(|(_, b, r)| (b, r)).collect())
        };
        Ok(Sorted {
            batches,
            order,
            keep,
            schema,
            rows,
        })
    }

    /// Rows in all.
    pub fn num_rows(&self) -> usize {
        self.rows
    }

    /// The schema of the rows written.
    pub fn schema(&self) -> Arc<Schema> {
        Arc::clone(&self.schema)
    }

    /// Rows `start..start + len` in order, as one batch or several.
    ///
    /// Rows in long runs of one decoded batch (the usual case: an object's
    /// rows arrive in time order) are handed out as slices of it, not copied:
    /// the Parquet writer copies them once anyway. Shorter runs are copied a
    /// run at a time into one batch, and rows that interleave finely are
    /// gathered row by row.
    pub fn pieces(&self, start: usize, len: usize) -> Result<Vec<RecordBatch>> {
        let pieces = match &self.order {
            None => vec![self.batches[0].slice(start, len)],
            Some(order) => {
                let order = &order[start..start + len];
                let runs = runs(order);
                if runs.len() * MIN_RUN <= len {
                    let mut pieces = Vec::new();
                    let mut short: Vec<RecordBatch> = Vec::new();
                    for &(b, r, n) in &runs {
                        let slice = self.batches[b].slice(r, n);
                        if n < LONG_RUN {
                            short.push(slice);
                            continue;
                        }
                        if !short.is_empty() {
                            pieces.push(self.concat(std::mem::take(&mut short))?);
                        }
                        pieces.push(slice);
                    }
                    if !short.is_empty() {
                        pieces.push(self.concat(short)?);
                    }
                    pieces
                } else {
                    let refs: Vec<&RecordBatch> = self.batches.iter().collect();
                    vec![arrow_select::interleave::interleave_record_batch(
                        &refs, order,
                    )?]
                }
            }
        };
        pieces
            .into_iter()
            .map(|p| Ok(p.project(&self.keep)?))
            .collect()
    }

    fn concat(&self, mut slices: Vec<RecordBatch>) -> Result<RecordBatch> {
        if slices.len() == 1 {
            return Ok(slices.remove(0));
        }
        Ok(arrow_select::concat::concat_batches(
            &self.batches[0].schema(),
            &slices,
        )?)
    }
}

/// Average run length from which a chunk is copied run by run rather than
/// gathered row by row (each slice has a fixed cost; not tuned finely).
const MIN_RUN: usize = 16;

/// Rows from which a run is handed to the writer as a slice of its batch
/// rather than copied (each write has a fixed cost per column).
const LONG_RUN: usize = 512;

/// `(batch, first row, rows)` runs of consecutive rows of one batch in `order`.
fn runs(order: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for &(b, r) in order {
        match out.last_mut() {
            Some((lb, lr, n)) if *lb == b && *lr + *n == r => *n += 1,
            _ => out.push((b, r, 1)),
        }
    }
    out
}

fn time_column(batch: &RecordBatch) -> Result<&arrow_array::ArrayRef> {
    batch
        .column_by_name("event_time")
        .context("no event_time column")
}

fn is_sorted(col: &dyn arrow_array::Array) -> bool {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    use arrow_array::Array;
    let a = col.as_primitive::<TimestampMillisecondType>();
    if a.null_count() > 0 {
        return false;
    }
    a.values().windows(2).all(|w| w[0] <= w[1])
}

/// A finished file waiting to be published.
#[derive(Debug, Clone)]
pub struct PendingFile {
    /// What the summary reports.
    pub written: Written,
    /// The finished file on local disk.
    pub tmp: PathBuf,
}

/// Write a sorted partition as `<table>/<partition>/<base>-NNNN.parquet`
/// files in `tmp_dir`, rolling to a new file past `opts.file_bytes`; `first`
/// numbers the first file. The files are published later.
#[allow(clippy::too_many_arguments)]
pub fn write_partition(
    tmp_dir: &Path,
    table: &'static str,
    props: &WriterProperties,
    partition: &str,
    base: &str,
    first: usize,
    rows: &Sorted,
    opts: &WriteOptions,
) -> Result<Vec<PendingFile>> {
    std::fs::create_dir_all(tmp_dir).with_context(|| format!("creating {}", tmp_dir.display()))?;
    let mut files = Vec::new();
    let mut offset = 0;
    // Rows gathered at a time: small enough to hold little, large enough to amortise.
    let slice_rows = 8_192;
    while offset < rows.num_rows() {
        let name = format!("{base}-{:06}.parquet", first + files.len());
        let rel = format!("{table}/{partition}/{name}");
        let tmp = tmp_dir.join(format!("{table}.{partition}.{name}"));
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = ArrowWriter::try_new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            rows.schema(),
            Some(props.clone()),
        )?;
        let start = offset;
        let mut newest_event_ms: Option<i64> = None;
        let mut query_ids: Option<u64> = None;
        while offset < rows.num_rows() {
            let n = slice_rows.min(rows.num_rows() - offset);
            for piece in rows.pieces(offset, n)? {
                if let Some(t) = piece.column_by_name("event_time").and_then(|c| {
                    use arrow_array::cast::AsArray;
                    c.as_primitive_opt::<arrow_array::types::TimestampMillisecondType>()?
                        .iter()
                        .flatten()
                        .max()
                }) {
                    newest_event_ms = Some(newest_event_ms.map_or(t, |m| m.max(t)));
                }
                if let Some(ids) = piece.column_by_name("query_execution_id") {
                    *query_ids.get_or_insert(0) += (ids.len() - ids.null_count()) as u64;
                }
                w.write(&piece)?;
            }
            offset += n;
            if (w.bytes_written() + w.in_progress_size()) as u64 >= opts.file_bytes {
                break;
            }
        }
        w.close()
            .with_context(|| format!("writing {}", tmp.display()))?;
        let bytes = std::fs::metadata(&tmp)
            .with_context(|| format!("reading the size of {}", tmp.display()))?
            .len();
        files.push(PendingFile {
            written: Written {
                table,
                partition: partition.to_string(),
                path: rel,
                rows: (offset - start) as u64,
                bytes,
                newest_event_ms,
                query_ids,
            },
            tmp,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{ArrayRef, Date32Array, Int64Array, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};
    use parquet::basic::PageType;

    /// `event_time`, as the tables declare it.
    fn time_field() -> Field {
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        )
    }

    /// A batch of (event_time, record_index, event_date) rows.
    fn batch(rows: &[(Option<i64>, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            time_field(),
            Field::new("record_index", DataType::Int64, true),
            Field::new(PARTITION_COLUMN, DataType::Date32, true),
        ]));
        let time = TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
            .with_timezone("UTC");
        let index = Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        let date = Date32Array::from(vec![7; rows.len()]);
        let columns: Vec<ArrayRef> = vec![Arc::new(time), Arc::new(index), Arc::new(date)];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// Rows with the given times, numbered from `offset` in arrival order.
    fn timed(offset: i64, times: Vec<i64>) -> Vec<(Option<i64>, i64)> {
        times
            .into_iter()
            .enumerate()
            .map(|(i, t)| (Some(t), offset + i as i64))
            .collect()
    }

    fn indices(sorted: &Sorted, chunk: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < sorted.num_rows() {
            let n = chunk.min(sorted.num_rows() - start);
            for part in sorted.pieces(start, n).unwrap() {
                assert_eq!(part.schema(), sorted.schema());
                out.extend(part.column(1).as_primitive::<Int64Type>().values().iter());
            }
            start += n;
        }
        out
    }

    #[test]
    fn text_is_delta_length_encoded_and_filter_columns_keep_statistics() {
        let props = properties(Table::Events, &WriteOptions::default()).unwrap();
        let col = |p: &[&str]| ColumnPath::new(p.iter().map(|s| s.to_string()).collect());
        let delta = Some(Encoding::DELTA_LENGTH_BYTE_ARRAY);
        // Mostly unique text: no dictionary, lengths apart from the bytes.
        let json = col(&["request_parameters"]);
        assert!(!props.dictionary_enabled(&json));
        assert_eq!(props.encoding(&json), delta);
        assert_eq!(props.statistics_enabled(&json), EnabledStatistics::None);
        // Dictionary text: the same encoding once the dictionary is full.
        let name = col(&["event_name"]);
        assert!(props.dictionary_enabled(&name));
        assert_eq!(props.encoding(&name), delta);
        assert_eq!(props.statistics_enabled(&name), EnabledStatistics::Page);
        let arn = col(&["resources", "list", "item", "arn"]);
        assert_eq!(props.encoding(&arn), delta);
        assert_eq!(props.statistics_enabled(&arn), EnabledStatistics::None);
        // Not text: parquet's defaults, statistics kept.
        let time = col(&["event_time"]);
        assert_eq!(props.encoding(&time), None);
        assert_eq!(props.statistics_enabled(&time), EnabledStatistics::Page);
        assert_eq!(props.writer_version(), WriterVersion::PARQUET_2_0);

        let compat = WriteOptions {
            compat: true,
            ..WriteOptions::default()
        };
        let props = properties(Table::Events, &compat).unwrap();
        assert_eq!(props.writer_version(), WriterVersion::PARQUET_1_0);
        assert_eq!(props.encoding(&json), Some(Encoding::PLAIN));
        assert_eq!(props.encoding(&name), Some(Encoding::PLAIN));
        assert_eq!(props.encoding(&arn), Some(Encoding::PLAIN));
        assert_eq!(props.statistics_enabled(&name), EnabledStatistics::Page);
    }

    /// The page kind and the value encodings of every data page of a file
    /// written with `opts`: time, a mostly unique integer, JSON text.
    fn pages_written(opts: &WriteOptions) -> Vec<(String, PageType, Encoding)> {
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let schema = Arc::new(Schema::new(vec![
            time_field(),
            Field::new("record_index", DataType::Int64, true),
            Field::new("request_parameters", DataType::Utf8, true),
        ]));
        let n = 1_000i64;
        let time =
            TimestampMillisecondArray::from_iter_values((0..n).map(|i| 1_700_000_000_000 + i))
                .with_timezone("UTC");
        let index = Int64Array::from_iter_values(0..n);
        let json = arrow_array::StringArray::from_iter(
            (0..n).map(|i| (i % 7 != 0).then(|| format!("{{\"key\":\"logs/{i}.gz\"}}"))),
        );
        let columns: Vec<ArrayRef> = vec![Arc::new(time), Arc::new(index), Arc::new(json)];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let props = properties_for(&schema, "event_time", opts).unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        let group = reader.get_row_group(0).unwrap();
        let mut out = Vec::new();
        for (i, column) in group.metadata().columns().iter().enumerate() {
            let mut pages = group.get_column_page_reader(i).unwrap();
            while let Some(page) = pages.get_next_page().unwrap() {
                if page.page_type() != PageType::DICTIONARY_PAGE {
                    out.push((
                        column.column_path().string(),
                        page.page_type(),
                        page.encoding(),
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn pages_are_v2_with_delta_encodings_unless_compat() {
        use Encoding::{DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, PLAIN};
        let v2 = pages_written(&WriteOptions::default());
        assert_eq!(
            v2,
            vec![
                (
                    "event_time".into(),
                    PageType::DATA_PAGE_V2,
                    DELTA_BINARY_PACKED
                ),
                (
                    "record_index".into(),
                    PageType::DATA_PAGE_V2,
                    DELTA_BINARY_PACKED
                ),
                (
                    "request_parameters".into(),
                    PageType::DATA_PAGE_V2,
                    DELTA_LENGTH_BYTE_ARRAY
                ),
            ]
        );
        let compat = WriteOptions {
            compat: true,
            ..WriteOptions::default()
        };
        assert_eq!(
            pages_written(&compat),
            vec![
                ("event_time".into(), PageType::DATA_PAGE, PLAIN),
                ("record_index".into(), PageType::DATA_PAGE, PLAIN),
                ("request_parameters".into(), PageType::DATA_PAGE, PLAIN),
            ]
        );
    }

    #[test]
    fn batches_are_read_in_time_order_nulls_first_ties_in_arrival_order() {
        let batches = vec![
            batch(&[(Some(30), 0), (Some(10), 1), (None, 2)]),
            batch(&[(Some(10), 3), (Some(20), 4)]),
            batch(&[(None, 5), (Some(5), 6)]),
        ];
        let sorted = Sorted::by_time(Table::Events, batches).unwrap();
        assert_eq!(sorted.num_rows(), 7);
        assert!(
            sorted.schema().index_of(PARTITION_COLUMN).is_err(),
            "the partition column lives in the path"
        );
        for chunk in [1, 2, 3, 7, 100] {
            assert_eq!(
                indices(&sorted, chunk),
                vec![2, 5, 6, 1, 3, 4, 0],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn one_sorted_batch_is_read_as_it_is() {
        let sorted =
            Sorted::by_time(Table::Events, vec![batch(&[(Some(1), 0), (Some(2), 1)])]).unwrap();
        assert!(sorted.order.is_none());
        assert_eq!(indices(&sorted, 1), vec![0, 1]);
        let unsorted =
            Sorted::by_time(Table::Events, vec![batch(&[(Some(2), 0), (Some(1), 1)])]).unwrap();
        assert_eq!(indices(&unsorted, 8), vec![1, 0]);
    }

    #[test]
    fn long_runs_are_copied_a_run_at_a_time_in_the_same_order() {
        // Two batches, each in order, interleaved in runs of 20 and 40 rows,
        // with a short-run stretch in the middle (rows 100..110 alternate).
        let mut a: Vec<i64> = (0..20).chain(60..80).collect();
        let mut b: Vec<i64> = (20..60).chain(80..100).collect();
        a.extend((100..110).step_by(2));
        b.extend((101..110).step_by(2));
        let batches = vec![batch(&timed(0, a.clone())), batch(&timed(1000, b.clone()))];
        let sorted = Sorted::by_time(Table::Events, batches).unwrap();
        let mut want: Vec<(i64, i64)> = a
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i as i64))
            .chain(b.iter().enumerate().map(|(i, &t)| (t, 1000 + i as i64)))
            .collect();
        want.sort();
        let want: Vec<i64> = want.into_iter().map(|(_, i)| i).collect();
        for chunk in [1, 7, 16, 33, 64, 110, 500] {
            assert_eq!(indices(&sorted, chunk), want, "chunk {chunk}");
        }
        let order = sorted.order.as_ref().unwrap();
        assert_eq!(runs(&order[..60]), vec![(0, 0, 20), (1, 0, 40)]);
        assert_eq!(
            runs(&order[100..103]),
            vec![(0, 40, 1), (1, 60, 1), (0, 41, 1)]
        );
    }

    #[test]
    fn long_runs_are_handed_out_as_slices_short_ones_copied_together() {
        // Batch a: times 0..600 then 1200..1210; batch b: 600..1200 then
        // 1210..1220. In order: two runs of 600 (slices), then two runs of
        // 10 copied into one batch.
        let a: Vec<i64> = (0..600).chain(1200..1210).collect();
        let b: Vec<i64> = (600..1200).chain(1210..1220).collect();
        let sorted = Sorted::by_time(
            Table::Events,
            vec![batch(&timed(0, a)), batch(&timed(10_000, b))],
        )
        .unwrap();
        let pieces = sorted.pieces(0, sorted.num_rows()).unwrap();
        let sizes: Vec<usize> = pieces.iter().map(|p| p.num_rows()).collect();
        assert_eq!(sizes, vec![600, 600, 20]);
        let got: Vec<i64> = pieces
            .iter()
            .flat_map(|p| p.column(1).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        let want: Vec<i64> = (0..600)
            .chain(10_000..10_600)
            .chain(600..610)
            .chain(10_600..10_610)
            .collect();
        assert_eq!(got, want);
        assert!(pieces.iter().all(|p| p.schema() == sorted.schema()));
        // Any chunking gives the same rows in the same order.
        for chunk in [1, 100, 599, 601, 1219] {
            assert_eq!(indices(&sorted, chunk), want, "chunk {chunk}");
        }
    }
}
