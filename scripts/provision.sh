#!/usr/bin/env bash
# Provisions the real services contaxy runs and is tested against, on
# loopback, on a fresh Debian machine: PostgreSQL, RabbitMQ, Docker Engine, an
# S3-compatible server with versioning (moto), kubernetes-validate (the
# Kubernetes schema tests), docker-compose (validates docker-compose.yml),
# contaxy's own Python client (for tests/tests/contaxy_client.rs) and the
# local test images.
#
# Idempotent: every step checks first and skips what is already there, so a
# second run changes nothing and takes a few seconds.
#
# Usage: scripts/provision.sh [postgres|rabbitmq|docker|s3|kubernetes-validate|compose|client|fuzz|images]...
#        (no argument: all of them)
#        scripts/provision.sh reset-test-vhost   (empties the tests' RabbitMQ host)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

[ "$(id -u)" = 0 ] || fail "provisioning installs packages and starts daemons, so it needs root" "run it as root (or with sudo)"
mkdir -p "$CONTAXY_DEV_HOME/logs"

# --- PostgreSQL --------------------------------------------------------------

provision_postgres() {
  if pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then
    log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
  else
    [ -n "$(pg_bin)" ] || apt_install postgresql postgresql-client
    local bin data sock
    bin="$(pg_bin)"
    data="$CONTAXY_DEV_HOME/pgdata"
    sock="$CONTAXY_DEV_HOME/pg-socket"
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    install -d -o postgres -g postgres -m 0700 "$data"
    install -d -o postgres -g postgres -m 0755 "$sock"
    touch "$CONTAXY_DEV_HOME/logs/postgres.log"
    chown postgres:postgres "$CONTAXY_DEV_HOME/logs/postgres.log"
    if [ ! -f "$data/PG_VERSION" ]; then
      log "initialising a PostgreSQL cluster in $data"
      runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 >"$CONTAXY_DEV_HOME/logs/initdb.log" 2>&1 \
        || fail "initdb failed (see $CONTAXY_DEV_HOME/logs/initdb.log)" "remove $data and run again"
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    # fsync off: this cluster holds development and test data only.
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$CONTAXY_DEV_HOME/logs/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $sock -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null \
      || fail "PostgreSQL did not start (see $CONTAXY_DEV_HOME/logs/postgres.log)" "is port $PG_PORT taken? set CONTAXY_DEV_PG_PORT"
  fi
  local sock="$CONTAXY_DEV_HOME/pg-socket"
  local psql=(runuser -u postgres -- psql -h "$sock" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ -d "$sock" ] && "${psql[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'contaxy'")" != 1 ]; then
      log "creating the PostgreSQL role contaxy"
      # CREATEDB: the test suite makes a fresh database per test.
      "${psql[@]}" -c "CREATE ROLE contaxy LOGIN CREATEDB PASSWORD 'contaxy'"
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'contaxy'")" != 1 ]; then
      log "creating the database contaxy"
      "${psql[@]}" -c "CREATE DATABASE contaxy OWNER contaxy"
    fi
  fi
  PGPASSWORD=contaxy psql -h 127.0.0.1 -p "$PG_PORT" -U contaxy -d contaxy -qtAc 'SELECT 1' >/dev/null 2>&1 \
    || fail "cannot log in to PostgreSQL as contaxy/contaxy on 127.0.0.1:$PG_PORT" \
      "a server not started by this script runs there: create role contaxy (LOGIN CREATEDB PASSWORD 'contaxy') and database contaxy, or set CONTAXY_DEV_PG_PORT"
}

# --- RabbitMQ ----------------------------------------------------------------
rabbit_up() { timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null; }

# The node keeps its data under $CONTAXY_DEV_HOME, not in the package's
# /var/lib/rabbitmq, so what an earlier, different setup left there (thousands
# of durable queues make a node take minutes to boot) never slows this one.
RABBIT_HOME="$CONTAXY_DEV_HOME/rabbitmq"
# The tests' own virtual host, emptied before and after every test run.
RABBIT_TEST_VHOST="contaxy-test"

