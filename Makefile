# Two commands for a new user:   make repro   (install + warehouse + dvc repro)   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install warehouse repro test bench dashboard clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Creates and loads the embedded SQLite warehouse only when no other database is configured and
# the file is absent (source: params.yaml warehouse.source; auto = real data if ../shared/data exists).
warehouse: install
	@if [ -z "$$RISKAI_DATABASE_URL" ] && [ ! -f data/warehouse.sqlite ]; then \
	  $(BIN)/python -m riskai.warehouse load; \
	else echo "warehouse: using $${RISKAI_DATABASE_URL:-data/warehouse.sqlite} as it is"; fi

repro: warehouse
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

# The Streamlit risk dashboard on http://localhost:8501 (PORT=... to change; Ctrl-C stops it).
dashboard: install
	$(BIN)/riskai dashboard --port $${PORT:-8501}

clean-venv:
	rm -rf $(VENV)
