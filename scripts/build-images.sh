#!/usr/bin/env bash
# Builds the container images of api, worker and scheduler with the local
# Docker Engine, from deploy/Dockerfile, without any registry: no base image
# can be pulled on the machines this project is developed and tested on, so
#
# 1. the runtime base is made from this machine's own root filesystem (the
#    way the test image contaxy/busybox:test is made by scripts/provision.sh):
#    the shared libraries the binaries link (found with ldd), the CA
#    certificates, /etc/passwd and /etc/group with the user nonroot (65532),
#    a world-writable /tmp and busybox under /busybox (the compose health
#    checks run its wget), imported with `docker import`;
# 2. the binaries are compiled on the host (cargo, release) and copied in:
#    the Dockerfile's `*-prebuilt` targets, not its builder stage.
#
# Elsewhere, `docker build -f deploy/Dockerfile --target api .` builds the
# same image from a public base and compiles in the builder stage
# (docs/deployment.md).
#
# Usage: scripts/build-images.sh [--bin-dir DIR] [--tag TAG] [--repo REPO]
#   --bin-dir DIR  take contaxy-api, contaxy-worker and contaxy-scheduler from
#                  DIR instead of compiling (the test suite passes its debug
#                  build; their debug info is stripped on the way in)
#   --tag TAG      image tag (default: the workspace version)
#   --repo REPO    image repository prefix (default: contaxy): REPO/api:TAG,
#                  REPO/worker:TAG, REPO/scheduler:TAG, REPO/runtime-base:TAG
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
root_dir="$here/.."

bin_dir=""
tag=""
repo="contaxy"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --repo) repo="$2"; shift 2 ;;
    *) fail "unknown argument '$1'" "usage: scripts/build-images.sh [--bin-dir DIR] [--tag TAG] [--repo REPO]" ;;
  esac
done
if [ -z "$tag" ]; then
  tag="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root_dir/Cargo.toml")"
fi
binaries=(contaxy-api contaxy-worker contaxy-scheduler)

docker info >/dev/null 2>&1 || fail "the Docker Engine does not answer" "run scripts/provision.sh docker"
[ -x /bin/busybox ] || fail "/bin/busybox is missing" "apt-get install busybox-static (scripts/provision.sh images installs it)"
certs=/etc/ssl/certs/ca-certificates.crt
[ -s "$certs" ] || fail "$certs is missing" "apt-get install ca-certificates"

if [ -z "$bin_dir" ]; then
  log "compiling ${binaries[*]} (release)"
  (cd "$root_dir" && cargo build --release --locked -p contaxy-api -p contaxy-worker -p contaxy-scheduler)
  bin_dir="$CARGO_TARGET_DIR/release"
fi
for bin in "${binaries[@]}"; do
  [ -x "$bin_dir/$bin" ] || fail "$bin_dir/$bin is missing" "build it first, or leave out --bin-dir"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- the runtime base, from this machine's files -----------------------------
base="$repo/runtime-base:$tag"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{etc/ssl/certs,tmp,busybox,home/nonroot}
# Every shared library any of the binaries (and busybox, when it is not the
# static one) needs, and the dynamic loader, at the paths ldd names (copied
# with their targets resolved).
libs="$(for bin in "${binaries[@]/#/$bin_dir/}" /bin/busybox; do ldd "$bin" 2>/dev/null || true; done \
  | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)"
[ -n "$libs" ] || fail "ldd found no libraries in the binaries" "are they dynamically linked executables for this machine?"
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# /lib64 and /lib are symlinks on Debian (merged /usr); keep the layout.
for link in /lib /lib64; do
  if [ -L "$link" ] && [ -d "$rootfs$link" ]; then
    target="$(readlink "$link")"
    mkdir -p "$rootfs/$target"
    cp -a "$rootfs$link/." "$rootfs/$target/"
    rm -rf "${rootfs:?}$link"
    ln -s "$target" "$rootfs$link"
  fi
done
cp -L "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
GROUP
echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
cp /bin/busybox "$rootfs/busybox/busybox"
for applet in sh wget id ls cat env nc; do
  ln -s busybox "$rootfs/busybox/$applet"
done
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/home/nonroot"
log "importing the runtime base $base from this machine's files (no registry is reachable)"
tar --numeric-owner -C "$rootfs" -c . | docker import -m "contaxy runtime base from $(hostname)'s files" - "$base" >/dev/null \
  || fail "docker import of $base failed" "see the Docker Engine's log"

# --- the images ----------------------------------------------------------------
context="$work/context"
mkdir -p "$context/dist"
for bin in "${binaries[@]}"; do
  # Release binaries carry no debug info; a debug build's is dropped here.
  strip --strip-debug -o "$context/dist/$bin" "$bin_dir/$bin"
done
# The stage holding the binaries is tagged while the three builds use it,
# then removed, so no untagged copy of the binaries is left behind.
dist="$repo/dist:$tag"
trap 'rm -rf "$work"; docker rmi "$dist" >/dev/null 2>&1 || true' EXIT
for name in dist api worker scheduler; do
  image="$repo/$name:$tag"
  target="$name-prebuilt"
  [ "$name" = dist ] && target=prebuilt
  [ "$name" = dist ] || log "building $image"
  # The legacy builder's deprecation notice goes to stderr on every build:
  # shown only when the build fails.
  if ! docker build -q -f "$root_dir/deploy/Dockerfile" --build-arg "RUNTIME_BASE=$base" \
    --target "$target" -t "$image" "$context" >/dev/null 2>"$work/build.err"; then
    cat "$work/build.err" >&2
    fail "docker build of $image failed" "see the builder's message above"
  fi
done
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E "^$repo/(runtime-base|api|worker|scheduler):$tag " || true
