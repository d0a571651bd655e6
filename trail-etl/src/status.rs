//! `trail-etl status`: what a destination holds and how its jobs are doing,
//! from trail's own bookkeeping and the listings only (never the Parquet).
//!
//! ```text
//! DEST/_trail/status/<YYYY-MM-DD>/<HHMMSSmmm>-<command>-<shard>-<pid>.json   one record per command that ended
//! ```
//!
//! Every `run`, `enrich`, `compact` and `verify --dest` leaves a
//! [`Record`] (its metrics, exit code, error, newest event time ingested),
//! filed by the day it ended. `status` reads the records of the last few
//! day folders, the ledger's last few delivery days, and the tables'
//! listings (one LIST per thousand files): its cost follows `--days`, not
//! the age of the destination.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::location::Location;
use crate::metrics::{ms_to_rfc3339, rfc3339_to_ms, Metrics, Record};
use crate::store::{S3Options, Store};

/// Where the records live under DEST.
pub const STATUS_DIR: &str = "_trail/status/";
/// The tables whose partitions `status` lists.
const TABLES: [&str; 4] = [
    "events",
    "table_access",
    "athena_queries",
    "athena_query_stats",
];
/// Files read at once.
const READS: usize = 16;

/// Leave `metrics` as a record under `dest`, after filling in the newest
/// event time from the last records when this command ingested nothing,
/// and the lag.
pub async fn save(dest: &Store, metrics: &mut Metrics) -> Result<()> {
    if metrics.newest_event_ms.is_none() && metrics.command == "run" {
        let (records, _) = read_records(dest, 2, 1).await?;
        metrics.newest_event_ms = records
            .iter()
            .filter_map(|r| r.newest_event_time.as_deref().and_then(rfc3339_to_ms))
            .max();
    }
    if metrics.command == "run" {
        metrics.add_lag();
    }
    let at = chrono::DateTime::from_timestamp_millis(metrics.at_ms).unwrap_or_default();
    let key = format!(
        "{STATUS_DIR}{}/{}-{}-{}-{}.json",
        at.format("%Y-%m-%d"),
        at.format("%H%M%S%3f"),
        metrics.command,
        metrics.shard.replace('/', "of"),
        std::process::id()
    );
    let body = serde_json::to_vec(&metrics.record())?;
    dest.put(&key, Bytes::from(body))
        .await
        .with_context(|| format!("writing the status record {key}"))
}

/// Save `metrics` under `dest` (a runtime of its own), then print its EMF
/// line when asked. A record that cannot be written is a warning: the
/// command's outcome stands.
pub fn finish(mut metrics: Metrics, dest: Option<&Location>, s3: &S3Options, emf: bool) {
    if let Some(dest) = dest {
        let saved = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the I/O runtime")
            .and_then(|rt| {
                // Bounded: a run that failed because S3 stopped answering
                // must not hang here.
                rt.block_on(async {
                    let store = crate::store::connect(dest, s3).await?;
                    tokio::time::timeout(s3.give_up(), save(&store, &mut metrics))
                        .await
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "no status record written: {dest} did not answer for {} s",
                                s3.give_up().as_secs()
                            )
                        })?
                })
            });
        if let Err(e) = saved {
            tracing::warn!("{e:#}");
        }
    } else if metrics.command == "run" {
        metrics.add_lag();
    }
    if emf {
        println!("{}", metrics.emf());
    }
}

/// The records of the last `days` day folders that have any (newest first),
/// reading older folders only while fewer than `at_least` were found.
async fn read_records(dest: &Store, days: usize, at_least: usize) -> Result<(Vec<Record>, usize)> {
    let (folders, _) = dest.list_dir(STATUS_DIR).await?;
    let mut folders: Vec<String> = folders;
    folders.sort();
    let mut records = Vec::new();
    let mut read = 0;
    for folder in folders.iter().rev() {
        if read >= days && records.len() >= at_least {
            break;
        }
        read += 1;
        let (_, files) = dest.list_dir(folder).await?;
        let bodies: Vec<(String, Bytes)> = stream::iter(files.into_iter().map(|f| async move {
            let body = dest.get(&f.key).await?;
            Ok::<_, anyhow::Error>((f.key, body))
        }))
        .buffer_unordered(READS)
        .try_collect()
        .await?;
        for (key, body) in bodies {
            match serde_json::from_slice::<Record>(&body) {
                Ok(r) => records.push(r),
                Err(e) => tracing::warn!("status record {key} is not readable: {e}"),
            }
        }
    }
    records.sort_by(|a, b| b.finished.cmp(&a.finished));
    Ok((records, read))
}

/// What `status` needs.
#[derive(Debug, Clone)]
pub struct StatusArgs {
    /// The destination.
    pub dest: Location,
    /// How many of the last delivery days (and days of records) to show.
    pub days: usize,
    /// S3 options.
    pub s3: S3Options,
    /// Now (ms since the epoch).
    pub now_ms: i64,
}

