#!/usr/bin/env bash
# The whole test command: lint, types, import rules, then pytest on SQLite and Postgres,
# on TEST_WORKERS parallel workers (default 4: the tests mostly wait on browsers, servers
# and databases, so 4 fit on 2 cores; 0 runs them in this one process). Prints the 15
# slowest tests and the wall time.
# A throwaway Postgres started for the tests (scripts/ensure-postgres.sh) is stopped on exit,
# whether the tests passed, failed or were interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
wall_time() { echo "make test: $(( $(date +%s) - started )) s wall time"; }
trap wall_time EXIT
./scripts/ensure-chromium.sh
if [ -z "${PIMS_SYNC_TEST_POSTGRES_URL:-}" ]; then
  trap './scripts/ensure-postgres.sh --stop; wall_time' EXIT
  PIMS_SYNC_TEST_POSTGRES_URL=$(./scripts/ensure-postgres.sh)
fi
export PIMS_SYNC_TEST_POSTGRES_URL
echo "Postgres for tests: $PIMS_SYNC_TEST_POSTGRES_URL"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
workers=${TEST_WORKERS:-4}
parallel=()
if [ "$workers" != 0 ]; then parallel=(-n "$workers" --dist loadscope); fi
.venv/bin/pytest "${parallel[@]}" --durations=15 "$@"
