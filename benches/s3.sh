#!/usr/bin/env bash
# `trail-etl run` from S3 with S3's latency: objects per second.
#
#   bash benches/s3.sh [--small] [MEGABYTES] [RUNS] [LATENCY_MS] [-- RUN OPTIONS...]
#
# Serves the seeded bucket of benches/etl.sh (default: --small 150, the shape
# of a quiet organization trail) from s3-bench-server, an in-memory S3
# endpoint on 127.0.0.1 that answers every request after LATENCY_MS
# (default 30, about what S3 takes to the first byte), and runs the release
# binary RUNS times (default 3) from it into a fresh local folder, printing
# each run's wall time, objects/s, MiB/s of JSON and peak RSS, and the
# medians. (s3s-fs, which the tests use, serves only about 900 GETs/s here:
# it would be what is measured.) Fails when a run's peak RSS passes 512 MiB
# (TRAIL_RSS_LIMIT_MB overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPE=small-v1
GEN_FLAGS=(--small)
if [ "${1:-}" = --large ]; then
  SHAPE=v2
  GEN_FLAGS=()
  shift
elif [ "${1:-}" = --small ]; then
  shift
fi
MB=${1:-$([ "$SHAPE" = v2 ] && echo 2048 || echo 150)}
RUNS=${2:-3}
LATENCY=${3:-30}
EXTRA=("${@:4}")
[ "${EXTRA[0]:-}" = -- ] && EXTRA=("${EXTRA[@]:1}")
DATA="target/bench-data/bucket-${SHAPE}-${MB}mb"
ALLOC=${TRAIL_BENCH_ALLOCATOR:-$(pkg-config --exists libtcmalloc_minimal 2>/dev/null && echo tcmalloc || echo system)}
FEATURES=()
[ "$ALLOC" = tcmalloc ] && FEATURES=(--features trail-etl/tcmalloc)
cargo build --release -q -p trail-etl -p benches "${FEATURES[@]}"
if [ ! -f "$DATA/.done" ]; then
  rm -rf "$DATA"
  ./target/release/gen-bucket "${GEN_FLAGS[@]}" "$DATA" "$MB" 42
  touch "$DATA/.done"
fi
LOG=$(mktemp)
./target/release/s3-bench-server "$DATA" trail --latency-ms "$LATENCY" > "$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 1 600); do grep -q listening "$LOG" && break; sleep 0.1; done
ENDPOINT=$(grep -o 'http://[0-9.:]*' "$LOG")
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
echo "machine: $(nproc) cores; binary: $(./target/release/trail-etl --version)"
echo "input: $DATA, $(grep -o '([0-9]* objects)' "$LOG") from $ENDPOINT, ${LATENCY} ms per request; options: ${EXTRA[*]:-(defaults)}"
results=()
for i in $(seq 1 "$RUNS"); do
  OUT=$(mktemp -d target/bench-data/out.XXXXXX)
  /usr/bin/time -f "%e %M" -o target/bench-data/time.txt \
    ./target/release/trail-etl run --source s3://trail --dest "$OUT" --endpoint-url "$ENDPOINT" \
      --force-path-style --json -q "${EXTRA[@]}" > target/bench-data/summary.json
  read -r secs rss_kb < target/bench-data/time.txt
  line=$(python3 - "$secs" "$rss_kb" <<'PY'
import json, sys
secs, rss_kb = float(sys.argv[1]), int(sys.argv[2])
s = json.load(open("target/bench-data/summary.json"))
print(f"{secs:.2f} {s['objects_read']/secs:.0f} {s['json_bytes']/2**20/secs:.1f} {rss_kb/1024:.0f} {s['objects_read']}")
PY
)
  rm -rf "$OUT"
  read -r -a f <<< "$line"
  echo "run $i: ${f[0]} s, ${f[1]} objects/s, ${f[2]} MiB/s of JSON, peak RSS ${f[3]} MiB (${f[4]} objects)"
  results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c '
import os, sys, statistics as st
rows = [l.split() for l in sys.stdin if l.strip()]
med = lambda i: st.median(float(r[i]) for r in rows)
print(f"median: {med(0):.2f} s, {med(1):.0f} objects/s, {med(2):.1f} MiB/s of JSON, peak RSS {med(3):.0f} MiB")
worst, limit = max(float(r[3]) for r in rows), float(os.environ.get("TRAIL_RSS_LIMIT_MB", "512"))
if worst > limit:
    sys.exit(f"FAIL: peak RSS {worst:.0f} MiB is over {limit:.0f} MiB")
'
