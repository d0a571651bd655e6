//! `trail-etl run`: list, decode in parallel, write partitions, publish,
//! record in the ledger.
//!
//! Crash safety: before publishing, a run writes
//! `DEST/_trail/runs/<run>.pending.json` naming the files it is about to put in
//! place; it publishes them by rename, then commits its ledger file (an atomic
//! rename), then removes the manifest. A later run of the same shard that finds
//! a pending manifest whose ledger file is missing deletes the files it names,
//! so an interrupted run leaves neither duplicates nor losses: its objects are
//! simply read again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, RecordBatch};
use rayon::prelude::*;
use trail_parse::{BadRecordPolicy, Batches, DecoderBuilder, ObjectSummary, Table};

use crate::hash::Fnv;
use crate::ledger::{Entry, Ledger};
use crate::listing::{list_local, select, Filter, Listed};
use crate::location::Location;
use crate::summary::{BadObject, BadRecord, Summary};
use crate::writer::{prepare, publish, write_partition, WriteOptions, Written};

/// What to do when an object or a record is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Skip it, report it, exit 3 at the end.
    #[default]
    Skip,
    /// Fail the run (exit 1) and publish nothing.
    Fail,
}

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// Where the CloudTrail objects are.
    pub source: Location,
    /// Where the tables go.
    pub dest: Location,
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
}

/// The outcome of decoding one object.
struct Decoded {
    listed: Listed,
    result: Result<(Batches, ObjectSummary), trail_parse::Error>,
}

const MAX_LISTED_BAD_RECORDS: usize = 1000;

