#!/usr/bin/env bash
# The whole test command: lint, types, import rules, then pytest on SQLite and Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-chromium.sh
PIMS_SYNC_TEST_POSTGRES_URL=${PIMS_SYNC_TEST_POSTGRES_URL:-$(./scripts/ensure-postgres.sh)}
export PIMS_SYNC_TEST_POSTGRES_URL
echo "Postgres for tests: $PIMS_SYNC_TEST_POSTGRES_URL"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest "$@"
