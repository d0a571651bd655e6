//! `trail-etl`: turn a CloudTrail bucket or folder into Parquet tables for Athena.

/// tcmalloc when built with `--features tcmalloc` (see `trail_etl::alloc`).
#[cfg(feature = "tcmalloc")]
#[global_allocator]
static GLOBAL: trail_etl::alloc::TcMalloc = trail_etl::alloc::TcMalloc;

fn main() -> std::process::ExitCode {
    trail_etl::cli::main()
}
