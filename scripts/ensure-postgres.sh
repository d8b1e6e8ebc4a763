#!/usr/bin/env bash
# Print a Postgres URL for the tests: the machine's 127.0.0.1:5432 if it answers,
# else a throwaway trust cluster started under .pgtest/ (initdb starts in about a second).
# `ensure-postgres.sh --stop` stops that throwaway cluster again, if this script started it
# (scripts/test.sh does so on exit); it never touches any other Postgres.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${PIMS_SYNC_PGTEST_PORT:-54329}
data="$root/.pgtest/data"
marker="$root/.pgtest/started"  # present while a cluster this script started may run

find_bindir() {
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true
  fi
}

as_owner=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root: the cluster belongs to the postgres user.
  as_owner=(runuser -u postgres --)
fi

if [ "${1:-}" = "--stop" ]; then
  [ -f "$marker" ] || exit 0
  rm -f "$marker"
  bindir=$(find_bindir)
  if [ -n "$bindir" ] && [ -f "$data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  exit 0
fi

if [ -z "${PIMS_SYNC_PGTEST_PORT:-}" ] \
   && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
   && psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "postgresql://postgres@127.0.0.1:5432/postgres"
  exit 0
fi
if pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  exit 0
fi
bindir=$(find_bindir)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "no Postgres found: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >/dev/null
  bindir=$(find_bindir)
fi
mkdir -p "$root/.pgtest"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$root/.pgtest"
fi
if [ ! -f "$data/PG_VERSION" ]; then
  "${as_owner[@]}" "$bindir/initdb" -A trust -U postgres -D "$data" >/dev/null
fi
"${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$root/.pgtest/log" -w \
  -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
touch "$marker"
echo "postgresql://postgres@127.0.0.1:$port/postgres"
