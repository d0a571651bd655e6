//! The decoder: object bytes in, Arrow batches of the three tables out.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};

use crate::athena::AthenaQueriesBuilder;
use crate::envelope::{EnvelopeError, Next, Splitter};
use crate::events::{self, EventsBuilder, Origin};
use crate::inflate::Inflater;
use crate::table_access::TableAccessBuilder;
use crate::time::days_since_epoch;
use crate::{athena, table_access, Error, ObjectKey, RecordError};

/// Bytes of decompressed JSON read at a time.
const READ_CHUNK: usize = 256 << 10;
/// Gzip objects up to this much JSON are decompressed whole when in memory.
const WHOLE_OBJECT_BYTES: usize = 16 << 20;

/// The output tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per CloudTrail record.
    Events,
    /// One row per Glue table or database touched (and per Lake Formation `GetDataAccess`).
    TableAccess,
    /// One row per Athena `StartQueryExecution`.
    AthenaQueries,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 3] = [Table::Events, Table::TableAccess, Table::AthenaQueries];

    /// The table's name, as used in paths and SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::TableAccess => "table_access",
            Table::AthenaQueries => "athena_queries",
        }
    }

    /// The Arrow schema of the batches the decoder produces for this table.
    /// The last column, `event_date` (Date32), is the partition value: writers
    /// put it in the path (`event_date=YYYY-MM-DD`) rather than in the file.
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            Table::Events => EventsBuilder::fields(),
            Table::TableAccess => TableAccessBuilder::fields(),
            Table::AthenaQueries => athena::AthenaQueriesBuilder::fields(),
        };
        Arc::new(Schema::new(fields))
    }
}

/// The name of the partition column every table ends with.
pub const PARTITION_COLUMN: &str = "event_date";

/// What to do with a record that cannot be used (not an object, invalid JSON,
/// over the size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRecordPolicy {
    /// Skip it, count it in [`ObjectSummary::bad_records`], decode the rest.
    #[default]
    Skip,
    /// Fail the whole object with [`Error::BadRecord`].
    Fail,
}

/// Rows produced for each table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// `events` rows.
    pub events: u64,
    /// `table_access` rows.
    pub table_access: u64,
    /// `athena_queries` rows.
    pub athena_queries: u64,
}

/// What decoding one object gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Elements of the `Records` array, good and bad.
    pub records: u64,
    /// Rows produced per table.
    pub rows: TableCounts,
    /// Records skipped under [`BadRecordPolicy::Skip`].
    pub bad_records: Vec<RecordError>,
    /// Bytes of JSON after decompression.
    pub json_bytes: u64,
    /// Whether the object was gzip-compressed.
    pub gzip: bool,
}

/// All the batches of one object, per table (see [`Decoder::decode_all`]).
#[derive(Debug, Default)]
pub struct Batches {
    /// `events` batches.
    pub events: Vec<RecordBatch>,
    /// `table_access` batches.
    pub table_access: Vec<RecordBatch>,
    /// `athena_queries` batches.
    pub athena_queries: Vec<RecordBatch>,
}

impl Batches {
    /// The batches of `table`.
    pub fn get(&self, table: Table) -> &[RecordBatch] {
        match table {
            Table::Events => &self.events,
            Table::TableAccess => &self.table_access,
            Table::AthenaQueries => &self.athena_queries,
        }
    }

    /// Rows in every batch of every table.
    pub fn num_rows(&self) -> usize {
        Table::ALL
            .iter()
            .flat_map(|t| self.get(*t))
            .map(RecordBatch::num_rows)
            .sum()
    }

    /// Whether there are no batches at all.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.table_access.is_empty() && self.athena_queries.is_empty()
    }

    fn push(&mut self, table: Table, batch: RecordBatch) {
        match table {
            Table::Events => self.events.push(batch),
            Table::TableAccess => self.table_access.push(batch),
            Table::AthenaQueries => self.athena_queries.push(batch),
        }
    }

    fn append(&mut self, other: &mut Batches) {
        self.events.append(&mut other.events);
        self.table_access.append(&mut other.table_access);
        self.athena_queries.append(&mut other.athena_queries);
    }
}

/// Configures a [`Decoder`].
#[derive(Debug, Clone)]
pub struct DecoderBuilder {
    batch_rows: usize,
    batch_bytes: usize,
    max_record_bytes: usize,
    policy: BadRecordPolicy,
    redact: bool,
}