# rabbitmqctl as the rabbitmq user, with the node's cookie.
rabbitmqctl_() { HOME=/var/lib/rabbitmq runuser -u rabbitmq -- /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@"; }

provision_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  if rabbit_up; then
    log "RabbitMQ answers on 127.0.0.1:5672"
  else
    log "starting RabbitMQ (data in $RABBIT_HOME)"
    install -d -o rabbitmq -g rabbitmq -m 0750 "$RABBIT_HOME" "$RABBIT_HOME/mnesia" "$RABBIT_HOME/log"
    # Every queue holds a file handle while the node recovers it; with fewer
    # handles than queues the recovery stalls. runuser's PAM session lowers
    # the soft limit to 1024, so the limit is raised to the hard one inside.
    HOME=/var/lib/rabbitmq RABBITMQ_MNESIA_BASE="$RABBIT_HOME/mnesia" RABBITMQ_LOG_BASE="$RABBIT_HOME/log" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      runuser -u rabbitmq -- sh -c 'ulimit -n "$(ulimit -Hn)"; exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached' \
      >"$CONTAXY_DEV_HOME/logs/rabbitmq-start.log" 2>&1 || true
    wait_for 300 "RabbitMQ" rabbit_up \
      || fail "RabbitMQ did not start within 5 minutes (see $RABBIT_HOME/log/ and $CONTAXY_DEV_HOME/logs/rabbitmq-start.log)" \
        "is port 5672 taken by another server? stop it, or run 'rabbitmq-server' in a terminal to see why"
  fi
  if ! rabbitmqctl_ list_vhosts 2>/dev/null | grep -qx "$RABBIT_TEST_VHOST"; then
    log "creating the RabbitMQ virtual host $RABBIT_TEST_VHOST for the tests"
    reset_test_vhost
  fi
}

# reset_test_vhost: the tests' virtual host, empty. A test names its exchanges
# and queues with a prefix of its own and cannot always remove them (a panic,
# a killed run), so scripts/test.sh empties it before and after every run.
reset_test_vhost() {
  rabbitmqctl_ delete_vhost "$RABBIT_TEST_VHOST" >/dev/null 2>&1 || true
  rabbitmqctl_ add_vhost "$RABBIT_TEST_VHOST" >/dev/null \
    && rabbitmqctl_ set_permissions -p "$RABBIT_TEST_VHOST" guest '.*' '.*' '.*' >/dev/null \
    || fail "could not create the RabbitMQ virtual host $RABBIT_TEST_VHOST" \
      "a RabbitMQ not started by this script answers on 5672: let rabbitmqctl reach it, or stop it"
}

# --- Docker Engine -----------------------------------------------------------
docker_up() { docker info >/dev/null 2>&1; }

provision_docker() {
  command -v dockerd >/dev/null || apt_install docker.io
  if docker_up; then
    log "Docker Engine answers"
  else
    log "starting dockerd"
    nohup dockerd >"$CONTAXY_DEV_HOME/logs/dockerd.log" 2>&1 &
    wait_for 60 "Docker Engine" docker_up \
      || fail "dockerd did not start (see $CONTAXY_DEV_HOME/logs/dockerd.log)" "the machine must allow containers (cgroups, overlayfs, iptables)"
  fi
  # Project networks stay apart even while Docker rewrites its own rules.
  "$here/docker-isolation.sh"
}

# --- S3 (moto) ---------------------------------------------------------------
s3_up() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$S3_PORT/moto-api/" 2>/dev/null; }

provision_s3() {
  local venv="$CONTAXY_DEV_HOME/moto-venv"
  if s3_up; then
    log "S3 (moto) answers on 127.0.0.1:$S3_PORT"
    return
  fi
  if ! "$venv/bin/python" -c "import moto; assert moto.__version__ == '$MOTO_VERSION'" 2>/dev/null; then
    log "installing moto[server] $MOTO_VERSION into $venv"
    python3 -m venv "$venv" || fail "python3 -m venv failed" "apt-get install python3-venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
      >"$CONTAXY_DEV_HOME/logs/moto-install.log" 2>&1 \
      || fail "pip install moto[server] failed (see $CONTAXY_DEV_HOME/logs/moto-install.log)" "check the network to PyPI"
  fi
  log "starting the S3 server (moto) on 127.0.0.1:$S3_PORT"
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$CONTAXY_DEV_HOME/logs/moto.log" 2>&1 &
  wait_for 60 "S3 (moto)" s3_up || fail "moto did not start (see $CONTAXY_DEV_HOME/logs/moto.log)" "is port $S3_PORT taken? set CONTAXY_DEV_S3_PORT"
}

# --- kubernetes-validate -----------------------------------------------------
# The Kubernetes backend's schema tests run it from this venv
# (worker/src/runtime/kubernetes/schema_tests.rs). No cluster is needed.
provision_kubernetes_validate() {
  local venv="$CONTAXY_DEV_HOME/kubernetes-validate-venv"
  if "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -qF "$KUBERNETES_VALIDATE_VERSION"; then
    log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION is installed"
    return
  fi
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  mkdir -p "$CONTAXY_DEV_HOME/logs"
  python3 -m venv "$venv" || fail "python3 -m venv failed" "apt-get install python3-venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    >"$CONTAXY_DEV_HOME/logs/kubernetes-validate-install.log" 2>&1 \
    || fail "pip install kubernetes-validate failed (see $CONTAXY_DEV_HOME/logs/kubernetes-validate-install.log)" "check the network to PyPI"
}

