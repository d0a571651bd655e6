//! Decode a generated object a fixed number of times, for instruction counts.
//!
//! `decode-count [plain|gzip] [ROUNDS]` decodes one seeded 2,000-record object
//! (as `cargo bench --bench decode` does) ROUNDS times (default 5) and prints
//! the rows decoded. Wall time on a shared machine is noise; run it under
//! `valgrind --tool=callgrind` and compare the instruction totals of two builds:
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/decode-count plain 5
//! callgrind_annotate /tmp/cg.out | head -40
//! ```

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let gzip = match args.get(1).map(String::as_str) {
        None | Some("plain") => false,
        Some("gzip") => true,
        Some(other) => {
            eprintln!("usage: decode-count [plain|gzip] [ROUNDS] (not {other:?})");
            std::process::exit(2);
        }
    };
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let json = benches::Generator::new(42).object(2000);
    let (key, bytes) = if gzip {
        ("gen.json.gz", benches::gzip(json.as_bytes()))
    } else {
        ("gen.json", json.into_bytes())
    };
    let mut decoder = trail_parse::DecoderBuilder::new().build();
    let mut rows = 0;
    for _ in 0..rounds {
        let result = decoder.decode_slice(key, &bytes[..], |_, batch| rows += batch.num_rows());
        if let Err(e) = result {
            eprintln!("decode-count: {e}");
            std::process::exit(1);
        }
    }
    println!("{rows} rows in {rounds} rounds of {} bytes", bytes.len());
}
