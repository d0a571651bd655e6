//! Build a destination with a long ingestion history, through the ledger's
//! own code, and a source whose recent objects a `--lookback 2` run lists.
//!
//! `ledger-history SRC DEST OBJECTS [PER_DAY]` writes:
//! - under DEST, ledger entries for OBJECTS objects over OBJECTS / PER_DAY
//!   delivery days (default 10,000 a day, about a 35-account organization
//!   trail) ending three days ago, each day committed as 24 hourly runs and
//!   folded as `trail-etl run` does;
//! - under SRC, 200 one-record objects delivered today and 200 yesterday,
//!   which a first `trail-etl run --lookback 2` ingests, so that the next one
//!   has nothing to do but list, read the ledger of those days and stop.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use trail_etl::ledger::{day_of_key, Entry, Kind, Ledger};
use trail_etl::store::Store;

const ACCOUNTS: u64 = 35;
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"];
const HOURLY_RUNS: usize = 24;
const LIVE_PER_DAY: usize = 200;

fn key(day: chrono::NaiveDate, n: u64) -> String {
    let account = 100_000_000_000 + (n % ACCOUNTS);
    let region = REGIONS[(n / ACCOUNTS % REGIONS.len() as u64) as usize];
    let minute = n % 1440;
    format!(
        "AWSLogs/o-aaaabbbbcc/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}T{:02}{:02}Z_{n:016x}.json.gz",
        day.format("%Y/%m/%d"),
        day.format("%Y%m%d"),
        minute / 60,
        minute % 60
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: ledger-history SRC DEST OBJECTS [PER_DAY]");
        std::process::exit(2);
    }
    let (src, dest) = (Path::new(&args[1]), Path::new(&args[2]));
    let objects: u64 = args[3].parse()?;
    let per_day: u64 = args
        .get(4)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let days = objects.div_ceil(per_day);
    let today = chrono::Utc::now().date_naive();

    // The live objects: today and yesterday.
    for back in 0..2u64 {
        let day = today - chrono::Days::new(back);
        for i in 0..LIVE_PER_DAY as u64 {
            let k = key(day, i);
            let path = src.join(&k);
            std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
            let doc = format!(
                r#"{{"Records":[{{"eventVersion":"1.11","eventTime":"{day}T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"live-{back}-{i}","userIdentity":{{"type":"IAMUser","userName":"u{i}"}}}}]}}"#
            );
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(doc.as_bytes())?;
            std::fs::write(path, gz.finish()?)?;
        }
    }

    // The history, through the ledger's code.
    let store = Store::Local {
        root: dest.to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut written = 0u64;
    rt.block_on(async {
        for d in 0..days {
            let day = today - chrono::Days::new(3 + d);
            let n = per_day.min(objects - written);
            let mut ledger = Ledger::new(Kind::Objects);
            let per_run = (n as usize).div_ceil(HOURLY_RUNS).max(1);
            let keys: Vec<u64> = (0..n).collect();
            for (r, chunk) in keys.chunks(per_run).enumerate() {
                let run = format!("run-{:08x}{r:08x}-s0of1", d);
                let entries: Vec<(String, Entry)> = chunk
                    .iter()
                    .map(|&i| {
                        let k = key(day, i);
                        (
                            day_of_key(&k),
                            Entry {
                                key: k,
                                size: 1_000 + i % 50_000,
                                etag: format!("{:032x}", (i + 1) * 0x9e37_79b9_7f4a_7c15),
                                run: run.clone(),
                                records: Some(1 + i % 40),
                                sha256: None,
                            },
                        )
                    })
                    .collect();
                ledger.commit(&store, &run, &entries).await?;
                ledger
                    .fold(&store, &run, "s0of1", &BTreeSet::from([day.to_string()]))
                    .await?;
            }
            written += n;
        }
        Ok::<(), anyhow::Error>(())
    })
    .map_err(|e| format!("{e:#}"))?;
    println!(
        "{written} objects recorded over {days} days in {}; {} live objects in {}",
        dest.display(),
        2 * LIVE_PER_DAY,
        src.display()
    );
    Ok(())
}
