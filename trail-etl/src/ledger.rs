//! The ledger: which objects earlier runs have published, filed by day.
//!
//! ```text
//! DEST/_trail/ledger/objects/<YYYY-MM-DD>/<run>.jsonl        one file per run and delivery day
//! DEST/_trail/ledger/objects/<YYYY-MM-DD>/fold-<run>.jsonl   a shard's files of that day, folded
//! DEST/_trail/ledger/athena-queries/<YYYY-MM-DD>/...        the same for `enrich` (by event day)
//! ```
//!
//! Each line is one [`Entry`]. A run reads only the day folders of the
//! objects it listed (with `--lookback 2`, two or three days), whatever the
//! age of the destination, and keeps only the entries of the keys it listed:
//! its time and memory follow the new data, never the history. Every shard
//! reads every shard's files of those days. A shard folds only its own files
//! of a day, once there are more than [`FOLD_AFTER`] of them, and only after
//! its run has committed (see `run::publish`), so a crash never makes a
//! committed run's entries disappear from under its manifest.
//!
//! A run's entries are written after its Parquet files, one file per day it
//! read objects from; the pending manifest names those files, and a run has
//! committed when all of them exist (`run::recover`).
//!
//! Destinations written by earlier versions keep every entry in flat files
//! (`_trail/ledger/<run>.jsonl`, `compact-<run>.jsonl`); [`upgrade`] files
//! their entries by day on the first run, writing the new files before it
//! deletes the old ones, so a crash at any point loses nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The ledger's folder under DEST.
pub const LEDGER_DIR: &str = "_trail/ledger/";
/// Run ids committed before the ledger was filed by day (for manifests left
/// by earlier versions).
pub const LEGACY_RUNS: &str = "_trail/ledger/legacy-runs.txt";
/// Fold a shard's files of a day once there are more than this many.
pub const FOLD_AFTER: usize = 16;
/// Files read at once.
const READ_CONCURRENCY: usize = 32;
/// The day folder of entries whose key names no delivery day.
pub const NO_DAY: &str = "none";

/// One published object (or, for `enrich`, one query id and its outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Object key relative to the source.
    pub key: String,
    /// Size in bytes when it was read.
    pub size: u64,
    /// ETag (S3) or size-mtime (local) when it was read.
    pub etag: String,
    /// The run that published it.
    pub run: String,
    /// Records decoded from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Hex SHA-256 of the object's bytes as stored (gzip), computed by
    /// `run` as it reads them; `verify --dest` compares it with the bytes
    /// whose inflated SHA-256 CloudTrail's digest lists. (Hashing the
    /// inflated bytes would cost about 15% of a run, these about 1.6%.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Which ledger: objects read by `run`, or query ids asked by `enrich`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Source objects, filed by delivery day.
    Objects,
    /// Athena query ids, filed by their event day.
    Queries,
}

impl Kind {
    /// The folder of this ledger under DEST.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Objects => "_trail/ledger/objects/",
            Kind::Queries => "_trail/ledger/athena-queries/",
        }
    }
}

/// The day folder (`YYYY-MM-DD`, or [`NO_DAY`]) of a delivery date.
pub fn day_name(delivery_date: Option<NaiveDate>) -> String {
    delivery_date.map_or_else(|| NO_DAY.to_string(), |d| d.to_string())
}

/// The day folder an object key is filed under (its delivery date's).
pub fn day_of_key(key: &str) -> String {
    day_name(
        trail_parse::ObjectKey::parse(key)
            .ok()
            .and_then(|k| k.delivery_date),
    )
}

/// The entries of some days of one ledger.
#[derive(Debug)]
pub struct Ledger {
    kind: Kind,
    /// Versions recorded per key (an object rewritten in place has several).
    done: HashMap<String, Vec<(u64, String)>>,
    /// Ledger files per day loaded, every shard's.
    files: BTreeMap<String, Vec<String>>,
    /// SHA-256 of the object's bytes per key, where recorded (for `verify`).
    hashes: HashMap<String, Vec<String>>,
}

impl Ledger {
    /// An empty ledger of `kind`: nothing loaded yet.
    pub fn new(kind: Kind) -> Ledger {
        Ledger {
            kind,
            done: HashMap::new(),
            files: BTreeMap::new(),
            hashes: HashMap::new(),
        }
    }

