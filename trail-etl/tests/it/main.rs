//! End-to-end tests of the `trail-etl` binary on local folders and on a
//! real S3-compatible server.

#![allow(clippy::unwrap_used)]

mod compact;
mod enrich;
mod hostile;
mod identities;
mod local;
mod s3;
mod s3server;
mod sql_files;
mod status;
mod util;
mod verify;
