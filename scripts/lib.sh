# Shared settings and helpers for the scripts in this folder. Sourced, not run.

# Where the local services keep their state (data, logs, the S3 virtualenv).
# Outside the work tree, so a fresh clone (CI) finds what an earlier run set up.
CONTAXY_DEV_HOME="${CONTAXY_DEV_HOME:-/var/tmp/contaxy-dev}"
# The cargo target directory, kept where the machine keeps it between runs.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/contaxy/target}"

PG_PORT="${CONTAXY_DEV_PG_PORT:-5432}"
S3_PORT="${CONTAXY_DEV_S3_PORT:-9000}"
MOTO_VERSION="5.2.5"
# Validates the Kubernetes backend's manifests against the published schemas
# (it ships them for 1.25 to 1.37; the tests use 1.32 and 1.36).
KUBERNETES_VALIDATE_VERSION="1.37.0"
# contaxy's Python client that tests/tests/contaxy_client.rs drives.
CONTAXY_CLIENT_VERSION="0.0.23"
# The API fuzzer of the suite (tests/tests/api_fuzz.rs).
SCHEMATHESIS_VERSION="4.32.5"
TEST_IMAGE="contaxy/busybox:test"

# The newest installed PostgreSQL server binaries (initdb, pg_ctl), if any.
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() {
  printf '\033[31mERROR: %s\033[0m\n' "$1" >&2
  [ -n "${2:-}" ] && printf '       fix: %s\n' "$2" >&2
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
  log "$what is ready"
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq || fail "apt-get update failed" "check the network to Debian's mirrors, then run again"
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || fail "apt-get install $* failed" "run 'apt-get install $*' by hand to see why"
}
