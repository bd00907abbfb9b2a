# The README's commands. Everything installs from pyproject.toml into .venv; nothing is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LAB_STAMP := $(VENV)/.installed-lab

.PHONY: demo test soak lint typecheck lab schema-docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(STAMP)

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[lab]"
	$(BIN)/python -m ipykernel install --sys-prefix --name stratlogic --display-name "StratLogic (.venv)"
	touch $@ $(STAMP)

## demo: set up the embedded default (SQLite + local folder under var/), migrate it, seed it, check it,
## run the three report notebooks and print where their index is
demo: $(STAMP)
	$(BIN)/stratlogic db upgrade
	$(BIN)/stratlogic db check
	$(BIN)/stratlogic seed --demo --users 12 --jobs 300 --days 14 --seed 1
	$(BIN)/stratlogic seed
	$(BIN)/stratlogic health
	$(BIN)/stratlogic reports run --out var/reports --keep 5
	@echo "reports: $(CURDIR)/var/reports/latest/index.html"

## test: lint, then the whole test suite in two processes (PostgreSQL on 127.0.0.1:5432 required under CI=true)
test: $(DEV_STAMP)
	$(BIN)/ruff check stratlogic tests migrations benchmarks
	$(BIN)/pytest -n 2 --durations=25

## soak: 8 worker processes for SOAK_SECONDS (default 120) on PostgreSQL while backends are killed; prints
## the counts (make soak SOAK_SECONDS=30 for a short one)
soak: $(DEV_STAMP)
	SOAK_SECONDS=$(or $(SOAK_SECONDS),120) $(BIN)/pytest -m soak -s -p no:cacheprovider tests/soak

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

## lab: JupyterLab with the project installed in its kernel (make lab ARGS="--port 8899" passes flags on)
ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(ARGS)

schema-docs: $(STAMP)
	$(BIN)/stratlogic docs schema

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
