//! `trail-etl verify`: check CloudTrail's signed digest files, the log
//! objects they list, and (with a destination) that every listed object was
//! ingested with the same bytes.
//!
//! The checks follow `aws cloudtrail validate-logs` (the AWS CLI's
//! `awscli/customizations/cloudtrail/validation.py`):
//! - a digest is the gzip of a JSON document, delivered under
//!   `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/`, with the
//!   S3 user metadata `signature` (hex) and `signature-algorithm`;
//! - its signature is SHA256withRSA (PKCS #1 v1.5) over
//!   `digestEndTime \n digestS3Bucket/digestS3Object \n hex SHA-256 of the
//!   inflated digest \n previousDigestSignature` (`null` when there is none),
//!   checked with the public key CloudTrail's `ListPublicKeys` gives for the
//!   digest's `digestPublicKeyFingerprint` (a PKCS #1 DER key: the Rust SDK
//!   decodes the base64 of the wire);
//! - each log file a digest lists must exist, be one gzip member (nothing
//!   after it), and its inflated bytes must hash to `hashValue`.
//!
//! Beyond the CLI: every digest in the range is checked (not only those the
//! chain reaches), a digest the chain names but that is gone is reported,
//! log objects in the hours the digests cover but listed by none are
//! reported, and with `--dest` each listed object must be in the ledger with
//! the SHA-256 of the same stored bytes (`run` records it as it reads them),
//! so nothing is read twice.
//!
//! A local folder has no S3 metadata: its digests' signatures cannot be
//! checked (said in the report); everything else is.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::ledger::{day_of_key, Kind, Ledger};
use crate::location::Location;
use crate::pipeline::{hex, sha256_hex};
use crate::store::{s3_client, S3Options, Store};

/// What `verify` checks.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    /// Where `AWSLogs/` is.
    pub source: Location,
    /// The tables' destination, to check the ledger against the digests.
    pub dest: Option<Location>,
    /// First and last delivery day of the digests and logs checked.
    pub start: NaiveDate,
    /// Last delivery day (inclusive).
    pub end: NaiveDate,
    /// How to reach S3 (and CloudTrail, with the same profile and region).
    pub s3: S3Options,
}

/// One problem found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// `digest_signature_invalid`, `digest_missing`, `log_missing`,
    /// `log_hash_mismatch`, `log_not_in_digest` or `log_not_ingested`.
    pub kind: &'static str,
    /// The object's key, relative to the source.
    pub key: String,
    /// Why.
    pub detail: String,
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The source checked.
    pub source: String,
    /// The destination checked, if any.
    pub dest: Option<String>,
    /// First delivery day checked.
    pub start: String,
    /// Last delivery day checked.
    pub end: String,
    /// Digest files found.
    pub digests: u64,
    /// Of which valid.
    pub digests_valid: u64,
    /// Whether signatures were checked (not for a local folder).
    pub signatures_checked: bool,
    /// Log files the valid digests list.
    pub logs: u64,
    /// Of which present with the listed hash.
    pub logs_valid: u64,
    /// Of which recorded in the destination's ledger with the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_ingested: Option<u64>,
    /// Log objects found in the hours the digests cover.
    pub log_objects_seen: u64,
    /// Problems, sorted by kind and key.
    pub problems: Vec<Problem>,
    /// Gaps in a digest chain (logging or validation was off): information, not problems.
    pub gaps: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// Why the checks could not run (exit 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 0 all valid, 3 problems found, 1 could not run.
    pub exit_code: i32,
}

impl Report {
    /// The summary the AWS CLI prints, with trail's own counts.
    pub fn human(&self) -> String {
        let mut out = format!("Results requested for {} to {}\n", self.start, self.end);
        out.push_str(&ratio(self.digests_valid, self.digests, "digest"));
        if !self.signatures_checked && self.digests > 0 {
            out.push_str(" (signatures not checked: a local folder has no S3 metadata)");
        }
        out.push('\n');
        out.push_str(&ratio(self.logs_valid, self.logs, "log"));
        out.push('\n');
        let not_listed = self.count("log_not_in_digest");
        out.push_str(&format!(
            "{} log files found in the hours the digests cover, {} listed by no digest\n",
            thousands(self.log_objects_seen),
            thousands(not_listed)
        ));
        if let Some(ingested) = self.logs_ingested {
            out.push_str(&format!(
                "{}/{} listed log files ingested with the same bytes\n",
                thousands(ingested),
                thousands(self.logs)
            ));
        }
        for gap in &self.gaps {
            out.push_str(gap);
            out.push('\n');
        }
        out
    }

