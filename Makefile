# Two commands do everything on a fresh machine: `make harvest` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install harvest test lint typecheck unit bench clean notebook

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,mcp,notebooks,cluster]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole pipeline over lists/seeds/ (embedded X API server unless X_BEARER_TOKEN is set).
harvest: $(STAMP)
	$(BIN)/influx-batch-automation run --seeds-dir lists/seeds --target-authors 1500

## Lint, format check, layer contracts, type check, then the whole test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check influx_etl tests
	$(BIN)/ruff format --check influx_etl tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy influx_etl

unit: $(STAMP)
	$(BIN)/pytest -q --benchmark-disable

## The rules and stage benchmarks on 1,000,000 profiles (the per-profile rules loop is timed on
## 20,000 of them, per-record jsonschema on 5,000 records); the lookup methods (per-user ...
## parallel-bulk) on 2,000 handles against the embedded server.
bench: $(STAMP)
	$(BIN)/pytest -q tests/benchmarks/test_rules_speed.py tests/benchmarks/test_stage_speed.py --benchmark-only --bench-profiles 1000000
	$(BIN)/pytest -q tests/benchmarks/test_lookup_speed.py --benchmark-only --bench-handles 2000

## The CPU path end to end on 1,000,000 prefetched profiles against the floor (reading the same
## file); writes data/cpubench/cpubench-1000000.{md,json}.
.PHONY: bench-cpu
bench-cpu: $(STAMP)
	$(BIN)/python -m influx_etl.tools.cpubench --profiles 1000000

## The streaming harvest on 10,000,000 prefetched profiles, once per chunk size (no floors: they
## would need more than 10 GB); generates the 5.7 GB input once (about 6 minutes) and takes
## ~15 minutes; writes data/cpubench/cpubench-10000000.{md,json}.
.PHONY: bench-stream
bench-stream: $(STAMP)
	$(BIN)/python -m influx_etl.tools.cpubench --profiles 10000000 --no-floors --chunk-rows 100000 --chunk-rows 250000 --chunk-rows 500000

## JupyterLab on notebooks/ (the .py percent scripts open as notebooks, paired with .ipynb).
notebook: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