    /// Read the entries of `days`, keeping only those whose key `wanted`
    /// accepts (all when `None`). Days already loaded are not read again.
    pub async fn load_days(
        &mut self,
        dest: &Store,
        days: impl IntoIterator<Item = String>,
        wanted: Option<&HashSet<&str>>,
    ) -> Result<()> {
        let days: Vec<String> = days
            .into_iter()
            .filter(|d| !self.files.contains_key(d))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let dir = self.kind.dir();
        let listings: Vec<Result<(String, Vec<String>)>> =
            stream::iter(days.into_iter().map(|day| async move {
                let listed = dest.list_all(&format!("{dir}{day}/")).await?;
                let files = listed
                    .into_iter()
                    .map(|l| l.key)
                    .filter(|k| k.ends_with(".jsonl"))
                    .collect();
                Ok((day, files))
            }))
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut all = Vec::new();
        for l in listings {
            let (day, files) = l.with_context(|| format!("listing the ledger in {dest}"))?;
            all.extend(files.iter().cloned());
            self.files.insert(day, files);
        }
        let mut bodies = stream::iter(
            all.iter()
                .map(|k| async move { (k, dest.get_optional(k).await) }),
        )
        .buffer_unordered(READ_CONCURRENCY);
        while let Some((key, body)) = bodies.next().await {
            // A file folded away by its shard since the listing: its entries
            // are in that shard's fold file, listed too or written later.
            let Some(body) = body.with_context(|| format!("reading ledger file {key}"))? else {
                continue;
            };
            for_each_entry(key, &body, |e| {
                if wanted.is_none_or(|w| w.contains(e.key.as_str())) {
                    self.record(e);
                }
            })?;
        }
        Ok(())
    }

    /// Also read the flat files of a destination written by an earlier
    /// version, without filing them by day (for `--dry-run`, which writes
    /// nothing; a real run files them first, see [`upgrade`]).
    pub async fn load_legacy(&mut self, dest: &Store, wanted: &HashSet<&str>) -> Result<()> {
        let (_, top) = dest.list_dir(LEDGER_DIR).await?;
        for l in top.iter().filter(|l| l.key.ends_with(".jsonl")) {
            let Some(body) = dest.get_optional(&l.key).await? else {
                continue;
            };
            for_each_entry(&l.key, &body, |e| {
                if wanted.contains(e.key.as_str()) {
                    self.record(e);
                }
            })?;
        }
        Ok(())
    }

    fn record(&mut self, e: Entry) {
        if let Some(sha) = e.sha256 {
            self.hashes
                .entry(e.key.clone())
                .or_default()
                .push(sha.to_ascii_lowercase());
        }
        let versions = self.done.entry(e.key).or_default();
        if !versions.iter().any(|(s, t)| *s == e.size && *t == e.etag) {
            versions.push((e.size, e.etag));
        }
    }

    /// Whether this exact version of `key` was published by an earlier run.
    pub fn is_done(&self, key: &str, size: u64, etag: &str) -> bool {
        self.done
            .get(key)
            .is_some_and(|v| v.iter().any(|(s, e)| *s == size && e == etag))
    }

    /// Whether any version of `key` is recorded.
    pub fn is_recorded(&self, key: &str) -> bool {
        self.done.contains_key(key)
    }

    /// The SHA-256 values recorded for `key` (one per version that had one).
    pub fn hashes(&self, key: &str) -> &[String] {
        self.hashes.get(key).map_or(&[], Vec::as_slice)
    }

