#!/usr/bin/env bash
# A scheduled run's cost against the age of the deployment: a no-op
# `trail-etl run --lookback 2` over destinations whose ledger records N and
# 10 N objects (built through the ledger's own code by ledger-history, 10,000
# objects a delivery day), alternated, RUNS times each.
#
#   bash benches/history.sh [N] [RUNS]      (default N = 1000000, RUNS = 5)
#
# Prints wall time and peak RSS (/usr/bin/time) of each run, the medians, and
# fails unless the 10 N median is at most 1.5x the N median and its peak RSS
# at most 32 MiB more (issue: run for years). `trail-etl status` is timed on
# the same destinations after each run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-5}
cargo build --release -q -p trail-etl -p benches --bin ledger-history --bin trail-etl
BIN=target/release/trail-etl
DATA=target/bench-data/history-$(date -u +%Y%m%d)
for n in "$N" "$((N * 10))"; do
  if [ ! -f "$DATA/$n/.done" ]; then
    rm -rf "$DATA/$n"
    mkdir -p "$DATA/$n"
    echo "== building a history of $n objects"
    /usr/bin/time -f "   built in %e s" target/release/ledger-history "$DATA/$n/src" "$DATA/$n/dest" "$n"
    # The first run ingests the live objects; the ones measured have nothing to do.
    "$BIN" run --source "$DATA/$n/src" --dest "$DATA/$n/dest" --lookback 2 -q
    touch "$DATA/$n/.done"
  fi
done
declare -A WALL RSS SWALL
for r in $(seq "$RUNS"); do
  for n in "$N" "$((N * 10))"; do
    t0=$EPOCHREALTIME
    kb=$(/usr/bin/time -f "%M" "$BIN" run --source "$DATA/$n/src" --dest "$DATA/$n/dest" --lookback 2 --json 2>&1 >/tmp/history-summary.json | tail -1)
    t1=$EPOCHREALTIME
    wall=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    read_objects=$(python3 -c "import json; print(json.load(open('/tmp/history-summary.json'))['objects_read'])")
    [ "$read_objects" = 0 ] || { echo "run $r over $n read $read_objects objects: not a no-op" >&2; exit 1; }
    echo "run $r, $n objects recorded: ${wall} s, $((kb / 1024)) MiB peak"
    WALL[$n]="${WALL[$n]:-} $wall"
    RSS[$n]="${RSS[$n]:-} $kb"
    # `status` reads the last 7 delivery days of the ledger, the status
    # records and the listings: it must not follow the history either.
    t0=$EPOCHREALTIME
    kb=$(/usr/bin/time -f "%M" "$BIN" status --dest "$DATA/$n/dest" --json 2>&1 >/tmp/history-status.json | tail -1)
    t1=$EPOCHREALTIME
    swall=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    echo "  status over $n objects recorded: ${swall} s, $((kb / 1024)) MiB peak"
    SWALL[$n]="${SWALL[$n]:-} $swall"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
w1=$(echo "${WALL[$N]}" | median); w10=$(echo "${WALL[$((N * 10))]}" | median)
r1=$(echo "${RSS[$N]}" | median); r10=$(echo "${RSS[$((N * 10))]}" | median)
echo "median: $N objects: ${w1} s, $((${r1%.*} / 1024)) MiB; $((N * 10)) objects: ${w10} s, $((${r10%.*} / 1024)) MiB"
s1=$(echo "${SWALL[$N]}" | median); s10=$(echo "${SWALL[$((N * 10))]}" | median)
echo "status median: $N objects: ${s1} s; $((N * 10)) objects: ${s10} s"
python3 - "$w1" "$w10" "$r1" "$r10" <<'PY'
import sys
w1, w10, r1, r10 = map(float, sys.argv[1:])
ratio = w10 / w1 if w1 > 0 else float("inf")
extra = (r10 - r1) / 1024
print(f"time ratio {ratio:.2f} (bound 1.5), peak RSS {extra:+.1f} MiB (bound +32)")
sys.exit(0 if ratio <= 1.5 and extra <= 32 else 1)
PY
