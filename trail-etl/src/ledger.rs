//! The ledger: which objects earlier runs have published.
//!
//! Each run that publishes something writes one object,
//! `DEST/_trail/ledger/<run>.jsonl`, one JSON line per source object
//! (`{"key","size","etag","run"}`), after its Parquet files are in place. A
//! single PUT (or an atomic rename, locally) writes it, so a run's objects are
//! recorded all together or not at all: that write is the run's commit point.
//! Every run reads all ledger files, whatever its shard. When there are many,
//! a run folds them into one `compact-<run>.jsonl` and deletes the folded ones
//! (entries are a set, so a fold interrupted halfway only leaves duplicates
//! that mean the same thing).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The ledger's folder under DEST.
pub const LEDGER_DIR: &str = "_trail/ledger/";
/// Fold ledger files once there are more than this many.
const COMPACT_AFTER: usize = 64;

/// One published object.
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
}

/// The set of published objects.
#[derive(Debug, Default)]
pub struct Ledger {
    done: HashMap<String, (u64, String)>,
    runs: HashSet<String>,
    files: Vec<String>,
}

impl Ledger {
    /// Read every ledger file under `dest`.
    pub async fn load(dest: &Store) -> Result<Ledger> {
        let mut ledger = Ledger::default();
        let listed = dest.list_all(LEDGER_DIR).await?;
        let files: Vec<String> = listed
            .into_iter()
            .map(|l| l.key)
            .filter(|k| k.ends_with(".jsonl"))
            .collect();
        let bodies: Vec<Result<Bytes>> = stream::iter(files.iter().map(|k| dest.get(k)))
            .buffered(16)
            .collect()
            .await;
        for (key, body) in files.iter().zip(bodies) {
            let body = body.with_context(|| format!("reading ledger file {key}"))?;
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let e: Entry = serde_json::from_slice(line).with_context(|| {
                    format!("ledger file {key} has a line that is not an entry")
                })?;
                ledger.runs.insert(e.run);
                if !e.key.is_empty() {
                    ledger.done.insert(e.key, (e.size, e.etag));
                }
            }
        }
        ledger.files = files;
        Ok(ledger)
    }

    /// Whether this exact version of `key` was published by an earlier run.
    pub fn is_done(&self, key: &str, size: u64, etag: &str) -> bool {
        self.done
            .get(key)
            .is_some_and(|(s, e)| *s == size && e == etag)
    }

    /// The recorded `(size, etag)` of `key`, if any.
    pub fn get(&self, key: &str) -> Option<(u64, &str)> {
        self.done.get(key).map(|(s, e)| (*s, e.as_str()))
    }

    /// Whether `run` has committed.
    pub fn has_run(&self, run: &str) -> bool {
        self.runs.contains(run)
    }

    /// Objects recorded.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Record the objects a run published, in one write. Folds old ledger files
    /// into one when there are many.
    pub async fn commit(&mut self, dest: &Store, run: &str, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let key = format!("{LEDGER_DIR}{run}.jsonl");
        dest.put(&key, Bytes::from(lines(entries.iter())?))
            .await
            .context("committing the ledger")?;
        for e in entries {
            self.done.insert(e.key.clone(), (e.size, e.etag.clone()));
        }
        self.runs.insert(run.to_string());
        self.files.push(key);
        if self.files.len() > COMPACT_AFTER {
            self.compact(dest, run).await?;
        }
        Ok(())
    }

    async fn compact(&mut self, dest: &Store, run: &str) -> Result<()> {
        let all: Vec<Entry> = self
            .done
            .iter()
            .map(|(k, (size, etag))| Entry {
                key: k.clone(),
                size: *size,
                etag: etag.clone(),
                run: String::new(),
            })
            .collect();
        // Keep the run ids: recovery asks whether a run committed.
        let mut body = lines(all.iter())?;
        for r in &self.runs {
            body.push_str(&serde_json::to_string(&Entry {
                key: String::new(),
                size: 0,
                etag: String::new(),
                run: r.clone(),
            })?);
            body.push('\n');
        }
        let key = format!("{LEDGER_DIR}compact-{run}.jsonl");
        dest.put(&key, Bytes::from(body)).await?;
        let old: Vec<String> = self.files.drain(..).filter(|k| *k != key).collect();
        for k in &old {
            dest.delete(k).await?;
        }
        self.files.push(key);
        tracing::info!(folded = old.len(), "compacted the ledger");
        Ok(())
    }
}

fn lines<'a>(entries: impl Iterator<Item = &'a Entry>) -> Result<String> {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commit_reload_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local {
            root: dir.path().to_path_buf(),
        };
        let entry = |k: &str, run: &str| Entry {
            key: k.into(),
            size: 1,
            etag: "e".into(),
            run: run.into(),
        };
        let mut a = Ledger::load(&store).await.unwrap();
        a.commit(&store, "run-a", &[entry("k1", "run-a")])
            .await
            .unwrap();
        let mut b = Ledger::load(&store).await.unwrap();
        b.commit(
            &store,
            "run-b",
            &[entry("k2", "run-b"), entry("k3", "run-b")],
        )
        .await
        .unwrap();
        let all = Ledger::load(&store).await.unwrap();
        assert!(all.is_done("k1", 1, "e") && all.is_done("k3", 1, "e"));
        assert!(!all.is_done("k1", 1, "changed"));
        assert_eq!(all.len(), 3);
        assert!(all.has_run("run-a") && !all.has_run("run-c"));

        let mut l = Ledger::load(&store).await.unwrap();
        for i in 0..COMPACT_AFTER {
            let run = format!("run-{i}");
            l.commit(&store, &run, &[entry(&format!("x{i}"), &run)])
                .await
                .unwrap();
        }
        let files = store.list_all(LEDGER_DIR).await.unwrap();
        assert!(
            files.len() < 4 && files.iter().any(|f| f.key.contains("compact-")),
            "{files:?}"
        );
        let reloaded = Ledger::load(&store).await.unwrap();
        assert_eq!(reloaded.len(), 3 + COMPACT_AFTER);
        assert!(reloaded.has_run("run-a") && reloaded.has_run("run-7"));
    }
}
