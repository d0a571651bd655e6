//! `trail-etl compact`: each (table, event_date) partition rewritten as the
//! fewest files of at most 512 MB, rows in time order, duplicate deliveries
//! kept once.
//!
//! Hourly runs add a file to every partition they touch, and a backfill
//! leaves several per day: Athena pays for every file it opens. Compaction
//! merges a partition's files, which `run` wrote sorted by `event_time`,
//! with a k-way merge that holds one batch per file, so memory does not
//! follow the partition's size.
//!
//! Duplicate deliveries (CloudTrail writing the same records under a second
//! key) carry the same `eventID` and the same `eventTime`, so they meet in
//! the merge. Of the objects that carry an `eventID`, the rows of the one
//! whose key sorts first are kept: in `events` and `athena_queries` one row
//! per `event_id`, in `table_access` that object's rows (one event can touch
//! several tables). `athena_query_stats` keeps one row per query id (the
//! latest fetched).
//!
//! Crash safety: per partition, a manifest `_trail/compact/<id>.pending.json`
//! names the files merged and the files written; then the new files are
//! published, the merged ones deleted, the manifest removed. A manifest left
//! by a crash is finished (all new files present: the merged ones are
//! deleted) or rolled back (the new files deleted) by the next `compact` or
//! `run --compact`. Files of runs that have not committed (named in a
//! pending run manifest) are never merged, and only the files merged are
//! deleted, so a run publishing into a partition meanwhile loses nothing.
//!
//! Output names are `compact-<id>-NNNNNN.parquet`, `<id>` a hash of the
//! files merged: a partition whose files all come from one compaction is
//! left as it is, so compacting twice changes nothing.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::Schema;
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use trail_parse::Table;

use crate::enrich::{stats_schema, STATS_TABLE};
use crate::hash::Fnv;
use crate::listing::folder_name;
use crate::location::Location;
use crate::run::{failpoint, is_table_file, manifest_list};
use crate::store::{S3Options, Store};
use crate::writer::{file_schema, properties_for, WriteOptions};

/// Where compaction manifests live under DEST.
pub const COMPACT_DIR: &str = "_trail/compact/";
const RUNS_DIR: &str = "_trail/runs/";
/// Rows read from a file at a time, and written at a time.
const BATCH_ROWS: usize = 8_192;
/// Rows read from each file at a time.
const READ_ROWS: usize = 1_024;

/// The tables compaction knows, with their time column and duplicate rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// One row per `event_id` (events, athena_queries).
    OnePerEvent(Table),
    /// The rows of one delivery per `event_id` (table_access).
    OneDeliveryPerEvent(Table),
    /// One row per `query_execution_id` (athena_query_stats).
    Stats,
}

impl Kind {
    fn all() -> [Kind; 4] {
        [
            Kind::OnePerEvent(Table::Events),
            Kind::OneDeliveryPerEvent(Table::TableAccess),
            Kind::OnePerEvent(Table::AthenaQueries),
            Kind::Stats,
        ]
    }

    fn of(name: &str) -> Option<Kind> {
        Kind::all().into_iter().find(|k| k.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::OnePerEvent(t) | Kind::OneDeliveryPerEvent(t) => t.name(),
            Kind::Stats => STATS_TABLE,
        }
    }

    fn schema(self) -> Arc<Schema> {
        match self {
            Kind::OnePerEvent(t) | Kind::OneDeliveryPerEvent(t) => file_schema(t),
            Kind::Stats => stats_schema(),
        }
    }

    fn time_column(self) -> &'static str {
        match self {
            Kind::Stats => "submitted_at",
            _ => "event_time",
        }
    }
}

