//! `trail-etl`: turn a CloudTrail bucket or folder into Parquet tables for Athena.

fn main() -> std::process::ExitCode {
    trail_etl::cli::main()
}
