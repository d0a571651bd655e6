//! Write a generated CloudTrail bucket for benchmarks.
//!
//! `gen-bucket [--small] DIR MEGABYTES [SEED]` writes about MEGABYTES of
//! uncompressed CloudTrail JSON, gzipped, under DIR/AWSLogs/....: by default
//! objects of 50 to 2,000 records (a few of 30,000), with `--small` the
//! shape of a quiet organization trail, objects of 1 to 30 records from 40
//! accounts and 4 regions every 5 minutes (see `benches::write_small_bucket`).
//! `gen-bucket --digests DIR` adds unsigned hourly digest files for the log
//! objects already in DIR (see `benches::write_digests`).

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--digests") && args.len() == 2 {
        match benches::write_digests(std::path::Path::new(&args[1]), "bench-trail") {
            Ok(n) => println!("{n} digest files in {}", args[1]),
            Err(e) => {
                eprintln!("gen-bucket: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let small = args.first().is_some_and(|a| a == "--small");
    if small {
        args.remove(0);
    }
    if args.len() < 2 {
        eprintln!("usage: gen-bucket [--small] DIR MEGABYTES [SEED]");
        std::process::exit(2);
    }
    let mb: u64 = args[1].parse().unwrap_or_else(|_| {
        eprintln!("MEGABYTES must be a number");
        std::process::exit(2)
    });
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(42);
    let dir = std::path::Path::new(&args[0]);
    let written = if small {
        benches::write_small_bucket(dir, mb << 20, seed)
    } else {
        benches::write_bucket(dir, mb << 20, seed)
    };
    match written {
        Ok((files, bytes)) => println!("{files} files, {bytes} bytes of JSON in {}", args[0]),
        Err(e) => {
            eprintln!("gen-bucket: {e}");
            std::process::exit(1);
        }
    }
}
