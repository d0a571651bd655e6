//! Command-line interface: `trail-etl run`, with documented exit codes.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | all good |
//! | 1 | the run failed (nothing more was published) |
//! | 2 | usage error |
//! | 3 | finished, but some objects or records were skipped as bad (listed in the summary) |

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::listing::Filter;
use crate::location::Location;
use crate::run::{run, Limits, OnError, RunArgs};
use crate::store::S3Options;
use crate::writer::WriteOptions;

/// The version `--version` prints, with the allocator the binary was built
/// with (`--features tcmalloc`, see the README's Performance section).
const VERSION: &str = if cfg!(feature = "tcmalloc") {
    concat!(env!("CARGO_PKG_VERSION"), " (allocator: tcmalloc)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (allocator: system)")
};

/// Turn AWS CloudTrail logs into partitioned Parquet tables for Amazon Athena.
#[derive(Debug, Parser)]
#[command(name = "trail-etl", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read new CloudTrail objects from SRC and add their rows to the tables in DEST.
    ///
    /// Writes DEST/events, DEST/table_access and DEST/athena_queries as
    /// Hive-partitioned Parquet (event_date=YYYY-MM-DD, from each record's eventTime),
    /// and a ledger under DEST/_trail/ so the next run reads only new objects.
    ///
    /// Examples:
    ///   trail-etl run --source examples/bucket --dest out
    ///   trail-etl run --source ./logs --dest ./tables --start 2024-05-01 --end 2024-05-31 --json
    ///   trail-etl run --source s3://org-trail/logs --dest s3://lake/cloudtrail --lookback 2
    ///   AWS_BATCH_JOB_ARRAY_INDEX=3 trail-etl run --source s3://... --dest s3://... --shards 8
    ///
    /// Exit codes: 0 all good, 1 run failed, 2 usage error, 3 finished but some
    /// objects or records were skipped as bad (listed in the summary).
    #[command(verbatim_doc_comment)]
    Run(Box<RunCli>),
    /// Print the CREATE TABLE statements for the tables under DEST.
    ///
    /// Generated from the same schemas the writer uses. Athena: external Parquet
    /// tables with partition projection on event_date (no crawler, no MSCK REPAIR).
    /// Trino: Hive connector tables plus a partition sync call.
    ///
    /// Examples:
    ///   trail-etl ddl --dest s3://lake/cloudtrail --database cloudtrail > tables.sql
    ///   trail-etl ddl --dest s3://lake/cloudtrail --engine trino --catalog hive
    #[command(verbatim_doc_comment)]
    Ddl(DdlCli),
    /// Fetch Athena's statistics (SQL text, state, bytes scanned, times) for the
    /// queries in DEST/athena_queries and write the athena_query_stats table.
    ///
    /// Calls BatchGetQueryExecution (50 ids a call, in each query's region) for the
    /// ids not enriched yet; ids Athena no longer knows (past its ~45-day history)
    /// are recorded as such and not asked again.
    ///
    /// Examples:
    ///   trail-etl enrich --dest s3://lake/cloudtrail --json
    ///   trail-etl enrich --dest ./out --accounts 111122223333 --region eu-west-1
    #[command(verbatim_doc_comment)]
    Enrich(Box<EnrichCli>),
    /// Rewrite each (table, event_date) partition under DEST as the fewest files of at
    /// most 512 MB, rows sorted by event_time, duplicate deliveries kept once.
    ///
    /// Hourly runs add a file to every partition they touch; Athena is slower and
    /// costlier on many small files. Files of runs still publishing are left alone, and
    /// only the files merged are deleted, so a run may write meanwhile. A compacted
    /// partition is left as it is. Run one compaction at a time per DEST. No range:
    /// every partition.
    ///
    /// Examples:
    ///   trail-etl compact --dest s3://lake/cloudtrail --lookback 2
    ///   trail-etl compact --dest ./out --start 2024-05-01 --end 2024-05-31 --json
    ///   trail-etl run --source s3://org-trail/logs --dest s3://lake/cloudtrail --lookback 2 --compact
    ///
    /// Exit codes: 0 all good, 1 failed (each partition keeps either its old files or its new ones).
    #[command(verbatim_doc_comment)]
    Compact(Box<CompactCli>),
    /// Check CloudTrail's signed digest files and the log objects they list, and with
    /// --dest that every listed object was ingested with the same bytes.
    ///
    /// For every account and region under SRC (organization trails too): each digest's
    /// SHA256withRSA signature (public keys from CloudTrail ListPublicKeys; not for a
    /// local folder, which has no S3 metadata), the chain of digests, each listed log
    /// object's presence and SHA-256, log objects in the hours the digests cover that no
    /// digest lists, and with --dest the ledger's record of each listed object.
    /// CloudTrail is reached like S3 (profile, region; AWS_ENDPOINT_URL_CLOUDTRAIL for
    /// another endpoint).
    ///
    /// Examples:
    ///   trail-etl verify --source s3://org-trail/logs --lookback 2
    ///   trail-etl verify --source s3://org-trail/logs --dest s3://lake/cloudtrail --start 2026-03-01 --end 2026-03-31 --json
    ///
    /// Exit codes: 0 everything checked is valid, 3 problems found (each named on
    /// stderr and in --json), 1 could not run, 2 usage error.
    #[command(verbatim_doc_comment)]
    Verify(Box<VerifyCli>),
    /// Resolve the IAM Identity Center user ids in the tables to people: the identities table.
    ///
    /// Calls made through trusted identity propagation (Athena from SageMaker Unified Studio,
    /// QuickSight, EMR...) name the person by an Identity Center user id. This collects the
    /// ids in DEST/events (the days given, else all), asks the Identity Store's DescribeUser
    /// for each id not known yet, and writes DEST/identities/identities.parquet: user id,
    /// store id, user name, display name, primary e-mail, fetched at. The views show the user
    /// name as `person`. Ids the store does not know are asked again after a week.
    ///
    /// Examples:
    ///   trail-etl identities --dest s3://lake/cloudtrail --lookback 2
    ///   trail-etl identities --dest s3://lake/cloudtrail --identity-store-region eu-west-1 \
    ///     --identity-store-role-arn arn:aws:iam::111122223333:role/trail-identity-reader
    ///
    /// IAM: identitystore:DescribeUser (and sts:AssumeRole with a role). Exit codes: 0 all
    /// good, 3 some ids could not be asked (kept for next time), 1 failed, 2 usage error.
    #[command(verbatim_doc_comment)]
    Identities(Box<IdentitiesCli>),
    /// What DEST holds and how its jobs are doing, from trail's bookkeeping and listings only.
    ///
    /// The newest event ingested and the lag; the last runs (run, enrich, compact, verify)
    /// and their outcome; runs or compactions unfinished; objects and records per delivery
    /// day (the last --days ingested); files per table and the partitions of several files
    /// `compact` would merge; query ids `enrich` has not asked about yet. Never reads the
    /// Parquet data.
    ///
    /// Examples:
    ///   trail-etl status --dest s3://lake/cloudtrail
    ///   trail-etl status --dest out --days 30 --json
    ///
    /// IAM: s3:ListBucket and s3:GetObject on DEST/_trail/. Exit codes: 0, 1 could not look.
    #[command(verbatim_doc_comment)]
    Status(Box<StatusCli>),
    /// Athena: install the database, tables and views; the report; the Grafana dashboard.
    #[command(subcommand)]
    Athena(AthenaCommand),
}

