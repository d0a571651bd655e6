#!/usr/bin/env bash
# Install a Trino server for the SQL checks, idempotently, and print the
# environment the tests need (TRINO_HOME=..., TRINO_JAVA_HOME=...).
#
# trino-server-core and the Hive connector plugin come from Maven Central
# (mvn dependency:copy, cached in ~/.m2), unpacked once under ~/.cache/trail.
# Trino 476 needs Java 24 or newer: the first such JDK under /usr/lib/jvm is used.
set -euo pipefail
VERSION="${TRINO_VERSION:-476}"
CACHE="${TRAIL_CACHE:-$HOME/.cache/trail}"
TRINO_DIR="$CACHE/trino-server-core-$VERSION"

if [ ! -f "$TRINO_DIR/.ready" ]; then
  rm -rf "$TRINO_DIR" "$CACHE/download"
  mkdir -p "$CACHE/download"
  for artifact in "io.trino:trino-server-core:$VERSION:tar.gz" "io.trino:trino-hive:$VERSION:zip"; do
    mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$CACHE/download" >&2
  done
  tar xzf "$CACHE/download/trino-server-core-$VERSION.tar.gz" -C "$CACHE"
  python3 -m zipfile -e "$CACHE/download/trino-hive-$VERSION.zip" "$TRINO_DIR/plugin/"
  chmod +x "$TRINO_DIR/bin/launcher" "$TRINO_DIR"/bin/linux-*/launcher 2>/dev/null || true
  rm -rf "$CACHE/download"
  touch "$TRINO_DIR/.ready"
fi

JAVA=""
for candidate in "${TRINO_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
  major=$("$candidate/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ -n "$major" ] && [ "$major" -ge 24 ]; then
    JAVA="$candidate"
    break
  fi
done
if [ -z "$JAVA" ]; then
  echo "setup-trino: no Java 24+ under /usr/lib/jvm (Trino $VERSION needs one)" >&2
  exit 1
fi
echo "TRINO_HOME=$TRINO_DIR"
echo "TRINO_JAVA_HOME=$JAVA"
