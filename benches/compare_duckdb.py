#!/usr/bin/env python3
"""trail-etl against DuckDB on the same generated CloudTrail bucket, run alternately.

    python3 benches/compare_duckdb.py [--small] [MEGABYTES] [RUNS]

Builds what it needs once: the release binaries, a seeded bucket of about
MEGABYTES MiB of JSON under target/bench-data/ (default 2048; with --small,
the shape of a quiet organization trail: objects of 1 to 30 records from 40
accounts and 4 regions every 5 minutes, default 150), and a venv
with DuckDB under target/bench-venv/. Then each round runs, in turn:
  - trail-etl run (release build, all three tables, default settings;
    built with tcmalloc where gperftools is installed, see allocator());
  - DuckDB with an auto-detected schema: read_json over every object,
    unnest(Records), written as zstd Parquet partitioned by the event's day,
    with the same thread count (threads = cores).
It prints each run's wall time, MiB/s of decompressed JSON, records/s and
peak RSS, then the medians, the ratio of the medians, and each round's own
ratio (their spread is the machine's noise). Exits 1 if trail's peak RSS passes
TRAIL_RSS_LIMIT_MB (default 512).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ARGS = [a for a in sys.argv[1:] if a != "--small"]
SMALL = "--small" in sys.argv[1:]
MB = int(ARGS[0]) if ARGS else (150 if SMALL else 2048)
RUNS = int(ARGS[1]) if len(ARGS) > 1 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "target", "bench-data", f"bucket-{'small-v1' if SMALL else 'v2'}-{MB}mb")
TRAIL = os.path.join(ROOT, "target", "release", "trail-etl")
GEN = os.path.join(ROOT, "target", "release", "gen-bucket")
VENV = os.path.join(ROOT, "target", "bench-venv")
DUCKDB_VERSION = "2.0.0"
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


def venv_python():
    """A Python with DuckDB: target/bench-venv, made once."""
    python = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, f".duckdb-{DUCKDB_VERSION}")
    if not os.path.exists(stamp):
        print(f"== making {VENV} with duckdb=={DUCKDB_VERSION}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", f"duckdb=={DUCKDB_VERSION}"], check=True)
        open(stamp, "w").close()
    return python


def allocator():
    """tcmalloc where gperftools is installed (the build the README recommends
    for throughput), else the system's; TRAIL_BENCH_ALLOCATOR=system or
    =tcmalloc chooses."""
    chosen = os.environ.get("TRAIL_BENCH_ALLOCATOR")
    if chosen:
        if chosen not in ("system", "tcmalloc"):
            sys.exit(f"TRAIL_BENCH_ALLOCATOR must be system or tcmalloc, not {chosen!r}")
        return chosen
    try:
        found = subprocess.run(["pkg-config", "--exists", "libtcmalloc_minimal"]).returncode == 0
    except FileNotFoundError:
        found = False
    return "tcmalloc" if found else "system"


def build():
    features = ["--features", "trail-etl/tcmalloc"] if allocator() == "tcmalloc" else []
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "trail-etl", "-p", "benches", *features], cwd=ROOT, check=True)
    if not os.path.exists(os.path.join(DATA, ".done")):
        shutil.rmtree(DATA, ignore_errors=True)
        subprocess.run([GEN, *(["--small"] if SMALL else []), DATA, str(MB), "42"], check=True)
        open(os.path.join(DATA, ".done"), "w").close()


def measured(cmd, stdout=subprocess.DEVNULL):
    """Wall seconds and peak RSS in KiB, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r") as t:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd], check=True, stdout=stdout)
        seconds, rss = t.read().split()[-2:]
    return float(seconds), int(rss)


def main():
    build()
    python = venv_python()
    out = tempfile.mkdtemp(prefix="trail-vs-duckdb-", dir=os.path.join(ROOT, "target", "bench-data"))
    results = {"trail": [], "duckdb": []}
    rss = {"trail": [], "duckdb": []}
    json_mib = records = None
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    version = subprocess.run([TRAIL, "--version"], capture_output=True, text=True).stdout.strip()
    objects = sum(1 for _, _, names in os.walk(DATA) for n in names if n.endswith(".json.gz"))
    print(f"machine: {CORES} cores, {cpu}; input: {DATA} ({objects} objects); {version}")
    for i in range(RUNS):
        for name in ("trail", "duckdb"):
            dest = os.path.join(out, f"{name}-{i}")
            if name == "trail":
                summary = os.path.join(out, "summary.json")
                with open(summary, "w") as f:
                    seconds, peak = measured([TRAIL, "run", "--source", DATA, "--dest", dest, "--json", "-q"], stdout=f)
                with open(summary) as f:
                    s = json.load(f)
                json_mib, records = s["json_bytes"] / 2**20, s["records"]
            else:
                seconds, peak = measured([python, "-c", DUCKDB, DATA, dest, str(CORES)])
            results[name].append(seconds)
            rss[name].append(peak / 1024)
            print(f"round {i + 1} {name:6}: {seconds:6.2f} s, {json_mib / seconds:6.1f} MiB/s of JSON, "
                  f"{records / seconds:9.0f} records/s, peak RSS {peak / 1024:5.0f} MiB", flush=True)
            shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    t, d = statistics.median(results["trail"]), statistics.median(results["duckdb"])
    print(f"| pipeline | median s | MiB/s of JSON | records/s | peak RSS MiB |")
    print(f"|---|---|---|---|---|")
    for name, secs in (("trail-etl run", t), ("DuckDB auto-schema", d)):
        key = "trail" if name.startswith("trail") else "duckdb"
        print(f"| {name} | {secs:.2f} | {json_mib / secs:.0f} | {records / secs:.0f} | {max(rss[key]):.0f} |")
    print(f"ratio: trail is {d / t:.2f}x DuckDB ({CORES} cores, {RUNS} alternated rounds, {json_mib:.0f} MiB of JSON)")
    # Each round's own ratio shows how much of a run's ratio is the machine's noise.
    rounds = [dd / tt for tt, dd in zip(results["trail"], results["duckdb"])]
    print("per round: " + ", ".join(f"{r:.2f}x" for r in rounds)
          + f" (median {statistics.median(rounds):.2f}x, {min(rounds):.2f}x to {max(rounds):.2f}x)")
    limit = float(os.environ.get("TRAIL_RSS_LIMIT_MB", "512"))
    if max(rss["trail"]) > limit:
        sys.exit(f"FAIL: trail's peak RSS {max(rss['trail']):.0f} MiB is over {limit:.0f} MiB")


if __name__ == "__main__":
    main()