#[derive(Debug, Subcommand)]
enum AthenaCommand {
    /// Create the database, the tables (`trail-etl ddl`) and every view of sql/views in Athena.
    ///
    /// Through the Athena API (StartQueryExecution, then GetQueryExecution until it ends):
    /// CREATE DATABASE IF NOT EXISTS, each table (created when missing, created again when
    /// its columns changed, else left alone), then the views, which ship inside the binary,
    /// in dependency order. Running it twice changes nothing. A failing statement stops the
    /// install with Athena's error and the file it came from.
    ///
    /// Examples:
    ///   trail-etl athena install --dest s3://lake/cloudtrail --database cloudtrail
    ///   trail-etl athena install --dest s3://lake/cloudtrail --database cloudtrail --workgroup admin \
    ///     --output-location s3://athena-results/trail/
    ///   trail-etl athena install --dest s3://lake/cloudtrail --database cloudtrail --dry-run > install.sql
    ///
    /// IAM: athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults;
    /// glue:CreateDatabase, glue:GetDatabase, glue:CreateTable, glue:GetTable, glue:UpdateTable,
    /// glue:DeleteTable; s3 read and write on the output location.
    #[command(verbatim_doc_comment)]
    Install(Box<InstallCli>),
    /// Write the answers as one self-contained HTML page (charts as inline SVG, their numbers beside).
    ///
    /// Runs the report's queries over the views (`athena install`) through Athena: Athena cost
    /// per workgroup per day (airflow-* grouped), top people by cost and by queries, most-read
    /// tables and who reads them, tables nobody read for 90 days, denied and failed access. The
    /// page needs nothing from the network: mail it, archive it.
    ///
    /// Examples:
    ///   trail-etl athena report --database cloudtrail --days 30 --out report.html
    ///
    /// IAM: athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults, glue:GetTable,
    /// s3 read on the lake, read and write on the output location.
    #[command(verbatim_doc_comment)]
    Report(Box<ReportCli>),
    /// Print a Grafana dashboard (JSON model) for the Athena data source plugin, with the report's panels.
    ///
    /// Import it in Grafana (Dashboards > New > Import) and pick the Athena data source; the
    /// panels query the views of --database with the dashboard's time range.
    ///
    /// Examples:
    ///   trail-etl athena dashboard --database cloudtrail > trail.json
    #[command(verbatim_doc_comment)]
    Dashboard(DashboardCli),
}

