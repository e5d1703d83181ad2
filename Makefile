# Two commands do everything on a fresh machine: `make harvest` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install harvest test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole pipeline over lists/seeds/ (embedded X API server unless X_BEARER_TOKEN is set).
harvest: $(STAMP)
	$(BIN)/influx-harvest run --seeds-dir lists/seeds

## Lint, format check, type check, then the whole test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check influx_etl tests
	$(BIN)/ruff format --check influx_etl tests

typecheck: $(STAMP)
	$(BIN)/mypy influx_etl

unit: $(STAMP)
	$(BIN)/pytest -q --benchmark-disable

bench: $(STAMP)
	$(BIN)/pytest -q tests/benchmarks --benchmark-only

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
