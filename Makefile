# Two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing.
.PHONY: setup demo serve test lint fmt bench reliability-report dashboard-screens clean

setup: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	./scripts/setup.sh
	touch $@

demo: setup
	./scripts/ensure-chromium.sh
	.venv/bin/pims-sync demo

serve: setup
	.venv/bin/pims-sync serve

test: setup
	./scripts/test.sh

fmt: setup
	.venv/bin/ruff format src tests bench
	.venv/bin/ruff check --fix src tests bench

bench: setup
	./scripts/ensure-chromium.sh
	PIMS_SYNC_TEST_POSTGRES_URL=$${PIMS_SYNC_TEST_POSTGRES_URL:-$$(./scripts/ensure-postgres.sh)} sh -c '\
	  for b in simulator inbound_writes outbox webhooks freshness dashboard availability provider full_sync key_check load; do .venv/bin/python -m bench.$$b || exit 1; done'

# A whole run of tests/reliability (make test runs it) writes the fault matrix to
# build/reliability.md; this publishes it as docs/reliability.md. Tests never write docs/.
reliability-report:
	@test -f build/reliability.md || { echo "build/reliability.md is missing: run make test, or .venv/bin/pytest tests/reliability, first" >&2; exit 1; }
	cp build/reliability.md docs/reliability.md
	@grep -m1 "cells pass" docs/reliability.md

# The dashboard's screenshots (1280x800), taken by tests/e2e/test_dashboard.py into build/.
dashboard-screens: setup
	.venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_dashboard.py
	mkdir -p docs/dashboard
	cp build/dashboard/*.png docs/dashboard/
	@ls docs/dashboard

clean:
	rm -rf .venv .pgtest pims-sync.db* build
