#!/usr/bin/env bash
# `trail-etl verify --dest`: digests, log objects and the ledger, timed.
#
#   bash benches/verify.sh [--small] [MEGABYTES] [RUNS]
#
# Takes the seeded bucket of benches/etl.sh (default: --small 150), links it
# (hard links, no copy) into a second folder and adds unsigned hourly digest
# files to it (`gen-bucket --digests`; a local folder cannot carry the
# signatures, so they are not what is timed), ingests it once with
# `trail-etl run`, then times RUNS verifications with the destination: every
# digest read and checked, every log object read, inflated and hashed, the
# ledger's hash of each compared. Prints digests, log objects, time, objects/s,
# MiB/s of inflated JSON and peak RSS per run.
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPE=small-v1
GEN_FLAGS=(--small)
if [ "${1:-}" = --large ]; then SHAPE=v2; GEN_FLAGS=(); shift; elif [ "${1:-}" = --small ]; then shift; fi
MB=${1:-$([ "$SHAPE" = v2 ] && echo 2048 || echo 150)}
RUNS=${2:-3}
DATA="target/bench-data/bucket-${SHAPE}-${MB}mb"
SIGNED="target/bench-data/digests-${SHAPE}-${MB}mb"
ALLOC=${TRAIL_BENCH_ALLOCATOR:-$(pkg-config --exists libtcmalloc_minimal 2>/dev/null && echo tcmalloc || echo system)}
FEATURES=()
[ "$ALLOC" = tcmalloc ] && FEATURES=(--features trail-etl/tcmalloc)
cargo build --release -q -p trail-etl -p benches "${FEATURES[@]}"
if [ ! -f "$DATA/.done" ]; then
  rm -rf "$DATA"
  ./target/release/gen-bucket "${GEN_FLAGS[@]}" "$DATA" "$MB" 42
  touch "$DATA/.done"
fi
if [ ! -f "$SIGNED/.done" ]; then
  rm -rf "$SIGNED"
  cp -al "$DATA" "$SIGNED"
  ./target/release/gen-bucket --digests "$SIGNED"
  touch "$SIGNED/.done"
fi
OUT=$(mktemp -d target/bench-data/out.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
./target/release/trail-etl run --source "$SIGNED" --dest "$OUT" -q
END=$(find "$SIGNED" -path '*CloudTrail/*' -name '*.json.gz' | sed -E 's|.*/([0-9]{4})/([0-9]{2})/([0-9]{2})/[^/]*$|\1-\2-\3|' | sort -u)
START=$(echo "$END" | head -1); END=$(echo "$END" | tail -1)
echo "binary: $(./target/release/trail-etl --version); input: $SIGNED, $START to $END"
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%e %M" -o target/bench-data/time.txt \
    ./target/release/trail-etl verify --source "$SIGNED" --dest "$OUT" --start "$START" --end "$END" --json -q \
    > target/bench-data/verify.json 2> target/bench-data/verify.err || { cat target/bench-data/verify.err | tail -5; exit 1; }
  read -r secs rss_kb < target/bench-data/time.txt
  python3 - "$secs" "$rss_kb" <<'PY'
import json, sys
secs, rss = float(sys.argv[1]), int(sys.argv[2]) / 1024
r = json.load(open("target/bench-data/verify.json"))
print(f"{secs:.2f} s: {r['digests_valid']}/{r['digests']} digests, {r['logs_valid']}/{r['logs']} logs valid, "
      f"{r['logs_ingested']} ingested, {len(r['problems'])} problems; {r['logs']/secs:.0f} log objects/s, peak RSS {rss:.0f} MiB")
PY
done
