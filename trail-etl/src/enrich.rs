//! `trail-etl enrich`: Athena's own statistics for the queries in `athena_queries`.
//!
//! CloudTrail records who started each Athena query, but neither the SQL text
//! (`***OMITTED***`) nor the bytes scanned, which Athena bills. Both live in
//! Athena's query history for about 45 days, behind `BatchGetQueryExecution`.
//! This command reads the query ids from `DEST/athena_queries/`, asks Athena
//! for the ones not enriched yet (50 ids a call, in each query's region,
//! throttling retried with backoff by the SDK), and writes the
//! `athena_query_stats` table, partitioned like the others by the day of the
//! `StartQueryExecution` event.
//!
//! Each id is recorded in the ledger (`athena-query/<id>`, filed under the
//! day of its event in `_trail/ledger/athena-queries/`) with its outcome:
//! `found`; `unknown` when Athena no longer knows it (past retention, or
//! another account's); `unprocessed` when Athena could not answer this time,
//! retried by the next runs up to three times, then `gave_up`. Calls use the
//! credentials of the run: queries of other accounts come back `unknown`
//! unless those credentials can read them, so run it once per account (with
//! `--accounts`) in an organization.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::hash::Fnv;
use crate::ledger::{Entry, Kind, Ledger, NO_DAY};
use crate::location::Location;
use crate::run::{publish, recover};
use crate::store::S3Options;
use crate::writer::{properties_for, write_partition, PendingFile, Sorted, WriteOptions, Written};

/// The output table's name.
pub const STATS_TABLE: &str = "athena_query_stats";
/// Ids per BatchGetQueryExecution call (Athena's limit).
const BATCH: usize = 50;
/// Runs that retry an id Athena left unprocessed before giving up on it.
const MAX_ATTEMPTS: u64 = 3;

/// The columns of `athena_query_stats` files (the partition, `event_date`, is in the path).
pub fn stats_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        text("query_execution_id"),
        text("query"),
        text("statement_type"),
        text("state"),
        text("state_change_reason"),
        int("error_category"),
        int("error_type"),
        text("error_message"),
        Field::new("submitted_at", ts(), true),
        Field::new("completed_at", ts(), true),
        int("data_scanned_bytes"),
        int("engine_execution_ms"),
        int("total_execution_ms"),
        int("queue_ms"),
        int("planning_ms"),
        int("service_processing_ms"),
        text("workgroup"),
        text("database_name"),
        text("catalog"),
        text("output_location"),
        Field::new("result_reused", DataType::Boolean, true),
        text("engine_version"),
        text("aws_region"),
        text("account_id"),
        Field::new("fetched_at", ts(), true),
    ]))
}

/// Everything `enrich` needs.
#[derive(Debug, Clone, Default)]
pub struct EnrichArgs {
    /// Where the tables are.
    pub dest: Option<Location>,
    /// How to reach S3.
    pub s3: S3Options,
    /// Athena endpoint (else AWS_ENDPOINT_URL_ATHENA / AWS_ENDPOINT_URL or AWS).
    pub athena_endpoint_url: Option<String>,
    /// Only queries of these accounts.
    pub accounts: Vec<String>,
    /// Parquet settings.
    pub write: WriteOptions,
    /// Local folder for files on their way to an S3 destination.
    pub work_dir: Option<PathBuf>,
    /// Only the `athena_queries` partitions from this day on (`--start`,
    /// `--lookback`): a scheduled enrich reads the recent days, not the history.
    pub start: Option<chrono::NaiveDate>,
    /// Only the partitions up to this day.
    pub end: Option<chrono::NaiveDate>,
}

/// What an enrich run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnrichSummary {
    /// Destination.
    pub dest: String,
    /// Run id.
    pub run_id: String,
    /// Query ids found in `athena_queries`.
    pub queries_seen: u64,
    /// Ids enriched (or settled) by earlier runs.
    pub already_done: u64,
    /// Ids asked of Athena.
    pub requested: u64,
    /// Ids Athena answered.
    pub found: u64,
    /// Ids Athena does not know (past retention, another account).
    pub unknown: u64,
    /// Ids Athena could not answer now: retried by later runs.
    pub unprocessed: u64,
    /// Ids given up after repeated unprocessed answers.
    pub gave_up: u64,
    /// BatchGetQueryExecution calls made.
    pub calls: u64,
    /// Files published.
    pub files: Vec<Written>,
    /// Duration.
    pub duration_ms: u64,
    /// Set when the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Exit code.
    pub exit_code: i32,
}

