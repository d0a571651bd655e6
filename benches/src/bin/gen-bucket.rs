//! Write a generated CloudTrail bucket for benchmarks.
//!
//! `gen-bucket DIR MEGABYTES [SEED]` writes about MEGABYTES of uncompressed
//! CloudTrail JSON, gzipped, under DIR/AWSLogs/....

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen-bucket DIR MEGABYTES [SEED]");
        std::process::exit(2);
    }
    let mb: u64 = args[2].parse().unwrap_or_else(|_| {
        eprintln!("MEGABYTES must be a number");
        std::process::exit(2)
    });
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(42);
    match benches::write_bucket(std::path::Path::new(&args[1]), mb << 20, seed) {
        Ok((files, bytes)) => println!("{files} files, {bytes} bytes of JSON in {}", args[1]),
        Err(e) => {
            eprintln!("gen-bucket: {e}");
            std::process::exit(1);
        }
    }
}
