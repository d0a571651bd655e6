//! Decode throughput of trail-parse, in MB/s of decompressed JSON.
//!
//! `cargo bench -p benches --bench decode`

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use trail_parse::DecoderBuilder;

fn generated(c: &mut Criterion) {
    let json = benches::Generator::new(42).object(2000);
    let gz = benches::gzip(json.as_bytes());
    let mut group = c.benchmark_group("generated");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.sample_size(20);
    let mut decoder = DecoderBuilder::new().build();
    // What trail-etl does: the object is in memory (libdeflate, whole).
    group.bench_function("gzip_2000_records", |b| {
        b.iter(|| {
            decoder
                .decode_slice("gen.json.gz", &gz[..], |_, batch| drop(batch))
                .unwrap()
        })
    });
    // From a reader (zlib-rs, streaming).
    group.bench_function("gzip_stream_2000_records", |b| {
        b.iter(|| {
            decoder
                .decode_object("gen.json.gz", &gz[..], |_, batch| drop(batch))
                .unwrap()
        })
    });
    group.bench_function("plain_2000_records", |b| {
        b.iter(|| {
            decoder
                .decode_slice("gen.json", json.as_bytes(), |_, batch| drop(batch))
                .unwrap()
        })
    });
    group.finish();
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                let key = p
                    .strip_prefix(dir)
                    .map(|k| k.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if trail_parse::ObjectKey::parse(&key).is_ok_and(|k| k.kind.has_records()) {
                    out.push((key, std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
    }
    out.sort();
    out
}

fn samples(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, dir) in [
        ("shared_samples", root.join("../shared/samples")),
        ("example_bucket", root.join("examples/bucket")),
    ] {
        let files = files_under(&dir);
        if files.is_empty() {
            eprintln!("skipping {name}: no objects under {}", dir.display());
            continue;
        }
        let mut decoder = DecoderBuilder::new().build();
        let json: u64 = files
            .iter()
            .map(|(k, b)| {
                decoder
                    .decode_object(k, &b[..], |_, _| {})
                    .map(|s| s.json_bytes)
                    .unwrap_or(0)
            })
            .sum();
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(json));
        group.sample_size(20);
        group.bench_function(format!("{}_objects", files.len()), |b| {
            b.iter(|| {
                for (k, bytes) in &files {
                    decoder
                        .decode_slice(k, &bytes[..], |_, batch| drop(batch))
                        .unwrap();
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, generated, samples);
criterion_main!(benches);