/// One delivery day of the ledger.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Objects ingested.
    pub objects: u64,
    /// Records decoded from them.
    pub records: u64,
    /// Ledger files of the day (folded by `run` past 16 per shard).
    pub ledger_files: u64,
}

/// One table's files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableFiles {
    /// The table.
    pub table: String,
    /// Partitions.
    pub partitions: u64,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
    /// Partitions of several files `compact` would merge: `(partition, files)`.
    pub need_compaction: Vec<(String, u64)>,
}

/// What `status` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The destination.
    pub dest: String,
    /// When it looked.
    pub now: String,
    /// The last delivery days ingested.
    pub days: Vec<Day>,
    /// Files per table.
    pub tables: Vec<TableFiles>,
    /// The last commands that ended (newest first, at most 20).
    pub runs: Vec<Record>,
    /// Manifests of runs or compactions that have not finished: in
    /// progress, or interrupted (the next run or compact recovers them).
    pub unfinished: Vec<String>,
    /// The newest event time ingested (from the records read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_event_time: Option<String>,
    /// Seconds from it to now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Query ids ingested per event day (by the runs read) that `enrich`
    /// has not asked Athena about yet.
    pub enrich_backlog: BTreeMap<String, u64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0, or 1 when it could not look.
    pub exit_code: i32,
}

/// Look.
pub fn status(args: &StatusArgs) -> Result<Status> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(async {
        let dest = crate::store::connect(&args.dest, &args.s3).await?;
        status_of(&dest, args).await
    })
}

async fn status_of(dest: &Store, args: &StatusArgs) -> Result<Status> {
    let mut out = Status {
        dest: dest.to_string(),
        now: ms_to_rfc3339(args.now_ms),
        ..Status::default()
    };
    // Runs.
    let (records, _) = read_records(dest, args.days, 1).await?;
    let newest = records
        .iter()
        .filter_map(|r| r.newest_event_time.as_deref().and_then(rfc3339_to_ms))
        .max();
    out.newest_event_time = newest.map(ms_to_rfc3339);
    out.lag_seconds = newest.map(|n| (args.now_ms - n).max(0) as f64 / 1000.0);
    let mut ids: BTreeMap<String, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.exit_code != 1) {
        for (day, n) in &r.query_ids {
            *ids.entry(day.clone()).or_insert(0) += n;
        }
    }
    for (day, n) in ids {
        let asked = ledger_day(dest, crate::ledger::Kind::Queries.dir(), &day)
            .await?
            .objects;
        if n > asked {
            out.enrich_backlog.insert(day, n - asked);
        }
    }
    out.runs = records.into_iter().take(20).collect();
    // Unfinished work.
    for dir in ["_trail/runs/", crate::compact::COMPACT_DIR] {
        let (_, files) = dest.list_dir(dir).await?;
        out.unfinished.extend(
            files
                .into_iter()
                .filter(|f| f.key.ends_with(".pending.json"))
                .map(|f| f.key),
        );
    }
    // The last delivery days of the ledger.
    let objects_dir = crate::ledger::Kind::Objects.dir();
    let (mut days, _) = dest.list_dir(objects_dir).await?;
    days.sort();
    let last: Vec<String> = days
        .iter()
        .rev()
        .map(|d| {
            d.trim_start_matches(objects_dir)
                .trim_end_matches('/')
                .to_string()
        })
        .filter(|d| d.len() == 10)
        .take(args.days)
        .collect();
    for day in last.into_iter().rev() {
        out.days.push(ledger_day(dest, objects_dir, &day).await?);
    }
    // The tables' files.
    for table in TABLES {
        out.tables.push(table_files(dest, table).await?);
    }
    Ok(out)
}

/// Distinct keys and records of one day folder of a ledger.
async fn ledger_day(dest: &Store, dir: &str, day: &str) -> Result<Day> {
    let (_, files) = dest.list_dir(&format!("{dir}{day}/")).await?;
    let ledger_files = files.len() as u64;
    let bodies: Vec<(String, Bytes)> = stream::iter(files.into_iter().map(|f| async move {
        let body = dest.get(&f.key).await?;
        Ok::<_, anyhow::Error>((f.key, body))
    }))
    .buffer_unordered(READS)
    .try_collect()
    .await?;
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    for (file, body) in bodies {
        for (n, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry: crate::ledger::Entry = serde_json::from_slice(line)
                .with_context(|| format!("ledger file {file} line {}", n + 1))?;
            keys.insert(entry.key, entry.records.unwrap_or(0));
        }
    }
    Ok(Day {
        day: day.to_string(),
        objects: keys.len() as u64,
        records: keys.values().sum(),
        ledger_files,
    })
}

