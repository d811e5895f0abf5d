# Two commands: `make up` (the whole system, foreground) and `make test` (the whole suite).
.PHONY: up down test bootstrap lint typecheck bench clean

UV_RUN := uv run --frozen --no-sync

bootstrap:
	@./scripts/bootstrap.sh

up: bootstrap
	@$(UV_RUN) csms up

down:
	@$(UV_RUN) csms down || true
	@$(UV_RUN) python -c "from tests import infra; infra.stop()" 2>/dev/null || true

test: bootstrap
	@./scripts/install_chromium.sh
	@$(UV_RUN) ruff check .
	@$(UV_RUN) pytest -p no:cacheprovider

lint:
	@$(UV_RUN) ruff check .

typecheck:
	@$(UV_RUN) mypy csms schemas processors ocpp_edge read_api

bench: bootstrap
	@$(UV_RUN) python -m bench.runtime_throughput

clean: down
	rm -rf .cache/run .cache/test
