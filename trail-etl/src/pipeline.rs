//! Fetch → decode → collect, the heart of `run`, with bounded memory.
//!
//! ```text
//! fetch   S3: tokio tasks, as many GETs in flight as the byte budget allows
//!         (hundreds of small objects, a few large ones); a local folder:
//!         the decoders read the files themselves
//! decode  one OS thread per core: objects are appended to shared batches,
//!         so a thousand small objects make one batch, not a thousand
//! collect one thread: rows per table and day; past a memory budget the
//!         largest partitions go to the CPU pool to be sorted and written
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::OwnedSemaphorePermit;
use trail_parse::{BadRecordPolicy, Batches, Decoder, DecoderBuilder, ObjectSummary, Table};

use crate::health::{Health, Unreachable};
use crate::listing::Listed;
use crate::progress::Progress;
use crate::run::{OnError, RunArgs};
use crate::store::Store;
use crate::syncer::Syncer;
use crate::writer::{properties, write_partition, PendingFile, Sorted, WriteOptions};

/// What a GET counts against the fetch budget beyond its object's bytes
/// (the request's own buffers): so even the smallest objects leave room in
/// the budget, and a budget of 64 MiB holds at most about 2,000 requests.
const REQUEST_BYTES: usize = 32 << 10;

/// What a GET of `size` bytes counts against the fetch budget: the body
/// twice (it arrives in the connection's buffers, then is copied out) and
/// [`REQUEST_BYTES`]. (Counting it once, 256 GETs of 200 kB objects took
/// the 2 GiB bench bucket from S3 to 505 MiB peak RSS.)
fn request_bytes(size: u64) -> usize {
    (size as usize)
        .saturating_mul(2)
        .saturating_add(REQUEST_BYTES)
}

/// A decoder hands its rows over once it holds this many...
const HAND_OVER_ROWS: usize = 8192;
/// ...or this many objects' worth, whichever comes first.
const HAND_OVER_OBJECTS: usize = 1024;

/// One object's outcome (its rows travel in shared batches).
pub struct ObjectOutcome {
    pub listed: Listed,
    pub outcome: Result<ObjectSummary, String>,
    /// Hex SHA-256 of the object's bytes as read (see [`crate::ledger::Entry::sha256`]).
    pub sha256: Option<String>,
}

/// Hex SHA-256 of `bytes` (SHA-NI where the CPU has it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// What the pipeline gives `run` to publish.
pub struct Collected {
    pub objects: Vec<ObjectOutcome>,
    pub files: Vec<PendingFile>,
}

/// Objects decoded by one decoder, their rows in shared batches.
struct Decoded {
    objects: Vec<ObjectOutcome>,
    batches: Batches,
    /// Bytes of the batches, held against [`InFlight`] until collected.
    bytes: usize,
}

/// An object body fetched for the decoders, with its share of the fetch budget.
type Fetched = (Listed, Result<Bytes, String>, OwnedSemaphorePermit);

/// Where the decoders take their next object from.
enum Feed {
    /// A local folder: a decoder reads the file itself (cheaper than
    /// handing each read to another thread and back).
    Files {
        root: PathBuf,
        todo: Mutex<std::vec::IntoIter<Listed>>,
    },
    /// S3: bodies the fetchers got.
    Fetched(Mutex<tokio::sync::mpsc::Receiver<Fetched>>),
}

/// One decoder thread: its decoder, a reused read buffer, and the outcomes
/// of the objects whose rows it holds.
struct DecodeWorker {
    decoder: Decoder,
    buf: Vec<u8>,
    pending: Vec<ObjectOutcome>,
    policy: BadRecordPolicy,
    stop: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
    tx: mpsc::SyncSender<Decoded>,
}

impl DecodeWorker {
    /// Decode objects from `feed` until it is empty, the run stops, or the collector is gone.
    fn run(mut self, feed: &Feed) {
        loop {
            if self.stop.load(Ordering::Relaxed) && matches!(feed, Feed::Files { .. }) {
                break;
            }
            let (listed, result, sha256) = match feed {
                Feed::Files { root, todo } => {
                    let next = todo.lock().ok().and_then(|mut t| t.next());
                    let Some(listed) = next else { break };
                    let (result, sha256) = match read_file(root, &listed.key, &mut self.buf) {
                        Ok(()) => (
                            self.decoder.append_slice(&listed.key, &self.buf),
                            Some(sha256_hex(&self.buf)),
                        ),
                        Err(e) => (Err(read_error(&listed.key, e)), None),
                    };
                    if self.buf.capacity() > 16 << 20 {
                        self.buf = Vec::new();
                    }
                    (listed, result, sha256)
                }
                Feed::Fetched(rx) => {
                    let next = match rx.lock() {
                        Ok(mut rx) => rx.blocking_recv(),
                        Err(_) => None,
                    };
                    let Some((listed, body, permit)) = next else {
                        break;
                    };
                    let (result, sha256) = match body {
                        Ok(bytes) => (
                            self.decoder.append_slice(&listed.key, &bytes[..]),
                            Some(sha256_hex(&bytes)),
                        ),
                        Err(reason) => (Err(read_error(&listed.key, reason)), None),
                    };
                    drop(permit);
                    (listed, result, sha256)
                }
            };
            if result.is_err() && self.policy == BadRecordPolicy::Fail {
                self.stop.store(true, Ordering::Relaxed);
            }
            self.pending.push(ObjectOutcome {
                listed,
                outcome: result.map_err(|e| e.to_string()),
                sha256,
            });
            if (self.decoder.pending_rows() >= HAND_OVER_ROWS
                || self.pending.len() >= HAND_OVER_OBJECTS)
                && !self.hand_over()
            {
                return;
            }
        }
        self.hand_over();
    }

