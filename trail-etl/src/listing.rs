//! List the objects of a source and decide which ones this run reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::NaiveDate;
use trail_parse::{KeyKind, ObjectKey};

use crate::hash::shard_of;

/// One object found under the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the source root, `/`-separated.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Version tag: the S3 ETag, or size and modification time for local files.
    pub etag: String,
    /// Local path, for local sources.
    pub path: Option<PathBuf>,
}

/// Which objects a run reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// First delivery date to read (inclusive).
    pub start: Option<NaiveDate>,
    /// Last delivery date to read (inclusive).
    pub end: Option<NaiveDate>,
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Only these regions (empty: all).
    pub regions: Vec<String>,
    /// Only this organization id.
    pub org_id: Option<String>,
    /// `(index, count)`: only keys whose stable hash falls in this shard.
    pub shard: Option<(u32, u32)>,
}

/// Why a listed object is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// A digest, Config file or other non-event object.
    NotEvents(KeyKind),
    /// The key follows no CloudTrail layout.
    UnrecognizedKey,
    /// Outside `--start/--end`, `--accounts`, `--regions` or `--org-id`.
    Filtered,
    /// Another shard's object.
    OtherShard,
}

impl Skip {
    /// Name used in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotEvents(KeyKind::Digest) => "digest",
            Skip::NotEvents(_) => "not_cloudtrail_events",
            Skip::UnrecognizedKey => "unrecognized_key",
            Skip::Filtered => "filtered_out",
            Skip::OtherShard => "other_shard",
        }
    }
}

impl Filter {
    /// Whether this run reads `key`, and if not, why.
    pub fn check(&self, key: &str) -> Result<ObjectKey, Skip> {
        let k = ObjectKey::parse(key).map_err(|_| Skip::UnrecognizedKey)?;
        if !k.kind.has_records() {
            return Err(Skip::NotEvents(k.kind));
        }
        if let (Some(start), Some(d)) = (self.start, k.delivery_date) {
            if d < start {
                return Err(Skip::Filtered);
            }
        }
        if let (Some(end), Some(d)) = (self.end, k.delivery_date) {
            if d > end {
                return Err(Skip::Filtered);
            }
        }
        if !self.accounts.is_empty()
            && !k
                .account
                .as_ref()
                .is_some_and(|a| self.accounts.contains(a))
        {
            return Err(Skip::Filtered);
        }
        if !self.regions.is_empty() && !k.region.as_ref().is_some_and(|r| self.regions.contains(r))
        {
            return Err(Skip::Filtered);
        }
        if let Some(org) = &self.org_id {
            if k.org_id.as_ref() != Some(org) {
                return Err(Skip::Filtered);
            }
        }
        if let Some((index, count)) = self.shard {
            if shard_of(key, count) != index {
                return Err(Skip::OtherShard);
            }
        }
        Ok(k)
    }
}

/// Every file under `root`, sorted by key. Hidden files and folders (names
/// starting with `.`) are left out.
pub fn list_local(root: &Path) -> std::io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.push(Listed {
                key,
                size: meta.len(),
                etag: format!("{}-{mtime}", meta.len()),
                path: Some(path),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Split a listing into the objects to read and counts of skipped ones.
pub fn select(
    listed: Vec<Listed>,
    filter: &Filter,
) -> (Vec<(Listed, ObjectKey)>, BTreeMap<&'static str, u64>) {
    let mut keep = Vec::new();
    let mut skipped = BTreeMap::new();
    for item in listed {
        match filter.check(&item.key) {
            Ok(k) => keep.push((item, k)),
            Err(why) => *skipped.entry(why.as_str()).or_insert(0) += 1,
        }
    }
    (keep, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/o-aaaaaaaaaa/111122223333/CloudTrail/eu-west-1/2024/03/05/111122223333_CloudTrail_eu-west-1_20240305T0000Z_x.json.gz";

    #[test]
    fn filter_rules() {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert!(Filter::default().check(KEY).is_ok());
        assert_eq!(
            Filter {
                start: date("2024-03-06"),
                ..Filter::default()
            }
            .check(KEY)
            .err(),
            Some(Skip::Filtered)
        );
        assert_eq!(
            Filter {
                end: date("2024-03-04"),
                ..Filter::default()
            }
            .check(KEY)
            .err(),
            Some(Skip::Filtered)
        );
        assert!(Filter {
            start: date("2024-03-05"),
            end: date("2024-03-05"),
            ..Filter::default()
        }
        .check(KEY)
        .is_ok());
        assert_eq!(
            Filter {
                accounts: vec!["999999999999".into()],
                ..Filter::default()
            }
            .check(KEY)
            .err(),
            Some(Skip::Filtered)
        );
        assert!(Filter {
            regions: vec!["eu-west-1".into()],
            ..Filter::default()
        }
        .check(KEY)
        .is_ok());
        assert_eq!(
            Filter {
                org_id: Some("o-bbbbbbbbbb".into()),
                ..Filter::default()
            }
            .check(KEY)
            .err(),
            Some(Skip::Filtered)
        );
        assert_eq!(
            Filter::default().check("notes.txt").err(),
            Some(Skip::UnrecognizedKey)
        );
        let shards: Vec<bool> = (0..3)
            .map(|i| {
                Filter {
                    shard: Some((i, 3)),
                    ..Filter::default()
                }
                .check(KEY)
                .is_ok()
            })
            .collect();
        assert_eq!(shards.iter().filter(|b| **b).count(), 1);
    }
}