/// Run the job. Errors are failures of the run itself (exit 1); bad input is
/// reported in the summary.
pub fn run(args: &RunArgs) -> Result<Summary> {
    let started = Instant::now();
    let (Location::Local(source), Location::Local(dest)) = (&args.source, &args.dest) else {
        bail!("S3 locations are not supported by this build yet: use local folders (sync the bucket with `aws s3 sync` first)");
    };
    let shard = args.filter.shard.unwrap_or((0, 1));
    let shard_tag = format!("s{}of{}", shard.0, shard.1);
    let mut summary = Summary {
        source: args.source.to_string(),
        dest: args.dest.to_string(),
        dry_run: args.dry_run,
        ..Summary::default()
    };
    if !source.is_dir() {
        bail!("source {} is not a folder", source.display());
    }
    if !args.dry_run {
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        recover(dest, &shard_tag)?;
        if args.full_refresh {
            full_refresh(dest)?;
        }
    }

    let listed = list_local(source).with_context(|| format!("listing {}", source.display()))?;
    summary.objects_listed = listed.len() as u64;
    let (candidates, skipped) = select(listed, &args.filter);
    summary.objects_skipped = skipped
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let ledger =
        Ledger::load(dest).with_context(|| format!("reading the ledger in {}", dest.display()))?;
    let mut todo = Vec::new();
    for (item, _) in candidates {
        if ledger.is_done(&item.key, item.size, &item.etag) {
            *summary
                .objects_skipped
                .entry("already_done".into())
                .or_insert(0) += 1;
        } else {
            todo.push(item);
        }
    }
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
    summary.bytes_read = todo.iter().map(|i| i.size).sum();
    summary.objects_read = todo.len() as u64;
    tracing::info!(objects = todo.len(), bytes = summary.bytes_read, run = %run_id, "objects to read");
    if args.dry_run {
        summary.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(summary);
    }

    let policy = match args.on_error {
        OnError::Skip => BadRecordPolicy::Skip,
        OnError::Fail => BadRecordPolicy::Fail,
    };
    let decoded: Vec<Decoded> = todo
        .into_par_iter()
        .map_init(
            || DecoderBuilder::new().with_bad_record_policy(policy).build(),
            |decoder, listed| {
                let result = match &listed.path {
                    Some(path) => match std::fs::File::open(path) {
                        Ok(f) => decoder.decode_all(&listed.key, f),
                        Err(source) => Err(trail_parse::Error::Read {
                            key: listed.key.clone(),
                            source,
                        }),
                    },
                    None => Err(trail_parse::Error::Read {
                        key: listed.key.clone(),
                        source: std::io::Error::other("no local path"),
                    }),
                };
                Decoded { listed, result }
            },
        )
        .collect();

    // Gather rows per (table, day); note bad objects and records.
    let mut partitions: BTreeMap<(Table, i32), Vec<RecordBatch>> = BTreeMap::new();
    let mut entries = Vec::new();
    for d in decoded {
        match d.result {
            Ok((batches, s)) => {
                summary.records += s.records;
                summary.json_bytes += s.json_bytes;
                summary.bad_record_count += s.bad_records.len() as u64;
                for r in s.bad_records {
                    tracing::warn!(key = %d.listed.key, record = r.index, reason = %r.reason, "bad record skipped");
                    if summary.bad_records.len() < MAX_LISTED_BAD_RECORDS {
                        summary.bad_records.push(BadRecord {
                            key: d.listed.key.clone(),
                            index: r.index,
                            reason: r.reason,
                        });
                    }
                }
                for table in Table::ALL {
                    for batch in batches.get(table) {
                        for (day, part) in split_by_day(batch)? {
                            partitions.entry((table, day)).or_default().push(part);
                        }
                    }
                }
                entries.push(Entry {
                    key: d.listed.key,
                    size: d.listed.size,
                    etag: d.listed.etag,
                    run: run_id.clone(),
                });
            }
            Err(e) => {
                tracing::warn!(key = %d.listed.key, "bad object: {e}");
                summary.bad_objects.push(BadObject {
                    key: d.listed.key,
                    reason: e.to_string(),
                });
            }
        }
    }
    summary.objects_read = entries.len() as u64 + summary.bad_objects.len() as u64;
    if args.on_error == OnError::Fail && !summary.bad_objects.is_empty() {
        summary.error = Some(format!(
            "{} bad object(s), first: {} (--on-error fail: nothing was published)",
            summary.bad_objects.len(),
            summary.bad_objects[0].reason
        ));
        summary.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(summary);
    }

    // Encode every partition in parallel, then publish.
    let base = format!("part-{run_id}");
    let tmp_dir = tmp_dir(dest, &shard_tag);
    let written: Vec<Vec<(Written, PathBuf, PathBuf)>> = partitions
        .into_par_iter()
        .map(|((table, day), batches)| {
            let batch = prepare(table, &batches)?;
            let partition = format!("event_date={}", day_string(day));
            write_partition(
                dest,
                &tmp_dir,
                table,
                &partition,
                &base,
                &batch,
                &args.write,
            )
        })
        .collect::<Result<_>>()?;
    let files: Vec<(Written, PathBuf, PathBuf)> = written.into_iter().flatten().collect();
    let manifest = pending_path(dest, &run_id);
    write_manifest(&manifest, &run_id, &files)?;
    publish(&files)?;
    let mut ledger = ledger;
    ledger
        .commit(&run_id, &entries)
        .with_context(|| format!("committing the ledger in {}", dest.display()))?;
    std::fs::remove_file(&manifest).ok();
    let _ = std::fs::remove_dir(&tmp_dir);

    for (w, _, _) in files {
        match w.table {
            "events" => summary.rows.events += w.rows,
            "table_access" => summary.rows.table_access += w.rows,
            _ => summary.rows.athena_queries += w.rows,
        }
        summary.bytes_written += w.bytes;
        summary.files.push(w);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Rows of a batch grouped by `event_date`. A record always has one (its
/// eventTime's day, else its key's delivery day); rows without either go to
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
    let mut groups: HashMap<i32, Vec<u32>> = HashMap::new();
    for i in 0..n {
        groups.entry(day_of(i)).or_default().push(i as u32);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (day, rows) in groups {
        let idx = arrow_array::UInt32Array::from(rows);
        out.push((day, arrow_select::take::take_record_batch(batch, &idx)?));
    }
    out.sort_by_key(|(d, _)| *d);
    Ok(out)
}

fn day_string(day: i32) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (epoch + chrono::TimeDelta::days(day as i64))
        .format("%Y-%m-%d")
        .to_string()
}

/// Temporary files of one shard (other shards may be writing theirs).
fn tmp_dir(dest: &Path, shard_tag: &str) -> PathBuf {
    dest.join("_trail").join("tmp").join(shard_tag)
}

fn runs_dir(dest: &Path) -> PathBuf {
    dest.join("_trail").join("runs")
}

fn pending_path(dest: &Path, run: &str) -> PathBuf {
    runs_dir(dest).join(format!("{run}.pending.json"))
}

fn write_manifest(path: &Path, run: &str, files: &[(Written, PathBuf, PathBuf)]) -> Result<()> {
    std::fs::create_dir_all(path.parent().context("manifest path")?)?;
    let doc = serde_json::json!({
        "run": run,
        "files": files.iter().map(|(w, _, _)| w.path.clone()).collect::<Vec<_>>(),
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc)?)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Undo what an interrupted run of this shard published without committing.
fn recover(dest: &Path, shard_tag: &str) -> Result<()> {
    let ledger = Ledger::load(dest)?;
    let Ok(entries) = std::fs::read_dir(runs_dir(dest)) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(run) = name.strip_suffix(".pending.json") else {
            continue;
        };
        if !run.ends_with(shard_tag) {
            continue;
        }
        if !ledger.has_run(run) {
            let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
                .with_context(|| format!("reading {}", path.display()))?;
            for file in doc["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
            {
                // Only files inside DEST/<table>/ are ever listed; refuse anything else.
                if file.contains("..") || file.starts_with('/') {
                    continue;
                }
                match std::fs::remove_file(dest.join(file)) {
                    Ok(()) => tracing::warn!(file, run, "removed a file of an interrupted run"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing {file}")),
                }
            }
        }
        std::fs::remove_file(&path)?;
    }
    let tmp = tmp_dir(dest, shard_tag);
    if tmp.is_dir() {
        std::fs::remove_dir_all(&tmp).ok();
    }
    Ok(())
}

fn full_refresh(dest: &Path) -> Result<()> {
    for table in Table::ALL {
        let dir = dest.join(table.name());
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    let ledger = Ledger::dir(dest);
    if ledger.is_dir() {
        std::fs::remove_dir_all(&ledger)?;
    }
    Ok(())
}