/// One query to enrich, from `athena_queries`.
#[derive(Debug, Clone)]
struct Wanted {
    id: String,
    region: Option<String>,
    account: Option<String>,
    event_date: String,
    attempts: u64,
}

/// Run on a runtime of its own.
pub fn enrich(args: &EnrichArgs) -> Result<EnrichSummary> {
    let rt = crate::store::io_runtime()?;
    rt.block_on(enrich_async(args))
}

async fn enrich_async(args: &EnrichArgs) -> Result<EnrichSummary> {
    let started = Instant::now();
    let dest_loc = args.dest.as_ref().context("a destination is needed")?;
    let dest = crate::store::connect(dest_loc, &args.s3).await?;
    let mut summary = EnrichSummary {
        dest: dest.to_string(),
        ..EnrichSummary::default()
    };
    recover(&dest, "enrich").await?;

    // The query ids, with the region, account and partition of their event.
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut listed = Vec::new();
    let (partitions, _) = dest.list_dir("athena_queries/").await?;
    for p in partitions {
        let day = crate::listing::folder_name(&p)
            .strip_prefix("event_date=")
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let in_range = day
            .is_none_or(|d| args.start.is_none_or(|s| d >= s) && args.end.is_none_or(|e| d <= e));
        if in_range {
            listed.extend(dest.list_all(&p).await?);
        }
    }
    for obj in listed {
        if !obj.key.ends_with(".parquet") {
            continue;
        }
        let event_date = obj
            .key
            .split('/')
            .find_map(|p| p.strip_prefix("event_date="))
            .unwrap_or("1970-01-01")
            .to_string();
        let bytes = dest.get(&obj.key).await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .with_context(|| format!("reading {}", obj.key))?
            .build()?;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", obj.key))?;
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .map(|c| c.as_string::<i32>().clone())
            };
            let (Some(ids), Some(regions), Some(accounts)) = (
                col("query_execution_id"),
                col("aws_region"),
                col("recipient_account_id"),
            ) else {
                return Err(anyhow!("{} lacks the athena_queries columns", obj.key));
            };
            for i in 0..batch.num_rows() {
                if ids.is_null(i) {
                    continue;
                }
                let account = accounts.is_valid(i).then(|| accounts.value(i).to_string());
                if !args.accounts.is_empty()
                    && !account.as_ref().is_some_and(|a| args.accounts.contains(a))
                {
                    continue;
                }
                summary.queries_seen += 1;
                let id = ids.value(i).to_string();
                wanted.entry(id.clone()).or_insert(Wanted {
                    id,
                    region: regions.is_valid(i).then(|| regions.value(i).to_string()),
                    account,
                    event_date: event_date.clone(),
                    attempts: 0,
                });
            }
        }
    }
    // The ledger days of the partitions seen (and the undated entries of
    // earlier versions), only for the ids seen.
    let mut ledger = Ledger::new(Kind::Queries);
    {
        let keys: Vec<String> = wanted.keys().map(|id| ledger_key(id)).collect();
        let keep: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let days: BTreeSet<String> = wanted
            .values()
            .map(|w| w.event_date.clone())
            .chain([NO_DAY.to_string()])
            .collect();
        ledger.load_days(&dest, days, Some(&keep)).await?;
    }
    let mut todo = Vec::new();
    for (_, mut w) in wanted {
        match ledger.get(&ledger_key(&w.id)) {
            Some((_, "found" | "unknown" | "gave_up")) => summary.already_done += 1,
            Some((attempts, _)) => {
                w.attempts = attempts;
                todo.push(w);
            }
            None => todo.push(w),
        }
    }
    let mut fnv = Fnv::default();
    for w in &todo {
        fnv.write(w.id.as_bytes());
        fnv.write(&w.attempts.to_le_bytes());
    }
    let run_id = format!("run-{:016x}-enrich", fnv.finish());
    summary.run_id = run_id.clone();
    summary.requested = todo.len() as u64;

    // Ask Athena, region by region, 50 ids at a time.
    let mut by_region: BTreeMap<Option<String>, Vec<Wanted>> = BTreeMap::new();
    for w in todo {
        by_region.entry(w.region.clone()).or_default().push(w);
    }
    let fetched_at = chrono::Utc::now().timestamp_millis();
    let mut rows: BTreeMap<String, Vec<StatsRow>> = BTreeMap::new();
    let mut entries = Vec::new();
    for (region, queries) in by_region {
        let athena = athena_client(
            &args.s3,
            args.athena_endpoint_url.as_deref(),
            region.as_deref(),
        )
        .await;
        let index: HashMap<&str, &Wanted> = queries.iter().map(|w| (w.id.as_str(), w)).collect();
        for chunk in queries.chunks(BATCH) {
            summary.calls += 1;
            let out = athena
                .batch_get_query_execution()
                .set_query_execution_ids(Some(chunk.iter().map(|w| w.id.clone()).collect()))
                .send()
                .await
                .map_err(|e| anyhow!(aws_sdk_athena::error::DisplayErrorContext(e).to_string()))
                .with_context(|| {
                    format!(
                        "BatchGetQueryExecution in {}",
                        region.as_deref().unwrap_or("the default region")
                    )
                })?;
            for q in out.query_executions() {
                let Some(w) = q.query_execution_id().and_then(|id| index.get(id)) else {
                    continue;
                };
                summary.found += 1;
                rows.entry(w.event_date.clone())
                    .or_default()
                    .push(StatsRow::new(q, w, fetched_at));
                entries.push(entry(w, "found", w.attempts + 1, &run_id));
            }
            for u in out.unprocessed_query_execution_ids() {
                let Some(w) = u.query_execution_id().and_then(|id| index.get(id)) else {
                    continue;
                };
                let transient = !matches!(
                    u.error_code(),
                    Some("InvalidRequestException") | Some("ResourceNotFoundException")
                );
                let status = if !transient {
                    summary.unknown += 1;
                    "unknown"
                } else if w.attempts + 1 >= MAX_ATTEMPTS {
                    summary.gave_up += 1;
                    "gave_up"
                } else {
                    summary.unprocessed += 1;
                    "unprocessed"
                };
                tracing::info!(id = %w.id, code = ?u.error_code(), message = ?u.error_message(), status, "query not enriched");
                entries.push(entry(w, status, w.attempts + 1, &run_id));
            }
        }
    }

    // Write the rows, one file per partition, then publish and commit.
    let tmp_dir = match (dest.local_root(), &args.work_dir) {
        (Some(root), _) => root.join("_trail").join("tmp").join("enrich"),
        // The process id too: two jobs over the same objects (same run id)
        // into different S3 destinations must not share, nor clear, a folder.
        (None, Some(work)) => work.join(format!("trail-{run_id}-{}", std::process::id())),
        (None, None) => std::env::temp_dir().join(format!("trail-{run_id}-{}", std::process::id())),
    };
    let schema = stats_schema();
    let props = properties_for(&schema, "submitted_at", &args.write)?;
    let mut files: Vec<PendingFile> = Vec::new();
    for (day, mut day_rows) in rows {
        day_rows.sort_by_key(|r| (r.submitted_at.is_some(), r.submitted_at));
        let batch = StatsRow::batch(&schema, &day_rows)?;
        let partition = format!("event_date={day}");
        files.extend(write_partition(
            &tmp_dir,
            STATS_TABLE,
            &props,
            &partition,
            &format!("part-{run_id}"),
            0,
            &Sorted::in_order(batch),
            &args.write,
        )?);
    }
    publish(&dest, &run_id, "enrich", &files, &mut ledger, &entries).await?;
    std::fs::remove_dir_all(&tmp_dir).ok();
    summary.files = files.into_iter().map(|f| f.written).collect();
    summary.duration_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

