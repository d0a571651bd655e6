//! What a command did, as numbers: one CloudWatch Embedded Metric Format
//! line on stdout (`--metrics emf`), and the status record every command that
//! writes to DEST leaves under `DEST/_trail/status/` for `trail-etl status`.
//!
//! EMF (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
//! is a JSON object whose `_aws` member says which of its other members are
//! metrics and which are dimensions; ECS (awslogs), Batch and Lambda forward
//! stdout to CloudWatch Logs, which extracts the metrics. Every line has
//! one dimension set, `[Command, Shard]` (`Shard` is `0/1` unsharded): each
//! metric name and set of dimension values is a custom metric CloudWatch
//! bills monthly, so there is no second, aggregate set.
//!
//! ```
//! use trail_etl::metrics::{Metrics, Unit};
//! let mut m = Metrics::new("run", "0/1");
//! m.add("ObjectsRead", 35.0, Unit::Count);
//! let emf = m.emf();
//! assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "trail");
//! assert_eq!(emf["ObjectsRead"], 35.0);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "trail";

/// A CloudWatch unit (the few used here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Bytes.
    Bytes,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// The unit's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One command's numbers.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `run`, `enrich`, `compact` or `verify`.
    pub command: &'static str,
    /// `I/N` (`0/1` unsharded).
    pub shard: String,
    /// Metric name, value, unit, in order.
    pub values: Vec<(&'static str, f64, Unit)>,
    /// When it ended (ms since the epoch).
    pub at_ms: i64,
    /// The process's exit code.
    pub exit_code: i32,
    /// Why it failed.
    pub error: Option<String>,
    /// The run id, where there is one.
    pub run_id: Option<String>,
    /// The newest event time ingested (ms since the epoch): this run's, or
    /// the last one recorded when it ingested nothing.
    pub newest_event_ms: Option<i64>,
    /// Query ids ingested per event day (`run`), for the enrich backlog.
    pub query_ids: BTreeMap<String, u64>,
}

impl Metrics {
    /// No numbers yet, ended now.
    pub fn new(command: &'static str, shard: &str) -> Metrics {
        Metrics {
            command,
            shard: shard.to_string(),
            values: Vec::new(),
            at_ms: chrono::Utc::now().timestamp_millis(),
            exit_code: 0,
            error: None,
            run_id: None,
            newest_event_ms: None,
            query_ids: BTreeMap::new(),
        }
    }

    /// Add a metric.
    pub fn add(&mut self, name: &'static str, value: f64, unit: Unit) -> &mut Metrics {
        self.values.push((name, value, unit));
        self
    }

    /// `Lag` (seconds from the newest event ingested to now), when known.
    pub fn add_lag(&mut self) {
        if let Some(newest) = self.newest_event_ms {
            let lag = (self.at_ms - newest).max(0) as f64 / 1000.0;
            self.add("Lag", lag, Unit::Seconds);
        }
    }

    /// The EMF object (print it as one line).
    pub fn emf(&self) -> Value {
        let mut root = Map::new();
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.at_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Command", "Shard"]],
                    "Metrics": metrics,
                }],
            }),
        );
        root.insert("Command".into(), json!(self.command));
        root.insert("Shard".into(), json!(self.shard));
        for (name, value, _) in &self.values {
            root.insert((*name).into(), json!(value));
        }
        // Properties (not metrics): searchable in CloudWatch Logs Insights.
        root.insert("ExitCode".into(), json!(self.exit_code));
        if let Some(run) = &self.run_id {
            root.insert("RunId".into(), json!(run));
        }
        if let Some(e) = &self.error {
            root.insert("Error".into(), json!(e));
        }
        Value::Object(root)
    }

    /// The status record `trail-etl status` reads.
    pub fn record(&self) -> Record {
        Record {
            command: self.command.to_string(),
            shard: self.shard.clone(),
            run_id: self.run_id.clone(),
            finished: ms_to_rfc3339(self.at_ms),
            exit_code: self.exit_code,
            error: self.error.clone(),
            metrics: self
                .values
                .iter()
                .map(|(n, v, _)| (n.to_string(), *v))
                .collect(),
            newest_event_time: self.newest_event_ms.map(ms_to_rfc3339),
            query_ids: self.query_ids.clone(),
        }
    }
}

/// One command's outcome, as `DEST/_trail/status/<day>/<time>-<command>-<shard>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `run`, `enrich`, `compact` or `verify`.
    pub command: String,
    /// `I/N`.
    pub shard: String,
    /// The run id, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When it ended, RFC 3339 UTC.
    pub finished: String,
    /// The exit code.
    pub exit_code: i32,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The metrics of its EMF line.
    pub metrics: BTreeMap<String, f64>,
    /// The newest event time ingested, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_event_time: Option<String>,
    /// Query ids ingested per event day.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_ids: BTreeMap<String, u64>,
}

