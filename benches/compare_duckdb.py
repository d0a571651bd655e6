#!/usr/bin/env python3
"""trail-etl against DuckDB on the same generated CloudTrail bucket, run alternately.

    python3 benches/compare_duckdb.py [MEGABYTES] [RUNS]

Needs the bucket made by `bash benches/etl.sh MEGABYTES` (target/bench-data/)
and `pip install duckdb`. Each round runs, in turn:
  - trail-etl run (release build, all three tables, defaults);
  - DuckDB with an auto-detected schema: read_json over every object,
    unnest(Records), written as zstd Parquet partitioned by the event's day,
    with the same thread count (threads = cores).
It prints each run's wall time, MiB/s of decompressed JSON and peak RSS,
then the medians and the ratio.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

MB = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "target", "bench-data", f"bucket-{MB}mb")
TRAIL = os.path.join(ROOT, "target", "release", "trail-etl")
CORES = os.cpu_count() or 2

DUCKDB = """
import duckdb, sys
con = duckdb.connect()
con.execute(f"SET threads = {int(sys.argv[3])}")
con.execute("SET enable_progress_bar = false")
con.execute(f'''
COPY (
  SELECT r.*, CAST(CAST(r.eventTime AS TIMESTAMP) AS DATE) AS event_date
  FROM (SELECT unnest(Records) AS r
        FROM read_json('{sys.argv[1]}/AWSLogs/**/*.json.gz', format = 'auto', maximum_object_size = 67108864))
) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date))
''')
"""


def measured(cmd):
    """Wall seconds and peak RSS in KiB, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r") as t:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd], check=True, stdout=subprocess.DEVNULL)
        seconds, rss = t.read().split()[-2:]
    return float(seconds), int(rss)


def main():
    if not os.path.isdir(DATA):
        sys.exit(f"{DATA} missing: run `bash benches/etl.sh {MB}` first")
    out = tempfile.mkdtemp(prefix="trail-vs-duckdb-")
    json_mib = MB  # the generator writes MEGABYTES MiB of JSON (give or take one object)
    results = {"trail": [], "duckdb": []}
    for i in range(RUNS):
        for name in ("trail", "duckdb"):
            dest = os.path.join(out, f"{name}-{i}")
            if name == "trail":
                cmd = [TRAIL, "run", "--source", DATA, "--dest", dest, "-q"]
            else:
                cmd = [sys.executable, "-c", DUCKDB, DATA, dest, str(CORES)]
            seconds, rss = measured(cmd)
            results[name].append(seconds)
            print(f"round {i + 1} {name:6}: {seconds:6.2f} s, {json_mib / seconds:6.1f} MiB/s of JSON, peak RSS {rss / 1024:.0f} MiB", flush=True)
            shutil.rmtree(dest, ignore_errors=True)
    t, d = statistics.median(results["trail"]), statistics.median(results["duckdb"])
    print(f"median: trail {t:.2f} s ({json_mib / t:.0f} MiB/s), duckdb {d:.2f} s ({json_mib / d:.0f} MiB/s), "
          f"trail is {d / t:.2f}x duckdb ({CORES} cores)")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