/// Everything `compact` needs.
#[derive(Debug, Clone, Default)]
pub struct CompactArgs {
    /// Where the tables are.
    pub dest: Option<Location>,
    /// First partition day (inclusive); none: from the first.
    pub start: Option<NaiveDate>,
    /// Last partition day (inclusive); none: to the last.
    pub end: Option<NaiveDate>,
    /// Parquet settings.
    pub write: WriteOptions,
    /// How to reach S3.
    pub s3: S3Options,
    /// Local folder for files on their way to an S3 destination.
    pub work_dir: Option<PathBuf>,
}

/// What one partition's compaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionCompaction {
    /// Table name.
    pub table: String,
    /// `event_date=YYYY-MM-DD`.
    pub partition: String,
    /// Files merged.
    pub files_before: u64,
    /// Files written.
    pub files_after: u64,
    /// Rows read.
    pub rows_before: u64,
    /// Rows written.
    pub rows_after: u64,
    /// Bytes of the files merged.
    pub bytes_before: u64,
    /// Bytes of the files written.
    pub bytes_after: u64,
}

/// What `compact` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    /// The destination.
    pub dest: String,
    /// Partitions looked at.
    pub partitions_seen: u64,
    /// Partitions rewritten.
    pub partitions_compacted: u64,
    /// Partitions already compact (left as they are).
    pub partitions_already_compact: u64,
    /// Files merged, in all.
    pub files_before: u64,
    /// Files written, in all.
    pub files_after: u64,
    /// Rows read, in all.
    pub rows_before: u64,
    /// Rows written, in all.
    pub rows_after: u64,
    /// Duplicate-delivery rows removed (`rows_before - rows_after`).
    pub duplicate_rows_removed: u64,
    /// Bytes merged.
    pub bytes_before: u64,
    /// Bytes written.
    pub bytes_after: u64,
    /// Interrupted compactions finished or rolled back first.
    pub recovered: u64,
    /// Each partition rewritten.
    pub partitions: Vec<PartitionCompaction>,
    /// Wall time.
    pub duration_ms: u64,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 all good, 1 failed.
    pub exit_code: i32,
}

impl CompactSummary {
    /// The human summary on stderr.
    pub fn human(&self) -> String {
        format!(
            "trail: compact {}: {} partitions looked at, {} rewritten ({} files into {}, {} rows into {}: {} duplicate rows removed, {} into {} bytes), {} already compact{}; {:.1} s\n",
            self.dest,
            self.partitions_seen,
            self.partitions_compacted,
            self.files_before,
            self.files_after,
            self.rows_before,
            self.rows_after,
            self.duplicate_rows_removed,
            self.bytes_before,
            self.bytes_after,
            self.partitions_already_compact,
            if self.recovered > 0 {
                format!(", {} interrupted compactions recovered", self.recovered)
            } else {
                String::new()
            },
            self.duration_ms as f64 / 1000.0
        )
    }
}

/// Which partitions to compact.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every partition of every table whose day is in the range.
    Range(Option<NaiveDate>, Option<NaiveDate>),
    /// These `(table, "event_date=YYYY-MM-DD")` partitions.
    Partitions(BTreeSet<(String, String)>),
}

/// Compact on a runtime of its own.
pub fn compact(args: &CompactArgs) -> Result<CompactSummary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    rt.block_on(async {
        let dest_loc = args.dest.as_ref().context("a destination is needed")?;
        let dest = crate::store::connect(dest_loc, &args.s3).await?;
        compact_store(
            &dest,
            &Selection::Range(args.start, args.end),
            &args.write,
            args.work_dir.as_deref(),
        )
        .await
    })
}