/// RFC 3339 with milliseconds, UTC.
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn rfc3339_to_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The metrics of `run`'s summary.
pub fn of_run(s: &crate::summary::Summary, shard: &str) -> Metrics {
    let mut m = Metrics::new("run", shard);
    m.exit_code = s.exit_code;
    m.error = s.error.clone();
    m.run_id = (!s.run_id.is_empty()).then(|| s.run_id.clone());
    m.add("Runs", 1.0, Unit::Count)
        .add("Failed", f64::from(u8::from(s.exit_code == 1)), Unit::Count)
        .add("ObjectsRead", s.objects_read as f64, Unit::Count)
        .add("Records", s.records as f64, Unit::Count)
        .add("RowsEvents", s.rows.events as f64, Unit::Count)
        .add("RowsTableAccess", s.rows.table_access as f64, Unit::Count)
        .add(
            "RowsAthenaQueries",
            s.rows.athena_queries as f64,
            Unit::Count,
        )
        .add("BadObjects", s.bad_objects.len() as f64, Unit::Count)
        .add("BadRecords", s.bad_record_count as f64, Unit::Count)
        .add("BytesRead", s.bytes_read as f64, Unit::Bytes)
        .add("JsonBytes", s.json_bytes as f64, Unit::Bytes)
        .add("BytesWritten", s.bytes_written as f64, Unit::Bytes)
        .add("Duration", s.duration_ms as f64, Unit::Milliseconds);
    m.newest_event_ms = s
        .files
        .iter()
        .filter(|f| f.table == "events")
        .filter_map(|f| f.newest_event_ms)
        .max();
    for f in s.files.iter().filter(|f| f.table == "athena_queries") {
        let day = f.partition.trim_start_matches("event_date=").to_string();
        *m.query_ids.entry(day).or_insert(0) += f.query_ids.unwrap_or(0);
    }
    m
}

/// The metrics of `compact`'s summary.
pub fn of_compact(s: &crate::compact::CompactSummary) -> Metrics {
    let mut m = Metrics::new("compact", "0/1");
    m.exit_code = s.exit_code;
    m.error = s.error.clone();
    m.add("Runs", 1.0, Unit::Count)
        .add("Failed", f64::from(u8::from(s.exit_code == 1)), Unit::Count)
        .add(
            "PartitionsCompacted",
            s.partitions_compacted as f64,
            Unit::Count,
        )
        .add("FilesMerged", s.files_before as f64, Unit::Count)
        .add("FilesWritten", s.files_after as f64, Unit::Count)
        .add("Records", s.rows_after as f64, Unit::Count)
        .add(
            "DuplicateRows",
            s.duplicate_rows_removed as f64,
            Unit::Count,
        )
        .add("BytesRead", s.bytes_before as f64, Unit::Bytes)
        .add("BytesWritten", s.bytes_after as f64, Unit::Bytes)
        .add("Duration", s.duration_ms as f64, Unit::Milliseconds);
    m
}

/// The metrics of `enrich`'s summary.
pub fn of_enrich(s: &crate::enrich::EnrichSummary) -> Metrics {
    let mut m = Metrics::new("enrich", "0/1");
    m.exit_code = s.exit_code;
    m.error = s.error.clone();
    m.run_id = (!s.run_id.is_empty()).then(|| s.run_id.clone());
    m.add("Runs", 1.0, Unit::Count)
        .add("Failed", f64::from(u8::from(s.exit_code == 1)), Unit::Count)
        .add("QueriesRequested", s.requested as f64, Unit::Count)
        .add("QueriesFound", s.found as f64, Unit::Count)
        .add("QueriesUnknown", s.unknown as f64, Unit::Count)
        .add("QueriesUnprocessed", s.unprocessed as f64, Unit::Count)
        .add("QueriesGivenUp", s.gave_up as f64, Unit::Count)
        .add("Records", s.found as f64, Unit::Count)
        .add("Duration", s.duration_ms as f64, Unit::Milliseconds);
    m
}

/// The metrics of `verify`'s report.
pub fn of_verify(r: &crate::verify::Report) -> Metrics {
    let mut m = Metrics::new("verify", "0/1");
    m.exit_code = r.exit_code;
    m.error = r.error.clone();
    m.add("Runs", 1.0, Unit::Count)
        .add("Failed", f64::from(u8::from(r.exit_code == 1)), Unit::Count)
        .add("DigestsChecked", r.digests as f64, Unit::Count)
        .add("DigestsValid", r.digests_valid as f64, Unit::Count)
        .add("LogsChecked", r.logs as f64, Unit::Count)
        .add("LogsValid", r.logs_valid as f64, Unit::Count)
        .add("Problems", r.problems.len() as f64, Unit::Count)
        .add("Duration", r.duration_ms as f64, Unit::Milliseconds);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_from_the_newest_event_to_the_end() {
        let mut m = Metrics::new("run", "2/8");
        m.at_ms = 10_000;
        m.newest_event_ms = Some(4_000);
        m.add_lag();
        assert_eq!(m.emf()["Lag"], 6.0);
        assert_eq!(m.emf()["Shard"], "2/8");
        let record = m.record();
        assert_eq!(record.metrics["Lag"], 6.0);
        assert_eq!(
            record.newest_event_time.as_deref(),
            Some("1970-01-01T00:00:04.000Z")
        );
        assert_eq!(rfc3339_to_ms(&record.finished), Some(10_000));
    }
}
