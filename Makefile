# opaska: `make run` to start the platform, `make test` to run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test bench lint typecheck check system-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "opaska needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: the whole platform in one process on embedded defaults (console http://127.0.0.1:8000)
run: $(STAMP)
	$(BIN)/opaska run

## demo: like run, with a demo municipality, residents and simulated bands
demo: $(STAMP)
	$(BIN)/opaska run --demo

## test: the whole suite (services the machine lacks are skipped, each with its reason)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: the benchmarks (docs/performance.md) on embedded defaults and on Mosquitto + PostgreSQL; BENCH_ARGS=--quick for a tiny run, BENCH_SCALE=0.1 for a smaller one
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## system-deps: Debian packages the full suite uses (needs root): Mosquitto, docker-compose, Chromium, poppler-utils (report PDFs as pictures), prometheus (promtool checks the alert rules)
system-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "system-deps needs root (apt-get)"; exit 1; fi
	@missing=""; \
	for pkg in mosquitto mosquitto-clients docker-compose chromium poppler-utils prometheus; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
