#!/usr/bin/env bash
# What `trail-etl compact` does to a backfill of the bench bucket: files and
# bytes per table before and after, wall time and peak RSS.
#
#   bash benches/compact.sh [MEGABYTES]     (default 2048, the bucket of benches/etl.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-2048}
DATA="target/bench-data/bucket-v2-${MB}mb"
cargo build --release -q -p trail-etl -p benches
if [ ! -f "$DATA/.done" ]; then
  rm -rf "$DATA"
  ./target/release/gen-bucket "$DATA" "$MB" 42
  touch "$DATA/.done"
fi
echo "binary: $(./target/release/trail-etl --version)"
OUT=$(mktemp -d target/bench-data/compact.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
./target/release/trail-etl run --source "$DATA" --dest "$OUT" -q
count() { for t in events table_access athena_queries; do
  printf '%s: %s files, %s partitions, %s MiB; ' "$t" "$(find "$OUT/$t" -name '*.parquet' | wc -l)" \
    "$(find "$OUT/$t" -mindepth 1 -maxdepth 1 -type d | wc -l)" "$(( $(du -sk "$OUT/$t" | cut -f1) / 1024 ))"; done; echo; }
echo "before: $(count)"
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" ./target/release/trail-etl compact --dest "$OUT" --json -q > "$OUT/compact.json"
read -r secs kb < "$OUT/time.txt"
echo "after:  $(count)"
python3 - "$OUT/compact.json" "$secs" "$kb" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"compact: {s['partitions_compacted']} partitions, {s['files_before']} files into {s['files_after']}, "
      f"{s['rows_before']} rows ({s['duplicate_rows_removed']} duplicates removed), "
      f"{s['bytes_before']/2**20:.0f} MiB into {s['bytes_after']/2**20:.0f} MiB in {float(sys.argv[2]):.2f} s, "
      f"peak RSS {int(sys.argv[3])//1024} MiB")
PY
/usr/bin/time -f "%e" -o "$OUT/time.txt" ./target/release/trail-etl compact --dest "$OUT" -q
echo "compact again (nothing to do): $(cat "$OUT/time.txt") s"
