# Two commands for a new user:   make repro   (install + warehouse + dvc repro)   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install lock warehouse repro test test-all test-soak bench dashboard clean-venv

install: $(VENV)/.installed

# Every dependency comes from requirements.lock (exact versions with hashes): a fresh clone installs
# what produced the committed dvc.lock, so `make repro` reproduces it byte for byte.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "pip==26.3"
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

# Re-resolve pyproject.toml (with the test extra) into requirements.lock, hashes included. The current
# pins are uv's preferences (its output file), so only what pyproject.toml's change needs moves.
lock:
	rm -rf .lock-tools && $(PYTHON) -m venv .lock-tools && .lock-tools/bin/pip install --quiet "uv==0.13.9"
	cp requirements.lock .lock-tools/requirements.txt
	.lock-tools/bin/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --find-links /opt/wheels --no-annotate --no-header -q \
	  -o .lock-tools/requirements.txt
	( echo "# Exact versions and hashes of every dependency (Python 3.11, x86_64 Linux). Installed by 'make install';"; \
	  echo "# regenerate with 'make lock' after changing pyproject.toml. torch is the CPU build from /opt/wheels."; \
	  echo "--find-links /opt/wheels"; grep -v -e '^#' -e '^--find-links' .lock-tools/requirements.txt ) > requirements.lock
	rm -rf .lock-tools

# Creates and loads the embedded SQLite warehouse only when no other database is configured and
# the file is absent (source: params.yaml warehouse.source; auto = real data if ../shared/data exists).
warehouse: install
	@if [ -z "$$RISKAI_DATABASE_URL" ] && [ ! -f data/warehouse.sqlite ]; then \
	  $(BIN)/python -m riskai.warehouse load; \
	else echo "warehouse: using $${RISKAI_DATABASE_URL:-data/warehouse.sqlite} as it is"; fi

repro: warehouse
	$(BIN)/dvc repro

# The fast tier: units and the tiny end-to-end pipelines (no test marked slow), in TEST_WORKERS
# pytest-xdist processes (one per CPU; TEST_WORKERS=0: one process), a module's tests in one worker
# (tests/conftest.py). test-all (what CI runs): the fast tier, then the slow tier in one process (it runs
# `dvc repro` on real-data copies and several-symbol universes). test-soak: the two-week soak replay
# (tests/operations/test_soak.py, about 25 min here), outside test-all to keep CI short.
TEST_WORKERS ?= auto
test: install
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadgroup

test-all: test
	$(BIN)/python -m pytest -q -m "slow and not soak"

test-soak: install
	$(BIN)/python -m pytest -q -m soak

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

# The Streamlit risk dashboard on http://localhost:8501 (PORT=... to change; Ctrl-C stops it).
dashboard: install
	$(BIN)/riskai dashboard --port $${PORT:-8501}

clean-venv:
	rm -rf $(VENV)
