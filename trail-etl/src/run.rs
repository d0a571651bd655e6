//! `trail-etl run`: list, fetch and decode in a bounded pipeline, write
//! partitions, publish, commit the ledger.
//!
//! ```text
//! list (tokio, concurrent prefixes)
//!   → fetch (tokio, bounded by bytes in flight)      ─┐ bounded channel
//!   → decode (one OS thread per core, trail-parse)    ─┘
//!   → collect (one thread: rows per table and day; past a memory budget the largest
//!     partitions go to the CPU pool, two at a time, to be sorted and written as Parquet)
//!   → publish (manifest, rename/upload, ledger commit)
//! ```
//!
//! Memory stays flat whatever the bucket size: fetched bytes are bounded by a
//! semaphore, decoded rows by the collector's budget (the largest partitions
//! are sorted and written out when it is exceeded, so a large backfill gives
//! several sorted files per partition instead of unbounded memory).
//!
//! Crash safety: before publishing, a run writes `DEST/_trail/runs/<run>.pending.json`
//! naming the files it is about to publish and the ledger files it will
//! write (one per delivery day); it publishes the files (rename or upload),
//! writes its ledger files, then deletes the manifest. A later run of the
//! same shard that finds a pending manifest whose ledger files do not all
//! exist deletes the files and ledger files it names and aborts their
//! unfinished uploads, so an interrupted run leaves neither duplicates nor
//! losses: its objects are read again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use trail_parse::{BadRecordPolicy, Batches, DecoderBuilder, ObjectSummary, Table};

use crate::hash::Fnv;
use crate::ledger::{day_name, day_of_key, Entry, Kind, Ledger};
use crate::listing::{list_source, Filter, Listed};
use crate::location::Location;
use crate::progress::Progress;
use crate::store::{s3_client, S3Options, Store};
use crate::summary::{BadObject, BadRecord, Summary};
use crate::syncer::Syncer;
use crate::writer::{properties, write_partition, PendingFile, Sorted, WriteOptions};

/// What to do when an object or a record is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Skip it, report it, exit 3 at the end.
    #[default]
    Skip,
    /// Fail the run (exit 1) and publish nothing.
    Fail,
}

/// Memory and concurrency limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of fetched, not yet decoded objects at once.
    pub fetch_bytes: usize,
    /// Bytes of decoded objects on their way to the collector.
    pub decoded_bytes: usize,
    /// Bytes of decoded rows held, waiting or being encoded (see `PartitionBuffer`).
    pub buffer_bytes: usize,
    /// GET requests in flight at once.
    pub fetch_concurrency: usize,
    /// Decoding threads (default: one per core).
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fetch_bytes: 64 << 20,
            decoded_bytes: 64 << 20,
            buffer_bytes: 192 << 20,
            fetch_concurrency: 32,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Everything `run` needs.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Where the CloudTrail objects are.
    pub source: Option<Location>,
    /// Where the tables go.
    pub dest: Option<Location>,
    /// Which objects to read.
    pub filter: Filter,
    /// Bad input policy.
    pub on_error: OnError,
    /// List and plan only.
    pub dry_run: bool,
    /// Forget the ledger and rewrite the tables from scratch.
    pub full_refresh: bool,
    /// Parquet settings.
    pub write: WriteOptions,
    /// How to reach S3.
    pub s3: S3Options,
    /// Memory and concurrency.
    pub limits: Limits,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Local folder for files on their way to an S3 destination (default: the system's temp dir).
    pub work_dir: Option<PathBuf>,
    /// "Today" for listing (UTC), for tests; default the current date.
    pub today: Option<NaiveDate>,
    /// Blank secret-looking values in the JSON columns (`--redact`).
    pub redact: bool,
    /// Compact the partitions written, after publishing (`--compact`).
    pub compact: bool,
}