/// Compact the selected partitions of `dest` (after finishing or rolling
/// back compactions a crash interrupted).
pub async fn compact_store(
    dest: &Store,
    selection: &Selection,
    write: &WriteOptions,
    work_dir: Option<&Path>,
) -> Result<CompactSummary> {
    let started = Instant::now();
    let mut summary = CompactSummary {
        dest: dest.to_string(),
        ..CompactSummary::default()
    };
    summary.recovered = recover_compactions(dest).await? as u64;
    let tmp_dir = match (dest.local_root(), work_dir) {
        (Some(root), _) => root.join("_trail").join("tmp").join("compact"),
        (None, Some(work)) => work.join(format!("trail-compact-{}", std::process::id())),
        (None, None) => std::env::temp_dir().join(format!("trail-compact-{}", std::process::id())),
    };
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir)
            .with_context(|| format!("clearing {}", tmp_dir.display()))?;
    }
    let partitions = select(dest, selection).await?;
    for (kind, partition) in partitions {
        summary.partitions_seen += 1;
        let done = compact_partition(dest, kind, &partition, write, &tmp_dir)
            .await
            .with_context(|| format!("compacting {}/{partition}", kind.name()))?;
        match done {
            None => summary.partitions_already_compact += 1,
            Some(p) => {
                summary.partitions_compacted += 1;
                summary.files_before += p.files_before;
                summary.files_after += p.files_after;
                summary.rows_before += p.rows_before;
                summary.rows_after += p.rows_after;
                summary.bytes_before += p.bytes_before;
                summary.bytes_after += p.bytes_after;
                summary.partitions.push(p);
            }
        }
    }
    std::fs::remove_dir_all(&tmp_dir).ok();
    summary.duplicate_rows_removed = summary.rows_before - summary.rows_after;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// The partitions selected, as `(table, "event_date=...")`.
async fn select(dest: &Store, selection: &Selection) -> Result<Vec<(Kind, String)>> {
    let mut out = Vec::new();
    match selection {
        Selection::Partitions(set) => {
            for (table, partition) in set {
                if let Some(kind) = Kind::of(table) {
                    out.push((kind, partition.clone()));
                }
            }
        }
        Selection::Range(start, end) => {
            for kind in Kind::all() {
                let (dirs, _) = dest.list_dir(&format!("{}/", kind.name())).await?;
                for d in dirs {
                    let partition = folder_name(&d).to_string();
                    let Some(day) = partition
                        .strip_prefix("event_date=")
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    else {
                        continue;
                    };
                    if start.is_some_and(|s| day < s) || end.is_some_and(|e| day > e) {
                        continue;
                    }
                    out.push((kind, partition));
                }
            }
        }
    }
    Ok(out)
}

/// The Parquet files of runs that have not committed (named in a pending
/// run manifest): never merged.
async fn uncommitted_files(dest: &Store) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for m in dest.list_all(RUNS_DIR).await? {
        if !m.key.ends_with(".pending.json") {
            continue;
        }
        let Some(body) = dest.get_optional(&m.key).await? else {
            continue;
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("reading {}", m.key))?;
        out.extend(manifest_list(&doc, "files"));
    }
    Ok(out)
}

/// The id of a compaction of `files` (name and size of each) in `partition`.
fn compaction_id(table: &str, partition: &str, files: &[(String, u64)]) -> String {
    let mut fnv = Fnv::default();
    for part in [table.as_bytes(), partition.as_bytes()] {
        fnv.write(part);
        fnv.write(&[0]);
    }
    for (name, size) in files {
        fnv.write(name.as_bytes());
        fnv.write(&size.to_le_bytes());
        fnv.write(&[0]);
    }
    format!("{:016x}", fnv.finish())
}

/// The compaction id of an output file name (`compact-<id>-NNNNNN.parquet`).
fn output_id(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("compact-")?;
    let (id, n) = rest.split_once('-')?;
    n.strip_suffix(".parquet")
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(|_| id)
}

