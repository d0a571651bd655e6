//! Integration tests of trail-parse over real files: the bundled example
//! bucket, the shared sample corpus, bad input and Parquet round-trips.

#![allow(clippy::unwrap_used)]

mod append;
mod bad_input;
mod fixtures;
mod parquet_roundtrip;
mod samples;
mod schemas;
mod util;