/// The outcome of decoding one object.
struct Decoded {
    listed: Listed,
    result: Result<(Batches, ObjectSummary), trail_parse::Error>,
    /// Bytes of its batches, held against [`InFlight`] until collected.
    bytes: usize,
}

/// Bytes of decoded objects on their way to the collector. A decoder waits
/// before handing over an object that would pass the limit, unless nothing is
/// in flight (so an object larger than the limit still goes through), or the
/// collector has stopped.
struct InFlight {
    state: Mutex<(usize, bool)>,
    freed: std::sync::Condvar,
    limit: usize,
}

impl InFlight {
    fn new(limit: usize) -> Self {
        InFlight {
            state: Mutex::new((0, false)),
            freed: std::sync::Condvar::new(),
            limit,
        }
    }

    fn acquire(&self, bytes: usize) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        while !state.1 && state.0 > 0 && state.0 + bytes > self.limit {
            state = match self.freed.wait(state) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        state.0 += bytes;
    }

    fn release(&self, bytes: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.0 = state.0.saturating_sub(bytes);
        }
        self.freed.notify_all();
    }

    /// The collector is gone: nobody waits any more.
    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.1 = true;
        }
        self.freed.notify_all();
    }
}

/// Closes [`InFlight`] when the collector ends, however it ends.
struct CloseOnDrop(Arc<InFlight>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

const MAX_LISTED_BAD_RECORDS: usize = 1000;
const RUNS_DIR: &str = "_trail/runs/";

/// Run the job on a runtime of its own. Errors are failures of the run itself
/// (exit 1); bad input is reported in the summary.
pub fn run(args: &RunArgs) -> Result<Summary> {
    // Few blocking threads: local reads run there, and every thread that
    // allocates gets a malloc arena of its own. With tokio's default (512)
    // the objects' buffers spread over many arenas: on the 10 GiB bench
    // bucket peak RSS went from 536 to 507 MiB, system time from 4.4 to 1.3 s.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: &RunArgs) -> Result<Summary> {
    let started = Instant::now();
    let (Some(source_loc), Some(dest_loc)) = (&args.source, &args.dest) else {
        bail!("both a source and a destination are needed");
    };
    let needs_s3 =
        matches!(source_loc, Location::S3 { .. }) || matches!(dest_loc, Location::S3 { .. });
    let client = if needs_s3 {
        Some(s3_client(&args.s3).await)
    } else {
        None
    };
    let source = Store::open(source_loc, client.as_ref())?;
    let dest = Store::open(dest_loc, client.as_ref())?;
    if let Store::Local { root } = &source {
        if !root.is_dir() {
            bail!("source {} is not a folder", root.display());
        }
    }
    let shard = args.filter.shard.unwrap_or((0, 1));
    let shard_tag = format!("s{}of{}", shard.0, shard.1);
    let mut summary = Summary {
        source: source.to_string(),
        dest: dest.to_string(),
        dry_run: args.dry_run,
        ..Summary::default()
    };

    if !args.dry_run {
        recover(&dest, &shard_tag).await?;
        if args.full_refresh {
            full_refresh(&dest).await?;
        }
    }

    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let plan = list_source(&source, &args.filter, today).await?;
    summary.objects_listed = plan.listed;
    summary.objects_skipped = plan
        .skipped
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    summary.skipped_folders = plan.skipped_folders;
    // Only the ledger days of the objects listed, and only their keys.
    let mut ledger = Ledger::new(Kind::Objects);
    {
        let days: BTreeSet<String> = plan
            .objects
            .iter()
            .map(|(_, k)| day_name(k.delivery_date))
            .collect();
        let wanted: HashSet<&str> = plan.objects.iter().map(|(l, _)| l.key.as_str()).collect();
        ledger
            .load_days(&dest, days, Some(&wanted))
            .await
            .with_context(|| format!("reading the ledger in {dest}"))?;
        if args.dry_run {
            ledger.load_legacy(&dest, &wanted).await?;
        }
    }
    let mut todo = Vec::new();
    for (item, key) in plan.objects {
        if ledger.is_done(&item.key, item.size, &item.etag) {
            *summary
                .objects_skipped
                .entry("already_done".into())
                .or_insert(0) += 1;
        } else {
            todo.push((key.delivery_date, item));
        }
    }
    // Day by day across accounts and regions (listing gives them prefix by
    // prefix): the rows of a day arrive together, so a backfill keeps few
    // partitions open and writes fewer, larger files.
    todo.sort_by(|a, b| (a.0, &a.1.key).cmp(&(b.0, &b.1.key)));
    let todo: Vec<Listed> = todo.into_iter().map(|(_, item)| item).collect();
    let mut fnv = Fnv::default();
    fnv.write(shard_tag.as_bytes());
    for item in &todo {
        for part in [
            item.key.as_bytes(),
            &item.size.to_le_bytes(),
            item.etag.as_bytes(),
        ] {
            fnv.write(part);
            fnv.write(&[0]);
        }
    }
    let run_id = format!("run-{:016x}-{shard_tag}", fnv.finish());
    summary.run_id = run_id.clone();
    tracing::info!(objects = todo.len(), bytes = todo.iter().map(|i| i.size).sum::<u64>(), run = %run_id, "objects to read");
    if args.dry_run {
        summary.objects_read = todo.len() as u64;
        summary.bytes_read = todo.iter().map(|i| i.size).sum();
        summary.planned = todo.iter().map(|i| i.key.clone()).take(10_000).collect();
        summary.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(summary);
    }

    let tmp_dir = match (dest.local_root(), &args.work_dir) {
        (Some(root), _) => root.join("_trail").join("tmp").join(&shard_tag),
        // The process id too: two jobs over the same objects (same run id)
        // into different S3 destinations must not share, nor clear, a folder.
        (None, Some(work)) => work.join(format!("trail-{run_id}-{}", std::process::id())),
        (None, None) => std::env::temp_dir().join(format!("trail-{run_id}-{}", std::process::id())),
    };
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir)
            .with_context(|| format!("clearing {}", tmp_dir.display()))?;
    }
    let progress = Progress::new(
        args.progress,
        todo.len() as u64,
        todo.iter().map(|i| i.size).sum(),
    );
    // A local destination renames files into place, so they are synced
    // first; files uploaded to S3 gain nothing from being on local disk.
    let sync_files = dest.local_root().is_some();
    let collected = pipeline(
        args, &source, todo, &run_id, &tmp_dir, &progress, sync_files,
    )
    .await?;
    progress.finish();

    // Tally what was decoded.
    let mut entries = Vec::new();
    for o in collected.objects {
        match o.outcome {
            Ok(s) => {
                summary.records += s.records;
                summary.json_bytes += s.json_bytes;
                summary.bad_record_count += s.bad_records.len() as u64;
                for r in s.bad_records {
                    tracing::warn!(key = %o.listed.key, record = r.index, reason = %r.reason, "bad record skipped");
                    if summary.bad_records.len() < MAX_LISTED_BAD_RECORDS {
                        summary.bad_records.push(BadRecord {
                            key: o.listed.key.clone(),
                            index: r.index,
                            reason: r.reason,
                        });
                    }
                }
                entries.push((
                    day_of_key(&o.listed.key),
                    Entry {
                        key: o.listed.key,
                        size: o.listed.size,
                        etag: o.listed.etag,
                        run: run_id.clone(),
                        records: Some(s.records),
                        sha256: None,
                    },
                ));
            }
            Err(reason) => {
                tracing::warn!(key = %o.listed.key, "bad object: {reason}");
                summary.bad_objects.push(BadObject {
                    key: o.listed.key,
                    reason,
                });
            }
        }
        summary.bytes_read += o.listed.size;
    }
    summary.bad_objects.sort_by(|a, b| a.key.cmp(&b.key));
    summary.objects_read = entries.len() as u64 + summary.bad_objects.len() as u64;
    if args.on_error == OnError::Fail
        && (!summary.bad_objects.is_empty() || summary.bad_record_count > 0)
    {
        std::fs::remove_dir_all(&tmp_dir).ok();
        summary.error = Some(match summary.bad_objects.first() {
            Some(first) => format!(
                "{} bad object(s), first: {} (--on-error fail: nothing was published)",
                summary.bad_objects.len(),
                first.reason
            ),
            None => "bad records (--on-error fail: nothing was published)".into(),
        });
        summary.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(summary);
    }

    // Publish: manifest, files, ledger, then forget the manifest.
    let files = collected.files;
    publish(&dest, &run_id, &shard_tag, &files, &mut ledger, &entries).await?;
    std::fs::remove_dir_all(&tmp_dir).ok();
    if let Some(root) = dest.local_root() {
        std::fs::remove_dir(root.join("_trail").join("tmp")).ok();
    }

    for f in files {
        let w = f.written;
        match w.table {
            "events" => summary.rows.events += w.rows,
            "table_access" => summary.rows.table_access += w.rows,
            _ => summary.rows.athena_queries += w.rows,
        }
        summary.bytes_written += w.bytes;
        summary.files.push(w);
    }
    summary.files.sort_by(|a, b| a.path.cmp(&b.path));
    if args.compact {
        let partitions = summary
            .files
            .iter()
            .map(|f| (f.table.to_string(), f.partition.clone()))
            .collect();
        summary.compact = Some(
            crate::compact::compact_store(
                &dest,
                &crate::compact::Selection::Partitions(partitions),
                &args.write,
                args.work_dir.as_deref(),
            )
            .await
            .context("compacting the partitions written")?,
        );
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Put a run's files in place and commit it: a manifest naming the files
/// and the ledger files about to be written, the files (rename or upload),
/// the ledger entries (one file per day), then the manifest is removed and
/// the shard's ledger files of those days are folded when there are many.
/// See [`recover`] for what a manifest left by a crash means.
pub async fn publish(
    dest: &Store,
    run_id: &str,
    shard_tag: &str,
    files: &[PendingFile],
    ledger: &mut Ledger,
    entries: &[(String, Entry)],
) -> Result<()> {
    if files.is_empty() && entries.is_empty() {
        return Ok(());
    }
    let manifest = format!("{RUNS_DIR}{run_id}.pending.json");
    let doc = serde_json::json!({
        "run": run_id,
        "files": files.iter().map(|f| f.written.path.clone()).collect::<Vec<_>>(),
        "ledger": ledger.files_for(run_id, entries),
    });
    dest.put(&manifest, Bytes::from(serde_json::to_vec_pretty(&doc)?))
        .await?;
    failpoint("run:after-manifest");
    let published: Vec<Result<()>> = stream::iter(
        files
            .iter()
            .map(|f| dest.publish_file(&f.written.path, &f.tmp)),
    )
    .buffer_unordered(8)
    .collect()
    .await;
    for p in published {
        p?;
    }
    failpoint("run:after-files");
    ledger.commit(dest, run_id, entries).await?;
    failpoint("run:after-ledger");
    dest.delete(&manifest).await?;
    let days: BTreeSet<String> = entries.iter().map(|(d, _)| d.clone()).collect();
    ledger.fold(dest, run_id, shard_tag, &days).await?;
    Ok(())
}

/// The folders of the tables under DEST (the three of `run` and `enrich`'s).
pub const TABLE_DIRS: [&str; 4] = [
    "events",
    "table_access",
    "athena_queries",
    crate::enrich::STATS_TABLE,
];

/// Whether `path` (relative to DEST) is a file inside a table's folder: the
/// only files a manifest may make trail delete.
pub fn is_table_file(path: &str) -> bool {
    TABLE_DIRS.iter().any(|t| {
        path.strip_prefix(t)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The strings of a manifest's list `field` (none when it is missing).
pub fn manifest_list(doc: &serde_json::Value, field: &str) -> Vec<String> {
    doc[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// Exit here, as a kill would, when `TRAIL_FAILPOINT` names this point: how
/// the crash tests stop a process at an exact step. Unset, it costs one
/// environment lookup per step.
pub fn failpoint(name: &str) {
    if std::env::var("TRAIL_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("TRAIL_FAILPOINT: stopping at {name}");
        std::process::exit(137);
    }
}

/// One object's outcome, as the collector keeps it (rows already moved out).
struct ObjectOutcome {
    listed: Listed,
    outcome: Result<ObjectSummary, String>,
}

struct Collected {
    objects: Vec<ObjectOutcome>,
    files: Vec<PendingFile>,
}

/// Fetch → decode → collect, with bounded memory.
async fn pipeline(
    args: &RunArgs,
    source: &Store,
    todo: Vec<Listed>,
    run_id: &str,
    tmp_dir: &std::path::Path,
    progress: &Progress,
    sync_files: bool,
) -> Result<Collected> {
    let limits = &args.limits;
    let policy = match args.on_error {
        OnError::Skip => BadRecordPolicy::Skip,
        OnError::Fail => BadRecordPolicy::Fail,
    };
    let redact = args.redact;
    let stop = Arc::new(AtomicBool::new(false));
    let (work_tx, work_rx) = tokio::sync::mpsc::channel::<(
        Listed,
        Result<Bytes, String>,
        tokio::sync::OwnedSemaphorePermit,
    )>(limits.threads * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<Decoded>(limits.threads * 2);
    let in_flight = Arc::new(InFlight::new(limits.decoded_bytes.max(1)));

    // Decoders: one OS thread per core.
    let mut decoders = Vec::new();
    for _ in 0..limits.threads.max(1) {
        let rx = Arc::clone(&work_rx);
        let tx = done_tx.clone();
        let stop = Arc::clone(&stop);
        let in_flight = Arc::clone(&in_flight);
        decoders.push(std::thread::spawn(move || {
            let mut decoder = DecoderBuilder::new()
                .with_bad_record_policy(policy)
                .with_redaction(redact)
                .build();
            loop {
                let next = match rx.lock() {
                    Ok(mut rx) => rx.blocking_recv(),
                    Err(_) => None,
                };
                let Some((listed, body, permit)) = next else {
                    break;
                };
                let result = match body {
                    Ok(bytes) => decoder.decode_all_slice(&listed.key, &bytes[..]),
                    Err(reason) => Err(trail_parse::Error::Read {
                        key: listed.key.clone(),
                        source: std::io::Error::other(reason),
                    }),
                };
                drop(permit);
                if result.is_err() && policy == BadRecordPolicy::Fail {
                    stop.store(true, Ordering::Relaxed);
                }
                let bytes = result.as_ref().map_or(0, |(batches, _)| {
                    Table::ALL
                        .iter()
                        .flat_map(|t| batches.get(*t))
                        .map(|b| b.get_array_memory_size())
                        .sum()
                });
                in_flight.acquire(bytes);
                if tx
                    .send(Decoded {
                        listed,
                        result,
                        bytes,
                    })
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    drop(done_tx);

    // Collector: rows per (table, day), flushed to Parquet past the budget.
    let collector = {
        let tmp_dir = tmp_dir.to_path_buf();
        let base = format!("part-{run_id}");
        let write = args.write.clone();
        let budget = limits.buffer_bytes;
        let progress = progress.clone();
        let in_flight = Arc::clone(&in_flight);
        std::thread::spawn(move || -> Result<Collected> {
            let in_flight = CloseOnDrop(in_flight);
            let syncer = Syncer::new(sync_files);
            let mut buffer = PartitionBuffer::new(budget, tmp_dir, base, write, syncer);
            let mut objects = Vec::new();
            for d in done_rx {
                let outcome = match d.result {
                    Ok((batches, s)) => {
                        progress.object(d.listed.size, s.records);
                        for table in Table::ALL {
                            for batch in batches.get(table) {
                                buffer.add(table, batch)?;
                            }
                        }
                        drop(batches);
                        in_flight.0.release(d.bytes);
                        Ok(s)
                    }
                    Err(e) => {
                        progress.object(d.listed.size, 0);
                        Err(e.to_string())
                    }
                };
                objects.push(ObjectOutcome {
                    listed: d.listed,
                    outcome,
                });
            }
            let files = buffer.finish()?;
            Ok(Collected { objects, files })
        })
    };

    // Fetchers: bounded by bytes in flight and by request count.
    let budget = Arc::new(tokio::sync::Semaphore::new(limits.fetch_bytes.max(1)));
    let max_permits = limits.fetch_bytes.max(1);
    let fetches = stream::iter(todo.into_iter().map(|listed| {
        let budget = Arc::clone(&budget);
        let stop = Arc::clone(&stop);
        let tx = work_tx.clone();
        async move {
            let want = (listed.size as usize).clamp(1, max_permits) as u32;
            let permit = budget
                .acquire_many_owned(want)
                .await
                .context("fetch budget closed")?;
            if stop.load(Ordering::Relaxed) {
                return Ok::<(), anyhow::Error>(());
            }
            let body = source.get(&listed.key).await.map_err(|e| format!("{e:#}"));
            if tx.send((listed, body, permit)).await.is_err() {
                bail!("the decoders stopped early");
            }
            Ok(())
        }
    }))
    .buffer_unordered(limits.fetch_concurrency.max(1))
    .collect::<Vec<Result<()>>>()
    .await;
    drop(work_tx);
    for d in decoders {
        if d.join().is_err() {
            bail!("a decoding thread panicked");
        }
    }
    let collected = match collector.join() {
        Ok(c) => c?,
        Err(_) => bail!("the collecting thread panicked"),
    };
    for f in fetches {
        f?;
    }
    Ok(collected)
}

/// Decoded rows per (table, day), written out as sorted Parquet files when
/// they pass the memory budget and at the end.
///
/// The budget covers rows waiting here and rows being encoded: past a third
/// of it, the largest partitions go to the CPU pool until a sixth is left,
/// and a partition waits for earlier ones to be written while they would
/// take more than the other two thirds. So two partitions are encoded while
/// decoding goes on, and rows never take more than the budget (plus one
/// batch). (Halves measured 10% idle CPU on 2 cores: 4.10/4.04 s against
/// 3.82/3.83 s alternated on the 2 GiB bench bucket.)
struct PartitionBuffer {
    parts: BTreeMap<(Table, i32), (Vec<RecordBatch>, usize)>,
    bytes: usize,
    budget: usize,
    tmp_dir: PathBuf,
    base: String,
    write: WriteOptions,
    next_file: HashMap<(Table, i32), usize>,
    encoding: Arc<Encoding>,
    syncer: Syncer,
}

/// Partitions being encoded on the CPU pool: how many, their bytes, and
/// the files they gave.
#[derive(Default)]
struct Encoding {
    state: Mutex<EncodingState>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct EncodingState {
    running: usize,
    bytes: usize,
    results: Vec<Result<Vec<PendingFile>>>,
}

/// Partitions encoded at once at most (each keeps one core busy).
const MAX_ENCODING: usize = 2;
/// File numbers reserved per flush of a partition (a flush rolls to a new
/// file past 512 MB, so it never needs this many).
const FILES_PER_FLUSH: usize = 1000;

impl Encoding {
    /// Wait until `ready` holds for the state.
    fn wait_for(&self, ready: impl Fn(&EncodingState) -> bool) -> Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("encoding state poisoned"))?;
        while !ready(&state) {
            state = self
                .done
                .wait(state)
                .map_err(|_| anyhow::anyhow!("encoding state poisoned"))?;
        }
        Ok(())
    }
}

impl PartitionBuffer {
    fn new(
        budget: usize,
        tmp_dir: PathBuf,
        base: String,
        write: WriteOptions,
        syncer: Syncer,
    ) -> Self {
        PartitionBuffer {
            parts: BTreeMap::new(),
            bytes: 0,
            budget,
            tmp_dir,
            base,
            write,
            next_file: HashMap::new(),
            encoding: Arc::new(Encoding::default()),
            syncer,
        }
    }

    fn add(&mut self, table: Table, batch: &RecordBatch) -> Result<()> {
        for (day, part) in split_by_day(batch)? {
            let size = part.get_array_memory_size();
            let entry = self.parts.entry((table, day)).or_default();
            entry.0.push(part);
            entry.1 += size;
            self.bytes += size;
        }
        if self.bytes > self.budget / 3 {
            let mut sizes: Vec<((Table, i32), usize)> =
                self.parts.iter().map(|(k, v)| (*k, v.1)).collect();
            sizes.sort_by_key(|s| std::cmp::Reverse(s.1));
            for (key, _) in sizes {
                if self.bytes <= self.budget / 6 {
                    break;
                }
                self.flush(key)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, key: (Table, i32)) -> Result<()> {
        let Some((batches, size)) = self.parts.remove(&key) else {
            return Ok(());
        };
        self.bytes -= size;
        let first = self.next_file.entry(key).or_insert(0);
        let start = *first;
        *first += FILES_PER_FLUSH;
        let room = self.budget * 2 / 3;
        self.encoding
            .wait_for(|s| s.running == 0 || (s.running < MAX_ENCODING && s.bytes + size <= room))?;
        if let Ok(mut state) = self.encoding.state.lock() {
            state.running += 1;
            state.bytes += size;
        }
        let (tmp_dir, base, write, encoding, sync) = (
            self.tmp_dir.clone(),
            self.base.clone(),
            self.write.clone(),
            Arc::clone(&self.encoding),
            self.syncer.sender(),
        );
        rayon::spawn(move || {
            let result = encode(&tmp_dir, &base, &write, key, batches, start);
            for file in result.iter().flatten() {
                sync.sync(file.tmp.clone());
            }
            if let Ok(mut state) = encoding.state.lock() {
                state.running -= 1;
                state.bytes -= size;
                state.results.push(result);
            }
            encoding.done.notify_all();
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<PendingFile>> {
        let keys: Vec<(Table, i32)> = self.parts.keys().copied().collect();
        for key in keys {
            self.flush(key)?;
        }
        self.encoding.wait_for(|s| s.running == 0)?;
        self.syncer.finish()?;
        let mut state = self
            .encoding
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("encoding state poisoned"))?;
        let mut files = Vec::new();
        for r in state.results.drain(..) {
            files.extend(r?);
        }
        Ok(files)
    }
}

/// Sort one partition's rows by time and write them as Parquet file(s) numbered from `first`.
fn encode(
    tmp_dir: &std::path::Path,
    base: &str,
    write: &WriteOptions,
    (table, day): (Table, i32),
    batches: Vec<RecordBatch>,
    first: usize,
) -> Result<Vec<PendingFile>> {
    let rows = Sorted::by_time(table, batches)?;
    let partition = format!("event_date={}", day_string(day));
    let props = properties(table, write)?;
    write_partition(
        tmp_dir,
        table.name(),
        &props,
        &partition,
        base,
        first,
        &rows,
        write,
    )
}

/// Rows of a batch grouped by `event_date`. A record always has one (its
/// eventTime's day, else its key's delivery day); rows with neither go to
/// 1970-01-01 rather than being dropped.
fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>> {
    let col = batch
        .column_by_name(trail_parse::PARTITION_COLUMN)
        .context("batch without event_date")?
        .as_primitive::<Date32Type>();
    let day_of = |i: usize| if col.is_valid(i) { col.value(i) } else { 0 };
    let n = batch.num_rows();
    if n == 0 {
        return Ok(Vec::new());
    }
    let first = day_of(0);
    if (1..n).all(|i| day_of(i) == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut groups: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for i in 0..n {
        groups.entry(day_of(i)).or_default().push(i as u32);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (day, rows) in groups {
        let idx = arrow_array::UInt32Array::from(rows);
        out.push((day, arrow_select::take::take_record_batch(batch, &idx)?));
    }
    Ok(out)
}

fn day_string(day: i32) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (epoch + chrono::TimeDelta::days(day as i64))
        .format("%Y-%m-%d")
        .to_string()
}

/// Finish or undo what an interrupted run of this shard left. First files
/// a ledger written by an earlier version by day ([`crate::ledger::upgrade`]).
/// A pending manifest whose ledger files all exist belongs to a run that
/// committed (killed before it removed the manifest): only the manifest
/// goes. Otherwise the run's files and the ledger files it wrote are
/// deleted and its unfinished uploads aborted: its objects are read again.
pub async fn recover(dest: &Store, shard_tag: &str) -> Result<()> {
    let upgraded = crate::ledger::upgrade(dest, shard_tag)
        .await
        .with_context(|| format!("filing the ledger of {dest} by day"))?;
    if upgraded.files > 0 {
        tracing::info!(
            files = upgraded.files,
            entries = upgraded.entries,
            "ledger filed by day"
        );
    }
    let pending: Vec<Listed> = dest
        .list_all(RUNS_DIR)
        .await?
        .into_iter()
        .filter(|l| l.key.ends_with(&format!("{shard_tag}.pending.json")))
        .collect();
    for manifest in pending {
        let run = manifest
            .key
            .trim_start_matches(RUNS_DIR)
            .trim_end_matches(".pending.json")
            .to_string();
        let body = dest.get(&manifest.key).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("reading {}", manifest.key))?;
        let ledger_files: Vec<String> = manifest_list(&doc, "ledger")
            .into_iter()
            .filter(|f| f.starts_with(crate::ledger::LEDGER_DIR))
            .collect();
        let committed = if doc.get("ledger").is_some() {
            let mut all = !ledger_files.is_empty();
            for f in &ledger_files {
                all &= dest.exists(f).await?;
            }
            all
        } else {
            crate::ledger::legacy_run_committed(dest, &run).await?
        };
        if !committed {
            for file in manifest_list(&doc, "files") {
                // Only files inside DEST/<table>/ are ever listed; refuse anything else.
                if !is_table_file(&file) {
                    continue;
                }
                dest.delete(&file).await?;
                tracing::warn!(file, run = %run, "removed a file of an interrupted run");
            }
            for file in &ledger_files {
                dest.delete(file).await?;
            }
            for table in TABLE_DIRS {
                let n = dest.abort_uploads(&format!("{table}/"), &run).await?;
                if n > 0 {
                    tracing::warn!(uploads = n, run = %run, "aborted unfinished uploads of an interrupted run");
                }
            }
        }
        dest.delete(&manifest.key).await?;
    }
    Ok(())
}

async fn full_refresh(dest: &Store) -> Result<()> {
    for table in Table::ALL {
        for obj in dest.list_all(&format!("{}/", table.name())).await? {
            dest.delete(&obj.key).await?;
        }
    }
    for obj in dest.list_all(crate::ledger::LEDGER_DIR).await? {
        dest.delete(&obj.key).await?;
    }
    if let Some(root) = dest.local_root() {
        for table in Table::ALL {
            let dir = root.join(table.name());
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
    }
    Ok(())
}
