//! `trail-etl run`: list, fetch and decode in a bounded pipeline, write
//! partitions, publish, commit the ledger.
//!
//! ```text
//! list (tokio, concurrent prefixes)
//!   → fetch, decode, collect (see `pipeline`: rows per table and day, sorted
//!     and written as Parquet past a memory budget)
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

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use trail_parse::Table;

use crate::hash::Fnv;
use crate::ledger::{day_name, day_of_key, Entry, Kind, Ledger};
use crate::listing::{list_source, Filter, Listed};
use crate::location::Location;
use crate::progress::Progress;
use crate::store::{s3_client, S3Options, Store};
use crate::summary::{BadObject, BadRecord, Summary};
use crate::writer::{PendingFile, WriteOptions};

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
    /// Bytes of objects being fetched or fetched and not yet decoded (each
    /// GET counts twice its object's size and 32 KiB: see `pipeline`).
    pub fetch_bytes: usize,
    /// Bytes of decoded objects on their way to the collector.
    pub decoded_bytes: usize,
    /// Bytes of decoded rows held, waiting or being encoded (see `PartitionBuffer`).
    pub buffer_bytes: usize,
    /// GET requests in flight at most (fewer when objects are large: see `fetch_bytes`).
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
            fetch_concurrency: 256,
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
    let collected = match crate::pipeline::pipeline(
        args, &source, todo, &run_id, &tmp_dir, &progress, sync_files,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            progress.finish();
            std::fs::remove_dir_all(&tmp_dir).ok();
            return Err(e);
        }
    };
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
                        sha256: o.sha256,
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
