#!/usr/bin/env bash
# Build deploy/Containerfile with buildah from Debian's packages alone: no
# container registry. The two base images the Containerfile names are made
# here instead of pulled: a Debian bookworm root file system from debootstrap
# (the runtime base), and the same with gcc and this machine's Rust toolchain
# (the build base). Then the image runs trail-etl on the sample bucket.
#
#   bash deploy/build-image.sh            # prints the image name and size
#
# Cached under ~/.cache/trail/image (root file system) and buildah's storage
# (base images), so a second build only builds trail-etl. Needs root (apt-get,
# debootstrap, buildah with chroot isolation and the vfs storage driver, which
# work without overlayfs or user namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${TRAIL_IMAGE_CACHE:-$HOME/.cache/trail/image}"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
TAG="${TRAIL_IMAGE_TAG:-localhost/trail:ci}"

for tool in buildah debootstrap; do
  if ! command -v "$tool" >/dev/null; then
    echo "== installing $tool"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null; }
  fi
done

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# The runtime base: Debian bookworm, minimal.
ROOTFS="$CACHE/rootfs-bookworm"
if [ ! -f "$ROOTFS/.complete" ]; then
  echo "== debootstrap bookworm (minbase) into $ROOTFS"
  rm -rf "$ROOTFS"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb
  touch "$ROOTFS/.complete"
fi
BASE=localhost/trail-debian:bookworm
if ! have_image "$BASE"; then
  echo "== image $BASE from $ROOTFS"
  c=$(buildah from scratch)
  buildah copy --quiet "$c" "$ROOTFS" / >/dev/null
  buildah commit --quiet --rm "$c" "$BASE" >/dev/null
fi

# The build base: gcc, and the Rust toolchain of this machine (rustc and
# cargo with their libraries: no docs, no sources).
SYSROOT=$(rustc --print sysroot)
RUST_VERSION=$(rustc -V | cut -d' ' -f2)
RUST=localhost/trail-rust:"$RUST_VERSION"
if ! have_image "$RUST"; then
  echo "== image $RUST (gcc from Debian, Rust $RUST_VERSION from $SYSROOT)"
  c=$(buildah from "$BASE")
  buildah run "$c" -- sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*'
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib/rustlib"
  cp "$SYSROOT/bin/rustc" "$SYSROOT/bin/cargo" "$stage/bin/"
  cp -a "$SYSROOT"/lib/*.so* "$stage/lib/"
  cp -a "$SYSROOT/lib/rustlib/x86_64-unknown-linux-gnu" "$stage/lib/rustlib/"
  buildah copy --quiet "$c" "$stage" /usr/local >/dev/null
  rm -rf "$stage"
  buildah config --env CARGO_HOME=/usr/local/cargo --env PATH=/usr/local/cargo/bin:/usr/local/bin:/usr/bin:/bin "$c"
  buildah commit --quiet --rm "$c" "$RUST" >/dev/null
fi

echo "== buildah bud -f deploy/Containerfile -t $TAG"
mkdir -p "$HOME/.cargo/registry"
buildah bud --quiet --layers=false \
  --build-arg RUST_IMAGE="$RUST" --build-arg RUNTIME_IMAGE="$BASE" \
  --volume "$HOME/.cargo/registry:/usr/local/cargo/registry" \
  -f deploy/Containerfile -t "$TAG" . >/dev/null

echo "== the image runs trail-etl on the sample bucket, as its user (65534)"
c=$(buildah from "$TAG")
trap 'buildah rm "$c" >/dev/null' EXIT
buildah copy --quiet "$c" examples/bucket /sample >/dev/null
buildah run "$c" -- /usr/local/bin/trail-etl --version
buildah run "$c" -- /usr/local/bin/trail-etl run --source /sample --dest /tmp/lake --quiet --json \
  | grep -q '"exit_code":0'
buildah run "$c" -- /usr/local/bin/trail-etl status --dest /tmp/lake | head -3
echo "image $TAG: $(buildah images --format '{{.Size}}' "$TAG")"
