#!/usr/bin/env bash
# The engine benchmark of issue 13 (docs/benchmarks.md), one command:
# provisions the services, builds the release binaries, starts a PostgreSQL
# cluster of its own with the durable settings (fsync, synchronous_commit
# and full_page_writes on; the development cluster runs with them off), and
# runs, against it:
#   engine        the accept path with its floors, the engine with an
#                 in-memory runtime against the raw broker+database work
#                 (1, 2, 4 worker processes), the idle footprint;
#   contaxy-bench the pipeline against raw Docker create+start (latency,
#                 throughput, 200 jobs at once).
# Arguments go to `engine`: [seconds per load step (10)] [jobs per engine run (5000)]
# [parts: accept,engine,footprint (all)].
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

"$here/provision.sh"
cd "$here/.."
log "building the release binaries"
cargo build --release --locked -p contaxy-api -p contaxy-worker -p contaxy-scheduler -p contaxy-bench

port="${CONTAXY_BENCH_PG_PORT:-5433}"
data="$CONTAXY_DEV_HOME/pgdata-durable"
sock="$CONTAXY_DEV_HOME/pg-socket-durable"
bin="$(pg_bin)"
[ -n "$bin" ] || fail "no PostgreSQL server is installed" "run scripts/provision.sh"
install -d -o postgres -g postgres -m 0700 "$data"
install -d -o postgres -g postgres -m 0755 "$sock"
if [ ! -f "$data/PG_VERSION" ]; then
  log "initialising the durable PostgreSQL cluster in $data"
  runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 >"$CONTAXY_DEV_HOME/logs/initdb-durable.log" 2>&1 \
    || fail "initdb failed (see $CONTAXY_DEV_HOME/logs/initdb-durable.log)" "remove $data and run again"
fi
stop_pg() { runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true; }
trap stop_pg EXIT
# An earlier run stopped before its trap ran may have left it running.
stop_pg
log "starting the durable PostgreSQL cluster on 127.0.0.1:$port"
touch "$CONTAXY_DEV_HOME/logs/postgres-durable.log"
chown postgres:postgres "$CONTAXY_DEV_HOME/logs/postgres-durable.log"
runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$CONTAXY_DEV_HOME/logs/postgres-durable.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c max_connections=400 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=256MB" \
  start >/dev/null || fail "the durable PostgreSQL did not start (see $CONTAXY_DEV_HOME/logs/postgres-durable.log)" "is port $port taken? set CONTAXY_BENCH_PG_PORT"
psql=(runuser -u postgres -- psql -h "$sock" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'contaxy'")" != 1 ]; then
  "${psql[@]}" -c "CREATE ROLE contaxy LOGIN CREATEDB PASSWORD 'contaxy'"
fi
export CONTAXY_TEST_DATABASE_URL="postgres://contaxy:contaxy@127.0.0.1:$port/postgres"

log "engine: accept path, engine without a runtime, footprint"
"$CARGO_TARGET_DIR/release/engine" "$@"
log "contaxy-bench: the pipeline against raw Docker"
"$CARGO_TARGET_DIR/release/contaxy-bench" 40
