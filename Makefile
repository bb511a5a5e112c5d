# The README's two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
DEMO_FEED := data/demo-network

.PHONY: run test test-long bench demo-bus lint typecheck pytest system-deps clean

## make run: install, migrate the embedded database, import the demo network and the demo rider
## (once; `demo seed` leaves a seeded database alone), serve on 127.0.0.1:8000
run: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) network import $(DEMO_FEED)
	$(FLASK) demo seed
	@echo "Open http://127.0.0.1:8000/api/docs (API docs), /api/v1/routes (routes), /readyz (readiness)."
	@echo "Sign in as the demo rider (phone 0912 000 000, password demo-xe-buyt):"
	@echo "  curl -s http://127.0.0.1:8000/api/v1/auth/login -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"phone\": \"0912 000 000\", \"password\": \"demo-xe-buyt\"}'"
	@echo "then GET /api/v1/cards and /api/v1/cards/CARD_ID/trips with 'Authorization: Bearer ACCESS_TOKEN'."
	exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## make test: install what the tests need, then lint, type-check and run the whole suite
test: system-deps $(VENV)/.dev lint typecheck pytest

## make test-long: the full-size fault and fuzz runs (marked `long`), which `make test` leaves out
test-long: system-deps $(VENV)/.dev
	$(BIN)/pytest -m long $(PYTEST_ARGS)

## make bench: every benchmark in bench/, one table of figures, bench/results.json (about 10 min)
bench: system-deps $(VENV)/.dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## make demo-bus: a virtual card and two validators against the server `make run` started
demo-bus: system-deps $(VENV)/.dev
	$(BIN)/python scripts/demo_bus.py

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

system-deps:
	@bash scripts/system-deps.sh

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-reader.txt requirements-dev.txt | $(VENV)/bin/python system-deps
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