    /// Send the rows held and their objects' outcomes to the collector;
    /// `false` when it is gone.
    fn hand_over(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let mut objects = std::mem::take(&mut self.pending);
        let batches = match self.decoder.take_batches() {
            Ok(b) => b,
            Err(e) => {
                // Their rows are lost: report the objects bad (not ingested,
                // so read again by the next run) rather than publish less.
                for o in &mut objects {
                    if o.outcome.is_ok() {
                        o.outcome = Err(e.to_string());
                    }
                }
                Batches::default()
            }
        };
        let bytes = Table::ALL
            .iter()
            .flat_map(|t| batches.get(*t))
            .map(|b| b.get_array_memory_size())
            .sum();
        self.in_flight.acquire(bytes);
        self.tx
            .send(Decoded {
                objects,
                batches,
                bytes,
            })
            .is_ok()
    }
}

fn read_error(key: &str, reason: impl std::fmt::Display) -> trail_parse::Error {
    trail_parse::Error::Read {
        key: key.to_string(),
        source: std::io::Error::other(reason.to_string()),
    }
}

/// Read a local object into `buf` (its allocation reused from object to object).
fn read_file(root: &Path, key: &str, buf: &mut Vec<u8>) -> Result<()> {
    let path = Store::local_path(root, key)?;
    buf.clear();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(buf))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(())
}

/// Fetch → decode → collect, with bounded memory.
pub(crate) async fn pipeline(
    args: &RunArgs,
    source: &Store,
    todo: Vec<Listed>,
    run_id: &str,
    tmp_dir: &Path,
    progress: &Progress,
    sync_files: bool,
) -> Result<Collected> {
    let limits = &args.limits;
    let policy = match args.on_error {
        OnError::Skip => BadRecordPolicy::Skip,
        OnError::Fail => BadRecordPolicy::Fail,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::sync_channel::<Decoded>(limits.threads * 2);
    let in_flight = Arc::new(InFlight::new(limits.decoded_bytes.max(1)));
    let (feed, fetch) = match source.local_root() {
        Some(root) => (
            Feed::Files {
                root: root.to_path_buf(),
                todo: Mutex::new(todo.into_iter()),
            },
            None,
        ),
        None => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Fetched>(limits.threads * 2);
            (Feed::Fetched(Mutex::new(rx)), Some((tx, todo)))
        }
    };
    let feed = Arc::new(feed);

    // Decoders: one OS thread per core.
    let mut decoders = Vec::new();
    for _ in 0..limits.threads.max(1) {
        let worker = DecodeWorker {
            decoder: DecoderBuilder::new()
                .with_bad_record_policy(policy)
                .with_redaction(args.redact)
                .with_batch_size(HAND_OVER_ROWS)
                .build(),
            buf: Vec::new(),
            pending: Vec::new(),
            policy,
            stop: Arc::clone(&stop),
            in_flight: Arc::clone(&in_flight),
            tx: done_tx.clone(),
        };
        let feed = Arc::clone(&feed);
        decoders.push(std::thread::spawn(move || worker.run(&feed)));
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
                for o in &d.objects {
                    let records = o.outcome.as_ref().map_or(0, |s| s.records);
                    progress.object(o.listed.size, records);
                }
                objects.extend(d.objects);
                for table in Table::ALL {
                    for batch in d.batches.get(table) {
                        buffer.add(table, batch)?;
                    }
                }
                drop(d.batches);
                in_flight.0.release(d.bytes);
            }
            let files = buffer.finish()?;
            Ok(Collected { objects, files })
        })
    };

    // Fetchers (S3): bounded by bytes in flight and by request count; the
    // run stops when the endpoint answers nothing for the give-up time.
    let mut fetched = Ok(());
    if let Some((work_tx, todo)) = fetch {
        let budget = Arc::new(tokio::sync::Semaphore::new(limits.fetch_bytes.max(1)));
        let max_permits = limits.fetch_bytes.clamp(1, u32::MAX as usize);
        let health = match source {
            Store::S3 { client, .. } => {
                Some(Health::new(&args.s3.endpoint(client), args.s3.give_up()))
            }
            Store::Local { .. } => None,
        };
        let health = health.as_ref();
        fetched = stream::iter(todo.into_iter().map(|listed| {
            let budget = Arc::clone(&budget);
            let stop = Arc::clone(&stop);
            let tx = work_tx.clone();
            async move {
                let want = request_bytes(listed.size).min(max_permits) as u32;
                let permit = budget
                    .acquire_many_owned(want)
                    .await
                    .context("fetch budget closed")?;
                if stop.load(Ordering::Relaxed) {
                    return Ok::<(), anyhow::Error>(());
                }
                let body = match source.get_watched(&listed.key, health).await {
                    Ok(body) => Ok(body),
                    // The endpoint is gone: the run stops, nothing is published.
                    Err(e) if e.downcast_ref::<Unreachable>().is_some() => return Err(e),
                    Err(e) => Err(format!("{e:#}")),
                };
                if tx.send((listed, body, permit)).await.is_err() {
                    bail!("the decoders stopped early");
                }
                Ok(())
            }
        }))
        .buffer_unordered(limits.fetch_concurrency.max(1))
        .try_for_each(|()| async { Ok(()) })
        .await;
        if fetched.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
    }
    // The decoders end when the feed does: the fetchers' sender is gone, or the files are all taken.
    for d in decoders {
        if d.join().is_err() {
            bail!("a decoding thread panicked");
        }
    }
    let collected = match collector.join() {
        Ok(c) => c?,
        Err(_) => bail!("the collecting thread panicked"),
    };
    fetched?;
    Ok(collected)
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