# --- docker-compose ------------------------------------------------------------
# tests/tests/deploy_manifests.rs validates docker-compose.yml with
# `docker-compose config`: Debian's docker-compose 1.29 reads the Compose
# specification (the `docker compose` v2 plugin is not in Debian 12). The
# same test renders deploy/kubernetes with `kubectl kustomize`: kubectl is
# part of this kind of machine (Debian 12's kubernetes-client, 1.20, is too
# old for those files), so it is checked here, not installed.
provision_compose() {
  if command -v docker-compose >/dev/null; then
    log "docker-compose is installed"
  else
    apt_install docker-compose
  fi
  kubectl kustomize --help >/dev/null 2>&1 \
    || log "WARNING: no kubectl with kustomize built in; tests/tests/deploy_manifests.rs will fail (install kubectl 1.27 or later)"
}

# --- contaxy's Python client -------------------------------------------------
# contaxy's own client from PyPI, as its users install it, for the test that
# drives it against this server (tests/tests/contaxy_client.rs).
provision_client() {
  local venv="$CONTAXY_DEV_HOME/contaxy-client-venv"
  if "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('contaxy') == '$CONTAXY_CLIENT_VERSION'" 2>/dev/null; then
    log "contaxy client $CONTAXY_CLIENT_VERSION is in $venv"
    return
  fi
  log "installing contaxy $CONTAXY_CLIENT_VERSION (the Python client) into $venv"
  mkdir -p "$CONTAXY_DEV_HOME/logs"
  python3 -m venv "$venv" || fail "python3 -m venv failed" "apt-get install python3-venv"
  # contaxy 0.0.23 pins fastapi 0.75.2, which needs pydantic 1: saying so
  # spares pip a long backtrack through every pydantic 2 release.
  "$venv/bin/pip" install -q --disable-pip-version-check "contaxy==$CONTAXY_CLIENT_VERSION" "pydantic<2" \
    >"$CONTAXY_DEV_HOME/logs/contaxy-client-install.log" 2>&1 \
    || fail "pip install contaxy failed (see $CONTAXY_DEV_HOME/logs/contaxy-client-install.log)" "check the network to PyPI"
}

# --- API fuzzer ----------------------------------------------------------------
provision_fuzz() {
  local venv="$CONTAXY_DEV_HOME/schemathesis-venv"
  if "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('schemathesis') == '$SCHEMATHESIS_VERSION'" 2>/dev/null; then
    log "schemathesis $SCHEMATHESIS_VERSION is in $venv"
    return
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION (the API fuzzer) into $venv"
  mkdir -p "$CONTAXY_DEV_HOME/logs"
  python3 -m venv "$venv" || fail "python3 -m venv failed" "apt-get install python3-venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    >"$CONTAXY_DEV_HOME/logs/schemathesis-install.log" 2>&1 \
    || fail "pip install schemathesis failed (see $CONTAXY_DEV_HOME/logs/schemathesis-install.log)" "check the network to PyPI"
}

# --- Test images -------------------------------------------------------------
provision_images() {
  # Also the runtime base of scripts/build-images.sh takes the machine's busybox.
  [ -x /bin/busybox ] || apt_install busybox-static
  if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
    log "image $TEST_IMAGE exists"
    return
  fi
  log "building $TEST_IMAGE from the machine's busybox (no registry is reachable)"
  local root
  root="$(mktemp -d)"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
  chmod 1777 "$root/tmp"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$TEST_IMAGE" >/dev/null \
    || fail "docker import of $TEST_IMAGE failed" "is the Docker Engine up? run scripts/provision.sh docker"
  rm -rf "$root"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(postgres rabbitmq docker s3 kubernetes-validate compose client fuzz images)
for step in "${steps[@]}"; do
  case "$step" in
    postgres | rabbitmq | docker | s3 | compose | client | fuzz | images) "provision_$step" ;;
    kubernetes-validate) provision_kubernetes_validate ;;
    reset-test-vhost) reset_test_vhost ;;
    *) fail "unknown step '$step'" "use postgres, rabbitmq, docker, s3, kubernetes-validate, compose, client, fuzz, images or reset-test-vhost" ;;
  esac
done
