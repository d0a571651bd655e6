//! List the objects of a source and decide which ones this run reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use chrono::NaiveDate;
use futures::stream::{self, StreamExt};
use trail_parse::{KeyKind, ObjectKey};

use crate::hash::shard_of;
use crate::store::Store;

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

/// What listing a source found.
#[derive(Debug, Default)]
pub struct Plan {
    /// Objects this run may read (before the ledger is consulted), sorted by key.
    pub objects: Vec<(Listed, ObjectKey)>,
    /// Objects listed, read or not.
    pub listed: u64,
    /// Objects not read, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Folders not listed at all because they hold no events (`CloudTrail-Digest/`, `Config/`, ...).
    pub skipped_folders: Vec<String>,
}

/// Listing requests in flight at once.
const LIST_CONCURRENCY: usize = 16;
/// Date ranges longer than this are listed per region rather than per day.
const MAX_DAY_PREFIXES: i64 = 400;

/// List the objects of `store` that `filter` selects.
///
/// Walks `[prefix/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail[-Insight]/REGION/YYYY/MM/DD/`
/// level by level, listing only the accounts, regions and (when `filter` has
/// a start date) the day folders asked for, concurrently, instead of the whole
/// bucket. Digest and Config folders are never listed. A source without an
/// `AWSLogs/` folder at its root is listed whole and classified by file name.
pub async fn list_source(store: &Store, filter: &Filter, today: NaiveDate) -> Result<Plan> {
    let mut plan = Plan::default();
    let (root_dirs, root_files) = store.list_dir("").await?;
    let mut objects: Vec<Listed> = Vec::new();
    if !root_dirs.iter().any(|d| d == "AWSLogs/") {
        objects = store.list_all("").await?;
    } else {
        objects.extend(root_files);
        for d in root_dirs.iter().filter(|d| *d != "AWSLogs/") {
            plan.skipped_folders.push(d.clone());
        }
        // AWSLogs/ → accounts, possibly under organization folders.
        let (top_dirs, top_files) = store.list_dir("AWSLogs/").await?;
        objects.extend(top_files);
        let mut account_dirs = Vec::new();
        let mut org_dirs = Vec::new();
        for d in top_dirs {
            let name = folder_name(&d).to_string();
            if is_org_id(&name) {
                if filter.org_id.as_ref().is_none_or(|o| *o == name) {
                    org_dirs.push(d);
                }
            } else if filter.org_id.is_none() && is_account(&name) {
                account_dirs.push(d);
            } else {
                plan.skipped_folders.push(d);
            }
        }
        for listing in stream::iter(org_dirs.iter().map(|d| store.list_dir(d)))
            .buffer_unordered(LIST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
        {
            let (dirs, files) = listing?;
            objects.extend(files);
            account_dirs.extend(dirs);
        }
        account_dirs.retain(|d| {
            let name = folder_name(d);
            is_account(name)
                && (filter.accounts.is_empty() || filter.accounts.iter().any(|a| a == name))
        });
        // ACCOUNT/ → CloudTrail/ and CloudTrail-Insight/ (digests and Config are skipped).
        let mut service_dirs = Vec::new();
        for listing in stream::iter(account_dirs.iter().map(|d| store.list_dir(d)))
            .buffer_unordered(LIST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
        {
            let (dirs, files) = listing?;
            objects.extend(files);
            for d in dirs {
                if d.ends_with("/CloudTrail/") || d.ends_with("/CloudTrail-Insight/") {
                    service_dirs.push(d);
                } else {
                    plan.skipped_folders.push(d);
                }
            }
        }
        // SERVICE/ → regions.
        let mut region_dirs = Vec::new();
        for listing in stream::iter(service_dirs.iter().map(|d| store.list_dir(d)))
            .buffer_unordered(LIST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
        {
            let (dirs, files) = listing?;
            objects.extend(files);
            region_dirs.extend(dirs.into_iter().filter(|d| {
                let name = folder_name(d);
                filter.regions.is_empty() || filter.regions.iter().any(|r| r == name)
            }));
        }
        // REGION/ → every object, or only the day folders in range.
        let mut prefixes = Vec::new();
        for region in &region_dirs {
            match day_folders(filter, today) {
                Some(days) => prefixes.extend(
                    days.iter()
                        .map(|d| format!("{region}{}/", d.format("%Y/%m/%d"))),
                ),
                None => prefixes.push(region.clone()),
            }
        }
        for listing in stream::iter(prefixes.iter().map(|p| store.list_all(p)))
            .buffer_unordered(LIST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
        {
            objects.extend(listing?);
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects.dedup_by(|a, b| a.key == b.key);
    plan.listed = objects.len() as u64;
    for item in objects {
        match filter.check(&item.key) {
            Ok(k) => plan.objects.push((item, k)),
            Err(why) => *plan.skipped.entry(why.as_str()).or_insert(0) += 1,
        }
    }
    plan.skipped_folders.sort();
    Ok(plan)
}

/// The day folders to list, when the range is bounded and not too long.
fn day_folders(filter: &Filter, today: NaiveDate) -> Option<Vec<NaiveDate>> {
    let start = filter.start?;
    // Objects are delivered up to a day after their folder date at most; list through tomorrow.
    let end = filter.end.unwrap_or(today + chrono::Days::new(1));
    if end < start || (end - start).num_days() > MAX_DAY_PREFIXES {
        return None;
    }
    Some(start.iter_days().take_while(|d| *d <= end).collect())
}

/// The last part of a folder key (`a/b/c/` → `c`).
pub fn folder_name(dir: &str) -> &str {
    dir.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|id| {
        (10..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
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