/// A table's partitions and files, and which `compact` would merge: more
/// than one file, not all written by one compaction.
async fn table_files(dest: &Store, table: &str) -> Result<TableFiles> {
    let files = dest.list_all(&format!("{table}/")).await?;
    let mut partitions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = TableFiles {
        table: table.to_string(),
        ..TableFiles::default()
    };
    for f in files.iter().filter(|f| f.key.ends_with(".parquet")) {
        let mut parts = f.key.splitn(3, '/');
        let (_, partition, name) = (parts.next(), parts.next(), parts.next());
        let (Some(partition), Some(name)) = (partition, name) else {
            continue;
        };
        out.files += 1;
        out.bytes += f.size;
        partitions
            .entry(partition.to_string())
            .or_default()
            .push(name.to_string());
    }
    out.partitions = partitions.len() as u64;
    for (partition, names) in partitions {
        let compactions: BTreeSet<Option<&str>> = names
            .iter()
            .map(|n| {
                n.strip_prefix("compact-")
                    .and_then(|rest| rest.split('-').next())
            })
            .collect();
        let one_compaction = compactions.len() == 1 && !compactions.contains(&None);
        if names.len() > 1 && !one_compaction {
            out.need_compaction.push((partition, names.len() as u64));
        }
    }
    Ok(out)
}

impl Status {
    /// For people.
    pub fn human(&self) -> String {
        let mut out = format!("trail status of {} at {}\n", self.dest, self.now);
        match (&self.newest_event_time, self.lag_seconds) {
            (Some(t), Some(lag)) => out.push_str(&format!(
                "newest event ingested: {t} (lag {})\n",
                duration(lag)
            )),
            _ => out.push_str("newest event ingested: unknown (no run recorded lately)\n"),
        }
        out.push_str("last runs:\n");
        if self.runs.is_empty() {
            out.push_str("  none recorded\n");
        }
        for r in self.runs.iter().take(10) {
            let m = |k: &str| r.metrics.get(k).copied().unwrap_or(0.0);
            let what = match r.command.as_str() {
                "run" => format!(
                    "{} objects, {} records, {} bad objects, {} bad records",
                    m("ObjectsRead"),
                    m("Records"),
                    m("BadObjects"),
                    m("BadRecords")
                ),
                "compact" => format!(
                    "{} partitions, {} files into {}",
                    m("PartitionsCompacted"),
                    m("FilesMerged"),
                    m("FilesWritten")
                ),
                "enrich" => format!(
                    "{} queries asked, {} found",
                    m("QueriesRequested"),
                    m("QueriesFound")
                ),
                "verify" => format!(
                    "{}/{} digests, {}/{} logs valid, {} problems",
                    m("DigestsValid"),
                    m("DigestsChecked"),
                    m("LogsValid"),
                    m("LogsChecked"),
                    m("Problems")
                ),
                _ => String::new(),
            };
            out.push_str(&format!(
                "  {} {} {} exit {}: {what} ({:.1} s){}\n",
                r.finished,
                r.command,
                r.shard,
                r.exit_code,
                m("Duration") / 1000.0,
                r.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if !self.unfinished.is_empty() {
            out.push_str(&format!(
                "unfinished (in progress, or interrupted: the next run or compact recovers it): {}\n",
                self.unfinished.join(", ")
            ));
        }
        out.push_str("ingested per delivery day:\n");
        for d in &self.days {
            out.push_str(&format!(
                "  {}  {:>8} objects {:>12} records  ({} ledger file{})\n",
                d.day,
                d.objects,
                d.records,
                d.ledger_files,
                if d.ledger_files == 1 { "" } else { "s" }
            ));
        }
        out.push_str("tables:\n");
        for t in &self.tables {
            out.push_str(&format!(
                "  {:<20} {:>6} partitions {:>8} files {:>14} bytes, {} to compact\n",
                t.table,
                t.partitions,
                t.files,
                t.bytes,
                t.need_compaction.len()
            ));
            for (p, n) in t.need_compaction.iter().take(10) {
                out.push_str(&format!("    {}/{p}: {n} files\n", t.table));
            }
            if t.need_compaction.len() > 10 {
                out.push_str(&format!("    ... {} more\n", t.need_compaction.len() - 10));
            }
        }
        let backlog: u64 = self.enrich_backlog.values().sum();
        out.push_str(&format!(
            "enrich backlog: {backlog} query ids not asked yet{}\n",
            if backlog > 0 {
                format!(
                    " ({})",
                    self.enrich_backlog
                        .iter()
                        .map(|(d, n)| format!("{d}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        ));
        out
    }
}

/// `3 d 4 h`, `2 h 5 min`, `40 s`.
fn duration(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(40.0), "40 s");
        assert_eq!(duration(3000.0), "50 min");
        assert_eq!(duration(3.0 * 3600.0 + 300.0), "3 h 5 min");
        assert_eq!(duration(3.0 * 86_400.0 + 7200.0), "3 d 2 h");
    }
}