    /// The recorded `(size, etag)` of `key` with the largest size, if any
    /// (for `enrich`, whose size is the attempt count: the latest outcome).
    pub fn get(&self, key: &str) -> Option<(u64, &str)> {
        self.done
            .get(key)?
            .iter()
            .max_by_key(|(s, _)| *s)
            .map(|(s, e)| (*s, e.as_str()))
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// The files a commit of `entries` by `run` writes, one per day.
    pub fn files_for(&self, run: &str, entries: &[(String, Entry)]) -> Vec<String> {
        let days: BTreeSet<&str> = entries.iter().map(|(d, _)| d.as_str()).collect();
        days.into_iter()
            .map(|d| format!("{}{d}/{run}.jsonl", self.kind.dir()))
            .collect()
    }

    /// Write the entries of `run`, one file per day (`(day, entry)` pairs).
    /// The caller's pending manifest names [`Ledger::files_for`] first: the
    /// run has committed once all of them exist.
    pub async fn commit(
        &mut self,
        dest: &Store,
        run: &str,
        entries: &[(String, Entry)],
    ) -> Result<()> {
        let mut by_day: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for (day, e) in entries {
            by_day.entry(day).or_default().push(e);
        }
        let dir = self.kind.dir();
        // Written concurrently: each write names its day, since they finish
        // in any order.
        let writes: Vec<Result<(&str, String)>> =
            stream::iter(by_day.iter().map(|(day, entries)| async move {
                let key = format!("{dir}{day}/{run}.jsonl");
                dest.put(&key, Bytes::from(lines(entries.iter().copied())?))
                    .await
                    .with_context(|| format!("committing the ledger file {key}"))?;
                Ok((*day, key))
            }))
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        for w in writes {
            let (day, key) = w?;
            self.files.entry(day.to_string()).or_default().push(key);
        }
        for (_, e) in entries {
            self.record(e.clone());
        }
        Ok(())
    }

    /// Fold `shard`'s files of each day in `days` into one file when it has
    /// more than [`FOLD_AFTER`]. Call it only after the run committed and its
    /// manifest is gone. A fold interrupted halfway leaves entries twice,
    /// which means the same as once.
    pub async fn fold(
        &mut self,
        dest: &Store,
        run: &str,
        shard: &str,
        days: &BTreeSet<String>,
    ) -> Result<usize> {
        let suffix = format!("-{shard}.jsonl");
        let mut folded = 0;
        for day in days {
            let Some(files) = self.files.get_mut(day) else {
                continue;
            };
            let own: Vec<String> = files
                .iter()
                .filter(|k| k.ends_with(&suffix))
                .cloned()
                .collect();
            if own.len() <= FOLD_AFTER {
                continue;
            }
            let target = format!("{}{day}/fold-{run}.jsonl", self.kind.dir());
            let mut seen = HashSet::new();
            let mut body = String::new();
            for key in &own {
                let Some(bytes) = dest.get_optional(key).await? else {
                    continue;
                };
                for_each_entry(key, &bytes, |e| {
                    if seen.insert((e.key.clone(), e.size, e.etag.clone())) {
                        if let Ok(line) = serde_json::to_string(&e) {
                            body.push_str(&line);
                            body.push('\n');
                        }
                    }
                })?;
            }
            dest.put(&target, Bytes::from(body))
                .await
                .with_context(|| format!("writing the ledger file {target}"))?;
            for key in own.iter().filter(|k| **k != target) {
                dest.delete(key).await?;
            }
            files.retain(|k| !k.ends_with(&suffix) || *k == target);
            if !files.contains(&target) {
                files.push(target);
            }
            folded += own.len();
            tracing::info!(day, files = own.len(), "folded the ledger files of a day");
        }
        Ok(folded)
    }
}

/// Parse the JSON lines of one ledger file.
fn for_each_entry(key: &str, body: &[u8], mut f: impl FnMut(Entry)) -> Result<()> {
    for (n, line) in body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        let e: Entry = serde_json::from_slice(line)
            .with_context(|| format!("ledger file {key}, line {}: not an entry", n + 1))?;
        f(e);
    }
    Ok(())
}

fn lines<'a>(entries: impl Iterator<Item = &'a Entry>) -> Result<String> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    Ok(text)
}

/// What [`upgrade`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upgraded {
    /// Old flat ledger files read (and deleted).
    pub files: usize,
    /// Entries filed by day.
    pub entries: usize,
}