#[derive(Debug, Args)]
struct StatusCli {
    /// The destination (a folder or s3://bucket/prefix).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// Show the last N delivery days ingested, and the runs of the last N days.
    #[arg(long, env = "TRAIL_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    days: u32,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON object on stdout instead of the text.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct DashboardCli {
    /// The Athena database holding the views.
    #[arg(long, env = "TRAIL_DATABASE", default_value = "cloudtrail")]
    database: String,
}

#[derive(Debug, Args)]
struct ReportCli {
    /// The Athena database holding the views (`athena install`).
    #[arg(long, env = "TRAIL_DATABASE", default_value = "cloudtrail")]
    database: String,
    /// The workgroup to run the queries in.
    #[arg(long, env = "TRAIL_WORKGROUP")]
    workgroup: Option<String>,
    /// Where Athena writes the query results (else the workgroup's setting).
    #[arg(long, env = "TRAIL_OUTPUT_LOCATION")]
    output_location: Option<String>,
    /// The period: the last N days, today included.
    #[arg(long, env = "TRAIL_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
    days: u32,
    /// The last day of the period, YYYY-MM-DD (default: today, UTC).
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// The HTML file to write.
    #[arg(long)]
    out: std::path::PathBuf,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct InstallCli {
    /// Where the tables are: s3://bucket/prefix (as given to `run --dest`).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// The Athena database to create or update.
    #[arg(long, env = "TRAIL_DATABASE", default_value = "cloudtrail")]
    database: String,
    /// The workgroup to run the statements in (else the caller's default, `primary`).
    #[arg(long, env = "TRAIL_WORKGROUP")]
    workgroup: Option<String>,
    /// Where Athena writes the statements' results (else the workgroup's setting).
    #[arg(long, env = "TRAIL_OUTPUT_LOCATION")]
    output_location: Option<String>,
    /// Print the statements in order, each after a comment naming its file; call nothing.
    #[arg(long, env = "TRAIL_DRY_RUN")]
    dry_run: bool,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct IdentitiesCli {
    /// Where the tables are: a local folder or s3://bucket/prefix (as given to `run --dest`).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// First events partition day (event_date) to collect ids from, YYYY-MM-DD.
    #[arg(long, env = "TRAIL_START", value_parser = parse_date)]
    start: Option<NaiveDate>,
    /// Last partition day, inclusive.
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// When --start is not given, only the last D days of partitions (today included).
    #[arg(long, env = "TRAIL_LOOKBACK", value_name = "DAYS")]
    lookback: Option<u32>,
    /// The Identity Store's region (its ARN names none); else --region / AWS_REGION.
    #[arg(long, env = "TRAIL_IDENTITY_STORE_REGION")]
    identity_store_region: Option<String>,
    /// A role to assume in the account that owns the identity store.
    #[arg(long, env = "TRAIL_IDENTITY_STORE_ROLE_ARN")]
    identity_store_role_arn: Option<String>,
    /// "Now", in milliseconds since the epoch (tests: when ids fall due again).
    #[arg(long, hide = true, env = "TRAIL_NOW_MS")]
    now_ms: Option<i64>,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct VerifyCli {
    /// Where AWSLogs/ is: a local folder or s3://bucket/prefix (as given to `run --source`).
    #[arg(long, env = "TRAIL_SOURCE")]
    source: String,
    /// Where the tables are (as given to `run --dest`): also check the ledger.
    #[arg(long, env = "TRAIL_DEST")]
    dest: Option<String>,
    /// First delivery day to check, YYYY-MM-DD.
    #[arg(long, env = "TRAIL_START", value_parser = parse_date)]
    start: Option<NaiveDate>,
    /// Last delivery day to check, inclusive (default: today).
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// When --start is not given, the last D days (today included; default 2).
    #[arg(long, env = "TRAIL_LOOKBACK", value_name = "DAYS")]
    lookback: Option<u32>,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON report on stdout (`problems`, counts, `gaps`).
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// At the end, print the metrics on stdout: `emf`, one CloudWatch Embedded Metric Format line.
    #[arg(long, env = "TRAIL_METRICS", value_enum)]
    metrics: Option<MetricsFormat>,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct CompactCli {
    /// Where the tables are: a local folder or s3://bucket/prefix (as given to `run --dest`).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// First partition day (event_date) to compact, YYYY-MM-DD.
    #[arg(long, env = "TRAIL_START", value_parser = parse_date)]
    start: Option<NaiveDate>,
    /// Last partition day to compact, inclusive.
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// When --start is not given, only the last D days of partitions (today included).
    #[arg(long, env = "TRAIL_LOOKBACK", value_name = "DAYS")]
    lookback: Option<u32>,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// At the end, print the metrics on stdout: `emf`, one CloudWatch Embedded Metric Format line.
    #[arg(long, env = "TRAIL_METRICS", value_enum)]
    metrics: Option<MetricsFormat>,
    /// zstd level (1-22), as `run --zstd-level`.
    #[arg(long, env = "TRAIL_ZSTD_LEVEL", default_value_t = 1)]
    zstd_level: i32,
    /// Write Parquet that every reader handles, as `run --parquet-compat`.
    #[arg(long, env = "TRAIL_PARQUET_COMPAT")]
    parquet_compat: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct EnrichCli {
    /// Where the tables are: a local folder or s3://bucket/prefix (as given to `run --dest`).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// Only queries of these 12-digit account ids (comma-separated).
    #[arg(long, env = "TRAIL_ACCOUNTS", value_delimiter = ',')]
    accounts: Vec<String>,
    /// Only the athena_queries partitions (event_date) from this day on, YYYY-MM-DD.
    #[arg(long, env = "TRAIL_START", value_parser = parse_date)]
    start: Option<NaiveDate>,
    /// Only the partitions up to this day, inclusive.
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// When --start is not given, only the last D days of partitions (today included):
    /// for scheduled runs, so an enrich reads the recent days rather than the whole history.
    #[arg(long, env = "TRAIL_LOOKBACK", value_name = "DAYS")]
    lookback: Option<u32>,
    #[command(flatten)]
    aws: AwsCli,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// At the end, print the metrics on stdout: `emf`, one CloudWatch Embedded Metric Format line.
    #[arg(long, env = "TRAIL_METRICS", value_enum)]
    metrics: Option<MetricsFormat>,
    /// Write Parquet that every reader handles (data page v1, PLAIN encodings), as `run
    /// --parquet-compat`.
    #[arg(long, env = "TRAIL_PARQUET_COMPAT")]
    parquet_compat: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

/// AWS connection flags shared by `run` and `enrich`.
#[derive(Debug, Args, Clone)]
struct AwsCli {
    /// S3 endpoint URL, for S3-compatible stores (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).
    #[arg(long, env = "TRAIL_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Address buckets by path (endpoint/bucket), as most S3-compatible stores need.
    #[arg(long, env = "TRAIL_FORCE_PATH_STYLE")]
    force_path_style: bool,
    /// Athena endpoint URL (else AWS_ENDPOINT_URL_ATHENA / AWS_ENDPOINT_URL).
    #[arg(long, env = "TRAIL_ATHENA_ENDPOINT_URL")]
    athena_endpoint_url: Option<String>,
    /// AWS profile (else AWS_PROFILE, else the default credential chain).
    #[arg(long, env = "TRAIL_PROFILE")]
    profile: Option<String>,
    /// AWS region (else AWS_REGION or the profile's).
    #[arg(long, env = "TRAIL_REGION")]
    region: Option<String>,
    /// Local folder for Parquet files on their way to an S3 destination.
    #[arg(long, env = "TRAIL_WORK_DIR")]
    work_dir: Option<std::path::PathBuf>,
    /// Stop the run (exit 1, nothing published) when S3 has answered no request for this many
    /// seconds: every connection refused, reset or left waiting, or only 5xx errors.
    #[arg(long, env = "TRAIL_GIVE_UP_AFTER", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    give_up_after: u64,
}

impl AwsCli {
    fn s3(&self) -> S3Options {
        S3Options {
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            profile: self.profile.clone(),
            region: self.region.clone(),
            give_up: Some(std::time::Duration::from_secs(self.give_up_after)),
        }
    }
}

#[derive(Debug, Args)]
struct DdlCli {
    /// Where the tables live: s3://bucket/prefix (as given to `run --dest`).
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// Database (schema) to create the tables in.
    #[arg(long, env = "TRAIL_DATABASE", default_value = "cloudtrail")]
    database: String,
    /// SQL engine.
    #[arg(long, value_enum, default_value_t = crate::ddl::Engine::Athena)]
    engine: crate::ddl::Engine,
    /// First day of the projected event_date range (Athena).
    #[arg(long, default_value = "2013-11-01", value_parser = parse_date)]
    projection_start: NaiveDate,
    /// Trino catalog of the Hive connector (Trino).
    #[arg(long, default_value = "hive")]
    catalog: String,
}

#[derive(Debug, Args)]
struct RunCli {
    /// Where the CloudTrail objects are: a local folder or s3://bucket/prefix (holding AWSLogs/...).
    #[arg(long, env = "TRAIL_SOURCE")]
    source: String,
    /// Where the tables go: a local folder or s3://bucket/prefix.
    #[arg(long, env = "TRAIL_DEST")]
    dest: String,
    /// First delivery date to read, YYYY-MM-DD (or an RFC 3339 date-time).
    #[arg(long, env = "TRAIL_START", value_parser = parse_date)]
    start: Option<NaiveDate>,
    /// Last delivery date to read, inclusive, YYYY-MM-DD (or an RFC 3339 date-time).
    #[arg(long, env = "TRAIL_END", value_parser = parse_date)]
    end: Option<NaiveDate>,
    /// When --start is not given, list only the last D days of delivery folders
    /// (today included): for scheduled runs, so late files are still found.
    #[arg(long, env = "TRAIL_LOOKBACK", value_name = "DAYS")]
    lookback: Option<u32>,
    /// Only these 12-digit account ids (comma-separated).
    #[arg(long, env = "TRAIL_ACCOUNTS", value_delimiter = ',')]
    accounts: Vec<String>,
    /// Only these regions (comma-separated).
    #[arg(long, env = "TRAIL_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    /// Only this AWS Organizations id (o-...), for organization trails.
    #[arg(long, env = "TRAIL_ORG_ID")]
    org_id: Option<String>,
    /// Read only shard I of N (I from 0): objects are split by a stable hash of their key.
    #[arg(long, env = "TRAIL_SHARD", value_parser = parse_shard, conflicts_with = "shards")]
    shard: Option<(u32, u32)>,
    /// Run as one of N shards, taking I from AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch
    /// array jobs) or JOB_COMPLETION_INDEX (Kubernetes indexed Jobs).
    #[arg(long, env = "TRAIL_SHARDS", value_name = "N")]
    shards: Option<u32>,
    /// What to do with an object or record that cannot be decoded.
    #[arg(long, env = "TRAIL_ON_ERROR", value_enum, default_value_t = OnError::Skip)]
    on_error: OnError,
    /// List and report what would be read; write nothing.
    #[arg(long, env = "TRAIL_DRY_RUN")]
    dry_run: bool,
    /// Forget the ledger and rebuild the tables from every object.
    #[arg(long, env = "TRAIL_FULL_REFRESH")]
    full_refresh: bool,
    /// Print one JSON summary object on stdout.
    #[arg(long, env = "TRAIL_JSON")]
    json: bool,
    /// At the end, print the metrics on stdout: `emf`, one CloudWatch Embedded Metric Format line.
    #[arg(long, env = "TRAIL_METRICS", value_enum)]
    metrics: Option<MetricsFormat>,
    /// Show a progress bar on stderr (only when it is a terminal).
    #[arg(long, env = "TRAIL_PROGRESS")]
    progress: bool,
    #[command(flatten)]
    aws: AwsCli,
    /// Blank the values of secret-looking keys (sessionToken, secretAccessKey, password, ...)
    /// in the JSON columns; by default records are kept as CloudTrail wrote them.
    #[arg(long, env = "TRAIL_REDACT")]
    redact: bool,
    /// After the run, compact the partitions it wrote (as `trail-etl compact`). Not with
    /// --shard/--shards: run `compact` once after the shards instead.
    #[arg(long, env = "TRAIL_COMPACT")]
    compact: bool,
    /// After the run, fetch Athena's statistics for the new queries (as `trail-etl enrich`).
    #[arg(long, env = "TRAIL_ENRICH")]
    enrich: bool,
    /// Peak memory to aim for, in MiB: an eighth for fetched objects, an eighth for decoded
    /// objects on their way to the collector, three eighths for decoded rows (waiting or being
    /// encoded), the rest for objects being decoded, Parquet writers and the allocator.
    #[arg(long, env = "TRAIL_MEMORY_MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(64..))]
    memory_mb: u64,
    /// GET requests in flight at most. Fewer when objects are large: the bytes of the objects
    /// in flight share an eighth of --memory-mb (each request counts twice its object and 32 KiB).
    #[arg(long, env = "TRAIL_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    /// Decoding threads (default: one per core).
    #[arg(long, env = "TRAIL_THREADS")]
    threads: Option<usize>,
    /// zstd compression level of the Parquet files.
    #[arg(long, env = "TRAIL_ZSTD_LEVEL", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=22))]
    zstd_level: i32,
    /// Write Parquet that every reader handles (data page v1, PLAIN encodings) instead of data
    /// page v2 with DELTA encodings: for older Spark or Hive. Costs about 7% more instructions and 3%
    /// more bytes; Athena, Trino, DuckDB and pyarrow read either.
    #[arg(long, env = "TRAIL_PARQUET_COMPAT")]
    parquet_compat: bool,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging: errors only.
    #[arg(short, long)]
    quiet: bool,
}

/// How `--metrics` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MetricsFormat {
    /// CloudWatch Embedded Metric Format: one JSON line.
    Emf,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc().date())
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 date-time"))
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let err = || format!("{s:?} is not I/N with 0 <= I < N (e.g. 0/4)");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if n == 0 || i >= n {
        return Err(err());
    }
    Ok((i, n))
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Parse the command line, run, print the summary, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Enrich(args) => enrich_command(*args),
        Command::Compact(args) => compact_command(*args),
        Command::Verify(args) => verify_command(*args),
        Command::Identities(args) => identities_command(*args),
        Command::Status(args) => status_command(*args),
        Command::Athena(AthenaCommand::Install(args)) => install_command(*args),
        Command::Athena(AthenaCommand::Report(args)) => report_command(*args),
        Command::Athena(AthenaCommand::Dashboard(args)) => {
            print_json(&crate::dashboard::dashboard(&args.database));
            ExitCode::SUCCESS
        }
        Command::Ddl(args) => {
            if !args.dest.starts_with("s3://") {
                return usage(
                    "ddl --dest must be an s3:// location (where Athena or Trino reads the tables)",
                );
            }
            let opts = crate::ddl::DdlOptions {
                location: args.dest,
                database: args.database,
                engine: args.engine,
                projection_start: args.projection_start.format("%Y-%m-%d").to_string(),
                catalog: args.catalog,
            };
            print!("{}", crate::ddl::all_tables(&opts));
            ExitCode::SUCCESS
        }
    }
}

/// `--start`, else the first of the last `--lookback` days (today included).
fn lookback_start(start: Option<NaiveDate>, lookback: Option<u32>) -> Option<NaiveDate> {
    start.or_else(|| {
        lookback.map(|d| {
            chrono::Utc::now().date_naive() - chrono::Days::new(d.saturating_sub(1) as u64)
        })
    })
}

/// The `--json` summary: one object on stdout.
fn print_json(summary: &impl serde::Serialize) {
    match serde_json::to_string(summary) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("trail-etl: cannot print the summary: {e}"),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("trail-etl: {msg}");
    ExitCode::from(2)
}

fn run_command(args: RunCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let source = match Location::parse(&args.source) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--source {e}")),
    };
    let dest = match Location::parse(&args.dest) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    if let (Some(s), Some(e)) = (args.start, args.end) {
        if s > e {
            return usage("--start is after --end");
        }
    }
    let shard = match (args.shard, args.shards) {
        (Some(s), _) => Some(s),
        (None, Some(n)) => {
            let index = ["AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX"]
                .iter()
                .find_map(|v| std::env::var(v).ok());
            match index.map(|i| i.trim().parse::<u32>()) {
                Some(Ok(i)) if n > 0 && i < n => Some((i, n)),
                Some(_) => return usage("--shards: the array index is not a number below N"),
                None => return usage("--shards needs AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX (or use --shard I/N)"),
            }
        }
        (None, None) => None,
    };
    if args.compact && shard.is_some_and(|(_, n)| n > 1) {
        return usage("--compact cannot be used with --shard/--shards: one process must compact a partition; run `trail-etl compact` after the shards");
    }
    let start = lookback_start(args.start, args.lookback);
    let memory = (args.memory_mb as usize) << 20;
    let mut limits = Limits {
        fetch_bytes: memory / 8,
        decoded_bytes: memory / 8,
        buffer_bytes: memory * 3 / 8,
        fetch_concurrency: args.concurrency as usize,
        ..Limits::default()
    };
    if let Some(t) = args.threads {
        limits.threads = t.max(1);
    }
    let run_args = RunArgs {
        source: Some(source),
        dest: Some(dest),
        filter: Filter {
            start,
            end: args.end,
            accounts: args.accounts,
            regions: args.regions,
            org_id: args.org_id,
            shard,
        },
        on_error: args.on_error,
        dry_run: args.dry_run,
        full_refresh: args.full_refresh,
        write: WriteOptions {
            zstd_level: args.zstd_level,
            compat: args.parquet_compat,
            ..WriteOptions::default()
        },
        s3: args.aws.s3(),
        limits,
        progress: args.progress,
        work_dir: args.aws.work_dir.clone(),
        today: None,
        redact: args.redact,
        compact: args.compact && !args.dry_run,
    };
    let started = std::time::Instant::now();
    let mut summary = match run(&run_args) {
        Ok(mut s) => {
            let bad = !s.bad_objects.is_empty() || s.bad_record_count > 0;
            s.exit_code = match (&s.error, bad) {
                (Some(_), _) => 1,
                (None, true) => 3,
                (None, false) => 0,
            };
            s
        }
        Err(e) => crate::summary::Summary {
            source: args.source.clone(),
            dest: args.dest.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    if summary.duration_ms == 0 {
        summary.duration_ms = started.elapsed().as_millis() as u64;
    }
    if args.enrich && !args.dry_run && summary.exit_code != 1 {
        let e = crate::enrich::enrich(&enrich_args(
            &run_args.dest,
            &args.aws,
            Vec::new(),
            run_args.write.clone(),
            // The partitions of the days the run read (events arrive up to
            // a day before their delivery folder).
            (
                run_args.filter.start.map(|s| s - chrono::Days::new(1)),
                None,
            ),
        ));
        match e {
            Ok(e) => {
                eprint!("{}", enrich_human(&e));
                summary.enrich = serde_json::to_value(&e).ok();
            }
            Err(err) => {
                summary.error = Some(format!("enrich: {err:#}"));
                summary.exit_code = 1;
            }
        }
    }
    if args.json {
        print_json(&summary);
    }
    if !args.dry_run {
        let shard = shard.map_or("0/1".to_string(), |(i, n)| format!("{i}/{n}"));
        crate::status::finish(
            crate::metrics::of_run(&summary, &shard),
            run_args.dest.as_ref(),
            &run_args.s3,
            args.metrics.is_some(),
        );
    }
    if !args.quiet || summary.exit_code != 0 {
        eprint!("{}", summary.human());
        if let Some(c) = &summary.compact {
            eprint!("{}", c.human());
        }
    }
    ExitCode::from(summary.exit_code as u8)
}

fn enrich_args(
    dest: &Option<Location>,
    aws: &AwsCli,
    accounts: Vec<String>,
    write: WriteOptions,
    (start, end): (Option<NaiveDate>, Option<NaiveDate>),
) -> crate::enrich::EnrichArgs {
    crate::enrich::EnrichArgs {
        dest: dest.clone(),
        s3: aws.s3(),
        athena_endpoint_url: aws.athena_endpoint_url.clone(),
        accounts,
        write,
        work_dir: aws.work_dir.clone(),
        start,
        end,
    }
}

fn enrich_human(e: &crate::enrich::EnrichSummary) -> String {
    format!(
        "trail: enrich: {} queries seen, {} already done, {} asked of Athena in {} calls: {} found, {} unknown to Athena (past retention or another account), {} to retry, {} given up; {} files\n",
        e.queries_seen, e.already_done, e.requested, e.calls, e.found, e.unknown, e.unprocessed, e.gave_up, e.files.len()
    )
}

fn enrich_command(args: EnrichCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let dest = match Location::parse(&args.dest) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    let started = std::time::Instant::now();
    let opts = enrich_args(
        &Some(dest),
        &args.aws,
        args.accounts,
        WriteOptions {
            compat: args.parquet_compat,
            ..WriteOptions::default()
        },
        (lookback_start(args.start, args.lookback), args.end),
    );
    let summary = match crate::enrich::enrich(&opts) {
        Ok(s) => s,
        Err(e) => crate::enrich::EnrichSummary {
            dest: args.dest.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&summary);
    }
    crate::status::finish(
        crate::metrics::of_enrich(&summary),
        opts.dest.as_ref(),
        &opts.s3,
        args.metrics.is_some(),
    );
    if !args.quiet || summary.exit_code != 0 {
        eprint!("{}", enrich_human(&summary));
        if let Some(e) = &summary.error {
            eprintln!("trail: enrich failed: {e}");
        }
    }
    ExitCode::from(summary.exit_code as u8)
}

fn status_command(args: StatusCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let dest = match Location::parse(&args.dest) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    let opts = crate::status::StatusArgs {
        dest,
        days: args.days as usize,
        s3: args.aws.s3(),
        now_ms: std::env::var("TRAIL_NOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis()),
    };
    let status = match crate::status::status(&opts) {
        Ok(s) => s,
        Err(e) => crate::status::Status {
            dest: args.dest.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&status);
    } else if status.error.is_none() {
        print!("{}", status.human());
    }
    if let Some(e) = &status.error {
        eprintln!("trail: status failed: {e}");
    }
    ExitCode::from(status.exit_code as u8)
}

fn report_command(args: ReportCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let opts = crate::report::ReportArgs {
        database: args.database.clone(),
        workgroup: args.workgroup.clone(),
        output_location: args.output_location.clone(),
        days: args.days,
        end: args.end,
        out: args.out.clone(),
        s3: args.aws.s3(),
        athena_endpoint_url: args.aws.athena_endpoint_url.clone(),
    };
    let summary = match crate::report::report(&opts) {
        Ok(s) => s,
        Err(e) => crate::report::ReportSummary {
            out: args.out.display().to_string(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&summary);
    }
    match &summary.error {
        Some(e) => eprintln!("trail: athena report failed: {e}"),
        None if !args.quiet => eprintln!(
            "trail: athena report: {} to {} written to {}",
            summary.start, summary.end, summary.out
        ),
        None => {}
    }
    ExitCode::from(summary.exit_code as u8)
}

fn install_command(args: InstallCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let database_ok = !args.database.is_empty()
        && args
            .database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !database_ok {
        return usage("--database: letters, digits and underscores only (Athena's rule)");
    }
    let opts = crate::athena_install::InstallArgs {
        dest: args.dest.clone(),
        database: args.database.to_ascii_lowercase(),
        workgroup: args.workgroup.clone(),
        output_location: args.output_location.clone(),
        dry_run: args.dry_run,
        s3: args.aws.s3(),
        athena_endpoint_url: args.aws.athena_endpoint_url.clone(),
    };
    if args.dry_run {
        return match crate::athena_install::plan(&opts) {
            Ok(statements) => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                for st in statements {
                    // A closed pipe (`| head`) ends the listing, not in a panic.
                    if writeln!(out, "-- {}\n{};\n", st.source, st.sql).is_err() {
                        break;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => usage(&format!("{e:#}")),
        };
    }
    let started = std::time::Instant::now();
    let summary = match crate::athena_install::install(&opts) {
        Ok(s) => s,
        Err(e) => crate::athena_install::InstallSummary {
            database: opts.database.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&summary);
    }
    if !args.quiet || summary.exit_code != 0 {
        if summary.error.is_none() {
            eprint!("{}", summary.human());
        }
        if let Some(e) = &summary.error {
            eprintln!("trail: athena install failed: {e}");
        }
    }
    ExitCode::from(summary.exit_code as u8)
}

fn identities_command(args: IdentitiesCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let dest = match Location::parse(&args.dest) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    if let (Some(s), Some(e)) = (args.start, args.end) {
        if s > e {
            return usage("--start is after --end");
        }
    }
    let opts = crate::identities::IdentitiesArgs {
        dest: Some(dest),
        start: lookback_start(args.start, args.lookback),
        end: args.end,
        s3: args.aws.s3(),
        store_region: args.identity_store_region.clone(),
        role_arn: args.identity_store_role_arn.clone(),
        now_ms: args.now_ms,
    };
    let started = std::time::Instant::now();
    let summary = match crate::identities::identities(&opts) {
        Ok(s) => s,
        Err(e) => crate::identities::IdentitiesSummary {
            dest: args.dest.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&summary);
    }
    if !args.quiet || summary.exit_code != 0 {
        eprint!("{}", summary.human());
        if let Some(f) = &summary.first_failure {
            eprintln!("trail: identities: could not ask: {f}");
        }
        if let Some(e) = &summary.error {
            eprintln!("trail: identities failed: {e}");
        }
    }
    ExitCode::from(summary.exit_code as u8)
}

fn verify_command(args: VerifyCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let source = match Location::parse(&args.source) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--source {e}")),
    };
    let dest = match args.dest.as_deref().map(Location::parse).transpose() {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    let end = args.end.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let start = lookback_start(args.start, Some(args.lookback.unwrap_or(2))).unwrap_or(end);
    if start > end {
        return usage("--start is after --end");
    }
    let opts = crate::verify::VerifyArgs {
        source,
        dest,
        start,
        end,
        s3: args.aws.s3(),
    };
    let started = std::time::Instant::now();
    let report = match crate::verify::verify(&opts) {
        Ok(r) => r,
        Err(e) => crate::verify::Report {
            source: args.source.clone(),
            dest: args.dest.clone(),
            start: start.to_string(),
            end: end.to_string(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    for p in &report.problems {
        eprintln!("trail: verify: {}\t{}\t{}", p.kind, p.key, p.detail);
    }
    if let Some(e) = &report.error {
        eprintln!("trail: verify failed: {e}");
    }
    if args.json {
        print_json(&report);
        if !args.quiet {
            eprint!("{}", report.human());
        }
    } else if report.error.is_none() {
        print!("{}", report.human());
    }
    crate::status::finish(
        crate::metrics::of_verify(&report),
        opts.dest.as_ref(),
        &opts.s3,
        args.metrics.is_some(),
    );
    ExitCode::from(report.exit_code as u8)
}

fn compact_command(args: CompactCli) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let dest = match Location::parse(&args.dest) {
        Ok(l) => l,
        Err(e) => return usage(&format!("--dest {e}")),
    };
    if let (Some(s), Some(e)) = (args.start, args.end) {
        if s > e {
            return usage("--start is after --end");
        }
    }
    let opts = crate::compact::CompactArgs {
        dest: Some(dest),
        start: lookback_start(args.start, args.lookback),
        end: args.end,
        write: WriteOptions {
            zstd_level: args.zstd_level,
            compat: args.parquet_compat,
            ..WriteOptions::default()
        },
        s3: args.aws.s3(),
        work_dir: args.aws.work_dir.clone(),
    };
    let started = std::time::Instant::now();
    let summary = match crate::compact::compact(&opts) {
        Ok(s) => s,
        Err(e) => crate::compact::CompactSummary {
            dest: args.dest.clone(),
            error: Some(format!("{e:#}")),
            exit_code: 1,
            duration_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        },
    };
    if args.json {
        print_json(&summary);
    }
    crate::status::finish(
        crate::metrics::of_compact(&summary),
        opts.dest.as_ref(),
        &opts.s3,
        args.metrics.is_some(),
    );
    if !args.quiet || summary.exit_code != 0 {
        eprint!("{}", summary.human());
        if let Some(e) = &summary.error {
            eprintln!("trail: compact failed: {e}");
        }
    }
    ExitCode::from(summary.exit_code as u8)
}