impl Default for DecoderBuilder {
    fn default() -> Self {
        DecoderBuilder {
            batch_rows: 8192,
            batch_bytes: 32 << 20,
            max_record_bytes: 256 << 20,
            policy: BadRecordPolicy::Skip,
            redact: false,
        }
    }
}

impl DecoderBuilder {
    /// Defaults: 8,192 rows or 32 MiB of text per batch, records up to 256 MiB, skip bad records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows per batch at most.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// Bytes of variable-length data per `events` batch at most (approximately).
    pub fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.max(1);
        self
    }

    /// Records larger than this are skipped as bad records, without being held in memory.
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes.max(2);
        self
    }

    /// What to do with records that cannot be used.
    pub fn with_bad_record_policy(mut self, policy: BadRecordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Blank the values of secret-looking keys (`sessionToken`, `secretAccessKey`,
    /// `password`, ...) in the JSON columns (see [`crate::redact`]). Off by default:
    /// records are kept as CloudTrail wrote them.
    pub fn with_redaction(mut self, redact: bool) -> Self {
        self.redact = redact;
        self
    }

    /// Build the decoder.
    pub fn build(self) -> Decoder {
        let cap = self.batch_rows.min(1024);
        Decoder {
            events: EventsBuilder::new(cap),
            access: TableAccessBuilder::new(cap / 8),
            athena: AthenaQueriesBuilder::new(cap / 8),
            schemas: Table::ALL.map(Table::schema),
            text: String::new(),
            scratch: vec![0; READ_CHUNK],
            inflater: Inflater::new(),
            ready: Batches::default(),
            batch_json: 0,
            appending: false,
            opts: self,
        }
    }
}

/// Decodes CloudTrail objects into Arrow batches of the three tables.
///
/// Memory is bounded by the batch size and the largest record, whatever the
/// object's size: the document is split one record at a time from the
/// decompressing reader. Batches from [`decode_object`](Decoder::decode_object)
/// and [`decode_slice`](Decoder::decode_slice) never mix objects, so a caller
/// that gets an `Err` drops the batches the sink received during that call,
/// and the object contributes no rows. [`append_slice`](Decoder::append_slice)
/// lets the rows of many small objects share batches instead (see there).
///
/// ```
/// use trail_parse::{DecoderBuilder, Table};
/// let json = br#"{"Records":[{"eventTime":"2024-05-06T07:08:09Z","eventSource":"athena.amazonaws.com",
///   "eventName":"StartQueryExecution","userIdentity":{"type":"IAMUser","userName":"ana"},
///   "requestParameters":{"queryString":"***OMITTED***"},
///   "responseElements":{"queryExecutionId":"q-1"}}]}"#;
/// let mut decoder = DecoderBuilder::new().build();
/// let (batches, summary) = decoder.decode_all("example.json", &json[..]).unwrap();
/// assert_eq!(summary.records, 1);
/// assert_eq!(batches.get(Table::Events)[0].num_rows(), 1);
/// assert_eq!(batches.get(Table::AthenaQueries)[0].num_rows(), 1);
/// ```
pub struct Decoder {
    opts: DecoderBuilder,
    events: EventsBuilder,
    access: TableAccessBuilder,
    athena: AthenaQueriesBuilder,
    schemas: [SchemaRef; 3],
    text: String,
    scratch: Vec<u8>,
    inflater: Inflater,
    /// Batches of objects appended whole, for [`Decoder::take_batches`].
    ready: Batches,
    /// JSON bytes behind the rows in the builders (for [`Decoder::learn`]).
    batch_json: u64,
    /// Inside [`Decoder::append_slice`]: rows stay in the builders at the end of an object.
    appending: bool,
}

impl Decoder {
    /// Decode one object (gzip, multi-member gzip, or plain JSON, decided from
    /// its first bytes), handing each finished batch to `sink`.
    ///
    /// `key` names the object in errors and in the `source_key` column; when
    /// it follows CloudTrail's layout, its delivery date partitions records
    /// that lack `eventTime`.
    pub fn decode_object<R: Read>(
        &mut self,
        key: &str,
        input: R,
        mut sink: impl FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        self.set_aside_appended(key)?;
        let result = self.decode_inner(key, input, &mut sink);
        if result.is_err() {
            self.discard();
        }
        result
    }

    /// Decode one object and collect its batches.
    pub fn decode_all<R: Read>(
        &mut self,
        key: &str,
        input: R,
    ) -> Result<(Batches, ObjectSummary), Error> {
        let mut batches = Batches::default();
        let summary = self.decode_object(key, input, |t, b| batches.push(t, b))?;
        Ok((batches, summary))
    }

    /// Like [`decode_object`](Decoder::decode_object) for an object already
    /// in memory, which is faster: a single-member gzip object of up to
    /// 16 MiB of JSON is decompressed whole with libdeflate, and nothing is
    /// copied to an intermediate reader.
    pub fn decode_slice(
        &mut self,
        key: &str,
        bytes: &[u8],
        mut sink: impl FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        self.set_aside_appended(key)?;
        let result = self.decode_slice_inner(key, bytes, &mut sink);
        if result.is_err() {
            self.discard();
        }
        result
    }

    /// [`decode_slice`](Decoder::decode_slice), collecting the batches.
    pub fn decode_all_slice(
        &mut self,
        key: &str,
        bytes: &[u8],
    ) -> Result<(Batches, ObjectSummary), Error> {
        let mut batches = Batches::default();
        let summary = self.decode_slice(key, bytes, |t, b| batches.push(t, b))?;
        Ok((batches, summary))
    }

    /// Decode one object in memory (as [`decode_slice`](Decoder::decode_slice))
    /// into batches shared with the objects appended before and after it:
    /// many small objects make a few full batches rather than a few rows
    /// each, which costs less to build, move, sort and write. Rows wait in
    /// the decoder until a batch is full or [`take_batches`](Decoder::take_batches)
    /// is called.
    ///
    /// An object that fails (`Err`) contributes no rows, and the rows of the
    /// objects appended before it are kept.
    ///
    /// ```
    /// use trail_parse::{DecoderBuilder, Table};
    /// let doc = |name: &str| format!(r#"{{"Records":[{{"eventTime":"2024-05-06T07:08:09Z",
    ///   "eventSource":"s3.amazonaws.com","eventName":"GetObject",
    ///   "userIdentity":{{"type":"IAMUser","userName":"{name}"}}}}]}}"#);
    /// let mut decoder = DecoderBuilder::new().build();
    /// decoder.append_slice("a.json", doc("ana").as_bytes()).unwrap();
    /// decoder.append_slice("b.json", doc("bo").as_bytes()).unwrap();
    /// assert!(decoder.append_slice("bad.json", b"{\"Records\":[").is_err());
    /// let batches = decoder.take_batches().unwrap();
    /// assert_eq!(batches.get(Table::Events).len(), 1, "one batch for both objects");
    /// assert_eq!(batches.get(Table::Events)[0].num_rows(), 2);
    /// ```
    pub fn append_slice(&mut self, key: &str, bytes: &[u8]) -> Result<ObjectSummary, Error> {
        // Rows of earlier objects in the builders, per table: a batch that
        // fills up during this object holds them first.
        let mut marks = [self.events.len(), self.access.len(), self.athena.len()];
        let mut earlier = Batches::default();
        let mut current = Batches::default();
        self.appending = true;
        let result = self.decode_slice_inner(key, bytes, &mut |table, batch| {
            let mark = std::mem::take(&mut marks[table as usize]).min(batch.num_rows());
            if mark > 0 {
                earlier.push(table, batch.slice(0, mark));
            }
            if batch.num_rows() > mark {
                current.push(table, batch.slice(mark, batch.num_rows() - mark));
            }
        });
        self.appending = false;
        self.ready.append(&mut earlier);
        match result {
            Ok(summary) => {
                self.ready.append(&mut current);
                Ok(summary)
            }
            Err(e) => {
                // The builders hold the earlier objects' rows (up to the
                // marks) and then this object's: keep the former.
                self.batch_json = 0;
                let mut kept = Batches::default();
                self.flush(key, &mut |table, batch| {
                    let mark = marks[table as usize].min(batch.num_rows());
                    if mark > 0 {
                        kept.push(table, batch.slice(0, mark));
                    }
                })?;
                self.ready.append(&mut kept);
                Err(e)
            }
        }
    }

    /// The batches of the objects appended so far, the rows still in the
    /// builders included; the decoder is empty afterwards.
    pub fn take_batches(&mut self) -> Result<Batches, Error> {
        let json = std::mem::take(&mut self.batch_json);
        self.learn(json);
        let mut ready = std::mem::take(&mut self.ready);
        self.flush("(appended objects)", &mut |table, batch| {
            ready.push(table, batch)
        })?;
        Ok(ready)
    }

    /// Rows appended with [`append_slice`](Decoder::append_slice) wait for
    /// [`take_batches`](Decoder::take_batches), not in the next object's batches.
    fn set_aside_appended(&mut self, key: &str) -> Result<(), Error> {
        if self.events.len() + self.access.len() + self.athena.len() == 0 {
            return Ok(());
        }
        let json = std::mem::take(&mut self.batch_json);
        self.learn(json);
        let mut ready = std::mem::take(&mut self.ready);
        let flushed = self.flush(key, &mut |table, batch| ready.push(table, batch));
        self.ready = ready;
        flushed
    }

    /// Rows appended and not yet taken (see [`append_slice`](Decoder::append_slice)).
    pub fn pending_rows(&self) -> usize {
        self.ready.num_rows() + self.events.len() + self.access.len() + self.athena.len()
    }

    fn decode_slice_inner(
        &mut self,
        key: &str,
        bytes: &[u8],
        sink: &mut dyn FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = std::mem::take(&mut self.text).into_bytes();
            if self
                .inflater
                .single_member(bytes, WHOLE_OBJECT_BYTES, &mut out)
            {
                // simdutf8 validates ASCII-heavy text several times faster than std.
                if simdutf8::basic::from_utf8(&out).is_err() {
                    // Not UTF-8 somewhere: the streaming window finds which records.
                    return self.stream(key, &out[..], true, sink);
                }
                // SAFETY: simdutf8 has just validated exactly these bytes as UTF-8.
                #[allow(unsafe_code)]
                let text = unsafe { String::from_utf8_unchecked(out) };
                let splitter = Splitter::from_text(text, self.opts.max_record_bytes);
                return self.split(key, splitter, true, sink);
            }
            out.clear();
            self.text = String::from_utf8(out).unwrap_or_default();
        }
        self.decode_inner(key, bytes, sink)
    }

    fn decode_inner<R: Read>(
        &mut self,
        key: &str,
        input: R,
        sink: &mut dyn FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        let mut raw = BufReader::with_capacity(64 << 10, input);
        let head = raw.fill_buf().map_err(|source| Error::Read {
            key: key.to_string(),
            source,
        })?;
        if head.is_empty() {
            return Err(Error::Empty {
                key: key.to_string(),
            });
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            self.stream(key, flate2::bufread::MultiGzDecoder::new(raw), true, sink)
        } else {
            self.stream(key, raw, false, sink)
        }
    }

    /// Decode a stream of JSON (already decompressed).
    fn stream<R: Read>(
        &mut self,
        key: &str,
        json: R,
        gzip: bool,
        sink: &mut dyn FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        let splitter = Splitter::new(
            json,
            std::mem::take(&mut self.scratch),
            self.opts.max_record_bytes,
            std::mem::take(&mut self.text),
        );
        self.split(key, splitter, gzip, sink)
    }

    /// Decode every record `splitter` finds.
    fn split<R: Read>(
        &mut self,
        key: &str,
        mut splitter: Splitter<R>,
        gzip: bool,
        sink: &mut dyn FnMut(Table, RecordBatch),
    ) -> Result<ObjectSummary, Error> {
        let mut summary = ObjectSummary {
            gzip,
            ..ObjectSummary::default()
        };
        let fallback_day = ObjectKey::parse(key)
            .ok()
            .and_then(|k| k.delivery_date)
            .map(days_since_epoch);
        let mut batch_start = 0;
        // Appended objects fill a batch together: size it for a whole one.
        self.presize(if self.appending {
            None
        } else {
            splitter.remaining()
        });
        let result = loop {
            let index = summary.records;
            let next = splitter
                .next_record(|text| self.record(text, key, index, fallback_day, &mut summary.rows));
            let next = match next {
                Ok(next) => next,
                Err(e) => break Err(envelope_error(key, e, summary.records)),
            };
            let bad = match next {
                Next::End => break Ok(()),
                Next::Record => None,
                Next::Bad(e) => Some(e),
                Next::BadUtf8(at) => Some(RecordError {
                    index,
                    field: None,
                    reason: format!("not valid UTF-8 (at byte {at})"),
                }),
                Next::TooLarge(len) => Some(RecordError {
                    index,
                    field: None,
                    reason: format!(
                        "{len} bytes, over the {}-byte record limit",
                        self.opts.max_record_bytes
                    ),
                }),
            };
            summary.records += 1;
            if let Some(bad) = bad {
                match self.opts.policy {
                    BadRecordPolicy::Skip => summary.bad_records.push(bad),
                    BadRecordPolicy::Fail => {
                        break Err(Error::BadRecord {
                            key: key.to_string(),
                            record: bad,
                        })
                    }
                }
            }
            if self.events.len() >= self.opts.batch_rows
                || self.events.bytes() >= self.opts.batch_bytes
            {
                let json = std::mem::take(&mut self.batch_json) + splitter.offset() - batch_start;
                self.learn(json);
                batch_start = splitter.offset();
                if let Err(e) = self.flush(key, sink) {
                    break Err(e);
                }
                self.presize(splitter.remaining());
            }
        };
        self.batch_json += splitter.offset() - batch_start;
        if !self.appending {
            let json = std::mem::take(&mut self.batch_json);
            self.learn(json);
        }
        summary.json_bytes = splitter.offset();
        let (mut text, scratch) = splitter.into_parts();
        text.clear();
        if text.capacity() > 4 << 20 {
            text = String::new();
        }
        self.text = text;
        if !scratch.is_empty() {
            self.scratch = scratch;
        }
        result?;
        if !self.appending {
            self.flush(key, sink)?;
        }
        Ok(summary)
    }

    /// Size the three tables' builders for the next batch: the JSON it will likely
    /// hold is what is `remaining` of a text in memory, else (a stream) a
    /// full batch's worth.
    fn presize(&mut self, remaining: Option<usize>) {
        let json = remaining
            .unwrap_or(self.opts.batch_bytes)
            .min(self.opts.batch_bytes);
        self.events.presize(json, self.opts.batch_rows);
        self.access.presize(json, self.opts.batch_rows);
        self.athena.presize(json, self.opts.batch_rows);
    }

    /// Learn, for [`Decoder::presize`], what the last `json_bytes` of JSON
    /// made in each table.
    fn learn(&mut self, json_bytes: u64) {
        self.events.learn(json_bytes);
        self.access.learn(json_bytes);
        self.athena.learn(json_bytes);
    }

    /// Decode the record at the start of `text`; returns its length.
    fn record(
        &mut self,
        text: &str,
        key: &str,
        index: u64,
        fallback_day: Option<i32>,
        rows: &mut TableCounts,
    ) -> Result<usize, RecordError> {
        let origin = Origin {
            key,
            index,
            fallback_day,
            redact: self.opts.redact,
        };
        let mut row = events::EventRow::default();
        let len = events::flatten_into(&mut row, text, &origin)?;
        rows.table_access += table_access::derive(&row, &mut self.access);
        rows.athena_queries += athena::derive(&row, &mut self.athena);
        self.events.append(&row);
        rows.events += 1;
        Ok(len)
    }

    /// Hand the rows built so far to `sink`, one batch per non-empty table.
    fn flush(&mut self, key: &str, sink: &mut dyn FnMut(Table, RecordBatch)) -> Result<(), Error> {
        for table in Table::ALL {
            let (len, columns) = match table {
                Table::Events if self.events.len() > 0 => {
                    (self.events.len(), self.events.finish_columns())
                }
                Table::TableAccess if self.access.len() > 0 => {
                    (self.access.len(), self.access.finish_columns())
                }
                Table::AthenaQueries if self.athena.len() > 0 => {
                    (self.athena.len(), self.athena.finish_columns())
                }
                _ => continue,
            };
            let schema = self.schemas[table as usize].clone();
            let batch = RecordBatch::try_new(schema, columns).map_err(|source| Error::Arrow {
                key: key.to_string(),
                table: table.name(),
                source,
            })?;
            debug_assert_eq!(batch.num_rows(), len);
            sink(table, batch);
        }
        Ok(())
    }

    /// Drop rows of a failed object.
    fn discard(&mut self) {
        self.batch_json = 0;
        self.events.finish_columns();
        self.access.finish_columns();
        self.athena.finish_columns();
    }
}

fn envelope_error(key: &str, e: EnvelopeError, records: u64) -> Error {
    let key = key.to_string();
    match e {
        EnvelopeError::Io(source) => Error::Read { key, source },
        EnvelopeError::Empty => Error::Empty { key },
        EnvelopeError::Shape { offset, reason } => Error::Envelope {
            key,
            offset,
            reason,
        },
        EnvelopeError::Truncated => Error::Truncated { key, records },
    }
}
