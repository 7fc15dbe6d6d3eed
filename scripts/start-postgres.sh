#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster (Debian's packages; installed with apt-get if missing) on
# 127.0.0.1 and a free port, as the `postgres` OS user in a temp dir, and print its DATABASE_URL
# on stdout (everything else goes to stderr):
#   export DATABASE_URL="$(bash scripts/start-postgres.sh)"
#   bash scripts/start-postgres.sh stop DIR    # stops the cluster in DIR and removes DIR
set -euo pipefail

log() { echo "start-postgres: $*" >&2; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

find_bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}

if [ "${1:-}" = "stop" ]; then
  dir=${2:?usage: start-postgres.sh stop DIR}
  bindir=$(find_bindir)
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
  exit 0
fi

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL is not installed and we are not root: apt-get install postgresql"
    exit 1
  fi
  log "installing postgresql from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir=$(find_bindir)
  [ -n "$bindir" ] || { log "no initdb after installing postgresql"; exit 1; }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/privacybot-pg-XXXXXX")
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { log "no postgres OS user (is Debian's postgresql installed?)"; exit 1; }
  chown postgres:postgres "$dir"
fi
as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >&2

for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >&2; then
    log "running from $dir (stop: bash scripts/start-postgres.sh stop $dir)"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    exit 0
  fi
  log "start on port $port failed (attempt $attempt)"
done
tail -n 30 "$dir/server.log" >&2 || true
exit 1