async fn compact_partition(
    dest: &Store,
    kind: Kind,
    partition: &str,
    write: &WriteOptions,
    tmp_dir: &Path,
) -> Result<Option<PartitionCompaction>> {
    let table = kind.name();
    let dir = format!("{table}/{partition}/");
    // The files first, then the pending manifests: a run publishes its
    // files after its manifest, so a listed file of an uncommitted run is
    // named in a manifest listed afterwards.
    let listed: Vec<_> = dest
        .list_all(&dir)
        .await?
        .into_iter()
        .filter(|l| l.key.ends_with(".parquet") && !l.key[dir.len()..].contains('/'))
        .collect();
    let pending = uncommitted_files(dest).await?;
    let inputs: Vec<(String, u64)> = listed
        .into_iter()
        .filter(|l| !pending.contains(&l.key))
        .map(|l| (l.key, l.size))
        .collect();
    if inputs.is_empty() {
        return Ok(None);
    }
    let ids: BTreeSet<Option<&str>> = inputs
        .iter()
        .map(|(k, _)| output_id(&k[dir.len()..]))
        .collect();
    if ids.len() == 1 && ids.iter().next().is_some_and(|i| i.is_some()) {
        return Ok(None);
    }
    let id = compaction_id(table, partition, &inputs);
    let base = format!("compact-{id}");
    let part_tmp = tmp_dir.join(format!("{table}.{partition}"));
    std::fs::create_dir_all(&part_tmp)
        .with_context(|| format!("creating {}", part_tmp.display()))?;

    // Local copies of S3 inputs (local inputs are read in place).
    let mut paths = Vec::new();
    for (i, (key, _)) in inputs.iter().enumerate() {
        paths.push(match dest.local_root() {
            Some(root) => root.join(key),
            None => {
                let p = part_tmp.join(format!("input-{i:06}.parquet"));
                dest.download(key, &p).await?;
                p
            }
        });
    }
    let props = properties_for(&kind.schema(), kind.time_column(), write)?;
    let (outputs, rows_before) = {
        let part_tmp = part_tmp.clone();
        let names: Vec<String> = inputs.iter().map(|(k, _)| k.clone()).collect();
        let base = base.clone();
        let file_bytes = write.file_bytes;
        // On this thread: every thread that allocates gets a malloc arena
        // of its own, and a merge's batches spread over several cost peak
        // memory (the 2 GiB bench backfill: 1.0 GB peak with the merge on
        // the blocking pool, see benches/RESULTS.md).
        tokio::task::block_in_place(|| {
            merge(kind, &names, &paths, &part_tmp, &base, &props, file_bytes)
        })?
    };

    let out_keys: Vec<String> = outputs.iter().map(|o| format!("{dir}{}", o.name)).collect();
    let manifest = format!("{COMPACT_DIR}{id}.pending.json");
    let doc = serde_json::json!({
        "table": table,
        "partition": partition,
        "merged": inputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "written": out_keys,
    });
    dest.put(&manifest, Bytes::from(serde_json::to_vec_pretty(&doc)?))
        .await?;
    failpoint("compact:after-manifest");
    for (o, key) in outputs.iter().zip(&out_keys) {
        dest.publish_file(key, &o.path).await?;
        failpoint("compact:after-first-file");
    }
    failpoint("compact:after-files");
    let mut first = true;
    for (key, _) in &inputs {
        if out_keys.contains(key) {
            continue;
        }
        dest.delete(key).await?;
        if first {
            failpoint("compact:after-first-delete");
            first = false;
        }
    }
    failpoint("compact:after-deletes");
    dest.delete(&manifest).await?;
    std::fs::remove_dir_all(&part_tmp).ok();
    Ok(Some(PartitionCompaction {
        table: table.to_string(),
        partition: partition.to_string(),
        files_before: inputs.len() as u64,
        files_after: outputs.len() as u64,
        rows_before,
        rows_after: outputs.iter().map(|o| o.rows).sum(),
        bytes_before: inputs.iter().map(|(_, s)| s).sum(),
        bytes_after: outputs.iter().map(|o| o.bytes).sum(),
    }))
}