    fn count(&self, kind: &str) -> u64 {
        self.problems.iter().filter(|p| p.kind == kind).count() as u64
    }
}

fn ratio(valid: u64, total: u64, name: &str) -> String {
    let mut out = format!(
        "{}/{} {name} files valid",
        thousands(valid),
        thousands(total)
    );
    if total > valid {
        out.push_str(&format!(", {} INVALID", thousands(total - valid)));
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A span of time a digest covers.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Public keys by fingerprint (PKCS #1 DER).
type KeysByFingerprint = HashMap<String, Vec<u8>>;

/// One account and region's digest folder, and its log folder.
#[derive(Debug, Clone)]
struct Chain {
    /// `AWSLogs/[o-ORG/]ACCOUNT/`.
    base: String,
    region: String,
}

/// A digest as loaded.
#[derive(Debug)]
struct Digest {
    key: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    previous: Option<String>,
    logs: Vec<LogFile>,
}

#[derive(Debug, Clone)]
struct LogFile {
    key: String,
    hash: String,
}

/// Run the checks. `Err` when they could not run (exit 1); problems are in the report.
pub fn verify(args: &VerifyArgs) -> Result<Report> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(verify_async(args))
}

async fn verify_async(args: &VerifyArgs) -> Result<Report> {
    let started = Instant::now();
    let needs_s3 = matches!(args.source, Location::S3 { .. })
        || matches!(args.dest, Some(Location::S3 { .. }));
    let client = if needs_s3 {
        Some(s3_client(&args.s3).await)
    } else {
        None
    };
    let source = Store::open(&args.source, client.as_ref())?;
    let dest = match &args.dest {
        Some(d) => Some(Store::open(d, client.as_ref())?),
        None => None,
    };
    let mut report = Report {
        source: source.to_string(),
        dest: dest.as_ref().map(|d| d.to_string()),
        start: args.start.to_string(),
        end: args.end.to_string(),
        signatures_checked: source.s3_bucket().is_some(),
        ..Report::default()
    };
    // Digests of the range and the next day (a digest covers the hour
    // before it is delivered); logs of the range.
    let digest_days: Vec<NaiveDate> = days(args.start, args.end + Duration::days(1));
    let log_days: Vec<NaiveDate> = days(args.start, args.end);
    let chains = chains(&source).await?;
    let mut keys_by_region: BTreeMap<String, Vec<(Chain, Vec<String>)>> = BTreeMap::new();
    for chain in chains {
        let mut keys = Vec::new();
        for day in &digest_days {
            let dir = format!(
                "{}CloudTrail-Digest/{}/{}/",
                chain.base,
                chain.region,
                day.format("%Y/%m/%d")
            );
            let (_, objects) = source.list_dir(&dir).await?;
            keys.extend(
                objects
                    .into_iter()
                    .map(|o| o.key)
                    .filter(|k| k.ends_with(".json.gz")),
            );
        }
        keys.sort();
        keys_by_region
            .entry(chain.region.clone())
            .or_default()
            .push((chain, keys));
    }

    let cloudtrail = if report.signatures_checked {
        Some(PublicKeys::new(&args.s3, args.start, args.end).await)
    } else {
        None
    };
    let mut listed: HashMap<String, LogFile> = HashMap::new();
    let mut covered: Vec<(Chain, Vec<Span>)> = Vec::new();
    for (region, chains) in &keys_by_region {
        let keys = match &cloudtrail {
            Some(c) => Some(c.for_region(region).await?),
            None => None,
        };
        for (chain, digest_keys) in chains {
            let present: HashSet<&str> = digest_keys.iter().map(String::as_str).collect();
            let loaded: Vec<(String, Result<Digest, String>)> =
                stream::iter(digest_keys.iter().map(|key| {
                    let (source, keys) = (&source, keys.as_deref());
                    async move { (key.clone(), load_digest(source, key, keys).await) }
                }))
                .buffered(16)
                .collect()
                .await;
            let mut valid: Vec<&Digest> = Vec::new();
            for (key, digest) in &loaded {
                report.digests += 1;
                match digest {
                    Ok(d) => {
                        report.digests_valid += 1;
                        valid.push(d);
                    }
                    Err(detail) if detail.starts_with("not found") => {
                        report.problems.push(Problem {
                            kind: "digest_missing",
                            key: key.clone(),
                            detail: detail.clone(),
                        })
                    }
                    Err(detail) => report.problems.push(Problem {
                        kind: "digest_signature_invalid",
                        key: key.clone(),
                        detail: detail.clone(),
                    }),
                }
            }
            // The chain: a previous digest named in the listed days must be there.
            let first_day = digest_days.first().copied();
            for d in &valid {
                match &d.previous {
                    Some(prev) => {
                        let in_range =
                            digest_time(prev).is_some_and(|t| Some(t.date_naive()) >= first_day);
                        if in_range && !present.contains(prev.as_str()) {
                            report.problems.push(Problem {
                                kind: "digest_missing",
                                key: prev.clone(),
                                detail: format!("named as the previous digest by {}", d.key),
                            });
                        }
                    }
                    None => {
                        if let Some(earlier) = valid
                            .iter()
                            .filter(|e| e.end <= d.start)
                            .max_by_key(|e| e.end)
                        {
                            report.gaps.push(format!(
                                "No log files were delivered by CloudTrail between {} and {} ({}{})",
                                earlier.end.format("%Y-%m-%dT%H:%M:%SZ"),
                                d.start.format("%Y-%m-%dT%H:%M:%SZ"),
                                chain.base,
                                chain.region
                            ));
                        }
                    }
                }
            }
            let mut spans: Vec<Span> = valid.iter().map(|d| (d.start, d.end)).collect();
            spans.sort();
            covered.push((chain.clone(), spans));
            for d in valid {
                for log in &d.logs {
                    listed.insert(log.key.clone(), log.clone());
                }
            }
        }
    }

    // The listed logs: present, one gzip member, the listed hash.
    let with_dest = dest.is_some();
    let mut stored_hashes: HashMap<String, String> = HashMap::new();
    let mut logs: Vec<&LogFile> = listed.values().collect();
    logs.sort_by(|a, b| a.key.cmp(&b.key));
    report.logs = logs.len() as u64;
    type Checked = (String, Option<String>, Result<(), (&'static str, String)>);
    let checked: Vec<Checked> = stream::iter(logs.iter().map(|log| {
        let source = &source;
        async move {
            let (stored, result) = match source.get_optional(&log.key).await {
                Ok(None) => (None, Err(("log_missing", "not found".to_string()))),
                Err(e) => (None, Err(("log_missing", format!("cannot be read: {e:#}")))),
                Ok(Some(bytes)) => {
                    let expected = log.hash.to_ascii_lowercase();
                    tokio::task::spawn_blocking(move || {
                        let stored = with_dest.then(|| sha256_hex(&bytes));
                        (stored, check_log(&bytes, &expected))
                    })
                    .await
                    .unwrap_or_else(|e| (None, Err(("log_hash_mismatch", e.to_string()))))
                }
            };
            (log.key.clone(), stored, result)
        }
    }))
    .buffer_unordered(32)
    .collect()
    .await;
    for (key, stored, result) in checked {
        if let Some(h) = stored {
            stored_hashes.insert(key.clone(), h);
        }
        match result {
            Ok(()) => report.logs_valid += 1,
            Err((kind, detail)) => report.problems.push(Problem { kind, key, detail }),
        }
    }

    // Log objects in the hours the digests cover that no digest lists.
    for (chain, spans) in &covered {
        for day in &log_days {
            let dir = format!(
                "{}CloudTrail/{}/{}/",
                chain.base,
                chain.region,
                day.format("%Y/%m/%d")
            );
            let (_, objects) = source.list_dir(&dir).await?;
            for o in objects {
                let Some(t) = log_time(&o.key) else { continue };
                // Within the covered hours, away from their edges (a file is
                // named when written and listed when delivered, minutes later).
                let margin = Duration::minutes(15);
                if !inside(spans, t - margin) || !inside(spans, t + margin) {
                    continue;
                }
                report.log_objects_seen += 1;
                if !listed.contains_key(&o.key) {
                    report.problems.push(Problem {
                        kind: "log_not_in_digest",
                        key: o.key,
                        detail: format!(
                            "delivered at {} in hours the digests of {}{} cover",
                            t.format("%Y-%m-%dT%H:%MZ"),
                            chain.base,
                            chain.region
                        ),
                    });
                }
            }
        }
    }

    // The ledger: every listed log ingested with the same stored bytes.
    if let Some(dest) = &dest {
        let mut ledger = Ledger::new(Kind::Objects);
        let wanted: HashSet<&str> = logs.iter().map(|l| l.key.as_str()).collect();
        let days: BTreeSet<String> = logs.iter().map(|l| day_of_key(&l.key)).collect();
        ledger
            .load_days(dest, days, Some(&wanted))
            .await
            .with_context(|| format!("reading the ledger in {dest}"))?;
        let mut ingested = 0;
        for log in &logs {
            let recorded = ledger.hashes(&log.key);
            let problem = if !ledger.is_recorded(&log.key) {
                Some("not in the ledger".to_string())
            } else if recorded.is_empty() {
                Some("in the ledger without a hash (ingested by a version before 2026-12-04: run --full-refresh to record one)".to_string())
            } else {
                match stored_hashes.get(&log.key) {
                    Some(h) if recorded.contains(h) => None,
                    Some(h) => Some(format!(
                        "ingested bytes differ: the ledger has SHA-256 {}, the object {h}",
                        recorded.join(", ")
                    )),
                    // The object itself is missing or damaged: reported above.
                    None => None,
                }
            };
            match problem {
                None => ingested += 1,
                Some(detail) => report.problems.push(Problem {
                    kind: "log_not_ingested",
                    key: log.key.clone(),
                    detail,
                }),
            }
        }
        report.logs_ingested = Some(ingested);
    }
    report.problems.sort();
    report.exit_code = if report.problems.is_empty() { 0 } else { 3 };
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Every day from `start` to `end`, inclusive.
fn days(start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = start;
    while d <= end {
        out.push(d);
        d += Duration::days(1);
    }
    out
}

/// The accounts and regions with a digest folder.
async fn chains(source: &Store) -> Result<Vec<Chain>> {
    let mut accounts = Vec::new();
    let (top, _) = source.list_dir("AWSLogs/").await?;
    for dir in top {
        let name = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if name.starts_with("o-") {
            let (inner, _) = source.list_dir(&dir).await?;
            accounts.extend(inner);
        } else {
            accounts.push(dir);
        }
    }
    let mut chains = Vec::new();
    for base in accounts {
        let (regions, _) = source
            .list_dir(&format!("{base}CloudTrail-Digest/"))
            .await?;
        for r in regions {
            let region = r.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            chains.push(Chain {
                base: base.clone(),
                region: region.to_string(),
            });
        }
    }
    Ok(chains)
}

/// The time in a digest's name (`..._20260302T100000Z.json.gz`, or
/// `..._20260302T100000Z_backfill.json.gz`).
fn digest_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split(['_', '.'])
        .rev()
        .find_map(|part| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%M%SZ").ok())
        .map(|t| t.and_utc())
}

/// The time in a log file's name (`ACCOUNT_CloudTrail_REGION_20260302T1005Z_xxxx.json.gz`).
fn log_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ")
            .ok()
            .map(|t| t.and_utc())
    })
}

/// Whether `t` is within one of the (sorted) spans, or between two that touch.
fn inside(spans: &[Span], t: DateTime<Utc>) -> bool {
    let slack = Duration::minutes(2);
    let mut run: Option<Span> = None;
    for &(s, e) in spans {
        run = match run {
            Some((rs, re)) if s <= re + slack => Some((rs, re.max(e))),
            Some((rs, re)) => {
                if rs <= t && t <= re {
                    return true;
                }
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    run.is_some_and(|(rs, re)| rs <= t && t <= re)
}

/// A log object: one gzip member whose inflated bytes hash to `expected`.
fn check_log(bytes: &[u8], expected: &str) -> Result<(), (&'static str, String)> {
    let mismatch = |detail: String| ("log_hash_mismatch", detail);
    let mut rest: &[u8] = bytes;
    let mut inflater = flate2::bufread::GzDecoder::new(&mut rest);
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match inflater.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => context.update(&buf[..n]),
            Err(e) => return Err(mismatch(format!("not a whole gzip object: {e}"))),
        }
    }
    drop(inflater);
    if !rest.is_empty() {
        return Err(mismatch(format!(
            "{} bytes after the gzip data (an appended member)",
            rest.len()
        )));
    }
    let actual = hex(context.finish().as_ref());
    if actual != expected {
        return Err(mismatch(format!(
            "hash value doesn't match: the digest lists {expected}, the inflated object hashes to {actual}"
        )));
    }
    Ok(())
}

/// Load one digest and check it: format, location, signature.
async fn load_digest(
    source: &Store,
    key: &str,
    keys: Option<&KeysByFingerprint>,
) -> Result<Digest, String> {
    let (gz, metadata) = match source.get_with_metadata(key).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err("not found".into()),
        Err(e) => return Err(format!("cannot be read: {e:#}")),
    };
    let inflated = inflate_digest(&gz).map_err(|e| format!("invalid format: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&inflated).map_err(|e| format!("invalid format: {e}"))?;
    let text = |field: &str| doc.get(field).and_then(|v| v.as_str()).map(str::to_string);
    for field in [
        "digestPublicKeyFingerprint",
        "digestS3Bucket",
        "digestS3Object",
        "previousDigestSignature",
        "digestEndTime",
        "digestStartTime",
    ] {
        if doc.get(field).is_none() {
            return Err(format!("invalid format: no {field}"));
        }
    }
    let digest_bucket = text("digestS3Bucket").unwrap_or_default();
    let digest_object = text("digestS3Object").unwrap_or_default();
    let moved = match source.s3_bucket() {
        Some((bucket, _)) => digest_bucket != bucket || digest_object != source.full_key_of(key),
        None => !digest_object.ends_with(key),
    };
    if moved {
        return Err(format!(
            "has been moved from its original location s3://{digest_bucket}/{digest_object}"
        ));
    }
    if let Some(keys) = keys {
        let (Some(signature), Some(_algorithm)) = (
            metadata.get("signature"),
            metadata.get("signature-algorithm"),
        ) else {
            return Err("signature verification failed: no signature metadata".into());
        };
        let fingerprint = text("digestPublicKeyFingerprint").unwrap_or_default();
        let Some(public_key) = keys.get(&fingerprint) else {
            return Err(format!(
                "public key not found for fingerprint {fingerprint}"
            ));
        };
        let previous = text("previousDigestSignature").unwrap_or_else(|| "null".into());
        let to_sign = format!(
            "{}\n{}/{}\n{}\n{}",
            text("digestEndTime").unwrap_or_default(),
            digest_bucket,
            digest_object,
            sha256_hex(&inflated),
            previous
        );
        let signature =
            unhex(signature).ok_or("signature verification failed: the signature is not hex")?;
        let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            public_key,
        );
        if verifier.verify(to_sign.as_bytes(), &signature).is_err() {
            return Err("signature verification failed".into());
        }
    }
    let time = |field: &str| {
        text(field)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("invalid format: {field}"))
    };
    let strip = |object: &str| -> String {
        match source.s3_bucket() {
            Some((_, prefix)) if !prefix.is_empty() => object
                .strip_prefix(&format!("{prefix}/"))
                .unwrap_or(object)
                .to_string(),
            Some(_) => object.to_string(),
            None => object
                .find("AWSLogs/")
                .map_or(object, |at| &object[at..])
                .to_string(),
        }
    };
    let logs = doc
        .get("logFiles")
        .and_then(|v| v.as_array())
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    Some(LogFile {
                        key: strip(f.get("s3Object")?.as_str()?),
                        hash: f.get("hashValue")?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Digest {
        key: key.to_string(),
        start: time("digestStartTime")?,
        end: time("digestEndTime")?,
        previous: text("previousDigestS3Object").map(|o| strip(&o)),
        logs,
    })
}

fn inflate_digest(gz: &Bytes) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out)?;
    Ok(out)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// CloudTrail's public keys per region, by fingerprint (PKCS #1 DER).
struct PublicKeys {
    config: aws_config::SdkConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cache: tokio::sync::Mutex<HashMap<String, Arc<KeysByFingerprint>>>,
}

impl PublicKeys {
    async fn new(opts: &S3Options, start: NaiveDate, end: NaiveDate) -> PublicKeys {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        // Keys valid at any time of the range: a day either side, and never
        // a missing bound (CloudTrail takes it as now).
        let now = Utc::now();
        let from = (start - Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let to = ((end + Duration::days(2))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc())
        .min(now);
        PublicKeys {
            config: loader.load().await,
            start: from,
            end: to.max(from),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The keys of `region` (ListPublicKeys, every page), asked once.
    async fn for_region(&self, region: &str) -> Result<Arc<KeysByFingerprint>> {
        let mut cache = self.cache.lock().await;
        if let Some(keys) = cache.get(region) {
            return Ok(Arc::clone(keys));
        }
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.config)
            .region(aws_sdk_cloudtrail::config::Region::new(region.to_string()))
            .build();
        let client = aws_sdk_cloudtrail::Client::from_conf(conf);
        let mut keys = HashMap::new();
        let mut token = None;
        loop {
            let page = client
                .list_public_keys()
                .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                    self.start.timestamp(),
                ))
                .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                    self.end.timestamp(),
                ))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_cloudtrail::error::DisplayErrorContext(e).to_string())
                })
                .with_context(|| format!("CloudTrail ListPublicKeys in {region}"))?;
            for k in page.public_key_list() {
                if let (Some(f), Some(v)) = (k.fingerprint(), k.value()) {
                    keys.insert(f.to_string(), v.as_ref().to_vec());
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if keys.is_empty() {
            bail!(
                "CloudTrail in {region} has no public keys between {} and {}",
                self.start.format("%Y-%m-%dT%H:%M:%SZ"),
                self.end.format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        let keys = Arc::new(keys);
        cache.insert(region.to_string(), Arc::clone(&keys));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_names() {
        let d = "AWSLogs/1/CloudTrail-Digest/eu-west-1/2026/03/02/1_CloudTrail-Digest_eu-west-1_t_eu-west-1_20260302T100000Z.json.gz";
        assert_eq!(
            digest_time(d).unwrap().to_rfc3339(),
            "2026-03-02T10:00:00+00:00"
        );
        let b = d.replace(".json.gz", "_backfill.json.gz");
        assert_eq!(digest_time(&b), digest_time(d));
        let l = "AWSLogs/1/CloudTrail/eu-west-1/2026/03/02/1_CloudTrail_eu-west-1_20260302T1005Z_abc.json.gz";
        assert_eq!(
            log_time(l).unwrap().to_rfc3339(),
            "2026-03-02T10:05:00+00:00"
        );
    }

    #[test]
    fn touching_spans_cover_what_is_between() {
        let t = |h: u32, m: u32| {
            NaiveDate::from_ymd_opt(2026, 3, 2)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
                .and_utc()
        };
        let spans = [
            (t(9, 0), t(10, 0)),
            (t(10, 0), t(11, 0)),
            (t(13, 0), t(14, 0)),
        ];
        assert!(inside(&spans, t(10, 0)));
        assert!(inside(&spans, t(10, 50)));
        assert!(!inside(&spans, t(12, 0)));
        assert!(inside(&spans, t(13, 30)));
        assert!(!inside(&spans, t(8, 59)));
    }

    #[test]
    fn an_appended_member_or_a_wrong_hash_is_a_mismatch() {
        let gz = |text: &str| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let one = gz("{\"Records\":[]}");
        let hash = sha256_hex(b"{\"Records\":[]}");
        assert!(check_log(&one, &hash).is_ok());
        let mut two = one.clone();
        two.extend(gz("{\"Records\":[{}]}"));
        assert!(check_log(&two, &hash)
            .unwrap_err()
            .1
            .contains("appended member"));
        assert_eq!(
            check_log(&one, &"0".repeat(64)).unwrap_err().0,
            "log_hash_mismatch"
        );
    }

    #[test]
    fn the_report_reads_like_the_cli() {
        let r = Report {
            start: "2026-03-02".into(),
            end: "2026-03-03".into(),
            digests: 48,
            digests_valid: 48,
            signatures_checked: true,
            logs: 1211,
            logs_valid: 1210,
            ..Report::default()
        };
        let text = r.human();
        assert!(text.contains("48/48 digest files valid\n"), "{text}");
        assert!(
            text.contains("1,210/1,211 log files valid, 1 INVALID"),
            "{text}"
        );
    }
}
