//! The `trail-etl` batch job, as a library for its own tests.
//!
//! `trail-etl run --source SRC --dest DEST` lists CloudTrail objects under
//! SRC (a folder or `s3://bucket/prefix`), decodes them in parallel with
//! [`trail_parse`], and writes the
//! `events`, `table_access` and `athena_queries` tables as Hive-partitioned
//! Parquet under DEST (`DEST/<table>/event_date=YYYY-MM-DD/*.parquet`). A
//! ledger under `DEST/_trail/` makes runs incremental and idempotent.

#[cfg(feature = "tcmalloc")]
pub mod alloc;
mod athena_api;
pub mod athena_install;
pub mod cli;
pub mod compact;
pub mod dashboard;
pub mod ddl;
pub mod enrich;
pub mod hash;
pub mod health;
pub mod identities;
pub mod ledger;
pub mod listing;
pub mod location;
pub mod metrics;
mod pipeline;
pub mod progress;
pub mod questions;
pub mod report;
pub mod run;
pub mod status;
pub mod store;
pub mod summary;
pub mod syncer;
pub mod verify;
pub mod writer;