/// File the entries of a destination written by an earlier version (flat
/// `_trail/ledger/*.jsonl` files) by day, then delete the flat files. New
/// files first (named after `shard`, so shards upgrading at once do not
/// overwrite each other), then the committed run ids ([`LEGACY_RUNS`]),
/// then the deletions: killed at any point, the next run does it again.
pub async fn upgrade(dest: &Store, shard: &str) -> Result<Upgraded> {
    let (_, top) = dest.list_dir(LEDGER_DIR).await?;
    let old: Vec<String> = top
        .into_iter()
        .map(|l| l.key)
        .filter(|k| k.ends_with(".jsonl"))
        .collect();
    if old.is_empty() {
        return Ok(Upgraded::default());
    }
    tracing::info!(
        files = old.len(),
        "filing the ledger by day (first run of this version)"
    );
    let mut by_day: BTreeMap<(Kind, String), Vec<Entry>> = BTreeMap::new();
    let mut runs: BTreeSet<String> = match dest.get_optional(LEGACY_RUNS).await? {
        Some(b) => String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        None => BTreeSet::new(),
    };
    let mut entries = 0;
    for key in &old {
        let Some(body) = dest.get_optional(key).await? else {
            continue;
        };
        for_each_entry(key, &body, |e| {
            if !e.run.is_empty() {
                runs.insert(e.run.clone());
            }
            if e.key.is_empty() {
                return;
            }
            entries += 1;
            let slot = match e.key.strip_prefix("athena-query/") {
                Some(_) => (Kind::Queries, NO_DAY.to_string()),
                None => (Kind::Objects, day_of_key(&e.key)),
            };
            by_day.entry(slot).or_default().push(e);
        })?;
    }
    let writes: Vec<Result<()>> = stream::iter(by_day.iter().map(|((kind, day), entries)| {
        let key = format!("{}{day}/legacy-{shard}.jsonl", kind.dir());
        async move {
            dest.put(&key, Bytes::from(lines(entries.iter())?))
                .await
                .with_context(|| format!("writing the ledger file {key}"))
        }
    }))
    .buffer_unordered(READ_CONCURRENCY)
    .collect()
    .await;
    for w in writes {
        w?;
    }
    let mut text = String::new();
    for r in &runs {
        text.push_str(r);
        text.push('\n');
    }
    dest.put(LEGACY_RUNS, Bytes::from(text)).await?;
    for key in &old {
        dest.delete(key).await?;
    }
    Ok(Upgraded {
        files: old.len(),
        entries,
    })
}

/// Whether `run` committed before the ledger was filed by day.
pub async fn legacy_run_committed(dest: &Store, run: &str) -> Result<bool> {
    Ok(dest
        .get_optional(LEGACY_RUNS)
        .await?
        .is_some_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l == run)))
}

