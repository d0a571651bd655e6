//! The ledger: which objects earlier runs have published.
//!
//! Each run that publishes something writes one file,
//! `DEST/_trail/ledger/<run>.jsonl`, one JSON line per object
//! (`{"key","size","etag","run"}`), after its Parquet files are in place. The
//! file is written under a temporary name and renamed, so a run's objects are
//! recorded all together or not at all: that rename is the run's commit point.
//! Every run reads all ledger files, whatever its shard.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    dir: PathBuf,
}

impl Ledger {
    /// Where the ledger files live under a local destination.
    pub fn dir(dest: &Path) -> PathBuf {
        dest.join("_trail").join("ledger")
    }

    /// Load every ledger file under `dest`.
    pub fn load(dest: &Path) -> std::io::Result<Ledger> {
        let dir = Ledger::dir(dest);
        let mut ledger = Ledger {
            done: HashMap::new(),
            dir: dir.clone(),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(ledger);
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for path in files {
            for line in BufReader::new(std::fs::File::open(&path)?).lines() {
                let line = line?;
                if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                    ledger.done.insert(e.key, (e.size, e.etag));
                }
            }
        }
        Ok(ledger)
    }

    /// Whether this exact version of `key` was published by an earlier run.
    pub fn is_done(&self, key: &str, size: u64, etag: &str) -> bool {
        self.done
            .get(key)
            .is_some_and(|(s, e)| *s == size && e == etag)
    }

    /// Objects recorded.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Whether `run` has committed (its ledger file exists).
    pub fn has_run(&self, run: &str) -> bool {
        self.dir.join(format!("{run}.jsonl")).is_file()
    }

    /// Record the objects a run published, atomically (temporary file, sync, rename).
    pub fn commit(&mut self, run: &str, entries: &[Entry]) -> std::io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut text = String::new();
        for e in entries {
            text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        let tmp = self.dir.join(format!(".{run}.jsonl.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(format!("{run}.jsonl")))?;
        for e in entries {
            self.done.insert(e.key.clone(), (e.size, e.etag.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_then_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Ledger::load(dir.path()).unwrap();
        let entry = |k: &str| Entry {
            key: k.into(),
            size: 1,
            etag: "e".into(),
            run: "r".into(),
        };
        a.commit("run-a", &[entry("k1")]).unwrap();
        let mut b = Ledger::load(dir.path()).unwrap();
        b.commit("run-b", &[entry("k2"), entry("k3")]).unwrap();
        // A temporary file left by a crash before the rename is not a commit.
        std::fs::write(
            Ledger::dir(dir.path()).join(".run-c.jsonl.tmp"),
            "{\"key\":\"k4\"",
        )
        .unwrap();
        let all = Ledger::load(dir.path()).unwrap();
        assert!(all.is_done("k1", 1, "e") && all.is_done("k3", 1, "e"));
        assert!(!all.is_done("k1", 1, "changed"));
        assert_eq!(all.len(), 3);
        assert!(all.has_run("run-a") && !all.has_run("run-c"));
    }
}
