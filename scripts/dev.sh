#!/usr/bin/env bash
# The two set-up commands behind `make start` and `make test`, idempotent on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY=$VENV/bin/python
PG_ADMIN_URL=${MAESTRO_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

install_python_deps() {
  if ! command -v uv >/dev/null 2>&1; then
    log "installing uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
  fi
  [ -x "$PY" ] || uv venv --quiet -p 3.11 "$VENV" 2>/dev/null || uv venv --quiet "$VENV"
  local stamp=$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-$1
  if [ ! -f "$stamp" ]; then
    log "installing Python dependencies ($1)"
    uv pip install --quiet -p "$PY" -e ".[$1]"
    touch "$stamp"
  fi
}

ensure_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1; then
    log "installing PostgreSQL"
    as_root apt-get update -qq && as_root apt-get install -y -qq postgresql >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1 || true
  fi
}

ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing Redis"
    as_root apt-get update -qq && as_root apt-get install -y -qq redis-server >/dev/null
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /tmp/maestro-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/maestro-redis --logfile /tmp/maestro-redis/redis.log
    for _ in $(seq 1 20); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
}

ensure_promtool() {  # promtool/amtool check deploy/prometheus and deploy/alertmanager in tests
  if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
    log "installing promtool and amtool"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
  fi
}

cmd_start() {
  install_python_deps postgres
  exec "$VENV/bin/maestro" server "$@"
}

cmd_test() {
  install_python_deps dev
  ensure_postgres
  ensure_redis
  ensure_promtool
  local workers=${MAESTRO_TEST_WORKERS:-2}
  log "lint: ruff and import contracts"
  "$VENV/bin/ruff" check src tests bench
  "$VENV/bin/lint-imports" --no-cache >/dev/null
  log "unit tests"
  "$PY" -m pytest tests/unit -q -p no:cacheprovider -n "$workers"
  log "integration tests on SQLite"
  "$PY" -m pytest tests/integration -q -p no:cacheprovider -n "$workers"
  log "integration tests on PostgreSQL + Redis"
  MAESTRO_TEST_DATABASE_URL=$PG_ADMIN_URL MAESTRO_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
    "$PY" -m pytest tests/integration -q -p no:cacheprovider -n "$workers"
  log "end-to-end tests against a real server (SQLite, then PostgreSQL)"
  "$PY" -m pytest tests/e2e -q -p no:cacheprovider
  MAESTRO_TEST_DATABASE_URL=$PG_ADMIN_URL "$PY" -m pytest tests/e2e -q -p no:cacheprovider
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: scripts/dev.sh start|test" >&2; exit 2 ;;
esac