/// Finish or roll back the compactions a crash interrupted; returns how many.
pub async fn recover_compactions(dest: &Store) -> Result<usize> {
    let manifests = dest.list_all(COMPACT_DIR).await?;
    let mut n = 0;
    for m in manifests
        .iter()
        .filter(|m| m.key.ends_with(".pending.json"))
    {
        let body = dest.get(&m.key).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("reading {}", m.key))?;
        // Only Parquet files inside a table's folders; refuse anything else.
        let list = |field: &str| -> Vec<String> {
            manifest_list(&doc, field)
                .into_iter()
                .filter(|f| is_table_file(f) && f.ends_with(".parquet"))
                .collect()
        };
        let (merged, written) = (list("merged"), list("written"));
        let mut all_written = !written.is_empty();
        for w in &written {
            all_written &= dest.exists(w).await?;
        }
        if all_written {
            for f in merged.iter().filter(|f| !written.contains(f)) {
                dest.delete(f).await?;
            }
            tracing::warn!(manifest = %m.key, "finished an interrupted compaction");
        } else {
            for f in &written {
                dest.delete(f).await?;
            }
            if let Some(first) = written.first() {
                let dir = first.rsplit_once('/').map_or("", |(d, _)| d);
                let id = m
                    .key
                    .trim_start_matches(COMPACT_DIR)
                    .trim_end_matches(".pending.json");
                dest.abort_uploads(&format!("{dir}/"), id).await?;
            }
            tracing::warn!(manifest = %m.key, "rolled back an interrupted compaction");
        }
        dest.delete(&m.key).await?;
        n += 1;
    }
    Ok(n)
}

/// A file written by [`merge`].
struct Output {
    name: String,
    path: PathBuf,
    rows: u64,
    bytes: u64,
}

/// One input file being merged.
struct Input {
    reader: ParquetRecordBatchReader,
    name: String,
    /// Slot of the current batch in the pool.
    slot: usize,
    row: usize,
    rows: usize,
    times: Option<arrow_array::PrimitiveArray<TimestampMillisecondType>>,
}

impl Input {
    fn time(&self) -> i64 {
        match &self.times {
            Some(t) if t.is_valid(self.row) => t.value(self.row),
            // Nulls first, as `run` sorts them.
            _ => i64::MIN,
        }
    }
}

/// Merge the sorted `paths` into `compact-...` files in `tmp`, dropping
/// duplicate deliveries. Returns the files and the rows read.
fn merge(
    kind: Kind,
    names: &[String],
    paths: &[PathBuf],
    tmp: &Path,
    base: &str,
    props: &WriterProperties,
    file_bytes: u64,
) -> Result<(Vec<Output>, u64)> {
    let schema = kind.schema();
    let time_idx = schema.index_of(kind.time_column())?;
    let mut pool: Vec<RecordBatch> = Vec::new();
    let mut inputs: Vec<Input> = Vec::new();
    for (name, path) in names.iter().zip(paths) {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("reading {name}"))?
            .with_batch_size(READ_ROWS)
            .build()
            .with_context(|| format!("reading {name}"))?;
        inputs.push(Input {
            reader,
            name: name.clone(),
            slot: usize::MAX,
            row: 0,
            rows: 0,
            times: None,
        });
    }
    let mut rows_read = 0u64;
    // Load each input's first batch.
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    for (i, input) in inputs.iter_mut().enumerate() {
        if advance_batch(input, &mut pool, &schema, time_idx, &mut rows_read)? {
            heap.push(Reverse((input.time(), i)));
        }
    }
    let mut writer = OutputWriter::new(tmp, base, Arc::clone(&schema), props, file_bytes);
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut group: Vec<(usize, usize)> = Vec::new();
    let mut group_time = None;
    let dedup = Dedup::new(kind, &schema)?;
    let mut last_time: Vec<i64> = vec![i64::MIN; inputs.len()];
    while let Some(Reverse((time, i))) = heap.pop() {
        if time < last_time[i] {
            bail!(
                "{} is not sorted by {}: it was not written by trail",
                inputs[i].name,
                kind.time_column()
            );
        }
        last_time[i] = time;
        if group_time != Some(time) {
            dedup.keep(&pool, &mut group, &mut out);
            group_time = Some(time);
            if out.len() >= BATCH_ROWS {
                flush(&mut writer, &mut pool, &mut inputs, &mut group, &mut out)?;
            }
        }
        group.push((inputs[i].slot, inputs[i].row));
        let input = &mut inputs[i];
        input.row += 1;
        let more = input.row < input.rows
            || advance_batch(input, &mut pool, &schema, time_idx, &mut rows_read)?;
        if more {
            heap.push(Reverse((inputs[i].time(), i)));
        }
    }
    dedup.keep(&pool, &mut group, &mut out);
    flush(&mut writer, &mut pool, &mut inputs, &mut group, &mut out)?;
    Ok((writer.finish()?, rows_read))
}

