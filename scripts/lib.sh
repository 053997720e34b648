# Shared shell helpers for scripts/*: a venv installed from the lock file, and a throwaway PostgreSQL.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ENVBOT_VENV:-$ROOT/.venv}"
LOCK="$ROOT/requirements-dev.lock"

# Create the venv if needed and install exactly what the lock file pins (about a second when warm).
ensure_venv() {
  local want have=""
  want="$(sha256sum "$LOCK" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  [ -f "$VENV/.lock-hash" ] && have="$(cat "$VENV/.lock-hash")"
  if [ "$want" = "$have" ] && [ -x "$VENV/bin/python" ]; then
    return 0
  fi
  local uv
  uv="$(command -v uv || true)"
  if [ -z "$uv" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --user uv >&2
    uv="$(python3 -m site --user-base)/bin/uv"
  fi
  echo "scripts: installing from $(basename "$LOCK") into $VENV" >&2
  if [ ! -x "$VENV/bin/python" ]; then
    # a folder without an interpreter (a bytecode cache put there first) is made again: uv refuses it
    rm -rf "$VENV"
    "$uv" venv --quiet --python python3.11 "$VENV"
  fi
  "$uv" pip sync --quiet --python "$VENV/bin/python" "$LOCK"
  "$uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"
  echo "$want" >"$VENV/.lock-hash"
}

# Start a throwaway PostgreSQL on a free loopback port; sets PG_URL and stops it on exit.
start_postgres() {
  local bin="${PG_BIN:-/usr/lib/postgresql/15/bin}" port
  PG_DIR="$(mktemp -d /tmp/envbot-pg.XXXXXX)"
  port="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  trap stop_postgres EXIT
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; return 1; }
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" start >/dev/null ||
    { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
  echo "scripts: PostgreSQL running at 127.0.0.1:$port" >&2
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
