#!/usr/bin/env bash
# The whole test command: lint, types, import rules, then pytest on SQLite and Postgres.
# A throwaway Postgres started for the tests (scripts/ensure-postgres.sh) is stopped on exit,
# whether the tests passed, failed or were interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-chromium.sh
if [ -z "${PIMS_SYNC_TEST_POSTGRES_URL:-}" ]; then
  trap './scripts/ensure-postgres.sh --stop' EXIT
  PIMS_SYNC_TEST_POSTGRES_URL=$(./scripts/ensure-postgres.sh)
fi
export PIMS_SYNC_TEST_POSTGRES_URL
echo "Postgres for tests: $PIMS_SYNC_TEST_POSTGRES_URL"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest "$@"