/// Load the next non-empty batch of `input` into the pool; false at its end.
fn advance_batch(
    input: &mut Input,
    pool: &mut Vec<RecordBatch>,
    schema: &Arc<Schema>,
    time_idx: usize,
    rows_read: &mut u64,
) -> Result<bool> {
    loop {
        let Some(batch) = input.reader.next() else {
            input.times = None;
            return Ok(false);
        };
        let batch = batch.with_context(|| format!("reading {}", input.name))?;
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = conform(&batch, schema).with_context(|| format!("reading {}", input.name))?;
        *rows_read += batch.num_rows() as u64;
        input.times = Some(
            batch
                .column(time_idx)
                .as_primitive_opt::<TimestampMillisecondType>()
                .with_context(|| format!("{}: the time column is not a timestamp", input.name))?
                .clone(),
        );
        input.rows = batch.num_rows();
        input.row = 0;
        input.slot = pool.len();
        pool.push(batch);
        return Ok(true);
    }
}

/// The batch with `schema`'s columns, by name: columns files of an older
/// version lack are null, columns the schema no longer has are dropped.
fn conform(batch: &RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        columns.push(match batch.column_by_name(field.name()) {
            Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
            Some(c) => bail!(
                "column {} is {} where the table has {}",
                field.name(),
                c.data_type(),
                field.data_type()
            ),
            None => new_null_array(field.data_type(), batch.num_rows()),
        });
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Write the rows of `out`, then keep in the pool only the batches still
/// referenced (each input's current batch and the open group's).
fn flush(
    writer: &mut OutputWriter,
    pool: &mut Vec<RecordBatch>,
    inputs: &mut [Input],
    group: &mut [(usize, usize)],
    out: &mut Vec<(usize, usize)>,
) -> Result<()> {
    if !out.is_empty() {
        let refs: Vec<&RecordBatch> = pool.iter().collect();
        let batch = arrow_select::interleave::interleave_record_batch(&refs, out)?;
        writer.write(&batch)?;
        out.clear();
    }
    let mut remap: HashMap<usize, usize> = HashMap::new();
    let mut kept = Vec::new();
    let mut keep = |slot: usize| -> usize {
        *remap.entry(slot).or_insert_with(|| {
            kept.push(pool[slot].clone());
            kept.len() - 1
        })
    };
    for (slot, _) in group.iter_mut() {
        *slot = keep(*slot);
    }
    for input in inputs.iter_mut() {
        if input.slot != usize::MAX && input.times.is_some() {
            input.slot = keep(input.slot);
        }
    }
    *pool = kept;
    Ok(())
}

/// Which rows of a group of equal times to keep.
struct Dedup {
    kind: Kind,
    /// `event_id` or `query_execution_id`.
    id: usize,
    /// `source_key` (event tables) or `fetched_at` (stats).
    by: usize,
}

impl Dedup {
    fn new(kind: Kind, schema: &Schema) -> Result<Dedup> {
        let (id, by) = match kind {
            Kind::Stats => ("query_execution_id", "fetched_at"),
            _ => ("event_id", "source_key"),
        };
        Ok(Dedup {
            kind,
            id: schema.index_of(id)?,
            by: schema.index_of(by)?,
        })
    }

    /// Move the rows of `group` to keep into `out`, in group order.
    fn keep(
        &self,
        pool: &[RecordBatch],
        group: &mut Vec<(usize, usize)>,
        out: &mut Vec<(usize, usize)>,
    ) {
        if group.len() <= 1 {
            out.append(group);
            return;
        }
        let id = |&(s, r): &(usize, usize)| -> Option<&str> {
            let c = pool[s].column(self.id).as_string::<i32>();
            c.is_valid(r).then(|| c.value(r))
        };
        match self.kind {
            Kind::Stats => {
                let fetched = |&(s, r): &(usize, usize)| -> Option<i64> {
                    let c = pool[s]
                        .column(self.by)
                        .as_primitive::<TimestampMillisecondType>();
                    c.is_valid(r).then(|| c.value(r))
                };
                // The latest fetched row per id (the first of equals).
                let mut best: HashMap<&str, (Option<i64>, usize)> = HashMap::new();
                for (n, row) in group.iter().enumerate() {
                    if let Some(i) = id(row) {
                        let f = fetched(row);
                        let e = best.entry(i).or_insert((f, n));
                        if f > e.0 {
                            *e = (f, n);
                        }
                    }
                }
                for (n, row) in group.iter().enumerate() {
                    if id(row).is_none_or(|i| best.get(i).is_some_and(|b| b.1 == n)) {
                        out.push(*row);
                    }
                }
            }
            _ => {
                let source = |&(s, r): &(usize, usize)| -> Option<&str> {
                    let c = pool[s].column(self.by).as_string::<i32>();
                    c.is_valid(r).then(|| c.value(r))
                };
                // The delivery kept for each id: the first key in key order.
                let mut chosen: BTreeMap<&str, Option<&str>> = BTreeMap::new();
                for row in group.iter() {
                    if let Some(i) = id(row) {
                        let s = source(row);
                        chosen
                            .entry(i)
                            .and_modify(|c| {
                                if s < *c {
                                    *c = s;
                                }
                            })
                            .or_insert(s);
                    }
                }
                let one_row = matches!(self.kind, Kind::OnePerEvent(_));
                let mut seen: BTreeSet<&str> = BTreeSet::new();
                for row in group.iter() {
                    let keep = match id(row) {
                        None => true,
                        Some(i) => {
                            chosen.get(i) == Some(&source(row)) && (!one_row || seen.insert(i))
                        }
                    };
                    if keep {
                        out.push(*row);
                    }
                }
            }
        }
        group.clear();
    }
}

/// Output files, rolled past the size target.
struct OutputWriter {
    tmp: PathBuf,
    base: String,
    schema: Arc<Schema>,
    props: WriterProperties,
    file_bytes: u64,
    current: Option<(
        ArrowWriter<std::io::BufWriter<std::fs::File>>,
        String,
        PathBuf,
        u64,
    )>,
    done: Vec<Output>,
}

impl OutputWriter {
    fn new(
        tmp: &Path,
        base: &str,
        schema: Arc<Schema>,
        props: &WriterProperties,
        file_bytes: u64,
    ) -> Self {
        OutputWriter {
            tmp: tmp.to_path_buf(),
            base: base.to_string(),
            schema,
            props: props.clone(),
            file_bytes,
            current: None,
            done: Vec::new(),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.current.is_none() {
            let name = format!("{}-{:06}.parquet", self.base, self.done.len());
            let path = self.tmp.join(&name);
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let w = ArrowWriter::try_new(
                std::io::BufWriter::with_capacity(1 << 20, file),
                Arc::clone(&self.schema),
                Some(self.props.clone()),
            )?;
            self.current = Some((w, name, path, 0));
        }
        if let Some((w, _, _, rows)) = &mut self.current {
            w.write(batch)?;
            *rows += batch.num_rows() as u64;
            if (w.bytes_written() + w.in_progress_size()) as u64 >= self.file_bytes {
                self.close()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((w, name, path, rows)) = self.current.take() {
            let file = w
                .into_inner()
                .with_context(|| format!("writing {}", path.display()))?;
            let file = file
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", path.display()))?;
            file.sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
            let bytes = std::fs::metadata(&path)
                .with_context(|| format!("reading the size of {}", path.display()))?
                .len();
            self.done.push(Output {
                name,
                path,
                rows,
                bytes,
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Output>> {
        self.close()?;
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_give_their_compaction() {
        assert_eq!(
            output_id("compact-00ff00ff00ff00ff-000001.parquet"),
            Some("00ff00ff00ff00ff")
        );
        assert_eq!(output_id("part-run-1-s0of1-000000.parquet"), None);
        assert_eq!(output_id("compact-x-y.parquet"), None);
    }

    #[test]
    fn ids_follow_the_files_merged() {
        let a = compaction_id("events", "event_date=2024-01-01", &[("a".into(), 1)]);
        let b = compaction_id("events", "event_date=2024-01-01", &[("a".into(), 2)]);
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use arrow_array::{StringArray, TimestampMillisecondArray};

    /// A stats file of `(query id, submitted_at, fetched_at)` rows.
    fn stats_file(dir: &Path, name: &str, rows: &[(&str, i64, i64)]) -> PathBuf {
        let schema = stats_schema();
        let n = rows.len();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                let ts = |v: Vec<i64>| -> ArrayRef {
                    Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC"))
                };
                match f.name().as_str() {
                    "query_execution_id" => Arc::new(StringArray::from(
                        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                    )),
                    "submitted_at" => ts(rows.iter().map(|r| r.1).collect()),
                    "fetched_at" => ts(rows.iter().map(|r| r.2).collect()),
                    _ => new_null_array(f.data_type(), n),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let path = dir.join(name);
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    }

    #[test]
    fn stats_keep_the_latest_fetch_of_each_query_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = stats_file(dir.path(), "a.parquet", &[("q1", 10, 100), ("q2", 20, 100)]);
        let b = stats_file(dir.path(), "b.parquet", &[("q0", 5, 1), ("q1", 10, 200)]);
        let props =
            properties_for(&stats_schema(), "submitted_at", &WriteOptions::default()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let (files, read) = merge(
            Kind::Stats,
            &["a".into(), "b".into()],
            &[a, b],
            &out,
            "compact-x",
            &props,
            512 << 20,
        )
        .unwrap();
        assert_eq!((files.len(), read, files[0].rows), (1, 4, 3));
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&files[0].path).unwrap())
                .unwrap()
                .build()
                .unwrap();
        let batch = reader.map(|b| b.unwrap()).next().unwrap();
        let ids = batch.column(0).as_string::<i32>();
        let fetched = batch
            .column_by_name("fetched_at")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        let rows: Vec<(&str, i64)> = (0..batch.num_rows())
            .map(|i| (ids.value(i), fetched.value(i)))
            .collect();
        assert_eq!(rows, vec![("q0", 1), ("q1", 200), ("q2", 100)]);
    }

    #[test]
    fn a_file_out_of_order_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = stats_file(dir.path(), "a.parquet", &[("q1", 10, 1), ("q2", 5, 1)]);
        let props =
            properties_for(&stats_schema(), "submitted_at", &WriteOptions::default()).unwrap();
        let err = merge(
            Kind::Stats,
            &["athena_query_stats/event_date=2024-01-01/a.parquet".into()],
            &[a],
            dir.path(),
            "compact-x",
            &props,
            512 << 20,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("event_date=2024-01-01/a.parquet is not sorted by submitted_at"),
            "{err}"
        );
    }
}
