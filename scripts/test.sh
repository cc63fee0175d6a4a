#!/usr/bin/env bash
# The whole test suite, against the real services: provisions them (idempotent),
# then checks formatting and lints and runs every test in the workspace.
# CI runs exactly this (.ci/run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

"$here/provision.sh"
# Each test declares its exchanges and queues under a prefix of its own in the
# RabbitMQ host contaxy-test; a run starts from an empty one, and leaves one
# behind, so a broker restarted later has no test queues to recover.
"$here/provision.sh" reset-test-vhost
trap '"$here/provision.sh" reset-test-vhost >/dev/null 2>&1 || true' EXIT
cd "$here/.."

log "cargo fmt --check"
cargo fmt --all -- --check || fail "code is not formatted" "run 'cargo fmt --all'"
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Some tests run the real executables: build them from this tree first, so a
# cached target directory never serves an older binary.
log "building the binaries"
cargo build --workspace --bins --locked
log "tests (target dir: $CARGO_TARGET_DIR)"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
