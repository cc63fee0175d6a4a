#!/usr/bin/env bash
# The main job: provisions the services, builds, starts api, worker and
# scheduler, waits until each answers /readyz, runs a demo job and prints its
# logs, then keeps the stack running until ctrl-c (with --once, stops it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

once=""
[ "${1:-}" = "--once" ] && once=1

"$here/provision.sh"
cd "$here/.."
# Release binaries, as users run them (a debug build idles at 50-90 MB);
# the build cache in $CARGO_TARGET_DIR makes a second start quick.
log "building (release)"
cargo build --release --locked -p contaxy-api -p contaxy-worker -p contaxy-scheduler -p contaxy-cli

export CONTAXY_API_LISTEN_ADDR="${CONTAXY_API_LISTEN_ADDR:-127.0.0.1:8080}"
export CONTAXY_WORKER_LISTEN_ADDR="${CONTAXY_WORKER_LISTEN_ADDR:-127.0.0.1:9101}"
export CONTAXY_SCHEDULER_LISTEN_ADDR="${CONTAXY_SCHEDULER_LISTEN_ADDR:-127.0.0.1:9102}"
logs="$CONTAXY_DEV_HOME/logs/run"
mkdir -p "$logs"

# The bootstrap admin token: kept in a file readable only by its owner (never
# printed), made once and reused, so tokens and scripts keep working across
# runs. Set CONTAXY_ADMIN_TOKEN yourself to use another one.
admin_token_file="$CONTAXY_DEV_HOME/admin-token"
if [ -z "${CONTAXY_ADMIN_TOKEN:-}" ]; then
  if [ ! -s "$admin_token_file" ]; then
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n=+/' >"$admin_token_file")
  fi
  CONTAXY_ADMIN_TOKEN="$(cat "$admin_token_file")"
  export CONTAXY_ADMIN_TOKEN
  log "admin token: in $admin_token_file (use: curl -H \"Authorization: Bearer \$(cat $admin_token_file)\" …)"
fi

pids=()
stop_all() {
  [ ${#pids[@]} -gt 0 ] || return 0
  log "stopping api, worker and scheduler (SIGTERM)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

for bin in api worker scheduler; do
  "$CARGO_TARGET_DIR/release/contaxy-$bin" >"$logs/$bin.log" 2>&1 &
  pids+=($!)
done

for pair in "api:$CONTAXY_API_LISTEN_ADDR" "worker:$CONTAXY_WORKER_LISTEN_ADDR" \
  "scheduler:$CONTAXY_SCHEDULER_LISTEN_ADDR"; do
  bin="${pair%%:*}" addr="${pair#*:}"
  if ! wait_for 60 "$bin (http://$addr/readyz)" curl -fsS --max-time 3 "http://$addr/readyz"; then
    curl -sS --max-time 3 "http://$addr/readyz" >&2 || true
    tail -n 20 "$logs/$bin.log" >&2
    fail "$bin is not ready (log: $logs/$bin.log)" "see the failing check above"
  fi
  printf '%-9s %s\n' "$bin" "$(curl -fsS --max-time 3 "http://$addr/readyz")"
done

# The admin token works: list the projects it can see.
printf '%-9s %s\n' "projects" "$(curl -fsS --max-time 3 -H "Authorization: Bearer $CONTAXY_ADMIN_TOKEN" \
  "http://$CONTAXY_API_LISTEN_ADDR/projects")" || fail "the admin token was refused" "see $logs/api.log"
log "the stack is up: API on http://$CONTAXY_API_LISTEN_ADDR, logs in $logs"

# The demo job: a project, a job that prints a few lines, its logs.
api="http://$CONTAXY_API_LISTEN_ADDR"
auth=(-H "Authorization: Bearer $CONTAXY_ADMIN_TOKEN")
json=(-H 'Content-Type: application/json')
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
if ! curl -fsS --max-time 5 "${auth[@]}" "$api/projects/demo" >/dev/null 2>&1; then
  curl -fsS --max-time 5 "${auth[@]}" "${json[@]}" -d '{"id": "demo", "display_name": "Demo project"}' \
    "$api/projects" >/dev/null || fail "could not create the demo project" "see $logs/api.log"
fi
log "submitting the demo job"
job="$(curl -fsS --max-time 90 "${auth[@]}" "${json[@]}" "$api/projects/demo/jobs?wait=true" -d '{
  "container_image": "contaxy/busybox:test",
  "display_name": "Hello demo",
  "command": ["sh", "-c", "echo Hello from a contaxy job; echo running as $(id -un) in $(hostname); echo deployment: $CONTAXY_DEPLOYMENT_NAME"]
}')" || fail "the demo job was refused" "see $logs/api.log"
job_id="$(printf '%s' "$job" | field "['id']")"
status=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  status="$(curl -fsS --max-time 5 "${auth[@]}" "$api/projects/demo/jobs/$job_id" | field "['status']")"
  case "$status" in succeeded | failed) break ;; esac
  sleep 0.5
done
log "demo job $job_id: $status"
curl -fsS --max-time 15 "${auth[@]}" -H 'Accept: text/plain' "$api/projects/demo/jobs/$job_id/logs" \
  || fail "could not read the demo job's logs" "see $logs/worker.log"
[ "$status" = succeeded ] || fail "the demo job did not succeed (status: ${status:-none})" "see $logs/worker.log"

if [ -n "$once" ]; then
  exit 0
fi
log "press ctrl-c to stop"
wait "${pids[@]}"