fn ledger_key(id: &str) -> String {
    format!("athena-query/{id}")
}

fn entry(w: &Wanted, status: &str, attempts: u64, run: &str) -> (String, Entry) {
    (
        w.event_date.clone(),
        Entry {
            key: ledger_key(&w.id),
            size: attempts,
            etag: status.to_string(),
            run: run.to_string(),
            records: None,
            sha256: None,
        },
    )
}

pub(crate) async fn athena_client(
    s3: &S3Options,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> aws_sdk_athena::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8));
    if let Some(p) = &s3.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region.or(s3.region.as_deref()) {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    aws_sdk_athena::Client::new(&loader.load().await)
}

/// One `athena_query_stats` row.
struct StatsRow {
    id: String,
    query: Option<String>,
    statement_type: Option<String>,
    state: Option<String>,
    state_change_reason: Option<String>,
    error_category: Option<i64>,
    error_type: Option<i64>,
    error_message: Option<String>,
    submitted_at: Option<i64>,
    completed_at: Option<i64>,
    data_scanned_bytes: Option<i64>,
    engine_execution_ms: Option<i64>,
    total_execution_ms: Option<i64>,
    queue_ms: Option<i64>,
    planning_ms: Option<i64>,
    service_processing_ms: Option<i64>,
    workgroup: Option<String>,
    database_name: Option<String>,
    catalog: Option<String>,
    output_location: Option<String>,
    result_reused: Option<bool>,
    engine_version: Option<String>,
    region: Option<String>,
    account: Option<String>,
    fetched_at: i64,
}

