#!/usr/bin/env bash
# End-to-end throughput and memory of `trail-etl run` (local folder to local folder).
#
#   bash benches/etl.sh [--small] [MEGABYTES] [RUNS] [-- RUN OPTIONS...]
#
# Generates (once, cached under target/bench-data/) a seeded CloudTrail bucket
# holding about MEGABYTES MiB of uncompressed JSON (default 2048; with
# --small, objects of 1 to 30 records as a quiet organization trail delivers
# them, default 150), then runs
# the release binary RUNS times (default 3) into a fresh destination, printing
# for each run the wall time, MiB/s of JSON, records/s and peak RSS
# (/usr/bin/time), and the medians. Fails when a run's peak RSS passes the
# documented bound (512 MiB with the default --memory-mb 512; TRAIL_RSS_LIMIT_MB overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPE=v2
GEN_FLAGS=()
if [ "${1:-}" = --small ]; then
  SHAPE=small-v1
  GEN_FLAGS=(--small)
  shift
fi
MB=${1:-$([ "$SHAPE" = v2 ] && echo 2048 || echo 150)}
RUNS=${2:-3}
EXTRA=("${@:3}")
[ "${EXTRA[0]:-}" = -- ] && EXTRA=("${EXTRA[@]:1}")
DATA="target/bench-data/bucket-${SHAPE}-${MB}mb"
# The allocator: tcmalloc where gperftools is installed (the build the README
# recommends for throughput), else the system's; TRAIL_BENCH_ALLOCATOR=system
# or =tcmalloc chooses.
ALLOC=${TRAIL_BENCH_ALLOCATOR:-$(pkg-config --exists libtcmalloc_minimal 2>/dev/null && echo tcmalloc || echo system)}
FEATURES=()
case "$ALLOC" in
  tcmalloc) FEATURES=(--features trail-etl/tcmalloc) ;;
  system) ;;
  *) echo "TRAIL_BENCH_ALLOCATOR must be system or tcmalloc, not '$ALLOC'" >&2; exit 2 ;;
esac
cargo build --release -q -p trail-etl -p benches "${FEATURES[@]}"
if [ ! -f "$DATA/.done" ]; then
  rm -rf "$DATA"
  ./target/release/gen-bucket "${GEN_FLAGS[@]}" "$DATA" "$MB" 42
  touch "$DATA/.done"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "binary: $(./target/release/trail-etl --version)"
echo "input: $(du -sh "$DATA" | cut -f1) gzip in $(find "$DATA" -name '*.json.gz' | wc -l) objects"
results=()
for i in $(seq 1 "$RUNS"); do
  OUT=$(mktemp -d target/bench-data/out.XXXXXX)
  /usr/bin/time -f "%e %M" -o target/bench-data/time.txt \
    ./target/release/trail-etl run --source "$DATA" --dest "$OUT" --json -q "${EXTRA[@]}" > target/bench-data/summary.json
  read -r secs rss_kb < target/bench-data/time.txt
  line=$(python3 - "$secs" "$rss_kb" "$OUT" <<'PY'
import json, sys
secs, rss_kb, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = json.load(open("target/bench-data/summary.json"))
mib = s["json_bytes"] / 2**20
parquet = s["bytes_written"] / 2**20
print(f"{secs:.2f} {mib/secs:.1f} {s['records']/secs:.0f} {rss_kb/1024:.0f} {s['records']} {mib:.0f} {s['bytes_read']/2**20:.0f} {parquet:.0f} {len(s['files'])}")
PY
)
  rm -rf "$OUT"
  read -r -a f <<< "$line"
  echo "run $i: ${f[0]}s, ${f[1]} MiB/s of JSON, ${f[2]} records/s, peak RSS ${f[3]} MiB (records ${f[4]}, JSON ${f[5]} MiB, gzip ${f[6]} MiB, Parquet ${f[7]} MiB in ${f[8]} files)"
  results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics as st
rows = [l.split() for l in sys.stdin if l.strip()]
med = lambda i: st.median(float(r[i]) for r in rows)
print(f"median: {med(0):.2f} s, {med(1):.1f} MiB/s of JSON, {med(2):.0f} records/s, peak RSS {med(3):.0f} MiB")
worst = max(float(r[3]) for r in rows)
limit = float(__import__("os").environ.get("TRAIL_RSS_LIMIT_MB", "512"))
if worst > limit:
    sys.exit(f"FAIL: peak RSS {worst:.0f} MiB is over the documented bound of {limit:.0f} MiB")
print(f"peak RSS bound: {worst:.0f} MiB <= {limit:.0f} MiB")
'