/// Days from `start` to `end` inclusive, as day folder names.
pub fn day_names(start: NaiveDate, end: NaiveDate) -> Vec<String> {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .map(|d| d.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/03/05/111122223333_CloudTrail_eu-west-1_20240305T0000Z_x.json.gz";

    fn entry(k: &str, run: &str) -> (String, Entry) {
        (
            day_of_key(k),
            Entry {
                key: k.into(),
                size: 1,
                etag: "e".into(),
                run: run.into(),
                records: Some(3),
                sha256: None,
            },
        )
    }

    fn key(day: u32, n: usize) -> String {
        KEY.replace("/05/", &format!("/{day:02}/"))
            .replace("_x", &format!("_{n}"))
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local {
            root: dir.path().to_path_buf(),
        };
        (dir, store)
    }

    #[test]
    fn keys_are_filed_by_delivery_day() {
        assert_eq!(day_of_key(KEY), "2024-03-05");
        assert_eq!(day_of_key("notes.txt"), NO_DAY);
    }

    #[tokio::test]
    async fn a_run_reads_only_the_days_it_asks_for() {
        let (_dir, store) = store();
        let mut l = Ledger::new(Kind::Objects);
        let entries: Vec<_> = (1..=9).map(|d| entry(&key(d, 0), "run-a-s0of1")).collect();
        assert_eq!(l.files_for("run-a-s0of1", &entries).len(), 9);
        l.commit(&store, "run-a-s0of1", &entries).await.unwrap();

        let mut some = Ledger::new(Kind::Objects);
        some.load_days(&store, ["2024-03-08".into(), "2024-03-09".into()], None)
            .await
            .unwrap();
        assert_eq!(some.len(), 2);
        assert!(some.is_done(&key(9, 0), 1, "e"));
        assert!(!some.is_done(&key(9, 0), 1, "changed"));
        assert!(!some.is_done(&key(1, 0), 1, "e"), "day 1 was not read");

        let wanted: HashSet<&str> = HashSet::from(["some other key"]);
        let mut none = Ledger::new(Kind::Objects);
        none.load_days(&store, ["2024-03-08".into()], Some(&wanted))
            .await
            .unwrap();
        assert!(none.is_empty(), "entries of keys not wanted are not kept");
    }

    #[tokio::test]
    async fn a_shard_folds_only_its_own_files_of_a_day() {
        let (dir, store) = store();
        let day = "2024-03-05".to_string();
        for (s, shard) in ["s0of2", "s1of2"].into_iter().enumerate() {
            for i in 0..=FOLD_AFTER {
                let run = format!("run-{i}-{shard}");
                let mut l = Ledger::new(Kind::Objects);
                l.load_days(&store, [day.clone()], None).await.unwrap();
                l.commit(&store, &run, &[entry(&key(5, i * 10 + s), &run)])
                    .await
                    .unwrap();
                l.fold(&store, &run, shard, &BTreeSet::from([day.clone()]))
                    .await
                    .unwrap();
            }
        }
        let files = std::fs::read_dir(dir.path().join("_trail/ledger/objects/2024-03-05"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.iter().all(|f| f.starts_with("fold-")), "{files:?}");
        let mut all = Ledger::new(Kind::Objects);
        all.load_days(&store, [day], None).await.unwrap();
        assert_eq!(all.len(), 2 * (FOLD_AFTER + 1));
    }

    #[tokio::test]
    async fn runs_over_several_days_fold_each_day_into_its_own_folder() {
        let (dir, store) = store();
        let days: BTreeSet<String> = (1..=6).map(|d| format!("2024-03-{d:02}")).collect();
        for i in 0..=FOLD_AFTER {
            let run = format!("run-{i}-s0of1");
            let mut l = Ledger::new(Kind::Objects);
            l.load_days(&store, days.iter().cloned(), None)
                .await
                .unwrap();
            let entries: Vec<_> = (1..=6).map(|d| entry(&key(d, i), &run)).collect();
            l.commit(&store, &run, &entries).await.unwrap();
            l.fold(&store, &run, "s0of1", &days).await.unwrap();
        }
        for day in &days {
            let folder = dir.path().join("_trail/ledger/objects").join(day);
            let files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(files.len(), 1, "{day}: {files:?}");
            for line in std::fs::read_to_string(&files[0]).unwrap().lines() {
                let e: Entry = serde_json::from_str(line).unwrap();
                assert_eq!(
                    &day_of_key(&e.key),
                    day,
                    "an entry filed under the wrong day"
                );
            }
            let mut l = Ledger::new(Kind::Objects);
            l.load_days(&store, [day.clone()], None).await.unwrap();
            assert_eq!(l.len(), FOLD_AFTER + 1, "{day}");
        }
    }

    #[tokio::test]
    async fn an_old_flat_ledger_is_filed_by_day() {
        let (dir, store) = store();
        let old = format!(
            "{}\n{}\n{}\n",
            r#"{"key":"K1","size":1,"etag":"e","run":""}"#.replace("K1", &key(1, 0)),
            r#"{"key":"athena-query/q1","size":1,"etag":"found","run":"run-e-enrich"}"#,
            r#"{"key":"","size":0,"etag":"","run":"run-old-s0of1"}"#,
        );
        std::fs::create_dir_all(dir.path().join("_trail/ledger")).unwrap();
        std::fs::write(dir.path().join("_trail/ledger/compact-run-x.jsonl"), old).unwrap();
        let up = upgrade(&store, "s0of1").await.unwrap();
        assert_eq!(
            up,
            Upgraded {
                files: 1,
                entries: 2
            }
        );
        assert!(!dir
            .path()
            .join("_trail/ledger/compact-run-x.jsonl")
            .exists());
        assert_eq!(upgrade(&store, "s0of1").await.unwrap(), Upgraded::default());
        let mut l = Ledger::new(Kind::Objects);
        l.load_days(&store, ["2024-03-01".into()], None)
            .await
            .unwrap();
        assert!(l.is_done(&key(1, 0), 1, "e"));
        let mut q = Ledger::new(Kind::Queries);
        q.load_days(&store, [NO_DAY.into()], None).await.unwrap();
        assert_eq!(q.get("athena-query/q1"), Some((1, "found")));
        assert!(legacy_run_committed(&store, "run-old-s0of1").await.unwrap());
        assert!(legacy_run_committed(&store, "run-e-enrich").await.unwrap());
        assert!(!legacy_run_committed(&store, "run-new-s0of1").await.unwrap());
    }
}
