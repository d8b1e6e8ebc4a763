# Two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing.
.PHONY: setup demo serve test lint fmt bench clean

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
	  for b in simulator inbound_writes provider full_sync key_check load; do .venv/bin/python -m bench.$$b || exit 1; done'

clean:
	rm -rf .venv .pgtest pims-sync.db*
