//! What a run did, for people (stderr) and for scripts (`--json` on stdout).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::writer::Written;

/// An object that could not be decoded as a whole.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadObject {
    /// Object key relative to the source.
    pub key: String,
    /// Why, as a sentence.
    pub reason: String,
}

/// A record that was skipped.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRecord {
    /// Object key relative to the source.
    pub key: String,
    /// Index in the object's `Records` array.
    pub index: u64,
    /// Why.
    pub reason: String,
}

/// Rows per table.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Rows {
    /// `events` rows.
    pub events: u64,
    /// `table_access` rows.
    pub table_access: u64,
    /// `athena_queries` rows.
    pub athena_queries: u64,
}

/// The run summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Source location.
    pub source: String,
    /// Destination location.
    pub dest: String,
    /// Deterministic id of this run (from its inputs and shard).
    pub run_id: String,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// Objects found under the source.
    pub objects_listed: u64,
    /// Objects not read, by reason (`digest`, `not_cloudtrail_events`,
    /// `unrecognized_key`, `filtered_out`, `other_shard`, `already_done`).
    pub objects_skipped: BTreeMap<String, u64>,
    /// Folders not listed because they hold no events (digests, Config, ...).
    pub skipped_folders: Vec<String>,
    /// Objects read and decoded (with `--dry-run`: that would be read).
    pub objects_read: u64,
    /// With `--dry-run`: the keys that would be read (first 10,000).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<String>,
    /// Objects that could not be decoded: they contributed no rows and are
    /// not in the ledger, so the next run tries them again.
    pub bad_objects: Vec<BadObject>,
    /// Records skipped inside otherwise good objects (first 1,000).
    pub bad_records: Vec<BadRecord>,
    /// Records skipped, in all.
    pub bad_record_count: u64,
    /// Records decoded.
    pub records: u64,
    /// Rows written per table.
    pub rows: Rows,
    /// Bytes of objects read (as stored, usually gzip).
    pub bytes_read: u64,
    /// Bytes of JSON after decompression.
    pub json_bytes: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Files published.
    pub files: Vec<Written>,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
    /// The process exit code this summary leads to.
    pub exit_code: i32,
    /// With `--compact`: what compacting the partitions written did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compact: Option<crate::compact::CompactSummary>,
    /// With `--enrich`: what the enrich step did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrich: Option<serde_json::Value>,
    /// Set when the run failed: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    /// A few lines for a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run { "would read" } else { "read" };
        out.push_str(&format!(
            "trail: {} of {} objects {verb} ({} bytes, {} bytes of JSON), {} records\n",
            self.objects_read, self.objects_listed, self.bytes_read, self.json_bytes, self.records
        ));
        if !self.skipped_folders.is_empty() {
            out.push_str(&format!(
                "trail: folders not listed (no events): {}\n",
                self.skipped_folders.join(", ")
            ));
        }
        if !self.objects_skipped.is_empty() {
            let parts: Vec<String> = self
                .objects_skipped
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.push_str(&format!("trail: skipped objects: {}\n", parts.join(", ")));
        }
        if !self.dry_run {
            out.push_str(&format!(
                "trail: rows: events {}, table_access {}, athena_queries {}; {} files, {} bytes written to {}\n",
                self.rows.events,
                self.rows.table_access,
                self.rows.athena_queries,
                self.files.len(),
                self.bytes_written,
                self.dest
            ));
        }
        for key in self.planned.iter().take(20) {
            out.push_str(&format!("trail: would read {key}\n"));
        }
        if self.planned.len() > 20 {
            out.push_str(&format!(
                "trail: ... and {} more\n",
                self.objects_read.saturating_sub(20)
            ));
        }
        for b in &self.bad_objects {
            out.push_str(&format!("trail: BAD OBJECT {}: {}\n", b.key, b.reason));
        }
        for b in &self.bad_records {
            out.push_str(&format!(
                "trail: BAD RECORD {} record {}: {}\n",
                b.key, b.index, b.reason
            ));
        }
        if self.bad_record_count > self.bad_records.len() as u64 {
            out.push_str(&format!(
                "trail: ... {} bad records in all\n",
                self.bad_record_count
            ));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("trail: run failed: {e}\n"));
        }
        out.push_str(&format!(
            "trail: done in {} ms, exit code {}\n",
            self.duration_ms, self.exit_code
        ));
        out
    }
}
