//! End-to-end tests of the `trail-etl` binary on local folders.

#![allow(clippy::unwrap_used)]

mod local;
mod util;