impl StatsRow {
    fn new(q: &aws_sdk_athena::types::QueryExecution, w: &Wanted, fetched_at: i64) -> StatsRow {
        let status = q.status();
        let stats = q.statistics();
        let error = status.and_then(|s| s.athena_error());
        let millis =
            |t: Option<&aws_sdk_athena::primitives::DateTime>| t.and_then(|t| t.to_millis().ok());
        StatsRow {
            id: w.id.clone(),
            query: q.query().map(String::from),
            statement_type: q.statement_type().map(|s| s.as_str().to_string()),
            state: status
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_string()),
            state_change_reason: status
                .and_then(|s| s.state_change_reason())
                .map(String::from),
            error_category: error.and_then(|e| e.error_category()).map(i64::from),
            error_type: error.and_then(|e| e.error_type()).map(i64::from),
            error_message: error.and_then(|e| e.error_message()).map(String::from),
            submitted_at: millis(status.and_then(|s| s.submission_date_time())),
            completed_at: millis(status.and_then(|s| s.completion_date_time())),
            data_scanned_bytes: stats.and_then(|s| s.data_scanned_in_bytes()),
            engine_execution_ms: stats.and_then(|s| s.engine_execution_time_in_millis()),
            total_execution_ms: stats.and_then(|s| s.total_execution_time_in_millis()),
            queue_ms: stats.and_then(|s| s.query_queue_time_in_millis()),
            planning_ms: stats.and_then(|s| s.query_planning_time_in_millis()),
            service_processing_ms: stats.and_then(|s| s.service_processing_time_in_millis()),
            workgroup: q.work_group().map(String::from),
            database_name: q
                .query_execution_context()
                .and_then(|c| c.database())
                .map(String::from),
            catalog: q
                .query_execution_context()
                .and_then(|c| c.catalog())
                .map(String::from),
            output_location: q
                .result_configuration()
                .and_then(|r| r.output_location())
                .map(String::from),
            result_reused: stats
                .and_then(|s| s.result_reuse_information())
                .map(|r| r.reused_previous_result()),
            engine_version: q
                .engine_version()
                .and_then(|e| e.effective_engine_version())
                .map(String::from),
            region: w.region.clone(),
            account: w.account.clone(),
            fetched_at,
        }
    }

    fn batch(schema: &SchemaRef, rows: &[StatsRow]) -> Result<RecordBatch> {
        let text = |f: &dyn Fn(&StatsRow) -> Option<&str>| -> ArrayRef {
            let mut b = StringBuilder::new();
            for r in rows {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let int = |f: &dyn Fn(&StatsRow) -> Option<i64>| -> ArrayRef {
            let mut b = Int64Builder::new();
            for r in rows {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let ts = |f: &dyn Fn(&StatsRow) -> Option<i64>| -> ArrayRef {
            let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
            for r in rows {
                b.append_option(f(r));
            }
            Arc::new(b.finish())
        };
        let mut reused = BooleanBuilder::new();
        for r in rows {
            reused.append_option(r.result_reused);
        }
        let columns: Vec<ArrayRef> = vec![
            text(&|r| Some(r.id.as_str())),
            text(&|r| r.query.as_deref()),
            text(&|r| r.statement_type.as_deref()),
            text(&|r| r.state.as_deref()),
            text(&|r| r.state_change_reason.as_deref()),
            int(&|r| r.error_category),
            int(&|r| r.error_type),
            text(&|r| r.error_message.as_deref()),
            ts(&|r| r.submitted_at),
            ts(&|r| r.completed_at),
            int(&|r| r.data_scanned_bytes),
            int(&|r| r.engine_execution_ms),
            int(&|r| r.total_execution_ms),
            int(&|r| r.queue_ms),
            int(&|r| r.planning_ms),
            int(&|r| r.service_processing_ms),
            text(&|r| r.workgroup.as_deref()),
            text(&|r| r.database_name.as_deref()),
            text(&|r| r.catalog.as_deref()),
            text(&|r| r.output_location.as_deref()),
            Arc::new(reused.finish()),
            text(&|r| r.engine_version.as_deref()),
            text(&|r| r.region.as_deref()),
            text(&|r| r.account.as_deref()),
            ts(&|r| Some(r.fetched_at)),
        ];
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}
