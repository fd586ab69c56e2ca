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

## run: the whole platform in one process on embedded defaults (console http://127.0.0.1:8000); as root on Debian it first installs Mosquitto, which opaska then runs as its broker
# The broker: opaska runs Mosquitto itself when the machine has it, else amqtt (demos, small trials).
# Debian starts the packaged Mosquitto as a service on 1883, the port opaska's own one takes: the
# service is switched off right after installing it here (never when it was there before).
run: $(STAMP)
	@if [ -z "$$OPASKA_MQTT_URL" ] && [ "$$OPASKA_MQTT_EMBEDDED_BROKER" != amqtt ] \
	  && ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make run: installing Mosquitto, the MQTT broker opaska runs for the bands"; \
	    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null; then \
	      if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto.service >/dev/null 2>&1 || true; fi; \
	    else \
	      echo "make run: could not install Mosquitto; opaska falls back to its amqtt broker (demos and small trials)"; \
	    fi; \
	  else \
	    echo "make run: no Mosquitto here, so opaska falls back to its amqtt broker (demos and small trials); for a centre install it as root: apt install mosquitto (or make system-deps)"; \
	  fi; \
	fi
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

# Debian starts the packaged Caddy as a web server on port 80: switched off right after installing
# it here (the tests run their own).
## system-deps: Debian packages the full suite uses (needs root): Mosquitto, docker-compose, Chromium, poppler-utils (report PDFs as pictures), prometheus (promtool checks the alert rules), caddy (the console behind a real reverse proxy)
system-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "system-deps needs root (apt-get)"; exit 1; fi
	@missing=""; \
	for pkg in mosquitto mosquitto-clients docker-compose chromium poppler-utils prometheus caddy; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  case "$$missing" in *caddy*) \
	    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now caddy.service >/dev/null 2>&1 || true; fi;; \
	  esac; \
	fi

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
